"""The estimand-based probation study (notebooks/probation_omop.ipynb): a synthetic OMOP warehouse, manual and AI
versions of its variables with planted errors (:func:`causalehr.probation.omop.simulate_omop_versions`), the
metric-based acceptance and the estimand-based acceptance of each variable for the planned analyses
(:func:`causalehr.probation.estimand.estimand_acceptance`) side by side (:func:`run`), and the paper's tables and
quoted values, with the committed coverage study of the prediction-powered ATE (:func:`report`)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from causalehr.probation import acceptance, agreement, cohort_from_source, default_acceptance_rules, error_propagation
from causalehr.probation.estimand import check_analyses, compare_verdicts, estimand_acceptance
from causalehr.probation.omop import omop_probation_data, simulate_omop_versions, synthetic_variables
from causalehr.probation.propagation import fast_cate_estimator
from causalehr.probation.suppress import suppress_small_cells
from causalehr.studies.common import fmt, write_values
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/probation_omop.ipynb"
PPI_COVERAGE = "benchmarks/results/ppi_ate_coverage.csv"
PROPAGATION_RATES = (0.05, 0.1, 0.2)


def run(*, n: int, n_labelled: int, n_boot: int, alpha: float, min_overlap: float, use: str,
        analyses: Sequence[Mapping], min_cell_size: int, seed: int) -> dict[str, pd.DataFrame]:
    """Write the synthetic versions to a temporary folder (deleted at the end), extract and match them, judge
    every variable of the manual and AI versions by its metrics (suppressed first) and by the bias it induces in
    each planned analysis on a random validated subset of ``n_labelled`` persons, and run the error-propagation
    sweep (:func:`causalehr.probation.error_propagation`, fast DR-learner, rates :data:`PROPAGATION_RATES`, two
    replications) on the reference cohort for the first RMST analysis. Returns the aggregate tables ``estimand``
    (verdicts side by side), ``overlap``, ``acceptance`` and ``propagation`` (empty without an RMST analysis)."""
    with tempfile.TemporaryDirectory(prefix="probation_omop_") as folder:
        versions, _ = simulate_omop_versions(n, job_seed(seed, "probation_omop", "warehouse"), folder)
        data, overlap = omop_probation_data(versions, synthetic_variables(), min_overlap=min_overlap)
    metrics = pd.concat([agreement(data.reference, t, data.spec, source=s, alpha=alpha)
                         for s, t in data.sources.items()], ignore_index=True)
    shown = suppress_small_cells(metrics, n_col="n", count_cols=("count",), min_cell=min_cell_size)
    matrix, _ = acceptance(shown, default_acceptance_rules())
    rng = np.random.default_rng(job_seed(seed, "probation_omop", "validated"))
    lab = data.reference.index[rng.choice(len(data.reference), min(n_labelled, len(data.reference)), replace=False)]
    est = pd.concat([estimand_acceptance(data.reference.loc[lab], t, data.spec, analyses, alpha=alpha, n_boot=n_boot,
                                         seed=job_seed(seed, "probation_omop", s), source_name=s)
                     for s, t in data.sources.items()], ignore_index=True)
    rmst = [a for a in check_analyses(analyses, data.spec) if a.kind == "rmst_ate"]
    propagation = pd.DataFrame(columns=["kind", "rate", "ate", "ate_bias", "ate_bias_se", "cate_rms_diff"])
    if rmst:
        cohort = cohort_from_source(data.reference, rmst[0].covariates, data.spec)[0]
        propagation = error_propagation(cohort, rmst[0].covariates, fast_cate_estimator(rmst[0].covariates,
                                                                                        rmst[0].horizon),
                                        rates=PROPAGATION_RATES, n_reps=2, seed=job_seed(seed, "probation_omop", "sweep"))
    return {"estimand": compare_verdicts(est, matrix, use), "overlap": overlap, "acceptance": matrix,
            "propagation": propagation}


def _cell(est, lo, hi) -> str:
    return "n.e." if pd.isna(est) else f"{fmt(est)} ({fmt(lo)}, {fmt(hi)})"


def estimand_table(estimand: pd.DataFrame, source: str = "ai") -> str:
    """Markdown table for one source: per variable, the metric verdict and, per planned analysis, the induced
    bias (interval) and the estimand verdict; a disagreement between the two verdicts is marked with "!"."""
    rows = estimand[estimand["source"] == source].assign(
        cell=lambda t: [f"{_cell(b, lo, hi)}: {v}{' !' if d else ''}" for b, lo, hi, v, d in
                        zip(t["bias"], t["bias_lower"], t["bias_upper"], t["verdict"], t["disagree"])])
    wide = rows.pivot(index="variable", columns="analysis", values="cell").reindex(
        index=rows["variable"].unique(), columns=rows["analysis"].unique())
    tol = rows.drop_duplicates("analysis").set_index("analysis")["tolerance"]
    wide.columns = [f"{a} (tolerance {fmt(tol[a])})" for a in wide.columns]
    metric = rows.drop_duplicates("variable").set_index("variable")["metric_verdict"]
    wide.insert(0, "metric verdict", metric.reindex(wide.index).fillna(""))
    return wide.fillna("not used").rename_axis("variable").reset_index().to_markdown(index=False) + "\n"


def ppi_ate_table(coverage: pd.DataFrame) -> str:
    """Markdown table of the coverage study of the prediction-powered ATE (benchmarks/bench_estimand.py)."""
    return pd.DataFrame({
        "validated": coverage["n_labelled"].astype(int), "nominal": coverage["nominal"].map(fmt),
        "method": coverage["method"],
        "coverage (MC SE)": [f"{fmt(c)} ({fmt(s)})" for c, s in zip(coverage["coverage"], coverage["coverage_mcse"])],
        "mean width": coverage["mean_width"].map(fmt), "bias (MC SE)": [
            f"{fmt(b)} ({fmt(s)})" for b, s in zip(coverage["bias"], coverage["bias_mcse"])],
    }).to_markdown(index=False) + "\n"


def report(results: Mapping[str, pd.DataFrame], paths: Mapping[str, str | Path], *, n: int, n_labelled: int,
           ppi_coverage: str | Path = PPI_COVERAGE) -> None:
    """Write the tables, the aggregate CSVs and the values the paper quotes to the stage's ``paths``."""
    est = results["estimand"]
    est.to_csv(paths["estimand"], index=False)
    results["overlap"].to_csv(paths["overlap"], index=False)
    results["propagation"].to_csv(paths["propagation"], index=False)
    Path(paths["table_estimand"]).write_text(estimand_table(est, "ai"))
    coverage = pd.read_csv(ppi_coverage)
    Path(paths["table_ppi_ate"]).write_text(ppi_ate_table(coverage))
    verdicts = {s: {a: {v: str(int((g["verdict"] == v).sum())) for v in ("accept", "reject", "inconclusive")}
                    for a, g in gs.groupby("analysis", sort=False)} for s, gs in est.groupby("source", sort=False)}
    cov = coverage.set_index(["n_labelled", "nominal", "method"])
    write_values(paths["values"], {"probation_omop": {
        "n": str(n), "n_labelled": str(n_labelled), "verdicts": verdicts,
        "disagree": {s: str(int(g["disagree"].sum())) for s, g in est.groupby("source", sort=False)},
        "ppi_ate": _nest(cov),
        "ppi_ate_reps": str(int(coverage["n_reps"].min())), "ppi_ate_n": str(int(coverage["n"].iloc[0])),
    }})


def _nest(cov: pd.DataFrame) -> dict:
    """{n<validated>: {c<level>: {method: {coverage, width}}}} of the coverage study."""
    out: dict = {}
    for (n_lab, nominal, method), r in cov.iterrows():
        out.setdefault(f"n{int(n_lab)}", {}).setdefault(f"c{round(100 * nominal)}", {})[method] = {
            "coverage": fmt(r["coverage"]), "width": fmt(r["mean_width"])}
    return out
