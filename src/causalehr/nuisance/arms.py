"""Survival given covariates and treatment arm: one model per arm, or treatment as a feature (S-learner)."""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted


def check_arms(treatment, n=None, n_arms=2):
    """Return treatment as an int array after checking it is 0/1 (or an arm code 0..``n_arms`` - 1) with every
    arm present."""
    a = np.asarray(treatment).ravel()
    if n is not None and len(a) != n:
        raise ValueError(f"treatment must have {n} rows like X, got {len(a)}")
    bad = ~np.isin(a, np.arange(n_arms))
    if bad.any():
        codes = "0/1" if n_arms == 2 else f"an arm code 0..{n_arms - 1}"
        raise ValueError(f"treatment must be {codes}; {int(bad.sum())} rows are not")
    a = a.astype(np.int8)
    for arm in range(n_arms):
        if not (a == arm).any():
            needed = "both arms are" if n_arms == 2 else f"all {n_arms} arms are"
            raise ValueError(f"treatment arm {arm} has no patients: {needed} needed")
    return a


class ArmSurvival(BaseEstimator):
    """Survival S(t | x, a) given covariates and a treatment arm (0/1, or 0..``n_arms`` - 1), from a survival model.

    ``treatment_as_feature=False``: one clone of ``model`` per arm (T-learner style); ``True``: one model with the
    treatment appended as the last column (S-learner style; with more than two arms, the indicators of arms
    1..``n_arms`` - 1). Data without any event (e.g. the censoring model of
    a cohort without censoring) give S == 1 exactly, without fitting.

    Parameters
    ----------
    model : survival model
        Any model of :mod:`causalehr.nuisance` (``fit(X, time, event)``, ``predict_survival(X, times)``); cloned.
    treatment_as_feature : bool, default=False
        One model with the treatment as a feature instead of one model per arm.
    hold_after_last : bool, default=False
        Hold S(t | x, a) at S(last | x, a) after ``last``, the last observed time of arm a (extrapolation past
        the data of an arm, as grf's survival forests do); False: the model's own prediction there.
    n_arms : int, default=2
        Number of treatment arms, coded 0..n_arms - 1; every arm needs patients.

    Attributes
    ----------
    models_ : list
        The fitted models: one per arm (index = arm), or one; None where the data had no event.
    n_causes_ : int
        Largest event code (1 for survival data, K for K competing causes).
    last_time_ : ndarray of shape (n_arms,)
        Last observed time of each arm.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import ArmSurvival, MarginalKaplanMeier
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = ArmSurvival(MarginalKaplanMeier()).fit(X, y["treatment"], y["time"], y["event"])
    >>> [model.predict_survival(X[:1], arm, [0.5, 1.5]).round(2) for arm in (0, 1)]
    [array([[0.19, 0.04]]), array([[0.18, 0.04]])]
    """

    def __init__(self, model, treatment_as_feature=False, hold_after_last=False, n_arms=2):
        self.model = model
        self.treatment_as_feature = treatment_as_feature
        self.hold_after_last = hold_after_last
        self.n_arms = n_arms

    def fit(self, X, treatment, time, event):
        """Fit on covariates X (n, p), 0/1 ``treatment``, follow-up ``time`` and ``event`` (0/1, or 0 and the causes
        1, 2, ... for a competing-risks model); returns self."""
        X = np.asarray(X, dtype=float)
        a = check_arms(treatment, len(X), self.n_arms)
        time, event = np.asarray(time, dtype=float), np.asarray(event)
        self.n_causes_ = int(event.max())
        self.last_time_ = np.array([time[a == arm].max() for arm in range(self.n_arms)])
        if self.treatment_as_feature:
            self.models_ = [self._fit_one(self._with_arm(X, a), time, event)]
        else:
            self.models_ = [self._fit_one(X[a == arm], time[a == arm], event[a == arm]) for arm in range(self.n_arms)]
        return self

    def _with_arm(self, X, a):
        """X with the treatment appended: the 0/1 column, or the indicators of arms 1.. with more arms."""
        a = np.broadcast_to(a, len(X))
        if self.n_arms == 2:
            return np.column_stack([X, a])
        return np.column_stack([X, a[:, None] == np.arange(1, self.n_arms)])

    def _fit_one(self, X, time, event):
        if not np.any(event != 0):
            return None
        return clone(self.model).fit(X, time, event)

    def predict_survival(self, X, arm, times):
        """S(times | x, a = arm) for a scalar arm, shape (n, len(times))."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        model = self.models_[0 if self.treatment_as_feature else arm]
        if self.hold_after_last:
            times = np.minimum(np.asarray(times, dtype=float), self.last_time_[arm])
        if model is None:
            return np.ones((len(X), len(np.atleast_1d(times))))
        if self.treatment_as_feature:
            X = self._with_arm(X, arm)
        return model.predict_survival(X, times)

    def predict_cumulative_incidence(self, X, arm, times):
        """F_k(times | x, a = arm) of each cause k for a competing-risks ``model`` (see
        :mod:`causalehr.nuisance.competing`), shape (n, len(times), n_causes_); 0 where the arm had no event; held
        after the arm's last time as :meth:`predict_survival` with ``hold_after_last``."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        model = self.models_[0 if self.treatment_as_feature else arm]
        if self.hold_after_last:
            times = np.minimum(np.asarray(times, dtype=float), self.last_time_[arm])
        if model is None:
            return np.zeros((len(X), len(np.atleast_1d(times)), self.n_causes_))
        if self.treatment_as_feature:
            X = self._with_arm(X, arm)
        return model.predict_cumulative_incidence(X, times)

    def predict_survival_and_incidence(self, X, arm, times):
        """(S, F) of a competing-risks ``model`` from one prediction: F as :meth:`predict_cumulative_incidence`
        and the event-free survival S = 1 - sum_k F_k (floored at 0), which every competing-risks model of
        :mod:`causalehr.nuisance.competing` satisfies; half the work of calling both predictions."""
        cif = self.predict_cumulative_incidence(X, arm, times)
        return np.maximum(1.0 - cif.sum(axis=2), 0.0), cif
