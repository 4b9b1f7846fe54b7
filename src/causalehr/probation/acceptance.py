"""Acceptance of each variable of a source for each intended use (monitoring, research, regulatory support).

An acceptance-rule table has one row per requirement: ``use``, ``variable`` (a name, or ``*`` for every
variable that has the metric), ``metric`` (as in the agreement table), ``bound`` (``estimate``, ``lower`` or
``upper``: which end of the interval is judged), ``op`` (``>=`` or ``<=``) and ``threshold``. A variable
passes a use when all requirements that apply to it hold on the overall (unstratified) metrics; a
requirement whose metric has no estimate (e.g. suppressed) fails.
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
    "pass"/"fail"; ``details`` one row per source, variable, use and requirement with the value judged,
    whether it holds and the reason."""
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
        for _, rule in rules.iterrows():
            if rule["variable"] not in ("*", var) or rule["metric"] not in by_metric.index:
                continue
            value = by_metric.loc[rule["metric"], rule["bound"]]
            ok = bool(np.isfinite(value) and _OPS[rule["op"]](value, rule["threshold"]))
            reason = "" if ok else (f"{rule['metric']} {rule['bound']}: no estimate" if not np.isfinite(value) else
                                    f"{rule['metric']} {rule['bound']} {value:.4f} not {rule['op']} {rule['threshold']}")
            details.append({"source": source, "variable": var, "use": rule["use"], "metric": rule["metric"],
                            "bound": rule["bound"], "op": rule["op"], "threshold": rule["threshold"],
                            "value": value, "holds": ok, "reason": reason})
    details = pd.DataFrame(details, columns=["source", "variable", "use", "metric", "bound", "op", "threshold",
                                             "value", "holds", "reason"])
    verdict = details.groupby(["source", "variable", "use"], sort=False)["holds"].all().map({True: "pass", False: "fail"})
    matrix = verdict.unstack("use").reset_index()
    matrix.columns.name = None
    reasons = details[~details["holds"]].groupby(["source", "variable", "use"], sort=False)["reason"].agg("; ".join)
    for use in rules["use"].unique():
        if use in matrix.columns:
            key = pd.MultiIndex.from_arrays([matrix["source"], matrix["variable"], [use] * len(matrix)])
            matrix[f"{use}_reason"] = reasons.reindex(key).fillna("").to_numpy()
    return matrix, details
