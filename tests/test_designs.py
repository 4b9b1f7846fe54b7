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
    transport_centres,
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
    X, keep = design_features(cohort, DESIGNS["native_missing"])  # left missing, beside the indicator
    assert keep.all() and list(X["hba1c_missing"]) == [0, 1, 0, 1, 0]
    np.testing.assert_array_equal(X["hba1c"], hba1c)
    np.testing.assert_array_equal(X["hba1c_age_days"], [31.0, np.nan, 10.0, np.nan, 20.0])
    # boosted trees in every nuisance (the default logistic propensity and a Cox model refuse NaN)
    assert DESIGNS["native_missing"].options == {"event_model": "discrete-time", "censoring_model": "discrete-time",
                                                 "propensity_model": "hgb"}


def test_transport_designs_fit_the_largest_centre_for_the_smallest(correct):
    spec = dataclasses.replace(correct.spec, covariates=[*correct.spec.covariates,
                                                         {"name": "centre", "type": "care_site"}])
    cohort = dataclasses.replace(correct, spec=spec, analysis=correct.analysis.assign(centre=[3, 1, 3, 2, 1]))
    source, target = transport_centres(cohort)  # centres 1 and 3 have two patients: the tie goes to the lower value
    assert list(source) == [False, True, False, False, True] and list(target) == [False, False, False, True, False]
    with pytest.raises(ValueError, match="a transport design needs at least two centres in 'centre', got 1"):
        transport_centres(dataclasses.replace(cohort, analysis=cohort.analysis.assign(centre=1)))
    with pytest.raises(ValueError, match="a transport design needs a covariate of type 'care_site'"):
        transport_centres(correct)
    assert {DESIGNS[d].transport for d in ("centre_transported", "centre_as_is")} == {"covariates", "as_is"}


def test_dropped_covariate_types_leave_the_features():
    assert DESIGNS["no_centre"].drop == ("care_site",)
    assert DESIGNS["no_calendar_time"].drop == ("calendar_year",)
    assert DESIGNS["independent_censoring"].options == {"censoring_model": "kaplan-meier"}


def test_unknown_or_misplaced_designs_are_named():
    with pytest.raises(ValueError, match=r"unknown design 'immortal'; known: \['centre_as_is', 'centre_folds'"):
        design_for("immortal", "grace")
    with pytest.raises(ValueError, match="design 'prevalent_users' applies to a 'point' trial, not a 'grace' one"):
        design_for("prevalent_users", "grace")
    with pytest.raises(ValueError, match=r"design missing must be one of \('indicators', 'native', 'mean', 'comp"):
        Design("x", missing="drop")
    assert design_for("correct", "grace").analysis == "ccw" and design_for("correct", "point").analysis == "point"


def test_writer_lowers_hba1c_after_the_sglt2_start_only(tmp_path):
    kw = {"design": "active_comparator", "n_ineligible": 0, "missingness": 0.0}
    base = write_synthetic_omop(150, 3, tmp_path / "a", **kw)
    lowered = write_synthetic_omop(150, 3, tmp_path / "b", hba1c_lowering=0.8, **kw)
    a, b = (pd.read_parquet(w.path / "measurement.parquet") for w in (base, lowered))
    hba1c = a["measurement_concept_id"] == CONCEPT_IDS["hba1c"]
    diff = (a["value_as_number"] - b["value_as_number"]).round(1)
    # every patient starts at time zero (the first study-drug dispensing): the rows after an SGLT2 inhibitor's start
    # are lowered by 0.8, the DPP-4 inhibitor's arm is the reference (unchanged)
    start = pd.read_parquet(base.path / "drug_exposure.parquet")
    sglt2 = start["drug_concept_id"].isin([CONCEPT_IDS[d] for d in ("empagliflozin", "dapagliflozin")])
    start = start[sglt2 | start["drug_concept_id"].isin([CONCEPT_IDS[d] for d in ("sitagliptin", "linagliptin")])]
    first = start.groupby("person_id")["drug_exposure_start_date"].min()
    on_sglt2 = a["person_id"].isin(start.loc[sglt2, "person_id"]).to_numpy()
    after = a["measurement_date"].to_numpy() > a["person_id"].map(first).to_numpy()
    assert set(diff[hba1c & after & on_sglt2]) == {0.8}
    assert set(diff[~(hba1c & after & on_sglt2)]) == {0.0}
    assert (hba1c & after & ~on_sglt2).sum() > 0  # DPP-4 rows after the start exist and are unchanged


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

    nan = np.nan
    rows = [(0, "point", "correct", "aipcw-dr", 0.3, 0.1, 0.5, 0.25, 1000, 0.9, 0.05, 0.0, 20.0, 1.0),
            (1, "point", "correct", "aipcw-dr", 0.1, -0.1, 0.2, 0.25, 1000, 0.5, 0.01, 0.1, 500.0, 1.0),
            (0, "grace", "correct", "CCW logistic", 0.25, 0.1, 0.4, 0.2, 1000, nan, nan, nan, nan, 1.0),
            (1, "grace", "correct", "CCW logistic", 0.15, 0.0, 0.3, 0.2, 1000, nan, nan, nan, nan, 1.0),
            (0, "grace", "immortal_time", "aipcw-dr", 1.0, 0.8, 1.2, 0.2, 998, 0.7, 0.1, 0.0, 9.0, 1.0),
            (1, "grace", "immortal_time", "aipcw-dr", 0.8, 0.6, 1.0, 0.2, 1000, 0.9, 0.1, 0.0, 9.0, 1.0)]
    estimates = pd.DataFrame(rows, columns=COLUMNS)
    s = summarise(estimates).set_index(["trial", "design", "method"])
    correct, immortal = s.loc[("point", "correct", "aipcw-dr")], s.loc[("grace", "immortal_time", "aipcw-dr")]
    assert correct["bias"] == pytest.approx(-0.05) and correct["bias_mcse"] == pytest.approx(0.1)
    assert correct["coverage"] == pytest.approx(0.5) and correct["cate_mse"] == pytest.approx(0.7)
    assert immortal["bias"] == pytest.approx(0.7) and immortal["coverage"] == 0.0 and immortal["n"] == 999
    # median of the errors 0.05, -0.15 and its robust SE sqrt(pi/2) 1.4826 MAD / sqrt(2), MAD = 0.1
    assert correct["median_bias"] == pytest.approx(-0.05)
    assert correct["median_bias_mcse"] == pytest.approx(np.sqrt(np.pi / 2) * 1.4826 * 0.1 / np.sqrt(2))
    # excess over the correct design of the same warehouse: immortal time minus clone-censor-weight, 0.75 and 0.65
    assert immortal["excess"] == pytest.approx(0.7) and immortal["excess_mcse"] == pytest.approx(0.05)
    assert correct["excess"] == 0.0
    # positivity at its worst over the replications, share outside the bounds on average
    assert (correct["propensity_min"], correct["weight_max"]) == (0.01, 500.0)
    assert correct["outside"] == pytest.approx(0.05)
    values = design_values(s.reset_index(), estimates, {"n": 1000})["design"]
    assert values["replications"] == 2 and values["immortal_time"]["grace"]["aipcw_dr"]["bias"] == "0.7"
    assert values["correct"]["point"]["aipcw_dr"]["propensity_min"] == "0.01"
    assert values["correct"]["point"]["aipcw_dr"]["outside"] == "5%"
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


def test_positivity_diagnostics_against_hand_values():
    from causalehr.studies.design import positivity

    found = positivity({"propensity": np.array([0.01, 0.5, 0.97, 0.99]), "weight": np.array([0.0, 2.0, 50.0, 1.0])})
    assert found["propensity_min"] == pytest.approx(0.01)  # min(e, 1 - e): 0.01 (and 0.01 for e = 0.99)
    assert found["outside"] == 0.5 and found["weight_max"] == 50.0  # 0.01 and 0.99 are outside [0.02, 0.98]
    assert all(np.isnan(v) for v in positivity(None).values())


def test_strength_knobs_are_checked_and_set_where_they_belong():
    from causalehr.cohort.designs import check_strength
    from causalehr.studies.design import knob_warehouse

    base = {"params": {"missingness": 0.2}, "prevalent": 0.1}
    assert knob_warehouse(base, "prevalent", 0.5) == {"params": {"missingness": 0.2}, "prevalent": 0.5}
    assert knob_warehouse(base, "centre_outcome", 1.0)["params"] == {"missingness": 0.2, "centre_outcome": 1.0}
    assert base == {"params": {"missingness": 0.2}, "prevalent": 0.1}  # unchanged
    with pytest.raises(ValueError, match="design.strength.knobs: unknown knob 'loudness'"):
        check_strength({"loudness": {"design": "no_centre", "values": [1.0]}})
    with pytest.raises(ValueError, match=r"design.strength.knobs.calendar_drift.design: expected a design error of "
                                         r"the point trial, got 'immortal_time'"):
        check_strength({"calendar_drift": {"design": "immortal_time", "values": [1.0]}})


def test_strength_summary_and_values_against_hand_computed_bias():
    from causalehr.studies.design import STRENGTH_COLUMNS, strength_table, strength_values, summarise

    knobs = {"hba1c_lowering": {"design": "post_baseline_covariates", "values": [2.0]}}
    rows = []
    for rep, (c0, p0, c2, p2) in enumerate([(0.3, 0.2, 0.25, -0.5), (0.2, 0.3, 0.15, -0.3)]):
        for strength, design, estimate in ((0.0, "correct", c0), (0.0, "post_baseline_covariates", p0),
                                           (2.0, "correct", c2), (2.0, "post_baseline_covariates", p2)):
            rows.append({"replication": rep, "knob": "hba1c_lowering", "strength": strength, "trial": "point",
                         "design": design, "method": "dr", "estimate": estimate, "lower": estimate - 0.1,
                         "upper": estimate + 0.1, "truth": 0.25, "n": 1000, "cate_mse": 0.1, "propensity_min": 0.1,
                         "outside": 0.0, "weight_max": 10.0, "seconds": 1.0})
    estimates = pd.DataFrame(rows, columns=STRENGTH_COLUMNS)
    grid = summarise(estimates, by=("knob", "strength", "design", "method"))
    values = strength_values(grid, estimates, knobs, {"n": 1000})["design_strength"]
    at2 = values["hba1c_lowering"]["s2"]
    # errors -0.75 and -0.55 (bias -0.65, MCSE 0.1); minus the correct design's 0.25, 0.15: -0.75, -0.45
    assert (at2["bias"], at2["bias_mcse"], at2["excess"], at2["excess_mcse"]) == ("-0.65", "0.1", "-0.6", "0.15")
    assert at2["correct_bias"] == "-0.05" and values["hba1c_lowering"]["s0"]["excess"] == "0"
    assert values["hba1c_lowering"]["strongest"] == at2 and values["hba1c_lowering"]["zero"]["strength"] == "0"
    assert values["replications"] == 2 and values["hba1c_lowering"]["design"] == "post_baseline_covariates"
    table = strength_table(grid, knobs)
    assert table.count("post_baseline_covariates") == 2 and table.count("| correct") == 2


def test_strength_run_varies_one_knob_at_a_time_and_shares_the_zero_warehouse(monkeypatch):
    from types import SimpleNamespace

    from causalehr.studies import design as study

    calls = []

    def fake_cohorts(specs, designs, *, n, warehouses, seed, replication, workdir):
        calls.append((list(designs), warehouses["point"], seed))
        for name in designs:
            yield SimpleNamespace(trial="point", name=name, design=None, cohort=None, truth=None, target=0.25)

    def fake_fit(cohort, design, truth, target, *, methods, seed, alpha):
        knobs = calls[-1][1]
        return [{"method": "dr", "estimate": knobs.get("hba1c_lowering", 0) + knobs["params"]["calendar_drift"],
                 "truth": target}]

    monkeypatch.setattr(study, "design_cohorts", fake_cohorts)
    monkeypatch.setattr(study, "_strategy1", fake_fit)
    knobs = {"hba1c_lowering": {"design": "post_baseline_covariates", "values": [0.0, 2.0]},
             "calendar_drift": {"design": "no_calendar_time", "values": [3.0]}}
    out = study.strength_run("spec.yaml", knobs, n=200, base={"params": {"calendar_drift": 1.0, "missingness": 0.1}},
                             methods={}, seed=1, replication=0)
    # the zero warehouse (every knob 0, both designs), then one warehouse per non-zero strength with only its knob on
    assert [c[0] for c in calls] == [["correct", "no_calendar_time", "post_baseline_covariates"],
                                     ["correct", "post_baseline_covariates"], ["correct", "no_calendar_time"]]
    assert calls[0][1] == {"params": {"calendar_drift": 0.0, "missingness": 0.1}, "hba1c_lowering": 0.0}
    assert calls[1][1] == {"params": {"calendar_drift": 0.0, "missingness": 0.1}, "hba1c_lowering": 2.0}
    assert calls[2][1] == {"params": {"calendar_drift": 3.0, "missingness": 0.1}, "hba1c_lowering": 0.0}
    assert len({c[2] for c in calls}) == 3  # a seed per warehouse
    # the zero warehouse's correct design counts for both knobs, each error's design for its own knob only
    rows = out.set_index(["knob", "strength", "design"])["estimate"]
    assert rows.loc[("hba1c_lowering", 2.0, "post_baseline_covariates")] == 2.0
    assert rows.loc[("calendar_drift", 3.0, "no_calendar_time")] == 3.0
    assert sorted(out.loc[out["strength"] == 0, "knob"] + "/" + out.loc[out["strength"] == 0, "design"]) == [
        "calendar_drift/correct", "calendar_drift/no_calendar_time", "hba1c_lowering/correct",
        "hba1c_lowering/post_baseline_covariates"]
