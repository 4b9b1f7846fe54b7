import json

import pandas as pd
import pytest

from causalehr.probation import probation_report, run_probation, simulate_extraction
from causalehr.probation.__main__ import main


@pytest.fixture(scope="module")
def results():
    data = simulate_extraction(1500, seed=9)
    return data, run_probation(data, covariates=["age", "female"], n_boot=10, min_cell=100)


def test_run_probation_tables_are_suppressed(results):
    data, res = results
    assert {"agreement", "heterogeneity", "quality", "acceptance", "selective", "risk_coverage", "replication",
            "ppi"} <= set(res)
    m = res["agreement"]
    small = m["suppressed"] & m["estimate"].isna()
    assert small.any()  # min_cell=100 blanks the small strata
    assert not (m["n"] < 100).any()
    assert not ((m["count"] > 0) & (m["count"] < 100)).any()
    q = res["quality"]
    assert not ((q["num_violated"] > 0) & (q["num_violated"] < 100)).any() and q["threshold"].notna().all()
    rc = res["risk_coverage"]
    assert not (rc["n_accepted"] < 100).any()
    for t in res.values():
        assert "patient_id" not in t.columns and not t.columns.isin(data.spec["variable"]).any()


def test_report_files(results, tmp_path):
    _, res = results
    path = probation_report(res, tmp_path, min_cell=100)
    page = path.read_text()
    assert page.count("<img") >= 3 and "Acceptance by intended use" in page
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["min_cell"] == 100 and "quality_dqd" in doc["tables"]
    back = pd.read_parquet(tmp_path / "tables" / "agreement.parquet")
    assert len(back) == len(res["agreement"])


def test_command_line_on_user_tables(tmp_path, capsys):
    src = tmp_path / "in"
    assert main(["simulate", "--n", "600", "--seed", "1", "--out", str(src)]) == 0
    args = ["run", "--spec", str(src / "spec.csv"), "--reference", str(src / "reference.csv"),
            "--source", f"ai={src / 'ai.csv'}", "--confidence", f"ai={src / 'ai_confidence.csv'}",
            "--strata", "centre,subgroup", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert (tmp_path / "out" / "report.html").exists() and (tmp_path / "out" / "tables" / "quality.parquet").exists()
    # a table with duplicate keys is refused with a clear message
    ai = pd.read_csv(src / "ai.csv")
    pd.concat([ai, ai.iloc[[0, 1]]]).to_csv(src / "ai_dup.csv", index=False)
    bad = [a.replace("ai.csv", "ai_dup.csv") if a.startswith("ai=") and a.endswith("ai.csv") else a for a in args]
    assert main(bad) == 2
    assert "ai: 2 duplicate key(s) in column 'patient_id'" in capsys.readouterr().err


def test_cate_plugin_calls_strategy_1(monkeypatch):
    import causalehr.cate
    from causalehr.probation import cate_estimator, cate_quantities

    calls = []

    class Fitted:
        def ate_interval(self):
            return 0.25, 0.1, 0.4

        def effect(self, X):
            return X[:, 0] * 0.01

    def fake_fit_cate(df, covariates, **kwargs):
        calls.append((len(df), list(covariates), kwargs))
        return Fitted()

    monkeypatch.setattr(causalehr.cate, "fit_cate", fake_fit_cate)
    cohort = pd.DataFrame({"treatment": [0, 1, 1], "time": [1.0, 2, 3], "event": [1, 0, 1], "age": [50.0, 60, 70]})
    assert cate_quantities(["age"], 3.0, n_folds=2)(cohort) == {"cate_ate": 0.25}
    ate, cate = cate_estimator(["age"], 3.0)(cohort)
    assert ate == 0.25 and cate.tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert calls[0] == (3, ["age"], {"estimand": "rmst", "horizon": 3.0, "n_folds": 2})
