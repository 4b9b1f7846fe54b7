"""csf1..csf4 (grf generate_causal_survival_data type1..type4): truth vs an independent Monte Carlo draw,
reproducibility, knobs and the simulate() API."""

import numpy as np
import pandas as pd
import pytest

from causalehr.data import validate_cohort
from causalehr.simulate import SETTINGS, SimulatedCohort, load_cohort, setting_params, simulate

N_MC = 200_000


def _potential_outcomes(setting, x, rng):
    """Potential failure times (arm 0, arm 1), n_patients x N_MC, written from grf's R code."""
    x1, x2, x3 = (x[:, [j]] for j in range(3))
    if setting == "csf1":
        i1 = x1 < 0.5
        base = -1.85 - 0.8 * i1 + 0.7 * np.sqrt(x2) + 0.2 * x3 + rng.standard_normal((len(x), N_MC))
        return np.exp(base), np.exp(base + 0.7 - 0.4 * i1 - 0.4 * np.sqrt(x2))
    if setting == "csf2":
        num = -np.log(rng.random((len(x), N_MC)))
        return (num / np.exp(x1)) ** 2, (num / np.exp(x1 + (-0.5 + x2))) ** 2
    if setting == "csf3":
        lam0 = x2**2 + x3 + 6
        lam1 = lam0 + 2 * (np.sqrt(x1) - 0.3)
    else:
        lam0 = x2 + x3
        lam1 = lam0 + np.maximum(0, x1 - 0.3)
    shape = (len(x), N_MC)
    return rng.poisson(np.broadcast_to(lam0, shape)), rng.poisson(np.broadcast_to(lam1, shape))


@pytest.mark.parametrize("setting", ["csf1", "csf2", "csf3", "csf4"])
def test_truth_matches_independent_monte_carlo(setting):
    cohort = simulate(setting, n=6, seed=3)
    x = cohort.data[cohort.covariates].to_numpy()
    ft0, ft1 = _potential_outcomes(setting, x, np.random.default_rng(99))
    h, y0 = cohort.horizon, cohort.horizon_surv
    checks = {
        "cate_rmst": np.minimum(ft1, h) - np.minimum(ft0, h),
        "mu0_rmst": np.minimum(ft0, h),
        "cate_surv": (ft1 > y0).astype(float) - (ft0 > y0),
        "surv1": (ft1 > y0).astype(float),
    }
    for column, draws in checks.items():
        mc = draws.mean(axis=1)
        se = draws.std(axis=1) / np.sqrt(N_MC)
        err = np.abs(cohort.truth[column].to_numpy() - mc)
        assert np.all(err <= 5 * se + 1e-12), (column, err, se)


def test_grf_defaults_and_propensity():
    c1 = simulate("csf1", n=2000, seed=1)
    assert (c1.horizon, c1.horizon_surv) == (1.5, 0.8)
    x1 = c1.data["x1"].to_numpy()
    np.testing.assert_allclose(c1.truth["propensity"], (1 + 20 * x1 * (1 - x1) ** 3) / 4)
    c4 = simulate("csf4", n=10, seed=1)
    assert (c4.horizon, c4.horizon_surv) == (3.0, 2.0)
    x1, x2 = c4.data["x1"].to_numpy(), c4.data["x2"].to_numpy()
    np.testing.assert_allclose(c4.truth["propensity"], 1 / ((1 + np.exp(-x1)) * (1 + np.exp(-x2))))
    # csf4: no effect when X1 < 0.3
    assert np.all(c4.truth.loc[x1 < 0.3, "cate_rmst"] == 0)


def test_same_seed_same_cohort_and_different_seed_differs():
    a, b = simulate("csf2", n=500, seed=7), simulate("csf2", n=500, seed=7)
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.survival_curves, b.survival_curves)
    assert not simulate("csf2", n=500, seed=8).data.equals(a.data)


@pytest.mark.parametrize("setting", ["csf1", "csf2", "csf3", "csf4"])
def test_observed_data_is_a_valid_cohort(setting):
    cohort = simulate(setting, n=3000, seed=2)
    validate_cohort(cohort.data, cohort.covariates, allow_nan_covariates=False)
    assert list(cohort.data.columns) == ["patient_id", *cohort.covariates, "treatment", "time", "event"]
    assert cohort.truth.shape[0] == 3000
    # the observed treatment arms follow the propensity
    assert abs(cohort.data["treatment"].mean() - cohort.truth["propensity"].mean()) < 0.04


def test_censoring_scale_knob_moves_censoring():
    shares = [1 - simulate("csf1", n=20_000, seed=4, censoring_scale=s).data["event"].mean() for s in (0.25, 1, 4)]
    assert shares[0] > shares[1] + 0.1 > shares[2] + 0.1


def test_truncate_reproduces_grf_recording():
    cohort = simulate("csf2", n=5000, seed=5, truncate=True)
    d = cohort.data
    assert d["time"].max() <= cohort.horizon
    assert d.loc[d["time"] == cohort.horizon, "event"].eq(1).all()
    assert (d["time"] == cohort.horizon).sum() > 0


def test_rho_correlates_covariates_and_keeps_uniform_margins():
    x = simulate("csf1", n=20_000, seed=6, rho=0.8, n_covariates=6).data[[f"x{j}" for j in range(1, 7)]]
    corr = x.corr(method="spearman").to_numpy()
    assert corr[0, 1] > 0.7 and corr[0, 2] > 0.55
    assert np.allclose(x.mean(), 0.5, atol=0.02)


def test_marginal_survival_curves():
    cohort = simulate("csf2", n=1000, seed=1)
    curves = cohort.survival_curves
    assert set(curves["arm"]) == {0, 1}
    arm0 = curves[curves["arm"] == 0].set_index("time")["survival"]
    assert arm0.iloc[0] == 1.0 and arm0.is_monotonic_decreasing
    # the marginal curve at horizon_surv is the mean of the per-patient survival there
    at = np.interp(cohort.horizon_surv, arm0.index, arm0.to_numpy())
    assert abs(at - cohort.truth["surv0"].mean()) < 0.01


def test_api_errors():
    with pytest.raises(ValueError, match=r"unknown setting 'csf9'; available settings: \["):
        simulate("csf9", n=10, seed=1)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['bogus'\] for setting 'csf1'; accepted: \["):
        simulate("csf1", n=10, seed=1, bogus=2)
    with pytest.raises(ValueError, match="setting csf3 needs n_covariates >= 5, got 3"):
        simulate("csf3", n=10, seed=1, n_covariates=3)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        simulate("csf3", n=0, seed=1)
    with pytest.raises(ValueError, match="censoring_scale must be a positive number, got -1"):
        simulate("csf3", n=10, seed=1, censoring_scale=-1)
    assert setting_params("csf1")["n_covariates"] == 5
    assert {"csf1", "csf2", "csf3", "csf4"} <= set(SETTINGS)


def test_parquet_round_trip(tmp_path):
    cohort = simulate("csf3", n=200, seed=1, censoring_scale=0.8)
    cohort.to_parquet(tmp_path / "c")
    assert {p.name for p in (tmp_path / "c").iterdir()} == {
        "data.parquet", "truth.parquet", "survival_curves.parquet", "dictionary.csv", "meta.json"
    }
    back = load_cohort(tmp_path / "c")
    assert isinstance(back, SimulatedCohort)
    pd.testing.assert_frame_equal(back.data, cohort.data)
    pd.testing.assert_frame_equal(back.truth, cohort.truth)
    pd.testing.assert_frame_equal(back.survival_curves, cohort.survival_curves)
    pd.testing.assert_frame_equal(back.dictionary, cohort.dictionary)
    assert (back.setting, back.params, back.horizon, back.covariates) == (
        "csf3", cohort.params, cohort.horizon, cohort.covariates
    )
    with pytest.raises(ValueError, match="is not a simulated cohort directory: meta.json not found"):
        load_cohort(tmp_path)
