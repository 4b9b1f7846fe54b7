"""Build a target-trial cohort from OMOP CDM tables, written once as ibis expressions (DuckDB by default; the same
expressions run on PySpark or PostgreSQL backends).

Steps (Hernan & Robins 2016, Am J Epidemiol 183:758-764; OMOP CDM v5.4 tables, :mod:`causalehr.omop.cdm`):
candidate dates of time zero (``eligibility.entry``) inside an observation period, eligibility criteria evaluated
at each candidate date in the order of the specification (require, age, prior observation, washout, exclude), time
zero = the first eligible candidate (or every eligible one: a sequence of trials), the strategies (arm of an active
comparator, or the time to treatment start for clone-censor-weight), the outcome (first row after time zero),
death, censoring (end of observation, administrative end, maximum follow-up, loss to follow-up, per-protocol switch)
and baseline covariates from look-back windows. Dates are handled as integer days since 1970-01-01.

Conventions: the day of time zero belongs to the baseline (rows on it count as history; outcomes count from the next
day on); drug exposures are intervals (start to end date); rows whose end date precedes their start date, or that lie
outside the span of the person's observation periods, are counted in the attrition table; the former are not used,
the latter are used as history before time zero (and lie after censoring when after the observation period).
An outcome and a death on the same day count as the outcome; a treatment start on the last day of follow-up counts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from causalehr.cohort.spec import TrialSpec, load_spec
from causalehr.data import data_dictionary
from causalehr.omop.cdm import DOMAINS, GENDER, OPTIONAL_TABLES, REQUIRED_TABLES, TABLES, check_tables

DAYS_PER_YEAR = 365.25
KEY = ["person_id", "t0"]


def connect(source):
    """An ibis backend for ``source``: an ibis backend (returned as is), a DuckDB database file (opened read-only) or
    a folder of ``<table>.parquet`` / ``<table>.csv`` files (read as views of an in-memory DuckDB)."""
    if hasattr(source, "list_tables") and hasattr(source, "table"):
        return source
    path = Path(source)
    if path.is_dir():
        con = ibis.duckdb.connect()
        found = False
        for table in TABLES:
            for suffix, reader in ((".parquet", con.read_parquet), (".csv", con.read_csv)):
                file = path / f"{table}{suffix}"
                if file.exists():
                    reader(str(file), table_name=table)
                    found = True
        if not found:
            raise ValueError(f"no OMOP table file (<table>.parquet or <table>.csv) found in folder {path}")
        return con
    if path.is_file():
        return ibis.duckdb.connect(str(path), read_only=True)
    raise ValueError(f"OMOP source {source!r} is neither an ibis connection, a folder of parquet/CSV files nor a "
                     "DuckDB database file")


def _day(column):
    return column.cast("date").epoch_days().cast("int64")


@dataclass
class Cohort:
    """A cohort built by :func:`build_cohort`.

    ``analysis``: one row per patient (per trial with ``select: all``): ``person_id``, ``trial``, ``time_zero``
    (date), the covariates, ``treatment`` (1 = treatment strategy's drug; for grace_vs_never: started during
    follow-up, the naive grouping), ``treatment_start`` (time from time zero to the first start of the treatment
    drug, NaN if not started during follow-up), ``time``, ``event`` (0/1), ``cause`` (0 censored, 1 outcome,
    2 competing death). ``attrition``: data-quality counts and the patients remaining after each criterion.
    ``dictionary``: the data dictionary of ``analysis``.
    """

    spec: TrialSpec
    analysis: pd.DataFrame
    attrition: pd.DataFrame
    dictionary: pd.DataFrame
    covariates: list[str] = field(default_factory=list)

    @property
    def ccw_input(self) -> pd.DataFrame | None:
        """Input of :func:`causalehr.ccw.fit_ccw` (grace_vs_never strategies): person_id, covariates,
        treatment_start, time, event; None for an active comparator."""
        if self.spec.strategies["type"] != "grace_vs_never":
            return None
        return self.analysis[["person_id", *self.covariates, "treatment_start", "time", "event"]]

    @property
    def horizon(self) -> float:
        """The horizon in the time unit of the analysis table."""
        return self.spec.horizon_days / (DAYS_PER_YEAR if self.spec.time_unit == "years" else 1)

    @property
    def grace(self) -> float:
        """The grace period in the time unit of the analysis table."""
        return self.spec.strategies["grace_days"] / (DAYS_PER_YEAR if self.spec.time_unit == "years" else 1)

    def write(self, private_dir: str | Path) -> Path:
        """Write the patient-level tables (analysis.parquet, ccw_input.parquet, dictionary.csv, attrition.csv) to
        ``private_dir``, which must not be under a ``results`` folder."""
        private = Path(private_dir).resolve()
        if "results" in private.parts:
            raise ValueError(f"patient-level tables are written to a private folder, not under results/: {private}")
        private.mkdir(parents=True, exist_ok=True)
        self.analysis.to_parquet(private / "analysis.parquet", index=False)
        if self.ccw_input is not None:
            self.ccw_input.to_parquet(private / "ccw_input.parquet", index=False)
        self.dictionary.to_csv(private / "dictionary.csv", index=False)
        self.attrition.to_csv(private / "attrition.csv", index=False)
        return private


class _Warehouse:
    """The OMOP tables of one backend, with the concept sets of a specification resolved."""

    def __init__(self, con, spec: TrialSpec):
        self.con, self.spec = con, spec
        names = set(con.list_tables())
        self.t = {name: con.table(name) for name in (*REQUIRED_TABLES, *OPTIONAL_TABLES) if name in names}
        check_tables(self.t)
        self.ids = {name: self._resolve(cs) for name, cs in spec.concept_sets.items()}

    def _resolve(self, cs) -> list[int]:
        ids = [int(i) for i in cs["concepts"]]
        if cs["descendants"] and "concept_ancestor" in self.t:
            ca = self.t["concept_ancestor"]
            found = ca.filter(ca.ancestor_concept_id.isin(ids)).descendant_concept_id.execute()
            ids = sorted(set(ids) | {int(i) for i in found})
        return ids

    def domain(self, domain: str):
        """All rows of a domain as (pid, s, e, rid, v): person, start day, end day, row id, value."""
        table, concept, start, end = DOMAINS[domain]
        t = self.t[table]
        rid = {"condition": "condition_occurrence_id", "drug": "drug_exposure_id", "measurement": "measurement_id",
               "visit": "visit_occurrence_id"}[domain]
        s = _day(t[start])
        return t.select(pid=t.person_id, concept=t[concept], s=s, e=_day(t[end]) if end else s, rid=t[rid],
                        v=t.value_as_number if domain == "measurement" else ibis.null("float64"))

    def events(self, name: str):
        """Usable rows of a concept set (end not before start)."""
        rows = self.domain(self.spec.concept_sets[name]["domain"])
        rows = rows.filter(rows.concept.isin(self.ids[name]))
        return rows.filter(rows.s.notnull() & (rows.e >= rows.s))

    def warn_empty(self, names) -> None:
        for name in dict.fromkeys(names):
            domain = self.spec.concept_sets[name]["domain"]
            rows = self.domain(domain)
            if rows.filter(rows.concept.isin(self.ids[name])).limit(1).count().execute() == 0:
                warnings.warn(f"concept set '{name}' (domain {domain}, concepts {self.ids[name][:10]}) matches no row "
                              f"of {DOMAINS[domain][0]}", stacklevel=3)

    def observation(self):
        op = self.t["observation_period"]
        return op.select(pid=op.person_id, os=_day(op.observation_period_start_date),
                         oe=_day(op.observation_period_end_date))

    def data_quality(self) -> list[dict]:
        """Rows with an end before their start, and rows outside the span of their person's observation periods."""
        span = self.observation().group_by("pid").agg(first=lambda t: t.os.min(), last=lambda t: t.oe.max())
        out = []
        op = self.observation()
        bad = op.filter(op.oe < op.os)
        out.append(("observation_period", "end date before start date", bad))
        for domain in ("visit", "condition", "drug", "measurement"):
            rows = self.domain(domain)
            table = DOMAINS[domain][0]
            if DOMAINS[domain][3]:
                out.append((table, "end date before start date (rows not used)", rows.filter(rows.e < rows.s)))
            j = rows.join(span, rows.pid == span.pid)
            out.append((table, "rows outside the observation period (used as history only)",
                        j.filter((j.s < j.first) | (j.s > j.last)).select(pid=j.pid)))
        d = self.t["death"]
        dd = d.select(pid=d.person_id, s=_day(d.death_date)).join(span, "pid")
        out.append(("death", "death outside the observation period", dd.filter((dd.s < dd.first) | (dd.s > dd.last))))
        stats = ibis.union(*[rows.aggregate(n_rows=rows.count(), n_patients=rows.pid.nunique())
                             .mutate(k=ibis.literal(k)) for k, (_, _, rows) in enumerate(out)]).execute()
        stats = stats.set_index("k").sort_index()
        return [{"kind": "data quality", "criterion": f"{table}: {what}", "n_patients": int(stats.loc[k, "n_patients"]),
                 "n_rows": int(stats.loc[k, "n_rows"])} for k, (table, what, _) in enumerate(out)]


def _any_in_window(keys, ev, lo, hi, *, overlap: bool):
    """(person_id, t0, n) with n = rows of ``ev`` in [t0 + lo, t0 + hi] (lo None: all history); drug intervals
    count when they overlap the window."""
    if lo is None:
        first = ev.group_by("pid").agg(first=ev.s.min())
        j = keys.join(first, keys.person_id == first.pid)
        return j.filter(j.first <= j.t0 + hi).select("person_id", "t0", k_n=ibis.literal(1))
    j = keys.join(ev, [keys.person_id == ev.pid, ev.s <= keys.t0 + hi, (ev.e if overlap else ev.s) >= keys.t0 + lo])
    return j.group_by(KEY).agg(k_n=j.count())


def _attach(base, agg, **columns):
    """Left join ``agg`` on (person_id, t0) and add ``columns`` (functions of the joined table)."""
    j = base.left_join(agg, KEY)
    return j.select(*base.columns, **{name: fn(j) for name, fn in columns.items()})


def _flag(base, agg, name, *, present: bool = True):
    return _attach(base, agg, **{name: lambda j: j.k_n.notnull() if present else j.k_n.isnull()})


def _candidates(wh: _Warehouse, spec: TrialSpec):
    """Candidate dates (person_id, t0) with the observation period containing them (os, oe)."""
    entry = spec.eligibility["entry"]
    if "calendar" in entry:
        cal = entry["calendar"]
        days = np.arange(pd.Timestamp(cal["start"]).toordinal(), pd.Timestamp(cal["end"]).toordinal() + 1,
                         cal["every_days"]) - pd.Timestamp("1970-01-01").toordinal()
        persons = wh.t["person"].select("person_id")
        cands = persons.cross_join(ibis.memtable(pd.DataFrame({"t0": days.astype(np.int64)})))
    else:
        ev = wh.events(entry["concept_set"]) if "concept_set" in entry else wh.domain("visit")
        cands = ev.select(person_id=ev.pid, t0=ev.s).distinct()
    op = wh.observation()
    j = cands.join(op, [cands.person_id == op.pid, op.os <= cands.t0, op.oe >= cands.t0])
    return j.select("person_id", "t0", "os", "oe").distinct()


def _criteria(wh: _Warehouse, spec: TrialSpec, cands):
    """Add one boolean column per eligibility criterion; return (table, [(column, label)])."""
    el, labels = spec.eligibility, []
    keys = cands.select(*KEY)
    for k, c in enumerate(el["require"]):
        lo, hi = c["window"]
        agg = _any_in_window(keys, wh.events(c["concept_set"]), lo, hi,
                             overlap=spec.concept_sets[c["concept_set"]]["domain"] == "drug")
        cands = _flag(cands, agg, f"c_require{k}")
        labels.append((f"c_require{k}", f"{c['concept_set']} in days [{lo}, {hi}]"))
    person = wh.t["person"]
    birth = person.select(pid=person.person_id, birth=_day(person.birth_datetime))
    j = cands.left_join(birth, cands.person_id == birth.pid)
    cands = j.select(*cands.columns, "birth")
    if el["age"] is not None:
        lo, hi = el["age"]
        age = (cands.t0 - cands.birth) / DAYS_PER_YEAR
        cands = cands.mutate(c_age=(age >= lo) & (age <= hi))
        labels.append(("c_age", f"age {lo:g} to {hi:g} years"))
    if el["prior_observation_days"]:
        cands = cands.mutate(c_prior=(cands.t0 - cands.os) >= el["prior_observation_days"])
        labels.append(("c_prior", f"at least {el['prior_observation_days']} days of prior observation"))
    if el["washout"] is not None:
        w = el["washout"]
        for name in w["concept_sets"]:
            lo = None if w["days"] is None else -w["days"]
            cands = _flag(cands, _any_in_window(keys, wh.events(name), lo, -1, overlap=True), f"c_washout_{name}",
                          present=False)
            labels.append((f"c_washout_{name}", f"no {name} " + ("ever before" if lo is None
                                                                  else f"in the {w['days']} days before")))
    for k, c in enumerate(el["exclude"]):
        lo, hi = c["window"]
        agg = _any_in_window(keys, wh.events(c["concept_set"]), lo, hi,
                             overlap=spec.concept_sets[c["concept_set"]]["domain"] == "drug")
        cands = _flag(cands, agg, f"c_exclude{k}", present=False)
        labels.append((f"c_exclude{k}", f"no {c['concept_set']} in days [{lo}, {hi}]"))
    return cands, labels


def _first_start(keys, ev, lo_offset, hi_offset=None):
    """(person_id, t0, k_start) = first start day of ``ev`` in [t0 + lo_offset, t0 + hi_offset] (hi None: no bound)."""
    pred = [keys.person_id == ev.pid, ev.s >= keys.t0 + lo_offset]
    if hi_offset is not None:
        pred.append(ev.s <= keys.t0 + hi_offset)
    j = keys.join(ev, pred)
    return j.group_by(KEY).agg(k_start=j.s.min())


def _strategies(wh, spec, cohort):
    """Add ``a_start`` (first start of the treatment drug from time zero on) and, for an active comparator,
    ``b_start`` (comparator) and the arm; rows with no arm keep ``arm`` null."""
    st, keys = spec.strategies, cohort.select(*KEY)
    cohort = _attach(cohort, _first_start(keys, wh.events(st["treatment"]), 0), a_start=lambda j: j.k_start)
    if st["type"] == "grace_vs_never":
        return cohort.mutate(arm=ibis.literal(0))
    g = st["grace_days"]
    cohort = _attach(cohort, _first_start(keys, wh.events(st["comparator"]), 0), b_start=lambda j: j.k_start)
    a_in = cohort.a_start.notnull() & (cohort.a_start <= cohort.t0 + g)
    b_in = cohort.b_start.notnull() & (cohort.b_start <= cohort.t0 + g)
    arm = (ibis.cases((a_in & (~b_in | (cohort.a_start < cohort.b_start)), 1),
                      (b_in & (~a_in | (cohort.b_start < cohort.a_start)), 0),
                      else_=ibis.null("int64")))
    both = a_in & b_in & (cohort.a_start == cohort.b_start)
    return cohort.mutate(arm=arm, both_same_day=both)


def _follow_up(wh, spec, cohort):
    """Add the outcome, death and censoring days and the resulting end, cause and treatment start."""
    keys, cens, out = cohort.select(*KEY), spec.censoring, spec.outcome
    if out["concept_sets"]:
        ev = ibis.union(*[wh.events(name).select("pid", "s", "e") for name in out["concept_sets"]])
        cohort = _attach(cohort, _first_start(keys, ev, 1), y=lambda j: j.k_start)
    else:
        cohort = cohort.mutate(y=ibis.null("int64"))
    d = wh.t["death"]
    death = d.select(pid=d.person_id, s=_day(d.death_date)).group_by("pid").agg(death=lambda t: t.s.min())
    j = cohort.left_join(death, cohort.person_id == death.pid)
    cohort = j.select(*cohort.columns, death=ibis.cases((j.death >= j.t0, j.death), else_=ibis.null("int64")))
    if cens["loss_to_follow_up_days"] is not None:
        v = wh.domain("visit")
        contacts = cohort.select(*KEY, "oe").join(v, [cohort.person_id == v.pid, v.s > cohort.t0, v.s <= cohort.oe])
        contacts = ibis.union(contacts.select(*KEY, "oe", day=contacts.s),
                              cohort.select(*KEY, "oe", day=cohort.t0)).distinct()
        nxt = contacts.day.lead().over(ibis.window(group_by=KEY, order_by="day"))
        gaps = contacts.mutate(gap_end=ibis.coalesce(nxt, contacts.oe))
        lost = gaps.filter(gaps.gap_end - gaps.day > cens["loss_to_follow_up_days"]).group_by(KEY).agg(
            k_start=lambda t: t.day.min())
        cohort = _attach(cohort, lost, lost=lambda j: j.k_start)
    ends = [cohort.oe]
    if cens["administrative_end"] is not None:
        ends.append(ibis.literal((pd.Timestamp(cens["administrative_end"]) - pd.Timestamp("1970-01-01")).days))
    if cens["max_follow_up_days"] is not None:
        ends.append(cohort.t0 + cens["max_follow_up_days"])
    if cens["loss_to_follow_up_days"] is not None:
        ends.append(ibis.coalesce(cohort.lost, cohort.oe))
    if cens["per_protocol"] and spec.strategies["type"] == "active_comparator":
        switch = ibis.cases((cohort.arm == 1, cohort.b_start), (cohort.arm == 0, cohort.a_start),
                            else_=ibis.null("int64"))
        ends.append(ibis.cases((switch.notnull() & (switch > cohort.t0), switch), else_=cohort.oe))
    censor = ibis.least(*ends) if len(ends) > 1 else ends[0]
    cohort = cohort.mutate(censor=censor)
    y = cohort.y
    if out["death"]:
        y = ibis.least(ibis.coalesce(y, cohort.death), ibis.coalesce(cohort.death, y))
    cohort = cohort.mutate(y=y)
    dies = cohort.death.notnull() & (cohort.death <= cohort.censor)
    has_y = cohort.y.notnull() & (cohort.y <= cohort.censor)
    if out["death"]:
        cause = ibis.cases((has_y, 1), else_=0)
        end = ibis.cases((has_y, cohort.y), else_=cohort.censor)
    elif out["competing_death"]:
        cause = ibis.cases((has_y & (~dies | (cohort.y <= cohort.death)), 1), (dies, 2), else_=0)
        end = ibis.cases((cause == 1, cohort.y), (cause == 2, cohort.death), else_=cohort.censor)
    else:
        cause = ibis.cases((has_y & (~dies | (cohort.y <= cohort.death)), 1), else_=0)
        end = ibis.cases((cause == 1, cohort.y), (dies, cohort.death), else_=cohort.censor)
    cohort = cohort.mutate(cause=cause, end=end)
    if spec.strategies["type"] == "grace_vs_never":
        started = cohort.a_start.notnull() & (cohort.a_start <= cohort.end)
        start = ibis.cases((started, cohort.a_start - cohort.t0), else_=ibis.null("int64"))
    else:
        start = ibis.cases((cohort.arm == 1, cohort.a_start - cohort.t0), else_=cohort.b_start - cohort.t0)
    return cohort.mutate(treatment_start=start)


def _col(name: str) -> str:
    """Internal column of covariate ``name`` (prefixed so that no covariate name clashes with a working column)."""
    return f"cov__{name}"


def _covariates(wh, spec, cohort):
    """Add the baseline covariates of the specification (see :mod:`causalehr.cohort.spec`); return the cohort and
    the covariate columns (measurements add their age in days and a missing indicator)."""
    keys = cohort.select(*KEY)
    person = wh.t["person"]
    names = []
    for c in spec.covariates:
        name, kind, w = c["name"], c["type"], c["window_days"]
        col = _col(name)
        if kind == "age":
            cohort = cohort.mutate(**{col: (cohort.t0 - cohort.birth) / DAYS_PER_YEAR})
        elif kind in ("sex", "care_site"):
            value = ((person.gender_concept_id == GENDER["female"]).cast("int64") if kind == "sex"
                     else person.care_site_id)
            p = person.select(pid=person.person_id, k_value=value)
            j = cohort.left_join(p, cohort.person_id == p.pid)
            cohort = j.select(*cohort.columns, **{col: j.k_value})
        elif kind == "calendar_year":
            cohort = cohort.mutate(**{col: (cohort.t0 * 86400).as_timestamp("s").year().cast("int64")})
        elif kind == "measurement":
            ev = wh.events(c["concept_set"])
            ev = ev.filter(ev.v.notnull())
            j = keys.join(ev, [keys.person_id == ev.pid, ev.s <= keys.t0, ev.s >= keys.t0 - w])
            rank = ibis.row_number().over(ibis.window(group_by=KEY, order_by=[ibis.desc(j.s), ibis.desc(j.rid)]))
            last = j.mutate(r=rank).filter(lambda t: t.r == 0).select(*KEY, k_value=j.v, k_age=j.t0 - j.s)
            cohort = _attach(cohort, last, **{col: lambda t: t.k_value, _col(f"{name}_age_days"): lambda t: t.k_age,
                                              _col(f"{name}_missing"): lambda t: t.k_value.isnull().cast("int64")})
            names += [name, f"{name}_age_days", f"{name}_missing"]
            continue
        elif kind in ("condition", "drug"):
            agg = _any_in_window(keys, wh.events(c["concept_set"]), None if w is None else -w, 0,
                                 overlap=kind == "drug")
            cohort = _attach(cohort, agg, **{col: lambda t: t.k_n.notnull().cast("int64")})
        elif kind == "visit_count":
            v = wh.domain("visit")
            pred = [keys.person_id == v.pid, v.s < keys.t0] + ([] if w is None else [v.s >= keys.t0 - w])
            agg = keys.join(v, pred).group_by(KEY).agg(k_n=lambda t: t.count())
            cohort = _attach(cohort, agg, **{col: lambda t: ibis.coalesce(t.k_n, 0)})
        else:  # years_since_first
            ev = wh.events(c["concept_set"])
            first = keys.join(ev, [keys.person_id == ev.pid, ev.s <= keys.t0]).group_by(KEY).agg(
                k_first=lambda t: t.s.min())
            cohort = _attach(cohort, first, **{col: lambda t: (t.t0 - t.k_first) / DAYS_PER_YEAR})
        names.append(name)
    return cohort, names


def _attrition_counts(cands, labels, n_persons, n_entry):
    """Patients with at least one candidate date meeting the criteria up to each one."""
    cum, cols = None, {}
    for k, (col, _) in enumerate(labels):
        cum = cands[col] if cum is None else cum & cands[col]
        cols[f"p{k}"] = ibis.coalesce(cum, False).cast("int64")
    per_person = cands.mutate(**cols).group_by("person_id").agg(**{c: lambda t, c=c: t[c].max() for c in cols})
    counts = per_person.aggregate(**{c: per_person[c].sum() for c in cols}).execute().iloc[0] if cols else {}
    rows = [{"kind": "eligibility", "criterion": "persons in the warehouse", "n_patients": n_persons},
            {"kind": "eligibility", "criterion": "entry date inside an observation period", "n_patients": n_entry}]
    rows += [{"kind": "eligibility", "criterion": label, "n_patients": int(counts[f"p{k}"])}
             for k, (_, label) in enumerate(labels)]
    return rows


def _attrition_table(rows) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["kind", "criterion", "n_patients", "n_removed", "n_rows"])
    elig = table["kind"] != "data quality"
    table.loc[elig, "n_removed"] = (-table.loc[elig, "n_patients"].diff()).fillna(0)
    return table.astype({"n_patients": "Int64", "n_removed": "Int64", "n_rows": "Int64"})


class NoEligiblePatientError(ValueError):
    """No patient meets the eligibility criteria; ``attrition`` shows where they were lost."""

    def __init__(self, attrition: pd.DataFrame):
        self.attrition = attrition
        super().__init__("no eligible patient; attrition:\n" + attrition.to_string(index=False))


def build_cohort(spec, source) -> Cohort:
    """Build the cohort of a trial specification from OMOP tables.

    Parameters
    ----------
    spec : TrialSpec, mapping or YAML file (validated by :func:`causalehr.cohort.spec.load_spec` before any work).
    source : ibis backend (DuckDB, PySpark, PostgreSQL), a DuckDB file, or a folder of parquet/CSV OMOP tables.

    Warns when a concept set matches no row; raises ValueError for a missing table or column and
    :class:`NoEligiblePatientError` (with the attrition table) when no patient is eligible.
    """
    spec = spec if isinstance(spec, TrialSpec) else load_spec(spec)
    wh = _Warehouse(connect(source), spec)
    used = [c["concept_set"] for c in spec.eligibility["require"] + spec.eligibility["exclude"]]
    used += spec.compared_sets + list(spec.outcome["concept_sets"])
    used += [c["concept_set"] for c in spec.covariates if "concept_set" in c]
    if "concept_set" in spec.eligibility["entry"]:
        used.insert(0, spec.eligibility["entry"]["concept_set"])
    wh.warn_empty(used)

    rows = wh.data_quality()
    cands = _candidates(wh, spec)
    cands, labels = _criteria(wh, spec, cands)
    with cands.cache() as cands:  # read by the attrition counts and by the cohort: computed once
        n_persons = int(wh.t["person"].count().execute())
        n_entry = int(cands.person_id.nunique().execute())
        rows += _attrition_counts(cands, labels, n_persons, n_entry)
        eligible = cands
        for col, _ in labels:
            eligible = eligible.filter(eligible[col])
        eligible = eligible.mutate(trial=ibis.row_number().over(ibis.window(group_by="person_id", order_by="t0")) + 1)
        if spec.eligibility["select"] == "first":
            eligible = eligible.filter(eligible.trial == 1)
        cohort = eligible.select("person_id", "trial", "t0", "os", "oe", "birth")
        cohort = _strategies(wh, spec, cohort)
        cohort = _follow_up(wh, spec, cohort)
        cohort, covariates = _covariates(wh, spec, cohort)
        df = cohort.execute().sort_values(["person_id", "trial"]).reset_index(drop=True)

    if spec.strategies["type"] == "active_comparator":
        n = df["person_id"].nunique()
        both = df["both_same_day"].fillna(False).astype(bool)
        rows.append({"kind": "strategy", "criterion": "not both drugs initiated on the same day",
                     "n_patients": n - df.loc[both, "person_id"].nunique()})
        df = df[df["arm"].notna()]
        rows.append({"kind": "strategy", "criterion": f"initiated {spec.strategies['treatment']} or "
                     f"{spec.strategies['comparator']} within {spec.strategies['grace_days']} days",
                     "n_patients": df["person_id"].nunique()})
    df = df[df["end"] > df["t0"]]
    rows.append({"kind": "follow-up", "criterion": "follow-up after time zero", "n_patients": df["person_id"].nunique()})
    attrition = _attrition_table(rows)
    if df.empty:
        raise NoEligiblePatientError(attrition)
    return _finish(spec, df, covariates, attrition)


def _finish(spec, df, covariates, attrition) -> Cohort:
    scale = DAYS_PER_YEAR if spec.time_unit == "years" else 1.0
    if spec.strategies["type"] == "active_comparator":
        treatment = df["arm"].astype(np.int64)
    else:
        treatment = df["treatment_start"].notna().astype(np.int64)
    out = pd.DataFrame({"person_id": df["person_id"].astype(np.int64), "trial": df["trial"].astype(np.int64),
                        "time_zero": pd.to_datetime(df["t0"], unit="D").dt.date})
    for c in covariates:
        values = pd.to_numeric(df[_col(c)])
        out[c] = values.astype(float if values.isna().any() or values.dtype.kind == "f" else np.int64)
    out["treatment"] = treatment.to_numpy()
    out["treatment_start"] = df["treatment_start"].astype(float).to_numpy() / scale
    out["time"] = (df["end"] - df["t0"]).astype(float).to_numpy() / scale
    out["event"] = (df["cause"] == 1).astype(np.int64).to_numpy()
    out["cause"] = df["cause"].astype(np.int64).to_numpy()
    out = out.reset_index(drop=True)
    unit = spec.time_unit
    described = {"trial": ("", "trial number of the patient (1 = first eligible date)"),
                 "time_zero": ("date", "time zero: the eligible date"),
                 "treatment_start": (unit, "time from time zero to the first start of "
                                           f"{spec.strategies['treatment']} (NaN: not started during follow-up)"),
                 "time": (unit, "time from time zero to the outcome, competing death or censoring"),
                 "cause": ("0/1/2", "0 censored, 1 outcome, 2 competing death")}
    for c in spec.covariates:
        window = "all history" if c["window_days"] is None else f"{c['window_days']} days before time zero"
        described[c["name"]] = {
            "age": ("years", "age at time zero"), "sex": ("0/1", "female"),
            "calendar_year": ("year", "calendar year of time zero"), "care_site": ("", "care site (centre)"),
            "measurement": ("", f"last {c.get('concept_set')} in the {window}"),
            "condition": ("0/1", f"{c.get('concept_set')} recorded in the {window}"),
            "drug": ("0/1", f"{c.get('concept_set')} exposure in the {window}"),
            "visit_count": ("", f"visits in the {window} (time zero excluded)"),
            "years_since_first": ("years", f"time since the first {c.get('concept_set')}"),
        }[c["type"]]
        if c["type"] == "measurement":
            described[f"{c['name']}_age_days"] = ("days", f"days between the last {c['name']} and time zero")
            described[f"{c['name']}_missing"] = ("0/1", f"no {c['name']} in the {window}")
    return Cohort(spec=spec, analysis=out, attrition=attrition, dictionary=data_dictionary(out, described),
                  covariates=covariates)
