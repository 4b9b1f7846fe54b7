"""Build a target-trial cohort from OMOP CDM tables, written once as ibis expressions (DuckDB by default; the same
expressions run on PySpark or PostgreSQL backends).

Steps (Hernan & Robins 2016, Am J Epidemiol 183:758-764; OMOP CDM v5.4 tables, :mod:`causalehr.omop.cdm`):
candidate dates of time zero (``eligibility.entry``) inside an observation period, eligibility criteria evaluated
at each candidate date in the order of the specification (require, age, prior observation, washout, exclude), time
zero = the first eligible candidate (or every eligible one: a sequence of trials), the strategies (arm of an active
comparator, or the time to treatment start for clone-censor-weight), the outcome (first row after time zero),
death, censoring (end of observation, administrative end, maximum follow-up, loss to follow-up, per-protocol switch)
and baseline covariates from look-back windows. Dates are handled as integer days since 1970-01-01 (date
differences, never timestamps, so that a Spark session's time zone cannot shift a day).

Speed: the criteria, treatment starts, outcome and covariates are "features" (rows of a concept set in a window
around each key); all features of one domain and kind are computed with one scan, one join and one pivot
(:func:`_with_features`) rather than one join per feature, and the candidates and the cohort are cached between
steps. The same expressions run on DuckDB and on Spark (:func:`connect`); no step is written per engine.

Conventions: the day of time zero belongs to the baseline (rows on it count as history; outcomes count from the next
day on); drug exposures are intervals (start to end date); rows whose end date precedes their start date, or that lie
outside the span of the person's observation periods, are counted in the attrition table; the former are not used,
the latter are used as history before time zero (and lie after censoring when after the observation period).
An outcome and a death on the same day count as the outcome; a treatment start on the last day of follow-up counts.
"""

from __future__ import annotations

import contextlib
import sys
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


def _is_spark_session(source) -> bool:
    session = sys.modules.get("pyspark.sql")
    return session is not None and isinstance(source, session.SparkSession)


def connect(source, *, spark=None):
    """An ibis backend for ``source``.

    ``source``: an ibis backend (returned as is); a SparkSession (ibis's PySpark backend over the tables of its
    current catalog and database, where a warehouse's OMOP tables live); a DuckDB database file (opened read-only);
    or a folder of ``<table>.parquet`` / ``<table>.csv`` files, read as views of an in-memory DuckDB or, when
    ``spark`` (a SparkSession) is given, as temporary views of that Spark session.
    """
    if hasattr(source, "list_tables") and hasattr(source, "table"):
        return source
    if _is_spark_session(source):
        return ibis.pyspark.connect(source)
    if spark is not None and not _is_spark_session(spark):
        raise ValueError(f"spark must be a pyspark.sql.SparkSession, got {type(spark).__name__}")
    path = Path(source)
    if path.is_dir():
        con = ibis.duckdb.connect() if spark is None else ibis.pyspark.connect(spark)
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
        if spark is not None:
            raise ValueError(f"a DuckDB file ({path}) is read by DuckDB; give Spark a folder of parquet/CSV files")
        return ibis.duckdb.connect(str(path), read_only=True)
    raise ValueError(f"OMOP source {source!r} is neither an ibis connection, a SparkSession, a folder of "
                     "parquet/CSV files nor a DuckDB database file")


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
        self.ids = self._resolve(spec.concept_sets)

    def _resolve(self, sets) -> dict[str, tuple[int, ...]]:
        """Concept ids of each set, with their descendants through concept_ancestor (one query for all sets)."""
        ids = {name: {int(i) for i in cs["concepts"]} for name, cs in sets.items()}
        expand = sorted({i for name, cs in sets.items() if cs["descendants"] for i in ids[name]})
        if expand and "concept_ancestor" in self.t:
            ca = self.t["concept_ancestor"]
            pairs = ca.filter(ca.ancestor_concept_id.isin(expand)).select(
                "ancestor_concept_id", "descendant_concept_id").execute()
            below = pairs.groupby("ancestor_concept_id")["descendant_concept_id"].agg(set).to_dict()
            for name, cs in sets.items():
                if cs["descendants"]:
                    ids[name] = ids[name].union(*(below.get(i, set()) for i in list(ids[name])))
        return {name: tuple(sorted(int(i) for i in v)) for name, v in ids.items()}

    def domain(self, domain: str):
        """All rows of a domain as (pid, concept, s, e, rid, v): person, concept, start day, end day, row id,
        value."""
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
        """Warn for each concept set of ``names`` that matches no row (one query: the concepts present per domain)."""
        names = list(dict.fromkeys(names))
        wanted: dict[str, set[int]] = {}
        for name in names:
            wanted.setdefault(self.spec.concept_sets[name]["domain"], set()).update(self.ids[name])
        present = []
        for domain, ids in wanted.items():
            rows = self.domain(domain)
            present.append(rows.filter(rows.concept.isin(sorted(ids))).select("concept").distinct()
                           .mutate(domain=ibis.literal(domain)))
        found = ibis.union(*present).execute() if present else pd.DataFrame(columns=["concept", "domain"])
        found = set(zip(found["domain"], found["concept"].astype(np.int64), strict=True))
        for name in names:
            domain = self.spec.concept_sets[name]["domain"]
            if not any((domain, i) in found for i in self.ids[name]):
                warnings.warn(f"concept set '{name}' (domain {domain}, concepts {list(self.ids[name][:10])}) matches "
                              f"no row of {DOMAINS[domain][0]}", stacklevel=3)

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


NO_BOUND = 10_000_000  # days (about 27,000 years): the bound of a window open on one side


@dataclass(frozen=True)
class _Feature:
    """A summary of the rows of one domain in the window [t0 + lo, t0 + hi] of each key (lo None: all history; hi
    None: no end). ``ids``: concept ids (usable rows, end not before start), None for every row of the domain;
    ``overlap``: an interval counts when it overlaps the window (drug exposures); ``count``: the number of rows
    (column ``<name>_n``), else the first start day (``<name>_first``); ``last``: the value and age in days of the
    last non-missing row, ties broken by the row id (``<name>_value``, ``<name>_age``). Null when no row."""

    name: str
    domain: str
    ids: tuple[int, ...] | None
    lo: int | None
    hi: int | None
    overlap: bool = False
    count: bool = False
    last: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return ("value", "age") if self.last else ("n",) if self.count else ("first",)

    @property
    def kind(self) -> str:
        if self.last:
            return "last"
        return "history" if self.lo is None and not self.count and self.ids is not None else "window"


def _feature_rows(wh: _Warehouse, domain: str, features):
    """The rows of ``domain`` used by ``features`` [(k, feature)], one per row and feature using it: (pid, s, cmp,
    rid, v, k, lo, hi), cmp being the day compared with the window's start (end for intervals that overlap)."""
    rows = wh.domain(domain)
    parts = []
    mapped = [(k, f) for k, f in features if f.ids is not None]
    if mapped:
        usable = rows.filter(rows.concept.isin(sorted({i for _, f in mapped for i in f.ids}))
                             & rows.s.notnull() & (rows.e >= rows.s))
        m = ibis.memtable(pd.DataFrame(
            [(i, k, -NO_BOUND if f.lo is None else f.lo, NO_BOUND if f.hi is None else f.hi, f.overlap)
             for k, f in mapped for i in f.ids], columns=["m_concept", "k", "lo", "hi", "overlap"]
        ).astype({"m_concept": np.int64, "k": np.int64, "lo": np.int64, "hi": np.int64, "overlap": bool}))
        j = usable.join(m, usable.concept == m.m_concept)
        parts.append(j.select("pid", "s", "rid", "v", "k", "lo", "hi", cmp=ibis.ifelse(j.overlap, j.e, j.s)))
    for k, f in features:
        if f.ids is None:
            r = rows.filter(rows.s.notnull())
            parts.append(r.select("pid", "s", "rid", "v", k=ibis.literal(k, "int64"),
                                  lo=ibis.literal(-NO_BOUND if f.lo is None else f.lo, "int64"),
                                  hi=ibis.literal(NO_BOUND if f.hi is None else f.hi, "int64"),
                                  cmp=r.e if f.overlap else r.s))
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


def _summaries(wh: _Warehouse, keys, domain: str, kind: str, features):
    """(person_id, t0, k, n, first, value, age) for each key and feature (k, feature) of ``features``, all of
    ``domain`` and ``kind``, with rows in its window: one scan and one join whatever the number of features
    (history: first start per person and feature, then an equi-join; window: a range join and a count; last: a
    range join and a row number)."""
    ev = _feature_rows(wh, domain, features)
    if kind == "history":  # the first start before t0 + hi is the first start of all when it is before
        first = ev.group_by(["pid", "k", "hi"]).agg(first=lambda t: t.s.min())
        j = keys.join(first, keys.person_id == first.pid)
        j = j.filter(j.first <= j.t0 + j.hi)
        return j.select(*KEY, "k", first="first")
    if kind == "last":
        ev = ev.filter(ev.v.notnull())
    j = keys.join(ev, [keys.person_id == ev.pid, ev.s <= keys.t0 + ev.hi, ev.cmp >= keys.t0 + ev.lo])
    if kind == "window":
        return j.group_by([*KEY, "k"]).agg(n=lambda t: t.count(), first=lambda t: t.s.min())
    rank = ibis.row_number().over(ibis.window(group_by=[*KEY, "k"], order_by=[ibis.desc(j.s), ibis.desc(j.rid)]))
    last = j.mutate(r=rank).filter(lambda t: t.r == 0)
    return last.select(*KEY, "k", value=last.v, age=last.t0 - last.s)


def _with_features(base, wh: _Warehouse, features):
    """``base`` (unique on person_id, t0) with the columns of ``features``: per domain and kind of feature, the
    summaries pivoted with one grouped aggregation (max(CASE ...), several times faster than FILTER or sum) and
    attached with one left join."""
    groups: dict[tuple[str, str], list] = {}
    for k, f in enumerate(features):
        groups.setdefault((f.domain, f.kind), []).append((k, f))
    keys, out = base.select(*KEY), base
    for (domain, kind), fs in groups.items():
        long = _summaries(wh, keys, domain, kind, fs)
        if len(fs) == 1:  # already one row per key
            wide = long.select(*KEY, **{f"{fs[0][1].name}_{c}": long[c] for c in fs[0][1].columns})
        else:
            wide = long.group_by(KEY).agg(**{f"{f.name}_{c}": ibis.ifelse(long.k == k, long[c], ibis.null()).max()
                                             for k, f in fs for c in f.columns})
        j = out.left_join(wide, KEY)
        out = j.select(*out.columns, *(c for c in wide.columns if c not in KEY))
    return out


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
    el, sets = spec.eligibility, spec.concept_sets

    def feature(column, name, lo, hi, *, overlap):
        return _Feature(column, sets[name]["domain"], wh.ids[name], lo, hi, overlap=overlap)

    features, present = [], {}
    for k, c in enumerate(el["require"]):
        features.append(feature(f"c_require{k}", c["concept_set"], *c["window"],
                                overlap=sets[c["concept_set"]]["domain"] == "drug"))
        present[f"c_require{k}"] = True
    if el["washout"] is not None:
        w = el["washout"]
        for name in w["concept_sets"]:
            features.append(feature(f"c_washout_{name}", name, None if w["days"] is None else -w["days"], -1,
                                    overlap=True))
            present[f"c_washout_{name}"] = False
    for k, c in enumerate(el["exclude"]):
        features.append(feature(f"c_exclude{k}", c["concept_set"], *c["window"],
                                overlap=sets[c["concept_set"]]["domain"] == "drug"))
        present[f"c_exclude{k}"] = False
    person = wh.t["person"]
    birth = person.select(pid=person.person_id, birth=_day(person.birth_datetime))
    cands_features = _with_features(cands, wh, features)
    j = cands_features.left_join(birth, cands_features.person_id == birth.pid)
    cands = j.select(*cands.columns, "birth",
                     **{col: j[f"{col}_first"].notnull() if is_present else j[f"{col}_first"].isnull()
                        for col, is_present in present.items()})
    labels = [(f"c_require{k}", f"{c['concept_set']} in days [{c['window'][0]}, {c['window'][1]}]")
              for k, c in enumerate(el["require"])]
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
        labels += [(f"c_washout_{name}", f"no {name} " + ("ever before" if w["days"] is None
                                                            else f"in the {w['days']} days before"))
                   for name in w["concept_sets"]]
    labels += [(f"c_exclude{k}", f"no {c['concept_set']} in days [{c['window'][0]}, {c['window'][1]}]")
               for k, c in enumerate(el["exclude"])]
    return cands, labels


def _col(name: str) -> str:
    """Internal column of covariate ``name`` (prefixed so that no covariate name clashes with a working column)."""
    return f"cov__{name}"


def _cohort_features(wh: _Warehouse, spec: TrialSpec) -> list[_Feature]:
    """Treatment starts (a, b: first start from time zero on), the outcome (y: first row after time zero) and the
    covariates computed from records (see :mod:`causalehr.cohort.spec`)."""
    st, sets = spec.strategies, spec.concept_sets
    out = [_Feature("a", "drug", wh.ids[st["treatment"]], 0, None)]
    if st["type"] == "active_comparator":
        out.append(_Feature("b", "drug", wh.ids[st["comparator"]], 0, None))
    if spec.outcome["concept_sets"]:
        ids = tuple(sorted({i for name in spec.outcome["concept_sets"] for i in wh.ids[name]}))
        out.append(_Feature("y", "condition", ids, 1, None))
    for c in spec.covariates:
        kind, w, col, hi = c["type"], c["window_days"], _col(c["name"]), c["offset_days"]
        lo = None if w is None else hi - w
        if kind == "measurement":
            out.append(_Feature(col, "measurement", wh.ids[c["concept_set"]], lo, hi, last=True))
        elif kind in ("condition", "drug"):
            out.append(_Feature(col, kind, wh.ids[c["concept_set"]], lo, hi, overlap=kind == "drug"))
        elif kind == "visit_count":
            out.append(_Feature(col, "visit", None, lo, -1, count=True))
        elif kind == "years_since_first":
            out.append(_Feature(col, sets[c["concept_set"]]["domain"], wh.ids[c["concept_set"]], None, 0))
    return out


def _strategies(spec, cohort):
    """The arm of an active comparator from the first starts ``a_first`` (treatment) and ``b_first``
    (comparator); rows with no arm keep ``arm`` null."""
    st = spec.strategies
    if st["type"] == "grace_vs_never":
        return cohort.mutate(arm=ibis.literal(0))
    g = st["grace_days"]
    a, b = cohort.a_first, cohort.b_first
    a_in = a.notnull() & (a <= cohort.t0 + g)
    b_in = b.notnull() & (b <= cohort.t0 + g)
    arm = (ibis.cases((a_in & (~b_in | (a < b)), 1), (b_in & (~a_in | (b < a)), 0), else_=ibis.null("int64")))
    return cohort.mutate(arm=arm, both_same_day=a_in & b_in & (a == b))


def _follow_up(wh, spec, cohort):
    """Add the outcome, death and censoring days and the resulting end, cause and treatment start."""
    cens, out = spec.censoring, spec.outcome
    cohort = cohort.mutate(y=cohort.y_first if out["concept_sets"] else ibis.null("int64"))
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
            lost=lambda t: t.day.min())
        j = cohort.left_join(lost, KEY)
        cohort = j.select(*cohort.columns, "lost")
    ends = [cohort.oe]
    if cens["administrative_end"] is not None:
        ends.append(ibis.literal((pd.Timestamp(cens["administrative_end"]) - pd.Timestamp("1970-01-01")).days))
    if cens["max_follow_up_days"] is not None:
        ends.append(cohort.t0 + cens["max_follow_up_days"])
    if cens["loss_to_follow_up_days"] is not None:
        ends.append(ibis.coalesce(cohort.lost, cohort.oe))
    if cens["per_protocol"] and spec.strategies["type"] == "active_comparator":
        switch = ibis.cases((cohort.arm == 1, cohort.b_first), (cohort.arm == 0, cohort.a_first),
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
        started = cohort.a_first.notnull() & (cohort.a_first <= cohort.end)
        start = ibis.cases((started, cohort.a_first - cohort.t0), else_=ibis.null("int64"))
    else:
        start = ibis.cases((cohort.arm == 1, cohort.a_first - cohort.t0), else_=cohort.b_first - cohort.t0)
    return cohort.mutate(treatment_start=start)


def _covariates(wh, spec, cohort):
    """The covariate columns from the feature columns and the person table; return the cohort and the covariate
    names (measurements add their age in days and a missing indicator)."""
    person = wh.t["person"]
    from_person = {c["type"] for c in spec.covariates} & {"sex", "care_site"}
    if from_person:
        p = person.select(pid=person.person_id,
                          k_female=(person.gender_concept_id == GENDER["female"]).cast("int64"),
                          k_site=person.care_site_id)
        j = cohort.left_join(p, cohort.person_id == p.pid)
        cohort = j.select(*cohort.columns, "k_female", "k_site")
    columns, names = {}, []
    for c in spec.covariates:
        name, kind, col = c["name"], c["type"], _col(c["name"])
        if kind == "age":
            columns[col] = (cohort.t0 - cohort.birth) / DAYS_PER_YEAR
        elif kind in ("sex", "care_site"):
            columns[col] = cohort.k_female if kind == "sex" else cohort.k_site
        elif kind == "calendar_year":
            columns[col] = (ibis.date(1970, 1, 1) + cohort.t0.as_interval("D")).year().cast("int64")
        elif kind == "measurement":
            value = cohort[f"{col}_value"]
            columns[col] = value
            columns[_col(f"{name}_age_days")] = cohort[f"{col}_age"]
            columns[_col(f"{name}_missing")] = value.isnull().cast("int64")
            names += [name, f"{name}_age_days", f"{name}_missing"]
            continue
        elif kind in ("condition", "drug"):
            columns[col] = cohort[f"{col}_first"].notnull().cast("int64")
        elif kind == "visit_count":
            columns[col] = ibis.coalesce(cohort[f"{col}_n"], 0)
        else:  # years_since_first
            columns[col] = (cohort.t0 - cohort[f"{col}_first"]) / DAYS_PER_YEAR
        names.append(name)
    return cohort.mutate(**columns), names


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


def _cached(con, table):
    """``table.cache()`` with its in-memory tables registered first: ibis 12's PySpark backend compiles a cached
    expression without registering them (its ``execute`` does), and Spark then does not find them."""
    con._register_in_memory_tables(table)
    return table.cache()


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
    # cached tables: the candidates are read by the attrition counts and by the cohort; the cohort, before and after
    # its features, by each feature's join and by the follow-up (Spark recomputes what is not cached, and its
    # analyser slows down on one long nested query)
    with contextlib.ExitStack() as stack:
        cands = stack.enter_context(_cached(wh.con, cands))
        n_persons = int(wh.t["person"].count().execute())
        n_entry = int(cands.person_id.nunique().execute())
        rows += _attrition_counts(cands, labels, n_persons, n_entry)
        eligible = cands
        for col, _ in labels:
            eligible = eligible.filter(eligible[col])
        eligible = eligible.mutate(trial=ibis.row_number().over(ibis.window(group_by="person_id", order_by="t0")) + 1)
        if spec.eligibility["select"] == "first":
            eligible = eligible.filter(eligible.trial == 1)
        cohort = stack.enter_context(_cached(wh.con, eligible.select("person_id", "trial", "t0", "os", "oe", "birth")))
        cohort = stack.enter_context(_cached(wh.con, _with_features(cohort, wh, _cohort_features(wh, spec))))
        cohort = _strategies(spec, cohort)
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
        if c["offset_days"]:
            window += f" shifted by {c['offset_days']} days"
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
