"""The average effect of a target population from a learner fitted on a source population (transport).

A CATE model fitted in one centre (the source, with outcomes) gives the average effect of another centre (the
target, covariates only) as the mean of its predictions over the target's patients, corrected by the source's
doubly robust scores reweighted to the target's covariate distribution: the doubly robust transport estimator of
Dahabreh, Robertson, Steingrimsson, Stuart & Hernan (2020), "Extending inferences from a randomized trial to a new
target population", Stat Med 39:1999-2014, with the AIPCW-AIPW scores of the censored outcome in place of the
uncensored AIPW ones. It is consistent if either the CATE model or the sampling model P(source | x) is correct
and the effect depends on the centre only through the covariates (no centre effect modification beyond x).

Written here because econml and the survival libraries have no transport estimator.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..nuisance import check_covariates, make_propensity
from .estimator import wald_interval


def transport_ate(model, X_source, X_target, *, sampling_model=None, n_folds=2, alpha=0.05, clip=1e-3,
                  random_state=None):
    """The target population's ATE and its 1 - ``alpha`` Wald interval from ``model``, a fitted
    :class:`causalehr.cate.CensoredCATE` (its ``scores_`` are the source's per-patient AIPCW-AIPW scores, its
    ``effect`` the CATE), its training covariates ``X_source`` and the target's covariates ``X_target`` (module
    docstring). ``sampling_model``: classifier of P(source | x) on the stacked patients, cross-fitted on
    ``n_folds`` folds (default: the default propensity model, a logistic regression), probabilities clipped to
    [``clip``, 1 - ``clip``].

    The estimate is (1 / n_T) [sum over the target of tau(x) + sum over the source of w(x) (phi - tau(x))],
    w = (1 - p) / p with p = P(source | x); its influence function, scaled by n / n_T, gives the interval.

    >>> import numpy as np
    >>> class Fitted:  # a constant CATE of 1 whose scores average 1.5 in the source
    ...     scores_ = np.array([1.0, 2.0, 1.0, 2.0])
    ...     def effect(self, X): return np.ones(len(X))
    >>> X = np.array([[0.0], [1.0], [0.0], [1.0]])
    >>> round(transport_ate(Fitted(), X, X)[0], 3)  # same covariates: p = 1/2, w = 1
    1.5
    """
    for name, X in (("X_source", X_source), ("X_target", X_target)):
        check_covariates(X, allow_nan=False, name=name)
    X_source, X_target = np.asarray(X_source, float), np.asarray(X_target, float)
    if X_source.shape[1] != X_target.shape[1]:
        raise ValueError(f"X_source has {X_source.shape[1]} covariates, X_target {X_target.shape[1]}")
    scores = np.asarray(model.scores_, float)
    if len(scores) != len(X_source):
        raise ValueError(f"X_source has {len(X_source)} rows but the model was fitted on {len(scores)} patients")
    n_s, n_t = len(X_source), len(X_target)
    X = np.vstack([X_source, X_target])
    source = np.r_[np.ones(n_s, int), np.zeros(n_t, int)]
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    classifier = make_propensity(None if sampling_model is None else clone(sampling_model))
    p = cross_val_predict(classifier, X, source, cv=folds, method="predict_proba")[:, 1]
    p = np.clip(p, clip, 1 - clip)[:n_s]
    tau_s, tau_t = model.effect(X_source), model.effect(X_target)
    augmentation = (1 - p) / p * (scores - tau_s)
    estimate = (tau_t.sum() + augmentation.sum()) / n_t
    influence = len(X) / n_t * np.r_[augmentation, tau_t - estimate]
    _, lower, upper = wald_interval(estimate + influence, alpha)
    return float(estimate), lower, upper
