"""Common interface and input checks of the survival nuisance models.

Every survival model here has ``fit(X, time, event) -> self`` and ``predict_survival(X, times) -> (n, len(times))``.
The censoring survival G(t | x) is the same model fitted with ``1 - event``. Ties: a patient whose event and
another patient's censoring share a time is in the censoring risk set at that time, and the pseudo-outcomes
evaluate G just before each time (G(T-)), so events precede censorings at tied times.
"""

import numpy as np
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted


def allows_nan(estimator):
    """True if the scikit-learn estimator declares that it accepts NaN in X."""
    try:
        return bool(get_tags(estimator).input_tags.allow_nan)
    except (AttributeError, TypeError):
        return False


def check_covariates(X, *, allow_nan, name="X"):
    """Return X as a 2-d float array; raise ValueError on NaN that the model cannot take, or on infinities."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (patients x covariates), got shape {X.shape}")
    nan_rows = np.isnan(X).any(axis=1)
    if nan_rows.any() and not allow_nan:
        cols = np.flatnonzero(np.isnan(X).any(axis=0)).tolist()
        raise ValueError(
            f"{name} has NaN in {int(nan_rows.sum())} rows (covariate columns {cols}) "
            "but the model does not accept missing values; impute them or use a model that does "
            "(e.g. HistGradientBoostingClassifier)"
        )
    if np.isinf(X).any():
        raise ValueError(f"{name} has infinite values in {int(np.isinf(X).any(axis=1).sum())} rows")
    return X


def check_predict_covariates(model, X, *, allow_nan, name="X"):
    """Return X as a 2-d float array for a prediction of the fitted ``model``: raise scikit-learn's NotFittedError
    if it is not fitted, and ValueError as :func:`check_covariates` or if X has not the fitted number of
    covariates."""
    check_is_fitted(model)
    X = check_covariates(X, allow_nan=allow_nan, name=name)
    if X.shape[1] != model.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} covariates, the model was fitted with {model.n_features_in_}")
    return X


def check_time_and_event_lengths(time, event, n=None):
    """``time`` as a float array and ``event`` as an array, both 1-d, after the checks every outcome shares: ``n``
    rows (when given) and finite times >= 0."""
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event).ravel()
    if n is not None and (len(time) != n or len(event) != n):
        raise ValueError(f"time and event must have {n} rows like X, got {len(time)} and {len(event)}")
    bad = ~np.isfinite(time) | (time < 0)
    if bad.any():
        raise ValueError(f"time must be finite and >= 0; {int(bad.sum())} rows are not")
    return time, event


def check_survival_outcome(time, event, n=None):
    """Return (time, event) as float / int arrays after checking time >= 0 finite and event in {0, 1}."""
    time, event = check_time_and_event_lengths(time, event, n)
    bad = ~np.isin(event, (0, 1))
    if bad.any():
        raise ValueError(f"event must be 0/1; {int(bad.sum())} rows are not")
    return time, event.astype(np.int8)


def step_survival(curve_times, curves, times):
    """Evaluate right-continuous step functions S (rows of ``curves`` at ``curve_times``) at ``times``; S = 1 before
    the first curve time."""
    idx = np.searchsorted(curve_times, np.asarray(times, dtype=float), side="right") - 1
    out = np.ones((curves.shape[0], len(idx)))
    ok = idx >= 0
    out[:, ok] = curves[:, idx[ok]]
    return out
