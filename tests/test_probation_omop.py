"""Probation on versions of OMOP tables: extraction by concept sets and date fields, matching, bad input."""

import numpy as np
import pandas as pd
import pytest

from causalehr.probation.estimand import estimand_acceptance
from causalehr.probation.omop import (
    extract_variables,
    match_versions,
    omop_probation_data,
    omop_variables,
    read_version,
    simulate_omop_versions,
    synthetic_variables,
    write_version,
)


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    return simulate_omop_versions(300, 3, tmp_path_factory.mktemp("omop"))


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    return ((a == b) | (a.isna() & b.isna())).to_numpy()


def test_reference_round_trip_and_planted_errors_are_carried(versions):
    tables, planted = versions
    variables = omop_variables(synthetic_variables())
    ref = extract_variables(read_version(tables["reference"]), variables, "reference")
    assert len(ref) == 300 and ref["index_date"].notna().all()
    back = extract_variables(write_version(ref, variables), variables, "copy")
    for var in ref.columns:  # writing the variables as OMOP rows and extracting them again changes nothing
        close = (ref[var] - back[var]).abs() < 1e-6 if var == "age" else _same(ref[var], back[var])
        assert np.all(close | (ref[var].isna() & back[var].isna())), var
    ai = extract_variables(tables["ai"], variables, "ai")
    planted_ai = planted[planted["version"] == "ai"].drop(columns="version")
    for var in ("diagnosis_date", "end_date", "hba1c"):  # errors of independent variables arrive as planted
        assert _same(ai[var], planted_ai[var]).all(), var
        assert not _same(ai[var], ref[var]).all(), var


def test_probation_data_feeds_the_metrics_and_the_estimand(versions):
    from causalehr.probation import acceptance, agreement, default_acceptance_rules

    data, overlap = omop_probation_data(versions[0], synthetic_variables())
    assert overlap["share"].tolist() == [1.0, 1.0, 1.0]
    metrics = agreement(data.reference, data.sources["ai"], data.spec, source="ai")
    matrix, _ = acceptance(metrics, default_acceptance_rules())
    assert set(matrix["variable"]) == set(synthetic_variables()["variable"])
    res = estimand_acceptance(data.reference, data.sources["ai"], data.spec,
                              [{"name": "hr", "kind": "cox_log_hr", "tolerance": 0.2, "covariates": ["age", "female"]}],
                              variables=["female"], n_boot=5)
    assert res["variable"].tolist() == ["female"] and res["n_reference"].iloc[0] > 250


def test_versions_with_different_person_sets_stop_below_the_threshold():
    ref = pd.DataFrame({"x": range(10)}, index=pd.Index(range(10), name="patient_id"))
    ai = ref.iloc[:8]
    matched, overlap = match_versions({"reference": ref, "ai": ai}, min_overlap=0.8)
    assert overlap["reference_persons_found"].tolist() == [10, 8] and len(matched["reference"]) == 8
    with pytest.raises(ValueError) as e:
        match_versions({"reference": ref, "ai": ai}, min_overlap=0.9)
    assert str(e.value) == ("person sets differ: version 'ai' has 8 of the 10 persons of 'reference' (80.0%); "
                            "below min_overlap 0.9")


def test_concept_set_matching_nothing_in_one_version_is_named(versions):
    variables = omop_variables(synthetic_variables())
    tables = read_version(versions[0]["reference"])
    tables["measurement"] = tables["measurement"].iloc[:0]
    with pytest.raises(ValueError) as e:
        extract_variables(tables, variables, "manual")
    assert str(e.value) == "version 'manual', variable 'hba1c': concept set [3004410] matches no row of measurement"


def test_bad_variable_definitions_are_named():
    bad = synthetic_variables()
    bad.loc[bad["variable"] == "ckd", "concepts"] = "kidney"
    with pytest.raises(ValueError, match=r"OMOP variable 'ckd': unknown concept name\(s\) \['kidney'\]"):
        omop_variables(bad)
    bad = synthetic_variables()
    bad.loc[bad["variable"] == "age", "after"] = "visit_date"
    with pytest.raises(ValueError, match="OMOP variable 'age': 'after' names 'visit_date', which is not a variable"):
        omop_variables(bad)


def test_categorical_variable_from_value_as_concept_id_by_hand():
    """A stage read as the value_as_concept_id of the first measurement of its set, per version: the AI version's
    wrong stage for person 2 and missing stage for person 3 arrive as such, and a version without the column is
    named."""
    variables = pd.DataFrame([("diagnosis_date", "date", "condition", "type2_diabetes", "first_date", None),
                              ("stage", "categorical", "measurement", "hba1c", "first_concept", None)],
                             columns=["variable", "type", "domain", "concepts", "rule", "after"])
    person = pd.DataFrame({"person_id": [1, 2, 3], "gender_concept_id": 8532, "year_of_birth": 1950,
                           "birth_datetime": pd.NaT, "care_site_id": 1})
    condition = pd.DataFrame({"person_id": [1, 2, 3], "condition_concept_id": 201826,
                              "condition_start_date": pd.to_datetime(["2015-01-01"] * 3)})

    def measurement(persons, days, stages):
        return pd.DataFrame({"person_id": persons, "measurement_concept_id": 3004410,
                             "measurement_date": pd.to_datetime("2015-01-01") + pd.to_timedelta(days, unit="D"),
                             "value_as_number": np.nan, "value_as_concept_id": stages})

    # person 1: two rows, the first (day 3) gives stage 1001; person 2: stage 1003
    reference = {"person": person, "condition_occurrence": condition,
                 "measurement": measurement([1, 1, 2, 3], [5, 3, 1, 2], [1002, 1001, 1003, 1002])}
    ai = {**reference, "measurement": measurement([1, 2], [3, 1], [1001, 1004])}
    ref = extract_variables(reference, variables, "reference")
    assert ref["stage"].tolist() == ["1001", "1003", "1002"]
    got = extract_variables(ai, variables, "ai")
    assert got["stage"].tolist()[:2] == ["1001", "1004"] and pd.isna(got["stage"].iloc[2])
    back = extract_variables(write_version(ref, variables), variables, "written")
    assert back["stage"].tolist() == ref["stage"].tolist()
    no_column = {**reference, "measurement": reference["measurement"].drop(columns="value_as_concept_id")}
    with pytest.raises(ValueError, match="version 'manual', variable 'stage': rule first_concept needs the column "
                                         "value_as_concept_id in OMOP table measurement"):
        extract_variables(no_column, variables, "manual")
