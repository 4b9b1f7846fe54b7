"""Naive comparisons that CCW is meant to replace, reported beside it.

- "ever_vs_never": patients who started treatment at any time during follow-up versus those who never did, both
  followed from eligibility (time 0). The treated must survive until they start (immortal time), so this analysis
  favours treatment (Suissa, S. (2008). Immortal time bias in pharmaco-epidemiology. Am J Epidemiol 167, 492-499).
- "baseline": patients treated at baseline (start <= ``baseline_window``) versus all others, whoever starts later
  counted as untreated; it compares a different question and misclassifies later starters.
Crude (unadjusted) Kaplan-Meier per group, like the naive analyses in Maringe et al. (2020).
"""

import numpy as np
import pandas as pd

from causalehr.survival import kaplan_meier, rmst, survival_at

from .estimator import check_ccw_input


def naive_comparisons(df, *, horizon, horizon_surv=None, baseline_window=0.0, treatment_start="treatment_start",
                      time="time", event="event"):
    """RMST up to ``horizon`` and survival at ``horizon_surv`` (default horizon) per group, and treated minus
    untreated, for both naive comparisons. Columns: comparison, estimand, horizon, n_treated, n_untreated,
    treated, untreated, difference. A comparison with an empty group has NaN estimates."""
    missing = [c for c in (treatment_start, time, event) if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not found; available columns: {list(df.columns)}")
    horizon_surv = horizon if horizon_surv is None else horizon_surv
    _, s, t, d = check_ccw_input(np.empty((len(df), 0)), df[treatment_start], df[time], df[event], grace=None,
                                 horizon=horizon, names={"treatment_start": treatment_start, "time": time,
                                                         "event": event})
    groups = {"ever_vs_never": ~np.isnan(s), "baseline": np.nan_to_num(s, nan=np.inf) <= baseline_window}
    out = []
    for name, treated in groups.items():
        values = {}
        for arm, mask in (("treated", treated), ("untreated", ~treated)):
            if mask.any():
                curve = kaplan_meier(t[mask], d[mask])
                values[arm] = rmst(curve, horizon), survival_at(curve, horizon_surv)
            else:
                values[arm] = np.nan, np.nan
        for k, (estimand, h) in enumerate((("rmst", horizon), ("surv", horizon_surv))):
            out.append({"comparison": name, "estimand": estimand, "horizon": h, "n_treated": int(treated.sum()),
                        "n_untreated": int((~treated).sum()), "treated": values["treated"][k],
                        "untreated": values["untreated"][k],
                        "difference": values["treated"][k] - values["untreated"][k]})
    return pd.DataFrame(out)
