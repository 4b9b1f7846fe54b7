"""Tests of the survival / censoring / propensity nuisance models (causalehr.nuisance)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sksurv.ensemble import RandomSurvivalForest

from causalehr.nuisance import (
    ArmSurvival,
    DiscreteTimeHazard,
    LifelinesCoxSurvival,
    PositivityWarning,
    SksurvSurvival,
    SurvivalBoostSurvival,
    check_arms,
    make_propensity,
    positivity_report,
)
from causalehr.nuisance.base import step_survival


def exponential_data(n, seed, beta=0.0, censoring_rate=0.5):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    rate = np.exp(beta * X[:, 0])
    T = rng.exponential(1 / rate)
    C = rng.exponential(1 / censoring_rate, n)
    return X, np.minimum(T, C), (T <= C).astype(int), rate


def test_discrete_time_hazard_recovers_exponential_survival():
    X, t, d, rate = exponential_data(6000, 0, beta=0.8)
    model = DiscreteTimeHazard(horizon=2.0, n_bins=20, random_state=0).fit(X, t, d)
    times = np.array([0.25, 0.5, 1.0, 1.5, 2.0])
    pred = model.predict_survival(X[:500], times)
    truth = np.exp(-np.outer(rate[:500], times))
    assert pred.shape == (500, 5)
    assert np.abs(pred - truth).mean() < 0.03
    assert np.all(np.diff(pred, axis=1) <= 1e-12)


def test_person_period_expansion_stops_at_last_bin_and_horizon():
    X = np.zeros((4, 1))
    t = np.array([0.5, 1.5, 2.5, 10.0])
    d = np.array([1, 1, 0, 1])
    model = DiscreteTimeHazard(classifier=LogisticRegression(), n_bins=2, horizon=3.0).fit(X, t, d)
    # distinct event times <= 3: 0.5, 1.5 (no more than n_bins), then the horizon: bins (0,.5], (.5,1.5], (1.5,3]
    np.testing.assert_allclose(model.bin_edges_, [0.0, 0.5, 1.5, 3.0])
    assert model.n_person_periods_ == 1 + 2 + 3 + 3  # the last patient stops at the horizon


def test_default_classifier_fast_path_equals_scikit_learn():
    """The default classifier, binned once per patient and predicted once per run of bins, is the model that
    HistGradientBoostingClassifier fits on the person-period rows, with the same predictions (NaN included)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, t, d, _ = exponential_data(3000, 4, beta=0.8)
    X = np.column_stack([X, np.where(np.arange(3000) % 7 == 0, np.nan, X[:, 0])])
    fast = DiscreteTimeHazard(n_bins=8, horizon=2.0, random_state=1).fit(X, t, d)
    hgb = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=100,
                                         early_stopping=True, random_state=1)
    plain = DiscreteTimeHazard(hgb, n_bins=8, horizon=2.0, random_state=1).fit(X, t, d)
    k = len(plain.bin_edges_) - 1
    rows = np.column_stack([np.repeat(X, k, axis=0), np.tile(plain._mid(), len(X))]).astype(np.float32)
    expected = plain.classifier_.predict_proba(rows)[:, 1].reshape(len(X), k)
    assert fast.classifier_.n_iter_ == plain.classifier_.n_iter_
    np.testing.assert_allclose(fast.predict_hazard(X), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(plain.predict_hazard(X), expected, rtol=0, atol=1e-12)


def test_discrete_times_with_events_at_zero():
    from scipy.stats import poisson

    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (4000, 1))
    lam = 0.5 + X[:, 0]
    T = rng.poisson(lam).astype(float)
    model = DiscreteTimeHazard(n_bins=20, horizon=3.0, random_state=0)  # bin effects: not logit-linear
    model.fit(np.zeros((4000, 1)), T, np.ones(4000, dtype=int))
    np.testing.assert_allclose(model.bin_edges_, [-1.0, 0.0, 1.0, 2.0, 3.0])  # own bin for time 0
    pred = model.predict_survival(np.zeros((1, 1)), [0.0, 1.0, 2.0])[0]
    np.testing.assert_allclose(pred, poisson.sf([0, 1, 2], lam[:, None]).mean(axis=0), atol=0.02)


def test_survival_one_without_events():
    X, t, _, _ = exponential_data(300, 1)
    # events only after the horizon (issue 20, item 9): hazard 0, S == 1 up to and beyond the horizon
    late = DiscreteTimeHazard(horizon=1.0).fit(X, np.where(t > 1, t, 1.5), (t > 1).astype(int))
    assert late.classifier_ is None
    assert np.all(late.predict_survival(X[:5], [0.0, 0.5, 1.0, 2.0]) == 1.0)
    # censoring model of a cohort without censoring: 1 - event has no events -> G == 1 exactly
    a = np.arange(300) % 2
    cens = ArmSurvival(DiscreteTimeHazard(horizon=1.0)).fit(X, a, t, np.zeros(300, dtype=int))
    assert np.all(cens.predict_survival(X, 1, [0.5, 1.0]) == 1.0)


def test_step_survival_hand_values():
    curves = np.array([[0.9, 0.5, 0.2]])
    out = step_survival(np.array([1.0, 2.0, 3.0]), curves, [0.5, 1.0, 2.5, 4.0])
    np.testing.assert_allclose(out, [[1.0, 0.9, 0.5, 0.2]])


def test_sksurv_cox_matches_lifelines_cox():
    X, t, d, _ = exponential_data(800, 2, beta=1.0)
    times = np.array([0.3, 0.8, 1.5])
    a = SksurvSurvival().fit(X, t, d).predict_survival(X[:50], times)
    b = LifelinesCoxSurvival().fit(X, t, d).predict_survival(X[:50], times)
    np.testing.assert_allclose(a, b, atol=0.01)


def test_random_survival_forest_and_survival_boost_close_to_truth():
    X, t, d, rate = exponential_data(1000, 3, beta=1.0)
    times = np.array([0.5, 1.0])
    truth = np.exp(-np.outer(rate[:300], times))
    rsf = SksurvSurvival(RandomSurvivalForest(n_estimators=30, min_samples_leaf=20, random_state=0)).fit(X, t, d)
    sb = SurvivalBoostSurvival(n_iter=20, learning_rate=0.2, n_time_grid_steps=20, random_state=0).fit(X, t, d)
    assert np.abs(rsf.predict_survival(X[:300], times) - truth).mean() < 0.06
    # few boosting rounds (test time): looser bound, still below the error of the marginal curve (0.13)
    null = np.abs(truth - truth.mean(axis=0)).mean()
    assert null > 0.12
    assert np.abs(sb.predict_survival(X[:300], times) - truth).mean() < 0.1


def test_arm_survival_per_arm_and_as_feature():
    X, t, d, _ = exponential_data(2000, 4)
    rng = np.random.default_rng(4)
    a = rng.binomial(1, 0.5, 2000)
    t = np.where(a == 1, t * 2, t)  # treatment halves the hazard (and the censoring hazard)
    times = np.array([1.0])
    for as_feature in (False, True):
        m = ArmSurvival(DiscreteTimeHazard(horizon=2.0, random_state=0), as_feature).fit(X, a, t, d)
        s0, s1 = m.predict_survival(X[:200], 0, times), m.predict_survival(X[:200], 1, times)
        assert abs(s0.mean() - np.exp(-1.0)) < 0.05 and abs(s1.mean() - np.exp(-0.5)) < 0.05


def test_nan_covariates_rejected_by_model_that_cannot_take_them():
    X, t, d, _ = exponential_data(100, 5)
    X[[3, 7], 1] = np.nan
    msg = (r"X has NaN in 2 rows \(covariate columns \[1\]\) but the model does not accept missing values")
    with pytest.raises(ValueError, match=msg):
        DiscreteTimeHazard(classifier=LogisticRegression()).fit(X, t, d)
    with pytest.raises(ValueError, match=msg):
        LifelinesCoxSurvival().fit(X, t, d)
    DiscreteTimeHazard(horizon=1.0).fit(X, t, d)  # HistGradientBoosting takes NaN


def test_bad_outcomes_and_arms():
    X, t, d, _ = exponential_data(50, 6)
    with pytest.raises(ValueError, match=r"time must be finite and >= 0; 2 rows are not"):
        DiscreteTimeHazard().fit(X, np.where(np.arange(50) < 2, -1.0, t), d)
    with pytest.raises(ValueError, match=r"event must be 0/1; 1 rows are not"):
        DiscreteTimeHazard().fit(X, t, np.where(np.arange(50) == 0, 2, d))
    with pytest.raises(ValueError, match=r"treatment arm 1 has no patients: both arms are needed"):
        check_arms(np.zeros(50))
    with pytest.raises(ValueError, match=r"treatment must be 0/1; 3 rows are not"):
        check_arms(np.r_[np.zeros(47), [0.5, 2, 3]])


def test_propensity_calibration_and_positivity_warning():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1000, 2))
    a = rng.binomial(1, 1 / (1 + np.exp(-2 * X[:, 0])))
    for cal in (None, "sigmoid", "isotonic"):
        p = make_propensity(LogisticRegression(), cal).fit(X, a).predict_proba(X)[:, 1]
        assert abs(p.mean() - a.mean()) < 0.02
    with pytest.raises(ValueError, match=r"calibrate must be None, 'sigmoid' or 'isotonic', got 'beta'"):
        make_propensity(None, "beta")
    with pytest.warns(PositivityWarning, match=r"below 0.05 for fewer than 10 patients \(smallest 0.01\)"):
        positivity_report(np.array([0.01, 0.04, 0.5]), np.array([0.5, 0.5, 0.5]), 2.0)
    with pytest.warns(PositivityWarning, match=r"below 0.05 for 2 patients \(smallest 0.01\)"):
        positivity_report(np.array([0.01, 0.04, 0.5]), np.array([0.5, 0.5, 0.5]), 2.0, min_count=2)
    with pytest.warns(PositivityWarning, match=r"propensity score outside \[0.02, 0.98\] for fewer than 10 "
                                               r"patients \(range 0.01 to 0.5\)"):
        rep = positivity_report(np.ones(3), np.array([0.01, 0.5, 0.5]), 2.0)
    assert rep["n_propensity_outside"] == 1 and rep["n_censoring_survival_below"] == 0


def test_clone_and_seed_reproducible():
    X, t, d, _ = exponential_data(1000, 8)
    m = DiscreteTimeHazard(horizon=1.5, random_state=3)
    a = clone(m).fit(X, t, d).predict_survival(X[:20], [1.0])
    b = clone(m).fit(X, t, d).predict_survival(X[:20], [1.0])
    np.testing.assert_array_equal(a, b)
