"""survlearners1..9 (Xu et al. 2023, survlearners generate_tutorial_survival_data): truth vs an independent
Monte Carlo draw, knobs, reproducibility."""

import numpy as np
import pandas as pd
import pytest

from causalehr.data import validate_cohort
from causalehr.simulate import simulate

N_MC = 200_000


def _linear_predictors(scenario, x):
    """(main effect, treatment log-hazard ratio) written from survlearners' R code, default beta = gamma = 1."""
    v = (x[:, :25] > 0.5).astype(float)
    nl25 = 0.99 * v[:, 0] + 0.33 * sum(v[:, j] * v[:, j + 1] for j in range(1, 25, 2))
    main = {1: x[:, 0], 2: x[:, :25].sum(1) / 5, 4: v[:, 0]}
    inter = {1: x[:, 1], 25: x[:, :25].sum(1) / 5}
    f_b, p_b, f_i, p_i = {1: ("L", 1, "L", 1), 3: ("L", 25, "L", 25), 5: ("NL", 25, "L", 1),
                          7: ("NL", 1, "NL", 1), 9: ("NL", 25, "NL", 25)}[scenario]
    b = nl25 if (f_b, p_b) == ("NL", 25) else main[{("L", 1): 1, ("L", 25): 2, ("NL", 1): 4}[(f_b, p_b)]]
    if f_i == "NL":
        g = v[:, 1] if p_i == 1 else nl25
    else:
        g = inter[p_i]
    return b, -0.5 - g


@pytest.mark.parametrize("scenario", [1, 3, 5, 7, 9])
def test_truth_matches_independent_monte_carlo(scenario):
    cohort = simulate(f"survlearners{scenario}", n=5, seed=11)
    x = cohort.data[cohort.covariates].to_numpy()
    b, effect = _linear_predictors(scenario, x)
    num = -np.log(np.random.default_rng(5).random((len(x), N_MC)))
    ft0 = (num / np.exp(b)[:, None]) ** 2
    ft1 = (num / np.exp(b + effect)[:, None]) ** 2
    t0, h = cohort.horizon_surv, cohort.horizon
    checks = {
        "cate_surv": (ft1 > t0).astype(float) - (ft0 > t0),
        "surv0": (ft0 > t0).astype(float),
        "cate_rmst": np.minimum(ft1, h) - np.minimum(ft0, h),
        "mu1_rmst": np.minimum(ft1, h),
    }
    for column, draws in checks.items():
        mc, se = draws.mean(1), draws.std(1) / np.sqrt(N_MC)
        err = np.abs(cohort.truth[column].to_numpy() - mc)
        assert np.all(err <= 5 * se + 1e-12), (column, err, se)


def test_valid_cohort_and_reproducible():
    a = simulate("survlearners5", n=2000, seed=3)
    validate_cohort(a.data, a.covariates, allow_nan_covariates=False)
    assert len(a.covariates) == 25 and (a.horizon, a.horizon_surv) == (2.0, 0.2)
    b = simulate("survlearners5", n=2000, seed=3)
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.truth, b.truth)


def test_knobs():
    base = simulate("survlearners1", n=20_000, seed=1)
    # unbalanced design
    unbalanced = simulate("survlearners1", n=20_000, seed=1, propensity=0.05)
    assert abs(unbalanced.data["treatment"].mean() - 0.05) < 0.01
    # censoring rate: a larger Weibull scale censors earlier (benchmark grid rows 13-14)
    assert (1 - simulate("survlearners1", n=20_000, seed=1, cen_scale=8).data["event"].mean()) > (
        1 - base.data["event"].mean()
    ) + 0.05
    # heterogeneity: gamma = 0 gives a constant hazard ratio exp(-0.5), so a smaller spread of the effect
    homogeneous = simulate("survlearners2", n=20_000, seed=1, gamma=0.0)
    heterogeneous = simulate("survlearners2", n=20_000, seed=1)
    ratio = lambda c: c.truth["cate_surv"].std() / c.truth["surv0"].std()  # noqa: E731
    assert ratio(homogeneous) < 0.5 * ratio(heterogeneous)
    assert (homogeneous.truth["cate_surv"] > 0).all()
    # covariate-dependent censoring differs between arms
    d = simulate("survlearners1", n=20_000, seed=1, cen_model="dX.ub").data
    assert d.groupby("treatment")["event"].mean().diff().abs().iloc[1] > 0.1


def test_small_p_allowed_only_when_the_scenario_uses_two_covariates():
    assert simulate("survlearners1", n=10, seed=1, n_covariates=2).covariates == ["x1", "x2"]
    with pytest.raises(ValueError, match="setting survlearners3 needs n_covariates >= 25, got 10"):
        simulate("survlearners3", n=10, seed=1, n_covariates=10)
    with pytest.raises(ValueError, match=r"cen_model must be one of \['indX', 'dX', 'dX.ub'\], got 'x'"):
        simulate("survlearners1", n=10, seed=1, cen_model="x")
    with pytest.raises(ValueError, match=r"propensity must be in \(0, 1\), got 1.5"):
        simulate("survlearners1", n=10, seed=1, propensity=1.5)
