"""One probation run: every metric and check on a :class:`ProbationData`, written as machine-readable tables
(parquet + JSON) and an HTML report with figures. Every output table goes through
:func:`causalehr.probation.suppress.suppress_small_cells`; no output holds a patient-level row."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .acceptance import acceptance, default_acceptance_rules  # noqa: E402
from .agreement import agreement, correctness, heterogeneity  # noqa: E402
from .ppi import km_survival_at, ppi_bootstrap, ppi_inputs, ppi_mean  # noqa: E402
from .propagation import error_propagation  # noqa: E402
from .quality import default_rules, run_quality_checks, to_dqd_json  # noqa: E402
from .replicate import cohort_from_source, replicate_analysis  # noqa: E402
from .selective import risk_coverage, selective_prediction  # noqa: E402
from .spec import ProbationData, validate_spec  # noqa: E402
from .suppress import DEFAULT_MIN_CELL, suppress_small_cells  # noqa: E402

SURVIVAL_COLUMNS = ("treatment", "event", "index_date", "event_date", "end_date")


def run_probation(
    data: ProbationData, *, rules: pd.DataFrame | None = None, acceptance_rules: pd.DataFrame | None = None,
    date_tolerance: float = 7, target_accuracy: float = 0.95, error_cost: float = 1.0, review_cost: float = 0.1,
    covariates: list[str] | None = None, horizon: float = 3.0, n_boot: int = 100, n_labelled: int = 200,
    alpha: float = 0.05, seed: int = 0, min_cell: int = DEFAULT_MIN_CELL, extra=None, propagation_estimator=None,
) -> dict[str, pd.DataFrame]:
    """All results of a probation as named tables, small cells suppressed.

    Agreement (stratified by every column of ``data.strata``) and heterogeneity, Kahn checks (``rules``,
    default from the specification), acceptance matrix, selective prediction for sources with confidence
    scores, and, when the survival columns exist and ``covariates`` is given, replication of the end analysis
    and prediction-powered estimates from a random validated subset of ``n_labelled`` patients (``seed``).
    ``extra``: additional replicated quantities (e.g. ``cate_quantities(covariates, horizon)``);
    ``propagation_estimator``: when given (e.g. ``cate_estimator(covariates, horizon)``), the error-propagation
    sweep on the reference cohort is added (slow with the CATE: one fit per error kind, rate and replication).
    """
    spec = validate_spec(data.spec)
    by = list(data.strata.columns)
    metrics = pd.concat([agreement(data.reference, t, spec, strata=data.strata, by=by, source=s,
                                   date_tolerance=date_tolerance, alpha=alpha) for s, t in data.sources.items()],
                        ignore_index=True)
    shown = _suppress("agreement", metrics, min_cell)
    out = {"agreement": metrics}
    out["heterogeneity"] = pd.concat([heterogeneity(metrics, b) for b in by], ignore_index=True) if by else pd.DataFrame()
    rules = rules if rules is not None else default_rules(spec)
    out["quality"] = run_quality_checks({"reference": data.reference, **data.sources}, rules, spec)
    # judged on the suppressed metrics: a value that cannot be shown cannot support acceptance
    out["acceptance"], out["acceptance_details"] = acceptance(shown, acceptance_rules if acceptance_rules is not None
                                                              else default_acceptance_rules())
    sel, curves = [], []
    for s, conf in data.confidence.items():
        corr = correctness(data.reference, data.sources[s], spec, date_tolerance=date_tolerance)
        sel.append(selective_prediction(conf, corr, target_accuracy=target_accuracy, alpha=alpha,
                                        error_cost=error_cost, review_cost=review_cost, source=s))
        for var in [c for c in conf.columns if c in corr.columns]:
            rc = risk_coverage(conf[var], corr[var])
            keep = np.unique(np.linspace(0, len(rc) - 1, min(len(rc), 200)).round().astype(int))
            curves.append(rc.iloc[keep].assign(source=s, variable=var))
    out["selective"] = pd.concat(sel, ignore_index=True) if sel else pd.DataFrame()
    out["risk_coverage"] = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    if covariates is not None and set(SURVIVAL_COLUMNS) <= set(spec.index):
        cohorts, excluded = {}, {}
        for s, t in {"reference": data.reference, **data.sources}.items():
            cohorts[s], excluded[s] = cohort_from_source(t, covariates, spec)
        # independent random streams for the bootstrap, the validated subset and the propagation sweep, so
        # that they are not correlated with data simulated from the same seed
        boot_seed, ppi_seed, sweep_seed = np.random.SeedSequence(seed).spawn(3)
        rep = replicate_analysis(cohorts, covariates, horizon=horizon, n_boot=n_boot, alpha=alpha, seed=boot_seed,
                                 extra=extra)
        out["replication"] = rep.assign(n_excluded=rep["source"].map(excluded))
        out["ppi"] = _ppi_tables(data, spec, covariates, horizon, n_labelled, n_boot, alpha, ppi_seed)
        if propagation_estimator is not None:
            out["propagation"] = error_propagation(cohorts["reference"], covariates, propagation_estimator,
                                                   seed=sweep_seed)
    return {name: _suppress(name, t, min_cell) for name, t in out.items()}


def _ppi_tables(data, spec, covariates, horizon, n_labelled, n_boot, alpha, seed):
    """PPI estimates of each binary variable's prevalence and of KM survival at ``horizon`` for each source
    (``n``: validated patients used)."""
    n = len(data.reference)
    lab_seed, boot_seed = seed.spawn(2)
    rng = np.random.default_rng(lab_seed)
    lab = np.zeros(n, dtype=bool)
    lab[rng.choice(n, min(n_labelled, n), replace=False)] = True
    binary = list(spec.index[spec["type"] == "binary"])
    rows = []
    for s, table in data.sources.items():
        y, yhat = ppi_inputs(data.reference, table, spec, binary=binary, horizon=horizon, covariates=covariates)
        for var in binary:
            ok = y[var].notna().to_numpy()
            res = ppi_mean(y.loc[lab & ok, var], yhat.loc[lab & ok, var], yhat.loc[~lab & ok, var], alpha=alpha)
            rows.append(res.assign(source=s, quantity=f"prevalence:{var}", n=int((lab & ok).sum())))
        ok = y["time"].notna().to_numpy()
        te = ["time", "event"]
        res = ppi_bootstrap(lambda a: km_survival_at(a, horizon), y.loc[lab & ok, te].to_numpy(float),
                            yhat.loc[lab & ok, te].to_numpy(float), yhat.loc[~lab & ok, te].to_numpy(float),
                            n_boot=n_boot, alpha=alpha, seed=boot_seed)
        rows.append(res.assign(source=s, quantity=f"km_survival_at_{horizon:g}", n=int((lab & ok).sum())))
    return pd.concat(rows, ignore_index=True)


def _suppress(name, table, min_cell):
    if table.empty:
        return table
    if name == "agreement":  # strata of each `by` add up to the overall row
        return suppress_small_cells(table, n_col="n", count_cols=("count",), min_cell=min_cell,
                                    margins=({"within": ("source", "variable", "metric"), "by": "by",
                                              "total": "overall"},))
    if name == "quality":
        return suppress_small_cells(table, n_col="num_denominator", count_cols=("num_violated",),
                                    min_cell=min_cell, keep=("threshold",))
    if name == "risk_coverage":
        return suppress_small_cells(table, n_col="n_accepted", count_cols=("errors",), min_cell=min_cell,
                                    keep=("threshold",))
    if name in ("selective", "replication", "ppi"):
        return suppress_small_cells(table, n_col="n", count_cols=(), min_cell=min_cell)
    return table


def _figure(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def _forest(metrics, metric_names):
    sub = metrics[(metrics["by"] == "overall") & metrics["metric"].isin(metric_names) & metrics["estimate"].notna()]
    if sub.empty:
        return ""
    labels = sub["source"] + " | " + sub["variable"] + " | " + sub["metric"]
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(sub) + 1))
    y = np.arange(len(sub))
    err = np.clip([sub["estimate"] - sub["lower"], sub["upper"] - sub["estimate"]], 0, None)
    ax.errorbar(sub["estimate"], y, xerr=np.nan_to_num(err), fmt="o", ms=3)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("estimate (95% interval)")
    return _figure(fig)


def _risk_coverage_figure(curves):
    if curves.empty:
        return ""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (s, v), g in curves.dropna(subset=["risk"]).groupby(["source", "variable"]):
        ax.plot(g["coverage"], g["risk"], label=f"{s}: {v}", lw=1)
    ax.set_xlabel("coverage (share accepted automatically)")
    ax.set_ylabel("risk (error share among accepted)")
    ax.legend(fontsize=6, ncol=2)
    return _figure(fig)


def _table(df, max_rows=400):
    if df is None or df.empty:
        return "<p>(none)</p>"
    return df.head(max_rows).to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="", border=0)


def probation_report(results: dict[str, pd.DataFrame], out_dir: str | Path, *, title: str = "Data probation report",
                     min_cell: int = DEFAULT_MIN_CELL, notes: str = "") -> Path:
    """Write ``report.html``, ``results.json`` (all tables + DQD-like quality JSON) and one parquet file per
    table into ``out_dir``; returns the HTML path. ``results`` must already be suppressed (run_probation)."""
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for name, t in results.items():
        if not t.empty:
            t.to_parquet(out / "tables" / f"{name}.parquet", index=False)
    payload = {name: json.loads(t.to_json(orient="records", date_format="iso")) for name, t in results.items()}
    if "quality" in results:
        payload["quality_dqd"] = json.loads(to_dqd_json(results["quality"], min_cell=min_cell))
    (out / "results.json").write_text(json.dumps({"min_cell": min_cell, "tables": payload}, indent=1))
    m = results["agreement"]
    overall = m[m["by"] == "overall"]
    sections = [
        ("Acceptance by intended use", _table(results.get("acceptance"))),
        ("Agreement with the reference (overall)", _table(overall.drop(columns=["by", "stratum"]))
         + _forest(m, ["sensitivity", "specificity", "ppv", "accuracy", "within_k_days", "ac1", "kappa"])),
        ("Completeness and conformance", _forest(m, ["omission", "hallucination", "nonconformant", "cer", "wer"])),
        ("Heterogeneity between strata (p < 0.05)", _table(results.get("heterogeneity", pd.DataFrame()).query("p_value < 0.05")
                                                          if not results.get("heterogeneity", pd.DataFrame()).empty else None)),
        ("Kahn data-quality checks (not passed)", _table(results["quality"].query("status != 'passed'"))),
        ("Selective prediction (confidence-based routing)", _table(results.get("selective"))
         + _risk_coverage_figure(results.get("risk_coverage", pd.DataFrame()))),
        ("Replication of the end analysis", _table(results.get("replication"))),
        ("Prediction-powered inference", _table(results.get("ppi"))),
        ("Error propagation", _table(results.get("propagation"))),
        ("Agreement by stratum", _table(m[m["by"] != "overall"], max_rows=2000)),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>{c}" for h, c in sections)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{padding:2px 6px;border-bottom:1px solid #ddd}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Cells describing fewer than {min_cell} patients are suppressed "
            f"(blank). No patient-level row is shown. {html.escape(notes)}</p>{body}</body></html>")
    path = out / "report.html"
    path.write_text(page)
    return path
