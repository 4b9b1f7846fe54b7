"""The probation study of the workflow (notebooks/probation.ipynb): one probation run on a simulated AI extraction
(:func:`causalehr.probation.run_probation`) and the coverage studies of :mod:`causalehr.probation.evaluation`
(:func:`run`), and the compact paper tables, figures and quoted values built from their already suppressed tables
(:func:`report`). No statistics are computed here beyond Monte Carlo standard errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from causalehr.probation import probation_report, run_probation, simulate_extraction
from causalehr.probation.evaluation import metric_coverage, ppi_coverage
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/probation.ipynb"

# One headline agreement metric per variable type: chance-corrected agreement (Gwet's AC1) for codes,
# share within k days for dates, mean difference for numbers, character error rate for free text.
HEADLINE = {"binary": "ac1", "categorical": "ac1", "date": "within_k_days", "numeric": "bias", "text": "cer"}
HEADLINE_LABEL = {"ac1": "Gwet's AC1", "within_k_days": "share within k days", "bias": "mean difference",
                  "cer": "character error rate"}


def _require(table: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; available columns: {list(table.columns)}")


def _interval(est, lo, hi, suppressed=False) -> str:
    """``est (lo, hi)`` with three significant digits; "suppressed" for a small cell, "n.e." when there is no
    estimate (e.g. a median survival not reached)."""
    if suppressed:
        return "suppressed"
    if pd.isna(est):
        return "n.e."
    return fmt(est) if pd.isna(lo) or pd.isna(hi) else f"{fmt(est)} ({fmt(lo)}, {fmt(hi)})"


def _cells(table: pd.DataFrame) -> list[str]:
    suppressed = table["suppressed"] if "suppressed" in table.columns else [False] * len(table)
    return [_interval(*v) for v in zip(table["estimate"], table["lower"], table["upper"], suppressed)]


def headline_agreement(metrics: pd.DataFrame) -> pd.DataFrame:
    """Overall rows of the agreement table restricted to each variable's headline metric (:data:`HEADLINE`)
    plus its omission rate, in the order of the variables in ``metrics``."""
    _require(metrics, ["source", "variable", "type", "by", "metric", "estimate", "lower", "upper"], "agreement")
    overall = metrics[metrics["by"] == "overall"]
    keep = (overall["metric"] == overall["type"].map(HEADLINE)) | (overall["metric"] == "omission")
    return overall[keep].reset_index(drop=True)


def agreement_table(metrics: pd.DataFrame) -> str:
    """Markdown table: one row per variable, its headline metric and, per source, the estimate (95% interval)
    of that metric and of the omission rate."""
    rows = headline_agreement(metrics)
    rows = rows.assign(kind=np.where(rows["metric"] == "omission", "omission", "agreement"), cell=_cells(rows))
    wide = rows.pivot_table(index="variable", columns=["source", "kind"], values="cell", aggfunc="first", sort=False)
    wide.columns = [f"{s}: {k}" for s, k in wide.columns]
    metric = rows[rows["kind"] == "agreement"].drop_duplicates("variable").set_index("variable")["metric"]
    wide.insert(0, "metric", metric.reindex(wide.index).map(HEADLINE_LABEL))
    return wide.rename_axis("variable").reset_index().fillna("").to_markdown(index=False) + "\n"


def acceptance_table(matrix: pd.DataFrame) -> str:
    """Markdown acceptance matrix: variables in rows, one column per source and intended use (pass/fail)."""
    _require(matrix, ["source", "variable"], "acceptance")
    uses = [c for c in matrix.columns if c not in ("source", "variable") and not c.endswith("_reason")]
    wide = matrix.pivot(index="variable", columns="source", values=uses)
    wide = wide.reindex(columns=[(u, s) for s in matrix["source"].unique() for u in uses])
    wide.columns = [f"{s}: {u}" for u, s in wide.columns]
    wide = wide.reindex(matrix["variable"].unique()).rename_axis("variable").reset_index()
    return wide.to_markdown(index=False) + "\n"


def replication_table(replication: pd.DataFrame) -> str:
    """Markdown table of the end analysis by data source: quantities in rows, sources in columns,
    estimate (95% bootstrap interval), and the number of patients each source's cohort kept."""
    _require(replication, ["source", "quantity", "estimate", "lower", "upper", "n"], "replication")
    cells = replication.assign(cell=_cells(replication))
    wide = cells.pivot(index="quantity", columns="source", values="cell").reindex(
        index=replication["quantity"].unique(), columns=replication["source"].unique())
    n = replication.drop_duplicates("source").set_index("source")["n"]
    wide.loc["patients analysed"] = [str(int(v)) if pd.notna(v) else "suppressed" for v in n.reindex(wide.columns)]
    return wide.fillna("").rename_axis(index="quantity", columns=None).reset_index().to_markdown(index=False) + "\n"


def coverage_mcse(coverage, n_reps):
    """Monte Carlo standard error of an estimated coverage probability: sqrt(c (1 - c) / R)."""
    coverage = np.asarray(coverage, dtype=float)
    return np.sqrt(coverage * (1 - coverage) / np.asarray(n_reps, dtype=float))


def ppi_coverage_table(ppi_cov: pd.DataFrame) -> str:
    """Markdown table of the PPI coverage study: coverage (Monte Carlo SE), mean width and bias per estimand
    and method (PPI, classical on the validated subset only, naive on the AI values only)."""
    _require(ppi_cov, ["estimand", "method", "coverage", "mean_width", "bias", "n_reps", "nominal"], "ppi coverage")
    mcse = coverage_mcse(ppi_cov["coverage"], ppi_cov["n_reps"])
    return pd.DataFrame({
        "estimand": ppi_cov["estimand"], "method": ppi_cov["method"],
        "coverage (MC SE)": [f"{fmt(c)} ({fmt(s)})" for c, s in zip(ppi_cov["coverage"], mcse)],
        "nominal": ppi_cov["nominal"].map(fmt), "mean width": ppi_cov["mean_width"].map(fmt),
        "bias": ppi_cov["bias"].map(fmt),
    }).to_markdown(index=False) + "\n"


def metric_coverage_summary(metric_cov: pd.DataFrame, nominal: float) -> pd.DataFrame:
    """Per stratification (``by``): number of (source, variable, metric, stratum) cells with an interval,
    median and minimum coverage, and the share of cells whose coverage is not below ``nominal`` by more than
    2 Monte Carlo SE (computed at the nominal level)."""
    _require(metric_cov, ["by", "coverage", "n_reps"], "metric coverage")
    band = 2 * coverage_mcse(nominal, metric_cov["n_reps"])
    ok = metric_cov["coverage"] >= nominal - band
    return (metric_cov.assign(ok=ok).groupby("by", sort=False)
            .agg(cells=("coverage", "size"), median=("coverage", "median"), minimum=("coverage", "min"),
                 share_ok=("ok", "mean")).reset_index())


def plot_agreement(metrics: pd.DataFrame):
    """Forest plot of each variable's headline metric with its 95% interval, one panel per metric, one
    colour per source."""
    rows = headline_agreement(metrics)
    rows = rows[rows["metric"] != "omission"]
    panels = [m for m in HEADLINE_LABEL if m in set(rows["metric"])]
    sources = list(rows["source"].unique())
    heights = [rows.loc[rows["metric"] == m, "variable"].nunique() for m in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 0.35 * sum(heights) + 1.2 * len(panels)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, m in zip(axes[:, 0], panels):
        sub = rows[rows["metric"] == m]
        variables = list(sub["variable"].unique())
        for i, s in enumerate(sources):
            g = sub[sub["source"] == s].set_index("variable").reindex(variables)
            y = np.arange(len(variables)) + (i - (len(sources) - 1) / 2) * 0.25
            err = np.clip([g["estimate"] - g["lower"], g["upper"] - g["estimate"]], 0, None)
            ax.errorbar(g["estimate"], y, xerr=np.nan_to_num(err), fmt="o", ms=4, capsize=2, label=s, color=f"C{i}")
        ax.set_yticks(np.arange(len(variables)), variables)
        ax.invert_yaxis()
        ax.set_xlabel(HEADLINE_LABEL[m])
    axes[0, 0].legend(title="source", fontsize=8)
    fig.tight_layout()
    return fig


def plot_risk_coverage(curves: pd.DataFrame, selective: pd.DataFrame, target_accuracy: float):
    """Risk-coverage curves of the AI source (one line per variable) with the routing threshold reaching
    ``target_accuracy`` marked on each curve, and the target risk as a dashed line."""
    _require(curves, ["source", "variable", "coverage", "risk"], "risk_coverage")
    _require(selective, ["source", "variable", "coverage"], "selective")
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, ((s, v), g) in enumerate(curves.dropna(subset=["risk"]).groupby(["source", "variable"], sort=False)):
        ax.plot(g["coverage"], g["risk"], lw=1, color=f"C{i % 10}", label=v)
        point = selective[(selective["source"] == s) & (selective["variable"] == v)]
        if not point.empty and pd.notna(point["coverage"].iloc[0]):
            cov = point["coverage"].iloc[0]
            ax.plot(cov, np.interp(cov, g["coverage"], g["risk"]), "o", color=f"C{i % 10}", ms=5)
    ax.axhline(1 - target_accuracy, ls="--", color="grey", lw=1)
    ax.set_xlabel("coverage (share of values accepted automatically)")
    ax.set_ylabel("risk (error share among accepted values)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_coverage(metric_cov: pd.DataFrame, ppi_cov: pd.DataFrame, nominal_metrics: float):
    """Left: coverage of the agreement-metric intervals across (source, variable, metric, stratum) cells,
    by stratification, with the nominal level and its +-2 Monte Carlo SE band. Right: coverage and mean width
    of the PPI, classical and naive AI-only intervals per estimand (error bars: 2 Monte Carlo SE)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    groups = list(metric_cov["by"].unique())
    left.boxplot([metric_cov.loc[metric_cov["by"] == b, "coverage"] for b in groups], tick_labels=groups,
                 vert=False)
    band = 2 * float(coverage_mcse(nominal_metrics, metric_cov["n_reps"].max()))
    left.axvspan(nominal_metrics - band, min(nominal_metrics + band, 1.0), color="grey", alpha=0.2)
    left.axvline(nominal_metrics, color="black", lw=1)
    left.set_xlabel("coverage of agreement-metric intervals")
    methods = list(ppi_cov["method"].unique())
    for i, (estimand, g) in enumerate(ppi_cov.groupby("estimand", sort=False)):
        g = g.set_index("method").reindex(methods)
        x = np.arange(len(methods)) + (i - 0.5) * 0.2
        right.errorbar(x, g["coverage"], yerr=2 * coverage_mcse(g["coverage"], g["n_reps"]), fmt="o", capsize=3,
                       label=estimand, color=f"C{i}")
        for xi, c, w in zip(x, g["coverage"], g["mean_width"]):
            right.annotate(f"w={w:.2g}", (xi, c), textcoords="offset points", xytext=(4, -10), fontsize=7)
    right.axhline(ppi_cov["nominal"].iloc[0], color="black", lw=1)
    right.set_xticks(np.arange(len(methods)), methods)
    right.set_ylim(-0.05, 1.05)
    right.set_ylabel("coverage (w: mean interval width)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def not_assessable(matrix: pd.DataFrame) -> pd.Series:
    """Per source: number of (variable, use) pairs "not assessable" in the acceptance matrix (a requirement's
    metric blanked by small-cell suppression, e.g. fewer than ``min_cell`` nonconformant values)."""
    _require(matrix, ["source", "variable"], "acceptance")
    uses = [c for c in matrix.columns if c not in ("source", "variable") and not c.endswith("_reason")]
    counts = (matrix[uses] == "not assessable").sum(axis=1).groupby(matrix["source"], sort=False).sum()
    return counts.astype(int)


def probation_values(results: dict[str, pd.DataFrame], metric_cov: pd.DataFrame, ppi_cov: pd.DataFrame, *,
                     n: int, n_labelled: int, reps: int, nominal_metrics: float, target_accuracy: float,
                     min_cell: int) -> dict:
    """The numbers the paper quotes, formatted (3 significant digits), under the key ``probation``."""
    acc = results["acceptance"]
    uses = [c for c in acc.columns if c not in ("source", "variable") and not c.endswith("_reason")]
    accepted = {s: {u: str(int((g[u] == "pass").sum())) for u in uses} for s, g in acc.groupby("source")}
    sel = results["selective"]
    rep = results["replication"].set_index(["source", "quantity"])
    summary = metric_coverage_summary(metric_cov, nominal_metrics).set_index("by")
    ppi = ppi_cov.set_index(["estimand", "method"])
    return {"probation": {
        "n": str(n), "n_labelled": str(n_labelled), "reps": str(reps), "n_variables": str(acc["variable"].nunique()),
        "target_accuracy": fmt(target_accuracy), "min_cell": str(min_cell), "accepted": accepted,
        "not_assessable": {s: str(c) for s, c in not_assessable(acc).items()},
        "routing": {"coverage_min": fmt(sel["coverage"].min()), "coverage_max": fmt(sel["coverage"].max()),
                    "coverage_median": fmt(sel["coverage"].median()),
                    "threshold_median": fmt(sel["threshold"].median())},
        "replication": {s: {q: fmt(rep.loc[(s, q), "estimate"]) for q in ("cox_hr", "rmst_diff")}
                        for s in rep.index.get_level_values("source").unique()},
        "metric_coverage": {b: {"median": fmt(r["median"]), "minimum": fmt(r["minimum"]),
                                "share_ok": fmt(100 * r["share_ok"])} for b, r in summary.iterrows()},
        "ppi_coverage": {e: {m: {"coverage": fmt(r["coverage"]), "width": fmt(r["mean_width"])}
                             for (e2, m), r in ppi.iterrows() if e2 == e}
                         for e in ppi.index.get_level_values("estimand").unique()},
    }}


def run(*, n: int, n_labelled: int, n_boot: int, horizon: float, covariates: list[str], target_accuracy: float,
        alpha: float, min_cell_size: int, coverage_reps: int, coverage_n: int, coverage_n_labelled: int,
        seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """One probation run on a simulated extraction of ``n`` patients, and the coverage studies of the agreement
    metrics (by centre) and of prediction-powered inference; seeds derived from ``seed``. Returns the probation
    tables and the two coverage tables."""
    data = simulate_extraction(n, seed=job_seed(seed, "probation", "extraction"))
    results = run_probation(data, covariates=covariates, horizon=horizon, n_boot=n_boot, n_labelled=n_labelled,
                            target_accuracy=target_accuracy, alpha=alpha, min_cell=min_cell_size,
                            seed=job_seed(seed, "probation", "analysis"))
    metric_cov = metric_coverage(coverage_reps, coverage_n, job_seed(seed, "probation", "metric_coverage"),
                                 by=("centre",))
    ppi_cov = ppi_coverage(coverage_reps, coverage_n, coverage_n_labelled,
                           job_seed(seed, "probation", "ppi_coverage"), horizon=horizon, n_boot=n_boot, alpha=alpha)
    return results, metric_cov, ppi_cov


def report(results: dict[str, pd.DataFrame], metric_cov: pd.DataFrame, ppi_cov: pd.DataFrame,
           paths: Mapping[str, str | Path], *, n: int, n_labelled: int, coverage_reps: int, alpha: float,
           target_accuracy: float, min_cell_size: int) -> None:
    """Write the probation report (HTML, JSON, tables), the paper's figures and tables, the coverage tables and
    the values the paper quotes to the probation stage's ``paths``."""
    probation_report(results, Path(paths["report"]).parent, min_cell=min_cell_size,
                     notes=f"Simulated extraction of {n} patients (causalehr.probation.simulate_extraction).")
    Path(paths["table_agreement"]).write_text(agreement_table(results["agreement"]))
    save_figure(plot_agreement(results["agreement"]), paths["figure_agreement"], source=NOTEBOOK)
    Path(paths["table_acceptance"]).write_text(acceptance_table(results["acceptance"]))
    save_figure(plot_risk_coverage(results["risk_coverage"], results["selective"], target_accuracy),
                paths["figure_routing"], source=NOTEBOOK)
    Path(paths["table_replication"]).write_text(replication_table(results["replication"]))
    metric_cov.to_parquet(paths["metric_coverage"], index=False)
    ppi_cov.to_parquet(paths["ppi_coverage"], index=False)
    Path(paths["table_ppi_coverage"]).write_text(ppi_coverage_table(ppi_cov))
    save_figure(plot_coverage(metric_cov, ppi_cov, 1 - alpha), paths["figure_coverage"], source=NOTEBOOK)
    write_values(paths["values"], probation_values(
        results, metric_cov, ppi_cov, n=n, n_labelled=n_labelled, reps=coverage_reps, nominal_metrics=1 - alpha,
        target_accuracy=target_accuracy, min_cell=min_cell_size))
