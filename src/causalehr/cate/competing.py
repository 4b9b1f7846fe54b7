"""Competing-risks targets of strategy 1: the cumulative incidence of a cause k at tau and the restricted mean time
lost to it up to tau, their censoring-unbiased transformations, and the checks of competing-risks outcomes.

With T the time to the first event, J its cause (1..K) and tau the horizon, the targets are
f = 1{T <= tau, J = k} ("cif", E[f | x] = F_k(tau | x)) and f = (tau - T) 1{T <= tau, J = k} ("rmtl", the time
lost to cause k before tau, E[f | x] = int_0^tau F_k(t | x) dt; Andersen 2013). Both are known once the patient
has an event of any cause by tau or is followed up to tau, exactly as the all-cause targets, so the IPCW and
AIPCW transformations of :mod:`causalehr.cate.pseudo` apply with Q(u) = E[f | T > u, x] computed from the
cause-k cumulative incidence F_k and the event-free survival S:
    "cif":  Q(u) = (F_k(tau) - F_k(u)) / S(u),
    "rmtl": Q(u) = (int_u^tau F_k(t) dt - (tau - u) F_k(u)) / S(u),
(0 from tau on). The AIPCW transformation is then the augmented inverse-probability-of-censoring weighted outcome
of Bai, Tsiatis & O'Brien (2013) for the cumulative incidence, and the mean of its AIPW scores the AIPTW-AIPCW
estimator of the average effect of Ozenne et al. (2020, riskRegression's ``ate``), efficient when all nuisances
are consistent (the efficient influence function).

References
----------
Andersen, P. K. (2013). Decomposition of number of life years lost according to causes of death. Statistics in
Medicine 32, 5278-5285.
Bai, X., Tsiatis, A. A. & O'Brien, S. M. (2013). Doubly-robust estimators of treatment-specific survival
distributions in observational studies with stratified sampling. Biometrics 69, 830-839.
Ozenne, B. M. H., Scheike, T. H., Staerk, L. & Gerds, T. A. (2020). On the estimation of average treatment
effects with right-censored time to event outcome and competing risks. Biometrical Journal 62, 751-763.
"""

import numpy as np

from ..nuisance import check_competing_outcome
from .pseudo import augmented_pseudo_outcomes

COMPETING_ESTIMANDS = ("cif", "rmtl")


def _cif_bin_integrals(cif, grid, step):
    """Integral of F over each bin (g_{j-1}, g_j], j = 1..m, from F on the grid (n, m) with F(g_0 = 0) = 0."""
    full = np.concatenate([np.zeros((len(cif), 1)), cif], axis=1)
    height = full[:, :-1] if step else (full[:, 1:] + full[:, :-1]) / 2
    return height * np.diff(np.concatenate([[0.0], grid]))


def competing_functional(cif, grid, estimand, step=False):
    """E[f | x] from the cause-k cumulative incidence on the grid (n, m): F_k(tau) ("cif") or its integral up
    to tau ("rmtl"; trapezoid rule, or a left Riemann sum with ``step``)."""
    if estimand == "cif":
        return cif[:, -1].copy()
    return _cif_bin_integrals(cif, grid, step).sum(axis=1)


def competing_conditional_target(surv, cif, grid, estimand, step=False):
    """Q(g_j) = E[f | T > g_j, x] on the grid, shape (n, m), from S and F_k on the grid."""
    s = np.maximum(surv, 1e-12)
    if estimand == "cif":
        return np.clip((cif[:, -1:] - cif) / s, 0.0, 1.0)
    area = _cif_bin_integrals(cif, grid, step)[:, 1:]                   # bins 2..m
    tail = np.concatenate([np.cumsum(area[:, ::-1], axis=1)[:, ::-1], np.zeros((len(s), 1))], axis=1)
    return np.clip((tail - (grid[-1] - grid) * cif) / s, 0.0, grid[-1] - grid)


def competing_target(time, event, cause, horizon, estimand):
    """(f, observed): the target where it is known, and which patients have it (an event of any cause by tau,
    or follow-up to tau)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    any_before = (event != 0) & (time <= horizon)
    of_cause = (event == cause) & (time <= horizon)
    f = of_cause.astype(float) if estimand == "cif" else np.where(of_cause, horizon - time, 0.0)
    return f, any_before | (time >= horizon)


def competing_pseudo_outcomes(time, event, cause, surv, cif, cens, grid, estimand, step=False):
    """IPCW and AIPCW transformations of the cause-``cause`` target, per patient, from the event-free survival
    ``surv``, the cumulative incidence ``cif`` of the cause and the censoring survival ``cens`` of the patient's
    own arm, all (n, m) on ``grid``; returns :class:`causalehr.cate.pseudo.PseudoOutcomes` (see
    :func:`causalehr.cate.pseudo.censoring_pseudo_outcomes` for the formulas). With G == 1 the AIPCW outcome is
    the observed target of every uncensored patient."""
    f, observed = competing_target(time, event, cause, grid[-1], estimand)
    q = np.concatenate([competing_functional(cif, grid, estimand, step)[:, None],
                        competing_conditional_target(surv, cif, grid, estimand, step)], axis=1)
    return augmented_pseudo_outcomes(f, observed, time, q, cens, grid, step)


def check_competing_data(time, event, *, estimand, cause, causes, horizon, n):
    """Checked (time, event) of a competing-risks estimand: event codes among 0 and the declared ``causes``
    (None: every positive integer code), at least two causes, ``cause`` among them, with events before
    ``horizon`` (when given); ValueError naming the values otherwise."""
    time, event = check_competing_outcome(time, event, n)
    found = sorted(int(c) for c in np.unique(event[event != 0]))
    if causes is not None:
        declared = sorted(int(c) for c in causes)
        outside = ~np.isin(event, [0, *declared])
        if outside.any():
            raise ValueError(f"event has codes {sorted(int(c) for c in np.unique(event[outside]))} outside 0 "
                             f"(censored) and the declared causes {declared}: {int(outside.sum())} rows")
        found = declared
    if len(found) < 2:
        raise ValueError(f"estimand {estimand!r} is for competing risks but event has the single cause {found}; "
                         "with one cause use estimand 'surv' (F(tau) = 1 - S(tau)) or 'rmst' (time lost = tau - "
                         "RMST)")
    if cause not in found:
        raise ValueError(f"cause {cause!r} is not among the causes {found} of event")
    if horizon is not None:
        before = {c: int(((event == c) & (time <= horizon)).sum()) for c in found}
        if before[cause] == 0:
            raise ValueError(f"no events of cause {cause} at or before the horizon {float(horizon):g} (events of "
                             f"each cause by then: {before})")
        empty = [c for c, count in before.items() if count == 0]
        if empty:
            raise ValueError(f"no events of the competing cause(s) {empty} at or before the horizon "
                             f"{float(horizon):g} (events of each cause by then: {before}): declare only the causes "
                             "that occur by the horizon (``causes``), or use an all-cause estimand if one remains")
    return time, event


def competing_codes(event):
    """Sorted integer codes >= 2 in ``event`` (competing causes given to an all-cause analysis), as ints."""
    try:
        codes = np.asarray(event, dtype=float)
    except (TypeError, ValueError):                                     # text codes: left to the 0/1 check
        return []
    other = np.isfinite(codes) & (codes >= 2) & (codes == np.round(codes))
    return sorted(int(c) for c in np.unique(codes[other]))


def check_all_cause_event(event, estimand):
    """Refuse the event codes 2, 3, ... (competing causes) given to an all-cause estimand, with a message saying
    how to declare them; other non-0/1 codes are left to the 0/1 check."""
    found = competing_codes(event)
    if found:
        n = int(np.isin(np.asarray(event, dtype=float), found).sum())
        raise ValueError(f"event has the codes {found} ({n} rows) but estimand {estimand!r} is all-cause (event "
                         f"0/1): if they are competing causes, declare them, e.g. CensoredCATE(estimand='cif', "
                         f"cause=1, causes={[1, *found]}); otherwise recode event to 0/1")
