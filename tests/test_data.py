"""validate_cohort error messages and data_dictionary."""

import re

import numpy as np
import pandas as pd
import pytest

from causalehr.data import data_dictionary, validate_cohort


@pytest.fixture
def cohort():
    return pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "age": [60.0, 70.0, np.nan, 55.0],
            "sex": [0, 1, 1, 0],
            "treatment": [0, 1, 1, 0],
            "time": [1.0, 2.5, 0.5, 3.0],
            "event": [1, 0, 1, 0],
        }
    )


def test_valid_cohort_passes(cohort):
    assert validate_cohort(cohort, ["age", "sex"]) is None


def test_missing_column_lists_available(cohort):
    msg = "missing column(s) ['bmi']; available columns: ['patient_id', 'age', 'sex', 'treatment', 'time', 'event']"
    with pytest.raises(ValueError, match=re.escape(msg)):
        validate_cohort(cohort, ["age", "bmi"])


def test_nan_covariate_refused_when_not_allowed(cohort):
    with pytest.raises(ValueError, match=re.escape("covariate 'age' has 1 missing values (NaN) but allow_nan_covariates=False")):
        validate_cohort(cohort, ["age"], allow_nan_covariates=False)


def test_non_numeric_covariate(cohort):
    cohort["sex"] = ["f", "m", "m", "f"]
    with pytest.raises(ValueError, match=re.escape("covariate 'sex' must be numeric, got dtype object")):
        validate_cohort(cohort, ["sex"])


def test_negative_and_missing_times(cohort):
    bad = cohort.assign(time=[-1.0, -2.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=re.escape("column 'time' has 2 negative values; follow-up times must be >= 0")):
        validate_cohort(bad, ["sex"])
    bad = cohort.assign(time=[np.nan, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=re.escape("column 'time' has 1 missing values; every patient needs a follow-up time")):
        validate_cohort(bad, ["sex"])


def test_event_and_treatment_not_binary(cohort):
    bad = cohort.assign(event=[1, 2, 2, 0])
    with pytest.raises(ValueError, match=re.escape(
            "column 'event' has the codes [2] (2 rows) besides 0/1: if they are competing causes, declare them with "
            "a competing-risks estimand, e.g. fit_cate(..., estimand='cif', cause=1, causes=[1, 2]); otherwise "
            "recode the column to 0/1")):
        validate_cohort(bad, ["sex"])
    validate_cohort(bad, ["sex"], competing=True)                       # 0 and causes 1, 2
    bad = cohort.assign(event=[1, 0.5, 0.5, 0])
    with pytest.raises(ValueError, match=re.escape("column 'event' must be 0/1; 2 rows have other values (e.g. 0.5)")):
        validate_cohort(bad, ["sex"])
    bad = cohort.assign(treatment=[0.0, 0.5, 1.0, np.nan])
    with pytest.raises(ValueError, match=re.escape("column 'treatment' must be 0/1; 2 rows have other values (e.g. 0.5, nan)")):
        validate_cohort(bad, ["sex"])


def test_no_events(cohort):
    with pytest.raises(ValueError, match=re.escape("column 'event' has no events (all 4 rows are 0); at least one event is needed")):
        validate_cohort(cohort.assign(event=0), ["sex"])


def test_custom_column_names(cohort):
    renamed = cohort.rename(columns={"time": "fu", "event": "dead", "treatment": "sglt2"})
    validate_cohort(renamed, ["sex"], treatment="sglt2", time="fu", event="dead")
    with pytest.raises(ValueError, match=re.escape("missing column(s) ['time']")):
        validate_cohort(renamed, ["sex"], treatment="sglt2", event="dead")


def test_data_dictionary(cohort):
    d = data_dictionary(cohort, {"age": ("years", "age at baseline")})
    assert list(d.columns) == ["column", "type", "unit", "meaning", "n_missing"]
    assert list(d["column"]) == list(cohort.columns)
    row = d.set_index("column").loc["age"]
    assert (row["unit"], row["meaning"], row["n_missing"], row["type"]) == ("years", "age at baseline", 1, "float64")
    assert d.set_index("column").loc["event", "unit"] == "0/1"
