"""Acceptance of each variable of a source for each intended use (monitoring, research, regulatory support).

An acceptance-rule table has one row per requirement: ``use``, ``variable`` (a name, or ``*`` for every
variable that has the metric), ``metric`` (as in the agreement table), ``bound`` (``estimate``, ``lower`` or
``upper``: which end of the interval is judged), ``op`` (``>=`` or ``<=``) and ``threshold``. A variable
passes a use when all requirements that apply to it hold on the overall (unstratified) metrics. A requirement
whose metric was blanked by small-cell suppression (column ``suppressed`` of the metrics, from
:func:`causalehr.probation.suppress.suppress_small_cells`) cannot be judged: the variable is then "not assessable"
for that use (unless another requirement fails), with the reason; a requirement whose metric has no estimate for
another reason (no pair to compare) fails.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

RULE_COLUMNS = ["use", "variable", "metric", "bound", "op", "threshold"]
USES = ("monitoring", "research", "regulatory")
_OPS = {">=": operator.ge, "<=": operator.le}


def default_acceptance_rules() -> pd.DataFrame:
    """Illustrative requirements, stricter from monitoring to research to regulatory support."""
    levels = {"monitoring": (0.80, 0.20, 0.05, 0.10), "research": (0.90, 0.10, 0.02, 0.05),
              "regulatory": (0.95, 0.05, 0.01, 0.02)}
    rows = []
    for use, (acc, omit, bad, cer) in levels.items():
        rows += [(use, "*", m, "lower", ">=", acc) for m in ("accuracy", "sensitivity", "ppv", "within_k_days")]
        rows += [(use, "*", "omission", "upper", "<=", omit), (use, "*", "nonconformant", "upper", "<=", bad),
                 (use, "*", "gross_error", "upper", "<=", bad), (use, "*", "cer", "upper", "<=", cer)]
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def acceptance(metrics: pd.DataFrame, rules: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matrix, details): ``matrix`` has one row per source and variable and one column per use with
    "pass", "fail" or "not assessable"; ``details`` one row per source, variable, use and requirement with the
    value judged, its ``status`` ("holds", "fails", "not assessable"), whether it holds and the reason."""
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise ValueError(f"acceptance rules: missing column(s) {missing}; available columns: {list(rules.columns)}")
    bad_op = sorted(set(rules["op"]) - set(_OPS))
    if bad_op:
        raise ValueError(f"acceptance rules: unknown op(s) {bad_op}; expected one of {list(_OPS)}")
    bad_bound = sorted(set(rules["bound"]) - {"estimate", "lower", "upper"})
    if bad_bound:
        raise ValueError(f"acceptance rules: unknown bound(s) {bad_bound}; expected estimate, lower or upper")
    overall = metrics[metrics["by"] == "overall"]
    details = []
    for (source, var), m in overall.groupby(["source", "variable"], sort=False):
        by_metric = m.set_index("metric")
        blanked = by_metric["suppressed"].astype(bool) if "suppressed" in by_metric else None
        for _, rule in rules.iterrows():
            if rule["variable"] not in ("*", var) or rule["metric"] not in by_metric.index:
                continue
            value = by_metric.loc[rule["metric"], rule["bound"]]
            ok = bool(np.isfinite(value) and _OPS[rule["op"]](value, rule["threshold"]))
            status = "holds" if ok else "fails"
            if ok:
                reason = ""
            elif np.isfinite(value):
                reason = f"{rule['metric']} {rule['bound']} {value:.4f} not {rule['op']} {rule['threshold']}"
            elif blanked is not None and blanked.loc[rule["metric"]]:
                status = "not assessable"
                reason = f"{rule['metric']} {rule['bound']}: suppressed (small cell), not assessable"
            else:
                reason = f"{rule['metric']} {rule['bound']}: no estimate"
            details.append({"source": source, "variable": var, "use": rule["use"], "metric": rule["metric"],
                            "bound": rule["bound"], "op": rule["op"], "threshold": rule["threshold"],
                            "value": value, "status": status, "holds": ok, "reason": reason})
    details = pd.DataFrame(details, columns=["source", "variable", "use", "metric", "bound", "op", "threshold",
                                             "value", "status", "holds", "reason"])
    verdict = details.groupby(["source", "variable", "use"], sort=False)["status"].agg(_verdict)
    matrix = verdict.unstack("use").reset_index()
    matrix.columns.name = None
    reasons = details[~details["holds"]].groupby(["source", "variable", "use"], sort=False)["reason"].agg("; ".join)
    for use in rules["use"].unique():
        if use in matrix.columns:
            key = pd.MultiIndex.from_arrays([matrix["source"], matrix["variable"], [use] * len(matrix)])
            matrix[f"{use}_reason"] = reasons.reindex(key).fillna("").to_numpy()
    return matrix, details


def _verdict(status: pd.Series) -> str:
    """A failed requirement fails the use; otherwise one that cannot be judged makes it not assessable."""
    if (status == "fails").any():
        return "fail"
    return "not assessable" if (status == "not assessable").any() else "pass"
