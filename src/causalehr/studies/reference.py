"""Head-to-head comparisons with R packages on identical cohorts (strategy 1), from committed benchmark output.

grf's causal survival forest: the benchmark ``python benchmarks/bench_strategy1.py csf --grf`` (it needs R with
grf, so its output, benchmarks/results/csf_grf.csv, is committed); :func:`summarise` compares every learner with
grf per setting and estimand, and :func:`report` writes the paper's table (notebooks/evaluate.ipynb).

riskRegression's ``ate()`` under competing risks: the benchmark ``python benchmarks/bench_competing.py peer``
(output benchmarks/results/competing_peer.csv, committed); :func:`competing_peer_table` summarises it and
:func:`competing_peer_values` gives the values the manuscript quotes. Likewise the coverage study of the
competing-risks ATE intervals, ``python benchmarks/bench_competing.py coverage`` (hundreds of cohorts, too long
for the workflow; benchmarks/results/competing_coverage.csv): :func:`competing_coverage_table`,
:func:`competing_coverage_values`.

Method "auto" on the grf settings and on settings with no or weak heterogeneity under heavy censoring:
``python benchmarks/bench_select.py`` (benchmarks/results/select.csv, committed); :func:`selection_values`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

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
    compendium and its paired difference to CSF, and with that of ``FIXED`` when it has rows; the IPCW forest may
    be absent, "-") and the values the manuscript quotes; a cell is "better" or "worse" when the paired difference
    is more than two standard errors from zero, "level" otherwise."""
    missing = sorted({"setting", "estimand", "method", "rep", "mse_x100"} - set(mse.columns))
    if missing:
        raise ValueError(f"the reference MSE table lacks the column(s) {missing}")
    if "CSF (grf)" not in set(mse["method"]):  # the IPCW forest may be left out (--grf-methods)
        raise ValueError("the reference MSE table has no rows of method(s) ['CSF (grf)']: run "
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
            "ipcw_mse": fmt(mean.loc[key, "IPCW forest (grf)"]) if "IPCW forest (grf)" in ran[key] else "-",
            "difference": f"{d:+.3g}",
            "difference_se": fmt(se), "not_worse": bool(d <= 2 * se),
            "verdict": "better" if d < -2 * se else "worse" if d > 2 * se else "level",
        }
    # one learner held fixed over all cells (a milder selection than the best per cell), among those run in every
    # cell (a learner run in fewer cells would be judged on fewer)
    everywhere = [m for m in ours if all(m in ran[key] for key in mean.index)] or ours
    not_worse = (z[everywhere] <= 2).sum()
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


PEER_R = "riskRegression ate"  # its rows with the nuisances taken as known are PEER_R + " (known nuisance)"
PEER_COLUMNS = {"setting", "n", "rep", "method", "analysis", "ate", "se", "truth", "cate_mse", "seconds"}
PEER_KEYS = {PEER_R: "riskregression", f"{PEER_R} (known nuisance)": "riskregression_known", "dr-dtch": "dr",
             "forest": "forest"}  # method -> key of the values


def competing_peer_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per setting, size, method and analysis (competing, naive = death censored): ATE bias, RMSE, mean standard
    error, 95% Wald coverage (each with its Monte Carlo SE), mean CATE MSE (MCSE), mean seconds; and, for the
    competing analyses of the compendium, the paired difference with riskRegression on the cohorts it fitted:
    estimate (compendium - riskRegression) and squared error, mean and SE (riskRegression's estimate does not
    depend on the kind of its standard error, full or with the nuisances known: either row serves).

    ``rows``: one row per cohort, method and analysis (benchmarks/bench_competing.py peer): the ATE estimate
    ``ate``, its standard error ``se``, the cohort's sample-average true effect ``truth``, ``cate_mse`` (missing for
    riskRegression, which gives no CATE)."""
    missing = sorted(PEER_COLUMNS - set(rows.columns))
    if missing:
        raise ValueError(f"the competing-risks peer table lacks the column(s) {missing}")
    z = norm.ppf(0.975)
    is_peer = rows["method"].str.startswith(PEER_R)
    peer = rows[is_peer].drop_duplicates(["setting", "n", "rep"]).set_index(["setting", "n", "rep"])
    out = []
    for (setting, n, method, analysis), g in rows.groupby(["setting", "n", "method", "analysis"], sort=False):
        err, r = g["ate"] - g["truth"], len(g)
        with_se = g["se"].notna()  # riskRegression's point estimates (se = FALSE) have no standard error
        cover = float((np.abs(err[with_se]) <= z * g["se"][with_se]).mean()) if with_se.any() else np.nan
        line = {"setting": setting, "n": n, "method": method, "analysis": analysis, "reps": r,
                "truth": g["truth"].mean(), "bias": err.mean(), "bias_mcse": err.std(ddof=1) / np.sqrt(r),
                "rmse": np.sqrt((err**2).mean()), "mean_se": g["se"].mean(), "se_reps": int(with_se.sum()),
                "cover95": cover, "cover95_mcse": np.sqrt(cover * (1 - cover) / with_se.sum()),
                "cate_mse": g["cate_mse"].mean(), "cate_mse_mcse": g["cate_mse"].std(ddof=1) / np.sqrt(r),
                "seconds": g["seconds"].mean()}
        if analysis == "competing" and not method.startswith(PEER_R) and len(peer):
            both = g.set_index(["setting", "n", "rep"]).join(peer[["ate"]], rsuffix="_r", how="inner")
            diff = both["ate"] - both["ate_r"]
            sq = (both["ate"] - both["truth"]) ** 2 - (both["ate_r"] - both["truth"]) ** 2
            m = len(both)
            line.update({"paired_reps": m, "diff_vs_r": diff.mean(), "diff_vs_r_se": diff.std(ddof=1) / np.sqrt(m),
                         "sqerr_diff_vs_r": sq.mean(), "sqerr_diff_vs_r_se": sq.std(ddof=1) / np.sqrt(m)})
        out.append(line)
    return pd.DataFrame(out)


def competing_peer_values(rows: pd.DataFrame) -> dict:
    """The values the manuscript quotes from the competing-risks peer comparison (:func:`competing_peer_table`):
    ``competing_peer.<setting>.n<n>.<method>.<analysis>.<metric>`` for method ``riskregression`` (its standard error
    with the estimation of the nuisances, or with them known: ``riskregression_known``), ``dr`` (aipcw-dr
    with discrete-time cause-specific nuisances) and ``forest`` (the causal survival forest, whose ATE is that of
    ``dr``), analysis ``competing`` or ``naive`` (death censored; the compendium's methods only), metrics reps,
    truth, bias, bias_mcse, rmse and, where standard errors were computed, mean_se, coverage, coverage_mcse;
    cate_mse (x 100) and its mcse for the compendium; with the paired difference to riskRegression (``paired``:
    reps, difference, difference_se, sqerr_difference and its se) on the competing analyses; and the size itself,
    ``competing_peer.<setting>.n<n>.n`` (e.g. "2,000")."""
    table = competing_peer_table(rows)
    if not table["method"].str.startswith(PEER_R).any():
        raise ValueError(f"the competing-risks peer table has no rows of method {PEER_R!r}: run "
                         "benchmarks/bench_competing.py peer with --r-sizes")
    values: dict = {}
    for line in table[table["method"].isin(PEER_KEYS)].to_dict("records"):
        v = {"reps": int(line["reps"]), "truth": fmt(line["truth"]), "bias": fmt(line["bias"]),
             "bias_mcse": fmt(line["bias_mcse"]), "rmse": fmt(line["rmse"])}
        if line["se_reps"]:
            v.update(mean_se=fmt(line["mean_se"]), coverage=fmt(line["cover95"]),
                     coverage_mcse=fmt(line["cover95_mcse"]))
        if not line["method"].startswith(PEER_R):
            v.update(cate_mse=fmt(100 * line["cate_mse"]), cate_mse_mcse=fmt(100 * line["cate_mse_mcse"]))
        if line.get("paired_reps", 0) > 0:
            v["paired"] = {"reps": int(line["paired_reps"]), "difference": f"{line['diff_vs_r']:+.4f}",
                           "difference_se": fmt(line["diff_vs_r_se"]),
                           "sqerr_difference": f"{line['sqerr_diff_vs_r']:+.5f}",
                           "sqerr_difference_se": fmt(line["sqerr_diff_vs_r_se"])}
        by_size = values.setdefault(line["setting"], {}).setdefault(f"n{line['n']}", {"n": f"{line['n']:,}"})
        by_size.setdefault(PEER_KEYS[line["method"]], {})[line["analysis"]] = v
    return {"competing_peer": values}


COVERAGE_COLUMNS = {"estimand", "analysis", "estimate", "se", "truth", "net_truth", "seconds"}


def competing_coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per estimand and analysis (competing, naive = death censored): bias, RMSE, SD of the estimates, mean standard
    error, coverage of 90% and 95% Wald intervals, each with its Monte Carlo SE, against the cohort's sample-average
    true effect ``truth`` (``net_truth``: the effect the naive analysis estimates). ``rows``: one row per cohort,
    estimand and analysis (benchmarks/bench_competing.py coverage)."""
    missing = sorted(COVERAGE_COLUMNS - set(rows.columns))
    if missing:
        raise ValueError(f"the competing-risks coverage table lacks the column(s) {missing}")
    out = []
    for (estimand, analysis), g in rows.groupby(["estimand", "analysis"], sort=False):
        err = g["estimate"] - g["truth"]
        r = len(g)
        line = {"estimand": estimand, "analysis": analysis, "reps": r, "truth": g["truth"].mean(),
                "net_truth": g["net_truth"].mean(), "bias": err.mean(), "bias_mcse": err.std(ddof=1) / np.sqrt(r),
                "rmse": np.sqrt((err**2).mean()), "sd": g["estimate"].std(ddof=1), "mean_se": g["se"].mean()}
        for level in (0.90, 0.95):
            cover = (np.abs(err) <= norm.ppf(0.5 + level / 2) * g["se"]).mean()
            line[f"cover{int(level * 100)}"] = cover
            line[f"cover{int(level * 100)}_mcse"] = np.sqrt(cover * (1 - cover) / r)
        line["seconds"] = g["seconds"].mean()
        out.append(line)
    return pd.DataFrame(out)


def competing_coverage_values(rows: pd.DataFrame) -> dict:
    """``competing_coverage.<estimand>.<analysis>.<metric>`` of :func:`competing_coverage_table`: reps, truth,
    bias, bias_mcse, sd, mean_se, sd_over_se (SD of the estimates over the mean standard error), coverage (95%) and
    coverage_mcse."""
    values: dict = {}
    for line in competing_coverage_table(rows).to_dict("records"):
        values.setdefault(line["estimand"], {})[line["analysis"]] = {
            "reps": int(line["reps"]), "truth": fmt(line["truth"]), "bias": fmt(line["bias"]),
            "bias_mcse": fmt(line["bias_mcse"]), "sd": fmt(line["sd"]), "mean_se": fmt(line["mean_se"]),
            "sd_over_se": f"{line['sd'] / line['mean_se']:.2f}", "coverage": fmt(line["cover95"]),
            "coverage_mcse": fmt(line["cover95_mcse"])}
    return {"competing_coverage": values}


SELECTION_COLUMNS = {"setting", "estimand", "rep", "auto", "constant", "true ATE", "w_constant"}


def selection_values(rows: pd.DataFrame) -> dict:
    """``selection.<setting>.<estimand>.<metric>`` from the benchmark of method "auto" (benchmarks/bench_select.py,
    one row per cohort; refused fits, with an ``error``, left out): reps; MSE x 100 against the true CATE of
    ``auto``, of the constant model (the estimated ATE for everyone) and of the constant true ATE, each with its
    Monte Carlo SE (``*_mcse``); the paired differences ``auto_minus_true_ate`` and ``auto_minus_constant`` with
    their SE; and ``constant_kept``, the cohorts where the constant model kept all the weight."""
    missing = sorted(SELECTION_COLUMNS - set(rows.columns))
    if missing:
        raise ValueError(f"the selection benchmark table lacks the column(s) {missing}")
    if "error" in rows.columns:
        rows = rows[rows["error"].isna()]
    def mean_se(x):
        return fmt(x.mean()), fmt(x.std(ddof=1) / np.sqrt(len(x)))

    values: dict = {}
    for (setting, estimand), g in rows.groupby(["setting", "estimand"]):
        v = {"reps": len(g), "constant_kept": int((g["w_constant"] == 1).sum())}
        for key, x in {"auto": g["auto"], "constant": g["constant"], "true_ate": g["true ATE"],
                       "auto_minus_true_ate": g["auto"] - g["true ATE"],
                       "auto_minus_constant": g["auto"] - g["constant"]}.items():
            v[key], v[f"{key}_mcse"] = mean_se(x)
        values.setdefault(setting, {})[estimand] = v
    return {"selection": values}
