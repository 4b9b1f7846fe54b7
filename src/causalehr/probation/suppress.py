"""Small-cell suppression applied to every output table of a probation."""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_MIN_CELL = 10


def suppress_small_cells(
    table: pd.DataFrame, *, n_col: str = "n", count_cols: tuple[str, ...] = ("count",),
    min_cell: int = DEFAULT_MIN_CELL, keep: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Blank the statistics of rows describing fewer than ``min_cell`` patients.

    A row is suppressed when its denominator ``n_col`` is below ``min_cell`` or one of its counts in
    ``count_cols`` (e.g. the numerator of a proportion, from which the proportion would give the count back)
    is between 1 and ``min_cell`` - 1: every numeric column except those in ``keep`` (e.g. thresholds) is set
    to NaN, and the boolean column ``suppressed`` marks the row. Returns a copy.
    """
    if n_col not in table.columns:
        raise ValueError(f"suppress_small_cells: missing column '{n_col}'; available columns: {list(table.columns)}")
    out = table.copy()
    touched = (out[n_col].astype(float) < min_cell).to_numpy()
    for c in count_cols:
        if c in out.columns:
            touched |= ((out[c] > 0) & (out[c] < min_cell)).to_numpy()
    numeric = [c for c in out.columns if pd.api.types.is_numeric_dtype(out[c])
               and not pd.api.types.is_bool_dtype(out[c]) and c not in keep]
    for c in numeric:
        out[c] = out[c].astype(float)
    out.loc[touched, numeric] = np.nan
    out["suppressed"] = touched
    return out
