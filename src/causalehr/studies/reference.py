"""Head-to-head with grf's causal survival forest on identical cohorts (strategy 1).

``run`` is the benchmark ``python benchmarks/bench_strategy1.py csf --grf`` (it needs R with grf, so its output,
benchmarks/results/csf_grf.csv, is committed); :func:`summarise` compares every learner with grf per setting and
estimand, and :func:`report` writes the paper's table (notebooks/evaluate.ipynb).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from causalehr.studies.common import ESTIMAND_LABELS, fmt

REFERENCE_METHODS = ("CSF (grf)", "IPCW forest (grf)")
FIXED = "auto"  # the learner fixed in advance (model selection inside the fit), paired with CSF in every cell


def summarise(mse: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Head-to-head with grf's causal survival forest (CSF) on identical cohorts (benchmarks/bench_strategy1.py
    csf --grf): per setting and estimand, the mean MSE x 100 (Monte Carlo SE) of every method, and the best
    method of the compendium minus CSF, paired by training cohort (mean and SE of the per-cohort differences).
    Cohorts on which a method gave no estimate (missing MSE) are left out for all methods (``incomplete``); a
    method without rows in a setting and estimand (not run there) is shown as "-" and not paired there.

    ``mse`` has one row per setting, estimand, method and replication (column ``rep``) with ``mse_x100``.
    Returns the table (estimand and method in rows, settings in columns, closing with the best method of the
    compendium and its paired difference to CSF, and with that of ``FIXED`` when it has rows) and the values the
    manuscript quotes; a cell is "better" or "worse" when the paired difference is more than two standard errors
    from zero, "level" otherwise."""
    missing = sorted({"setting", "estimand", "method", "rep", "mse_x100"} - set(mse.columns))
    if missing:
        raise ValueError(f"the reference MSE table lacks the column(s) {missing}")
    absent = [m for m in REFERENCE_METHODS if m not in set(mse["method"])]
    if absent:
        raise ValueError(f"the reference MSE table has no rows of method(s) {absent}: run "
                         "benchmarks/bench_strategy1.py csf with --grf")
    wide = mse.pivot_table(index=["setting", "estimand", "rep"], columns="method", values="mse_x100", dropna=False)
    ran = mse.groupby(["setting", "estimand"])["method"].agg(set)  # the methods run in each cell
    expected = pd.DataFrame([[m in ran[cell] for m in wide.columns] for cell in wide.index.droplevel("rep")],
                            index=wide.index, columns=wide.columns)
    complete = (wide.notna() | ~expected).all(axis=1)  # cohorts on which every method run gave an estimate
    values = {"replications": int(wide.groupby(level=[0, 1]).size().min()),
              "incomplete": int((~complete).sum()), "settings": {}}
    wide = wide[complete]
    g = wide.stack().rename("mse_x100").reset_index().groupby(["setting", "estimand", "method"])["mse_x100"]
    mean, mcse = g.mean().unstack("method"), (g.std() / np.sqrt(g.count())).unstack("method")
    ours = [m for m in mean.columns if m not in REFERENCE_METHODS]
    # every learner of the compendium minus CSF, paired by cohort: mean, its standard error, and z = mean / SE
    paired = wide[ours].sub(wide["CSF (grf)"], axis=0).groupby(level=[0, 1])
    diff, diff_se = paired.mean(), paired.std() / np.sqrt(paired.count())
    z = diff / diff_se
    table: dict = {}  # (estimand, row label) -> {setting: cell}
    for key in mean.index:
        setting, estimand = key
        for method in [*REFERENCE_METHODS, *ours]:
            cell = f"{fmt(mean.loc[key, method])} ({fmt(mcse.loc[key, method])})" if method in ran[key] else "-"
            table.setdefault((estimand, method), {})[setting] = cell
        best = mean.loc[key, ours].idxmin()
        d, se = diff.loc[key, best], diff_se.loc[key, best]
        table.setdefault((estimand, "best of the compendium"), {})[setting] = best
        table.setdefault((estimand, "best - CSF (paired)"), {})[setting] = f"{d:+.3g} ({fmt(se)})"
        if FIXED in ours:
            d_fixed, se_fixed = diff.loc[key, FIXED], diff_se.loc[key, FIXED]
            table.setdefault((estimand, f"{FIXED} - CSF (paired)"), {})[setting] = (
                f"{d_fixed:+.3g} ({fmt(se_fixed)})" if FIXED in ran[key] else "-")
        values["settings"].setdefault(setting, {})[estimand] = {
            "best": best, "best_mse": fmt(mean.loc[key, best]), "csf_mse": fmt(mean.loc[key, "CSF (grf)"]),
            "ipcw_mse": fmt(mean.loc[key, "IPCW forest (grf)"]), "difference": f"{d:+.3g}",
            "difference_se": fmt(se), "not_worse": bool(d <= 2 * se),
            "verdict": "better" if d < -2 * se else "worse" if d > 2 * se else "level",
        }
    # one learner held fixed over all cells (a milder selection than the best per cell)
    not_worse = (z <= 2).sum()
    single = not_worse[not_worse == not_worse.max()].index
    single = mean.loc[:, single].rank(axis=1).mean().idxmin()  # ties: the better mean rank over the cells
    values["single"] = {"method": single, "not_worse": int(not_worse[single]), "better": int((z[single] < -2).sum())}
    if FIXED in ours:
        verdicts = {verdict: [f"{s} {ESTIMAND_LABELS[e]}" for (s, e), v in z[FIXED].items() if test(v)]
                    for verdict, test in (("better", lambda v: v < -2), ("worse", lambda v: v > 2),
                                          ("level", lambda v: -2 <= v <= 2))}
        values[FIXED] = {**{verdict: ", ".join(named) or "none" for verdict, named in verdicts.items()},
                         **{f"n_{verdict}": len(named) for verdict, named in verdicts.items()},
                         "cells": int(z[FIXED].notna().sum())}
    frame = pd.DataFrame([{"Estimand": ESTIMAND_LABELS[e], "Method": m, **cells} for (e, m), cells in table.items()])
    cells = [(s, e, v) for s, by_estimand in values["settings"].items() for e, v in by_estimand.items()]
    values["not_worse"] = sum(v["not_worse"] for *_, v in cells)
    values["cells"] = len(cells)
    values["learners"] = len(ours)
    for verdict in ("better", "level", "worse"):
        named = [f"{s} {ESTIMAND_LABELS[e]}" for s, e, v in cells if v["verdict"] == verdict]
        values[verdict], values[f"n_{verdict}"] = ", ".join(named) or "none", len(named)
    return frame, {"reference": values}


def report(mse: pd.DataFrame, paths: Mapping[str, str | Path]) -> dict:
    """Write the head-to-head table to ``paths["reference_table"]``; return the quoted values."""
    table, values = summarise(mse)
    Path(paths["reference_table"]).write_text(table.to_markdown(index=False) + "\n")
    return values
