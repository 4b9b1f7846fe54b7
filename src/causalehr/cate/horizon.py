"""Proposing the horizon of a censored CATE: the largest time at which censoring positivity holds."""

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..nuisance import ArmSurvival, DiscreteTimeHazard, check_arms, check_covariates, check_survival_outcome


class HorizonProposal(NamedTuple):
    """Proposed horizon and the numbers behind it (see :func:`propose_horizon`)."""

    horizon: float
    table: pd.DataFrame


def propose_horizon(X, treatment, time, event, *, min_censoring_survival=0.05, share=0.95, censoring_model=None,
                    n_times=50, random_state=None):
    """The largest time at which censoring positivity holds in both arms.

    The censoring survival G(t- | x, a) of each patient (own arm) is estimated by ``censoring_model`` fitted per
    arm on the censorings (1 - event); at each candidate time t (quantiles of the event times, no later than
    the last observed time of either arm), the share of each arm's patients with G(t- | x, a) >=
    ``min_censoring_survival`` is computed. The proposal is the largest candidate time at which that share is
    at least ``share`` in both arms (and every earlier candidate time qualifies too): the IPCW weights
    1 / G of the AIPCW transformation (Tsiatis 2006; Cui et al. 2023) then stay below 1 / ``min_censoring_survival``
    for that share of patients. A horizon is part of the question asked; this helper says how far the data
    can answer it, with the same threshold as :class:`CensoredCATE`'s positivity report.

    Parameters
    ----------
    X : array-like of shape (n, p)
        Covariates.
    treatment : array-like of shape (n,)
        0/1 treatment.
    time : array-like of shape (n,)
        Follow-up time.
    event : array-like of shape (n,)
        1 for an event, 0 for a censoring.
    min_censoring_survival : float, default=0.05
        Threshold of G(t- | x, a).
    share : float, default=0.95
        Share of patients of each arm that must be above the threshold.
    censoring_model : survival model, default=None
        ``fit(X, time, event)`` / ``predict_survival(X, times)``; None: DiscreteTimeHazard with
        ``random_state``. Fitted on all patients (a diagnostic, not cross-fitted).
    n_times : int, default=50
        Number of candidate times.
    random_state : int, default=None
        Seed of the default censoring model.

    Returns
    -------
    HorizonProposal
        ``horizon`` (float; NaN when even the first candidate time fails) and ``table``: one row per candidate
        time with, per arm, the number still followed (``at_risk_0``, ``at_risk_1``), the share of patients
        with G(t-) above the threshold (``share_0``, ``share_1``) and the smallest G(t-) (``min_g_0``,
        ``min_g_1``), and ``ok`` (both shares reach ``share``).

    References
    ----------
    Cui, Y., Kosorok, M. R., Sverdrup, E., Wager, S. & Zhu, R. (2023). Estimating heterogeneous treatment
    effects with right-censored data via causal survival forests. JRSS B 85, 179-211.
    Tsiatis, A. A. (2006). Semiparametric Theory and Missing Data. Springer.

    Examples
    --------
    >>> from causalehr.cate import propose_horizon
    >>> from causalehr.simulate import simulate
    >>> cohort = simulate("csf1", 1000, seed=0)
    >>> d = cohort.data
    >>> proposal = propose_horizon(d[cohort.covariates], d["treatment"], d["time"], d["event"], random_state=0)
    >>> bool(proposal.horizon <= proposal.table["time"].max())
    True
    """
    X = check_covariates(X, allow_nan=False, name="X (covariates)")
    a = check_arms(treatment, len(X))
    time, event = check_survival_outcome(time, event, len(X))
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    last = min(time[a == arm].max() for arm in (0, 1))
    events = time[(event == 1) & (time <= last)]
    if len(events) == 0:
        raise ValueError(f"no events up to {last:g}, the last observed time of the shorter arm")
    times = np.unique(np.quantile(events, np.linspace(0, 1, n_times + 1)[1:]))
    model = DiscreteTimeHazard(horizon=last, random_state=random_state) if censoring_model is None \
        else censoring_model
    censoring = ArmSurvival(model).fit(X, a, time, 1 - event)
    # G(t-): the censoring survival just before t (censorings at t come after the events at t)
    before = np.nextafter(times, -np.inf)
    table = {"time": times}
    for arm in (0, 1):
        g = censoring.predict_survival(X[a == arm], arm, before)
        table[f"at_risk_{arm}"] = (time[a == arm][:, None] >= times).sum(axis=0)
        table[f"share_{arm}"] = (g >= min_censoring_survival).mean(axis=0)
        table[f"min_g_{arm}"] = g.min(axis=0)
    table = pd.DataFrame(table)
    table["ok"] = (table["share_0"] >= share) & (table["share_1"] >= share)
    first_fail = np.flatnonzero(~table["ok"].to_numpy())
    n_ok = first_fail[0] if len(first_fail) else len(table)
    return HorizonProposal(float(times[n_ok - 1]) if n_ok else np.nan, table)
