"""Competing-risks nuisances: Aalen-Johansen against lifelines and by hand; the contract of every competing-risks
model (curves, S + sum F = 1, clone, row order, input errors); the cause-specific discrete-time learner against
the simulator's truth and, with a single cause, equal to DiscreteTimeHazard."""

import functools

import numpy as np
import pytest
from lifelines import AalenJohansenFitter
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from causalehr.nuisance import (
    COMPETING_RISK_MODELS,
    ArmSurvival,
    DiscreteTimeCompetingHazard,
    DiscreteTimeHazard,
    SurvivalBoostCompeting,
)
from causalehr.simulate import simulate
from causalehr.survival import aalen_johansen, kaplan_meier

COHORT = simulate("csf2_competing", 300, seed=1)
X = COHORT.data[COHORT.covariates].to_numpy(float)
TIME, EVENT = COHORT.data["time"].to_numpy(), COHORT.data["event"].to_numpy()
TIMES = np.array([0.0, *np.quantile(TIME, [0.1, 0.25, 0.5, 0.75]), TIME.max(), 2 * TIME.max()])
PERM = np.random.default_rng(0).permutation(len(X))
IDS = [type(m).__name__ for m in COMPETING_RISK_MODELS]


def test_aalen_johansen_by_hand():
    # times 1 (cause 1), 2 (cause 2), 2 (censored), 3 (cause 1), 5 (censored)
    curve = aalen_johansen([1, 2, 2, 3, 5], [1, 2, 0, 1, 0])
    np.testing.assert_allclose(curve["survival"], [0.8, 0.6, 0.3])
    np.testing.assert_allclose(curve["cumulative_incidence_1"], [0.2, 0.2, 0.2 + 0.6 / 2])
    np.testing.assert_allclose(curve["cumulative_incidence_2"], [0.0, 0.8 / 4, 0.8 / 4])


@pytest.mark.filterwarnings("ignore:It looks like your weights are not integers")
@pytest.mark.parametrize("weighted", [False, True])
def test_aalen_johansen_equals_lifelines(weighted):
    weight = np.random.default_rng(3).uniform(0.5, 2.0, len(TIME)) if weighted else None
    curve = aalen_johansen(TIME, EVENT, weight=weight)
    np.testing.assert_allclose(curve["survival"], kaplan_meier(TIME, EVENT != 0, weight=weight)["survival"])
    np.testing.assert_allclose(curve["survival"] + curve["cumulative_incidence_1"] + curve["cumulative_incidence_2"],
                               1.0, rtol=1e-12)
    for cause in (1, 2):
        ajf = AalenJohansenFitter(calculate_variance=False).fit(TIME, EVENT, event_of_interest=cause, weights=weight)
        theirs = ajf.cumulative_density_.iloc[:, 0]
        ours = np.r_[0.0, curve[f"cumulative_incidence_{cause}"]][
            np.searchsorted(curve["time"], theirs.index.to_numpy(), side="right")]
        np.testing.assert_allclose(ours, theirs.to_numpy(), atol=1e-10)


def test_aalen_johansen_bad_event_codes():
    with pytest.raises(ValueError, match=r"^event must be 0 \(censored\) or a cause 1, 2, \.\.\.: 2 rows are not$"):
        aalen_johansen([1, 2, 3], [1, -1, 0.5])


def small(model):
    model = clone(model)
    if isinstance(model, SurvivalBoostCompeting):
        model.set_params(n_iter=5, n_time_grid_steps=10)
    if "random_state" in model.get_params():
        model.set_params(random_state=0)
    return model


@functools.cache
def fitted(i):
    return small(COMPETING_RISK_MODELS[i]).fit(X, TIME, EVENT)


@pytest.mark.parametrize("i", range(len(COMPETING_RISK_MODELS)), ids=IDS)
def test_contract_of_competing_risk_models(i):
    model = small(COMPETING_RISK_MODELS[i])
    with pytest.raises(NotFittedError):
        model.predict_cumulative_incidence(X, TIMES)
    assert model.fit(X, TIME, EVENT) is model
    cif, surv = model.predict_cumulative_incidence(X, TIMES), model.predict_survival(X, TIMES)
    assert cif.shape == (len(X), len(TIMES), 2) and model.n_causes_ == 2
    assert np.all((cif >= 0) & (cif <= 1)) and np.all(np.diff(cif, axis=1) >= -1e-12)
    np.testing.assert_array_equal(cif[:, 0], 0.0)                       # no event at time 0
    assert np.all(cif[:, -2] > 0)
    np.testing.assert_allclose(surv + cif.sum(axis=2), 1.0, atol=1e-9)
    again = clone(model).fit(X, TIME, EVENT).predict_cumulative_incidence(X, TIMES)
    np.testing.assert_array_equal(again, cif)
    np.testing.assert_allclose(model.predict_cumulative_incidence(X[PERM], TIMES), cif[PERM], rtol=1e-12, atol=0)


@pytest.mark.parametrize("i", range(len(COMPETING_RISK_MODELS)), ids=IDS)
def test_bad_input_of_competing_risk_models(i):
    model = small(COMPETING_RISK_MODELS[i])
    with pytest.raises(ValueError, match=r"^event must be 0 \(censored\) or a cause 1, 2, \.\.\.; 2 rows are not "
                                         r"\(e\.g\. -1\.0, 1\.5\)$"):
        model.fit(X, TIME, np.where(np.arange(len(X)) == 0, -1.0, np.where(np.arange(len(X)) == 1, 1.5, EVENT)))
    with pytest.raises(ValueError, match=r"^time must be finite and >= 0; 1 rows are not$"):
        model.fit(X, np.where(np.arange(len(X)) == 3, np.nan, TIME), EVENT)
    with pytest.raises(ValueError, match=r"^event has no events \(all rows censored\)"):
        model.fit(X, TIME, np.zeros(len(X)))
    with pytest.raises(ValueError, match=r"^X has 4 covariates, the model was fitted with 5$"):
        fitted(i).predict_cumulative_incidence(X[:, :4], TIMES)


def test_single_cause_discrete_time_competing_equals_discrete_time_hazard():
    one = (EVENT != 0).astype(int)
    for clf in (None, LogisticRegression(max_iter=1000)):
        a = DiscreteTimeHazard(clf, n_bins=8, random_state=0).fit(X, TIME, one).predict_survival(X, TIMES)
        b = DiscreteTimeCompetingHazard(clf, n_bins=8, random_state=0).fit(X, TIME, one)
        np.testing.assert_allclose(b.predict_survival(X, TIMES), a, rtol=1e-10)
        np.testing.assert_allclose(b.predict_cumulative_incidence(X, TIMES)[:, :, 0], 1 - a, rtol=1e-10, atol=1e-12)


def test_discrete_time_competing_recovers_the_true_cumulative_incidence():
    # csf2's hazards are steep near 0 (Weibull shape 1/2): 50 bins keep the discretisation bias small
    cohort = simulate("csf2_competing", 4000, seed=5)
    d, Xc = cohort.data, cohort.data[cohort.covariates].to_numpy()
    model = ArmSurvival(DiscreteTimeCompetingHazard(n_bins=50, horizon=cohort.horizon, random_state=0))
    model.fit(Xc, d["treatment"], d["time"], d["event"])
    for arm in (0, 1):
        cif = model.predict_cumulative_incidence(Xc, arm, [cohort.horizon_surv])[:, 0, 0]
        truth = cohort.truth[f"cif{arm}"].to_numpy()
        assert abs(cif.mean() - truth.mean()) < 0.015
        assert np.mean(np.abs(cif - truth)) < 0.08
        assert np.corrcoef(cif, truth)[0, 1] > 0.75


def test_arm_survival_and_incidence_from_one_prediction_held_after_the_last_time():
    a = COHORT.data["treatment"].to_numpy()
    # one model for both arms: its horizon is the later arm's last time, the other arm is held at its own
    model = ArmSurvival(DiscreteTimeCompetingHazard(n_bins=8, random_state=0), treatment_as_feature=True,
                        hold_after_last=True)
    model.fit(X, a, TIME, EVENT)
    for arm in (0, 1):
        last = TIME[a == arm].max()
        surv, cif = model.predict_survival_and_incidence(X[:20], arm, TIMES)
        np.testing.assert_allclose(surv, model.predict_survival(X[:20], arm, TIMES), atol=1e-12)
        np.testing.assert_array_equal(cif, model.predict_cumulative_incidence(X[:20], arm, TIMES))
        held = model.predict_cumulative_incidence(X[:20], arm, [last])[:, 0]
        np.testing.assert_array_equal(cif[:, -1], held)                 # 2 * max time: F held at the arm's last
    assert not np.allclose(*(model.predict_cumulative_incidence(X[:20], arm, [TIME.max()]) for arm in (0, 1)))
