"""Tests of the censoring-adjusted CATE learners (causalehr.cate)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold

from causalehr.cate import CensoredCATE, censoring_pseudo_outcomes, dr_scores, fit_cate, time_grid
from causalehr.nuisance import DiscreteTimeHazard, MarginalKaplanMeier, SksurvSurvival
from causalehr.simulate import simulate

TAU = 1.0


def rmst_exp(rate, tau=TAU):
    return (1 - np.exp(-rate * tau)) / rate


def simple_cohort(n, seed, censoring_rate=0.5):
    """Exponential event times; treatment halves the hazard when x3 > 0; confounding through x1."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 3))
    a = rng.binomial(1, 1 / (1 + np.exp(-X[:, 1])))
    base = np.exp(0.3 * X[:, 0] + 0.3 * X[:, 1])
    rate1 = base * np.where(X[:, 2] > 0, 0.5, 1.0)
    T = rng.exponential(1 / np.where(a == 1, rate1, base))
    C = rng.exponential(1 / censoring_rate, n) if censoring_rate else np.full(n, np.inf)
    truth = {"rmst": rmst_exp(rate1) - rmst_exp(base), "surv": np.exp(-rate1 * TAU) - np.exp(-base * TAU)}
    return X, a, np.minimum(T, C), (T <= C).astype(int), truth


def test_aipcw_pseudo_outcome_hand_values():
    grid = np.array([1.0, 2.0])
    surv = np.tile([0.8, 0.5], (4, 1))
    cens = np.tile([0.9, 0.6], (4, 1))
    time = np.array([0.5, 1.5, 3.0, 1.5])
    event = np.array([1, 0, 0, 1])
    po = censoring_pseudo_outcomes(time, event, surv, cens, grid, "rmst")
    # G at U with constant censoring hazard in a bin: G(0.5) = 0.9**0.5, G(1.5) = 0.9 * (0.6/0.9)**0.5
    g05, g15 = 0.9 ** 0.5, 0.9 * (0.6 / 0.9) ** 0.5
    mu = (1 + 0.8) / 2 + (0.8 + 0.5) / 2                     # RMST(2) by the trapezoid rule = Q(0)
    q1, q2 = 1 + (0.8 + 0.5) / 2 / 0.8, 2.0                  # Q(1), Q(2)
    q05, q15 = (mu + q1) / 2, (q1 + q2) / 2                   # linear in between
    c1 = (mu + q1) / 2 * (1 / 0.9 - 1)                        # compensator over bin 1
    expected = [
        0.5 / g05 - (mu + q05) / 2 * (1 / g05 - 1),
        q15 / g15 - c1 - (q1 + q15) / 2 * (1 / g15 - 1 / 0.9),
        2.0 / 0.6 - c1 - (q1 + q2) / 2 * (1 / 0.6 - 1 / 0.9),
        1.5 / g15 - c1 - (q1 + q15) / 2 * (1 / g15 - 1 / 0.9),
    ]
    np.testing.assert_allclose(po.aipcw, expected, rtol=1e-12)
    np.testing.assert_allclose(po.ipcw, [0.5 / g05, 0, 2.0 / 0.6, 1.5 / g15], rtol=1e-12)
    np.testing.assert_allclose(po.g_tau, 0.9)


@pytest.mark.parametrize("estimand", ["rmst", "surv"])
def test_aipcw_is_doubly_robust_with_known_nuisances(estimand):
    rng = np.random.default_rng(0)
    n, tau = 40_000, 1.5
    x = rng.uniform(0, 1, n)
    lam, lam_c = 0.5 + x, 0.4 + 0.6 * x
    T, C = rng.exponential(1 / lam), rng.exponential(1 / lam_c)
    time, event = np.minimum(T, C), (T <= C).astype(int)
    truth = np.mean(rmst_exp(lam, tau) if estimand == "rmst" else np.exp(-lam * tau))
    grid, step = time_grid(time, tau, 50)
    assert not step
    S, G = np.exp(-np.outer(lam, grid)), np.exp(-np.outer(lam_c, grid))
    wrong_S, wrong_G = np.exp(-np.outer(np.ones(n), grid)), np.ones_like(G)
    for s, g in ((S, G), (wrong_S, G), (S, wrong_G)):
        po = censoring_pseudo_outcomes(time, event, s, g, grid, estimand)
        se = po.aipcw.std() / np.sqrt(n)
        assert abs(po.aipcw.mean() - truth) < 3 * se + 0.002
    ipcw_wrong_g = censoring_pseudo_outcomes(time, event, S, wrong_G, grid, estimand).ipcw.mean()
    assert abs(ipcw_wrong_g - truth) > 0.1  # IPCW alone is not robust to a wrong G


@pytest.mark.parametrize("estimand", ["rmst", "surv"])
def test_aipcw_is_doubly_robust_with_discrete_times_and_ties(estimand):
    from scipy.stats import poisson

    rng = np.random.default_rng(1)
    n, tau = 40_000, 3.0
    x = rng.uniform(0, 1, n)
    lam, lam_c = 0.5 + 2 * x, 2 + 2 * x
    T, C = rng.poisson(lam), rng.poisson(lam_c)             # many ties, and times 0
    time, event = np.minimum(T, C).astype(float), (T <= C).astype(int)
    truth = np.mean(sum(poisson.sf(k, lam) for k in range(3)) if estimand == "rmst" else poisson.sf(tau, lam))
    grid, step = time_grid(time, tau, 50)
    assert step and np.array_equal(grid, [0.0, 1.0, 2.0, 3.0])
    S, G = poisson.sf(grid, lam[:, None]), poisson.sf(grid, lam_c[:, None])
    for s, g in ((S, G), (np.tile(S.mean(axis=0), (n, 1)), G), (S, np.ones_like(G))):
        po = censoring_pseudo_outcomes(time, event, s, g, grid, estimand, step)
        assert abs(po.aipcw.mean() - truth) < 3 * po.aipcw.std() / np.sqrt(n) + 0.002


def test_no_censoring_equals_uncensored_dr_learner_exactly():
    X, a, t, d, _ = simple_cohort(1500, 1, censoring_rate=0)
    assert d.all()
    est = CensoredCATE(horizon=TAU, method="aipcw-dr", cate_model=LinearRegression(), n_folds=2,
                       random_state=0).fit(X, a, t, d)
    nu = est.nuisances_
    y = np.minimum(t, TAU)
    np.testing.assert_array_equal(nu["weight"], 1.0)
    np.testing.assert_array_equal(nu["aipcw"], y)
    np.testing.assert_array_equal(nu["ipcw"], y)
    plain = dr_scores(y, a, nu["mu0"], nu["mu1"], nu["propensity"])
    np.testing.assert_array_equal(est.scores_, plain)
    np.testing.assert_allclose(est.effect(X), LinearRegression().fit(X, plain).predict(X), rtol=1e-12)


@pytest.mark.parametrize("estimand", ["rmst", "surv"])
def test_aipcw_dr_accuracy_and_ate_coverage(estimand):
    X, a, t, d, truth = simple_cohort(4000, 2)
    est = CensoredCATE(estimand=estimand, horizon=TAU, n_folds=2, random_state=0).fit(X, a, t, d)
    Xt, _, _, _, truth_t = simple_cohort(2000, 99)
    mse = np.mean((est.effect(Xt) - truth_t[estimand]) ** 2)
    assert mse < 0.5 * truth_t[estimand].var(), mse          # explains at least half of the CATE variance
    ate, lo, hi = est.ate_interval()
    assert lo < truth[estimand].mean() < hi
    assert hi - lo < 0.12


# bound on MSE / variance of the true CATE (IPCW alone is noisy; the T-learner pays for two separate fits)
@pytest.mark.parametrize("method,bound", [("ipcw-dr", 1.5), ("t-learner", 0.8), ("s-learner", 0.5),
                                          ("x-learner", 0.5)])
def test_other_learners_accuracy(method, bound):
    X, a, t, d, truth = simple_cohort(4000, 3)
    est = CensoredCATE(horizon=TAU, method=method, n_folds=2, random_state=0).fit(X, a, t, d)
    Xt, _, _, _, truth_t = simple_cohort(2000, 98)
    mse = np.mean((est.effect(Xt) - truth_t["rmst"]) ** 2)
    assert mse < bound * truth_t["rmst"].var(), mse


def test_econml_learners_with_censored_outcome():
    from econml.dr import LinearDRLearner

    X, a, t, d, truth = simple_cohort(2000, 4)
    Xt, _, _, _, truth_t = simple_cohort(1000, 97)
    learner = LinearDRLearner(model_propensity=LogisticRegression(), model_regression=LinearRegression(), cv=2,
                              random_state=0)
    for method in ("aipcw-econml", "ipcw-econml"):
        est = CensoredCATE(horizon=TAU, method=method, cate_model=learner, n_folds=2, random_state=0)
        mse = np.mean((est.fit(X, a, t, d).effect(Xt) - truth_t["rmst"]) ** 2)
        assert mse < 0.6 * truth_t["rmst"].var(), (method, mse)


def small_survival_forest(**kwargs):
    from econml.grf import CausalForest

    return CausalForest(n_estimators=100, criterion="het", min_samples_leaf=20, max_samples=0.5, n_jobs=1, **kwargs)


def test_causal_survival_forest_accuracy_and_nuisance_options():
    X, a, t, d, truth = simple_cohort(2000, 10)
    Xt, _, _, _, truth_t = simple_cohort(1000, 96)
    est = CensoredCATE(horizon=TAU, method="aipcw-causal-forest", cate_model=small_survival_forest(), n_folds=2,
                       random_state=0, treatment_as_feature=True, calibrate_propensity="sigmoid").fit(X, a, t, d)
    assert est.cate_model_.random_state == 0  # seed passed on to the forest
    mse = np.mean((est.effect(Xt) - truth_t["rmst"]) ** 2)
    assert mse < 0.5 * truth_t["rmst"].var(), mse


def test_causal_survival_forest_without_censoring_is_the_causal_forest_on_centred_outcomes():
    X, a, t, d, _ = simple_cohort(1000, 11, censoring_rate=0)
    est = CensoredCATE(horizon=TAU, method="aipcw-causal-forest", cate_model=small_survival_forest(random_state=3),
                       n_folds=2, random_state=0).fit(X, a, t, d)
    nu = est.nuisances_
    e = nu["propensity"]
    y_centred = np.minimum(t, TAU) - (e * nu["mu1"] + (1 - e) * nu["mu0"])
    plain = small_survival_forest(random_state=3).fit(X, a - e, y_centred)
    np.testing.assert_allclose(est.effect(X[:200]), plain.predict(X[:200]).ravel(), rtol=1e-12)


def test_same_seed_same_output_and_clone():
    X, a, t, d, _ = simple_cohort(1000, 5)
    est = CensoredCATE(horizon=TAU, n_folds=2, random_state=7,
                       event_model=DiscreteTimeHazard(n_bins=10), censoring_model=SksurvSurvival())
    p1 = clone(est).fit(X, a, t, d).effect(X[:50])
    p2 = clone(est).fit(X, a, t, d).effect(X[:50])
    np.testing.assert_array_equal(p1, p2)
    assert clone(est).get_params()["event_model"].n_bins == 10


def test_seed_reaches_a_wrapped_survival_forest():
    from sksurv.ensemble import RandomSurvivalForest

    X, a, t, d, _ = simple_cohort(600, 5)
    forest = SksurvSurvival(RandomSurvivalForest(n_estimators=10, min_samples_leaf=20))
    est = CensoredCATE(horizon=TAU, method="t-learner", event_model=forest, n_folds=2, random_state=7)
    p1 = clone(est).fit(X, a, t, d)
    assert [m.estimator_.random_state for m in p1.survival_model_.models_] == [7, 7]
    np.testing.assert_array_equal(p1.effect(X[:50]), clone(est).fit(X, a, t, d).effect(X[:50]))


def test_ate_bootstrap_agrees_with_influence_interval():
    X, a, t, d, _ = simple_cohort(2000, 6)
    est = CensoredCATE(horizon=TAU, n_folds=2, random_state=0).fit(X, a, t, d)
    ate, lo, hi = est.ate_interval(0.05)
    b_ate, b_lo, b_hi = est.ate_interval(0.05, method="bootstrap", n_boot=400)
    assert b_ate == ate
    assert abs(b_lo - lo) < 0.2 * (hi - lo) and abs(b_hi - hi) < 0.2 * (hi - lo)
    assert est.ate_interval(0.05, method="bootstrap", n_boot=400) == (b_ate, b_lo, b_hi)
    with pytest.raises(ValueError, match=r"method must be 'influence' or 'bootstrap', got 'jackknife'"):
        est.ate_interval(method="jackknife")


def test_bad_input_messages():
    X, a, t, d, _ = simple_cohort(400, 7)
    fit = CensoredCATE(horizon=TAU, n_folds=2, random_state=0).fit
    last = t[a == 0].max()
    with pytest.raises(ValueError) as error:
        CensoredCATE(horizon=100).fit(X, a, t, d)
    assert str(error.value) == (f"horizon 100 is beyond the last observed time {last:g} in treatment arm 0; "
                                "CensoredCATE(extrapolate=True) holds each arm's survival constant after its "
                                "last observed time")
    with pytest.raises(ValueError, match=r"no events at or before the horizon 0.001"):
        CensoredCATE(horizon=0.001).fit(X, a, t, np.where(t <= 0.001, 0, d))
    fitted = fit(X, a, t, d)
    with pytest.raises(ValueError, match=r"^X has 2 covariates, the model was fitted with 3$"):
        fitted.effect(X[:, :2])
    with pytest.raises(ValueError, match=r"treatment arm 0 has no patients: both arms are needed"):
        fit(X, np.ones(400, dtype=int), t, d)
    Xn = X.copy()
    Xn[:5, 0] = np.nan
    with pytest.raises(ValueError, match=r"X \(covariates\) has NaN in 5 rows \(covariate columns \[0\]\) but the "
                                         r"model does not accept missing values"):
        fit(Xn, a, t, d)  # default propensity model (logistic regression) cannot take NaN
    with pytest.raises(ValueError, match=r"method must be one of .* got 'r-learner'"):
        CensoredCATE(method="r-learner").fit(X, a, t, d)
    with pytest.raises(ValueError, match=r"estimand must be one of \('rmst', 'surv', 'cif', 'rmtl'\), got 'hazard'"):
        CensoredCATE(estimand="hazard").fit(X, a, t, d)
    with pytest.raises(ValueError, match=r"method 'aipcw-econml' needs an econml CATE learner as cate_model, "
                                         r"got LinearRegression"):
        CensoredCATE(method="aipcw-econml", cate_model=LinearRegression()).fit(X, a, t, d)
    from econml.dml import CausalForestDML
    with pytest.raises(ValueError, match=r"method 'aipcw-causal-forest' needs an econml.grf forest \(fit\(X, T, y\)\) "
                                         r"as cate_model, got CausalForestDML; pass econml CATE learners with method "
                                         r"'aipcw-econml'"):
        CensoredCATE(method="aipcw-causal-forest", cate_model=CausalForestDML()).fit(X, a, t, d)


def test_fit_cate_on_dataframe():
    X, a, t, d, truth = simple_cohort(1500, 8)
    df = pd.DataFrame(X, columns=["x1", "x2", "x3"]).assign(treatment=a, time=t, event=d)
    est = fit_cate(df, ["x1", "x2", "x3"], horizon=TAU, n_folds=2, random_state=0)
    assert list(est.feature_names_in_) == ["x1", "x2", "x3"]
    assert est.effect(X).shape == (1500,)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['age'\]"):
        fit_cate(df, ["x1", "age"], horizon=TAU)
    with pytest.raises(ValueError, match=r"^groups column 'centre' is missing; available columns: \['x1', "):
        fit_cate(df, ["x1"], horizon=TAU, groups="centre")
    centre = np.arange(1500) % 7
    est = fit_cate(df.assign(centre=centre), ["x1", "x2", "x3"], horizon=TAU, groups="centre", n_folds=2,
                   random_state=0)
    assert all(np.unique(est.folds_[centre == c]).size == 1 for c in range(7))


def test_horizon_is_required():
    X, a, t, d, _ = simple_cohort(400, 7)
    assert CensoredCATE().get_params()["horizon"] is None and clone(CensoredCATE()).horizon is None
    last0, last1 = t[a == 0].max(), t[a == 1].max()
    choose = (r"the horizon\. Choose it from the question asked \(e\.g\. 5-year survival\), no later than the last "
              rf"follow-up of either arm \({last0:g} in arm 0, {last1:g} in arm 1\) and where enough patients of both "
              r"arms are still followed; pass it as CensoredCATE\(horizon=\.\.\.\)$")
    with pytest.raises(ValueError, match=r"^CensoredCATE needs a horizon: the estimand \(estimand='rmst'\) is the "
                                         r"difference in restricted mean survival time up to " + choose):
        CensoredCATE(n_folds=2).fit(X, a, t, d)
    with pytest.raises(ValueError, match=r"^CensoredCATE needs a horizon: the estimand \(estimand='surv'\) is the "
                                         r"difference in survival probability at " + choose):
        CensoredCATE(estimand="surv", n_folds=2).fit(X, a, t, d)
    df = pd.DataFrame(X, columns=["x1", "x2", "x3"]).assign(treatment=a, time=t, event=d)
    with pytest.raises(TypeError, match=r"fit_cate\(\) missing 1 required keyword-only argument: 'horizon'"):
        fit_cate(df, ["x1"])
    with pytest.raises(ValueError, match=r"^CensoredCATE needs a horizon"):
        fit_cate(df, ["x1"], horizon=None)


def test_not_fitted_error_before_predicting():
    msg = (r"This CensoredCATE instance is not fitted yet\. Call 'fit' with appropriate arguments before using this "
           r"estimator\.")
    with pytest.raises(NotFittedError, match=msg):
        CensoredCATE(horizon=TAU).effect(np.zeros((2, 3)))
    with pytest.raises(NotFittedError, match=msg):
        CensoredCATE(horizon=TAU).ate_interval()


def test_folds_without_groups_are_the_stratified_k_fold():
    X, a, t, d, _ = simple_cohort(600, 12)
    est = CensoredCATE(horizon=TAU, n_folds=3, random_state=4).fit(X, a, t, d)
    splits = StratifiedKFold(3, shuffle=True, random_state=4).split(X, 2 * a + d)
    for k, (_, test) in enumerate(splits):
        np.testing.assert_array_equal(np.flatnonzero(est.folds_ == k), test)


def test_groups_keep_each_centre_in_one_fold_and_estimates_stay_accurate():
    X, a, t, d, truth = simple_cohort(4000, 2)
    centre = np.random.default_rng(2).integers(0, 40, 4000)            # 40 centres of unequal size
    est = CensoredCATE(horizon=TAU, n_folds=2, random_state=0).fit(X, a, t, d, groups=centre)
    assert set(est.folds_) == {0, 1}
    assert all(np.unique(est.folds_[centre == c]).size == 1 for c in range(40))
    Xt, _, _, _, truth_t = simple_cohort(2000, 99)
    mse = np.mean((est.effect(Xt) - truth_t["rmst"]) ** 2)
    assert mse < 0.5 * truth_t["rmst"].var(), mse                       # the bound of the ungrouped test
    ate, lo, hi = est.ate_interval()
    assert lo < truth["rmst"].mean() < hi


def test_groups_errors():
    X, a, t, d, _ = simple_cohort(400, 7)
    with pytest.raises(ValueError, match=r"^groups has 4 distinct values, fewer than n_folds=5: cross-fitting needs "
                                         r"at least one group per fold$"):
        CensoredCATE(horizon=TAU).fit(X, a, t, d, groups=np.arange(400) % 4)
    with pytest.raises(ValueError, match=r"^groups must have 400 rows like X, got 399$"):
        CensoredCATE(horizon=TAU).fit(X, a, t, d, groups=np.arange(399))


def test_folds_in_worker_processes_give_the_same_fit_and_keep_the_folds_warnings():
    from sklearn.exceptions import ConvergenceWarning

    cohort = simulate("csf2", 400, seed=3)
    d = cohort.data
    X = d[cohort.covariates].to_numpy()
    effects = []
    for n_jobs in (None, 2):
        est = CensoredCATE(horizon=2.0, n_folds=2, random_state=0, n_jobs=n_jobs,
                           event_model=MarginalKaplanMeier(), censoring_model=MarginalKaplanMeier(),
                           propensity_model=LogisticRegression(max_iter=1))  # warns in every fold
        with pytest.warns(ConvergenceWarning):
            est.fit(X, d["treatment"], d["time"], d["event"])
        effects.append(est.effect(X))
    np.testing.assert_array_equal(effects[0], effects[1])
