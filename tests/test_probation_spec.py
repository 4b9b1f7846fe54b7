import numpy as np
import pandas as pd
import pytest

from causalehr.probation import load_probation, long_to_wide, suppress_small_cells, validate_source, validate_spec

SPEC = pd.DataFrame({"variable": ["dx", "start", "hba1c", "smoker"], "type": ["categorical", "date", "numeric", "binary"],
                     "allowed": ["E11|I10", None, None, None], "min": [None, None, 3, None], "max": [None, None, 20, None]})


def table(**over):
    t = pd.DataFrame({"patient_id": [1, 2, 3], "dx": ["E11", "I10", None], "start": ["2020-01-01", None, "2021-02-03"],
                      "hba1c": ["7.1", "8", None], "smoker": [0, 1, np.nan]})
    for k, v in over.items():
        t[k] = v
    return t


def test_spec_unknown_type_and_missing_column():
    with pytest.raises(ValueError, match=r"unknown variable type\(s\) \['genome'\] for \['dx'\]"):
        validate_spec(pd.DataFrame({"variable": ["dx"], "type": ["genome"]}))
    with pytest.raises(ValueError, match="missing column 'type'"):
        validate_spec(pd.DataFrame({"variable": ["dx"]}))
    with pytest.raises(ValueError, match=r"duplicate variable\(s\) \['dx'\]"):
        validate_spec(pd.DataFrame({"variable": ["dx", "dx"], "type": ["binary", "binary"]}))


def test_source_is_typed():
    t = validate_source(table(), SPEC, "ai")
    assert t.index.name == "patient_id" and list(t.index) == [1, 2, 3]
    assert t["start"].dtype == "datetime64[ns]" and t["start"].iloc[0] == pd.Timestamp("2020-01-01")
    assert t["hba1c"].tolist()[:2] == [7.1, 8.0] and np.isnan(t["hba1c"].iloc[2])
    assert t["dx"].iloc[2] is None


def test_bad_tables_get_clear_errors():
    with pytest.raises(ValueError, match=r"ai: missing key column 'patient_id'; available columns: \['dx'"):
        validate_source(table().drop(columns="patient_id"), SPEC, "ai")
    with pytest.raises(ValueError, match="ai: 1 duplicate key"):
        validate_source(table(patient_id=[1, 1, 3]), SPEC, "ai")
    with pytest.raises(ValueError, match=r"ai, variable 'start': 2 row\(s\) with a date that does not parse"):
        validate_source(table(start=["2020-01-01", "31/12/2020", "soon"]), SPEC, "ai")
    with pytest.raises(ValueError, match=r"ai, variable 'hba1c': 1 row\(s\) with a value that is not a number"):
        validate_source(table(hba1c=["7", "high", None]), SPEC, "ai")
    with pytest.raises(ValueError, match=r"unknown variable column\(s\) \['bmi'\]"):
        validate_source(table(bmi=[1, 2, 3]), SPEC, "ai")
    with pytest.raises(ValueError, match=r"missing variable column\(s\) \['smoker'\]"):
        validate_source(table().drop(columns="smoker"), SPEC, "ai")
    with pytest.raises(ValueError, match=r"ai: 1 row\(s\) with a missing key"):
        validate_source(table(patient_id=[1, None, 3]), SPEC, "ai")


def test_long_to_wide_round_trip_and_errors():
    wide = table()
    long = wide.melt(id_vars="patient_id", var_name="variable", value_name="value")
    back = long_to_wide(long, SPEC, "ai")
    pd.testing.assert_frame_equal(validate_source(back, SPEC, "ai"), validate_source(wide, SPEC, "ai"))
    with pytest.raises(ValueError, match=r"ai: 1 duplicate \(patient_id, variable\) key"):
        long_to_wide(pd.concat([long, long.iloc[[0]]]), SPEC, "ai")
    bad = pd.concat([long, pd.DataFrame({"patient_id": [1], "variable": ["bmi"], "value": ["30"]})])
    with pytest.raises(ValueError, match=r"unknown variable\(s\) \['bmi'\]"):
        long_to_wide(bad, SPEC, "ai")


def test_load_probation_checks_keys_and_strata():
    ref = table(centre=[1, 1, 2])
    data = load_probation(SPEC, ref, {"ai": table()}, strata=("centre",))
    assert data.strata["centre"].tolist() == [1, 1, 2]
    with pytest.raises(ValueError, match=r"ai: 1 key\(s\) not in the reference table"):
        load_probation(SPEC, ref, {"ai": table(patient_id=[1, 2, 4])}, strata=("centre",))
    with pytest.raises(ValueError, match=r"missing stratification column\(s\) \['site'\]"):
        load_probation(SPEC, ref, {"ai": table()}, strata=("site",))


def test_suppress_small_cells():
    t = pd.DataFrame({"metric": ["a", "b", "c"], "estimate": [0.5, 0.9, 0.1], "count": [4.0, 90.0, 3.0],
                      "n": [8.0, 100.0, 30.0]})
    out = suppress_small_cells(t, min_cell=10)
    assert np.isnan(out.loc[0, "estimate"]) and np.isnan(out.loc[0, "n"]) and np.isnan(out.loc[0, "count"])
    assert out.loc[1, "estimate"] == 0.9 and out.loc[1, "count"] == 90
    assert np.isnan(out.loc[2, "estimate"]) and np.isnan(out.loc[2, "count"])  # 3/30 would give the 3 back
    assert out["suppressed"].tolist() == [True, False, True]
    assert t.loc[0, "estimate"] == 0.5  # input untouched
    kept = suppress_small_cells(t.assign(threshold=5.0), min_cell=10, keep=("threshold",))
    assert kept["threshold"].tolist() == [5.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="missing column 'n'"):
        suppress_small_cells(t.drop(columns="n"))


def test_load_probation_long_format_with_strata():
    wide_ref = table(centre=[1, 1, 2])
    long_ref = wide_ref.drop(columns="centre").melt(id_vars="patient_id", var_name="variable", value_name="value")
    long_ref = long_ref.merge(wide_ref[["patient_id", "centre"]], on="patient_id")
    long_ai = table().melt(id_vars="patient_id", var_name="variable", value_name="value")
    data = load_probation(SPEC, long_ref, {"ai": long_ai}, strata=("centre",), long=True)
    expected = load_probation(SPEC, wide_ref, {"ai": table()}, strata=("centre",))
    pd.testing.assert_frame_equal(data.sources["ai"], expected.sources["ai"])
    assert data.strata["centre"].tolist() == [1, 1, 2]
