"""Publishable aggregates of a cohort: attrition (CONSORT-like; Schulz, Altman & Moher 2010, BMJ 340:c332), "Table 1"
of baseline characteristics by arm with standardised mean differences (Austin 2009, Stat Med 28:3083-3107) and
missingness, and the distributions of follow-up and time to treatment start.

Every count between 1 and ``min_cell_size`` - 1 is blanked (NaN), and so are the statistics of a group of fewer than
``min_cell_size`` patients; quantiles are given instead of minima and maxima. Differences between rows of the
attrition table can still reveal a blanked removal: choose ``min_cell_size`` and the criteria accordingly.
Patient-level tables are written only by :meth:`causalehr.cohort.build.Cohort.write`, to a private folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causalehr.probation.suppress import DEFAULT_MIN_CELL

QUANTILES = (0.25, 0.5, 0.75)


def _blank_small(values: pd.Series, min_cell_size: int) -> pd.Series:
    values = values.astype(float)
    return values.mask((values > 0) & (values < min_cell_size))


def attrition_table(cohort, min_cell_size: int = DEFAULT_MIN_CELL) -> pd.DataFrame:
    """The cohort's attrition table with small counts blanked (column ``suppressed`` marks the rows touched)."""
    table = cohort.attrition.copy()
    touched = np.zeros(len(table), dtype=bool)
    for c in ("n_patients", "n_removed", "n_rows"):
        blanked = _blank_small(table[c].astype("Float64").astype(float), min_cell_size)
        touched |= (blanked.isna() & table[c].notna()).to_numpy()
        table[c] = blanked
    table["suppressed"] = touched
    return table


def _smd(x1: np.ndarray, x0: np.ndarray, binary: bool) -> float:
    m1, m0 = np.nanmean(x1), np.nanmean(x0)
    v1, v0 = (m1 * (1 - m1), m0 * (1 - m0)) if binary else (np.nanvar(x1, ddof=1), np.nanvar(x0, ddof=1))
    pooled = np.sqrt((v1 + v0) / 2)
    return float((m1 - m0) / pooled) if pooled > 0 else 0.0


def table_one(cohort, by: str = "treatment", min_cell_size: int = DEFAULT_MIN_CELL,
              categorical: tuple[str, ...] = ()) -> pd.DataFrame:
    """Baseline characteristics by arm (``by`` = 0/1): for a binary covariate the count and percentage of 1s, for a
    continuous one the mean and standard deviation, for each arm the number missing; the standardised mean
    difference (arm 1 minus arm 0, pooled standard deviation). Covariates in ``categorical`` (and the care site)
    give one binary row per level. Columns: variable, level, kind, then n/count/percent/mean/sd/missing per arm
    (suffix _0, _1), smd."""
    df = cohort.analysis
    care = [c["name"] for c in cohort.spec.covariates if c["type"] == "care_site"]
    cats = set(categorical) | set(care)
    rows = []
    arms = {a: df[df[by] == a] for a in (0, 1)}
    for name in cohort.covariates:
        if name.endswith("_missing") or name.endswith("_age_days") and name[:-9] in cohort.covariates:
            continue
        col = df[name]
        levels = sorted(col.dropna().unique()) if name in cats else [None]
        for level in levels:
            values = {a: (d[name] == level).astype(float).where(d[name].notna()) if level is not None else
                      d[name].astype(float) for a, d in arms.items()}
            binary = level is not None or set(col.dropna().unique()) <= {0, 1}
            row = {"variable": name, "level": level, "kind": "binary" if binary else "continuous"}
            for a, v in values.items():
                n = len(v)
                row[f"n_{a}"] = n
                row[f"missing_{a}"] = int(v.isna().sum())
                if binary:
                    row[f"count_{a}"] = float(v.sum())
                    row[f"percent_{a}"] = 100 * v.mean()
                else:
                    row[f"mean_{a}"], row[f"sd_{a}"] = v.mean(), v.std()
            row["smd"] = _smd(values[1].to_numpy(), values[0].to_numpy(), binary)
            rows.append(row)
    table = pd.DataFrame(rows)
    for a in (0, 1):
        for c in ("count", "percent", "mean", "sd"):
            if f"{c}_{a}" not in table:
                table[f"{c}_{a}"] = np.nan
        small = table[f"n_{a}"] < min_cell_size
        blank_count = (table[f"count_{a}"] > 0) & (table[f"count_{a}"] < min_cell_size)
        blank_count |= (table[f"n_{a}"] - table[f"missing_{a}"] - table[f"count_{a}"]).between(1, min_cell_size - 1)
        table.loc[blank_count | small, [f"count_{a}", f"percent_{a}"]] = np.nan
        table.loc[small, [f"mean_{a}", f"sd_{a}"]] = np.nan
        table[f"missing_{a}"] = _blank_small(table[f"missing_{a}"], min_cell_size)
        table.loc[small, "smd"] = np.nan
    order = ["variable", "level", "kind"] + [f"{c}_{a}" for a in (0, 1)
                                            for c in ("n", "count", "percent", "mean", "sd", "missing")] + ["smd"]
    return table[order]


def follow_up_distribution(cohort, by: str = "treatment", min_cell_size: int = DEFAULT_MIN_CELL) -> pd.DataFrame:
    """Per arm: patients, outcomes, competing deaths, censored, and the quartiles of follow-up time and of time to
    treatment start (among those who started), in the analysis time unit; small counts blanked."""
    df = cohort.analysis
    rows = []
    for arm, d in df.groupby(by):
        start = d["treatment_start"].dropna()
        row = {by: arm, "n": len(d), "outcomes": int((d["cause"] == 1).sum()),
               "competing_deaths": int((d["cause"] == 2).sum()), "censored": int((d["cause"] == 0).sum()),
               "n_started": len(start)}
        for q in QUANTILES:
            row[f"time_q{int(q * 100)}"] = d["time"].quantile(q) if len(d) >= min_cell_size else np.nan
            row[f"start_q{int(q * 100)}"] = start.quantile(q) if len(start) >= min_cell_size else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    for c in ("n", "outcomes", "competing_deaths", "censored", "n_started"):
        table[c] = _blank_small(table[c], min_cell_size)
    return table


def write_tables(cohort, results_dir: str | Path, min_cell_size: int = DEFAULT_MIN_CELL) -> Path:
    """Write the publishable aggregates (attrition.csv, table_one.csv, follow_up.csv) to ``results_dir``."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    attrition_table(cohort, min_cell_size).to_csv(out / "attrition.csv", index=False)
    table_one(cohort, min_cell_size=min_cell_size).to_csv(out / "table_one.csv", index=False)
    follow_up_distribution(cohort, min_cell_size=min_cell_size).to_csv(out / "follow_up.csv", index=False)
    return out
