"""Wrappers giving scikit-survival, hazardous and lifelines models the ``fit(X, time, event)`` /
``predict_survival(X, times)`` interface."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from causalehr.survival import kaplan_meier

from .base import allows_nan, check_covariates, check_predict_covariates, check_survival_outcome, step_survival


def _check_fit_input(X, time, event, *, allow_nan):
    """Checked covariates and outcome of a wrapped model's fit; a model needs at least one event."""
    X = check_covariates(X, allow_nan=allow_nan)
    time, event = check_survival_outcome(time, event, len(X))
    if not event.any():
        raise ValueError("event has no events (all rows censored): cannot fit a survival model")
    return X, time, event


class SksurvSurvival(BaseEstimator):
    """Any scikit-survival estimator with ``predict_survival_function``.

    For instance CoxPHSurvivalAnalysis, RandomSurvivalForest (Ishwaran et al. 2008) or
    GradientBoostingSurvivalAnalysis. The curve is the estimator's step function at its ``unique_times_``,
    1 before the first of them.

    Parameters
    ----------
    estimator : scikit-survival estimator, default=None
        None: the proportional hazards model of Cox (1972) with the Breslow baseline, as
        CoxPHSurvivalAnalysis with a small ridge penalty ``alpha=1e-4`` for stability. It is cloned, never
        fitted in place.
    random_state : int, default=None
        Seed given to the estimator's ``random_state`` when that is None (e.g. a RandomSurvivalForest
        without a seed); the seed of an estimator that has its own is kept.

    Attributes
    ----------
    estimator_ : scikit-survival estimator
        The fitted estimator.
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Cox, D. R. (1972). Regression models and life-tables. JRSS B 34, 187-220.
    Ishwaran, H., Kogalur, U. B., Blackstone, E. H. & Lauer, M. S. (2008). Random survival forests. Annals of
    Applied Statistics 2, 841-860.

    Examples
    --------
    >>> from sksurv.ensemble import RandomSurvivalForest
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import SksurvSurvival
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> cox = SksurvSurvival().fit(X, y["time"], y["event"])
    >>> cox.predict_survival(X[:2], [0.0, 0.5, 1.5]).round(2)
    array([[1.  , 0.21, 0.03],
           [1.  , 0.33, 0.09]])
    >>> forest = SksurvSurvival(RandomSurvivalForest(n_estimators=20), random_state=0)
    >>> forest.fit(X, y["time"], y["event"]).predict_survival(X[:2], [0.5, 1.5]).shape
    (2, 2)
    """

    def __init__(self, estimator=None, random_state=None):
        self.estimator = estimator
        self.random_state = random_state

    def _estimator(self):
        return CoxPHSurvivalAnalysis(alpha=1e-4) if self.estimator is None else clone(self.estimator)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = allows_nan(self._estimator())
        return tags

    def fit(self, X, time, event):
        """Fit on covariates X (n, p), follow-up ``time`` >= 0 and 0/1 ``event``; returns self."""
        est = self._estimator()
        if self.random_state is not None and getattr(est, "random_state", 0) is None:
            est.set_params(random_state=self.random_state)
        X, time, event = _check_fit_input(X, time, event, allow_nan=allows_nan(est))
        self.estimator_ = est.fit(X, Surv.from_arrays(event.astype(bool), time))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_survival(self, X, times):
        """Survival S(t | x) at ``times`` (1-d), shape (n, len(times))."""
        X = check_predict_covariates(self, X, allow_nan=allows_nan(self))
        curves = self.estimator_.predict_survival_function(X, return_array=True)
        return step_survival(self.estimator_.unique_times_, curves, times)


class SurvivalBoostSurvival(BaseEstimator):
    """hazardous ``SurvivalBoost`` (Alberge et al. 2025) for a single event.

    SurvivalBoost classifies the state at a time given the covariates and that time, so its curves need not
    be monotone in time nor start at 1. Here the curve of a patient is its probabilities on the fitted time grid
    (``n_time_grid_steps`` quantiles of the event times), rearranged into a non-increasing sequence (the
    decreasing rearrangement of Chernozhukov, Fernandez-Val & Galichon 2010, which brings a curve no farther
    from any non-increasing truth), read as a step function: 1 before the first grid time, held after the
    last.

    Parameters
    ----------
    n_iter, learning_rate, max_leaf_nodes, min_samples_leaf, n_time_grid_steps, random_state
        Those of SurvivalBoost (defaults 100, 0.05, 31, 50, 100, None).

    Attributes
    ----------
    estimator_ : hazardous.SurvivalBoost
        The fitted model.
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Alberge, J., Maladiere, V., Grisel, O., Abecassis, J. & Varoquaux, G. (2025). Survival models: proper
    scoring rule and stochastic optimization with competing risks. AISTATS.
    Chernozhukov, V., Fernandez-Val, I. & Galichon, A. (2010). Quantile and probability curves without
    crossing. Econometrica 78, 1093-1125.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import SurvivalBoostSurvival
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = SurvivalBoostSurvival(n_iter=3, learning_rate=0.3, n_time_grid_steps=20, random_state=0)
    >>> surv = model.fit(X, y["time"], y["event"]).predict_survival(X[:2], [0.0, 0.2, 0.5])
    >>> surv.round(2)
    array([[1.  , 0.57, 0.42],
           [1.  , 0.57, 0.18]])
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def __init__(self, n_iter=100, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=50,
                 n_time_grid_steps=100, random_state=None):
        self.n_iter = n_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.n_time_grid_steps = n_time_grid_steps
        self.random_state = random_state

    def fit(self, X, time, event):
        """Fit on covariates X (n, p), follow-up ``time`` >= 0 and 0/1 ``event``; returns self."""
        return self._fit_survivalboost(*_check_fit_input(X, time, event, allow_nan=True))

    def _fit_survivalboost(self, X, time, event):
        """Fit SurvivalBoost on checked inputs (event: 0 censored, k cause k)."""
        from hazardous import SurvivalBoost

        self.estimator_ = SurvivalBoost(
            n_iter=self.n_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, n_time_grid_steps=self.n_time_grid_steps,
            show_progressbar=False, random_state=self.random_state,
        ).fit(X, pd.DataFrame({"event": event.astype(int), "duration": time}))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_survival(self, X, times):
        """Survival S(t | x) at ``times`` (1-d), shape (n, len(times))."""
        X = check_predict_covariates(self, X, allow_nan=True)
        grid = self.estimator_.time_grid_
        curves = -np.sort(-self.estimator_.predict_survival_function(X, times=grid), axis=1)
        return step_survival(grid, curves, times)


class LifelinesCoxSurvival(BaseEstimator):
    """lifelines ``CoxPHFitter``: proportional hazards (Cox 1972) with the Breslow baseline and Efron's ties.
    Columns constant in the fitted data are left out (their coefficient is not identified).

    lifelines interpolates the cumulative hazard linearly between observed times; before the first observed
    time t_1 it is taken linear from 0 at time 0, S(t | x) = S(t_1 | x) ** (t / t_1), so that S(0) = 1
    (lifelines would hold H(t_1) there).

    Parameters
    ----------
    penalizer : float, default=0.0
        Ridge penalty on the coefficients (CoxPHFitter's ``penalizer``).

    Attributes
    ----------
    estimator_ : lifelines.CoxPHFitter
        The fitted model (covariates named x0, x1, ... by their position in X).
    varying_ : ndarray of bool
        The columns of X that vary in the fitted data (the others are left out).
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Cox, D. R. (1972). Regression models and life-tables. JRSS B 34, 187-220.
    Davidson-Pilon, C. (2019). lifelines: survival analysis in Python. JOSS 4(40), 1317.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import LifelinesCoxSurvival
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = LifelinesCoxSurvival(penalizer=0.01).fit(X, y["time"], y["event"])
    >>> model.predict_survival(X[:2], [0.0, 0.5, 1.5]).round(2)
    array([[1.  , 0.2 , 0.03],
           [1.  , 0.32, 0.07]])
    """

    def __init__(self, penalizer=0.0):
        self.penalizer = penalizer

    def fit(self, X, time, event):
        """Fit on covariates X (n, p), follow-up ``time`` >= 0 and 0/1 ``event``; returns self."""
        from lifelines import CoxPHFitter

        X, time, event = _check_fit_input(X, time, event, allow_nan=False)
        # a column constant in these data (a rare category absent from a cross-fitting fold) has no coefficient:
        # lifelines would divide by its zero standard deviation ("delta contains nan")
        self.varying_ = np.ptp(X, axis=0) > 0
        df = pd.DataFrame(X[:, self.varying_], columns=[f"x{j}" for j in np.flatnonzero(self.varying_)])
        self.estimator_ = CoxPHFitter(penalizer=self.penalizer).fit(df.assign(_time=time, _event=event), "_time",
                                                                    "_event")
        self.n_features_in_ = X.shape[1]
        return self

    def predict_survival(self, X, times):
        """Survival S(t | x) at ``times`` (1-d), shape (n, len(times))."""
        X = check_predict_covariates(self, X, allow_nan=False)
        times = np.asarray(times, dtype=float)
        first = self.estimator_.baseline_cumulative_hazard_.index[0]
        df = pd.DataFrame(X[:, self.varying_], columns=[f"x{j}" for j in np.flatnonzero(self.varying_)])
        surv = self.estimator_.predict_survival_function(df, times=np.maximum(times, first)).to_numpy().T
        early = times < first
        surv[:, early] = surv[:, early] ** (times[early] / first)
        return surv


class MarginalKaplanMeier(BaseEstimator):
    """Covariate-free Kaplan-Meier (1958) survival curve with the nuisance interface.

    Computed by :func:`causalehr.survival.kaplan_meier`; covariates are ignored (missing values too) but
    their number is checked at prediction. Used as censoring model when censoring is administrative (end of
    study, staggered entry), and the only one that copes with no censoring before the horizon (Rossi: all
    censoring at week 52).

    Attributes
    ----------
    times_ : ndarray
        Distinct event times.
    survival_ : ndarray
        Kaplan-Meier survival just after each of ``times_`` (a step function, 1 before the first).
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete observations. JASA 53, 457-481.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import MarginalKaplanMeier
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> km = MarginalKaplanMeier().fit(X, y["time"], y["event"])
    >>> km.predict_survival(X[:2], [0.0, 0.5, 1.5]).round(2)  # the same curve for every patient
    array([[1.  , 0.19, 0.04],
           [1.  , 0.19, 0.04]])
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, time, event):
        """Fit on follow-up ``time`` >= 0 and 0/1 ``event`` (X gives only the number of covariates); returns
        self."""
        X = check_covariates(X, allow_nan=True)
        time, event = check_survival_outcome(time, event, len(X))
        curve = kaplan_meier(time, event)
        self.times_, self.survival_ = curve["time"].to_numpy(), curve["survival"].to_numpy()
        self.n_features_in_ = X.shape[1]
        return self

    def predict_survival(self, X, times):
        """Kaplan-Meier survival at ``times`` (1-d), the same row for every patient, shape (n, len(times))."""
        X = check_predict_covariates(self, X, allow_nan=True)
        return step_survival(self.times_, np.broadcast_to(self.survival_, (len(X), len(self.survival_))), times)
