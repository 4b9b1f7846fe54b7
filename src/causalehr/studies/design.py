"""Design matters (issue 16): the correct target-trial emulation and the classic design errors of
:mod:`causalehr.cohort.designs`, each extracted from the same synthetic OMOP warehouses with known truth and analysed
with the same estimators, against the truth. The notebook notebooks/design.ipynb calls :func:`run` (part
"replication", one workflow job per replication), :func:`summarise` and :func:`report` (part "report").

- Warehouses (one pair per replication, its own seed): a point-treatment warehouse (SGLT2 versus DPP-4 inhibitor
  started at time zero; design ``active_comparator``) whose simulator and writer knobs switch on the mechanisms the
  errors need (planted prevalent users, HbA1c lowered after the start, informative missing measurements, calendar
  drift and centre effects), and a grace-period warehouse (start of an SGLT2 inhibitor at any time; design
  ``grace_vs_never``) for the time-related errors. Both are temporary: only aggregates leave :func:`run`.
- Cohorts: the correct specification and, for each design that changes it, the flawed one
  (:func:`causalehr.cohort.build_cohort`); designs that change the analysis table or the analysis reuse the
  correct cohort.
- Estimators: strategy 1 (the CensoredCATE learners of ``methods``, with each design's options) on every design
  analysed as a baseline treatment; clone-censor-weight (weight models of ``weights``) on the correct grace-period
  design. The estimand is the RMST difference up to the specification's horizon.
- Truth: the mean of the simulator's per-patient effect over the correct cohort of the same warehouse (the target
  trial's population: ``cate_rmst`` for the point trial, ``strategy_rmst_difference``, start within the grace
  period versus never, for the grace-period trial), so that a design that admits other patients or drops some is
  judged against the trial it claims to emulate; the CATE's mean squared error over the design's patients who
  have a truth.
- Summary: bias, RMSE, coverage of the 95% intervals and the CATE MSE over the replications, with Monte Carlo SEs
  (Morris, White & Crowther 2019, Stat Med 38:2074-2102).

The correct design still faces the informative missingness the simulator creates (its truth is conditional on the
complete covariates, the learners see the measurements with missing indicators): its bias is the floor the other
designs are compared with.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalehr.cohort import Cohort, build_cohort, load_spec
from causalehr.cohort.designs import DESIGNS, design_for
from causalehr.omop import write_synthetic_omop
from causalehr.registry import make_estimator
from causalehr.studies.ccw import summarise as summarise_replications
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.studies.trial import TRUTH, features, synthetic_params
from causalehr.studies.trial import run as run_trial
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/design.ipynb"
KINDS = {"point": "active_comparator", "grace": "grace_vs_never"}
COLUMNS = ["replication", "trial", "design", "method", "estimate", "lower", "upper", "truth", "n", "cate_mse",
           "seconds"]


def design_features(cohort: Cohort, design) -> tuple[pd.DataFrame, pd.Series]:
    """The features of a design and the rows kept: the study trial's features (:func:`causalehr.studies.trial.
    features`: median and missing indicator, care sites as indicators) without the covariate types of
    ``design.drop``; with ``missing="mean"`` the measurements are mean-imputed without indicator, with
    ``"complete"`` the patients with a missing measurement are left out (and the indicators with them)."""
    spec, df = cohort.spec, cohort.analysis
    dropped = {c["name"] for c in spec.covariates if c["type"] in design.drop}
    measured = [c["name"] for c in spec.covariates if c["type"] == "measurement"]
    keep = pd.Series(True, index=df.index)
    if design.missing == "complete":
        keep = df[[f"{m}_missing" for m in measured]].eq(0).all(axis=1)
    covariates = [c for c in cohort.covariates if c not in dropped]
    if design.missing != "indicators":
        covariates = [c for c in covariates if c not in {f"{m}_missing" for m in measured}]
    X = features(dataclasses.replace(cohort, analysis=df[keep], covariates=covariates))
    if design.missing == "mean":
        for m in (m for m in measured if m in X):
            for c in (m, f"{m}_age_days"):
                if c in X:
                    X[c] = df.loc[keep, c].fillna(df.loc[keep, c].mean())
    return X, keep


def _truths(cohort: Cohort, effects: pd.DataFrame) -> pd.Series:
    column = TRUTH[cohort.spec.strategies["type"]]
    return effects.set_index("person_id")[column]


def _strategy1(cohort: Cohort, design, truth: pd.Series, target: float, *, methods, seed, alpha):
    """Strategy-1 rows of one design: each learner's ATE with its interval and CATE MSE over the patients with
    a truth."""
    X, keep = design_features(cohort, design)
    df = cohort.analysis[keep]
    y = [df[c].to_numpy() for c in ("treatment", "time", "event")]
    by = [c["name"] for c in cohort.spec.covariates if c["type"] == design.folds_by]
    groups = df[by[0]].to_numpy() if by else None
    known = truth.reindex(df["person_id"]).to_numpy(float)
    has = ~np.isnan(known)
    rows = []
    for name, spec in methods.items():
        start = time.perf_counter()
        model = make_estimator({**spec, **design.options}, "rmst", cohort.horizon, job_seed(seed, name))
        model.fit(X.to_numpy(float), *y, groups=groups)
        estimate, lower, upper = model.ate_interval(alpha)
        cate = model.effect(X.to_numpy(float))
        rows.append({"method": name, "estimate": estimate, "lower": lower, "upper": upper, "truth": target,
                     "n": len(df), "cate_mse": float(np.mean((cate[has] - known[has]) ** 2)),
                     "seconds": time.perf_counter() - start})
    return rows


@dataclass(frozen=True)
class DesignCohort:
    """The cohort of one design in one replication, with the per-patient truth (by person_id) of its trial, the
    target (mean truth over the correct cohort) and the warehouse's effects table."""

    trial: str
    name: str
    design: object
    cohort: Cohort
    truth: pd.Series
    target: float
    effects: pd.DataFrame


def _spec_mapping(spec) -> dict:
    return dict(load_spec(spec).raw) if not isinstance(spec, Mapping) else dict(spec)


def design_cohorts(specs: Mapping, designs: Sequence[str], *, n: int, warehouses: Mapping, seed: int,
                   replication: int = 0, workdir: str | Path | None = None) -> Iterator[DesignCohort]:
    """The cohorts of one replication (module docstring), one :class:`DesignCohort` at a time: ``specs`` maps the
    trials "point" and "grace" to their correct specification (file or mapping), ``designs`` names the designs
    (``correct`` on both trials, the others on their own trial), ``warehouses`` maps each trial to its knobs
    (``params``: simulator; ``prevalent``: planted prevalent users as a share of ``n``; ``hba1c_lowering``:
    writer). The warehouses are written to a temporary folder (under ``workdir``), deleted at the end."""
    unknown = sorted(set(specs) - set(KINDS))
    if unknown or not specs:
        raise ValueError(f"design.trials: expected trials among {sorted(KINDS)}, got {sorted(specs)}")
    unknown = sorted(set(designs) - set(DESIGNS))
    if unknown:
        raise ValueError(f"design.designs: unknown design(s) {unknown}; known: {sorted(DESIGNS)}")
    with tempfile.TemporaryDirectory(prefix="design_", dir=workdir) as tmp:
        for trial, spec_file in specs.items():
            raw = _spec_mapping(spec_file)
            spec = load_spec(raw)
            if spec.strategies["type"] != KINDS[trial]:
                raise ValueError(f"design.trials.{trial}: expected a specification with strategies of type "
                                 f"{KINDS[trial]!r}, got {spec.strategies['type']!r}")
            knobs = dict(warehouses.get(trial, {}))
            prevalent = knobs.get("prevalent")
            warehouse = write_synthetic_omop(
                n, job_seed(seed, "design", replication, trial), Path(tmp) / trial, design=KINDS[trial],
                n_prevalent=None if prevalent is None else int(round(prevalent * n)),
                hba1c_lowering=knobs.get("hba1c_lowering", 0.0), **synthetic_params(spec, knobs.get("params")))
            correct = build_cohort(spec, warehouse.path)
            truth = _truths(correct, warehouse.effects)
            target = float(truth.reindex(correct.analysis["person_id"]).mean())
            for name in designs:
                if name != "correct" and DESIGNS[name].trial != trial:
                    continue  # a design of the other trial
                design = design_for(name, trial)
                cohort = correct if design.spec is None else build_cohort(load_spec(design.spec(raw)),
                                                                         warehouse.path)
                if design.cohort is not None:
                    cohort = dataclasses.replace(cohort, analysis=design.cohort(cohort.analysis))
                yield DesignCohort(trial, name, design, cohort, truth, target, warehouse.effects)


def run(specs: Mapping, designs: Sequence[str], *, n: int, warehouses: Mapping, methods: Mapping, weights: Mapping,
        seed: int, replication: int = 0, n_intervals: int = 8, alpha: float = 0.05,
        workdir: str | Path | None = None) -> pd.DataFrame:
    """One replication (module docstring; arguments as :func:`design_cohorts`): the strategy-1 learners of
    ``methods`` on each design analysed as a baseline treatment, clone-censor-weight with each weight model of
    ``weights`` on the correct grace-period design. Returns one row per design and method (columns
    :data:`COLUMNS`): aggregates only."""
    with threadpool_limits(1):  # many small fits: threaded BLAS/OpenMP only compete for a shared machine's cores
        rows = _estimate_all(specs, designs, n=n, warehouses=warehouses, methods=methods, weights=weights, seed=seed,
                             replication=replication, n_intervals=n_intervals, alpha=alpha, workdir=workdir)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def _estimate_all(specs, designs, *, n, warehouses, methods, weights, seed, replication, n_intervals, alpha,
                  workdir) -> list[dict]:
    rows = []
    for d in design_cohorts(specs, designs, n=n, warehouses=warehouses, seed=seed, replication=replication,
                            workdir=workdir):
        model_seed = job_seed(seed, "design", replication, d.trial, d.name)
        if d.design.analysis == "ccw":
            ccw = run_trial(d.cohort, d.effects, methods={}, weights=weights, seed=model_seed,
                            n_intervals=n_intervals, alpha=alpha)["estimates"]
            ccw = ccw[ccw["method"].str.startswith("CCW")]
            found = [{**r, "truth": d.target, "n": len(d.cohort.analysis)}
                     for r in ccw[["method", "estimate", "lower", "upper", "seconds"]].to_dict("records")]
        else:
            found = _strategy1(d.cohort, d.design, d.truth, d.target, methods=methods, seed=model_seed, alpha=alpha)
        rows += [{"replication": replication, "trial": d.trial, "design": d.name, **r} for r in found]
    return rows


def summarise(estimates: pd.DataFrame) -> pd.DataFrame:
    """Per trial, design and method over the replications: bias, empirical SE, RMSE, coverage and width with
    Monte Carlo SEs, the mean truth, and the mean CATE MSE with its Monte Carlo SE (NaN for clone-censor-weight,
    which gives no CATE here)."""
    by = ["trial", "design", "method"]
    out = summarise_replications(estimates, by=by)
    index = pd.MultiIndex.from_frame(out[by])
    grouped = estimates.groupby(by)["cate_mse"]
    out["cate_mse"] = grouped.mean().reindex(index).to_numpy()
    out["cate_mse_mcse"] = (grouped.std() / np.sqrt(grouped.count())).reindex(index).to_numpy()
    out["n"] = estimates.groupby(by)["n"].mean().reindex(index).to_numpy()
    return out


def _order(summary: pd.DataFrame, designs: Sequence[str]) -> pd.DataFrame:
    """Rows in the order of ``designs`` (correct first), point trial before grace trial."""
    rank = {d: k for k, d in enumerate(designs)}
    key = summary["design"].map(rank) * 2 + (summary["trial"] == "grace")
    return summary.assign(_k=key).sort_values(["_k", "method"]).drop(columns="_k")


def _label(row) -> str:
    return f"{row.design} ({row.trial}): {row.method}"


def design_table(summary: pd.DataFrame, designs: Sequence[str]) -> str:
    """Markdown table: per design, trial and method, the mean truth, bias, RMSE, coverage of the 95% interval and
    CATE MSE, Monte Carlo SE in parentheses ("-" where there is none)."""
    def cell(row, measure):
        value = row[measure]
        return "-" if pd.isna(value) else f"{fmt(value)} ({fmt(row[measure + '_mcse'])})"

    s = _order(summary, designs)
    table = pd.DataFrame({
        "Design": s["design"], "Trial": s["trial"], "Method": s["method"], "Truth": s["truth"].map(fmt),
        **{name: [cell(r, m) for _, r in s.iterrows()]
           for name, m in (("Bias", "bias"), ("RMSE", "rmse"), ("Coverage", "coverage"), ("CATE MSE", "cate_mse"))}})
    return table.to_markdown(index=False) + "\n"


def plot_bias(summary: pd.DataFrame, designs: Sequence[str]):
    """Bias of the ATE (RMST difference, years) with +-1.96 Monte Carlo SE, one row per design, trial and method,
    the correct design on top; the dashed line is no bias. The axis is symmetric-logarithmic (linear within +-1
    year) when an interval reaches beyond 5 years, so that one unstable design does not flatten the others."""
    import matplotlib.pyplot as plt

    s = _order(summary, designs).reset_index(drop=True)
    methods = list(dict.fromkeys(s["method"]))
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(s) + 1.2))
    y = np.arange(len(s))[::-1]
    for k, method in enumerate(methods):
        m = (s["method"] == method).to_numpy()
        ax.errorbar(s.loc[m, "bias"], y[m], xerr=1.96 * s.loc[m, "bias_mcse"], fmt="o", color=f"C{k}",
                    markersize=4, elinewidth=1, label=method)
    ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, [f"{r.design} ({r.trial})" for r in s.itertuples()])
    if (s["bias"].abs() + 1.96 * s["bias_mcse"].fillna(0)).max() > 5:  # an unstable design would hide the others
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set(xlabel="bias of the ATE (RMST difference, years), 95% Monte Carlo interval")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def design_values(summary: pd.DataFrame, estimates: pd.DataFrame, settings: Mapping) -> dict:
    """The values the paper quotes, under ``design``: ``settings`` as given, the number of replications and per
    design, trial and method (keys without dashes) the mean truth, bias, RMSE, coverage and CATE MSE with their
    Monte Carlo SEs (3 significant digits) and the mean cohort size."""
    values: dict = {**settings, "replications": int(estimates["replication"].nunique())}
    for r in summary.itertuples():
        entry = values.setdefault(r.design, {}).setdefault(r.trial, {})
        entry["truth"] = fmt(r.truth)
        method = {k: fmt(getattr(r, k)) for k in ("bias", "bias_mcse", "rmse", "rmse_mcse", "coverage",
                                                   "coverage_mcse", "cate_mse", "cate_mse_mcse")
                  if not pd.isna(getattr(r, k))}
        method["n"] = f"{int(round(r.n)):,}"
        entry[r.method.lower().replace("-", "_").replace(" ", "_")] = method
    return {"design": values}


def report(estimates: pd.DataFrame, summary: pd.DataFrame, designs: Sequence[str], settings: Mapping,
           paths: Mapping[str, str | Path]) -> None:
    """Write the summary, the figure, the table and the values the paper quotes to ``paths``."""
    summary.to_csv(paths["summary"], index=False)
    save_figure(plot_bias(summary, designs), paths["figure"], source=NOTEBOOK)
    Path(paths["table"]).write_text(design_table(summary, designs))
    write_values(paths["values"], design_values(summary, estimates, settings))
