"""Individualised strategy effects from the weighted clones of clone-censor-weight.

IPCW T-learner on clones: for each strategy, the clones whose target f(U) (``min(U, tau)`` for the RMST, ``1{U >
tau}`` for survival at tau) is observed (event by tau, or followed to tau) are regressed on the covariates with
weight 1 / P(clone uncensored up to U | X) (artificial and natural censoring, ``CloneCensorWeight.clones_``);
the effect is mu_start(x) - mu_never(x). Under correct weights each weighted regression is unbiased for
E[f(T^strategy) | X] (IPCW regression of the RMST: Tian, L., Zhao, L. & Wei, L. J. (2014). Predicting the
restricted mean event time with the subject's baseline covariates in survival analysis. Biostatistics 15,
222-233; T-learner: Kunzel, S. R. et al. (2019). Metalearners for estimating heterogeneous treatment effects using
machine learning. PNAS 116, 4156-4165). Written here because ``causalehr.cate.CensoredCATE`` takes one row per
patient with a baseline treatment, whereas clones carry strategy-specific, time-varying censoring weights.
"""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor

from causalehr.cate.pseudo import ESTIMANDS, observed_target

from .estimator import STRATEGIES, CloneCensorWeight


class CloneTLearner(BaseEstimator):
    """IPCW T-learner of "start within grace" minus "never start" on the weighted clones (see module docstring).

    Parameters
    ----------
    ccw : CloneCensorWeight (unfitted; cloned), default CloneCensorWeight(); its ``horizon`` is tau.
    outcome_model : regressor accepting ``sample_weight``; default a shallow HistGradientBoostingRegressor (depth 3,
        200 clones per leaf: the weighted clones are few and noisy under heavy censoring).
    estimand : "rmst" (RMST up to tau) or "surv" (survival probability at tau).
    random_state : seed of the default outcome model.

    Attributes: ``ccw_`` (fitted CloneCensorWeight), ``models_`` (dict strategy -> fitted regressor),
    ``n_observed_`` (dict strategy -> clones used).
    """

    def __init__(self, ccw=None, outcome_model=None, estimand="rmst", random_state=None):
        self.ccw = ccw
        self.outcome_model = outcome_model
        self.estimand = estimand
        self.random_state = random_state

    def fit(self, X, treatment_start, time, event):
        if self.estimand not in ESTIMANDS:
            raise ValueError(f"estimand must be one of {ESTIMANDS}, got {self.estimand!r}")
        if self.ccw is not None and self.ccw.cause is not None:
            raise ValueError(f"CloneTLearner estimates the all-cause estimands {ESTIMANDS}: its ccw must have "
                             f"cause=None, got cause={self.ccw.cause!r}")
        X = np.asarray(X, dtype=float)
        self.ccw_ = clone(self.ccw if self.ccw is not None else CloneCensorWeight())
        self.ccw_.fit(X, treatment_start, time, event)
        clones = self.ccw_.clones_
        self.models_, self.n_observed_ = {}, {}
        for k in STRATEGIES:
            c = clones[clones["strategy"] == k]
            y, observed = observed_target(c["exit"].to_numpy(), c["event"].to_numpy(), self.ccw_.horizon,
                                          self.estimand)
            model = (HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_depth=3,
                                                   min_samples_leaf=200, random_state=self.random_state)
                     if self.outcome_model is None else clone(self.outcome_model))
            rows = c["patient"].to_numpy()[observed]
            self.models_[k] = model.fit(X[rows], y[observed], sample_weight=c["weight"].to_numpy()[observed])
            self.n_observed_[k] = int(observed.sum())
        self.n_features_in_ = X.shape[1]
        return self

    def effect(self, X):
        """Estimated individual effect (start minus never) for covariates X."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} covariate columns, got shape {X.shape}")
        return self.models_["start"].predict(X) - self.models_["never"].predict(X)
