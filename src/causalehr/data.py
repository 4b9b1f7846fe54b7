"""Cohort tables: input validation and data dictionaries.

A cohort table has one row per patient with the standard columns of the project (docs/architecture.md):
``patient_id``, numeric covariates, ``treatment`` (0/1), ``time`` (follow-up end, >= 0), ``event`` (0/1),
optional ``centre`` and ``treatment_start``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

STANDARD_COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("", "patient identifier"),
    "treatment": ("0/1", "treated at baseline (1) or comparator (0)"),
    "time": ("", "end of follow-up: event or censoring time"),
    "event": ("0/1", "1 = event observed at `time`, 0 = censored at `time`"),
    "centre": ("", "centre (hospital or practice) of the patient"),
    "treatment_start": ("", "time of starting treatment after eligibility (NaN = not started during follow-up)"),
}


def _offending_values(values: pd.Series, bad: np.ndarray) -> str:
    examples = pd.unique(values[bad])[:5]
    return ", ".join(str(v) for v in examples)


def _check_binary(df: pd.DataFrame, column: str) -> None:
    values = df[column]
    bad = ~values.isin([0, 1]).to_numpy()
    if bad.any():
        raise ValueError(
            f"column '{column}' must be 0/1; {int(bad.sum())} rows have other values "
            f"(e.g. {_offending_values(values, bad)})"
        )


def _check_causes(df: pd.DataFrame, column: str) -> None:
    """Event codes of competing risks: 0 (censored) or a cause 1, 2, ..."""
    values = df[column]
    codes = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(codes) | (codes < 0) | (codes != np.round(codes))
    if bad.any():
        raise ValueError(f"column '{column}' must be 0 (censored) or a cause 1, 2, ...; {int(bad.sum())} rows have "
                         f"other values (e.g. {_offending_values(values, bad)})")


def _check_all_cause(df: pd.DataFrame, column: str) -> None:
    """0/1 events, with a message saying to declare the causes when the column holds codes 2, 3, ..."""
    from .cate.competing import competing_codes

    found = competing_codes(df[column]) if pd.api.types.is_numeric_dtype(df[column]) else []
    if found:
        n = int(df[column].isin(found).sum())
        raise ValueError(f"column '{column}' has the codes {found} ({n} rows) besides 0/1: if they are competing "
                         f"causes, declare them with a competing-risks estimand, e.g. fit_cate(..., "
                         f"estimand='cif', cause=1, causes={[1, *found]}); otherwise recode the column to 0/1")
    _check_binary(df, column)


_TRUE, _FALSE = {"1", "true"}, {"0", "false"}


def binary_codes(values: pd.Series, column: str, role: str, level=None) -> pd.Series:
    """0/1 codes of a treatment or event column as a user stored it, naming ``column`` (the ``role``) in errors.

    Unambiguous codings are accepted: numbers 0/1, the strings "0"/"1" (as scikit-survival ships ACTG 320),
    booleans and the strings "true"/"false" (any case). Otherwise ``level`` names the value coded 1 (e.g. the
    treated level "tamoxifen"); the column must then have exactly two values, ``level`` among them.
    """
    n_missing = int(values.isna().sum())
    if n_missing:
        raise ValueError(f"{role} column '{column}' has {n_missing} missing values; every patient needs one")
    seen = sorted(pd.unique(values.astype(str)))
    if level is not None:
        if str(level) not in seen or len(seen) != 2:
            raise ValueError(f"{role} column '{column}': the level coded 1 ({level!r}) must be one of exactly two "
                             f"values; the column has {len(seen)} values (e.g. {', '.join(seen[:5])})")
        return (values.astype(str) == str(level)).astype(int)
    if pd.api.types.is_bool_dtype(values):
        return values.astype(int)
    if pd.api.types.is_numeric_dtype(values) and values.isin([0, 1]).all():
        return values.astype(int)
    text = values.astype(str).str.strip().str.lower()
    if not pd.api.types.is_numeric_dtype(values) and text.isin(_TRUE | _FALSE).all():
        return text.isin(_TRUE).astype(int)
    key = "treated" if role == "treatment" else f"{role}_level"
    raise ValueError(f"{role} column '{column}' must be coded 0/1 (numbers, strings or booleans); it has "
                     f"{len(seen)} values (e.g. {', '.join(seen[:5])}): declare the value coded 1 with `{key}`")


def check_duplicates(df: pd.DataFrame, id: str | None = None) -> None:
    """One row per patient: with an identifier column ``id``, duplicated identifiers are an error naming a few;
    without one, fully duplicated rows (same value in every column) get a warning with their count."""
    if id is not None:
        dup = df[id][df[id].duplicated()]
        if len(dup):
            examples = ", ".join(str(v) for v in pd.unique(dup)[:3])
            raise ValueError(f"identifier column '{id}' has {len(dup)} duplicated values (e.g. {examples}); "
                             "one row per patient is expected")
        return
    n_dup = int(df.duplicated().sum())
    if n_dup:
        warnings.warn(f"{n_dup} rows repeat an earlier row in every column: if they are the same patients twice, "
                      "drop them, or name the patient identifier column (`id`) so that duplicates are caught",
                      UserWarning, stacklevel=2)


def validate_cohort(
    df: pd.DataFrame,
    covariates: Sequence[str],
    *,
    treatment: str = "treatment",
    time: str = "time",
    event: str = "event",
    allow_nan_covariates: bool = True,
    id: str | None = None,
    competing: bool = False,
) -> None:
    """Check that ``df`` is a usable cohort table; raise ValueError naming the column and offending rows.

    Checks: the columns exist; covariates are numeric (NaN allowed only if ``allow_nan_covariates``,
    infinite values never); ``time`` is numeric, observed and >= 0 (0 occurs in discrete-time settings);
    ``event`` and ``treatment`` take only the values 0/1; there is at least one event; one row per patient
    (:func:`check_duplicates` with the identifier column ``id``, or a warning on fully duplicated rows). With
    ``competing``, ``event`` holds 0 (censored) or the cause k = 1, 2, ... of the event (the causes are checked
    by :class:`causalehr.cate.CensoredCATE`); without it, codes 2, 3, ... are refused with a message saying to
    declare the causes.
    Written with pandas rather than a pandera schema so that each message names the column, the number of
    offending rows and what was expected, in one sentence.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"cohort must be a pandas DataFrame, got {type(df).__name__}")
    if isinstance(covariates, str):
        raise ValueError(f"covariates must be a list of column names, got the string {covariates!r}")
    required = [*covariates, treatment, time, event, *([id] if id is not None else [])]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available columns: {list(df.columns)}")
    if len(df) == 0:
        raise ValueError("cohort has no rows")

    for c in covariates:
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])):
            raise ValueError(f"covariate '{c}' must be numeric, got dtype {df[c].dtype}")
        values = df[c].to_numpy(dtype=float)
        n_nan = int(np.isnan(values).sum())
        if n_nan and not allow_nan_covariates:
            raise ValueError(
                f"covariate '{c}' has {n_nan} missing values (NaN) but allow_nan_covariates=False"
            )
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise ValueError(f"covariate '{c}' has {n_inf} infinite values")

    if not pd.api.types.is_numeric_dtype(df[time]):
        raise ValueError(f"column '{time}' must be numeric, got dtype {df[time].dtype}")
    t = df[time].to_numpy(dtype=float)
    n_nan = int(np.isnan(t).sum())
    if n_nan:
        raise ValueError(f"column '{time}' has {n_nan} missing values; every patient needs a follow-up time")
    n_neg = int((t < 0).sum())
    if n_neg:
        raise ValueError(f"column '{time}' has {n_neg} negative values; follow-up times must be >= 0")
    n_inf = int(np.isinf(t).sum())
    if n_inf:
        raise ValueError(f"column '{time}' has {n_inf} infinite values; follow-up times must be finite")

    if competing:
        _check_causes(df, event)
    else:
        _check_all_cause(df, event)
    _check_binary(df, treatment)
    if not (df[event] >= 1).any():
        raise ValueError(f"column '{event}' has no events (all {len(df)} rows are 0); at least one event is needed")
    check_duplicates(df, id)


def data_dictionary(
    df: pd.DataFrame, descriptions: Mapping[str, tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Data dictionary of ``df``: one row per column with ``column, type, unit, meaning, n_missing``.

    ``descriptions`` maps a column name to ``(unit, meaning)``; the standard cohort columns have defaults
    (:data:`STANDARD_COLUMNS`), other undescribed columns get empty unit and meaning.
    """
    described = {**STANDARD_COLUMNS, **(descriptions or {})}
    rows = []
    for c in df.columns:
        unit, meaning = described.get(c, ("", ""))
        rows.append(
            {
                "column": c,
                "type": str(df[c].dtype),
                "unit": unit,
                "meaning": meaning,
                "n_missing": int(df[c].isna().sum()),
            }
        )
    return pd.DataFrame(rows, columns=["column", "type", "unit", "meaning", "n_missing"])
