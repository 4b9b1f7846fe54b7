"""Censoring-adjusted CATE learners for the RMST and survival-probability differences (strategy 1)."""

import copy
import warnings

import numpy as np
from scipy.stats import norm
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold

from ..nuisance import (ArmSurvival, DiscreteTimeHazard, check_arms, check_covariates, check_survival_outcome,
                        make_propensity, positivity_report)
from ..nuisance.base import allows_nan
from .pseudo import ESTIMANDS, censoring_pseudo_outcomes, dr_scores, functional, time_grid

METHODS = ("ipcw-dr", "aipcw-dr", "aipcw-causal-forest", "ipcw-econml", "aipcw-econml",
           "t-learner", "s-learner", "x-learner")
_CHUNK = 100_000  # patients predicted at once in cross-fitting


def is_econml_learner(model):
    """True for an econml CATE estimator (fit(Y, T, X=...) and const_marginal_effect)."""
    return hasattr(model, "const_marginal_effect")


class CensoredCATE(BaseEstimator):
    """Conditional average treatment effect on a right-censored time to event.

    Estimands (``estimand``): difference in restricted mean survival time up to ``horizon`` tau ("rmst",
    f(T) = min(T, tau)) or in survival probability at tau ("surv", f(T) = 1{T > tau}); default horizon: the
    90th percentile of the observed times. Curves are evaluated on a grid of ``n_grid`` time quantiles, or on
    every observed time when there are fewer distinct times (discrete times; see causalehr.cate.pseudo).

    Methods (``method``):
      * "aipcw-dr" / "ipcw-dr": DR-learner (Kennedy 2023, "Towards optimal doubly robust estimation of
        heterogeneous causal effects") on the AIPW pseudo-outcome of the AIPCW (Tsiatis 2006; Rubin & van der
        Laan 2007) or IPCW transformed outcome, all nuisances cross-fitted in ``n_folds`` folds; ``cate_model``
        is any regressor. This is the censoring-adjusted DR-learner of Xu, Ignatiadis & Wager (2023,
        "Treatment heterogeneity with survival outcomes", survlearners).
      * "aipcw-causal-forest": the causal survival forest of Cui et al. (2023, "Estimating heterogeneous
        treatment effects with right-censored data via causal survival forests"): a generalised random forest
        (Athey, Tibshirani & Wager 2019; econml.grf.CausalForest, honest, grf's gradient splitting rule) that
        solves the local moment sum_i alpha_i(x) (W_i - e(X_i)) [AIPCW(f(T_i)) - m(X_i) - (W_i - e(X_i)) tau(x)]
        = 0, with m = e mu1 + (1 - e) mu0 from the survival model, all nuisances cross-fitted; ``cate_model``
        may be another econml.grf forest (fit(X, T, y), predict(X)).
      * "aipcw-econml": any econml learner given as ``cate_model`` fitted on the AIPCW outcome;
        "ipcw-econml": same on patients with f(T) observed, with IPCW sample weights.
      * "t-learner", "s-learner": survival model per arm / with treatment as a feature (``event_model``),
        CATE = difference of the integrated (RMST) or read (S(tau)) survival curves.
      * "x-learner" (Kunzel et al. 2019, "Metalearners for estimating heterogeneous treatment effects"):
        IPCW-weighted regressions of the imputed effects f(U) - mu0(x) (treated) and mu1(x) - f(U) (controls)
        with cross-fitted mu, combined with the propensity; as the X-learner of Xu et al. (2023).

    The ATE (``ate_interval``) is, for every method, the mean of the cross-fitted AIPCW-AIPW scores (one-step
    estimator, efficient influence function), with a Wald or multiplier-bootstrap interval.

    Nuisances: ``event_model`` and ``censoring_model`` have ``fit(X, time, event)`` /
    ``predict_survival(X, times)`` (causalehr.nuisance; default DiscreteTimeHazard, which gets ``horizon``
    = tau); the censoring model is fitted with 1 - event (censorings from tau on do not count: G is used
    before tau only); both per arm unless ``treatment_as_feature``.
    ``propensity_model``: classifier (default logistic regression), optionally calibrated. Models whose
    ``random_state`` is None get this estimator's ``random_state`` (same seed, same output).
    ``n_jobs``: joblib workers of the default causal forest (None: one, not econml's every core, so that a
    workflow job uses the threads it was given).
    """

    def __init__(self, estimand="rmst", horizon=None, method="aipcw-dr", event_model=None, censoring_model=None,
                 propensity_model=None, cate_model=None, n_folds=5, random_state=None, *, n_grid=50,
                 treatment_as_feature=False, calibrate_propensity=None, min_censoring_survival=0.05,
                 propensity_bounds=(0.02, 0.98), n_jobs=None):
        self.estimand = estimand
        self.horizon = horizon
        self.method = method
        self.event_model = event_model
        self.censoring_model = censoring_model
        self.propensity_model = propensity_model
        self.cate_model = cate_model
        self.n_folds = n_folds
        self.random_state = random_state
        self.n_grid = n_grid
        self.treatment_as_feature = treatment_as_feature
        self.calibrate_propensity = calibrate_propensity
        self.min_censoring_survival = min_censoring_survival
        self.propensity_bounds = propensity_bounds
        self.n_jobs = n_jobs

    # ---------------------------------------------------------------- nuisances
    def _seeded(self, model):
        """Clone (deep copy for econml learners) and pass random_state where the model's own is None."""
        model = copy.deepcopy(model) if is_econml_learner(model) else clone(model)
        if getattr(model, "random_state", 0) is None:
            model.random_state = self.random_state
        return model

    def _survival_model(self, model, horizon=None):
        if model is None:
            return DiscreteTimeHazard(horizon=horizon, random_state=self.random_state)
        model = self._seeded(model)
        if isinstance(model, DiscreteTimeHazard) and model.horizon is None:
            model.set_params(horizon=horizon)
        return model

    def _propensity(self):
        model = None if self.propensity_model is None else self._seeded(self.propensity_model)
        return make_propensity(model, self.calibrate_propensity)

    def _cate_model(self):
        if self.method == "aipcw-causal-forest" and self.cate_model is None:
            from econml.grf import CausalForest
            # grf's defaults (2000 trees on half-samples, gradient splitting) with leaves of 20
            return CausalForest(n_estimators=2000, criterion="het", min_samples_leaf=20, max_samples=0.5,
                                random_state=self.random_state, n_jobs=self.n_jobs)
        if self.cate_model is None:
            # pseudo-outcomes are noisy: small trees, slow learning, early stopping on a validation split
            return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.02, max_leaf_nodes=4,
                                                 min_samples_leaf=200, early_stopping=True, n_iter_no_change=30,
                                                 random_state=self.random_state)
        return self._seeded(self.cate_model)

    def _check_input(self, X, treatment, time, event):
        if self.estimand not in ESTIMANDS:
            raise ValueError(f"estimand must be one of {ESTIMANDS}, got {self.estimand!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        econml_needed = self.method in ("ipcw-econml", "aipcw-econml")
        if econml_needed and not is_econml_learner(self.cate_model):
            raise ValueError(f"method {self.method!r} needs an econml CATE learner as cate_model, "
                             f"got {type(self.cate_model).__name__}")
        if self.method == "aipcw-causal-forest" and is_econml_learner(self.cate_model):
            raise ValueError(f"method 'aipcw-causal-forest' needs an econml.grf forest (fit(X, T, y)) as cate_model, "
                             f"got {type(self.cate_model).__name__}; pass econml CATE learners with "
                             "method 'aipcw-econml'")
        models = [self._survival_model(self.event_model), self._survival_model(self.censoring_model),
                  make_propensity(self.propensity_model)]
        if not is_econml_learner(self._cate_model()):
            models.append(self._cate_model())
        nan_ok = all(allows_nan(m) for m in models)
        X = check_covariates(X, allow_nan=nan_ok, name="X (covariates)")
        a = check_arms(treatment, len(X))
        time, event = check_survival_outcome(time, event, len(X))
        return X, a, time, event

    def _check_horizon(self, a, time, event):
        tau = float(np.quantile(time, 0.9)) if self.horizon is None else float(self.horizon)
        for arm in (0, 1):
            last = time[a == arm].max()
            if tau > last:
                raise ValueError(f"horizon {tau:g} is beyond the last observed time {last:g} in treatment arm {arm}")
        if not ((event == 1) & (time <= tau)).any():
            raise ValueError(f"no events at or before the horizon {tau:g}")
        for arm in (0, 1):
            if not ((event[a == arm] == 1) & (time[a == arm] <= tau)).any():
                warnings.warn(f"treatment arm {arm} has no events at or before the horizon {tau:g}: its survival up "
                              "to the horizon is estimated as 1 (as Kaplan-Meier gives)", UserWarning, stacklevel=3)
        return tau

    def _cross_fit(self, X, a, time, event):
        """Cross-fitted mu0, mu1, propensity and IPCW/AIPCW pseudo-outcomes (own arm), per patient."""
        n = len(X)
        out = {k: np.empty(n) for k in ("mu0", "mu1", "propensity", "target", "weight", "ipcw", "aipcw", "g_tau")}
        strata = 2 * a + event
        censored = ((event == 0) & (time < self.horizon_)).astype(np.int8)  # later censoring does not matter
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X, strata):
            ev = ArmSurvival(self._survival_model(self.event_model, self.horizon_), self.treatment_as_feature)
            ev.fit(X[train], a[train], time[train], event[train])
            ce = ArmSurvival(self._survival_model(self.censoring_model, self.horizon_), self.treatment_as_feature)
            ce.fit(X[train], a[train], time[train], censored[train])
            ps = self._propensity().fit(X[train], a[train])
            for s in range(0, len(test), _CHUNK):
                idx = test[s:s + _CHUNK]
                xi, ai = X[idx], a[idx]
                s0 = ev.predict_survival(xi, 0, self.grid_)
                s1 = ev.predict_survival(xi, 1, self.grid_)
                g = np.empty_like(s0)
                for arm in (0, 1):  # censoring survival of the patient's own arm only
                    g[ai == arm] = ce.predict_survival(xi[ai == arm], arm, self.grid_)
                po = censoring_pseudo_outcomes(time[idx], event[idx], np.where(ai[:, None] == 1, s1, s0), g,
                                               self.grid_, self.estimand, self.step_)
                out["mu0"][idx] = self._functional(s0)
                out["mu1"][idx] = self._functional(s1)
                out["propensity"][idx] = ps.predict_proba(xi)[:, 1]
                for k in po._fields:
                    out[k][idx] = getattr(po, k)
        return out

    def _functional(self, surv):
        return functional(surv, self.grid_, self.estimand, self.step_)

    # ---------------------------------------------------------------- fit / predict
    def fit(self, X, treatment, time, event):
        """Fit on covariates X (n, p), 0/1 treatment, follow-up time and 0/1 event."""
        X, a, time, event = self._check_input(X, treatment, time, event)
        self.horizon_ = self._check_horizon(a, time, event)
        self.grid_, self.step_ = time_grid(time, self.horizon_, self.n_grid)
        nu = self._cross_fit(X, a, time, event)
        self.nuisances_ = nu
        self.positivity_ = positivity_report(nu["g_tau"], nu["propensity"], self.horizon_,
                                             min_censoring_survival=self.min_censoring_survival,
                                             propensity_bounds=self.propensity_bounds)
        self.scores_ = dr_scores(nu["aipcw"], a, nu["mu0"], nu["mu1"], nu["propensity"])
        m = self.method
        if m in ("ipcw-dr", "aipcw-dr"):
            y = nu["ipcw"] if m == "ipcw-dr" else nu["aipcw"]
            self.cate_model_ = self._cate_model().fit(X, dr_scores(y, a, nu["mu0"], nu["mu1"], nu["propensity"]))
        elif m == "aipcw-causal-forest":
            e = nu["propensity"]
            y_hat = e * nu["mu1"] + (1 - e) * nu["mu0"]
            self.cate_model_ = self._cate_model().fit(X, a - e, nu["aipcw"] - y_hat)
        elif m == "aipcw-econml":
            self.cate_model_ = self._cate_model().fit(nu["aipcw"], a, X=X)
        elif m == "ipcw-econml":
            keep = nu["weight"] > 0
            self.cate_model_ = self._cate_model().fit(nu["target"][keep], a[keep], X=X[keep],
                                                      sample_weight=nu["weight"][keep])
        elif m in ("t-learner", "s-learner"):
            self.survival_model_ = ArmSurvival(self._survival_model(self.event_model, self.horizon_), m == "s-learner")
            self.survival_model_.fit(X, a, time, event)
        else:  # x-learner
            self.propensity_model_ = self._propensity().fit(X, a)
            self.cate_models_ = []
            for arm, imputed in ((0, nu["mu1"] - nu["target"]), (1, nu["target"] - nu["mu0"])):
                keep = (a == arm) & (nu["weight"] > 0)
                self.cate_models_.append(self._cate_model().fit(X[keep], imputed[keep],
                                                                sample_weight=nu["weight"][keep]))
        self.n_features_in_ = X.shape[1]
        return self

    def effect(self, X):
        """Estimated CATE (RMST or survival-probability difference, treated minus control) for covariates X."""
        X = check_covariates(X, allow_nan=True, name="X (covariates)")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} covariates, the model was fitted with {self.n_features_in_}")
        m = self.method
        if m in ("ipcw-dr", "aipcw-dr", "aipcw-causal-forest"):
            return self.cate_model_.predict(X).ravel()
        if m in ("aipcw-econml", "ipcw-econml"):
            return np.asarray(self.cate_model_.effect(X)).ravel()
        if m in ("t-learner", "s-learner"):
            sm = self.survival_model_
            return np.concatenate([self._functional(sm.predict_survival(X[s:s + _CHUNK], 1, self.grid_))
                                   - self._functional(sm.predict_survival(X[s:s + _CHUNK], 0, self.grid_))
                                   for s in range(0, len(X), _CHUNK)])
        e = self.propensity_model_.predict_proba(X)[:, 1]
        return e * self.cate_models_[0].predict(X) + (1 - e) * self.cate_models_[1].predict(X)

    def ate_interval(self, alpha=0.05, method="influence", n_boot=1000):
        """ATE (mean of the cross-fitted AIPCW-AIPW scores) with a 1 - alpha interval: "influence" (Wald,
        standard error sd(scores) / sqrt(n)) or "bootstrap" (multiplier bootstrap with Exp(1) weights seeded by
        random_state, percentile interval). Returns (estimate, lower, upper)."""
        phi = self.scores_
        est = float(phi.mean())
        if method == "influence":
            half = norm.ppf(1 - alpha / 2) * phi.std(ddof=1) / np.sqrt(len(phi))
            return est, est - half, est + half
        if method != "bootstrap":
            raise ValueError(f"method must be 'influence' or 'bootstrap', got {method!r}")
        rng = np.random.default_rng(self.random_state)
        boot = np.empty(n_boot)
        for b in range(n_boot):
            w = rng.exponential(size=len(phi))
            boot[b] = w @ phi / w.sum()
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        return est, float(lo), float(hi)


def fit_cate(df, covariates, *, treatment="treatment", time="time", event="event", **kwargs):
    """Validate the cohort table (causalehr.data.validate_cohort) and fit CensoredCATE(**kwargs) on it."""
    from ..data import validate_cohort

    validate_cohort(df, covariates, treatment=treatment, time=time, event=event)
    X = df[list(covariates)].to_numpy(dtype=float)
    model = CensoredCATE(**kwargs).fit(X, df[treatment].to_numpy(), df[time].to_numpy(), df[event].to_numpy())
    model.feature_names_in_ = np.asarray(covariates, dtype=object)
    return model
