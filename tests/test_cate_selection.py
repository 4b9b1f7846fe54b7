"""Method "auto" of CensoredCATE: choosing and stacking CATE learners by a censoring-adjusted validation risk."""

import numpy as np
import pytest
from scipy.optimize import minimize

from causalehr.cate import CensoredCATE
from causalehr.cate.selection import (
    candidate_specs,
    climb,
    dr_risk,
    forest_leaf_candidates,
    ladder,
    r_risk,
    risk_reduction,
    simplex_least_squares,
)
from causalehr.simulate import simulate

FAST = ("constant", "aipcw-dr", "t-learner")  # candidates without the 2000-tree forest, for speed


def fit_auto(cohort, horizon, **kwargs):
    d = cohort.data
    X = d[cohort.covariates].to_numpy()
    est = CensoredCATE(horizon=horizon, method="auto", random_state=0, n_folds=3, **kwargs)
    return est.fit(X, d["treatment"], d["time"], d["event"])


def test_simplex_least_squares_exact():
    np.testing.assert_allclose(simplex_least_squares(np.eye(2), np.ones(2)), [0.5, 0.5])
    A = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])
    np.testing.assert_allclose(simplex_least_squares(A, A[:, 0]), [1.0, 0.0])
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(50, 4)), rng.normal(size=50)
    obj = lambda w: np.sum((A @ w - b) ** 2)  # noqa: E731
    ref = minimize(obj, np.full(4, 0.25), bounds=[(0, 1)] * 4, method="SLSQP",
                   constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, options={"ftol": 1e-14})
    w = simplex_least_squares(A, b)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    assert obj(w) <= ref.fun + 1e-9


def test_risks_hand_values():
    y, mu0, mu1 = np.array([1.0, 0.0]), np.array([0.2, 0.4]), np.array([0.6, 0.4])
    a, e, tau = np.array([1, 0]), np.array([0.5, 0.25]), np.array([0.3, -0.1])
    # m = e mu1 + (1 - e) mu0 = (0.4, 0.4); residuals 0.6 - 0.5 * 0.3 and -0.4 + 0.25 * -0.1
    assert r_risk(tau, y, mu0, mu1, a, e) == pytest.approx(((0.6 - 0.15) ** 2 + (-0.4 - 0.025) ** 2) / 2)
    np.testing.assert_allclose(r_risk(np.column_stack([tau, tau]), y, mu0, mu1, a, e),
                               r_risk(tau, y, mu0, mu1, a, e))
    assert dr_risk(tau, np.array([0.5, 0.1])) == pytest.approx((0.2 ** 2 + 0.2 ** 2) / 2)


def test_auto_keeps_the_constant_model_without_heterogeneity():
    # survlearners1 with beta = gamma = 0: T independent of X, the true CATE is the ATE for everyone
    cohort = simulate("survlearners1", 1500, seed=3, beta=0.0, gamma=0.0, cen_scale=1.0, horizon=1.0)
    est = fit_auto(cohort, 1.0, candidates=FAST)
    assert est.weights_["constant"] == 1.0 and est.selected_ == "constant"
    assert list(est.ladder_.index) == ["constant", "combination"] and not est.ladder_.loc["combination", "taken"]
    truth = cohort.truth["cate_rmst"].to_numpy()
    ate, lower, upper = est.ate_interval()
    se = (upper - lower) / (2 * 1.959964)
    mse = np.mean((est.effect(cohort.data[cohort.covariates].to_numpy()) - truth) ** 2)
    assert mse == pytest.approx((ate - truth.mean()) ** 2)   # the ATE for everyone ...
    assert mse <= 4 * se ** 2                                # ... within two standard errors of the truth


def test_auto_chooses_a_heterogeneous_learner_when_there_is_heterogeneity():
    # csf1: the CATE varies with X1..X3 (Cui et al. 2023); MSE on a test cohort against the truth
    cohort = simulate("csf1", 2000, seed=1, n_covariates=5, truncate=True)
    test = simulate("csf1", 3000, seed=99, n_covariates=5)
    est = fit_auto(cohort, cohort.horizon, candidates=FAST)
    assert est.weights_["constant"] < 0.5
    assert est.ladder_.loc["combination", "taken"]   # the combination replaced the constant model
    truth = test.truth["cate_rmst"].to_numpy()
    mse = np.mean((est.effect(test.data[test.covariates].to_numpy()) - truth) ** 2)
    assert mse < 0.5 * truth.var()                       # better than the constant true ATE, by half
    risks = est.validation_risks_["r_risk"]
    assert risks["auto"] <= risks.drop("auto").min() + 1e-12   # stacking minimises the R-risk


def test_auto_climbs_to_the_forest_when_there_is_heterogeneity():
    cohort = simulate("csf1", 2000, seed=1, n_covariates=5, truncate=True)
    test = simulate("csf1", 3000, seed=99, n_covariates=5)
    forest = forest_leaf_candidates((20,), n_estimators=200)
    est = fit_auto(cohort, cohort.horizon, candidates=["constant", *forest, "aipcw-dr"])
    assert list(est.ladder_.index) == ["constant", "causal forest", "combination"]
    assert est.ladder_.loc["causal forest", "taken"] and est.weights_["constant"] == 0.0
    truth = test.truth["cate_rmst"].to_numpy()
    mse = np.mean((est.effect(test.data[test.covariates].to_numpy()) - truth) ** 2)
    assert mse < 0.5 * truth.var()


def test_ladder_rungs():
    assert ladder(candidate_specs(None), "stack") == [("constant", [0], "select"), ("causal forest", [1], "select"),
                                                      ("combination", [0, 1, 2, 3, 4], "stack")]
    assert ladder(candidate_specs(["aipcw-dr", "constant"]), "select") == [("constant", [1], "select"),
                                                                            ("combination", [0, 1], "select")]
    forests = forest_leaf_candidates((5, 50), n_estimators=10)   # the forest rung is the whole ladder
    assert ladder(candidate_specs(forests), "stack") == [("causal forest", [0, 1], "select")]


def test_climb_by_hand():
    # column 1 predicts b exactly: the forest rung (column 1) replaces the constant (column 0) and the
    # combination cannot lower the risk below zero, so it is not taken
    rng = np.random.default_rng(0)
    A = rng.normal(size=(60, 3))
    b, folds = A[:, 1].copy(), np.arange(60) % 3
    rungs = [("constant", [0], "select"), ("causal forest", [1], "select"), ("combination", [0, 1, 2], "stack")]
    w, steps = climb(rungs, A, b, folds)
    np.testing.assert_allclose(w, [0.0, 1.0, 0.0], atol=1e-12)
    assert list(steps["taken"]) == [True, True, False]
    gain = (A[:, 0] - b) ** 2          # the constant's squared residuals, the forest's are zero
    assert steps.loc["causal forest", "risk_reduction"] == pytest.approx(gain.mean())
    assert steps.loc["causal forest", "se"] == pytest.approx(gain.std(ddof=1) / np.sqrt(60))
    assert steps.loc["combination", "risk_reduction"] == pytest.approx(0.0, abs=1e-12)
    # a threshold no reduction can pass keeps the bottom rung
    w, steps = climb(rungs, A, b, folds, {"constant": np.inf, "causal forest": np.inf})
    np.testing.assert_array_equal(w, [1.0, 0.0, 0.0])
    assert risk_reduction("select", A, b, folds, np.eye(3)[0], [1]) == pytest.approx(
        (steps.loc["causal forest", "risk_reduction"], steps.loc["causal forest", "se"]))


def test_auto_select_and_held_out_predictions():
    cohort = simulate("csf1", 800, seed=2, n_covariates=5, truncate=True)
    est = fit_auto(cohort, cohort.horizon, candidates=("constant", "t-learner"), combine="select",
                   selection_risk="dr")
    assert sorted(est.weights_.values()) == [0.0, 1.0]
    nu = est.nuisances_
    np.testing.assert_array_equal(est.held_out_effects_[:, 1], nu["mu1"] - nu["mu0"])
    # the constant candidate on held-out folds: mean score of the other folds
    k0 = est.folds_ == 0
    assert est.held_out_effects_[k0, 0] == pytest.approx(np.full(k0.sum(), est.scores_[~k0].mean()))
    X = cohort.data[cohort.covariates].to_numpy()
    np.testing.assert_allclose(est.effect(X), est.candidates_[est.selected_].effect(X))


@pytest.mark.parametrize("option, message", [
    ({"selection_risk": "mse"}, "selection_risk must be one of ('r', 'dr'), got 'mse'"),
    ({"combine": "average"}, "combine must be one of ('stack', 'select'), got 'average'"),
    ({"candidates": ["constant", "forest"]},
     "candidates: the method of 'forest' must be one of ('constant', 'aipcw-causal-forest', 'x-learner', "
     "'aipcw-dr', 't-learner', 's-learner', 'ipcw-dr')"),
    ({"candidates": []},
     "candidates must be a non-empty list of ('constant', 'aipcw-causal-forest', 'x-learner', 'aipcw-dr', "
     "'t-learner', 's-learner', 'ipcw-dr') or (label, parameters) pairs, got []"),
    ({"candidates": ["constant", ("dr", {"cate_model": None})]},
     "candidates: the method of ('dr', {'cate_model': None}) must be one of ('constant', 'aipcw-causal-forest', "
     "'x-learner', 'aipcw-dr', 't-learner', 's-learner', 'ipcw-dr')"),
    ({"candidates": ["constant", ("constant", {"method": "aipcw-dr"})]},
     "candidates: the label 'constant' is given twice"),
    ({"candidates": ["constant", ("dr", "aipcw-dr")]},
     "candidates: expected a method name or a (label, parameters) pair, got ('dr', 'aipcw-dr')"),
    ({"candidates": ["constant", ("dr", {"method": "aipcw-dr", "leaf": 5})]},
     "candidates: 'dr' sets ['leaf'], which are not parameters of CensoredCATE"),
])
def test_auto_options_are_checked(option, message):
    cohort = simulate("csf1", 200, seed=0)
    with pytest.raises(ValueError) as error:
        fit_auto(cohort, 1.0, **option)
    assert str(error.value) == message


def test_auto_tunes_the_forest_leaf_size_by_the_held_out_risk():
    # no heterogeneity: leaves of 2 patients fit noise, leaves of 200 are nearly the ATE; the selection by the
    # R-risk of the out-of-bag predictions must take the larger leaves, which are also closer to the truth
    cohort = simulate("survlearners1", 1500, seed=3, beta=0.0, gamma=0.0, cen_scale=1.0, horizon=1.0)
    forests = forest_leaf_candidates(leaf_sizes=(2, 200), n_estimators=200)
    assert [label for label, _ in forests] == ["aipcw-causal-forest(leaf=2)", "aipcw-causal-forest(leaf=200)"]
    est = fit_auto(cohort, 1.0, candidates=forests, combine="select")
    assert est.selected_ == "aipcw-causal-forest(leaf=200)"
    leaves = {label: sub.cate_model_.min_samples_leaf for label, sub in est.candidates_.items()}
    assert leaves == {"aipcw-causal-forest(leaf=2)": 2, "aipcw-causal-forest(leaf=200)": 200}
    X, truth = cohort.data[cohort.covariates].to_numpy(), cohort.truth["cate_rmst"].to_numpy()
    mse = {label: np.mean((sub.effect(X) - truth) ** 2) for label, sub in est.candidates_.items()}
    assert mse["aipcw-causal-forest(leaf=200)"] < mse["aipcw-causal-forest(leaf=2)"]
    held_out = est.candidates_["aipcw-causal-forest(leaf=2)"].cate_model_.oob_predict(X).ravel()
    np.testing.assert_allclose(est.held_out_effects_[:, 0], held_out)   # out-of-bag, no refit
