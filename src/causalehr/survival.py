"""Kaplan-Meier survival curves and what is read from them: survival at a time, median, restricted mean survival
time (RMST) with its variance, and the RMST difference between two groups; with competing events, the
Aalen-Johansen cumulative incidence of each cause. Every Kaplan-Meier and Aalen-Johansen estimate of the package
goes through this module.

The product-limit estimator (Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete
observations. JASA 53, 457-481) is written here, not taken from lifelines' ``KaplanMeierFitter(weights=...,
entry=...)`` or scikit-survival's ``kaplan_meier_estimator``, because clone-censor-weight needs time-varying
weights, i.e. one (entry, time] row per clone and interval, on millions of rows, and the bootstraps (CCW,
prediction-powered inference, replication) refit it hundreds of times: here it is a few numpy sorts and
cumulative sums, without the per-fit tables those libraries build. Neither library gives the variance of the
Kaplan-Meier RMST estimate (lifelines' ``restricted_mean_survival_time(return_variance=True)`` returns the
variance of min(T, tau)). Tests check the curve and the RMST against lifelines on the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def kaplan_meier(time, event, entry=None, weight=None) -> pd.DataFrame:
    """Weighted product-limit survival curve, with delayed entry (left truncation).

    A row is at risk at time t when ``entry < t <= time`` (counting-process rows; a row with ``time == entry`` is
    never at risk and may not hold an event); without ``entry`` every row is at risk from the start, time 0
    included. An event row contributes its weight at ``time``. The hazard at each
    event time is (weighted events) / (weighted number at risk), capped at 1; where nobody is at risk it is 0.
    ``weight`` defaults to 1 per row.

    Returns a DataFrame with columns ``time`` (distinct event times, ascending), ``at_risk``, ``events``
    (weighted) and ``survival`` (the curve just after each time).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    arrays = {"time": time, "event": event}
    if entry is not None:
        entry = arrays["entry"] = np.asarray(entry, dtype=float)
    if weight is not None:
        weight = arrays["weight"] = np.asarray(weight, dtype=float)
    if any(a.ndim != 1 for a in arrays.values()) or len({a.size for a in arrays.values()}) > 1:
        raise ValueError(f"{', '.join(arrays)} must be 1-d arrays of the same length, got shapes "
                         f"{', '.join(str(a.shape) for a in arrays.values())}")
    weight = np.ones_like(time) if weight is None else weight
    bad = int(np.sum(~np.isfinite(time)))
    if bad:
        raise ValueError(f"time must be finite: {bad} rows are not")
    bad = int(np.sum(~np.isin(event, (0, 1))))
    if bad:
        raise ValueError(f"event must be 0/1: {bad} rows are not")
    bad = int(np.sum(~np.isfinite(weight) | (weight < 0)))
    if bad:
        raise ValueError(f"weight must be finite and >= 0: {bad} rows are not")
    if entry is None:
        bad = int(np.sum(time < 0))
        if bad:
            raise ValueError(f"time must be >= 0: {bad} rows are not")
    else:
        bad = int(np.sum(~(time >= entry)))
        if bad:
            raise ValueError(f"time must be >= entry: {bad} rows have time < entry or a missing entry")
        bad = int(np.sum((time == entry) & (event == 1)))
        if bad:
            raise ValueError(f"an event row must end after its entry: {bad} event rows have time == entry")
    event = event.astype(bool)
    times, inverse = np.unique(time[event], return_inverse=True)
    events = np.bincount(inverse, weights=weight[event], minlength=times.size).astype(float)
    if entry is None:
        entered = np.sum(weight)
    else:
        order = np.argsort(entry, kind="stable")
        entered = np.r_[0.0, np.cumsum(weight[order])][np.searchsorted(entry[order], times, side="left")]
    order = np.argsort(time, kind="stable")
    left = np.r_[0.0, np.cumsum(weight[order])][np.searchsorted(time[order], times, side="left")]
    at_risk = entered - left
    hazard = np.divide(events, at_risk, out=np.zeros_like(events), where=at_risk > 0)
    return pd.DataFrame({"time": times, "at_risk": at_risk, "events": events,
                         "survival": np.cumprod(1.0 - np.minimum(hazard, 1.0))})


def aalen_johansen(time, event, entry=None, weight=None) -> pd.DataFrame:
    """Weighted Aalen-Johansen cumulative incidence of each cause, with delayed entry (left truncation).

    ``event`` is 0 for a censoring and k = 1, 2, ... for an event of cause k. The estimate (Aalen & Johansen 1978;
    with weights as in the weighted estimators of Geskus 2011) is
    F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j, S the all-cause Kaplan-Meier curve of :func:`kaplan_meier`
    (same risk sets, entry and weights), d_kj the weighted events of cause k at t_j and n_j the weighted number at
    risk; so S(t) + sum_k F_k(t) = 1. Written here beside Kaplan-Meier for the same reasons (time-varying weights
    of clone-censor-weight, refits in bootstraps); the test compares it with lifelines' AalenJohansenFitter.

    Returns a DataFrame with columns ``time`` (distinct event times of any cause, ascending), ``at_risk``,
    ``events`` (weighted, all causes), ``survival`` (all causes, just after each time) and
    ``cumulative_incidence_{k}`` for each cause k in ``event``.

    References
    ----------
    Aalen, O. O. & Johansen, S. (1978). An empirical transition matrix for non-homogeneous Markov chains based on
    censored observations. Scandinavian Journal of Statistics 5, 141-150.
    Geskus, R. B. (2011). Cause-specific cumulative incidence estimation and the Fine and Gray model under both
    left truncation and right censoring. Biometrics 67, 39-49.
    """
    event = np.asarray(event, dtype=float)
    bad = int(np.sum(~np.isfinite(event) | (event < 0) | (event != np.round(event))))
    if bad:
        raise ValueError(f"event must be 0 (censored) or a cause 1, 2, ...: {bad} rows are not")
    curve = kaplan_meier(time, (event != 0).astype(np.int8), entry=entry, weight=weight)
    time = np.asarray(time, dtype=float)
    weight = np.ones_like(time) if weight is None else np.asarray(weight, dtype=float)
    before = np.r_[1.0, curve["survival"].to_numpy()[:-1]]                        # S(t_j-)
    at_risk = curve["at_risk"].to_numpy()
    for k in np.unique(event[event != 0]).astype(int):
        of_k = event == k
        d_k = np.bincount(np.searchsorted(curve["time"].to_numpy(), time[of_k]), weights=weight[of_k],
                          minlength=len(curve))
        hazard = np.divide(d_k, at_risk, out=np.zeros_like(d_k), where=at_risk > 0)
        curve[f"cumulative_incidence_{k}"] = np.cumsum(before * hazard)
    return curve


def survival_at(curve: pd.DataFrame, t):
    """Values at times ``t`` (scalar or array) of a right-continuous step survival curve (columns ``time``,
    ``survival``, as from :func:`kaplan_meier`); 1 before the first time."""
    idx = np.searchsorted(curve["time"].to_numpy(), t, side="right")
    out = np.r_[1.0, curve["survival"].to_numpy()][idx]
    return float(out) if np.ndim(out) == 0 else out


def _incidence_as_survival(curve: pd.DataFrame, cause: int) -> pd.DataFrame:
    """1 - F_cause as a step curve of :func:`survival_at` / :func:`rmst` (F = 0 when the cause has no event)."""
    column = f"cumulative_incidence_{cause}"
    cif = curve[column].to_numpy() if column in curve else np.zeros(len(curve))
    return pd.DataFrame({"time": curve["time"].to_numpy(), "survival": 1.0 - cif})


def cumulative_incidence_at(curve: pd.DataFrame, t, cause: int):
    """Values at times ``t`` of the step cumulative incidence of ``cause`` of an :func:`aalen_johansen` curve;
    0 before the first time."""
    out = 1.0 - survival_at(_incidence_as_survival(curve, cause), t)
    return float(out) if np.ndim(out) == 0 else out


def rmtl(curve: pd.DataFrame, tau: float, cause: int) -> float:
    """Restricted mean time lost to ``cause`` up to ``tau`` (Andersen 2013): the area under the step cumulative
    incidence of an :func:`aalen_johansen` curve from 0 to ``tau``."""
    return tau - rmst(_incidence_as_survival(curve, cause), tau)


def median_survival(curve: pd.DataFrame) -> float:
    """Median survival time: the first time at which the curve is at or below 0.5 (as lifelines'
    ``median_survival_time_``); NaN when the curve stays above 0.5."""
    below = curve["survival"].to_numpy() <= 0.5
    return float(curve["time"].to_numpy()[below.argmax()]) if below.any() else np.nan


def rmst(curve: pd.DataFrame, tau: float) -> float:
    """Restricted mean survival time: the area under the step survival curve from 0 to ``tau``."""
    times = curve["time"].to_numpy()
    surv = curve["survival"].to_numpy()
    keep = times < tau
    knots = np.r_[0.0, times[keep], tau]
    levels = np.r_[1.0, surv[keep]]
    return float(np.sum(levels * np.diff(knots)))


def rmst_variance(curve: pd.DataFrame, tau: float) -> float:
    """Variance of the Kaplan-Meier RMST up to ``tau`` (unweighted curve): the sum over event times t_j <= tau of
    A_j^2 d_j / (n_j (n_j - d_j)) with A_j = int_{t_j}^tau S(u) du, d_j events and n_j at risk (Greenwood-type,
    Klein, J. P. & Moeschberger, M. L. (2003). Survival analysis, 2nd ed., sec. 4.5; the delta-method variance
    of Royston, P. & Parmar, M. K. B. (2013), BMC Med Res Methodol 13:152). Terms with n_j = d_j (the curve
    drops to 0) are 0. With non-integer weights ``at_risk`` and ``events`` are not counts and this is not a
    valid variance."""
    curve = curve[curve["time"] <= tau]
    t, surv = curve["time"].to_numpy(), curve["survival"].to_numpy()
    after = np.cumsum((surv * np.diff(np.r_[t, tau]))[::-1])[::-1]   # A_j, S constant on [t_j, t_j+1)
    n, d = curve["at_risk"].to_numpy(), curve["events"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, after**2 * d / (n * (n - d)), 0.0)
    return float(terms.sum())


def rmst_difference(time, event, group, tau: float, alpha: float = 0.05) -> dict:
    """RMST difference up to ``tau`` between the Kaplan-Meier curves of group 1 and group 0 (1 minus 0), with its
    standard error (groups independent: square root of the sum of the :func:`rmst_variance`) and Wald 1 - alpha
    interval (Royston & Parmar 2013, "Restricted mean survival time: an alternative to the hazard ratio for the
    design and analysis of randomized trials with a time-to-event outcome", BMC Med Res Methodol 13:152).
    Returns a dict with ``estimate``, ``se``, ``lower``, ``upper``."""
    time, event, group = np.asarray(time), np.asarray(event), np.asarray(group)
    if not (time.shape == event.shape == group.shape):
        raise ValueError(f"time, event and group must have the same length, got {len(time)}, {len(event)} and "
                         f"{len(group)}")
    (r1, v1), (r0, v0) = ((rmst(c, tau), rmst_variance(c, tau))
                          for c in (kaplan_meier(time[group == g], event[group == g]) for g in (1, 0)))
    se = np.sqrt(v1 + v0)
    z = stats.norm.ppf(1 - alpha / 2)
    return {"estimate": r1 - r0, "se": float(se), "lower": r1 - r0 - z * se, "upper": r1 - r0 + z * se}
