"""Synthetic OMOP CDM warehouse with known truth, from the ``ehr_diabetes`` simulator.

Each simulated patient (:func:`causalehr.simulate.simulate`) becomes dated OMOP rows (OMOP CDM v5.4) such that the
simulator's own target trial (Hernan & Robins 2016, Am J Epidemiol 183:758-764), extracted with
``config/trials/ehr_diabetes_grace.yaml`` or ``ehr_diabetes_active.yaml``, gives back the simulator's analysis
table to the day:

- time zero (eligibility) is a calendar date drawn uniformly over ``enrolment``; birth date = time zero minus the
  age in days; the observation period starts ``LOOKBACK`` + u days before time zero (u uniform on [0, 365)) and
  ends at the censoring date (loss to follow-up or administrative end) or, after an event, up to two years later;
  visits before time zero fall in the first year of observation, so the visit at time zero is the first one with
  a full year of prior observation (design ``"grace_vs_never"``: time zero = first eligible visit);
- visits are irregular (Poisson, more frequent in patients with CKD, heart failure, CVD or insulin); HbA1c, eGFR,
  BMI, systolic blood pressure and LDL are measured at visits; the last measurement in [time zero - LOOKBACK,
  time zero] equals the simulator's baseline value (at the time-zero visit or the last visit before it), a
  simulator NaN means no measurement in that window; other measurements vary around it;
- the type 2 diabetes diagnosis is dated diabetes_duration before time zero (it may precede the observation
  period: such rows are history, reported by the cohort builder), comorbidities are condition rows before time
  zero (some recorded again afterwards), prior drugs are exposures with 90-day refills overlapping the year before
  time zero (dispensings outside the observation period are not written);
- design ``"grace_vs_never"`` (simulator with ``time_varying_start=True``): the SGLT2 inhibitor starts at the
  simulated start time; design ``"active_comparator"`` (point treatment): an SGLT2 inhibitor (treatment 1) or a
  DPP-4 inhibitor (0) starts at time zero, which is then the first dispensing;
- the outcome is a condition row (myocardial infarction, stroke or end-stage renal disease) at the event date;
  a quarter of the censored patients die at their censoring date (a competing death in the extracted cohort,
  censoring in the simulator) and some patients die after their event; care_site = centre.

Patients who are not eligible are added (``n_ineligible`` per reason, in this order of the eligibility criteria):
no type 2 diabetes diagnosis, age above 100 (103 to 110 at time zero, above 100 at every visit), less than 365
days of observation in all, prevalent users (exposed to the study drug(s) from their first year of observation on).
Each fails its criterion only; ``n_prevalent`` sets the number of prevalent users apart (a design error's
strength: a cohort without washout admits them, :mod:`causalehr.cohort.designs`).
Design-error knobs (default off, outputs unchanged): ``hba1c_lowering`` lowers every HbA1c measured after the start
of the SGLT2 inhibitor by that many percentage points (a measurement the treatment changes; in the active-comparator
design the DPP-4 inhibitor's arm is left unchanged, so that the knob is the difference between the drugs); a
simulator with ``calendar_drift`` dates time zero at its ``calendar`` position in the enrolment window.
Times are rounded to the day (at least one day of follow-up); the truth tables hold the day-rounded analysis table.
Rows are generated per chunk of patients with numpy and written per table with pyarrow (row order and values
depend on ``seed`` and ``chunk_size``).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from causalehr.omop.cdm import CONCEPT_IDS, CONCEPTS, EHR_TYPE, GENDER, TABLES, UNITS, VISIT
from causalehr.simulate import SimulatedCohort, simulate

DESIGNS = ("grace_vs_never", "active_comparator")
REASONS = ("no_type2_diabetes", "age_above_100", "short_observation", "prevalent_user")
LOOKBACK = 365  # days of the baseline windows the writer guarantees (measurements, drugs)
DAYS_PER_YEAR = 365.25
SUPPLY = 90  # days of supply of each dispensing
EPOCH = dt.date(1970, 1, 1)
MEASURES = {"hba1c": ("hba1c", "percent"), "egfr": ("egfr", "mL/min/1.73m2"), "bmi": ("bmi", "kg/m2"),
            "sbp": ("sbp", "mmHg"), "ldl": ("ldl", "mmol/L")}
CONDITIONS = {"ckd": ["ckd"], "heart_failure": ["heart_failure"], "hypertension": ["hypertension"],
              "cvd": ["myocardial_infarction", "stroke"], "retinopathy": ["diabetic_retinopathy"],
              "neuropathy": ["diabetic_neuropathy"], "smoker": ["tobacco_dependence"]}
DRUGS = {"metformin": ["metformin"], "insulin": ["insulin_glargine"], "sulfonylurea": ["gliclazide", "glimepiride"],
         "statin": ["atorvastatin", "rosuvastatin"], "ras_blocker": ["ramipril", "losartan"]}
SGLT2 = ["empagliflozin", "dapagliflozin"]
DPP4 = ["sitagliptin", "linagliptin"]
OUTCOMES = ["myocardial_infarction", "stroke", "end_stage_renal_disease"]
TABLE_ORDER = ("person", "observation_period", "visit_occurrence", "condition_occurrence", "drug_exposure",
               "measurement", "death", "care_site", "concept", "concept_ancestor")


@dataclass
class SyntheticWarehouse:
    """A synthetic OMOP warehouse and its truth.

    ``path``: the parquet folder or DuckDB file; ``truth``: the simulator's analysis table rounded to the day
    (``person_id``, covariates, treatment, [treatment_start], time in years, event, centre) of the eligible
    patients; ``effects``: the simulator's per-patient true effects keyed by ``person_id``; ``ineligible``:
    ``person_id, reason`` of the planted non-eligible patients; ``cohort``: the simulated cohort itself;
    ``n_rows``: rows written per table.
    """

    path: Path
    fmt: str
    design: str
    truth: pd.DataFrame
    effects: pd.DataFrame
    ineligible: pd.DataFrame
    cohort: SimulatedCohort
    n_rows: dict[str, int]

    def write_truth(self, directory: str | Path) -> Path:
        """Write truth.parquet, effects.parquet, ineligible.parquet and the simulator's own files (for its
        horizons and strategy effects) into ``directory``, which should be private like the records."""
        directory = Path(directory)
        self.cohort.to_parquet(directory / "simulated")
        self.truth.to_parquet(directory / "truth.parquet", index=False)
        self.effects.to_parquet(directory / "effects.parquet", index=False)
        self.ineligible.to_parquet(directory / "ineligible.parquet", index=False)
        return directory


def _days(value: str | dt.date) -> int:
    return (dt.date.fromisoformat(value) if isinstance(value, str) else value).toordinal() - EPOCH.toordinal()


def _to_day(years: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(years, dtype=float) * DAYS_PER_YEAR).astype(np.int64)


def _uniform_days(rng, low, high):
    """One integer day per patient, uniform on [low, high) (high > low elementwise)."""
    return low + np.floor(rng.random(len(low)) * (high - low)).astype(np.int64)


def _spread(rng, person, first, last, count):
    """``count`` random days uniform on [first, last) per patient; returns (person, day) rows."""
    rows = np.repeat(np.arange(len(person)), count)
    span = np.maximum(last - first, 1)[rows]
    return person[rows], first[rows] + np.floor(rng.random(len(rows)) * span).astype(np.int64), rows


def _refills(person, first, last, supply=SUPPLY):
    """Dispensings every ``supply`` days from ``first`` while before ``last``; returns (person, start, end, row)."""
    count = np.maximum(np.ceil((last - first) / supply).astype(np.int64), 1)
    rows = np.repeat(np.arange(len(person)), count)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    start = first[rows] + offset * supply
    return person[rows], start, start + supply - 1, rows


def _pick(rng, names, size):
    ids = np.array([CONCEPT_IDS[n] for n in names], dtype=np.int64)
    return ids[rng.integers(0, len(ids), size)]


def _patients(cohort: SimulatedCohort, design: str, rng, first_id: int, reasons: np.ndarray,
              enrolment: tuple[int, int]) -> dict:
    """Per-patient dates (epoch days) and flags of the rows to write."""
    d = cohort.data
    n = len(d)
    index = _uniform_days(rng, np.full(n, enrolment[0]), np.full(n, enrolment[1] + 1))
    if "calendar" in d:  # calendar drift: time zero at the simulated calendar position
        index = enrolment[0] + np.floor(d["calendar"].to_numpy() * (enrolment[1] + 1 - enrolment[0])).astype(np.int64)
    age_days = _to_day(d["age"].to_numpy())
    old = reasons == REASONS[1]
    age_days[old] = _to_day(rng.uniform(103, 110, old.sum()))
    follow = np.maximum(_to_day(d["time"].to_numpy()), 1)
    event = d["event"].to_numpy().astype(bool)
    obs_start = index - LOOKBACK - np.floor(rng.random(n) * 365).astype(np.int64)
    obs_end = np.where(event, index + follow + np.floor(rng.random(n) * 730).astype(np.int64), index + follow)
    short = reasons == REASONS[2]
    obs_start[short] = index[short] - rng.integers(30, 150, short.sum())
    obs_end[short] = obs_start[short] + rng.integers(200, 365, short.sum())
    follow[short] = np.minimum(follow[short], obs_end[short] - index[short])
    event[short] &= (index + follow <= obs_end)[short]
    start = np.full(n, -1, dtype=np.int64)  # study-drug start (days after time zero), -1 = none
    if design == "grace_vs_never":
        s = d["treatment_start"].to_numpy()
        start[~np.isnan(s)] = np.minimum(_to_day(s[~np.isnan(s)]), follow[~np.isnan(s)])
    else:
        start[:] = 0
    return {"person_id": first_id + np.arange(n, dtype=np.int64), "index": index, "birth": index - age_days,
            "female": d["female"].to_numpy() == 1, "centre": d["centre"].to_numpy().astype(np.int64),
            "obs_start": obs_start, "obs_end": obs_end, "follow": follow, "event": event, "start": start,
            "arm": d["treatment"].to_numpy().astype(np.int64), "reasons": reasons, "data": d}


def _chunk_tables(p: dict, design: str, rng, next_ids: dict, hba1c_lowering: float = 0.0) -> dict[str, pa.Table]:
    """OMOP rows of one chunk of patients (see the module docstring)."""
    d, pid, index = p["data"], p["person_id"], p["index"]
    n = len(pid)
    ids = {}

    def new_ids(table, k):
        ids[table] = next_ids[table] + np.arange(k, dtype=np.int64)
        next_ids[table] += k
        return ids[table]

    def date(x):
        return pa.array(np.asarray(x, dtype=np.int64).astype(np.int32), pa.date32())

    def const(value, k):
        return pa.array(np.full(k, value, dtype=np.int64))

    out = {}
    birth = p["birth"]
    out["person"] = pa.table({
        "person_id": pid, "gender_concept_id": np.where(p["female"], GENDER["female"], GENDER["male"]),
        "year_of_birth": pd.to_datetime(birth, unit="D").year.to_numpy().astype(np.int64),
        "birth_datetime": date(birth), "care_site_id": p["centre"]})
    out["observation_period"] = pa.table({
        "observation_period_id": new_ids("observation_period", n), "person_id": pid,
        "observation_period_start_date": date(p["obs_start"]), "observation_period_end_date": date(p["obs_end"]),
        "period_type_concept_id": const(EHR_TYPE, n)})

    # visits: before time zero within the first year of observation, at time zero, after it, and a last contact
    x = d
    sick = np.exp(0.4 * x["ckd"] + 0.4 * x["heart_failure"] + 0.3 * x["cvd"] + 0.2 * x["insulin"]).to_numpy()
    rate = 3.0 * sick / DAYS_PER_YEAR
    pre_end = p["obs_start"] + LOOKBACK  # = time zero - u: no visit with a full year of history before time zero
    pre_end = np.where(p["reasons"] == REASONS[2], index, pre_end)
    n_pre = rng.poisson(rate * (pre_end - p["obs_start"]))
    n_post = rng.poisson(rate * (p["obs_end"] - index))
    arange = np.arange(n)
    v_pre = _spread(rng, arange, p["obs_start"], pre_end, n_pre)
    v_post = _spread(rng, arange, index + 1, p["obs_end"] + 1, n_post)
    v_row = np.concatenate([v_pre[0], arange, v_post[0], arange])
    v_day = np.concatenate([v_pre[1], index, v_post[1], p["obs_end"]])
    order = np.lexsort((v_day, v_row))
    v_row, v_day = v_row[order], v_day[order]
    nv = len(v_row)
    visit_id = new_ids("visit_occurrence", nv)
    inpatient = rng.random(nv) < 0.1
    out["visit_occurrence"] = pa.table({
        "visit_occurrence_id": visit_id, "person_id": pid[v_row],
        "visit_concept_id": np.where(inpatient, VISIT["inpatient"], VISIT["outpatient"]),
        "visit_start_date": date(v_day), "visit_end_date": date(v_day + inpatient * rng.integers(1, 8, nv)),
        "visit_type_concept_id": const(EHR_TYPE, nv), "care_site_id": p["centre"][v_row]})

    # measurements at visits; the baseline value is the last one in [index - LOOKBACK, index]
    before = v_day < index[v_row]
    last_pre = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_pre, v_row[before], v_day[before])
    m_parts = []
    for name, (concept, unit) in MEASURES.items():
        value = x[name].to_numpy()
        known = ~np.isnan(value)
        use_pre = (rng.random(n) < 0.5) & (last_pre >= index - LOOKBACK)
        base_day = np.where(use_pre, last_pre, index)
        in_window = (v_day >= index[v_row] - LOOKBACK) & (v_day <= index[v_row])
        donor = value[known][rng.integers(0, known.sum(), n)] if known.any() else np.ones(n)
        centre_value = np.where(known, value, donor)[v_row]
        noisy = np.round(centre_value * np.exp(rng.normal(0, 0.06, nv)), 1)
        keep = rng.random(nv) < 0.35 + 0.25 * (sick[v_row] > 1.3)
        at_base = known[v_row] & (v_day == base_day[v_row])
        keep = np.where(in_window, at_base | (keep & known[v_row] & (v_day < base_day[v_row])), keep)
        val = np.where(at_base, value[v_row], noisy)
        if name == "hba1c" and hba1c_lowering:  # the SGLT2 inhibitor's own lowering (the comparator's is the reference)
            sglt2 = p["arm"] == 1 if design == "active_comparator" else np.ones(n, dtype=bool)
            on_drug = (sglt2 & (p["start"] >= 0))[v_row] & (v_day > index[v_row] + p["start"][v_row])
            val = np.where(on_drug, np.round(val - hba1c_lowering, 1), val)
        m_parts.append((v_row[keep], v_day[keep], val[keep], CONCEPT_IDS[concept], UNITS[unit], visit_id[keep]))
    m_row = np.concatenate([m[0] for m in m_parts])
    nm = len(m_row)
    out["measurement"] = pa.table({
        "measurement_id": new_ids("measurement", nm), "person_id": pid[m_row],
        "measurement_concept_id": np.concatenate([np.full(len(m[0]), m[3]) for m in m_parts]),
        "measurement_date": date(np.concatenate([m[1] for m in m_parts])),
        "measurement_type_concept_id": const(EHR_TYPE, nm),
        "value_as_number": np.concatenate([m[2] for m in m_parts]),
        "unit_concept_id": np.concatenate([np.full(len(m[0]), m[4]) for m in m_parts]),
        "visit_occurrence_id": np.concatenate([m[5] for m in m_parts])})

    # conditions: diagnosis, comorbidities before time zero (and some again afterwards), the outcome
    c_row, c_day, c_concept = [], [], []
    t2d = p["reasons"] != REASONS[0]
    diagnosis = index - np.maximum(_to_day(x["diabetes_duration"].to_numpy()), 1)
    diagnosis[p["reasons"] == REASONS[2]] = p["obs_start"][p["reasons"] == REASONS[2]]
    c_row.append(arange[t2d])
    c_day.append(diagnosis[t2d])
    c_concept.append(np.full(t2d.sum(), CONCEPT_IDS["type2_diabetes"]))
    again = rng.random(nv) < 0.3
    c_row.append(v_row[again & t2d[v_row] & (v_day > diagnosis[v_row])])
    c_day.append(v_day[again & t2d[v_row] & (v_day > diagnosis[v_row])])
    c_concept.append(np.full(len(c_row[-1]), CONCEPT_IDS["type2_diabetes"]))
    for name, concepts in CONDITIONS.items():
        has = x[name].to_numpy() == 1
        c_row.append(arange[has])
        c_concept.append(_pick(rng, concepts, has.sum()))
        c_day.append(index[has] - np.floor(rng.random(has.sum()) * 3 * 365).astype(np.int64))
        if name in ("ckd", "heart_failure", "hypertension"):
            later = (v_day > index[v_row]) & (rng.random(nv) < 0.2) & (has[v_row] | (rng.random(nv) < 0.02))
            c_row.append(v_row[later])
            c_day.append(v_day[later])
            c_concept.append(_pick(rng, concepts, later.sum()))
    ev = p["event"]
    c_row.append(arange[ev])
    c_day.append((index + p["follow"])[ev])
    c_concept.append(_pick(rng, OUTCOMES, ev.sum()))
    c_row, c_day, c_concept = (np.concatenate(c) for c in (c_row, c_day, c_concept))
    nc = len(c_row)
    out["condition_occurrence"] = pa.table({
        "condition_occurrence_id": new_ids("condition_occurrence", nc), "person_id": pid[c_row],
        "condition_concept_id": c_concept, "condition_start_date": date(c_day),
        "condition_type_concept_id": const(EHR_TYPE, nc),
        "visit_occurrence_id": pa.nulls(nc, pa.int64())})

    # drugs: prior treatments overlapping the year before time zero, the study drug(s)
    r_parts = []
    for name, concepts in DRUGS.items():
        has = x[name].to_numpy() == 1
        first = index[has] - rng.integers(30, 1500, has.sum())
        last = index[has] + rng.integers(1, 1500, has.sum())
        person, start, end, rows = _refills(arange[has], first, last)
        r_parts.append((person, start, end, _pick(rng, concepts, has.sum())[rows]))
    prevalent = p["reasons"] == REASONS[3]
    started = (p["start"] >= 0) & ~prevalent
    first = np.where(prevalent, p["obs_start"] + rng.integers(0, 200, n), index + p["start"])
    last = np.where(prevalent, index + rng.integers(30, 700, n), first + rng.integers(90, 1500, n))
    take = started | prevalent
    arm = np.where(prevalent, 1, p["arm"]) if design == "active_comparator" else np.ones(n, dtype=np.int64)
    drug = np.where(arm == 1, _pick(rng, SGLT2, n), _pick(rng, DPP4, n))
    person, start, end, rows = _refills(arange[take], first[take], last[take])
    r_parts.append((person, start, end, drug[take][rows]))
    r_row, r_start, r_end, r_concept = (np.concatenate([r[k] for r in r_parts]) for k in range(4))
    observed = (r_start >= p["obs_start"][r_row]) & (r_start <= p["obs_end"][r_row])
    r_row, r_start, r_end, r_concept = r_row[observed], r_start[observed], r_end[observed], r_concept[observed]
    nr = len(r_row)
    out["drug_exposure"] = pa.table({
        "drug_exposure_id": new_ids("drug_exposure", nr), "person_id": pid[r_row], "drug_concept_id": r_concept,
        "drug_exposure_start_date": date(r_start), "drug_exposure_end_date": date(r_end),
        "drug_type_concept_id": const(EHR_TYPE, nr), "days_supply": const(SUPPLY, nr)})

    # deaths: a quarter of the censored patients at their censoring date, some patients after their event
    dies = np.where(p["event"], rng.random(n) < 0.15, rng.random(n) < 0.25) & (p["reasons"] == "")
    out["death"] = pa.table({"person_id": pid[dies], "death_date": date(p["obs_end"][dies]),
                             "death_type_concept_id": const(EHR_TYPE, int(dies.sum()))})
    return out


def _vocabulary(n_centres: int) -> dict[str, pa.Table]:
    """care_site, concept and (identity) concept_ancestor rows of the concepts used."""
    rows = list(CONCEPTS.values())
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return {
        "care_site": pa.table({"care_site_id": np.arange(1, n_centres + 1, dtype=np.int64),
                               "care_site_name": [f"centre {k}" for k in range(1, n_centres + 1)]}),
        "concept": pa.table({"concept_id": ids, "concept_name": [r[1] for r in rows],
                             "domain_id": [r[2] for r in rows], "vocabulary_id": [r[3] for r in rows],
                             "concept_class_id": [r[4] for r in rows], "standard_concept": ["S"] * len(rows),
                             "concept_code": [str(r[0]) for r in rows]}),
        "concept_ancestor": pa.table({"ancestor_concept_id": ids, "descendant_concept_id": ids,
                                      "min_levels_of_separation": np.zeros(len(ids), np.int64),
                                      "max_levels_of_separation": np.zeros(len(ids), np.int64)}),
    }


def _schema(table: str) -> pa.Schema:
    types = {"int64": pa.int64(), "float64": pa.float64(), "date": pa.date32(), "string": pa.string()}
    return pa.schema([(c, types[t]) for c, t in TABLES[table].items()])


def _truth(cohort: SimulatedCohort, p: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulator's analysis table rounded to the day (as the records store it) and its truth, by person_id."""
    data = cohort.data.drop(columns="patient_id")
    data.insert(0, "person_id", p["person_id"])
    data["age"] = (p["index"] - p["birth"]) / DAYS_PER_YEAR
    data["diabetes_duration"] = np.maximum(_to_day(data["diabetes_duration"]), 1) / DAYS_PER_YEAR
    data["time"] = p["follow"] / DAYS_PER_YEAR
    if "treatment_start" in data:
        data["treatment_start"] = np.where(p["start"] >= 0, p["start"], np.nan) / DAYS_PER_YEAR
    effects = cohort.truth.copy()
    effects.insert(0, "person_id", p["person_id"])
    return data, effects


def write_synthetic_omop(
    n: int,
    seed: int,
    out: str | Path,
    *,
    design: str = "grace_vs_never",
    fmt: str = "parquet",
    n_ineligible: int | None = None,
    enrolment: tuple[str, str] = ("2012-01-01", "2016-12-31"),
    chunk_size: int = 200_000,
    n_prevalent: int | None = None,
    hba1c_lowering: float = 0.0,
    **simulator_params,
) -> SyntheticWarehouse:
    """Simulate ``n`` eligible ``ehr_diabetes`` patients and write them as OMOP CDM tables (module docstring).

    Parameters
    ----------
    n, seed : eligible patients and the seed of every draw (simulator, dates, records).
    out : folder of one parquet file per table (``fmt="parquet"``) or DuckDB database file (``fmt="duckdb"``);
        replaced if it exists.
    design : "grace_vs_never" (time-varying start of an SGLT2 inhibitor; simulator ``time_varying_start=True``)
        or "active_comparator" (SGLT2 vs DPP-4 inhibitor started at time zero).
    n_ineligible : non-eligible patients planted per reason of :data:`REASONS` (default max(1, n // 50)).
    enrolment : first and last calendar dates of time zero.
    chunk_size : patients generated and written at a time (memory).
    n_prevalent : planted prevalent users (default ``n_ineligible``).
    hba1c_lowering : percentage points by which the SGLT2 inhibitor lowers HbA1c measured after its start (default 0;
        the DPP-4 inhibitor's arm of the active-comparator design is unchanged).
    simulator_params : parameters of the ``ehr_diabetes`` simulator (e.g. effect, missingness, grace).
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if fmt not in ("parquet", "duckdb"):
        raise ValueError(f"fmt must be 'parquet' or 'duckdb', got {fmt!r}")
    if "time_varying_start" in simulator_params:
        raise ValueError("time_varying_start is set by design ('grace_vs_never' or 'active_comparator')")
    n_ineligible = max(1, n // 50) if n_ineligible is None else int(n_ineligible)
    seeds = np.random.SeedSequence(seed).spawn(3)
    params = {**simulator_params, "time_varying_start": design == "grace_vs_never"}
    cohort = simulate("ehr_diabetes", n, int(seeds[0].generate_state(1)[0]), **params)
    counts = [n_ineligible] * (len(REASONS) - 1) + [n_ineligible if n_prevalent is None else int(n_prevalent)]
    n_bad = sum(counts)
    # the planted patients come from a separate draw, large enough for the simulator's censoring calibration
    planted = simulate("ehr_diabetes", max(n_bad, 500), int(seeds[1].generate_state(1)[0]), **params)
    planted.data = planted.data.iloc[:n_bad].reset_index(drop=True)
    rng = np.random.default_rng(seeds[2])
    window = (_days(enrolment[0]), _days(enrolment[1]))
    good = _patients(cohort, design, rng, 1, np.full(n, "", dtype=object), window)
    reasons = np.repeat(np.array(REASONS, dtype=object), counts)
    bad = _patients(planted, design, rng, n + 1, reasons, window) if n_bad else None
    truth, effects = _truth(cohort, good)

    out = Path(out)
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    staging = out if fmt == "parquet" else Path(tempfile.mkdtemp(prefix="omop_", dir=out.parent))
    staging.mkdir(parents=True, exist_ok=True)
    writers = {t: pq.ParquetWriter(staging / f"{t}.parquet", _schema(t)) for t in TABLE_ORDER[:7]}
    n_rows = dict.fromkeys(TABLE_ORDER, 0)
    next_ids = dict.fromkeys(TABLE_ORDER, 1)
    parts = [(good, k) for k in range(0, n, chunk_size)] + ([(bad, 0)] if bad is not None else [])
    for p, k in parts:
        size = chunk_size if p is good else len(p["person_id"])
        chunk = {key: (v.iloc[k:k + size] if isinstance(v, pd.DataFrame) else v[k:k + size]) for key, v in p.items()}
        for table, rows in _chunk_tables(chunk, design, rng, next_ids, hba1c_lowering).items():
            writers[table].write_table(rows.select(_schema(table).names).cast(_schema(table)))
            n_rows[table] += rows.num_rows
    for w in writers.values():
        w.close()
    for table, rows in _vocabulary(int(cohort.data["centre"].max())).items():
        pq.write_table(rows.cast(_schema(table)), staging / f"{table}.parquet")
        n_rows[table] = rows.num_rows
    if fmt == "duckdb":
        import duckdb

        with duckdb.connect(str(out)) as con:
            for table in TABLE_ORDER:
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{staging / table}.parquet')")
        shutil.rmtree(staging)
    ineligible = pd.DataFrame({"person_id": bad["person_id"], "reason": reasons}) if bad is not None else None
    return SyntheticWarehouse(path=out, fmt=fmt, design=design, truth=truth, effects=effects,
                              ineligible=ineligible, cohort=cohort, n_rows=n_rows)
