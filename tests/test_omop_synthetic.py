"""Synthetic OMOP warehouse: the simulator's own design extracted from its records gives back the simulator's
analysis table exactly; each eligibility criterion removes the planted patients; the OMOP table checker's messages."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from causalehr.cohort import build_cohort
from causalehr.omop import TABLES, check_tables, write_synthetic_omop
from causalehr.omop.synthetic import REASONS

SPECS = {"grace_vs_never": "config/trials/ehr_diabetes_grace.yaml",
         "active_comparator": "config/trials/ehr_diabetes_active.yaml"}


@pytest.fixture(scope="module", params=[("grace_vs_never", "parquet"), ("active_comparator", "duckdb")])
def extracted(request, tmp_path_factory):
    design, fmt = request.param
    out = tmp_path_factory.mktemp(design) / ("omop" if fmt == "parquet" else "omop.duckdb")
    wh = write_synthetic_omop(1500, 7, out, design=design, fmt=fmt, n_ineligible=23, chunk_size=600)
    return wh, build_cohort(SPECS[design], out)


def test_round_trip_gives_back_the_simulator_table(extracted):
    wh, cohort = extracted
    truth = wh.truth
    got = cohort.analysis[truth.columns]
    # same eligible patients, baseline values, treatment (start) and event times to the day
    pd.testing.assert_frame_equal(got.reset_index(drop=True), truth.reset_index(drop=True), check_dtype=False)
    assert (cohort.analysis["cause"] == 2).sum() > 0  # deaths at censoring dates are competing events


def test_time_zero_is_the_planted_calendar_date(extracted):
    wh, cohort = extracted
    person = pd.read_parquet(wh.path / "person.parquet") if wh.fmt == "parquet" else None
    if person is None:
        import duckdb
        with duckdb.connect(str(wh.path), read_only=True) as con:
            person = con.execute("select person_id, birth_datetime from person").df()
    birth = person.set_index("person_id")["birth_datetime"].reindex(cohort.analysis["person_id"])
    age_days = (pd.to_datetime(cohort.analysis["time_zero"]).to_numpy() - pd.to_datetime(birth).to_numpy())
    np.testing.assert_array_equal(age_days.astype("timedelta64[D]").astype(int),
                                  np.rint(wh.truth["age"] * 365.25).astype(int))


def test_each_criterion_removes_the_planted_patients(extracted):
    wh, cohort = extracted
    assert wh.ineligible["reason"].value_counts().to_dict() == dict.fromkeys(REASONS, 23)
    a = cohort.attrition.set_index("criterion")
    removed = a.loc[a["kind"] == "eligibility", "n_removed"]
    assert removed["persons in the warehouse"] == 0
    assert removed["t2d in days [None, 0]"] == 23
    assert removed["age 18 to 100 years"] == 23
    assert removed["at least 365 days of prior observation"] == 23
    washout = [c for c in removed.index if c.startswith("no sglt2")]
    assert removed[washout[0]] == 23
    assert a.loc["persons in the warehouse", "n_patients"] == 1500 + 4 * 23
    assert a.iloc[-1]["n_patients"] == 1500


def test_writer_is_reproducible_and_complete(tmp_path):
    a = write_synthetic_omop(300, 3, tmp_path / "a", design="grace_vs_never", n_ineligible=2)
    b = write_synthetic_omop(300, 3, tmp_path / "b", design="grace_vs_never", n_ineligible=2)
    for table in TABLES:
        ta, tb = pq.read_table(a.path / f"{table}.parquet"), pq.read_table(b.path / f"{table}.parquet")
        assert ta.equals(tb), table
        assert ta.column_names == list(TABLES[table]), table
    pd.testing.assert_frame_equal(a.effects, b.effects)
    assert list(a.effects.columns[:3]) == ["person_id", "cate_rmst", "cate_surv"]
    assert "strategy_rmst_difference" in a.effects
    assert sum(a.n_rows.values()) / 308 > 60  # about a hundred rows per patient
    a.write_truth(tmp_path / "truth")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "truth" / "truth.parquet"), a.truth)


def test_check_tables_names_the_missing_table_and_column():
    tables = {name: pd.DataFrame(columns=list(cols)) for name, cols in TABLES.items()}
    check_tables(tables)
    with pytest.raises(ValueError, match=r"^OMOP table 'death' not found; tables found: \["):
        check_tables({k: v for k, v in tables.items() if k != "death"})
    tables["measurement"] = tables["measurement"].drop(columns="value_as_number")
    with pytest.raises(ValueError, match=r"^column 'value_as_number' not found in OMOP table 'measurement'; "):
        check_tables(tables)


def test_writer_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="design must be one of"):
        write_synthetic_omop(10, 1, tmp_path / "x", design="crossover")
    with pytest.raises(ValueError, match="time_varying_start is set by design"):
        write_synthetic_omop(10, 1, tmp_path / "x", time_varying_start=True)
