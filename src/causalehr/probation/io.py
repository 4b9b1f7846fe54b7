"""Reading a user's probation tables from files (CSV or parquet, wide or long) into a ProbationData."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .spec import ProbationData, long_to_wide, validate_confidence, validate_source, validate_spec


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV (all columns read as text, typed later against the specification) or parquet."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"file not found: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=True)


def load_probation(
    spec: pd.DataFrame, reference: pd.DataFrame, sources: dict[str, pd.DataFrame], *,
    confidence: dict[str, pd.DataFrame] | None = None, strata: tuple[str, ...] = (), key: str = "patient_id",
    long: bool = False,
) -> ProbationData:
    """Validate and type the user's tables. ``strata`` are columns of the reference table (e.g. centre);
    with ``long`` the reference and sources are long tables (key, variable, value), the strata then come
    as extra columns of the reference's long table (one value per patient)."""
    spec = validate_spec(spec)
    strata = list(strata)
    if long:
        strata_table = reference[[key, *strata]].drop_duplicates(key) if strata else None
        reference = long_to_wide(reference.drop(columns=strata), spec, "reference", key=key)
        if strata_table is not None:
            reference = reference.merge(strata_table, on=key, how="left")
        sources = {s: long_to_wide(t, spec, s, key=key) for s, t in sources.items()}
    missing = [c for c in strata if c not in reference.columns]
    if missing:
        raise ValueError(f"reference: missing stratification column(s) {missing}; available columns: "
                         f"{list(reference.columns)}")
    ref = validate_source(reference, spec, "reference", key=key, extra=tuple(strata))
    strata_df = reference.set_index(key)[strata].reindex(ref.index)
    typed = {}
    for name, table in sources.items():
        t = validate_source(table, spec, name, key=key)
        extra_keys = int((~t.index.isin(ref.index)).sum())
        missing_keys = int((~ref.index.isin(t.index)).sum())
        if extra_keys:
            raise ValueError(f"{name}: {extra_keys} key(s) not in the reference table")
        if missing_keys:
            raise ValueError(f"{name}: {missing_keys} reference key(s) missing (give them a row with empty values)")
        typed[name] = t.reindex(ref.index)
    conf = {s: validate_confidence(c, typed[s], f"confidence of {s}", key=key) for s, c in (confidence or {}).items()}
    unknown = sorted(set(conf) - set(typed))
    if unknown:
        raise ValueError(f"confidence given for unknown source(s) {unknown}; sources: {list(typed)}")
    return ProbationData(reference=ref, sources=typed, spec=spec.reset_index(drop=True), strata=strata_df,
                         confidence=conf)
