"""Cohort building from OMOP records: a hand-made record set against a hand-computed cohort, bad inputs (exact
messages), publishable tables, and the estimators on an extracted cohort against the simulator's truth."""

import copy
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from causalehr.cohort import NoEligiblePatientError, build_cohort, load_spec
from causalehr.cohort.tables import attrition_table, follow_up_distribution, table_one
from causalehr.omop import TABLES, write_synthetic_omop
from causalehr.omop.cdm import CONCEPT_IDS

D = dt.date
T2D, MI, SGLT2, MET, HBA1C = (CONCEPT_IDS[k] for k in ("type2_diabetes", "myocardial_infarction",
                                                       "empagliflozin", "metformin", "hba1c"))
SIX_MONTHLY = [D(2015, 9, 1), D(2016, 3, 1), D(2016, 9, 1), D(2017, 3, 1), D(2017, 9, 1), D(2018, 3, 1),
               D(2018, 9, 1), D(2019, 3, 1), D(2019, 9, 1), D(2020, 3, 1), D(2020, 9, 1)]

# person: (birth, female, observation start, observation end, visits)
#  1 eligible at the visit of 2015-06-01 (the 2014-03-01 visit has < 365 days of observation): HbA1c 7.0 on
#    2015-05-01 (9.9 after time zero is not baseline), metformin in the year before, SGLT2 from 2015-08-01 (61 days),
#    myocardial infarction on 2016-06-01 (366 days)
#  2 prevalent user: SGLT2 in 2014, excluded by the washout
#  3 lost to follow-up: no visit after 2015-09-01 for more than 365 days: censored at 92 days despite a later MI
#  4 myocardial infarction before time zero; no outcome afterwards: censored at the end of observation (579 days),
#    or excluded when the specification excludes prior outcomes
#  5 death on 2016-01-15 after time zero: competing event at 228 days
#  6 a metformin row that ends before it starts (counted, not used) and a hypertension row before the observation
#    period (counted, used as history)
PEOPLE = {
    1: (D(1955, 6, 1), 1, D(2014, 1, 1), D(2020, 12, 31), [D(2014, 3, 1), D(2015, 6, 1), *SIX_MONTHLY]),
    2: (D(1950, 1, 1), 0, D(2014, 1, 1), D(2020, 12, 31), [D(2014, 3, 1), D(2015, 6, 1), *SIX_MONTHLY]),
    3: (D(1960, 1, 1), 0, D(2014, 1, 1), D(2018, 12, 31), [D(2014, 3, 1), D(2015, 6, 1), D(2015, 9, 1)]),
    4: (D(1945, 1, 1), 1, D(2014, 1, 1), D(2016, 12, 31), [D(2014, 3, 1), D(2015, 6, 1), D(2015, 12, 1),
                                                             D(2016, 6, 1)]),
    5: (D(1940, 1, 1), 0, D(2014, 1, 1), D(2016, 1, 15), [D(2014, 3, 1), D(2015, 6, 1), D(2015, 12, 1)]),
    6: (D(1965, 1, 1), 1, D(2014, 1, 1), D(2020, 12, 31), [D(2014, 3, 1), D(2015, 6, 1), *SIX_MONTHLY]),
}
CONDITIONS = [(p, T2D, D(2014, 2, 1)) for p in PEOPLE] + [
    (1, MI, D(2016, 6, 1)), (3, MI, D(2017, 1, 1)), (4, MI, D(2015, 3, 1)), (6, CONCEPT_IDS["hypertension"],
                                                                           D(2013, 6, 1))]
DRUGS = [(1, SGLT2, D(2015, 8, 1), D(2015, 10, 29)), (1, MET, D(2015, 1, 1), D(2015, 3, 31)),
         (2, SGLT2, D(2014, 6, 1), D(2014, 8, 29)), (2, SGLT2, D(2016, 6, 1), D(2016, 8, 29)),
         (6, MET, D(2015, 2, 1), D(2015, 1, 1))]
MEASUREMENTS = [(1, HBA1C, D(2015, 5, 1), 7.0), (1, HBA1C, D(2015, 7, 1), 9.9), (6, HBA1C, D(2013, 1, 1), 8.0)]
DEATHS = [(5, D(2016, 1, 15))]

SPEC = {
    "name": "hand", "horizon_days": 1826,
    "concept_sets": {"t2d": {"domain": "condition", "concepts": [T2D]},
                     "sglt2": {"domain": "drug", "concepts": [SGLT2]},
                     "mi": {"domain": "condition", "concepts": [MI]},
                     "hba1c": {"domain": "measurement", "concepts": [HBA1C]},
                     "metformin": {"domain": "drug", "concepts": [MET]}},
    "eligibility": {"entry": {"domain": "visit"}, "require": [{"concept_set": "t2d", "window": [None, 0]}],
                    "age": [18, 100], "prior_observation_days": 365,
                    "washout": {"concept_sets": ["sglt2"], "days": None}},
    "strategies": {"type": "grace_vs_never", "treatment": "sglt2", "grace_days": 90},
    "outcome": {"concept_sets": ["mi"]},
    "censoring": {"loss_to_follow_up_days": 365},
    "covariates": [{"name": "age", "type": "age"}, {"name": "female", "type": "sex"},
                   {"name": "hba1c", "type": "measurement", "concept_set": "hba1c", "window_days": 365},
                   {"name": "metformin", "type": "drug", "concept_set": "metformin", "window_days": 365}],
}


def _tables() -> dict[str, pd.DataFrame]:
    person = pd.DataFrame([{"person_id": p, "gender_concept_id": 8532 if f else 8507, "year_of_birth": b.year,
                            "birth_datetime": b, "care_site_id": 1} for p, (b, f, *_) in PEOPLE.items()])
    obs = pd.DataFrame([{"observation_period_id": p, "person_id": p, "observation_period_start_date": s,
                         "observation_period_end_date": e, "period_type_concept_id": 32817}
                        for p, (_, _, s, e, _) in PEOPLE.items()])
    visits = pd.DataFrame([{"person_id": p, "visit_concept_id": 9202, "visit_start_date": v, "visit_end_date": v,
                            "visit_type_concept_id": 32817, "care_site_id": 1}
                           for p, (*_, vs) in PEOPLE.items() for v in vs])
    visits.insert(0, "visit_occurrence_id", np.arange(1, len(visits) + 1))
    cond = pd.DataFrame(CONDITIONS, columns=["person_id", "condition_concept_id", "condition_start_date"])
    cond = cond.assign(condition_occurrence_id=np.arange(1, len(cond) + 1), condition_type_concept_id=32817,
                       visit_occurrence_id=0)
    drugs = pd.DataFrame(DRUGS, columns=["person_id", "drug_concept_id", "drug_exposure_start_date",
                                         "drug_exposure_end_date"])
    drugs = drugs.assign(drug_exposure_id=np.arange(1, len(drugs) + 1), drug_type_concept_id=32817, days_supply=90)
    meas = pd.DataFrame(MEASUREMENTS, columns=["person_id", "measurement_concept_id", "measurement_date",
                                               "value_as_number"])
    meas = meas.assign(measurement_id=np.arange(1, len(meas) + 1), measurement_type_concept_id=32817,
                       unit_concept_id=8554, visit_occurrence_id=0)
    death = pd.DataFrame(DEATHS, columns=["person_id", "death_date"]).assign(death_type_concept_id=32817)
    out = {"person": person, "observation_period": obs, "visit_occurrence": visits, "condition_occurrence": cond,
           "drug_exposure": drugs, "measurement": meas, "death": death}
    for name, df in out.items():
        for c, t in TABLES[name].items():
            if t == "date":
                df[c] = pd.to_datetime(df[c])
        out[name] = df[list(TABLES[name])]
    return out


def _write(tmp_path, tables=None, fmt="parquet"):
    folder = tmp_path / "omop"
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (tables or _tables()).items():
        df.to_parquet(folder / f"{name}.parquet", index=False) if fmt == "parquet" else \
            df.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _days(a, b):
    return float((b - a).days)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hand_made_records_give_the_hand_computed_cohort(tmp_path, fmt):
    cohort = build_cohort(SPEC, _write(tmp_path, fmt=fmt))
    t0 = D(2015, 6, 1)
    expected = pd.DataFrame({
        "person_id": [1, 3, 4, 5, 6], "trial": 1, "time_zero": [t0] * 5,
        "age": [_days(b, t0) / 365.25 for b in (D(1955, 6, 1), D(1960, 1, 1), D(1945, 1, 1), D(1940, 1, 1),
                                                D(1965, 1, 1))],
        "female": [1, 0, 1, 0, 1],
        "hba1c": [7.0, np.nan, np.nan, np.nan, np.nan],  # person 6: 8.0 is older than the 365-day window
        "hba1c_age_days": [31.0, np.nan, np.nan, np.nan, np.nan], "hba1c_missing": [0, 1, 1, 1, 1],
        "metformin": [1, 0, 0, 0, 0],  # person 6: the row ending before it starts is not used
        "treatment": [1, 0, 0, 0, 0], "treatment_start": [61.0, np.nan, np.nan, np.nan, np.nan],
        "time": [366.0, 92.0, _days(t0, D(2016, 12, 31)), _days(t0, D(2016, 1, 15)), _days(t0, D(2020, 12, 31))],
        "event": [1, 0, 0, 0, 0], "cause": [1, 0, 0, 2, 0]})
    pd.testing.assert_frame_equal(cohort.analysis, expected, check_dtype=False)
    a = cohort.attrition.set_index("criterion")
    assert a.loc["drug_exposure: end date before start date (rows not used)", ["n_patients", "n_rows"]].tolist() == [1, 1]
    outside = "condition_occurrence: rows outside the observation period (used as history only)"
    assert a.loc[outside, "n_rows"] == 1
    assert a.loc["measurement: rows outside the observation period (used as history only)", "n_rows"] == 1
    assert a.loc["no sglt2 ever before", ["n_patients", "n_removed"]].tolist() == [5, 1]
    assert list(cohort.ccw_input.columns) == ["person_id", "age", "female", "hba1c", "hba1c_age_days",
                                              "hba1c_missing", "metformin", "treatment_start", "time", "event"]


def test_prior_outcome_excluded_when_the_specification_says_so(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["eligibility"]["exclude"] = [{"concept_set": "mi", "window": [None, 0]}]
    cohort = build_cohort(spec, _write(tmp_path))
    assert cohort.analysis["person_id"].tolist() == [1, 3, 5, 6]
    assert cohort.attrition.set_index("criterion").loc["no mi in days [None, 0]", "n_removed"] == 1


def test_death_as_outcome_and_administrative_end(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["outcome"] = {"concept_sets": ["mi"], "death": True}
    spec["censoring"] = {"administrative_end": "2016-12-01"}
    a = build_cohort(spec, _write(tmp_path)).analysis.set_index("person_id")
    t0 = D(2015, 6, 1)
    assert a.loc[5, ["event", "cause"]].tolist() == [1, 1]
    assert a.loc[3, ["time", "event"]].tolist() == [_days(t0, D(2016, 12, 1)), 0]  # no loss to follow-up rule
    assert a.loc[1, "time"] == 366.0


def test_missing_table_and_column_are_named(tmp_path):
    tables = _tables()
    del tables["death"]
    with pytest.raises(ValueError, match=r"^OMOP table 'death' not found; tables found: \['condition_occurrence'"):
        build_cohort(SPEC, _write(tmp_path, tables))
    tables = _tables()
    tables["measurement"] = tables["measurement"].drop(columns="measurement_date")
    with pytest.raises(ValueError, match=r"^column 'measurement_date' not found in OMOP table 'measurement'; "):
        build_cohort(SPEC, _write(tmp_path / "b", tables))


def test_concept_set_matching_no_row_warns_with_its_name(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["concept_sets"]["dialysis"] = {"domain": "condition", "concepts": [4146536]}
    spec["eligibility"]["exclude"] = [{"concept_set": "dialysis", "window": [-365, 0]}]
    with pytest.warns(UserWarning, match=r"^concept set 'dialysis' \(domain condition, concepts \[4146536\]\) "
                                         r"matches no row of condition_occurrence$"):
        cohort = build_cohort(spec, _write(tmp_path))
    assert len(cohort.analysis) == 5


def test_no_eligible_patient_stops_with_the_attrition_table(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["eligibility"]["age"] = [90, 100]
    with pytest.raises(NoEligiblePatientError, match=r"^no eligible patient; attrition:\n") as info:
        build_cohort(spec, _write(tmp_path))
    a = info.value.attrition.set_index("criterion")
    assert a.loc["age 90 to 100 years", ["n_patients", "n_removed"]].tolist() == [0, 6]
    assert "age 90 to 100 years" in str(info.value)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["eligibility"].update(agee=[18, 80]),
     r"^trial specification: unknown key 'agee' in eligibility; allowed keys: \['age', 'entry', "),
    (lambda s: s.update(horizon=5),
     r"^trial specification: unknown key 'horizon' in the top level; allowed keys: \["),
    (lambda s: s["strategies"].update(grace_days=1826),
     r"^trial specification: the grace period \(strategies/grace_days = 1826\) is not shorter than the follow-up "
     r"\(1826 days: horizon_days / censoring/max_follow_up_days\)$"),
    (lambda s: s["censoring"].update(max_follow_up_days=60),
     r"^trial specification: the grace period \(strategies/grace_days = 90\) is not shorter than the follow-up "
     r"\(60 days"),
    (lambda s: s["outcome"].update(concept_sets=["stroke"]),
     r"^trial specification: outcome/concept_sets names the concept set 'stroke', which is not defined under "
     r"concept_sets \(defined: \['hba1c', 'metformin', 'mi', 'sglt2', 't2d'\]\)$"),
    (lambda s: s["strategies"].update(treatment="mi"),
     r"^trial specification: strategies/treatment needs a concept set of domain 'drug'; 'mi' has domain "
     r"'condition'$"),
    (lambda s: s["eligibility"].update(age=[80, 18]),
     r"^trial specification: eligibility/age \[80, 18\] has its minimum above its maximum$"),
    (lambda s: s.update(horizon_days="five years"),
     r"^trial specification: horizon_days: 'five years' is not of type 'integer'$"),
])
def test_bad_specifications_stop_before_any_work(change, message):
    spec = copy.deepcopy(SPEC)
    change(spec)
    with pytest.raises(ValueError, match=message):
        build_cohort(spec, "/nonexistent/omop")  # the specification is checked before the source is opened


def test_example_specifications_are_valid():
    for name in ("sglt2_vs_dpp4", "ehr_diabetes_grace", "ehr_diabetes_active"):
        spec = load_spec(f"config/trials/{name}.yaml")
        assert spec.name == name


def test_publishable_tables_blank_small_cells(tmp_path):
    cohort = build_cohort(SPEC, _write(tmp_path))
    att = attrition_table(cohort, min_cell_size=3)
    row = att.set_index("criterion").loc["no sglt2 ever before"]
    assert np.isnan(row["n_removed"]) and row["n_patients"] == 5 and row["suppressed"]
    t1 = table_one(cohort, min_cell_size=3).set_index("variable")
    assert np.isnan(t1.loc["age", "mean_1"])  # one treated patient: the arm's statistics are blanked
    assert t1.loc["age", "n_0"] == 4 and np.isnan(t1.loc["female", "count_0"])  # 2 of 4 women: blanked
    fu = follow_up_distribution(cohort, min_cell_size=3)
    assert fu["n"].tolist() == [4.0, np.nan] or np.isnan(fu["n"].iloc[1])
    with pytest.raises(ValueError, match="not under results/"):
        cohort.write(tmp_path / "results" / "cohort")
    written = cohort.write(tmp_path / "private")
    assert sorted(p.name for p in written.iterdir()) == ["analysis.parquet", "attrition.csv", "ccw_input.parquet",
                                                          "dictionary.csv"]


def test_estimators_recover_the_simulators_effects(tmp_path):
    from causalehr.cate import CensoredCATE
    from causalehr.ccw import fit_ccw

    covariates = ["age", "female", "hba1c", "bmi", "egfr", "sbp", "diabetes_duration", "ldl", "smoker", "ckd",
                  "heart_failure", "hypertension", "cvd", "retinopathy", "neuropathy", "insulin", "metformin",
                  "sulfonylurea", "statin", "ras_blocker"]
    # strategy 1: SGLT2 vs DPP-4 inhibitor at time zero, AIPCW DR-learner, RMST difference up to 5 years
    wh = write_synthetic_omop(4000, 11, tmp_path / "active", design="active_comparator", missingness=0.0,
                              n_ineligible=5)
    cohort = build_cohort("config/trials/ehr_diabetes_active.yaml", wh.path)
    df = cohort.analysis
    est = CensoredCATE(horizon=5.0, method="aipcw-dr", n_folds=2, random_state=0).fit(
        df[covariates].to_numpy(float), df["treatment"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy())
    ate, lo, hi = est.ate_interval()
    truth = wh.effects["cate_rmst"].mean()
    assert lo <= truth <= hi, (truth, ate, lo, hi)
    # strategy 2: start within 183 days vs never, clone-censor-weight with bootstrap intervals
    wh = write_synthetic_omop(4000, 12, tmp_path / "grace", design="grace_vs_never", missingness=0.0,
                              n_ineligible=5, grace=183 / 365.25, start_rate=0.5)
    cohort = build_cohort("config/trials/ehr_diabetes_grace.yaml", wh.path)
    m = fit_ccw(cohort.ccw_input, covariates, grace=cohort.grace, horizon=5.0, n_intervals=8, n_bootstrap=20,
                random_state=0)
    truth = wh.effects["strategy_rmst_difference"].mean()
    assert m.rmst_interval_[0] <= truth <= m.rmst_interval_[1], (truth, m.rmst_difference_, m.rmst_interval_)


def _with_drugs(rows):
    """The hand-made tables with extra drug exposures (person, concept, start, end)."""
    tables = _tables()
    extra = pd.DataFrame(rows, columns=["person_id", "drug_concept_id", "drug_exposure_start_date",
                                        "drug_exposure_end_date"])
    for c in ("drug_exposure_start_date", "drug_exposure_end_date"):
        extra[c] = pd.to_datetime(extra[c])
    drugs = tables["drug_exposure"]
    extra = extra.assign(drug_exposure_id=drugs["drug_exposure_id"].max() + 1 + np.arange(len(extra)),
                         drug_type_concept_id=32817, days_supply=90)
    tables["drug_exposure"] = pd.concat([drugs, extra[drugs.columns]], ignore_index=True)
    return tables


def test_sequential_trials_one_row_per_eligible_trial(tmp_path):
    # trials every 30 days from 2015-06-01: 06-01, 07-01, 07-31, 08-30. Person 1 starts the SGLT2 inhibitor on
    # 2015-08-01, so the washout removes them from the fourth trial; person 3 is lost after the 2015-09-01 visit.
    spec = copy.deepcopy(SPEC)
    spec["eligibility"].update(entry={"calendar": {"start": "2015-06-01", "end": "2015-09-01", "every_days": 30}},
                               select="all")
    a = build_cohort(spec, _write(tmp_path)).analysis
    trials = [D(2015, 6, 1), D(2015, 7, 1), D(2015, 7, 31), D(2015, 8, 30)]
    assert a.groupby("person_id")["trial"].apply(list).to_dict() == {1: [1, 2, 3], 3: [1, 2, 3, 4], 4: [1, 2, 3, 4],
                                                                     5: [1, 2, 3, 4], 6: [1, 2, 3, 4]}
    p1 = a[a["person_id"] == 1]
    assert p1["time_zero"].tolist() == trials[:3]
    assert p1["treatment_start"].tolist() == [61.0, 31.0, 1.0]
    assert p1["time"].tolist() == [_days(t, D(2016, 6, 1)) for t in trials[:3]] and p1["event"].tolist() == [1] * 3
    p3 = a[a["person_id"] == 3]
    assert p3["time_zero"].tolist() == trials
    assert p3["time"].tolist() == [_days(t, D(2015, 9, 1)) for t in trials]  # lost at the last contact
    assert p3["event"].tolist() == [0] * 4
    assert (a.loc[a["person_id"] == 5, "cause"] == 2).all()  # the death of 2016-01-15 is competing in each trial


def test_per_protocol_censors_at_the_switch(tmp_path):
    # person 1 starts the SGLT2 inhibitor on 2015-08-01 and switches to the DPP-4 inhibitor on 2016-01-01, before
    # the myocardial infarction of 2016-06-01; person 3 starts the DPP-4 inhibitor on 2015-07-01 and never switches
    dpp4 = CONCEPT_IDS["sitagliptin"]
    tables = _with_drugs([(1, dpp4, D(2016, 1, 1), D(2016, 3, 30)), (3, dpp4, D(2015, 7, 1), D(2015, 9, 28))])
    spec = copy.deepcopy(SPEC)
    spec["concept_sets"].update(dpp4={"domain": "drug", "concepts": [dpp4]},
                                study_drug={"domain": "drug", "concepts": [SGLT2, dpp4]})
    spec["eligibility"] = {"entry": {"concept_set": "study_drug"}, "require": [{"concept_set": "t2d"}],
                           "prior_observation_days": 365}
    spec["strategies"] = {"type": "active_comparator", "treatment": "sglt2", "comparator": "dpp4", "grace_days": 30}
    spec["censoring"] = {"per_protocol": False}
    folder = _write(tmp_path, tables)
    itt = build_cohort(spec, folder).analysis.set_index("person_id")
    spec["censoring"] = {"per_protocol": True}
    pp = build_cohort(spec, folder).analysis.set_index("person_id")
    # person 2: first eligible dispensing 2016-06-01 (the 2014 one has < 365 days of prior observation)
    assert pp.index.tolist() == itt.index.tolist() == [1, 2, 3]
    assert pp["time_zero"].tolist() == [D(2015, 8, 1), D(2016, 6, 1), D(2015, 7, 1)]
    assert pp["treatment"].tolist() == [1, 1, 0]
    assert itt.loc[1, ["time", "event"]].tolist() == [_days(D(2015, 8, 1), D(2016, 6, 1)), 1]
    assert pp.loc[1, ["time", "event"]].tolist() == [_days(D(2015, 8, 1), D(2016, 1, 1)), 0]  # 153 days
    for p in (2, 3):
        assert pp.loc[p, ["time", "event", "cause"]].tolist() == itt.loc[p, ["time", "event", "cause"]].tolist()
    assert pp.loc[3, ["time", "event"]].tolist() == [_days(D(2015, 7, 1), D(2017, 1, 1)), 1]
