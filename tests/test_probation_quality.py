import json

import numpy as np
import pandas as pd
import pytest

from causalehr.probation import (
    acceptance,
    default_acceptance_rules,
    default_rules,
    rethreshold,
    run_quality_checks,
    suppress_small_cells,
    to_dqd_json,
    worst_status,
)

SPEC = pd.DataFrame({"variable": ["dx", "start", "stop", "hba1c", "event"],
                     "type": ["categorical", "date", "date", "numeric", "binary"],
                     "allowed": ["E11.9|I10", None, None, None, None], "format": [r"[A-Z][0-9]{2}(\.[0-9])?", None, None, None, None],
                     "min": [None, "2000-01-01", None, 3, None], "max": [None, "2030-12-31", None, 20, None]})


def tables():
    n = 20
    t = pd.DataFrame({
        "dx": ["E11.9"] * 16 + ["e119", "I10", None, "X99"],
        "start": pd.to_datetime(["2020-01-01"] * 18 + ["2099-01-01", None]),
        "stop": pd.to_datetime(["2021-01-01"] * 17 + ["2019-01-01", None, None]),
        "hba1c": [7.0] * 15 + [7000.0, np.nan, np.nan, np.nan, 8.0],
        "event": [1.0] * 5 + [0.0] * 14 + [9.0],
    }, index=pd.RangeIndex(n, name="patient_id"))
    return {"ai": t}


RULES = pd.DataFrame([
    ("C1", "conformance", "value", "value_set", "dx", 5.0, ""),
    ("C2", "conformance", "value", "format", "dx", 5.0, ""),
    ("K1", "completeness", "", "completeness", "hba1c", 10.0, ""),
    ("P1", "plausibility", "atemporal", "range", "hba1c", 10.0, ""),
    ("P2", "plausibility", "temporal", "date_order", "start", 10.0, "other=stop"),
    ("P3", "plausibility", "temporal", "range", "stop", 1.0, ""),
    ("E1", "conformance", "value", "value_set", "bmi", 1.0, ""),
    ("N1", "completeness", "", "required_if", "stop", 1.0, "if=never"),
    ("V1", "conformance", "value", "value_set", "event", 1.0, ""),
], columns=["rule_id", "category", "subcategory", "check", "variable", "threshold", "params"])


def test_counts_and_statuses_hand_computed():
    res = run_quality_checks(tables(), RULES, SPEC).set_index("rule_id")
    # dx: 19 present; "e119" and "X99" outside the value set (2/19 = 10.5% > 5%), only "e119" breaks the format
    assert (res.loc["C1", "num_violated"], res.loc["C1", "num_denominator"], res.loc["C1", "status"]) == (2, 19, "failed")
    assert (res.loc["C2", "num_violated"], res.loc["C2", "status"]) == (1, "failed")
    assert res.loc["C2", "pct_violated"] == pytest.approx(100 / 19)
    # hba1c: 3 of 20 missing (15% > 10%); 7000 out of [3, 20]: 1 of 17 (5.9% <= 10%)
    assert (res.loc["K1", "num_violated"], res.loc["K1", "status"]) == (3, "failed")
    assert (res.loc["P1", "num_violated"], res.loc["P1", "num_denominator"], res.loc["P1", "status"]) == (1, 17, "passed")
    # start after stop: only the row with stop 2019 (1 of 18 with both dates)
    assert (res.loc["P2", "num_violated"], res.loc["P2", "num_denominator"]) == (1, 18)
    assert res.loc["P3", "status"] == "not_applicable"  # no bounds declared for stop
    assert res.loc["E1", "status"] == "error" and "bmi" in res.loc["E1", "notes"]
    assert res.loc["N1", "status"] == "error"
    assert (res.loc["V1", "num_violated"], res.loc["V1", "status"]) == (1, "failed")


def test_rethreshold_without_recomputing_and_precedence():
    res = run_quality_checks(tables(), RULES, SPEC)
    loose = rethreshold(res, 50.0).set_index("rule_id")
    assert loose.loc["C1", "status"] == "passed" and loose.loc["E1", "status"] == "error"
    assert loose.loc["P3", "status"] == "not_applicable"
    one = rethreshold(res, {"P1": 1.0}).set_index("rule_id")
    assert one.loc["P1", "status"] == "failed" and one.loc["P1", "threshold"] == 1.0 and one.loc["C1", "threshold"] == 5.0
    with pytest.raises(ValueError, match=r"unknown rule_id\(s\) \['Z9'\]"):
        rethreshold(res, {"Z9": 1.0})
    assert worst_status(["passed", "failed", "not_applicable"]) == "not_applicable"
    assert worst_status(["passed", "error", "failed"]) == "error"
    assert worst_status(["passed", "failed"]) == "failed"


def test_dqd_json_and_small_count_suppression():
    res = run_quality_checks(tables(), RULES, SPEC)
    doc = json.loads(to_dqd_json(res, min_cell=10))
    assert doc["Overview"]["total"] == len(RULES)
    assert doc["Overview"]["error"] == 2 and doc["Overview"]["not_applicable"] == 1
    c1 = next(c for c in doc["CheckResults"] if c["ruleId"] == "C1")
    assert c1["numViolatedRows"] is None and c1["suppressed"] and c1["failed"]
    assert doc["Overview"]["worstStatusByVariable"]["ai:bmi"] == "error"
    assert json.loads(to_dqd_json(res, min_cell=1))["CheckResults"][0]["numViolatedRows"] == 2


def test_rule_table_errors_and_defaults():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['threshold'\]"):
        run_quality_checks(tables(), RULES.drop(columns="threshold"), SPEC)
    with pytest.raises(ValueError, match=r"duplicate rule_id\(s\) \['C1'\]"):
        run_quality_checks(tables(), pd.concat([RULES, RULES.iloc[[0]]]), SPEC)
    rules = default_rules(SPEC)
    assert set(rules["check"]) == {"completeness", "value_set", "format", "range"}
    assert rules["rule_id"].is_unique


def test_acceptance_matrix_with_reasons():
    metrics = pd.DataFrame({
        "source": "ai", "variable": ["a", "a", "b", "b", "c"], "type": "binary", "by": "overall", "stratum": "all",
        "metric": ["accuracy", "omission", "accuracy", "omission", "omission"],
        "estimate": [0.97, 0.01, 0.93, 0.01, np.nan], "lower": [0.96, 0.005, 0.91, 0.005, np.nan],
        "upper": [0.98, 0.02, 0.95, 0.02, np.nan], "se": 0.01, "count": 1.0, "n": 100.0})
    matrix, details = acceptance(metrics, default_acceptance_rules())
    m = matrix.set_index("variable")
    uses = ["monitoring", "research", "regulatory"]
    assert m.loc["a", uses].tolist() == ["pass", "pass", "pass"]
    assert m.loc["b", uses].tolist() == ["pass", "pass", "fail"]
    assert m.loc["b", "regulatory_reason"] == "accuracy lower 0.9100 not >= 0.95"
    assert m.loc["c", uses].tolist() == ["fail", "fail", "fail"]
    assert m.loc["c", "monitoring_reason"] == "omission upper: no estimate"
    assert len(details) == 2 * 3 + 2 * 3 + 3
    bad = default_acceptance_rules().assign(op="==")
    with pytest.raises(ValueError, match=r"unknown op\(s\) \['=='\]"):
        acceptance(metrics, bad)


def test_acceptance_says_not_assessable_for_a_suppressed_metric():
    # 3 nonconformant values of 1000: suppressed (count < 10), so the nonconformant requirement cannot be judged
    metrics = pd.DataFrame({
        "source": "ai", "variable": ["a", "a", "b", "b"], "type": "binary", "by": "overall", "stratum": "all",
        "metric": ["accuracy", "nonconformant"] * 2, "estimate": [0.97, 0.015, 0.85, 0.015],
        "lower": [0.96, 0.001, 0.78, 0.001], "upper": [0.98, 0.04, 0.90, 0.04], "se": 0.01,
        "count": [970.0, 3.0, 850.0, 3.0], "n": 1000.0})
    shown = suppress_small_cells(metrics, count_cols=("count",), min_cell=10)
    matrix, details = acceptance(shown, default_acceptance_rules())
    m = matrix.set_index("variable")
    assert m.loc["a", "monitoring"] == "not assessable"
    assert m.loc["a", "monitoring_reason"] == "nonconformant upper: suppressed (small cell), not assessable"
    assert m.loc["b", "monitoring"] == "fail"  # a failing requirement still fails the use
    assert m.loc["b", "monitoring_reason"] == ("accuracy lower 0.7800 not >= 0.8; "
                                               "nonconformant upper: suppressed (small cell), not assessable")
    assert set(details["status"]) == {"holds", "fails", "not assessable"}
