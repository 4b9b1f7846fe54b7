"""Input tables of a probation: variable specification, source tables, and their validation.

Format (wide, the canonical one): each source (reference, manual abstraction, AI extraction, ...) is a table
with one row per patient, a key column (default ``patient_id``) and one column per variable of the
specification. The reference table may carry the stratification columns (e.g. ``centre``, ``subgroup``).
The per-value AI confidence scores are a table of the same shape (key + one float column per variable).
A long table (key, variable, value) is converted with :func:`long_to_wide`.

The specification is a table with one row per variable: ``variable``, ``type`` (binary, categorical, date,
numeric, text) and optionally ``allowed`` (``|``-separated value set), ``min``, ``max`` (numbers, or ISO
dates for dates), ``format`` (regular expression a value must fully match), ``unit``, ``date_format``
(strftime format of date strings; ISO 8601 when empty).

Values that cannot be represented in their type at all (a date that does not parse, a numeric value that is
not a number) are an error. Values that parse but break the specification (outside the value set, range or
format) are kept: the conformance checks count them and the agreement metrics set them aside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import re2

TYPES = ("binary", "categorical", "date", "numeric", "text")
SPEC_OPTIONAL = ("allowed", "min", "max", "format", "unit", "date_format")


@dataclass
class ProbationData:
    """Tables of one probation: the reference, the other sources, strata, AI confidence and (simulated) truth.

    ``reference`` and every table of ``sources`` are typed wide tables indexed by patient id (see module
    docstring); ``strata`` is indexed the same way (e.g. ``centre``, ``subgroup``); ``confidence`` maps a
    source name to its per-value confidence table; ``truth`` (simulated data only) holds the population value of
    every metric implied by the injected error mechanisms (columns source, variable, metric, truth).
    """

    reference: pd.DataFrame
    sources: dict[str, pd.DataFrame]
    spec: pd.DataFrame
    strata: pd.DataFrame
    confidence: dict[str, pd.DataFrame] = field(default_factory=dict)
    truth: pd.DataFrame | None = None
    params: dict = field(default_factory=dict)


def validate_spec(spec: pd.DataFrame) -> pd.DataFrame:
    """Check a specification table and return it indexed by variable with all optional columns present."""
    for col in ("variable", "type"):
        if col not in spec.columns:
            raise ValueError(f"specification: missing column '{col}'; available columns: {list(spec.columns)}")
    if spec.empty:
        raise ValueError("specification: no variables (the table has no rows)")
    dup = spec["variable"].duplicated()
    if dup.any():
        raise ValueError(f"specification: duplicate variable(s) {sorted(spec.loc[dup, 'variable'])}")
    bad = ~spec["type"].isin(TYPES)
    if bad.any():
        raise ValueError(
            f"specification: unknown variable type(s) {sorted(set(spec.loc[bad, 'type']))} for "
            f"{sorted(spec.loc[bad, 'variable'])}; expected one of {TYPES}"
        )
    out = spec.copy()
    for col in SPEC_OPTIONAL:
        if col not in out.columns:
            out[col] = np.nan
    for var, fmt in zip(out["variable"], out["format"]):
        if isinstance(fmt, str) and fmt:
            format_pattern(fmt, var)
    return out.set_index("variable", drop=False)


def format_pattern(fmt: str, variable: str = ""):
    """The compiled ``format`` of a variable, in RE2 syntax: a linear-time engine (Cox 2007, "Regular expression
    matching can be simple and fast"), so that no pattern can hang a run on catastrophic backtracking; patterns
    RE2 cannot run (backreferences, lookarounds) stop with a message naming the variable."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(fmt, options)
    except re2.error as e:
        detail = e.args[0].decode() if isinstance(e.args[0], bytes) else str(e)
        raise ValueError(f"specification, variable '{variable}': format {fmt!r} is not a regular expression the "
                         f"linear-time engine RE2 accepts ({detail}); backreferences and lookarounds are not "
                         "supported") from None


def allowed_values(spec_row: pd.Series) -> list[str] | None:
    """The value set of a variable as strings, or None when the specification gives none."""
    allowed = spec_row.get("allowed")
    if isinstance(allowed, str) and allowed:
        return allowed.split("|")
    return None


def _bound(spec_row: pd.Series, key: str):
    value = spec_row.get(key)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    return pd.Timestamp(value) if spec_row["type"] == "date" else float(value)


def bounds(spec_row: pd.Series) -> tuple:
    """(min, max) of a numeric or date variable; None where not given."""
    return _bound(spec_row, "min"), _bound(spec_row, "max")


def _as_type(values: pd.Series, spec_row: pd.Series, where: str) -> pd.Series:
    kind = spec_row["type"]
    if kind in ("categorical", "text"):
        return values.astype(object).where(values.notna(), None)
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            return values.astype("datetime64[ns]")
        fmt = spec_row.get("date_format")
        fmt = fmt if isinstance(fmt, str) and fmt else "ISO8601"
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        bad = parsed.isna() & values.notna()
        if bad.any():
            raise ValueError(
                f"{where}: {int(bad.sum())} row(s) with a date that does not parse with format '{fmt}' "
                f"(e.g. {values[bad].iloc[0]!r})"
            )
        return parsed.astype("datetime64[ns]")
    parsed = pd.to_numeric(values, errors="coerce").astype(float)
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise ValueError(
            f"{where}: {int(bad.sum())} row(s) with a value that is not a number (e.g. {values[bad].iloc[0]!r})"
        )
    return parsed


def validate_source(
    table: pd.DataFrame, spec: pd.DataFrame, name: str, *, key: str = "patient_id", extra: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Check a wide source table against the specification and return it typed, indexed by ``key``.

    ``extra`` names columns allowed besides the key and the variables (e.g. strata of the reference); they are
    dropped from the returned table. Raises ValueError for a missing key column, missing key values, duplicate
    keys, missing or unknown variables, and values that cannot be typed.
    """
    spec = validate_spec(spec)
    if key not in table.columns:
        raise ValueError(f"{name}: missing key column '{key}'; available columns: {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{name}: the table has no rows; a probation needs at least one patient")
    n_missing = int(table[key].isna().sum())
    if n_missing:
        raise ValueError(f"{name}: {n_missing} row(s) with a missing key '{key}'")
    n_dup = int(table[key].duplicated().sum())
    if n_dup:
        raise ValueError(f"{name}: {n_dup} duplicate key(s) in column '{key}'")
    unknown = sorted(set(table.columns) - set(spec.index) - {key} - set(extra))
    if unknown:
        raise ValueError(f"{name}: unknown variable column(s) {unknown}; the specification declares {list(spec.index)}")
    missing = [v for v in spec.index if v not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing variable column(s) {missing}; available columns: {list(table.columns)}")
    typed = {v: _as_type(table[v], spec.loc[v], f"{name}, variable '{v}'") for v in spec.index}
    out = pd.DataFrame(typed)
    out.index = pd.Index(table[key].to_numpy(), name=key)
    return out


def validate_confidence(table: pd.DataFrame, source: pd.DataFrame, name: str, *, key: str = "patient_id") -> pd.DataFrame:
    """Check a confidence table (key + one column per variable, floats in [0, 1] or NaN), aligned to ``source``."""
    if key not in table.columns:
        raise ValueError(f"{name}: missing key column '{key}'; available columns: {list(table.columns)}")
    n_dup = int(table[key].duplicated().sum())
    if n_dup:
        raise ValueError(f"{name}: {n_dup} duplicate key(s) in column '{key}'")
    unknown = sorted(set(table.columns) - set(source.columns) - {key})
    if unknown:
        raise ValueError(f"{name}: unknown variable column(s) {unknown}")
    conf = table.set_index(key).reindex(source.index).astype(float)
    bad = ((conf < 0) | (conf > 1)).sum()
    if bad.any():
        raise ValueError(f"{name}: confidence outside [0, 1] in {bad[bad > 0].to_dict()} (variable: rows)")
    return conf


def long_to_wide(
    long: pd.DataFrame, spec: pd.DataFrame, name: str, *, key: str = "patient_id", variable: str = "variable",
    value: str = "value",
) -> pd.DataFrame:
    """Pivot a long table (one row per patient and variable) to the wide format; errors on bad keys.

    The result still has to go through :func:`validate_source` (typing).
    """
    spec = validate_spec(spec)
    for col in (key, variable, value):
        if col not in long.columns:
            raise ValueError(f"{name}: missing column '{col}'; available columns: {list(long.columns)}")
    n_dup = int(long.duplicated([key, variable]).sum())
    if n_dup:
        raise ValueError(f"{name}: {n_dup} duplicate ({key}, {variable}) key(s)")
    unknown = sorted(set(long[variable]) - set(spec.index))
    if unknown:
        raise ValueError(f"{name}: unknown variable(s) {unknown}; the specification declares {list(spec.index)}")
    wide = long.pivot(index=key, columns=variable, values=value)
    wide = wide.reindex(columns=list(spec.index))
    wide.columns.name = None
    return wide.reset_index()


def violations(values: pd.Series, spec_row: pd.Series) -> dict[str, np.ndarray]:
    """Per check (``value_set``, ``format``, ``range``), a boolean array: True where a present value breaks it.

    Only the checks that the specification row declares are returned; binary variables have the value set
    {0, 1} unless ``allowed`` says otherwise.
    """
    kind = spec_row["type"]
    present = values.notna().to_numpy()
    out = {}
    allowed = allowed_values(spec_row)
    if kind == "binary":
        allowed_num = [float(a) for a in allowed] if allowed else [0.0, 1.0]
        out["value_set"] = present & ~values.isin(allowed_num).to_numpy()
    elif kind == "categorical" and allowed:
        out["value_set"] = present & ~values.isin(allowed).to_numpy()
    fmt = spec_row.get("format")
    if kind in ("categorical", "text") and isinstance(fmt, str) and fmt:
        pattern = format_pattern(fmt, spec_row.get("variable", ""))
        matches = np.array([not pd.isna(v) and pattern.fullmatch(v) is not None for v in values.astype("string")],
                           dtype=bool)
        out["format"] = present & ~matches
    if kind in ("numeric", "date"):
        lo, hi = bounds(spec_row)
        if lo is not None or hi is not None:
            below = (values < lo).to_numpy() if lo is not None else np.zeros(len(values), bool)
            above = (values > hi).to_numpy() if hi is not None else np.zeros(len(values), bool)
            out["range"] = present & (below | above)
    return out


def nonconformant(values: pd.Series, spec_row: pd.Series) -> np.ndarray:
    """True where a present value breaks any declared check of its variable."""
    flags = np.zeros(len(values), dtype=bool)
    for broken in violations(values, spec_row).values():
        flags |= broken
    return flags
