"""Cross-validated choice of the nuisance models (issue 19): the integrated Brier score prefers the model of the
covariates that drive the hazard, the choice is made per arm inside the cross-fitting folds of CensoredCATE, and
bad input is named."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from causalehr.cate import CensoredCATE
from causalehr.nuisance import LifelinesCoxSurvival, MarginalKaplanMeier
from causalehr.nuisance.selection import SurvivalModelCV, propensity_cv
from causalehr.registry import check_method_spec, make_estimator
from causalehr.simulate import simulate

COHORT = simulate("csf2", 600, seed=4, n_covariates=5)
X, Y = COHORT.data[COHORT.covariates].to_numpy(), COHORT.data
CANDIDATES = {"kaplan-meier": MarginalKaplanMeier(), "cox": LifelinesCoxSurvival()}


def test_the_brier_score_prefers_the_covariate_model_for_the_event_and_not_for_independent_censoring():
    # csf2: hazard exp(X1 + ...), censoring U(0, 3) independent of the covariates (Cui et al. 2023)
    event = SurvivalModelCV(CANDIDATES, random_state=0).fit(X, Y["time"], Y["event"])
    assert event.best_name_ == "cox"
    censoring = SurvivalModelCV(CANDIDATES, random_state=0).fit(X, Y["time"], 1 - Y["event"])
    assert censoring.scores_.set_index("candidate")["difference"].max() < 2 * censoring.scores_["se"].max()
    np.testing.assert_allclose(event.predict_survival(X[:3], [0.5]),
                               LifelinesCoxSurvival().fit(X, Y["time"], Y["event"]).predict_survival(X[:3], [0.5]))


def test_censored_cate_chooses_its_nuisances_inside_the_cross_fitting_folds():
    est = CensoredCATE(horizon=COHORT.horizon, method="aipcw-dr", n_folds=2, random_state=0,
                       event_model=SurvivalModelCV(CANDIDATES), censoring_model=SurvivalModelCV(CANDIDATES),
                       propensity_model=propensity_cv({"logistic": None, "hgb": HistGradientBoostingClassifier()}))
    est.fit(X, Y["treatment"], Y["time"], Y["event"])
    fixed = CensoredCATE(horizon=COHORT.horizon, method="aipcw-dr", n_folds=2, random_state=0,
                         event_model=LifelinesCoxSurvival())
    fixed.fit(X, Y["treatment"], Y["time"], Y["event"])
    truth = COHORT.truth["cate_rmst"].mean()
    estimate, lower, upper = est.ate_interval()
    assert lower < truth < upper
    assert abs(estimate - fixed.ate_interval()[0]) < 0.5 * (upper - lower)


def test_selection_errors_name_the_problem():
    with pytest.raises(ValueError, match="candidates must name at least one survival model"):
        SurvivalModelCV({}).fit(X, Y["time"], Y["event"])
    with pytest.raises(ValueError, match="no event time lies inside every fold's follow-up"):
        SurvivalModelCV(CANDIDATES).fit(X[:6], np.arange(1.0, 7.0), [0, 0, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="candidates must name at least one classifier"):
        propensity_cv({})


def test_a_method_specification_lists_candidates_chosen_by_cross_validation():
    est = make_estimator({"method": "aipcw-dr", "event_model": ["kaplan-meier", "cox"],
                          "propensity_model": ["logistic", "hgb"]}, "rmst", 2.0, random_state=3)
    assert isinstance(est.event_model, SurvivalModelCV) and list(est.event_model.candidates) == ["kaplan-meier", "cox"]
    assert est.event_model.random_state == 3 and len(est.propensity_model.param_grid["model"]) == 2
    with pytest.raises(ValueError, match=r"methods.m: unknown event_model 'coxx'; known: \['aalen-johansen'"):
        check_method_spec({"method": "aipcw-dr", "event_model": ["cox", "coxx"]}, "methods.m")
    with pytest.raises(ValueError, match=r"methods.m: cate_model as a list \(candidates chosen by cross-validation\) "
                                         r"must name at least one model and is accepted for \['censoring_model', "):
        check_method_spec({"method": "aipcw-dr", "cate_model": ["hgb", "ridge"]}, "methods.m")


def test_one_brier_time_left_by_tied_event_times_gives_the_brier_score_there():
    # integer times 1, 2, 3 with every event at 2: the event-time quantiles collapse into t = 2, where
    # scikit-survival's integrated score is undefined; the loss is then the Brier score at t = 2
    from sklearn.model_selection import StratifiedKFold
    from sksurv.metrics import brier_score
    from sksurv.util import Surv

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    time = np.where(rng.random(300) < 0.5, 2.0, rng.choice([1.0, 3.0], 300))
    event = (time == 2.0).astype(int)
    model = SurvivalModelCV({"kaplan-meier": MarginalKaplanMeier()}, random_state=0).fit(x, time, event)
    losses = []
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(x, event):
        km = MarginalKaplanMeier().fit(x[train], time[train], event[train])
        losses.append(brier_score(Surv.from_arrays(event[train] == 1, time[train]),
                                  Surv.from_arrays(event[test] == 1, np.minimum(time[test], 2.5)),
                                  km.predict_survival(x[test], [2.0]), [2.0])[1][0])
    assert model.scores_["loss"].item() == pytest.approx(np.mean(losses))
