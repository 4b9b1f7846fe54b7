"""Replication of the end analysis (survival, treatment effect) with each data source.

From each source's extracted variables a cohort is derived (:func:`cohort_from_source`): time from the
index date to the event date (event = 1) or to the end of follow-up, in years. On each cohort:
Kaplan-Meier median survival per arm and the difference in restricted mean survival time up to ``horizon``
between arms (:mod:`causalehr.survival`), Cox hazard ratio of treatment adjusted for covariates (lifelines:
Davidson-Pilon C (2019), "lifelines: survival analysis in Python", JOSS 4(40):1317), optionally the censored CATE / ATE of
strategy 1 (:func:`causalehr.cate.fit_cate`, or any callable). Intervals and the differences from the
reference come from a paired bootstrap over patients (the same resampled patients in every source).

With a competing event (``event`` coded 0 censored, 1 the event of interest, 2, 3, ... competing events such as
death), the quantities above are those of cause 1 with the competing events censored (cause-specific Cox hazard
ratio, net Kaplan-Meier), and the Aalen-Johansen cumulative incidence of cause 1 at ``horizon`` per arm and its
difference are added (:func:`causalehr.survival.aalen_johansen`; Aalen & Johansen 1978), the quantity that
answers for the real risk of the event when death competes, so that a source that misrecords deaths shows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from causalehr.survival import aalen_johansen, cumulative_incidence_at, kaplan_meier, median_survival, rmst

from .spec import nonconformant, validate_spec

DAYS_PER_YEAR = 365.25
QUANTITIES = ("km_median_treated", "km_median_control", "cox_hr", "rmst_diff")
COMPETING_QUANTITIES = ("aj_cif_treated", "aj_cif_control", "aj_cif_diff")  # added when event has codes >= 2


def cohort_from_source(
    table: pd.DataFrame, covariates: list[str], spec: pd.DataFrame | None = None, *, treatment: str = "treatment",
    event: str = "event", index_date: str = "index_date", event_date: str = "event_date", end_date: str = "end_date",
) -> tuple[pd.DataFrame, int]:
    """Analysis cohort (columns treatment, time, event, covariates; index kept) and the number of patients
    left out because a needed value is missing, nonconformant to ``spec`` (when given), or the time is not
    positive. ``event`` is 0/1, or 0 and causes 1, 2, ... with a competing event (kept as coded)."""
    needed = (treatment, event, index_date, event_date, end_date, *covariates)
    for col in needed:
        if col not in table.columns:
            raise ValueError(f"cohort_from_source: missing column '{col}'; available columns: {list(table.columns)}")
    if spec is not None:
        spec = validate_spec(spec)
        table = table.copy()
        for col in needed:
            if col in spec.index:
                table[col] = table[col].mask(nonconformant(table[col], spec.loc[col]))
    code = pd.to_numeric(table[event], errors="coerce")
    is_code = (code >= 0) & (code == code.round())
    has_event = (code >= 1) & is_code & table[event_date].notna()
    stop = table[event_date].where(has_event, table[end_date])
    time = (stop - table[index_date]).dt.days / DAYS_PER_YEAR
    out = pd.DataFrame({"treatment": table[treatment], "time": time,
                        "event": code.where(has_event, 0).fillna(0).astype(int)})
    out[covariates] = table[covariates]
    valid = out.notna().all(axis=1) & (out["time"] > 0) & out["treatment"].isin([0, 1]) & is_code
    valid &= table[event_date].notna() | (table[event] == 0)
    return out[valid].astype({"treatment": int}), int((~valid).sum())


def analysis_estimates(cohort: pd.DataFrame, covariates: list[str], horizon: float,
                       competing: bool | None = None) -> dict[str, float]:
    """KM median survival per arm, adjusted Cox hazard ratio of treatment, RMST difference at ``horizon``; with a
    competing event (codes >= 2) these of cause 1, competing events censored, and the Aalen-Johansen cumulative
    incidence of cause 1 at ``horizon`` per arm and its difference (treated minus control); ``competing``: add
    these (None: when the cohort has codes >= 2)."""
    est = {}
    area = {}
    competing = bool((cohort["event"] >= 2).any()) if competing is None else competing
    for arm, name in ((1, "treated"), (0, "control")):
        sub = cohort[cohort["treatment"] == arm]
        curve = kaplan_meier(sub["time"], sub["event"] == 1)
        est[f"km_median_{name}"] = median_survival(curve)
        area[arm] = rmst(curve, horizon)
        if competing:
            est[f"aj_cif_{name}"] = cumulative_incidence_at(aalen_johansen(sub["time"], sub["event"]), horizon, 1)
    if competing:
        est["aj_cif_diff"] = est["aj_cif_treated"] - est["aj_cif_control"]
    cohort = cohort.assign(event=(cohort["event"] == 1).astype(int))
    cox = CoxPHFitter().fit(cohort[["time", "event", "treatment", *covariates]], "time", "event")
    est["cox_hr"] = float(np.exp(cox.params_["treatment"]))
    est["rmst_diff"] = area[1] - area[0]
    return est


def replicate_analysis(
    cohorts: dict[str, pd.DataFrame], covariates: list[str], *, horizon: float, reference: str = "reference",
    n_boot: int = 200, alpha: float = 0.05, seed: int | np.random.SeedSequence = 0,
    extra: Callable[[pd.DataFrame], dict[str, float]] | None = None,
) -> pd.DataFrame:
    """Estimates per source with percentile-bootstrap intervals, and their differences from ``reference``.

    ``cohorts``: analysis cohorts by source (from :func:`cohort_from_source`, indexed by patient); ``extra``:
    optional callable adding quantities (e.g. :func:`cate_quantities`), bootstrapped like the others.
    Bootstrap samples draw patients from the union of the cohorts; a patient left out of a source's cohort
    is simply absent from that source's resample. When any source has a competing event (codes >= 2), every
    source gets the Aalen-Johansen quantities (:data:`COMPETING_QUANTITIES`).
    """
    if reference not in cohorts:
        raise ValueError(f"replicate_analysis: reference source '{reference}' not in {list(cohorts)}")

    competing = any(bool((c["event"] >= 2).any()) for c in cohorts.values())

    def estimate(cohort):
        out = analysis_estimates(cohort, covariates, horizon, competing)
        if extra is not None:
            out.update(extra(cohort))
        return out

    point = {s: estimate(c) for s, c in cohorts.items()}
    ids = np.unique(np.concatenate([c.index.to_numpy() for c in cohorts.values()]))
    rng = np.random.default_rng(seed)
    boots = {s: [] for s in cohorts}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            draw = pd.Index(rng.choice(ids, size=len(ids), replace=True))
            for s, c in cohorts.items():
                boots[s].append(estimate(c.loc[draw[draw.isin(c.index)]]))
    rows = []
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    ref_boot = pd.DataFrame(boots[reference])
    for s, c in cohorts.items():
        b = pd.DataFrame(boots[s])
        for name, value in point[s].items():
            lo, hi = _percentiles(b[name], q)
            dlo, dhi = _percentiles(b[name] - ref_boot[name], q) if s != reference else (0.0, 0.0)
            rows.append({"source": s, "quantity": name, "estimate": value, "lower": lo, "upper": hi,
                         "diff_vs_reference": value - point[reference][name], "diff_lower": dlo, "diff_upper": dhi,
                         "n": len(c)})
    return pd.DataFrame(rows)


def _percentiles(values: pd.Series, q) -> tuple[float, float]:
    """Percentile interval over the finite bootstrap values (e.g. a median not reached gives NaN)."""
    finite = values[np.isfinite(values)]
    return tuple(np.percentile(finite, q)) if len(finite) else (np.nan, np.nan)


def cate_quantities(covariates: list[str], horizon: float, **kwargs) -> Callable[[pd.DataFrame], dict[str, float]]:
    """Plug-in for ``replicate_analysis(extra=...)``: the ATE (RMST difference up to ``horizon``, mean of the
    AIPCW-AIPW scores) of the censored CATE of strategy 1, via :func:`causalehr.cate.fit_cate` (imported when
    called, so this module works without it); ``kwargs`` go to ``fit_cate``."""
    from causalehr.cate import fit_cate

    def quantities(cohort: pd.DataFrame) -> dict[str, float]:
        model = fit_cate(cohort, covariates, estimand="rmst", horizon=horizon, **kwargs)
        return {"cate_ate": model.ate_interval()[0]}

    return quantities
