"""Small-cell suppression with complementary suppression, shared by every published table (probation report,
case study, cohort tables).

Primary suppression blanks a row describing fewer than ``min_cell`` patients: its denominator, one of its counts,
or the complement of a count (n - count: "6 of 105 dates were wrong" describes 6 patients as well as 99).
Complementary suppression (Cox 1980, "Properties of the sensitivity criterion and the P-percent rule for
tabular data"; Hundepool et al. 2012, "Statistical Disclosure Control", section 4.2.5) keeps a blanked cell
from being recovered by subtraction: when exactly one stratum of a margin is blanked, the next smallest stratum
is blanked too (the margin itself when no other stratum is left), until no margin has a single blank.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_MIN_CELL = 10


def _small(values, min_cell: int) -> np.ndarray:
    v = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
    return (v > 0) & (v < min_cell)


def primary_suppression(table: pd.DataFrame, *, n_col: str, count_cols: tuple[str, ...], min_cell: int) -> np.ndarray:
    """Rows whose denominator is below ``min_cell`` or whose count or n - count is between 1 and ``min_cell`` - 1."""
    n = pd.to_numeric(table[n_col], errors="coerce").to_numpy(dtype=float)
    touched = n < min_cell
    for c in count_cols:
        if c in table.columns:
            count = pd.to_numeric(table[c], errors="coerce")
            touched |= _small(count, min_cell) | _small(n - count.to_numpy(dtype=float), min_cell)
    return touched


def complementary_suppression(table: pd.DataFrame, touched, *, n_col: str, within: tuple[str, ...],
                              by: str | None = None, total=None) -> np.ndarray:
    """Extend the suppressed rows ``touched`` so that no margin has exactly one blanked stratum.

    Rows equal in the columns ``within`` (and in ``by``) are strata adding up to a margin: the row of the same
    ``within`` values whose ``by`` is ``total`` when ``by`` is given (e.g. by = "centre" strata and the "overall"
    row), else a total published elsewhere (e.g. calibration groups of a method and its n). The stratum blanked
    in addition is the shown one with the smallest ``n_col``.
    """
    touched = np.asarray(touched, dtype=bool).copy()
    keys = list(within) + ([by] if by else [])
    pos = np.arange(len(table))
    n = pd.to_numeric(table[n_col], errors="coerce").to_numpy(dtype=float)
    is_total = (table[by] == total).to_numpy() if by else np.zeros(len(table), dtype=bool)
    margin_of = {}
    if by:
        for key, rows in table[is_total].groupby(list(within), sort=False, dropna=False).indices.items():
            margin_of[key if isinstance(key, tuple) else (key,)] = pos[is_total][rows]
    groups = [pos[~is_total][rows] for rows in table[~is_total].groupby(keys, sort=False, dropna=False).indices.values()]
    changed = True
    while changed:
        changed = False
        for rows in groups:
            if touched[rows].sum() != 1:
                continue
            shown = rows[~touched[rows]]
            if len(shown):
                touched[shown[np.argmin(np.nan_to_num(n[shown], nan=np.inf))]] = True
            elif by:
                first = table.iloc[rows[0]]
                margin = margin_of.get(tuple(first[c] for c in within), [])
                if len(margin) == 0 or touched[margin].all():
                    continue
                touched[margin] = True
            else:
                continue
            changed = True
    return touched


def suppress_small_cells(
    table: pd.DataFrame, *, n_col: str = "n", count_cols: tuple[str, ...] = ("count",),
    min_cell: int = DEFAULT_MIN_CELL, keep: tuple[str, ...] = (), margins: tuple[dict, ...] = (),
) -> pd.DataFrame:
    """Blank the statistics of rows describing fewer than ``min_cell`` patients, with complementary suppression.

    A row is suppressed by :func:`primary_suppression` (denominator ``n_col`` below ``min_cell``, or a count in
    ``count_cols`` or its complement ``n_col`` - count between 1 and ``min_cell`` - 1), then by
    :func:`complementary_suppression` for each margin of ``margins`` (keyword arguments ``within``, ``by``,
    ``total`` of that function). Every numeric column except those in ``keep`` (e.g. thresholds) of a
    suppressed row is set to NaN, and the boolean column ``suppressed`` marks the row. Returns a copy.
    """
    if n_col not in table.columns:
        raise ValueError(f"suppress_small_cells: missing column '{n_col}'; available columns: {list(table.columns)}")
    out = table.copy()
    touched = primary_suppression(out, n_col=n_col, count_cols=count_cols, min_cell=min_cell)
    for margin in margins:
        touched = complementary_suppression(out, touched, n_col=n_col, **margin)
    numeric = [c for c in out.columns if pd.api.types.is_numeric_dtype(out[c])
               and not pd.api.types.is_bool_dtype(out[c]) and c not in keep]
    for c in numeric:
        out[c] = out[c].astype(float)
    out.loc[touched, numeric] = np.nan
    out["suppressed"] = touched
    return out
