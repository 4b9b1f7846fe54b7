"""Design-error injectors on the hand-made records of test_cohort (each does what its name says, against dates and
values worked out by hand there), the study's missing-data handling, and the simulator and writer knobs that the
errors need."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_cohort import SPEC, _write

from causalehr.cohort import build_cohort
from causalehr.cohort.designs import (
    DESIGNS,
    Design,
    design_for,
    ever_treated,
    measurements_after_time_zero,
    no_washout,
    time_zero_at_start,
)
from causalehr.omop import write_synthetic_omop
from causalehr.omop.cdm import CONCEPT_IDS
from causalehr.simulate import simulate
from causalehr.studies.design import design_features


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("designs"))


@pytest.fixture(scope="module")
def correct(records):
    return build_cohort(SPEC, records)


def _row(cohort_or_table, person):
    table = getattr(cohort_or_table, "analysis", cohort_or_table)
    return table.set_index("person_id").loc[person]


def test_immortal_time_credits_the_treated_with_the_time_before_their_start(correct):
    # person 1: eligible 2015-06-01, SGLT2 from 2015-08-01 (61 days), MI on 2016-06-01 (366 days after eligibility)
    table = ever_treated(correct.analysis)
    one = _row(table, 1)
    assert (one["treatment"], one["time"], one["treatment_start"], one["event"]) == (1, 366.0, 61.0, 1)
    assert table.loc[table["person_id"] != 1, "treatment"].eq(0).all()  # nobody else starts during follow-up


def test_time_zero_mismatch_starts_the_treated_at_their_start_and_the_untreated_at_eligibility(correct):
    table = time_zero_at_start(correct.analysis)
    assert (_row(table, 1)["time"], _row(table, 1)["treatment_start"]) == (366.0 - 61.0, 0.0)
    others = correct.analysis[correct.analysis["person_id"] != 1].set_index("person_id")["time"]
    pd.testing.assert_series_equal(table.set_index("person_id")["time"].drop(1), others)


def test_prevalent_user_design_admits_the_patient_exposed_before(records, correct):
    # person 2 took SGLT2 in 2014: the washout excludes them, the design without it admits them
    assert 2 not in set(correct.analysis["person_id"])
    flawed = build_cohort(no_washout(SPEC), records)
    assert 2 in set(flawed.analysis["person_id"])
    assert _row(flawed, 2)["treatment_start"] == float((pd.Timestamp("2016-06-01") - pd.Timestamp("2015-06-01")).days)
    assert "washout" in SPEC["eligibility"]  # the correct specification is left as it was


def test_post_baseline_design_reads_the_measurement_dated_after_time_zero(records, correct):
    # person 1: HbA1c 7.0 on 2015-05-01 (baseline), 9.9 on 2015-07-01 (30 days after time zero)
    assert (_row(correct, 1)["hba1c"], _row(correct, 1)["hba1c_age_days"]) == (7.0, 31.0)
    flawed = build_cohort(measurements_after_time_zero(SPEC), records)
    assert (_row(flawed, 1)["hba1c"], _row(flawed, 1)["hba1c_age_days"]) == (9.9, -30.0)
    assert SPEC["covariates"][2].get("offset_days") is None


def test_missing_measurements_handled_as_the_design_says(correct):
    # HbA1c 7, missing, 8, missing, 12: median 8, mean 9; the complete cases are the three measured patients
    hba1c = [7.0, np.nan, 8.0, np.nan, 12.0]
    cohort = dataclasses.replace(correct, analysis=correct.analysis.assign(
        hba1c=hba1c, hba1c_age_days=[31.0, np.nan, 10.0, np.nan, 20.0], hba1c_missing=np.isnan(hba1c).astype(int)))
    X, keep = design_features(cohort, DESIGNS["correct"])
    assert list(X["hba1c"]) == [7.0, 8.0, 8.0, 8.0, 12.0] and list(X["hba1c_missing"]) == [0, 1, 0, 1, 0]
    X, keep = design_features(cohort, DESIGNS["complete_cases"])
    assert list(cohort.analysis.loc[keep, "person_id"]) == [1, 4, 6] and "hba1c_missing" not in X
    assert list(X["hba1c"]) == [7.0, 8.0, 12.0]
    X, _ = design_features(cohort, DESIGNS["mean_imputation"])
    assert "hba1c_missing" not in X and list(X["hba1c"]) == [7.0, 9.0, 8.0, 9.0, 12.0]


def test_dropped_covariate_types_leave_the_features():
    assert DESIGNS["no_centre"].drop == ("care_site",)
    assert DESIGNS["no_calendar_time"].drop == ("calendar_year",)
    assert DESIGNS["independent_censoring"].options == {"censoring_model": "kaplan-meier"}


def test_unknown_or_misplaced_designs_are_named():
    with pytest.raises(ValueError, match=r"unknown design 'immortal'; known: \['centre_folds', 'complete_cases'"):
        design_for("immortal", "grace")
    with pytest.raises(ValueError, match="design 'prevalent_users' applies to a 'point' trial, not a 'grace' one"):
        design_for("prevalent_users", "grace")
    with pytest.raises(ValueError, match=r"design missing must be one of \('indicators', 'mean', 'complete'\)"):
        Design("x", missing="drop")
    assert design_for("correct", "grace").analysis == "ccw" and design_for("correct", "point").analysis == "point"


def test_writer_lowers_hba1c_after_the_start_only(tmp_path):
    kw = {"design": "active_comparator", "n_ineligible": 0, "missingness": 0.0}
    base = write_synthetic_omop(150, 3, tmp_path / "a", **kw)
    lowered = write_synthetic_omop(150, 3, tmp_path / "b", hba1c_lowering=0.8, **kw)
    a, b = (pd.read_parquet(w.path / "measurement.parquet") for w in (base, lowered))
    hba1c = a["measurement_concept_id"] == CONCEPT_IDS["hba1c"]
    diff = (a["value_as_number"] - b["value_as_number"]).round(1)
    # every patient starts at time zero (the first study-drug dispensing): rows after it are lowered by 0.8
    start = pd.read_parquet(base.path / "drug_exposure.parquet")
    start = start[start["drug_concept_id"].isin([CONCEPT_IDS[d] for d in ("empagliflozin", "dapagliflozin",
                                                                          "sitagliptin", "linagliptin")])]
    first = start.groupby("person_id")["drug_exposure_start_date"].min()
    after = a["measurement_date"].to_numpy() > a["person_id"].map(first).to_numpy()
    assert set(diff[hba1c & after]) == {0.8}
    assert set(diff[~(hba1c & after)]) == {0.0}


def test_calendar_drift_dates_time_zero_and_raises_prescribing_with_it():
    none = simulate("ehr_diabetes", 300, 5)
    assert "calendar" not in none.data
    drift = simulate("ehr_diabetes", 4000, 5, calendar_drift=2.0)
    late = drift.data["calendar"] > 0.5
    assert drift.data.loc[late, "treatment"].mean() > drift.data.loc[~late, "treatment"].mean() + 0.1
    # the complication's untreated risk falls with calendar time: same covariates, later = longer untreated RMST
    assert np.corrcoef(drift.data["calendar"], drift.truth["mu0_rmst"])[0, 1] > 0.1


def test_summary_and_values_against_hand_computed_bias_and_mcse():
    from causalehr.studies.design import COLUMNS, design_table, design_values, summarise

    rows = [(0, "point", "correct", "aipcw-dr", 0.3, 0.1, 0.5, 0.25, 1000, 0.9, 1.0),
            (1, "point", "correct", "aipcw-dr", 0.1, -0.1, 0.2, 0.25, 1000, 0.5, 1.0),
            (0, "grace", "immortal_time", "aipcw-dr", 1.0, 0.8, 1.2, 0.2, 998, 0.7, 1.0),
            (1, "grace", "immortal_time", "aipcw-dr", 0.8, 0.6, 1.0, 0.2, 1000, 0.9, 1.0)]
    estimates = pd.DataFrame(rows, columns=COLUMNS)
    s = summarise(estimates).set_index(["trial", "design", "method"])
    correct, immortal = s.loc[("point", "correct", "aipcw-dr")], s.loc[("grace", "immortal_time", "aipcw-dr")]
    assert correct["bias"] == pytest.approx(-0.05) and correct["bias_mcse"] == pytest.approx(0.1)
    assert correct["coverage"] == pytest.approx(0.5) and correct["cate_mse"] == pytest.approx(0.7)
    assert immortal["bias"] == pytest.approx(0.7) and immortal["coverage"] == 0.0 and immortal["n"] == 999
    values = design_values(s.reset_index(), estimates, {"n": 1000})["design"]
    assert values["replications"] == 2 and values["immortal_time"]["grace"]["aipcw_dr"]["bias"] == "0.7"
    table = design_table(s.reset_index(), ["correct", "immortal_time"])
    assert table.index("correct") < table.index("immortal_time")  # the correct design on top


def test_centre_folds_design_groups_the_cross_fitting_by_centre(monkeypatch):
    from causalehr.cate import CensoredCATE
    from causalehr.studies.design import run

    seen, fit = [], CensoredCATE.fit

    def spy(self, *args, groups=None, **kwargs):
        seen.append(None if groups is None else sorted(set(groups.tolist())))
        return fit(self, *args, groups=groups, **kwargs)

    monkeypatch.setattr(CensoredCATE, "fit", spy)
    estimates = run({"point": "config/trials/ehr_diabetes_active.yaml"}, ["correct", "centre_folds"], n=300,
                    warehouses={"point": {"params": {"missingness": 0.0}}}, weights={"logistic": 2}, seed=3,
                    methods={"dr": {"method": "aipcw-dr", "n_folds": 2, "extrapolate": True, "event_model": "cox",
                                    "censoring_model": "kaplan-meier"}})
    assert seen == [None, [1, 2, 3, 4, 5]]  # the simulator's five centres, each kept in one fold
    assert list(estimates["design"]) == ["correct", "centre_folds"] and estimates["truth"].nunique() == 1
