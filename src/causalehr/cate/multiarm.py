"""Several treatments: the censoring-adjusted CATE of each arm against a reference arm and between any two arms.

:class:`MultiArmCATE` is :class:`~causalehr.cate.CensoredCATE` for a treatment with k >= 2 levels: it shares its
checks, folds, time grid, per-arm survival and censoring nuisances and pseudo-outcomes (the same code, with k arms),
and replaces the propensity by a multinomial (generalised) propensity and the AIPW score by one score per arm.
"""

import copy

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..nuisance import ArmSurvival, positivity_report
from ..nuisance.base import check_predict_covariates
from ..nuisance.propensity import _patients, raise_or_warn
from .estimator import CensoredCATE, wald_interval
from .pseudo import ESTIMANDS, arm_scores, time_grid

MULTIARM_METHODS = ("aipcw-dr", "ipcw-dr", "aipcw-econml", "t-learner", "constant")
MIN_PER_FOLD = 2  # patients of each treatment level per cross-fitting fold


def check_levels(treatment, reference, n_folds, n):
    """(levels, codes): the sorted treatment levels and each patient's code 0..k-1, after checking there are at
    least two levels, that ``reference`` is one of them, and that each level has ``MIN_PER_FOLD`` patients per
    fold."""
    t = np.asarray(treatment).ravel()
    if len(t) != n:
        raise ValueError(f"treatment must have {n} rows like X, got {len(t)}")
    if pd.isna(t).any():
        raise ValueError(f"treatment has {int(pd.isna(t).sum())} missing values; every patient needs an arm")
    levels, codes, counts = np.unique(t, return_inverse=True, return_counts=True)
    if len(levels) < 2:
        raise ValueError(f"treatment has one level ({levels[0]!r}); at least two arms are needed")
    if reference not in levels.tolist():
        raise ValueError(f"reference arm {reference!r} is not a treatment level; the levels are {levels.tolist()}")
    need = MIN_PER_FOLD * n_folds
    for level, count in zip(levels, counts):
        if count < need:
            raise ValueError(f"treatment level {level!r} has {_patients(count, need)}; cross-fitting with "
                             f"n_folds={n_folds} needs at least {need} patients of each level ({MIN_PER_FOLD} per "
                             "fold)")
    return levels, codes


def arm_positivity(propensity, treatment, levels, groups=None, *, min_propensity=0.02, min_count=10,
                   errors="warn"):
    """Positivity of each arm: per arm (and per arm and group, e.g. centre), the patients, the smallest and the
    mean generalised propensity P(A = arm | x) and the number of patients below ``min_propensity``.

    ``propensity``: (n, k) cross-fitted; ``treatment``: arm codes 0..k-1; ``levels``: the arms' names. Counts of
    patients below ``min_count`` are suppressed (NaN) in the table (privacy of the executed notebooks). Warns
    (PositivityWarning) naming each arm whose smallest propensity is below ``min_propensity``, or raises ValueError
    with the same messages (``errors="raise"``). Returns a DataFrame
    with columns group ("all" or the group), arm, n, min_propensity, mean_propensity, n_below.
    """
    e = np.asarray(propensity)
    rows, failures = [], []
    keys = [("all", np.ones(len(e), dtype=bool))]
    if groups is not None:
        groups = np.asarray(groups).ravel()
        keys += [(g, groups == g) for g in np.unique(groups)]
    for group, rows_in in keys:
        for code, arm in enumerate(levels):
            ea = e[rows_in, code]
            n_below = int((ea < min_propensity).sum())
            rows.append({"group": group, "arm": arm, "n": int(((treatment == code) & rows_in).sum()),
                         "min_propensity": float(ea.min()), "mean_propensity": float(ea.mean()),
                         "n_below": n_below})
            if group == "all" and n_below:
                failures.append(f"generalised propensity of arm {arm!r} is below {min_propensity:g} for "
                                f"{_patients(n_below, min_count)} (smallest {ea.min():.4g})")
    raise_or_warn(failures, errors)
    table = pd.DataFrame(rows)
    for column in ("n", "n_below"):
        table[column] = table[column].where((table[column] == 0) | (table[column] >= min_count))
    return table


class MultiArmCATE(CensoredCATE):
    """Conditional average treatment effects of several treatments on a right-censored time to event.

    For a treatment with levels a_1 < ... < a_k (k >= 2, any sortable labels) and a ``reference`` level, the
    estimands are tau_a(x) = E[f(T(a)) - f(T(reference)) | X = x] and between any two arms tau_a(x) - tau_b(x), with
    f as in :class:`~causalehr.cate.CensoredCATE` (RMST up to ``horizon`` or survival at it). Nuisances, all
    cross-fitted (folds stratified on arm x event, or keeping ``groups`` together): the survival and censoring
    survival of each arm (one model per arm, or the arm indicators as features), the multinomial (generalised)
    propensity P(A = a | x) (``propensity_model``, default multinomial logistic regression), and the IPCW / AIPCW
    transformed outcome of the patient's own arm. The doubly robust score of arm a is
    Gamma_a = mu_a(x) + 1{A = a} (Y* - mu_a(x)) / e_a(x) (Cattaneo 2010; Y* the AIPCW outcome), that of a contrast
    the difference of the arms' scores: with k = 2 the contrast score is CensoredCATE's AIPCW-AIPW score.

    Methods (``method``, one of ``MULTIARM_METHODS``): "aipcw-dr" / "ipcw-dr": DR-learner (Kennedy 2023), one
    regression of the contrast score of each non-reference arm (on the AIPCW or IPCW outcome); "aipcw-econml":
    an econml learner with a categorical treatment (e.g. econml.dr.DRLearner, whose discrete multi-valued
    treatment support fits its own propensity and outcome models) fitted on the AIPCW outcome; "t-learner": the
    difference of the per-arm survival curves; "constant": the ATE of each arm for everyone.

    The ATE of a contrast (:meth:`ate_interval`, :meth:`ate_table`) is the mean of its contrast scores with a Wald
    interval from their standard deviation (the efficient influence function).

    Parameters
    ----------
    estimand, horizon, event_model, censoring_model, propensity_model, cate_model, n_folds, random_state
        As in :class:`~causalehr.cate.CensoredCATE` (``estimand`` "rmst" or "surv"; ``propensity_model`` a
        multi-class classifier).
    n_grid, treatment_as_feature, calibrate_propensity, min_censoring_survival, on_positivity_failure, extrapolate
        As in :class:`~causalehr.cate.CensoredCATE`.
    method : str, default="aipcw-dr"
        One of ``MULTIARM_METHODS``, see above.
    reference : label, default=0
        The reference level of the treatment.
    min_propensity : float, default=0.02
        PositivityWarning (or ValueError with ``on_positivity_failure="raise"``) when a generalised propensity is
        below it.

    Attributes
    ----------
    arms_ : ndarray
        The treatment levels, sorted; arm codes 0..k-1 index them.
    reference_code_ : int
        Code of the reference arm.
    horizon_, grid_, step_, folds_, n_features_in_
        As in CensoredCATE.
    nuisances_ : dict of ndarray
        Cross-fitted: "mu" (n, k), "propensity" (n, k), and "target", "weight", "ipcw", "aipcw", "g_tau" (own arm).
    arm_scores_ : ndarray of shape (n, k)
        Doubly robust score of each arm (AIPCW outcome); its column means are the arms' mean potential outcomes.
    positivity_ : dict
        Censoring positivity (:func:`causalehr.nuisance.positivity_report`).
    arm_positivity_ : pandas.DataFrame
        Generalised propensity per arm, and per arm and group (:func:`arm_positivity`).
    cate_models_ : dict of label to regressor
        DR-learner of each non-reference arm ("*-dr").

    References
    ----------
    Cattaneo, M. D. (2010). Efficient semiparametric estimation of multi-valued treatment effects under
    ignorability. Journal of Econometrics 155, 138-154.
    Kennedy, E. H. (2023). Towards optimal doubly robust estimation of heterogeneous causal effects. Electronic
    Journal of Statistics 17, 3008-3049.
    Imbens, G. W. (2000). The role of the propensity score in estimating dose-response functions. Biometrika 87,
    706-710.

    Examples
    --------
    >>> import warnings
    >>> import warnings
    >>> from sklearn.linear_model import LinearRegression
    >>> from causalehr.cate import MultiArmCATE
    >>> from causalehr.nuisance import LifelinesCoxSurvival, MarginalKaplanMeier
    >>> from causalehr.simulate import simulate
    >>> cohort = simulate("ehr_diabetes", 1500, seed=0, drug_classes=True, missingness=0.0, horizon=3.0,
    ...                   min_follow_up=3.0, censoring_rate=0.75)
    >>> X, d = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> est = MultiArmCATE(horizon=3.0, reference="dpp4", event_model=LifelinesCoxSurvival(penalizer=0.01),
    ...                    censoring_model=MarginalKaplanMeier(), cate_model=LinearRegression(), n_folds=2,
    ...                    random_state=0)
    >>> with warnings.catch_warnings(action="ignore"):
    ...     est = est.fit(X, d["drug_class"], d["time"], d["event"])
    >>> est.arms_.tolist()
    ['dpp4', 'glp1', 'sglt2', 'sulfonylurea']
    >>> est.effect(X[:2], "sglt2").shape
    (2,)
    >>> est.ate_table().round(2).head(2)
         arm other  estimate    se  lower  upper
    0   glp1  dpp4     -0.50  0.35  -1.19   0.19
    1  sglt2  dpp4     -0.51  0.35  -1.20   0.18
    """

    def __init__(self, estimand="rmst", horizon=None, method="aipcw-dr", event_model=None, censoring_model=None,
                 propensity_model=None, cate_model=None, n_folds=5, random_state=None, *, reference=0, n_grid=50,
                 treatment_as_feature=False, calibrate_propensity=None, min_censoring_survival=0.05,
                 min_propensity=0.02, on_positivity_failure="warn", extrapolate=False):
        super().__init__(estimand=estimand, horizon=horizon, method=method, event_model=event_model,
                         censoring_model=censoring_model, propensity_model=propensity_model, cate_model=cate_model,
                         n_folds=n_folds, random_state=random_state, n_grid=n_grid,
                         treatment_as_feature=treatment_as_feature, calibrate_propensity=calibrate_propensity,
                         min_censoring_survival=min_censoring_survival, on_positivity_failure=on_positivity_failure,
                         extrapolate=extrapolate)
        self.reference = reference
        self.min_propensity = min_propensity

    def fit(self, X, treatment, time, event, groups=None):
        """Fit the per-arm nuisances by cross-fitting, the arm scores, then the CATE of each contrast.

        Parameters
        ----------
        X : array-like of shape (n, p)
            Covariates.
        treatment : array-like of shape (n,)
            Treatment level of each patient (any sortable labels; ``reference`` among them).
        time, event : array-like of shape (n,)
            Follow-up time and 0/1 event, as in CensoredCATE.
        groups : array-like of shape (n,), default=None
            Group (e.g. centre) that cross-fitting keeps in one fold; the positivity table is also given per group.

        Returns
        -------
        self
        """
        if self.estimand not in ESTIMANDS:
            raise ValueError(f"MultiArmCATE's estimand must be one of {ESTIMANDS}, got {self.estimand!r}")
        if self.method not in MULTIARM_METHODS:
            raise ValueError(f"MultiArmCATE's method must be one of {MULTIARM_METHODS}, got {self.method!r}")
        levels, codes = check_levels(treatment, self.reference, self.n_folds, np.shape(X)[0])
        k = len(levels)
        X, a, time, event = self._check_input(X, codes, time, event, n_arms=k)
        self.arms_, self.reference_code_ = levels, int(np.flatnonzero(levels == self.reference)[0])
        self.horizon_ = self._check_horizon(a, time, event, labels=levels.tolist())
        self.folds_ = self._folds(X, a, event, groups)
        self.grid_, self.step_ = time_grid(time, self.horizon_, self.n_grid)
        nu = self._cross_fit_arms(X, a, time, event, k)
        self.nuisances_ = nu
        self.positivity_ = positivity_report(nu["g_tau"], None, self.horizon_,
                                             min_censoring_survival=self.min_censoring_survival,
                                             errors=self.on_positivity_failure)
        self.arm_positivity_ = arm_positivity(nu["propensity"], a, levels, groups, min_propensity=self.min_propensity,
                                              errors=self.on_positivity_failure)
        self.arm_scores_ = arm_scores(nu["aipcw"], a, nu["mu"], nu["propensity"])
        self.n_features_in_ = X.shape[1]
        self._fit_second_stage(X, a, time, event)
        return self

    def _fit_second_stage(self, X, a, time, event):
        nu, ref = self.nuisances_, self.reference_code_
        if self.method in ("aipcw-dr", "ipcw-dr"):
            y = nu["ipcw"] if self.method == "ipcw-dr" else nu["aipcw"]
            scores = arm_scores(y, a, nu["mu"], nu["propensity"])
            self.cate_models_ = {self.arms_[j]: self._cate_model().fit(X, scores[:, j] - scores[:, ref])
                                 for j in range(len(self.arms_)) if j != ref}
        elif self.method == "aipcw-econml":
            self.cate_model_ = copy.deepcopy(self.cate_model).fit(nu["aipcw"], self.arms_[a], X=X)
        elif self.method == "t-learner":
            self.survival_model_ = ArmSurvival(self._event_model(), self.treatment_as_feature, self.extrapolate,
                                               len(self.arms_)).fit(X, a, time, event)

    def _code(self, arm):
        if arm not in self.arms_.tolist():
            raise ValueError(f"arm {arm!r} is not a treatment level; the levels are {self.arms_.tolist()}")
        return int(np.flatnonzero(self.arms_ == arm)[0])

    def effects(self, X):
        """CATE of every arm against the reference for covariates X, shape (n, k) (the reference's column is 0);
        the arm of largest expected f(T) is the argmax of a row."""
        X = check_predict_covariates(self, X, allow_nan=True, name="X (covariates)")
        ref, k = self.reference_code_, len(self.arms_)
        out = np.zeros((len(X), k))
        for j in range(k):
            if j == ref:
                continue
            if self.method in ("aipcw-dr", "ipcw-dr"):
                out[:, j] = self.cate_models_[self.arms_[j]].predict(X).ravel()
            elif self.method == "aipcw-econml":
                out[:, j] = np.asarray(self.cate_model_.effect(X, T0=self.arms_[ref], T1=self.arms_[j])).ravel()
            elif self.method == "t-learner":
                mu_j, mu_ref = (self._functional(*self._curves(self.survival_model_, X, c)) for c in (j, ref))
                out[:, j] = mu_j - mu_ref
            else:
                out[:, j] = self.contrast_scores(self.arms_[j]).mean()
        return out

    def effect(self, X, arm, other=None):
        """CATE of ``arm`` against ``other`` (default: the reference) for covariates X, shape (n,)."""
        check_is_fitted(self)
        j, i = self._code(arm), self._code(self.reference if other is None else other)
        tau = self.effects(X)
        return tau[:, j] - tau[:, i]

    def contrast_scores(self, arm, other=None):
        """Cross-fitted doubly robust scores of ``arm`` against ``other`` (default: the reference), shape (n,)."""
        check_is_fitted(self)
        j, i = self._code(arm), self._code(self.reference if other is None else other)
        return self.arm_scores_[:, j] - self.arm_scores_[:, i]

    def ate_interval(self, arm, other=None, alpha=0.05):
        """ATE of ``arm`` against ``other`` (default: the reference): (estimate, lower, upper), the mean of the
        contrast scores with its 1 - alpha Wald interval."""
        return wald_interval(self.contrast_scores(arm, other), alpha)

    def ate_table(self, alpha=0.05):
        """ATE of every pair of arms (each arm against the reference first, then the other pairs), with the
        standard error and the 1 - alpha interval: columns arm, other, estimate, se, lower, upper."""
        check_is_fitted(self)
        ref = self.arms_[self.reference_code_]
        others = [a for a in self.arms_ if a != ref]
        pairs = [(a, ref) for a in others] + [(a, b) for i, a in enumerate(others) for b in others[i + 1:]]
        rows = []
        for arm, other in pairs:
            phi = self.contrast_scores(arm, other)
            est, lower, upper = wald_interval(phi, alpha)
            rows.append({"arm": arm, "other": other, "estimate": est, "se": float(np.std(phi, ddof=1)
                                                                              / np.sqrt(len(phi))),
                         "lower": lower, "upper": upper})
        return pd.DataFrame(rows)
