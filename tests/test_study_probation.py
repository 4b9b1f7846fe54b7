import numpy as np
import pandas as pd
import pytest

from causalehr.probation import run_probation, simulate_extraction
from causalehr.studies import probation as px


def _metrics():
    rows = [
        # source, variable, type, by, stratum, metric, estimate, lower, upper, suppressed
        ("ai", "smoker", "binary", "overall", "all", "ac1", 0.9, 0.85, 0.95, False),
        ("ai", "smoker", "binary", "overall", "all", "omission", 0.05, 0.04, 0.06, False),
        ("ai", "smoker", "binary", "overall", "all", "accuracy", 0.7, 0.6, 0.8, False),
        ("ai", "smoker", "binary", "centre", "1", "ac1", 0.1, 0.0, 0.2, False),
        ("manual", "smoker", "binary", "overall", "all", "ac1", np.nan, np.nan, np.nan, True),
        ("manual", "smoker", "binary", "overall", "all", "omission", 0.0123456, 0.01, 0.02, False),
        ("ai", "end_date", "date", "overall", "all", "within_k_days", 0.97, 0.96, 0.98, False),
        ("ai", "end_date", "date", "overall", "all", "omission", 0.01, 0.005, 0.02, False),
    ]
    cols = ["source", "variable", "type", "by", "stratum", "metric", "estimate", "lower", "upper", "suppressed"]
    return pd.DataFrame(rows, columns=cols)


def test_headline_agreement_keeps_overall_headline_and_omission():
    h = px.headline_agreement(_metrics())
    assert set(h["metric"]) == {"ac1", "omission", "within_k_days"}
    assert (h["by"] == "overall").all() and len(h) == 6


def test_agreement_table_cells():
    lines = px.agreement_table(_metrics()).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["variable", "metric", "ai: agreement", "ai: omission", "manual: agreement", "manual: omission"]
    smoker = [c.strip() for c in lines[2].strip("|").split("|")]
    assert smoker == ["smoker", "Gwet's AC1", "0.9 (0.85, 0.95)", "0.05 (0.04, 0.06)", "suppressed",
                      "0.0123 (0.01, 0.02)"]
    end = [c.strip() for c in lines[3].strip("|").split("|")]
    assert end[:4] == ["end_date", "share within k days", "0.97 (0.96, 0.98)", "0.01 (0.005, 0.02)"]
    assert end[4:] == ["", ""]  # no manual rows for this variable


def test_agreement_table_names_missing_column():
    with pytest.raises(ValueError, match=r"agreement: missing column\(s\) \['type'\]"):
        px.agreement_table(_metrics().drop(columns="type"))


def test_acceptance_table_orders_sources_then_uses():
    matrix = pd.DataFrame({"source": ["manual", "manual", "ai", "ai"], "variable": ["a", "b", "a", "b"],
                           "monitoring": ["pass", "pass", "pass", "fail"], "research": ["pass", "fail", "fail", "fail"],
                           "monitoring_reason": ["", "", "", "x"], "research_reason": ["", "y", "z", "w"]})
    lines = px.acceptance_table(matrix).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "variable", "manual: monitoring", "manual: research", "ai: monitoring", "ai: research"]
    assert [c.strip() for c in lines[3].strip("|").split("|")] == ["b", "pass", "fail", "fail", "fail"]


def test_replication_table_marks_not_estimable_and_counts():
    rep = pd.DataFrame({"source": ["reference", "reference", "ai", "ai"],
                        "quantity": ["km_median_treated", "cox_hr"] * 2,
                        "estimate": [np.nan, 0.5, 4.0, 0.61234], "lower": [np.nan, 0.4, 3.0, 0.5],
                        "upper": [np.nan, 0.6, 5.0, 0.7], "n": [2000, 2000, 1684, 1684], "suppressed": False})
    lines = px.replication_table(rep).splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert rows == [["km_median_treated", "n.e.", "4 (3, 5)"], ["cox_hr", "0.5 (0.4, 0.6)", "0.612 (0.5, 0.7)"],
                    ["patients analysed", "2000", "1684"]]


def test_not_assessable_counts_pairs_per_source():
    matrix = pd.DataFrame({"source": ["ai", "ai", "manual"], "variable": ["a", "b", "a"],
                           "research": ["not assessable", "fail", "pass"],
                           "monitoring": ["not assessable", "not assessable", "pass"],
                           "research_reason": ["x", "y", ""]})
    assert px.not_assessable(matrix).to_dict() == {"ai": 3, "manual": 0}


def test_coverage_mcse_hand_value():
    assert px.coverage_mcse(0.95, 50) == pytest.approx(np.sqrt(0.95 * 0.05 / 50))
    np.testing.assert_allclose(px.coverage_mcse([1.0, 0.5], [10, 4]), [0.0, 0.25])


def _ppi_cov():
    return pd.DataFrame({"estimand": ["prevalence"] * 3, "method": ["classical", "naive_ai", "ppi"],
                         "coverage": [0.96, 0.2, 0.94], "mean_width": [0.1, 0.02, 0.07],
                         "bias": [0.001, 0.03, -0.002], "n_reps": 50, "nominal": 0.95})


def test_ppi_coverage_table():
    lines = px.ppi_coverage_table(_ppi_cov()).splitlines()
    naive = [c.strip() for c in lines[3].strip("|").split("|")]
    assert naive == ["prevalence", "naive_ai", "0.2 (0.0566)", "0.95", "0.02", "0.03"]


def _metric_cov():
    return pd.DataFrame({"by": ["overall"] * 3 + ["centre"] * 2, "coverage": [0.96, 0.9, 0.8, 1.0, 0.88],
                         "n_reps": 50})


def test_metric_coverage_summary_hand_values():
    s = px.metric_coverage_summary(_metric_cov(), 0.95).set_index("by")
    # 2 MC SE at 0.95 with 50 reps = 0.0616: 0.9 and 0.96 are fine, 0.8 and 0.88 are not
    assert s.loc["overall", "cells"] == 3 and s.loc["overall", "median"] == pytest.approx(0.9)
    assert s.loc["overall", "minimum"] == pytest.approx(0.8)
    assert s.loc["overall", "share_ok"] == pytest.approx(2 / 3) and s.loc["centre", "share_ok"] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def run():
    data = simulate_extraction(800, seed=3)
    return {m: run_probation(data, covariates=["age"], n_boot=5, n_labelled=100, min_cell=m, seed=4)
            for m in (10, 500)}


def test_min_cell_drives_suppression_of_paper_tables(run):
    counts = {}
    for m, res in run.items():
        h = px.headline_agreement(res["agreement"])
        assert not (h.loc[~h["suppressed"], "n"] < m).any()
        counts[m] = px.agreement_table(res["agreement"]).count("suppressed")
        assert counts[m] == h["suppressed"].sum()
    # with min_cell=500 every omission cell (fewer than 500 omitted values in 800 patients) is blanked
    h = px.headline_agreement(run[500]["agreement"])
    assert h.loc[h["metric"] == "omission", "suppressed"].all()
    assert counts[500] > counts[10]


def test_values_and_figures_from_a_run(run):
    res = run[10]
    metric_cov, ppi_cov = _metric_cov(), _ppi_cov()
    v = px.probation_values(res, metric_cov, ppi_cov, n=800, n_labelled=100, reps=50, nominal_metrics=0.95,
                            target_accuracy=0.95, min_cell=10)["probation"]
    acc = res["acceptance"]
    assert v["accepted"]["ai"]["research"] == str(int((acc.loc[acc["source"] == "ai", "research"] == "pass").sum()))
    assert v["ppi_coverage"]["prevalence"]["naive_ai"] == {"coverage": "0.2", "width": "0.02"}
    assert v["metric_coverage"]["overall"]["share_ok"] == "66.7"
    hr = res["replication"].set_index(["source", "quantity"]).loc[("ai", "cox_hr"), "estimate"]
    assert v["replication"]["ai"]["cox_hr"] == f"{hr:.3g}"
    fig = px.plot_risk_coverage(res["risk_coverage"], res["selective"], 0.95)
    markers = [line for line in fig.axes[0].lines if line.get_marker() == "o"]
    np.testing.assert_allclose(sorted(m.get_xdata()[0] for m in markers), sorted(res["selective"]["coverage"].dropna()))
    assert len(px.plot_agreement(res["agreement"]).axes) == 4  # AC1, within k days, mean difference, CER
    assert len(px.plot_coverage(metric_cov, ppi_cov, 0.95).axes) == 2


def test_estimand_table_shows_both_verdicts_and_marks_disagreements():
    from causalehr.studies import probation_omop as po

    est = pd.DataFrame({"source": "ai", "analysis": ["rmst", "rmst", "cox"], "variable": ["a", "b", "a"],
                        "bias": [0.01, 0.2, np.nan], "bias_lower": [-0.01, 0.1, np.nan],
                        "bias_upper": [0.03, 0.3, np.nan], "verdict": ["accept", "reject", "not estimable"],
                        "disagree": [True, False, False], "tolerance": [0.05, 0.05, 0.1],
                        "metric_verdict": ["fail", "fail", "fail"]})
    lines = po.estimand_table(est).splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert lines[0].split("|")[3].strip() == "rmst (tolerance 0.05)"
    assert rows == [["a", "fail", "0.01 (-0.01, 0.03): accept !", "n.e.: not estimable"],
                    ["b", "fail", "0.2 (0.1, 0.3): reject", "not used"]]
