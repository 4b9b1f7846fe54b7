"""grf_example and heavy_censoring: truth vs an independent Monte Carlo draw at fixed covariates, and the
censoring of heavy_censoring (heavy, informative, censoring survival at the horizon small but positive)."""

import numpy as np
import pytest

from causalehr.simulate import simulate
from causalehr.simulate.csf_extra import _HeavyCensoring

N_MC = 200_000


def _potential_outcomes(setting, x, rng):
    """Potential failure times (arm 0, arm 1), n_patients x N_MC, written from the definitions."""
    x1, x2, x3 = (x[:, [j]] for j in range(3))
    e = rng.standard_exponential((len(x), N_MC))
    if setting == "grf_example":
        return e * x1, e * x1 + 1
    lp0 = -1 + x2 - 0.5 * x3
    return e / np.exp(lp0), e / np.exp(lp0 + 0.6 - 1.6 * np.sqrt(x1))


@pytest.mark.parametrize("setting", ["grf_example", "heavy_censoring"])
def test_truth_matches_independent_monte_carlo(setting):
    cohort = simulate(setting, n=6, seed=3, n_covariates=15)
    x = cohort.data[cohort.covariates].to_numpy()
    ft0, ft1 = _potential_outcomes(setting, x, np.random.default_rng(99))
    h, y0 = cohort.horizon, cohort.horizon_surv
    checks = {"cate_rmst": np.minimum(ft1, h) - np.minimum(ft0, h), "mu0_rmst": np.minimum(ft0, h),
              "cate_surv": (ft1 > y0).astype(float) - (ft0 > y0), "surv1": (ft1 > y0).astype(float)}
    for column, draws in checks.items():
        mc, se = draws.mean(axis=1), draws.std(axis=1) / np.sqrt(N_MC)
        err = np.abs(cohort.truth[column].to_numpy() - mc)
        assert np.all(err <= 5 * se + 1e-12), (column, err, se)


def test_grf_example_effects_in_closed_form():
    cohort = simulate("grf_example", n=50, seed=1)
    x1 = cohort.data["x1"].to_numpy()
    assert (cohort.horizon, cohort.horizon_surv) == (1.0, 1.0)
    np.testing.assert_allclose(cohort.truth["cate_surv"], 1 - np.exp(-1 / x1))
    np.testing.assert_allclose(cohort.truth["cate_rmst"], 1 - x1 * (1 - np.exp(-1 / x1)))
    assert np.all(cohort.truth["surv1"] == 1)


def test_heavy_censoring_is_heavy_informative_and_positive_at_the_horizon():
    cohort = simulate("heavy_censoring", n=20_000, seed=2)
    d, h = cohort.data, cohort.horizon
    censored_before = ((d["event"] == 0) & (d["time"] < h)).mean()
    assert 0.5 < censored_before < 0.62 and 0.22 < d["event"].mean() < 0.31
    x, w = d[cohort.covariates].to_numpy(), d["treatment"].to_numpy()
    model = _HeavyCensoring(x, 1.0)
    g = model.censoring_survival(h, w)
    assert 0.003 < g.min() < 0.012 and 0.03 < np.quantile(g, 0.05) < 0.07 and 0.2 < np.median(g) < 0.35
    # the censoring survival is that of the censoring times drawn (Monte Carlo at one patient and arm)
    draws = _HeavyCensoring(np.repeat(x[:1], N_MC, axis=0), 1.0).draw_censoring(np.ones(N_MC), np.random.default_rng(5))
    g1 = model.censoring_survival(h, 1)[0]
    assert abs((draws > h).mean() - g1) <= 5 * np.sqrt(g1 * (1 - g1) / N_MC)
    # informative: the treated and the patients at higher risk (X2) are censored sooner
    assert np.corrcoef(x[:, 1], g)[0, 1] < -0.5 and g[w == 1].mean() < g[w == 0].mean()
