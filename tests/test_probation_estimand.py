"""Estimand-based acceptance and prediction-powered ATE against known errors and truths."""

import numpy as np
import pandas as pd
import pytest

from causalehr.probation import simulate_extraction
from causalehr.probation.estimand import (
    PlannedAnalysis,
    ate_scores,
    check_analyses,
    compare_verdicts,
    estimand_acceptance,
    induced_bias,
)
from causalehr.probation.ppi import ppi_rmst_ate
from causalehr.probation.replicate import cohort_from_source
from causalehr.probation.synthetic import default_spec, rmst_difference_truth

SPEC = default_spec()
SPEC = SPEC[SPEC["variable"].isin(["index_date", "age", "female", "treatment", "event", "event_date", "end_date"])]
RMST = PlannedAnalysis("rmst", "rmst_ate", 0.05, ["age", "female"], horizon=3.0)
COX = PlannedAnalysis("cox", "cox_log_hr", 0.1, ["age", "female"])


def test_variable_without_error_induces_exactly_zero_bias():
    data = simulate_extraction(300, SPEC, seed=3)
    ai = data.sources["ai"].assign(female=data.reference["female"])
    res = pd.concat([estimand_acceptance(data.reference, ai, SPEC, [RMST], variables=["female", "treatment"]),
                     estimand_acceptance(data.reference, ai, SPEC, [COX], variables=["female"], n_boot=10)])
    female = res[res["variable"] == "female"]
    assert female[["bias", "bias_lower", "bias_upper"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]] * 2
    assert female["verdict"].tolist() == ["accept", "accept"]
    assert (res.loc[res["variable"] == "treatment", "bias"] != 0).all()  # the AI treatment has errors


def test_planted_error_in_a_confounder_is_rejected():
    data = simulate_extraction(500, SPEC, seed=4)
    ai = data.reference.copy()
    ai["age"] = ai["age"] + 30 * ai["treatment"]  # treated patients recorded 30 years older
    res = estimand_acceptance(data.reference, ai, SPEC, [RMST, COX], variables=["age"], n_boot=20)
    assert res.set_index("analysis")["verdict"].to_dict() == {"rmst": "reject", "cox": "reject"}


def test_influence_interval_of_the_induced_bias_covers_its_population_value():
    big = simulate_extraction(30_000, SPEC, seed=99)
    truth = induced_bias(big.reference, big.sources["ai"], SPEC, RMST, "treatment")["bias"]
    data = simulate_extraction(6000, SPEC, seed=200)  # rows are independent: 20 disjoint validated subsets of 300
    covered = []
    for r in range(20):
        ids = data.reference.index[300 * r:300 * (r + 1)]
        row = induced_bias(data.reference.loc[ids], data.sources["ai"], SPEC, RMST, "treatment")
        covered.append(row["bias_lower"] <= truth <= row["bias_upper"])
    assert truth < -0.02  # 8% misclassified treatment attenuates the effect
    assert sum(covered) >= 16  # 95% intervals: at most 4 misses in 20 (P(<= 15 covered) = 0.016 if exact)


def test_fast_rmst_ate_recovers_the_true_effect():
    data = simulate_extraction(30_000, SPEC, seed=7)
    cohort, _ = cohort_from_source(data.reference, ["age", "female"], SPEC)
    scores = ate_scores(cohort, ["age", "female"], 3.0)
    se = scores.std() / np.sqrt(len(scores))
    assert abs(scores.mean() - rmst_difference_truth(3.0)) < 3 * se


def test_ppi_ate_rows_and_rectifier():
    data = simulate_extraction(1500, SPEC, seed=5)
    lab = data.reference.index[:300]
    res = ppi_rmst_ate(data.reference, data.sources["ai"], SPEC, labelled=lab, covariates=["age", "female"],
                       horizon=3.0, alphas=(0.1, 0.05))
    assert res["method"].tolist() == ["ppi", "classical", "naive_ai"] * 2
    assert res["nominal"].tolist() == [0.9] * 3 + [0.95] * 3
    w = (res["upper"] - res["lower"]).to_numpy()
    assert (w[3:] > w[:3]).all() and (res["lower"] <= res["estimate"]).all()
    # with the reference given as the AI source, PPI's rectifier is zero only if the predictions equal the labels:
    # here the AI source is the reference itself on everyone, so the PPI estimate lies between the two fits
    same = ppi_rmst_ate(data.reference, data.reference, SPEC, labelled=lab, covariates=["age", "female"],
                        horizon=3.0)
    assert same.loc[0, "n"] == 1500 and same.loc[1, "n"] == 300


def test_compare_verdicts_flags_disagreements():
    est = pd.DataFrame({"source": "ai", "variable": ["a", "b", "c", "d"],
                        "verdict": ["reject", "accept", "accept", "inconclusive"]})
    matrix = pd.DataFrame({"source": "ai", "variable": ["a", "b", "c", "d"],
                           "research": ["pass", "fail", "not assessable", "fail"]})
    out = compare_verdicts(est, matrix, "research")
    assert out["disagree"].tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match=r"use 'regulatory' not in the acceptance matrix; it has \['research'\]"):
        compare_verdicts(est, matrix, "regulatory")


def test_bad_planned_analyses_are_named():
    with pytest.raises(ValueError) as e:
        check_analyses([{"name": "hr", "kind": "cox_log_hr", "tolerance": 0.1, "covariates": ["age", "bmi"]}], SPEC)
    assert str(e.value) == ("planned analysis 'hr': variable(s) ['bmi'] not in the specification; it declares "
                            "['index_date', 'age', 'female', 'treatment', 'event', 'event_date', 'end_date']")
    with pytest.raises(ValueError, match=r"planned analysis 'x': unknown kind 'ols'; expected one of "
                                         r"\('rmst_ate', 'km_median', 'cox_log_hr'\)"):
        check_analyses([{"name": "x", "kind": "ols", "tolerance": 1}], SPEC)
    with pytest.raises(ValueError, match="planned analysis 'r': kind rmst_ate needs a horizon"):
        check_analyses([{"name": "r", "kind": "rmst_ate", "tolerance": 1}], SPEC)
