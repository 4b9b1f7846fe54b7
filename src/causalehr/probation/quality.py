"""Data-quality checks in the Kahn framework, declared as a rule table, with DQD-like JSON output.

Kahn MG et al. (2016). A harmonized data quality assessment terminology and framework for the secondary use
of electronic health record data. eGEMs 4(1):1244. Output in the spirit of the OHDSI Data Quality Dashboard
(Blacketer C et al. 2021, "Increasing trust in real-world evidence through evaluation of observational data
quality", JAMIA 28(10):2251-2257): per check, the number and percentage of violating rows, the denominator,
the threshold and a status.

A rule table has one row per check: ``rule_id``, ``category`` (conformance, completeness, plausibility),
``subcategory``, ``check``, ``variable``, ``threshold`` (largest acceptable percentage of violating rows) and
``params`` (``key=value`` pairs separated by ``;``). Checks:

* ``value_set``, ``format``, ``range``: the value breaks the specification (denominator: present values);
* ``completeness``: the value is missing (denominator: all rows);
* ``required_if``: missing although ``if``-variable equals 1 (denominator: rows with ``if`` == 1);
* ``date_order``: the date is after the date ``other`` (denominator: rows with both dates).

Status precedence: error (the check could not run, e.g. an unknown variable) > not_applicable (the check
does not apply to the variable's type or has an empty denominator) > failed (percentage above threshold) >
passed. Statuses are recomputed from the stored counts by :func:`rethreshold`, without touching the data.

The checks are vectorised pandas/numpy rather than pandera schemas because each rule needs its violation
count and denominator at 30 million values; pandera returns the failing rows themselves.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .spec import bounds, validate_spec, violations
from .suppress import DEFAULT_MIN_CELL

STATUS_PRECEDENCE = ("error", "not_applicable", "failed", "passed")
RULE_COLUMNS = ["rule_id", "category", "subcategory", "check", "variable", "threshold", "params"]
RESULT_COLUMNS = ["source", *RULE_COLUMNS, "num_violated", "num_denominator", "pct_violated", "status", "notes"]


def default_rules(spec: pd.DataFrame, *, completeness_threshold: float = 10.0,
                  conformance_threshold: float = 1.0, plausibility_threshold: float = 1.0) -> pd.DataFrame:
    """Rules implied by the specification: completeness of every variable, value set / format / range where
    declared; for the simulated cohort also event_date required if event, and index <= event <= end dates."""
    spec = validate_spec(spec)
    rows = []
    names = set(spec.index)
    conditional = {"event_date"} if {"event", "event_date"} <= names else set()
    for var in spec.index:
        row = spec.loc[var]
        if var not in conditional:
            rows.append(("completeness", "", "completeness", var, completeness_threshold, ""))
        if row["type"] == "binary" or isinstance(row["allowed"], str):
            rows.append(("conformance", "value", "value_set", var, conformance_threshold, ""))
        if isinstance(row["format"], str) and row["format"]:
            rows.append(("conformance", "value", "format", var, conformance_threshold, ""))
        if row["type"] in ("numeric", "date") and any(b is not None for b in bounds(row)):
            sub = "temporal" if row["type"] == "date" else "atemporal"
            rows.append(("plausibility", sub, "range", var, plausibility_threshold, ""))
    if conditional:
        rows.append(("completeness", "", "required_if", "event_date", conformance_threshold, "if=event"))
    for first, second in (("index_date", "event_date"), ("index_date", "end_date"), ("event_date", "end_date")):
        if {first, second} <= names:
            rows.append(("plausibility", "temporal", "date_order", first, plausibility_threshold, f"other={second}"))
    out = pd.DataFrame(rows, columns=RULE_COLUMNS[1:])
    out.insert(0, "rule_id", [f"R{i + 1:03d}" for i in range(len(out))])
    return out


def _params(text) -> dict:
    if not isinstance(text, str) or not text:
        return {}
    return dict(item.split("=", 1) for item in text.split(";"))


def _check(table, spec, rule):
    """(num_violated, num_denominator) of one rule; raises KeyError/ValueError on a rule that cannot run,
    returns None when the rule does not apply."""
    var, check, params = rule["variable"], rule["check"], _params(rule["params"])
    if var not in table.columns or var not in spec.index:
        raise KeyError(f"unknown variable '{var}'")
    x = table[var]
    present = x.notna().to_numpy()
    if check in ("value_set", "format", "range"):
        flags = violations(x, spec.loc[var])
        if check not in flags:
            return None
        return int(flags[check].sum()), int(present.sum())
    if check == "completeness":
        return int((~present).sum()), len(x)
    if check == "required_if":
        cond = params.get("if")
        if cond not in table.columns:
            raise KeyError(f"unknown variable '{cond}' in params")
        mask = (table[cond] == 1).to_numpy()
        return int((mask & ~present).sum()), int(mask.sum())
    if check == "date_order":
        other = params.get("other")
        if other not in table.columns:
            raise KeyError(f"unknown variable '{other}' in params")
        y = table[other]
        both = present & y.notna().to_numpy()
        return int((both & (x > y).to_numpy()).sum()), int(both.sum())
    raise ValueError(f"unknown check '{check}'")


def _status(num_violated, num_denominator, threshold):
    if num_denominator == 0:
        return "not_applicable", np.nan
    pct = 100.0 * num_violated / num_denominator
    return ("failed" if pct > threshold else "passed"), pct


def run_quality_checks(tables: dict[str, pd.DataFrame], rules: pd.DataFrame, spec: pd.DataFrame) -> pd.DataFrame:
    """Run every rule on every table (typed wide tables by source name); one row per source and rule."""
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise ValueError(f"rules: missing column(s) {missing}; available columns: {list(rules.columns)}")
    if rules["rule_id"].duplicated().any():
        raise ValueError(f"rules: duplicate rule_id(s) {sorted(rules.loc[rules['rule_id'].duplicated(), 'rule_id'])}")
    spec = validate_spec(spec)
    out = []
    for source, table in tables.items():
        for _, rule in rules.iterrows():
            row = {"source": source, **rule[RULE_COLUMNS].to_dict(), "notes": ""}
            try:
                counts = _check(table, spec, rule)
            except (KeyError, ValueError) as exc:
                out.append({**row, "num_violated": np.nan, "num_denominator": np.nan, "pct_violated": np.nan,
                            "status": "error", "notes": str(exc).strip("'\"")})
                continue
            if counts is None:
                out.append({**row, "num_violated": np.nan, "num_denominator": np.nan, "pct_violated": np.nan,
                            "status": "not_applicable", "notes": "check not declared for this variable"})
                continue
            status, pct = _status(*counts, float(rule["threshold"]))
            out.append({**row, "num_violated": counts[0], "num_denominator": counts[1], "pct_violated": pct,
                        "status": status})
    return pd.DataFrame(out, columns=RESULT_COLUMNS)


def rethreshold(results: pd.DataFrame, thresholds: dict[str, float] | float) -> pd.DataFrame:
    """New statuses for new thresholds (one for all, or per rule_id) from the stored counts; error and
    not-applicable results keep their status."""
    out = results.copy()
    if isinstance(thresholds, dict):
        unknown = sorted(set(thresholds) - set(out["rule_id"]))
        if unknown:
            raise ValueError(f"rethreshold: unknown rule_id(s) {unknown}")
        new = out["rule_id"].map(thresholds)
        out["threshold"] = new.fillna(out["threshold"])
    else:
        out["threshold"] = float(thresholds)
    ran = out["status"].isin(["failed", "passed"])
    out.loc[ran, "status"] = np.where(out.loc[ran, "pct_violated"] > out.loc[ran, "threshold"], "failed", "passed")
    return out


def worst_status(statuses) -> str:
    """The status of highest precedence (error > not_applicable > failed > passed)."""
    present = set(statuses)
    return next((s for s in STATUS_PRECEDENCE if s in present), "passed")


def to_dqd_json(results: pd.DataFrame, *, min_cell: int = DEFAULT_MIN_CELL) -> str:
    """DQD-like JSON: an ``Overview`` of counts per status and ``CheckResults``; violation counts between 1 and
    ``min_cell`` - 1 are suppressed (null, ``suppressed`` true)."""
    checks = []
    for _, r in results.iterrows():
        nv = r["num_violated"]
        small = pd.notna(nv) and 0 < nv < min_cell
        checks.append({
            "checkId": f"{r['source']}:{r['rule_id']}", "source": r["source"], "ruleId": r["rule_id"],
            "category": r["category"], "subcategory": r["subcategory"], "checkName": r["check"],
            "variable": r["variable"], "threshold": float(r["threshold"]),
            "numViolatedRows": None if small or pd.isna(nv) else int(nv),
            "pctViolatedRows": None if pd.isna(r["pct_violated"]) else float(r["pct_violated"]),
            "numDenominatorRows": None if pd.isna(r["num_denominator"]) else int(r["num_denominator"]),
            "isError": r["status"] == "error", "notApplicable": r["status"] == "not_applicable",
            "failed": r["status"] == "failed", "passed": r["status"] == "passed", "suppressed": bool(small),
            "notes": r["notes"],
        })
    counts = results["status"].value_counts()
    overview = {s: int(counts.get(s, 0)) for s in STATUS_PRECEDENCE}
    overview["total"] = len(results)
    by_var = results.groupby(["source", "variable"])["status"].agg(worst_status)
    overview["worstStatusByVariable"] = {f"{s}:{v}": st for (s, v), st in by_var.items()}
    return json.dumps({"Overview": overview, "CheckResults": checks}, indent=1)
