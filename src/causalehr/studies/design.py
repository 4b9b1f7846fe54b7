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

from causalehr.cate import transport_ate
from causalehr.cohort import Cohort, build_cohort, load_spec
from causalehr.cohort.designs import DESIGNS, WRITER_KNOBS, check_strength, design_for, transport_centres
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
           "propensity_min", "outside", "weight_max", "seconds"]
PROPENSITY_BOUNDS = (0.02, 0.98)  # as CensoredCATE's positivity report


def design_features(cohort: Cohort, design) -> tuple[pd.DataFrame, pd.Series]:
    """The features of a design and the rows kept: the study trial's features (:func:`causalehr.studies.trial.
    features`: median and missing indicator, care sites as indicators) without the covariate types of
    ``design.drop``; with ``missing="native"`` the measurements stay missing (NaN) beside their indicators, with
    ``"mean"`` they are mean-imputed without indicator, with ``"complete"`` the patients with a missing measurement
    are left out (and the indicators with them)."""
    spec, df = cohort.spec, cohort.analysis
    dropped = {c["name"] for c in spec.covariates if c["type"] in design.drop}
    measured = [c["name"] for c in spec.covariates if c["type"] == "measurement"]
    keep = pd.Series(True, index=df.index)
    if design.missing == "complete":
        keep = df[[f"{m}_missing" for m in measured]].eq(0).all(axis=1)
    covariates = [c for c in cohort.covariates if c not in dropped]
    if design.missing in ("mean", "complete"):
        covariates = [c for c in covariates if c not in {f"{m}_missing" for m in measured}]
    X = features(dataclasses.replace(cohort, analysis=df[keep], covariates=covariates))
    if design.missing in ("mean", "native"):
        for c in (c for m in measured for c in (m, f"{m}_age_days") if c in X):
            X[c] = df.loc[keep, c] if design.missing == "native" else df.loc[keep, c].fillna(df.loc[keep, c].mean())
    return X, keep


def _truths(cohort: Cohort, effects: pd.DataFrame) -> pd.Series:
    column = TRUTH[cohort.spec.strategies["type"]]
    return effects.set_index("person_id")[column]


def fit_design(cohort: Cohort, design, model, alpha: float = 0.05) -> dict:
    """Fit ``model`` (an unfitted :class:`causalehr.cate.CensoredCATE`) as ``design`` says: on its features and rows
    (:func:`design_features`), cross-fitting folds grouped by ``design.folds_by``; for a transport design on the
    source centre only (:func:`causalehr.cohort.designs.transport_centres`). Returns the fitted ``model``, the ATE
    (``estimate``, ``lower``, ``upper``: of the whole cohort, or of the target centre), ``n`` the patients fitted on
    and ``person_id`` / ``X`` the patients the effect is for (the target centre for a transport design)."""
    X, keep = design_features(cohort, design)
    df = cohort.analysis[keep]
    fitted = np.ones(len(df), bool)
    judged = fitted
    if design.transport is not None:
        fitted, judged = transport_centres(dataclasses.replace(cohort, analysis=df))
    y = [df[c].to_numpy()[fitted] for c in ("treatment", "time", "event")]
    by = [c["name"] for c in cohort.spec.covariates if c["type"] == design.folds_by]
    x = X.to_numpy(float)
    model.fit(x[fitted], *y, groups=df[by[0]].to_numpy()[fitted] if by else None)
    if design.transport == "covariates":
        ate = transport_ate(model, x[fitted], x[judged], alpha=alpha, random_state=model.random_state)
    else:
        ate = model.ate_interval(alpha)
    return {"model": model, **dict(zip(("estimate", "lower", "upper"), ate)), "n": int(fitted.sum()),
            "person_id": df["person_id"].to_numpy()[judged], "X": x[judged]}


def _strategy1(cohort: Cohort, design, truth: pd.Series, target: float, *, methods, seed, alpha):
    """Strategy-1 rows of one design: each learner's ATE with its interval and CATE MSE over the patients with
    a truth (:func:`fit_design`)."""
    rows = []
    for name, spec in methods.items():
        start = time.perf_counter()
        fit = fit_design(cohort, design, make_estimator({**spec, **design.options}, "rmst", cohort.horizon,
                                                        job_seed(seed, name)), alpha)
        known = truth.reindex(fit["person_id"]).to_numpy(float)
        has = ~np.isnan(known)
        cate = fit["model"].effect(fit["X"][has])
        rows.append({"method": name, **{k: fit[k] for k in ("estimate", "lower", "upper", "n")}, "truth": target,
                     "cate_mse": float(np.mean((cate - known[has]) ** 2)),
                     **positivity(getattr(fit["model"], "nuisances_", None)), "seconds": time.perf_counter() - start})
    return rows


def positivity(nuisances: Mapping | None) -> dict:
    """Positivity diagnostics of one fit from its cross-fitted nuisances (NaN without them): the smallest
    propensity of either arm (min over patients of min(e, 1 - e)), the share of patients whose propensity is
    outside :data:`PROPENSITY_BOUNDS` (those a trimmed analysis would drop) and the largest censoring weight
    Delta / G(U- | x, a) of the AIPCW pseudo-outcome (G floored at 1e-6)."""
    if nuisances is None:
        return {"propensity_min": np.nan, "outside": np.nan, "weight_max": np.nan}
    e = np.asarray(nuisances["propensity"], float)
    lo, hi = PROPENSITY_BOUNDS
    return {"propensity_min": float(np.minimum(e, 1 - e).min()), "outside": float(np.mean((e < lo) | (e > hi))),
            "weight_max": float(np.max(nuisances["weight"]))}


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
                own = target
                if design.transport is not None:  # the target centre's patients of the correct cohort
                    own = float(truth.reindex(correct.analysis["person_id"][transport_centres(correct)[1]]).mean())
                yield DesignCohort(trial, name, design, cohort, truth, own, warehouse.effects)


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
        model_seed = job_seed(seed, "design", replication, d.trial)  # one seed for every design: paired fits
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


STRENGTH_COLUMNS = ["replication", "knob", "strength", *COLUMNS[1:]]
def knob_warehouse(base: Mapping, knob: str, value: float) -> dict:
    """The point warehouse's knobs (as under ``design.warehouses.point``) with ``knob`` set to ``value``: a writer
    knob (:data:`WRITER_KNOBS`) at the top level, a simulator knob under ``params``.

    >>> knob_warehouse({"params": {"missingness": 0.1}}, "calendar_drift", 2.0)
    {'params': {'missingness': 0.1, 'calendar_drift': 2.0}}
    """
    out = {**base, "params": dict(base.get("params", {}))}
    if knob in WRITER_KNOBS:
        out[knob] = value
    else:
        out["params"][knob] = value
    return out


def strength_run(spec, knobs: Mapping, *, n: int, base: Mapping, methods: Mapping, seed: int, replication: int = 0,
                 alpha: float = 0.05, workdir: str | Path | None = None) -> pd.DataFrame:
    """One replication of the bias against the strength of each error's knob (issue 16: one curve per error):
    ``knobs`` maps a knob (a writer knob of :data:`WRITER_KNOBS` or an ehr_diabetes parameter) to the design error
    it drives and the strengths to try ({"design": name, "values": [...]}). Every warehouse is a point-treatment
    one with the knobs of ``base``, every listed knob at 0 but the one varied; the strength-0 warehouse is shared
    by all knobs. On each the correct design and the knob's design are analysed with the learners of ``methods``
    (:func:`run`'s strategy 1). Returns one row per knob, strength, design and method (:data:`STRENGTH_COLUMNS`)."""
    check_strength(knobs)
    zero = dict(base)
    for knob in knobs:
        zero = knob_warehouse(zero, knob, 0.0)
    points = [("zero", 0.0, zero, sorted({k["design"] for k in knobs.values()}))]
    points += [(knob, float(v), knob_warehouse(zero, knob, v), [k["design"]])
               for knob, k in knobs.items() for v in k["values"] if v != 0]
    rows = []
    with threadpool_limits(1):
        for knob, value, warehouse, designs in points:
            for d in design_cohorts({"point": spec}, ["correct", *designs], n=n, warehouses={"point": warehouse},
                                    seed=job_seed(seed, "strength", knob, value), replication=replication,
                                    workdir=workdir):
                found = _strategy1(d.cohort, d.design, d.truth, d.target, methods=methods, alpha=alpha,
                                   seed=job_seed(seed, "strength", replication, knob, value))
                drives = [k for k, e in knobs.items() if e["design"] == d.name or d.name == "correct"]
                rows += [{"replication": replication, "knob": k, "strength": value, "trial": d.trial, "design": d.name,
                          **r} for r in found for k in (drives if knob == "zero" else [knob])]
    return pd.DataFrame(rows).reindex(columns=STRENGTH_COLUMNS)


def median_interval(values) -> tuple[float, float]:
    """The median of ``values`` and a Monte Carlo SE that one wild replication cannot inflate: the normal-theory SE
    of a median, sqrt(pi / 2) sigma / sqrt(n), with sigma estimated by the scaled median absolute deviation 1.4826
    MAD (Hampel 1974, "The influence curve and its role in robust estimation", JASA 69:383-393).

    >>> [round(v, 3) for v in median_interval([0.0, 1.0, 2.0, 3.0, 1000.0])]
    [2.0, 0.831]
    """
    x = np.asarray(values, float)
    median = float(np.median(x))
    mad = float(np.median(np.abs(x - median)))
    return median, float(np.sqrt(np.pi / 2) * 1.4826 * mad / np.sqrt(len(x)))


def _paired(estimates: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per replication, each row's error (estimate minus truth) minus the correct design's on the same warehouse
    (same ``by`` keys besides the design; same method, else the trial's first correct method: clone-censor-weight
    on the grace-period trial): the bias a design adds to the correct one, with common random numbers. The designs
    of one trial share the truth but for transport designs, whose truth is the target centre's."""
    keys = ["replication", *[b for b in by if b not in ("design", "method")]]
    error = estimates["estimate"] - estimates["truth"]
    correct = estimates.assign(error=error)[estimates["design"] == "correct"]
    same = correct.set_index([*keys, "method"])["error"]
    first = correct.groupby(keys)["error"].first()
    own = pd.MultiIndex.from_frame(estimates[[*keys, "method"]])
    reference = same.reindex(own).to_numpy()
    fallback = first.reindex(pd.MultiIndex.from_frame(estimates[keys])).to_numpy()
    return estimates.assign(excess=error - np.where(np.isnan(reference), fallback, reference))


def summarise(estimates: pd.DataFrame, by: Sequence[str] = ("trial", "design", "method")) -> pd.DataFrame:
    """Per group of ``by`` (default trial, design and method) over the replications: bias, empirical SE, RMSE,
    coverage and width with Monte Carlo SEs, the mean truth, the mean CATE MSE with its Monte Carlo SE (NaN for
    clone-censor-weight, which gives no CATE here); the median bias with the robust SE of :func:`median_interval`;
    the excess bias over the correct design on the same warehouses (:func:`_paired`) with its Monte Carlo SE; and
    the positivity diagnostics of :func:`positivity` at their worst over the replications (smallest propensity,
    largest censoring weight) and the mean share outside the propensity bounds."""
    by = list(by)
    out = summarise_replications(estimates, by=by)
    index = pd.MultiIndex.from_frame(out[by])
    grouped = _paired(estimates, by).assign(error=estimates["estimate"] - estimates["truth"]).groupby(by)
    out["cate_mse"] = grouped["cate_mse"].mean().reindex(index).to_numpy()
    out["cate_mse_mcse"] = (grouped["cate_mse"].std() / np.sqrt(grouped["cate_mse"].count())).reindex(index).to_numpy()
    out["n"] = grouped["n"].mean().reindex(index).to_numpy()
    median = grouped["error"].apply(lambda e: median_interval(e)).reindex(index)
    out["median_bias"] = [m[0] for m in median]
    out["median_bias_mcse"] = [m[1] for m in median]
    out["excess"] = grouped["excess"].mean().reindex(index).to_numpy()
    out["excess_mcse"] = (grouped["excess"].std() / np.sqrt(grouped["excess"].count())).reindex(index).to_numpy()
    out["propensity_min"] = grouped["propensity_min"].min().reindex(index).to_numpy()
    out["outside"] = grouped["outside"].mean().reindex(index).to_numpy()
    out["weight_max"] = grouped["weight_max"].max().reindex(index).to_numpy()
    return out


def _order(summary: pd.DataFrame, designs: Sequence[str]) -> pd.DataFrame:
    """Rows in the order of ``designs`` (correct first), point trial before grace trial."""
    rank = {d: k for k, d in enumerate(designs)}
    key = summary["design"].map(rank) * 2 + (summary["trial"] == "grace")
    return summary.assign(_k=key).sort_values(["_k", "method"]).drop(columns="_k")


def _label(row) -> str:
    return f"{row.design} ({row.trial}): {row.method}"


def _cell(row, measure) -> str:
    value = row[measure]
    return "-" if pd.isna(value) else f"{fmt(value)} ({fmt(row[measure + '_mcse'])})"


def design_table(summary: pd.DataFrame, designs: Sequence[str]) -> str:
    """Markdown table: per design, trial and method, the mean truth, bias, median bias, excess bias over the
    correct design on the same warehouses, RMSE, coverage of the 95% interval and CATE MSE, Monte Carlo SE in
    parentheses ("-" where there is none), and the positivity diagnostics (smallest propensity, largest censoring
    weight, over the replications)."""
    s = _order(summary, designs)
    table = pd.DataFrame({
        "Design": s["design"], "Trial": s["trial"], "Method": s["method"], "Truth": s["truth"].map(fmt),
        **{name: [_cell(r, m) for _, r in s.iterrows()]
           for name, m in (("Bias", "bias"), ("Median bias", "median_bias"), ("vs correct", "excess"),
                           ("RMSE", "rmse"), ("Coverage", "coverage"), ("CATE MSE", "cate_mse"))},
        "Min e": ["-" if pd.isna(v) else f"{v:.2g}" for v in s["propensity_min"]],
        "Max weight": ["-" if pd.isna(v) else f"{v:.2g}" for v in s["weight_max"]]})
    return table.to_markdown(index=False) + "\n"


def plot_bias(summary: pd.DataFrame, designs: Sequence[str]):
    """Bias of the ATE (RMST difference, years) with +-1.96 Monte Carlo SE (dots) and the median bias (crosses),
    one row per design, trial and method, the correct design on top; the dashed line is no bias. The axis is
    symmetric-logarithmic (linear within +-1 year) when an interval reaches beyond 5 years, so that one unstable
    design does not flatten the others."""
    import matplotlib.pyplot as plt

    s = _order(summary, designs).reset_index(drop=True)
    methods = list(dict.fromkeys(s["method"]))
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(s) + 1.2))
    y = np.arange(len(s))[::-1]
    for k, method in enumerate(methods):
        m = (s["method"] == method).to_numpy()
        ax.errorbar(s.loc[m, "bias"], y[m], xerr=1.96 * s.loc[m, "bias_mcse"], fmt="o", color=f"C{k}",
                    markersize=4, elinewidth=1, label=f"{method}: mean")
        ax.plot(s.loc[m, "median_bias"], y[m], "x", color=f"C{k}", markersize=6, label=f"{method}: median")
    ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, [f"{r.design} ({r.trial})" for r in s.itertuples()])
    if (s["bias"].abs() + 1.96 * s["bias_mcse"].fillna(0)).max() > 5:  # an unstable design would hide the others
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set(xlabel="bias of the ATE (RMST difference, years), 95% Monte Carlo interval")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def strength_key(value: float) -> str:
    """The values' key of a strength: ``s`` and the number with ``p`` for the decimal point.

    >>> strength_key(0.5), strength_key(2.0)
    ('s0p5', 's2')
    """
    return "s" + f"{value:g}".replace(".", "p").replace("-", "m")


def plot_strength(summary: pd.DataFrame, knobs: Mapping):
    """Bias of the ATE against the strength of each error's knob, one panel (curve) per error: the error's design
    (mean bias with +-1.96 Monte Carlo SE, and the median as crosses) and the correct design on the same
    warehouses (grey); the dashed line is no bias. A panel whose interval reaches beyond 5 years is
    symmetric-logarithmic (linear within +-1 year)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(knobs), figsize=(2.6 * len(knobs) + 0.6, 3.0), squeeze=False)
    for ax, (knob, entry) in zip(axes[0], knobs.items()):
        s = summary[summary["knob"] == knob].sort_values("strength")
        for design, color, label in ((entry["design"], "C3", "error's design"), ("correct", "0.5", "correct design")):
            d = s[s["design"] == design]
            ax.errorbar(d["strength"], d["bias"], yerr=1.96 * d["bias_mcse"], fmt="o-", color=color, markersize=4,
                        elinewidth=1, capsize=2, label=f"{label}: mean")
            ax.plot(d["strength"], d["median_bias"], "x", color=color, markersize=6, label=f"{label}: median")
        ax.axhline(0, color="black", linestyle="--", linewidth=0.8)
        if (s["bias"].abs() + 1.96 * s["bias_mcse"].fillna(0)).max() > 5:
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set(xlabel=knob.replace("_", " "), title=entry["design"].replace("_", " "))
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel("bias of the ATE (years)")
    fig.legend(*axes[0][-1].get_legend_handles_labels(), loc="lower center", ncol=4, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def strength_table(summary: pd.DataFrame, knobs: Mapping) -> str:
    """Markdown table: per knob and strength, the error's design and the correct one on the same warehouses: bias,
    median bias and the excess over the correct design, Monte Carlo SE in parentheses, smallest propensity and
    largest censoring weight."""
    rows = []
    for knob, entry in knobs.items():
        s = summary[(summary["knob"] == knob) & summary["design"].isin(["correct", entry["design"]])]
        for r in s.assign(_flawed=s["design"] != "correct").sort_values(["strength", "_flawed"]).itertuples():
            rows.append({"Knob": knob, "Strength": f"{r.strength:g}", "Design": r.design, "Method": r.method,
                         "Bias": _cell(r._asdict(), "bias"), "Median bias": _cell(r._asdict(), "median_bias"),
                         "vs correct": _cell(r._asdict(), "excess"),
                         "Min e": "-" if pd.isna(r.propensity_min) else f"{r.propensity_min:.2g}",
                         "Max weight": "-" if pd.isna(r.weight_max) else f"{r.weight_max:.2g}"})
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def strength_values(summary: pd.DataFrame, estimates: pd.DataFrame, knobs: Mapping, settings: Mapping) -> dict:
    """The values the paper quotes from the strength grid, under ``design_strength``: ``settings`` as given, the
    number of replications, and per knob its design and per strength (:func:`strength_key`; also as ``zero`` and
    ``strongest``, so that a text can quote the ends of a curve whatever the config's strengths) the strength, the
    error design's bias, median bias and excess over the correct design with their Monte Carlo SEs, the correct
    design's bias, median bias and largest censoring weight, and the positivity diagnostics (3 significant digits;
    the first method of each design)."""
    values: dict = {**settings, "replications": int(estimates["replication"].nunique())}
    for knob, entry in knobs.items():
        out = values.setdefault(knob, {"design": entry["design"]})
        s = summary[summary["knob"] == knob]
        for strength, group in s.groupby("strength"):
            flawed = group[group["design"] == entry["design"]].iloc[0]
            correct = group[group["design"] == "correct"].iloc[0]
            point = {k: fmt(flawed[k]) for k in ("bias", "bias_mcse", "median_bias", "median_bias_mcse", "excess",
                                                 "excess_mcse", "weight_max")}
            point.update(strength=f"{strength:g}", correct_bias=fmt(correct["bias"]),
                         correct_bias_mcse=fmt(correct["bias_mcse"]), correct_median_bias=fmt(correct["median_bias"]),
                         correct_median_bias_mcse=fmt(correct["median_bias_mcse"]),
                         correct_weight_max=fmt(correct["weight_max"]),
                         propensity_min=f"{flawed['propensity_min']:.2g}")
            out[strength_key(strength)] = point
        out["zero"], out["strongest"] = out[strength_key(s["strength"].min())], out[strength_key(s["strength"].max())]
    return {"design_strength": values}


def design_values(summary: pd.DataFrame, estimates: pd.DataFrame, settings: Mapping) -> dict:
    """The values the paper quotes, under ``design``: ``settings`` as given, the number of replications and per
    design, trial and method (keys without dashes) the mean truth, bias, RMSE, coverage, CATE MSE, median bias and
    excess bias over the correct design with their Monte Carlo SEs (3 significant digits), the positivity
    diagnostics (smallest propensity, share outside the bounds in percent, largest censoring weight) and the mean
    cohort size."""
    values: dict = {**settings, "replications": int(estimates["replication"].nunique())}
    for r in summary.itertuples():
        entry = values.setdefault(r.design, {}).setdefault(r.trial, {})
        entry["truth"] = fmt(r.truth)
        method = {k: fmt(getattr(r, k)) for k in ("bias", "bias_mcse", "rmse", "rmse_mcse", "coverage",
                                                   "coverage_mcse", "cate_mse", "cate_mse_mcse", "median_bias",
                                                   "median_bias_mcse", "excess", "excess_mcse", "weight_max")
                  if not pd.isna(getattr(r, k))}
        if not pd.isna(r.propensity_min):
            method["propensity_min"] = f"{r.propensity_min:.2g}"
            method["outside"] = f"{100 * r.outside:.2g}%"
        method["n"] = f"{int(round(r.n)):,}"
        entry[r.method.lower().replace("-", "_").replace(" ", "_")] = method
    return {"design": values}


def report(estimates: pd.DataFrame, summary: pd.DataFrame, designs: Sequence[str], settings: Mapping,
           paths: Mapping[str, str | Path], strength: pd.DataFrame | None = None, knobs: Mapping | None = None,
           strength_settings: Mapping | None = None) -> None:
    """Write the summary, the figure, the table and the values the paper quotes to ``paths``; with the estimates
    of the strength grid (:func:`strength_run`) and its ``knobs``, also its summary, figure, table and values
    (``strength_settings`` as given: e.g. its n)."""
    summary.to_csv(paths["summary"], index=False)
    save_figure(plot_bias(summary, designs), paths["figure"], source=NOTEBOOK)
    Path(paths["table"]).write_text(design_table(summary, designs))
    values = design_values(summary, estimates, settings)
    if strength is not None:
        grid = summarise(strength, by=("knob", "strength", "design", "method"))
        grid.to_csv(paths["strength_summary"], index=False)
        save_figure(plot_strength(grid, knobs), paths["strength_figure"], source=NOTEBOOK)
        Path(paths["strength_table"]).write_text(strength_table(grid, knobs))
        values.update(strength_values(grid, strength, knobs, strength_settings or {}))
    write_values(paths["values"], values)
