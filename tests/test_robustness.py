"""Robustness of the analyses (issue 20, items 2, 8, 9, 10): small indicator groups in the drivers table, a
constant column in a Cox fit, one failing learner among several, an arm without events before the horizon, and
the threads given to the estimators."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.tree import DecisionTreeClassifier

from causalehr.cate import CensoredCATE
from causalehr.nuisance import DiscreteTimeHazard, LifelinesCoxSurvival, MarginalKaplanMeier
from causalehr.registry import make_estimator
from causalehr.studies import casestudy as cs


def test_effect_drivers_leaves_out_indicators_of_small_groups():
    rng = np.random.default_rng(0)
    n = 100
    X = pd.DataFrame({"x": rng.normal(size=n), "rare": (np.arange(n) < 4).astype(int),
                      "common": (np.arange(n) >= 4).astype(int), "half": np.arange(n) % 2})
    drivers = cs.effect_drivers(X, rng.normal(size=n), min_cell_size=10)
    assert drivers["term"].tolist() == ["intercept", "x", "half"]  # 4 patients at 1 (rare) or at 0 (common)


def test_cox_ignores_a_column_constant_in_the_fitted_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    t, e = rng.exponential(size=60), np.ones(60)
    with_constant = LifelinesCoxSurvival().fit(np.column_stack([x, np.zeros(60)]), t, e)
    alone = LifelinesCoxSurvival().fit(x[:, None], t, e)
    np.testing.assert_allclose(with_constant.predict_survival(np.column_stack([x[:3], np.ones(3)]), [0.5, 1.0]),
                               alone.predict_survival(x[:3, None], [0.5, 1.0]))


def test_a_failing_method_is_recorded_and_the_others_run():
    case = cs.load_rossi()
    methods = {"ok": {"method": "aipcw-dr", "event_model": "discrete-time-logistic",
                      "censoring_model": "kaplan-meier", "cate_model": "ridge"},
               "bad": {"method": "aipcw-dr", "event_model": "discrete-time-logistic",
                       "censoring_model": "kaplan-meier", "cate_model": "ridge", "n_folds": 1}}
    with pytest.warns(RuntimeWarning, match="method 'bad' failed: ValueError: k-fold cross-validation requires"):
        tables = cs.analyse_case(case, methods, seed=1, n_folds=2, n_bootstrap=5)
    ate = tables["ate"].set_index("method")
    assert ate.loc["bad", "error"] == ("ValueError: k-fold cross-validation requires at least one train/test split "
                                       "by setting n_splits=2 or more, got n_splits=1.")
    assert np.isnan(ate.loc["bad", "estimate"]) and ate.loc["ok", "error"] == "" and np.isfinite(ate.loc["ok", "estimate"])
    assert set(tables["calibration"]["method"]) == {"ok"} and set(tables["drivers"]["method"]) == {"ok"}
    assert "| bad      | failed: ValueError: k-fold" in cs.ate_table(tables["ate"], "weeks")


def test_arm_without_events_before_the_horizon_against_hand_computation():
    """40 treated (20 events at 3, 20 censored at 3) and 40 controls (20 events at 1, 20 censored at 3), one
    constant covariate, horizon 2, two folds stratified on (arm, event): each training fold holds 10 patients
    of each kind. Treated: no event before 2, S1 = 1, mu1 = 2, observed f = 2. Controls: per-bin hazard (a tree
    on the bins reproduces Kaplan-Meier) 10/20 on (0, 1], 0 on (1, 2]: mu0 = 1 + 0.5 = 1.5. No censoring before
    2: G = 1. Propensity 0.5. AIPW scores mu1 - mu0 + A (Y - mu1) / e - (1 - A) (Y - mu0) / (1 - e): treated
    0.5; controls with an event at 1: 0.5 - (1 - 1.5) / 0.5 = 1.5; censored controls: 0.5 - (2 - 1.5) / 0.5 =
    -0.5. ATE 0.5 = 2 - 1.5, the true RMST difference; SD of the scores sqrt(40 / 79)."""
    a = np.repeat([1, 0], 40)
    time = np.concatenate([np.full(40, 3.0), np.repeat([1.0, 3.0], 20)])
    event = np.concatenate([np.tile([1, 0], 20), np.repeat([1, 0], 20)])
    X = np.ones((80, 1))
    model = CensoredCATE(horizon=2.0, n_folds=2, random_state=0, cate_model=None,
                         event_model=DiscreteTimeHazard(classifier=DecisionTreeClassifier(random_state=0)),
                         censoring_model=MarginalKaplanMeier())
    with pytest.warns(UserWarning, match=r"treatment arm 1 has no events at or before the horizon 2: its survival "
                                         r"up to the horizon is estimated as 1 \(as Kaplan-Meier gives\)"):
        model.fit(X, a, time, event)
    expected = np.where(a == 1, 0.5, np.where(time == 1.0, 1.5, -0.5))
    np.testing.assert_allclose(model.scores_, expected, atol=1e-9)
    np.testing.assert_allclose(model.nuisances_["mu1"], 2.0)
    np.testing.assert_allclose(model.nuisances_["mu0"], 1.5)
    half = norm.ppf(0.975) * np.sqrt(40 / 79) / np.sqrt(80)
    np.testing.assert_allclose(model.ate_interval(), (0.5, 0.5 - half, 0.5 + half), atol=1e-9)


def test_threads_reach_the_causal_forest():
    spec = {"method": "aipcw-causal-forest"}
    assert make_estimator(spec, "rmst", 1.0, 0, n_jobs=3)._cate_model().n_jobs == 3
    assert make_estimator(spec, "rmst", 1.0, 0)._cate_model().n_jobs is None  # one worker, not every core
