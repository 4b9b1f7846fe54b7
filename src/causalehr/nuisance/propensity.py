"""Propensity score models and positivity diagnostics."""

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

# The propensity classifiers of the package (unfitted, default parameters; clone before use): the contract test
# (tests/test_nuisance_contract.py) runs over them.
PROPENSITY_MODELS = (LogisticRegression(max_iter=1000, solver="newton-cholesky"), HistGradientBoostingClassifier())


class PositivityWarning(UserWarning):
    """Near-violation of positivity of treatment or of remaining uncensored."""


def make_propensity(classifier=None, calibrate=None):
    """Unfitted propensity model e(x) = P(A = 1 | x), optionally calibrated.

    Parameters
    ----------
    classifier : scikit-learn classifier with ``predict_proba``, default=None
        None: logistic regression (``LogisticRegression(max_iter=1000, solver="newton-cholesky")``): Newton's
        method converges on covariates of any scale (counts in the thousands, e.g. CD4 counts), and solves the
        same penalised likelihood as the earlier lbfgs default (propensities equal to 4e-4 on the simulated
        settings, lbfgs' own tolerance), where standardising the covariates would change the L2 penalty's
        units and the propensities (by up to 0.009 on csf1). It is cloned, never fitted in place.
    calibrate : {None, "sigmoid", "isotonic"}, default=None
        Wrap the classifier in ``CalibratedClassifierCV(method=calibrate, cv=3)``: Platt (1999) scaling or
        isotonic regression (Zadrozny & Elkan 2002) fitted on held-out folds.

    Returns
    -------
    classifier
        An unfitted classifier; ``fit(X, treatment)``, ``predict_proba(X)[:, 1]`` = e(x).

    References
    ----------
    Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to regularized likelihood
    methods. Advances in Large Margin Classifiers, 61-74.
    Zadrozny, B. & Elkan, C. (2002). Transforming classifier scores into accurate multiclass probability
    estimates. KDD, 694-699.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import make_propensity
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, a = cohort.data[cohort.covariates].to_numpy(), cohort.data["treatment"]
    >>> e = make_propensity(calibrate="sigmoid").fit(X, a).predict_proba(X)[:, 1]
    >>> e.shape, bool(((0 < e) & (e < 1)).all())
    ((300,), True)
    """
    clf = LogisticRegression(max_iter=1000, solver="newton-cholesky") if classifier is None else clone(classifier)
    if calibrate is None:
        return clf
    if calibrate not in ("sigmoid", "isotonic"):
        raise ValueError(f"calibrate must be None, 'sigmoid' or 'isotonic', got {calibrate!r}")
    return CalibratedClassifierCV(clf, method=calibrate, cv=3)


def _patients(count, min_count):
    """"k patients", or "fewer than min_count patients" for a small group (warnings end up in kept logs)."""
    return f"{count} patients" if count >= min_count else f"fewer than {min_count} patients"


def raise_or_warn(failures, errors):
    """Raise the positivity failures as one ValueError (``errors="raise"``) or warn each as a PositivityWarning,
    attributed to the caller of the report."""
    if failures and errors == "raise":
        raise ValueError("; ".join(failures))
    for message in failures:
        warnings.warn(message, PositivityWarning, stacklevel=4)


def positivity_report(g_min, propensity, horizon, *, min_censoring_survival=0.05, propensity_bounds=(0.02, 0.98),
                      min_count=10, errors="warn"):
    """Summarise positivity and warn (PositivityWarning) naming the values under the thresholds, or raise
    ValueError with the same message (``errors="raise"``); a count of patients below ``min_count`` is written
    "fewer than ``min_count``" (privacy of the executed notebooks).

    ``g_min``: per patient, smallest G(t- | x, a) before the horizon (own arm); ``propensity``: e(x), or None to
    check the censoring only (several arms: :func:`causalehr.cate.multiarm.arm_positivity`).
    ``errors``: "warn" (PositivityWarning) or "raise" (ValueError with the same messages, joined by "; ").
    Returns a dict with the minima, ranges and counts.
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f"errors must be 'warn' or 'raise', got {errors!r}")
    g_min = np.asarray(g_min)
    e = np.asarray([] if propensity is None else propensity)
    lo, hi = propensity_bounds
    n_low_g = int((g_min < min_censoring_survival).sum())
    n_bad_e = int(((e < lo) | (e > hi)).sum())
    failures = []
    if n_low_g:
        failures.append(
            f"censoring survival G(t-|x,a) before horizon {horizon:g} is below {min_censoring_survival:g} for "
            f"{_patients(n_low_g, min_count)} (smallest {g_min.min():.4g}): IPCW weights are large")
    if n_bad_e:
        failures.append(f"propensity score outside [{lo:g}, {hi:g}] for {_patients(n_bad_e, min_count)} "
                        f"(range {e.min():.4g} to {e.max():.4g})")
    raise_or_warn(failures, errors)
    report = {"min_censoring_survival": float(g_min.min()), "n_censoring_survival_below": n_low_g}
    if propensity is not None:
        report.update(propensity_min=float(e.min()), propensity_max=float(e.max()), n_propensity_outside=n_bad_e)
    return report
