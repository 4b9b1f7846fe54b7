"""Probation on versions of the same OMOP tables (e.g. AI-extracted, manual abstraction, reference subset).

Each variable is defined on the OMOP tables by a row of a variable table (:func:`omop_variables`): ``variable``,
``type`` (as in :mod:`causalehr.probation.spec`), ``domain`` (condition, drug, measurement, death, person,
observation_period), ``concepts`` (``|``-separated concept names of :data:`causalehr.omop.cdm.CONCEPT_IDS` or
concept ids), ``rule`` and ``after`` (optional: the date variable after which a row counts, strictly):

* ``first_date``: date of the first row of the concept set (the domain's start date; death: death_date);
* ``any``: 1 when the person has a row of the set, else 0 (binary);
* ``first_value``: value_as_number of the first measurement of the set (numeric);
* ``first_concept``: value_as_concept_id of the first row of the set, as text (categorical: a stage, a biomarker
  status; measurement or observation-like tables that carry the column);
* ``gender``: 1 for female (gender_concept_id 8532), 0 for male (binary, person table);
* ``age``: years from birth_datetime to the ``after`` date (numeric, person table);
* ``period_end``: the end of the person's last observation period (date).

:func:`extract_variables` turns a version's tables into the wide table of the probation (one row per person_id),
:func:`match_versions` matches the versions per person and reports the overlap (stopping below ``min_overlap``),
and :func:`omop_probation_data` returns the :class:`causalehr.probation.ProbationData` that the metrics, checks,
acceptance and estimand-based acceptance take as today. :func:`write_version` writes a wide table back as minimal
OMOP tables (one row per extracted value), so that the error simulator of :mod:`causalehr.probation.synthetic`
applied to a synthetic warehouse's variables (:func:`simulate_omop_versions`) gives versions with known errors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from causalehr.omop.cdm import CONCEPT_IDS, DOMAINS, GENDER

from .spec import ProbationData, validate_spec

RULES = ("first_date", "any", "first_value", "first_concept", "gender", "age", "period_end")
OMOP_DOMAINS = (*DOMAINS, "death", "person", "observation_period")
DAYS_PER_YEAR = 365.25
_EPOCH = pd.Timestamp("1970-01-01")


def synthetic_variables() -> pd.DataFrame:
    """Variables of the synthetic active-comparator warehouse (:func:`causalehr.omop.synthetic.write_synthetic_omop`):
    the analysis columns (index date = first SGLT2 or DPP-4 dispensing, treatment = SGLT2, outcome after the index
    date, end of observation), the diagnosis date, sex, age at the index date, comorbidities, first HbA1c."""
    from causalehr.omop.synthetic import DPP4, OUTCOMES, SGLT2

    rows = [
        ("index_date", "date", "drug", "|".join(SGLT2 + DPP4), "first_date", None, None, None),
        ("treatment", "binary", "drug", "|".join(SGLT2), "any", None, None, None),
        ("event_date", "date", "condition", "|".join(OUTCOMES), "first_date", "index_date", None, None),
        ("event", "binary", "condition", "|".join(OUTCOMES), "any", "index_date", None, None),
        ("end_date", "date", "observation_period", "", "period_end", None, None, None),
        ("diagnosis_date", "date", "condition", "type2_diabetes", "first_date", None, None, None),
        ("death_date", "date", "death", "", "first_date", None, None, None),
        ("female", "binary", "person", "", "gender", None, None, None),
        ("age", "numeric", "person", "", "age", "index_date", 18, 110),
        ("hypertension", "binary", "condition", "hypertension", "any", None, None, None),
        ("ckd", "binary", "condition", "ckd", "any", None, None, None),
        ("hba1c", "numeric", "measurement", "hba1c", "first_value", None, 3, 20),
    ]
    return pd.DataFrame(rows, columns=["variable", "type", "domain", "concepts", "rule", "after", "min", "max"])


def omop_variables(variables: pd.DataFrame) -> pd.DataFrame:
    """Check a variable table (module docstring) and return it indexed by variable with concept ids resolved
    (column ``concept_ids``, a tuple); errors name the variable and what was expected."""
    for col in ("variable", "type", "domain", "rule"):
        if col not in variables.columns:
            raise ValueError(f"OMOP variables: missing column '{col}'; available columns: {list(variables.columns)}")
    validate_spec(variables[["variable", "type"]])
    out = variables.copy()
    for col in ("concepts", "after"):
        if col not in out.columns:
            out[col] = None
    ids = []
    for _, row in out.iterrows():
        var = row["variable"]
        if row["domain"] not in OMOP_DOMAINS:
            raise ValueError(f"OMOP variable '{var}': unknown domain '{row['domain']}'; expected one of {OMOP_DOMAINS}")
        if row["rule"] not in RULES:
            raise ValueError(f"OMOP variable '{var}': unknown rule '{row['rule']}'; expected one of {RULES}")
        after = row["after"]
        if isinstance(after, str) and after and after not in set(out["variable"]):
            raise ValueError(f"OMOP variable '{var}': 'after' names '{after}', which is not a variable")
        if row["rule"] == "age" and not (isinstance(after, str) and after):
            raise ValueError(f"OMOP variable '{var}': rule age needs 'after' (the date the age is taken at)")
        names = [c for c in str(row["concepts"] or "").split("|") if c and c != "nan"]
        if row["domain"] in DOMAINS and not names:
            raise ValueError(f"OMOP variable '{var}': domain {row['domain']} needs a concept set ('concepts')")
        unknown = [c for c in names if not c.isdigit() and c not in CONCEPT_IDS]
        if unknown:
            raise ValueError(f"OMOP variable '{var}': unknown concept name(s) {unknown}; give concept ids or names "
                             "of causalehr.omop.cdm.CONCEPT_IDS")
        ids.append(tuple(int(c) if c.isdigit() else CONCEPT_IDS[c] for c in names))
    out["concept_ids"] = ids
    return out.set_index("variable", drop=False)


def probation_spec(variables: pd.DataFrame) -> pd.DataFrame:
    """The probation specification (variable, type and the optional columns present) of an OMOP variable table."""
    keep = [c for c in ("variable", "type", "allowed", "min", "max", "format", "unit") if c in variables.columns]
    return validate_spec(variables[keep].reset_index(drop=True)).reset_index(drop=True)


def read_version(source, tables=("person", "observation_period", "condition_occurrence", "drug_exposure",
                                 "measurement", "death")) -> dict[str, pd.DataFrame]:
    """The OMOP tables of one version as pandas tables: ``source`` is a mapping of table name to DataFrame, a
    DuckDB file or a folder of ``<table>.parquet`` / ``.csv`` (read through :func:`causalehr.cohort.connect`)."""
    if isinstance(source, Mapping):
        return {t: source[t] for t in tables if t in source}
    from causalehr.cohort import connect

    con = connect(source)
    found = set(con.list_tables())
    return {t: con.table(t).to_pandas() for t in tables if t in found}


def _date(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values)).astype("datetime64[ns]")


def extract_variables(tables: Mapping[str, pd.DataFrame], variables: pd.DataFrame, version: str) -> pd.DataFrame:
    """Wide table (one row per person of the person table, index ``patient_id`` = person_id) of the ``variables``
    (:func:`omop_variables`) in one version's ``tables``. A concept set that matches no row of its table in this
    version, or a table the variables need that the version lacks, stops with a message naming both."""
    variables = omop_variables(variables)
    if "person" not in tables:
        raise ValueError(f"version '{version}': OMOP table 'person' not found; tables found: {sorted(tables)}")
    persons = pd.Index(tables["person"]["person_id"].to_numpy(), name="patient_id")
    out = pd.DataFrame(index=persons)
    order = sorted(variables.index, key=lambda v: isinstance(variables.loc[v, "after"], str)
                   and bool(variables.loc[v, "after"]))  # the 'after' dates first
    for var in order:
        row = variables.loc[var]
        out[var] = _extract(tables, row, out, version)
    return out[list(variables.index)]


def _rows(tables, row, version):
    """person_id, date (and value) of the rows of a variable's concept set."""
    domain = row["domain"]
    if domain == "death":
        name, date_col, concept_col = "death", "death_date", None
    else:
        name, concept_col, date_col, _ = DOMAINS[domain]
    if name not in tables:
        raise ValueError(f"version '{version}', variable '{row['variable']}': OMOP table '{name}' not found; tables "
                         f"found: {sorted(tables)}")
    t = tables[name]
    if concept_col is not None:
        t = t[t[concept_col].isin(row["concept_ids"])]
        if t.empty:
            raise ValueError(f"version '{version}', variable '{row['variable']}': concept set {list(row['concept_ids'])} "
                             f"matches no row of {name}")
    cols = {"person_id": t["person_id"].to_numpy(), "date": _date(t[date_col]).to_numpy()}
    if "value_as_number" in t.columns:
        cols["value"] = t["value_as_number"].to_numpy(float)
    if row["rule"] == "first_concept":
        if "value_as_concept_id" not in t.columns:
            raise ValueError(f"version '{version}', variable '{row['variable']}': rule first_concept needs the column "
                             f"value_as_concept_id in OMOP table {name}; columns found: {list(t.columns)}")
        cols["value"] = t["value_as_concept_id"].astype("Int64").astype("string").to_numpy()
    return pd.DataFrame(cols)


def _extract(tables, row, done, version) -> pd.Series:
    index = done.index
    after = row["after"] if isinstance(row["after"], str) and row["after"] else None
    rule = row["rule"]
    if rule in ("gender", "age"):
        person = tables["person"].set_index("person_id").reindex(index)
        if rule == "gender":
            return pd.Series(np.where(person["gender_concept_id"] == GENDER["female"], 1.0,
                                      np.where(person["gender_concept_id"] == GENDER["male"], 0.0, np.nan)), index=index)
        return (done[after] - _date(person["birth_datetime"]).to_numpy()).dt.days / DAYS_PER_YEAR
    if rule == "period_end":
        op = tables["observation_period"]
        return _date(op.groupby("person_id")["observation_period_end_date"].max().reindex(index)).set_axis(index)
    rows = _rows(tables, row, version)
    if after is not None:
        start = done[after].reindex(rows["person_id"]).to_numpy()
        rows = rows[rows["date"].to_numpy() > start]
    first = rows.sort_values(["person_id", "date"], kind="stable").drop_duplicates("person_id").set_index("person_id")
    if rule == "any":
        flag = pd.Series(index.isin(first.index).astype(float), index=index)
        return flag.where(done[after].notna(), np.nan) if after is not None else flag
    if rule in ("first_value", "first_concept"):
        return first["value"].reindex(index)
    return _date(first["date"].reindex(index)).set_axis(index)


def match_versions(versions: Mapping[str, pd.DataFrame], *, reference: str = "reference",
                   min_overlap: float = 0.95) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The versions restricted to the persons of ``reference`` found in every version, and the overlap table
    (per version: persons, persons of the reference found, share). A version holding fewer than ``min_overlap``
    of the reference's persons stops the run with the overlap of every version."""
    if reference not in versions:
        raise ValueError(f"match_versions: reference version '{reference}' not in {list(versions)}")
    ref_ids = versions[reference].index
    rows = [{"version": name, "persons": len(t), "reference_persons_found": int(ref_ids.isin(t.index).sum()),
             "share": float(ref_ids.isin(t.index).mean())} for name, t in versions.items()]
    overlap = pd.DataFrame(rows)
    low = overlap[overlap["share"] < min_overlap]
    if not low.empty:
        detail = "; ".join(f"version '{r.version}' has {r.reference_persons_found} of the {len(ref_ids)} persons of "
                           f"'{reference}' ({100 * r.share:.1f}%)" for r in low.itertuples())
        raise ValueError(f"person sets differ: {detail}; below min_overlap {min_overlap}")
    common = ref_ids
    for t in versions.values():
        common = common[common.isin(t.index)]
    return {name: t.loc[common] for name, t in versions.items()}, overlap


def omop_probation_data(versions: Mapping[str, object], variables: pd.DataFrame, *, reference: str = "reference",
                        min_overlap: float = 0.95) -> tuple[ProbationData, pd.DataFrame]:
    """ProbationData of OMOP ``versions`` (name -> tables, folder or DuckDB file; :func:`read_version`) and the
    overlap table: every variable extracted from every version, matched per person (:func:`match_versions`).
    Strata: the person's care site (``centre``) in the reference version, when it has one."""
    variables = omop_variables(variables)
    tables = {name: read_version(src) for name, src in versions.items()}
    wide = {name: extract_variables(t, variables, name) for name, t in tables.items()}
    matched, overlap = match_versions(wide, reference=reference, min_overlap=min_overlap)
    ref = matched[reference]
    person = tables[reference]["person"].set_index("person_id")
    strata = pd.DataFrame(index=ref.index)
    if "care_site_id" in person.columns:
        strata["centre"] = person["care_site_id"].reindex(ref.index).to_numpy()
    data = ProbationData(reference=ref, sources={n: t for n, t in matched.items() if n != reference},
                         spec=probation_spec(variables), strata=strata)
    return data, overlap


def write_version(wide: pd.DataFrame, variables: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Minimal OMOP tables holding the values of ``wide`` (one row per person and present value; the first concept
    of each set), such that :func:`extract_variables` gives ``wide`` back wherever the values are consistent with
    each other (a flag and a date of the same concept set agree; ages need their 'after' date). Binary ``any``
    flags without a date variable of the same set are dated the day after their 'after' date, or the person's
    index of the first date variable."""
    variables = omop_variables(variables)
    ids = wide.index.to_numpy()
    person = pd.DataFrame({"person_id": ids, "gender_concept_id": np.int64(0), "year_of_birth": np.int64(0),
                           "birth_datetime": pd.NaT, "care_site_id": np.int64(0)})
    tables = {name: [] for name in ("condition_occurrence", "drug_exposure", "measurement", "death")}
    anchor = next((wide[v] for v in variables.index if variables.loc[v, "type"] == "date"
                   and variables.loc[v, "rule"] == "first_date"), pd.Series(pd.NaT, index=wide.index))
    dated_sets = {}
    end = pd.Series(pd.NaT, index=wide.index)
    for var in variables.index:
        row, x = variables.loc[var], wide[var]
        after = row["after"] if isinstance(row["after"], str) and row["after"] else None
        if row["rule"] == "gender":
            person["gender_concept_id"] = np.where(x.to_numpy() == 1, GENDER["female"],
                                                   np.where(x.to_numpy() == 0, GENDER["male"], 0))
        elif row["rule"] == "age":
            days = np.round(x.where(x.abs() < 200) * DAYS_PER_YEAR)  # a birth date cannot hold a wrong age of 200
            birth = wide[after] - pd.to_timedelta(days, unit="D")
            person["birth_datetime"] = birth.to_numpy()
            person["year_of_birth"] = birth.dt.year.fillna(0).astype(np.int64).to_numpy()
        elif row["rule"] == "period_end":
            end = x
        elif row["rule"] in ("first_date", "first_value", "first_concept"):
            present = x.notna().to_numpy()
            date = x if row["rule"] == "first_date" else anchor
            concept = _concepts(row, variables, wide)
            values = None if row["rule"] == "first_date" else x.to_numpy()[present]
            tables[_table(row)].append(_domain_rows(row, ids[present], date.to_numpy()[present], values,
                                                   concept=concept[present], as_concept=row["rule"] == "first_concept"))
            if row["rule"] == "first_date":
                dated_sets[row["concept_ids"]] = x
        else:  # any
            flag = (x == 1).to_numpy()
            if any(set(row["concept_ids"]) < set(ids_set) for ids_set in dated_sets):
                continue  # the concept of the superset's dated row carries the flag (see _concepts)
            for ids_set, dated in dated_sets.items():  # a date variable of the same set wrote the row
                if set(row["concept_ids"]) == set(ids_set):
                    flag &= dated.isna().to_numpy()
            base = wide[after] + pd.Timedelta(days=1) if after is not None else anchor.fillna(_EPOCH)
            flag &= base.notna().to_numpy()
            tables[_table(row)].append(_domain_rows(row, ids[flag], base.to_numpy()[flag], None))
    start = pd.concat([wide[v] for v in variables.index if variables.loc[v, "type"] == "date"], axis=1).min(axis=1)
    period = pd.DataFrame({"observation_period_id": np.arange(1, len(ids) + 1), "person_id": ids,
                           "observation_period_start_date": start.to_numpy(), "observation_period_end_date": end.to_numpy(),
                           "period_type_concept_id": np.int64(0)})
    out = {"person": person, "observation_period": period}
    for name, parts in tables.items():
        out[name] = pd.concat(parts, ignore_index=True) if parts else _domain_rows(None, [], [], None, name)
    return out


def _table(row) -> str:
    return "death" if row["domain"] == "death" else DOMAINS[row["domain"]][0]


def _concepts(row, variables, wide) -> np.ndarray:
    """Per person, the concept of a dated row of ``row``'s set: the first concept of a binary subset flagged 1
    (e.g. SGLT2 within SGLT2 or DPP-4), else the first concept outside the flagged-0 subsets, else the set's first."""
    concept = np.full(len(wide), row["concept_ids"][0] if row["concept_ids"] else 0, dtype=np.int64)
    for var in variables.index:
        sub = variables.loc[var]
        if sub["rule"] != "any" or not set(sub["concept_ids"]) < set(row["concept_ids"]):
            continue
        rest = [c for c in row["concept_ids"] if c not in sub["concept_ids"]]
        concept = np.where(wide[var].to_numpy() == 1, sub["concept_ids"][0], rest[0] if rest else concept)
    return concept


def _domain_rows(row, person_ids, dates, values, name=None, concept=None, as_concept=False) -> pd.DataFrame:
    name = name or _table(row)
    if name == "death":
        return pd.DataFrame({"person_id": np.asarray(person_ids, np.int64), "death_date": _date(dates).to_numpy(),
                             "death_type_concept_id": np.int64(0)})
    _, concept_col, date_col, _ = next(d for d in DOMAINS.values() if d[0] == name)
    if concept is None:
        concept = row["concept_ids"][0] if row is not None else 0
    out = pd.DataFrame({"person_id": np.asarray(person_ids, np.int64), concept_col: np.int64(concept),
                        date_col: _date(dates).to_numpy()})
    if as_concept:
        out["value_as_concept_id"] = pd.array(pd.to_numeric(values), dtype="Int64")
    if name == "measurement":
        out["value_as_number"] = np.asarray(values, float) if values is not None and not as_concept else np.nan
    return out


def simulate_omop_versions(n: int, seed: int, folder, *, errors: pd.DataFrame | None = None,
                           variables: pd.DataFrame | None = None) -> tuple[dict[str, object], pd.DataFrame]:
    """Versions with known errors of a synthetic warehouse: the reference is the warehouse of
    :func:`causalehr.omop.synthetic.write_synthetic_omop` (design active comparator, ``n`` patients, written to
    ``folder``/reference); the manual and AI versions are the variables extracted from it with the error
    mechanisms of :func:`causalehr.probation.synthetic.default_errors` injected (``errors``), written back as OMOP
    tables (:func:`write_version`). Returns the versions (name -> tables; the reference as its folder) and the
    injected wide tables (column ``version``), the errors as they were planted."""
    from causalehr.omop.synthetic import write_synthetic_omop

    from .synthetic import _inject, default_errors

    variables = omop_variables(variables if variables is not None else synthetic_variables())
    spec = validate_spec(probation_spec(variables))
    warehouse = write_synthetic_omop(n, seed, f"{folder}/reference", design="active_comparator", n_ineligible=0)
    ref = extract_variables(read_version(warehouse.path), variables, "reference")
    errors = errors if errors is not None else default_errors(spec)
    centre = read_version(warehouse.path, ("person",))["person"].set_index("person_id")["care_site_id"]
    codes = pd.factorize(centre.reindex(ref.index))[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    versions, planted = {"reference": warehouse.path}, []
    for src, err in errors.groupby("source", sort=False):
        table, _ = _inject(ref, spec, err.set_index("variable"), codes, rng, int(codes.max()) + 1)
        versions[src] = write_version(table, variables)
        planted.append(table.assign(version=src))
    return versions, pd.concat(planted)
