"""The records-to-trial study: performance over replications against hand-computed numbers, the estimators'
features, the simulator parameters taken from the specification, the published tables."""

import numpy as np
import pandas as pd
import pytest

from causalehr.cohort import Cohort, load_spec
from causalehr.studies import trial as study

ACTIVE = "config/trials/ehr_diabetes_active.yaml"
GRACE = "config/trials/ehr_diabetes_grace.yaml"


def cells(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.strip().splitlines()]


def estimates():
    rows = []
    for rep, (est, lo, hi, rmse) in enumerate([(1.0, 0.0, 2.0, 0.2), (2.0, 1.0, 3.0, 0.4), (4.0, 3.0, 5.0, 0.6)]):
        rows.append({"trial": "active", "method": "aipcw-dr", "estimate": est, "lower": lo, "upper": hi,
                     "truth": 1.5, "cate_rmse": rmse, "cate_pearson": 0.5, "replication": rep})
        rows.append({"trial": "active", "method": "naive KM", "estimate": 3.0 + rep, "lower": np.nan,
                     "upper": np.nan, "truth": 1.5, "cate_rmse": np.nan, "cate_pearson": np.nan, "replication": rep})
    return pd.DataFrame(rows)


def test_summarise_gives_the_hand_computed_performance():
    s = study.summarise(estimates()).set_index("method")
    dr = s.loc["aipcw-dr"]
    # errors -0.5, 0.5, 2.5: mean 5/6, sample variance 7/3
    assert dr["bias"] == pytest.approx(5 / 6)
    assert dr["bias_mcse"] == pytest.approx(np.sqrt(7 / 3 / 3))
    assert dr["coverage"] == pytest.approx(2 / 3)  # [3, 5] misses 1.5
    assert dr["coverage_mcse"] == pytest.approx(np.sqrt(2 / 3 * 1 / 3 / 3))
    assert dr["width"] == pytest.approx(2.0) and dr["width_mcse"] == pytest.approx(0.0)
    assert dr["cate_rmse"] == pytest.approx(0.4) and dr["cate_rmse_mcse"] == pytest.approx(0.2 / np.sqrt(3))
    assert dr["truth"] == 1.5 and dr["n_sim"] == 3
    naive = s.loc["naive KM"]
    assert naive["bias"] == pytest.approx(2.5) and np.isnan(naive["coverage"]) and np.isnan(naive["cate_rmse"])
    assert study.summarise(estimates().assign(truth=np.nan)).empty  # a user's warehouse: no truth


def test_estimates_table_and_values_quote_the_summary():
    e = estimates()
    summary = study.summarise(e)
    rows = cells(study.estimates_markdown(summary, e))
    assert rows[0] == ["Trial", "Method", "Truth", "Mean estimate", "Bias", "Coverage", "Width", "CATE RMSE",
                       "CATE correlation"]
    assert rows[2] == ["active", "aipcw-dr", "1.5", "2.33", "0.833 (0.882)", "0.667 (0.272)", "2 (0)",
                       "0.4 (0.115)", "0.5 (0)"]
    results = {"estimates": e,
               "attrition": pd.DataFrame({"kind": ["eligibility", "eligibility"], "criterion": ["persons", "age"],
                                          "n_patients": [120.0, 100.0], "trial": "active", "replication": 0}),
               "table_one": pd.DataFrame({"n_0": [40], "n_1": [60], "smd": [-0.31], "trial": "active",
                                          "replication": 0})}
    values = study.trial_values(results, summary, {"n": 100})["trial"]
    assert values["replications"] == 3 and values["n"] == 100
    active = values["active"]
    assert (active["persons"], active["eligible"], active["n_0"], active["n_1"]) == (120, 100, 40, 60)
    assert active["max_smd"] == "0.31" and active["truth"] == "1.5"
    assert active["aipcw-dr"] == {"estimate": "1", "lower": "0", "upper": "2", "mean": "2.33", "bias": "0.833",
                                  "bias_mcse": "0.882", "coverage": "0.667", "coverage_mcse": "0.272", "width": "2",
                                  "cate_rmse": "0.4", "cate_pearson": "0.5"}
    assert active["naive"] == {"estimate": "3", "mean": "4", "bias": "2.5", "bias_mcse": "0.577"}


def test_features_impute_the_median_encode_the_care_site_and_drop_constants():
    analysis = pd.DataFrame({"person_id": [1, 2, 3], "age": [50.0, 60.0, 70.0], "hba1c": [7.0, np.nan, 9.0],
                             "hba1c_missing": [0, 1, 0], "bmi_missing": [0, 0, 0], "centre": [1, 2, 3],
                             "treatment": [0, 1, 1]})
    cohort = Cohort(load_spec(ACTIVE), analysis, pd.DataFrame(), pd.DataFrame(),
                    ["age", "hba1c", "hba1c_missing", "bmi_missing", "centre"])
    X = study.features(cohort)
    assert list(X.columns) == ["age", "hba1c", "hba1c_missing", "centre_2", "centre_3"]
    assert X["hba1c"].tolist() == [7.0, 8.0, 9.0]
    assert X["centre_2"].tolist() == [0.0, 1.0, 0.0] and X["centre_3"].tolist() == [0.0, 0.0, 1.0]


def test_the_warehouse_simulator_takes_horizon_and_grace_from_the_specification():
    grace = study.synthetic_params(load_spec(GRACE), {"missingness": 0.0})
    assert grace == {"missingness": 0.0, "horizon": 1826 / 365.25, "grace": 183 / 365.25}
    assert study.synthetic_params(load_spec(ACTIVE)) == {"horizon": 1826 / 365.25}
    with pytest.raises(ValueError, match=r"^trial.warehouse.synthetic.params: \['grace'\] are set from the trial "):
        study.synthetic_params(load_spec(GRACE), {"grace": 1.0})
    assert study.arm_labels(GRACE) == ("sglt2 not started", "sglt2 started")
    assert study.arm_labels(ACTIVE) == ("dpp4", "sglt2")


def test_attrition_table_shows_suppressed_cells_and_data_quality_rows():
    attrition = pd.DataFrame({
        "kind": ["data quality", "data quality", "eligibility", "eligibility"],
        "criterion": ["death outside", "condition rows outside", "persons in the warehouse", "age 18 to 100"],
        "n_patients": [0.0, 40.0, 120.0, 115.0], "n_removed": [np.nan, np.nan, 0.0, np.nan],
        "n_rows": [0.0, 55.0, np.nan, np.nan], "trial": "active", "replication": 0})
    rows = cells(study.attrition_markdown(attrition))
    assert rows[0] == ["Trial", "Step", "Patients", "Removed", "Rows"]
    assert rows[2:] == [["active", "records: condition rows outside", "40", "-", "55"],  # not the row without finding
                        ["active", "persons in the warehouse", "120", "0", "-"],
                        ["active", "age 18 to 100", "115", "<min", "-"]]
