"""Contract of every survival model and of the propensity factory of causalehr.nuisance, checked over all of them
as scikit-survival checks all its estimators: interface, curves, clone-safety, seeds, row order, input errors."""

import functools
import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags

import causalehr.nuisance as nuisance
from causalehr.nuisance import (
    PROPENSITY_MODELS,
    SURVIVAL_MODELS,
    MarginalKaplanMeier,
    SksurvSurvival,
    SurvivalBoostSurvival,
    make_propensity,
)
from causalehr.simulate import simulate

COHORT = simulate("csf1", 200, seed=1)
X = COHORT.data[COHORT.covariates].to_numpy(float)
TIME, EVENT, TREATMENT = (COHORT.data[c].to_numpy() for c in ("time", "event", "treatment"))
FIRST_EVENT = TIME[EVENT == 1].min()
TIMES = np.array([0.0, FIRST_EVENT / 2, FIRST_EVENT, *np.quantile(TIME, [0.25, 0.5, 0.75]), TIME.max(),
                  2 * TIME.max()])
PERM = np.random.default_rng(0).permutation(len(X))
STEP_CURVES = (SksurvSurvival, SurvivalBoostSurvival, MarginalKaplanMeier)  # 1 up to the first event time
IDS = [repr(m) for m in SURVIVAL_MODELS]


def not_fitted(model):
    return rf"This {type(model).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments"


def small(model):
    """The model with test-time sizes (same code paths, fewer iterations) and random_state=0 where it takes one."""
    model = clone(model)
    params = model.get_params()
    if isinstance(model, SurvivalBoostSurvival):
        model.set_params(n_iter=5, n_time_grid_steps=10)
    if "estimator__n_estimators" in params:
        model.set_params(estimator__n_estimators=20)
    if "random_state" in params:
        model.set_params(random_state=0)
    return model


@functools.cache
def fitted(i):
    return small(SURVIVAL_MODELS[i]).fit(X, TIME, EVENT)


@functools.cache
def survival(i):
    return fitted(i).predict_survival(X, TIMES)


def same_params(a, b):
    """Equal parameters, nested estimators compared by their own parameters."""
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert pa.keys() == pb.keys()
    for key in pa:
        if isinstance(pa[key], BaseEstimator):
            assert type(pa[key]) is type(pb[key]) and pa[key] is not pb[key], key
            same_params(pa[key], pb[key])
        else:
            assert pa[key] == pb[key], key


def test_survival_models_lists_every_survival_model_of_the_package():
    exported = {obj for obj in map(nuisance.__dict__.get, nuisance.__all__)
                if inspect.isclass(obj) and hasattr(obj, "predict_survival")
                and not hasattr(obj, "predict_cumulative_incidence")   # competing risks: test_nuisance_competing
                and list(inspect.signature(obj.predict_survival).parameters) == ["self", "X", "times"]}
    assert exported == {type(m) for m in SURVIVAL_MODELS}
    assert len(exported) == 5


@pytest.mark.parametrize("i", range(len(SURVIVAL_MODELS)), ids=IDS)
def test_fit_returns_self_and_curves_are_survival_functions(i):
    model = small(SURVIVAL_MODELS[i])
    with pytest.raises(NotFittedError, match=not_fitted(model)):
        model.predict_survival(X, TIMES)
    assert model.fit(X, TIME, EVENT) is model
    s = model.predict_survival(X, TIMES)
    assert s.shape == (len(X), len(TIMES))
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s, axis=1) <= 0)                   # non-increasing in time
    np.testing.assert_array_equal(s[:, 0], 1.0)              # S(0) = 1: no event at time 0
    if isinstance(model, STEP_CURVES):
        np.testing.assert_array_equal(s[:, 1], 1.0)          # and 1 up to the first event time
    assert np.all(s[:, -2] < 1)                              # not a constant curve


@pytest.mark.parametrize("i", range(len(SURVIVAL_MODELS)), ids=IDS)
def test_clone_is_unfitted_with_equal_params_and_refits_identically(i):
    model = fitted(i)
    copy = clone(model)
    same_params(copy, model)
    with pytest.raises(NotFittedError, match=not_fitted(model)):
        copy.predict_survival(X, TIMES)
    # same parameters, same random_state: identical predictions
    np.testing.assert_array_equal(copy.fit(X, TIME, EVENT).predict_survival(X, TIMES), survival(i))


@pytest.mark.parametrize("i", range(len(SURVIVAL_MODELS)), ids=IDS)
def test_a_model_without_random_state_is_deterministic(i):
    model = small(SURVIVAL_MODELS[i])
    if "random_state" in model.get_params():  # seeded models: see the clone test
        assert model.random_state == 0
        return
    again = clone(model).fit(X, TIME, EVENT).predict_survival(X, TIMES)
    np.testing.assert_array_equal(again, survival(i))


@pytest.mark.parametrize("i", range(len(SURVIVAL_MODELS)), ids=IDS)
def test_predictions_do_not_depend_on_row_order(i):
    np.testing.assert_allclose(fitted(i).predict_survival(X[PERM], TIMES), survival(i)[PERM], rtol=1e-12, atol=0)


@pytest.mark.parametrize("i", range(len(SURVIVAL_MODELS)), ids=IDS)
def test_bad_input_errors(i):
    model = small(SURVIVAL_MODELS[i])
    n = len(X)
    with pytest.raises(ValueError, match=r"^time must be finite and >= 0; 1 rows are not$"):
        model.fit(X, np.where(np.arange(n) == 3, np.nan, TIME), EVENT)
    with pytest.raises(ValueError, match=r"^time must be finite and >= 0; 2 rows are not$"):
        model.fit(X, np.where(np.arange(n) < 2, -1.0, TIME), EVENT)
    with pytest.raises(ValueError, match=r"^event must be 0/1; 1 rows are not$"):
        model.fit(X, TIME, np.where(np.arange(n) == 0, 2, EVENT))
    with pytest.raises(ValueError, match=rf"^time and event must have {n} rows like X, got {n - 1} and {n - 1}$"):
        model.fit(X, TIME[1:], EVENT[1:])
    with pytest.raises(ValueError, match=r"^X has 4 covariates, the model was fitted with 5$"):
        fitted(i).predict_survival(X[:, :4], TIMES)
    x_nan = X.copy()
    x_nan[:3, 1] = np.nan
    if get_tags(model).input_tags.allow_nan:
        s = fitted(i).predict_survival(x_nan, TIMES)
        assert np.all((s >= 0) & (s <= 1))
    else:
        msg = r"^X has NaN in 3 rows \(covariate columns \[1\]\) but the model does not accept missing values"
        with pytest.raises(ValueError, match=msg):
            model.fit(x_nan, TIME, EVENT)
        with pytest.raises(ValueError, match=msg):
            fitted(i).predict_survival(x_nan, TIMES)


def test_lifelines_cox_before_the_first_time_hand_value():
    model = fitted(IDS.index("LifelinesCoxSurvival()"))
    first = model.estimator_.baseline_cumulative_hazard_.index[0]
    s = model.predict_survival(X[:5], [first / 4, first])
    np.testing.assert_allclose(s[:, 0], s[:, 1] ** 0.25, rtol=1e-12)  # cumulative hazard linear from 0 at time 0


def test_survival_boost_curve_is_the_rearranged_prediction_on_its_grid():
    model = fitted(IDS.index("SurvivalBoostSurvival()"))
    grid = model.estimator_.time_grid_
    raw = model.estimator_.predict_survival_function(X, times=grid)
    s = model.predict_survival(X, grid)
    np.testing.assert_array_equal(np.sort(s, axis=1), np.sort(raw, axis=1))  # the same values, reordered
    assert np.all(np.diff(s, axis=1) <= 0)
    mid = (grid[:-1] + grid[1:]) / 2                                        # a step function between grid times
    np.testing.assert_array_equal(model.predict_survival(X, mid), s[:, :-1])


# ------------------------------------------------------------------ propensity factory
PROPENSITY = [(clf, cal) for clf in (None, *PROPENSITY_MODELS) for cal in (None, "sigmoid", "isotonic")]
PROPENSITY_IDS = [f"{clf!r}-{cal}" for clf, cal in PROPENSITY]


def seeded(classifier):
    if classifier is not None and "random_state" in classifier.get_params():
        return clone(classifier).set_params(random_state=0)
    return classifier


@pytest.mark.parametrize("classifier,calibrate", PROPENSITY, ids=PROPENSITY_IDS)
def test_propensity_factory_contract(classifier, calibrate):
    classifier = seeded(classifier)
    model = make_propensity(classifier, calibrate)
    assert model is not classifier
    with pytest.raises(NotFittedError, match=not_fitted(model)):
        model.predict_proba(X)
    assert model.fit(X, TREATMENT) is model
    if classifier is not None:
        with pytest.raises(NotFittedError):  # the classifier given is cloned, not fitted in place
            classifier.predict_proba(X)
    p = model.predict_proba(X)
    assert p.shape == (len(X), 2) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    copy = clone(model)
    same_params(copy, model)
    with pytest.raises(NotFittedError):
        copy.predict_proba(X)
    np.testing.assert_array_equal(copy.fit(X, TREATMENT).predict_proba(X), p)
    np.testing.assert_allclose(model.predict_proba(X[PERM]), p[PERM], rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match=r"X has 4 features, but \w+ is expecting 5 features as input"):
        model.predict_proba(X[:, :4])
