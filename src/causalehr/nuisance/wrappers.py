"""Wrappers giving scikit-survival, hazardous and lifelines models the ``fit(X, time, event)`` /
``predict_survival(X, times)`` interface."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from causalehr.survival import kaplan_meier

from .base import allows_nan, check_covariates, check_survival_outcome, step_survival


def _check_fit_input(X, time, event, *, allow_nan):
    """Checked covariates and outcome of a wrapped model's fit; a model needs at least one event."""
    X = check_covariates(X, allow_nan=allow_nan)
    time, event = check_survival_outcome(time, event, len(X))
    if not event.any():
        raise ValueError("event has no events (all rows censored): cannot fit a survival model")
    return X, time, event


class SksurvSurvival(BaseEstimator):
    """Any scikit-survival estimator with ``predict_survival_function`` (CoxPHSurvivalAnalysis,
    RandomSurvivalForest, GradientBoostingSurvivalAnalysis, ...). Default: Cox (1972) proportional hazards
    with Breslow baseline, via CoxPHSurvivalAnalysis (small ridge ``alpha=1e-4`` for stability)."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def _estimator(self):
        return CoxPHSurvivalAnalysis(alpha=1e-4) if self.estimator is None else clone(self.estimator)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = allows_nan(self._estimator())
        return tags

    def fit(self, X, time, event):
        est = self._estimator()
        X, time, event = _check_fit_input(X, time, event, allow_nan=allows_nan(est))
        self.estimator_ = est.fit(X, Surv.from_arrays(event.astype(bool), time))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_survival(self, X, times):
        X = check_covariates(X, allow_nan=allows_nan(self.estimator_))
        curves = self.estimator_.predict_survival_function(X, return_array=True)
        return step_survival(self.estimator_.unique_times_, curves, times)


class SurvivalBoostSurvival(BaseEstimator):
    """hazardous ``SurvivalBoost`` (Alberge et al. 2025, "Survival models: proper scoring rule and stochastic
    optimization with competing risks"), single event; the parameters are those of SurvivalBoost."""

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
        from hazardous import SurvivalBoost

        X, time, event = _check_fit_input(X, time, event, allow_nan=True)
        self.estimator_ = SurvivalBoost(
            n_iter=self.n_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, n_time_grid_steps=self.n_time_grid_steps,
            show_progressbar=False, random_state=self.random_state,
        ).fit(X, pd.DataFrame({"event": event.astype(int), "duration": time}))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_survival(self, X, times):
        X = check_covariates(X, allow_nan=True)
        return self.estimator_.predict_survival_function(X, times=np.asarray(times, dtype=float))


class LifelinesCoxSurvival(BaseEstimator):
    """lifelines ``CoxPHFitter`` (Cox 1972, Breslow baseline; Efron ties); columns constant in the fitted data
    are left out (their coefficient is not identified)."""

    def __init__(self, penalizer=0.0):
        self.penalizer = penalizer

    def fit(self, X, time, event):
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
        X = check_covariates(X, allow_nan=False)
        df = pd.DataFrame(X[:, self.varying_], columns=[f"x{j}" for j in np.flatnonzero(self.varying_)])
        return self.estimator_.predict_survival_function(df, times=np.asarray(times, dtype=float)).to_numpy().T


class MarginalKaplanMeier(BaseEstimator):
    """Covariate-free Kaplan-Meier (1958) survival curve with the nuisance interface ``fit(X, time, event)`` /
    ``predict_survival(X, times)``, via :func:`causalehr.survival.kaplan_meier`. Used as censoring model
    when censoring is administrative (end of study, staggered entry), and the only one that copes with no
    censoring before the horizon (Rossi: all censoring at week 52)."""

    def fit(self, X, time, event):
        time, event = check_survival_outcome(time, event, len(X))
        curve = kaplan_meier(time, event)
        self.times_, self.survival_ = curve["time"].to_numpy(), curve["survival"].to_numpy()
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict_survival(self, X, times):
        return step_survival(self.times_, np.broadcast_to(self.survival_, (len(X), len(self.survival_))), times)
