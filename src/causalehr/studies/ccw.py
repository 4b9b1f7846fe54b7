"""The clone-censor-weight (strategy 2) simulation experiment of the workflow: replications of the EHR diabetes
cohort with a time-varying treatment start, CCW with logistic or boosted weights and the naive ever-versus-never
comparison against the true strategy effects, and the figures, table and values the paper quotes.
The notebook notebooks/ccw.ipynb calls :func:`run`, :func:`summarise` and :func:`report`.

Design of the study: Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation studies to evaluate
statistical methods. Stat Med 38, 2074-2102 (performance measures with Monte Carlo SE,
:func:`causalehr.metrics.summarize_replications`). Estimator: :class:`causalehr.ccw.CloneCensorWeight`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalehr.ccw import fit_ccw, naive_comparisons
from causalehr.metrics import summarize_replications
from causalehr.registry import WEIGHT_MODELS
from causalehr.simulate import SimulatedCohort, simulate
from causalehr.simulate.ehr import _expected_over_start, _surv_started_at, event_model
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/ccw.ipynb"
NAIVE = "naive ever vs never"
LABELS = {"rmst": "RMST difference", "surv": "survival difference", "rmtl": "RMTL difference (complication)",
          "cif": "CIF difference (complication)"}
DEATHS_CENSORED = "deaths censored"  # suffix of the naive competing-risks analysis


def ccw_cohort(n: int, seed: int, simulation: dict, *, grace: float, horizon: float,
               horizon_surv: float) -> tuple[pd.DataFrame, list[str], SimulatedCohort]:
    """Simulate ``ehr_diabetes`` with a time-varying start (knobs ``simulation``) and return the cohort table with
    centre indicators added, the covariates given to CCW (patient covariates and centre indicators: centres drive
    prescribing and loss to follow-up) and the cohort."""
    cohort = simulate("ehr_diabetes", n, seed, time_varying_start=True, grace=grace, horizon=horizon,
                      horizon_surv=horizon_surv, **simulation)
    centres = pd.get_dummies(cohort.data["centre"], prefix="centre", drop_first=True, dtype=float)
    return pd.concat([cohort.data, centres], axis=1), cohort.covariates + list(centres.columns), cohort


def true_strategy_survival(cohort: SimulatedCohort, times) -> pd.DataFrame:
    """True marginal survival curves of "start within grace" (start at min(S, grace), S the natural start time)
    and "never start" at ``times``: the sample average of the per-patient truth of the simulator (exact Weibull
    survival, Gauss-Legendre over S). Needs the complete covariates (``missingness=0``)."""
    x = cohort.data[cohort.covariates]
    n_missing = int(x.isna().any(axis=1).sum())
    if n_missing:
        raise ValueError(f"the true strategy curves need complete covariates: {n_missing} rows have missing "
                         "covariates (simulate with missingness=0)")
    p = cohort.params
    model = event_model(x, p["effect"], p["heterogeneity"])
    rate, grace = cohort.truth["start_rate"].to_numpy(), float(np.atleast_1d(p["grace"])[0])
    times = np.asarray(times, dtype=float)
    start = [float(np.mean(_expected_over_start(lambda s, t=t: _surv_started_at(model, s, t), rate, grace, t)))
             if t > 0 else 1.0 for t in times]
    never = [float(np.mean(model.survival(t, 0))) for t in times]
    return pd.DataFrame({"time": np.r_[times, times], "strategy": np.repeat(["start", "never"], len(times)),
                         "survival": np.r_[start, never]})


def run_competing_replication(seed: int, *, n: int, simulation: dict, competing: Mapping, grace: float,
                              horizon: float, horizon_surv: float, n_intervals: int = 8) -> pd.DataFrame:
    """One replication with death competing (``ehr_diabetes`` with ``competing_death`` and ``competing``'s
    ``death_effect``): CCW of the complication (cause 1) with each weight model of ``competing["weights"]``
    (weighted Aalen-Johansen per strategy; estimands "cif" and "rmtl") and, with the same weight model and no
    bootstrap, the naive analysis that treats death as censoring (method suffixed ``deaths censored``: the net
    risk 1 - S_1 and net time lost tau - RMST_1 of the all-cause CCW). Tidy rows as :func:`run_replication`."""
    unknown = sorted(set(competing["weights"]) - set(WEIGHT_MODELS))
    if unknown:
        raise ValueError(f"unknown weight models {unknown} in 'competing.weights'; known: {sorted(WEIGHT_MODELS)}")
    simulation = {**simulation, "competing_death": True, "death_effect": competing["death_effect"]}
    df, covariates, cohort = ccw_cohort(n, seed, simulation, grace=grace, horizon=horizon, horizon_surv=horizon_surv)
    truth = cohort.strategy_effects.set_index("estimand")["difference"]
    rows = []
    with threadpool_limits(1):
        for name, n_bootstrap in competing["weights"].items():
            model_seed = job_seed(seed, "ccw-competing", name)
            kwargs = dict(grace=grace, horizon=horizon, horizon_surv=horizon_surv, n_intervals=n_intervals,
                          start_model=WEIGHT_MODELS[name](model_seed), censoring_model=WEIGHT_MODELS[name](model_seed),
                          random_state=model_seed)
            start = time.perf_counter()
            fit = fit_ccw(df, covariates, cause=1, n_bootstrap=n_bootstrap, **kwargs)
            seconds = time.perf_counter() - start
            rows += [{"method": f"CCW {name}", "estimand": e.estimand, "estimate": e.difference, "lower": e.lower,
                      "upper": e.upper, "seconds": seconds} for e in fit.effects_.itertuples()]
            net = fit_ccw(df.assign(event=(df["event"] == 1).astype(int)), covariates, **kwargs)
            rows += [{"method": f"CCW {name}, {DEATHS_CENSORED}", "estimand": estimand, "estimate": -difference,
                      "lower": np.nan, "upper": np.nan, "seconds": np.nan}
                     for estimand, difference in (("rmtl", net.rmst_difference_), ("cif", net.surv_difference_))]
    out = pd.DataFrame(rows)
    return out.assign(truth=truth[out["estimand"]].to_numpy())


def run_replication(seed: int, *, n: int, simulation: dict, weights: dict, grace: float, horizon: float,
                    horizon_surv: float, n_intervals: int = 8) -> tuple[pd.DataFrame, dict, SimulatedCohort]:
    """One replication: simulate a cohort, fit CCW with each weight model of ``weights`` (name in
    :data:`WEIGHT_MODELS` -> number of bootstrap replicates; 0 gives no interval) and the naive ever-versus-never
    comparison. Returns the tidy estimates (method, estimand, estimate, lower, upper, truth, seconds; NaN bounds
    without interval), the fitted CCW estimators by weight-model name and the simulated cohort."""
    unknown = sorted(set(weights) - set(WEIGHT_MODELS))
    if unknown:
        raise ValueError(f"unknown weight models {unknown} in 'weights'; known: {sorted(WEIGHT_MODELS)}")
    df, covariates, cohort = ccw_cohort(n, seed, simulation, grace=grace, horizon=horizon, horizon_surv=horizon_surv)
    truth = cohort.strategy_effects.set_index("estimand")["difference"]
    rows, fitted = [], {}
    with threadpool_limits(1):  # many small fits: threaded BLAS only adds overhead on a shared machine
        for name, n_bootstrap in weights.items():
            model_seed = job_seed(seed, "ccw", name)
            start = time.perf_counter()
            fitted[name] = fit_ccw(
                df, covariates, grace=grace, horizon=horizon, horizon_surv=horizon_surv, n_intervals=n_intervals,
                start_model=WEIGHT_MODELS[name](model_seed), censoring_model=WEIGHT_MODELS[name](model_seed),
                n_bootstrap=n_bootstrap, random_state=model_seed)
            seconds = time.perf_counter() - start
            rows += [{"method": f"CCW {name}", "estimand": e.estimand, "estimate": e.difference, "lower": e.lower,
                      "upper": e.upper, "seconds": seconds} for e in fitted[name].effects_.itertuples()]
    naive = naive_comparisons(df, horizon=horizon, horizon_surv=horizon_surv).query("comparison == 'ever_vs_never'")
    rows += [{"method": NAIVE, "estimand": e.estimand, "estimate": e.difference, "lower": np.nan, "upper": np.nan,
              "seconds": np.nan} for e in naive.itertuples()]
    out = pd.DataFrame(rows)
    return out.assign(truth=truth[out["estimand"]].to_numpy()), fitted, cohort


def summarise(results: pd.DataFrame, by: tuple[str, ...] = ("method", "estimand")) -> pd.DataFrame:
    """Bias, empirical SE, RMSE, coverage and interval width with Monte Carlo SE per group of ``by`` (default
    method and estimand; :func:`causalehr.metrics.summarize_replications`). Methods without intervals (missing
    ``lower``/``upper`` in every replication) get NaN interval measures; a method with intervals in only some
    replications is an error. The mean ``truth`` of each group is added."""
    by = list(by)
    keys = [results[c] for c in by]
    has = results[["lower", "upper"]].notna().all(axis=1).groupby(keys)
    partial = has.any() & ~has.all()
    if partial.any():
        raise ValueError(f"intervals are missing in some replications of {list(partial[partial].index)}")
    with_interval = has.transform("all")
    filled = results.assign(lower=results["lower"].where(with_interval, results["estimate"]),
                            upper=results["upper"].where(with_interval, results["estimate"]))
    out = summarize_replications(filled, by=by)
    interval = has.all().reindex(pd.MultiIndex.from_frame(out[by])).to_numpy()
    measures = ["coverage", "coverage_mcse", "be_coverage", "be_coverage_mcse", "width", "width_mcse"]
    out.loc[~interval, measures] = np.nan
    return out.assign(truth=results.groupby(by)["truth"].mean().reindex(pd.MultiIndex.from_frame(out[by])).to_numpy())


def ccw_table(summary: pd.DataFrame) -> str:
    """Markdown table of the performance per method and estimand: mean truth, bias, empirical SE, RMSE, coverage
    of the 95% interval and its width, Monte Carlo SE in parentheses ("-" without interval)."""
    def cell(row, measure):
        value = row[measure]
        return "-" if pd.isna(value) else f"{fmt(value)} ({fmt(row[measure + '_mcse'])})"

    summary = summary.sort_values(["estimand", "method"])
    table = pd.DataFrame({
        "Estimand": summary["estimand"].map(LABELS), "Method": summary["method"],
        "Truth": summary["truth"].map(fmt),
        **{name: [cell(r, m) for _, r in summary.iterrows()]
           for name, m in (("Bias", "bias"), ("Empirical SE", "empse"), ("RMSE", "rmse"), ("Coverage", "coverage"),
                           ("Width", "width"))}})
    return table.to_markdown(index=False) + "\n"


def ccw_values(summary: pd.DataFrame, results: pd.DataFrame, settings: dict) -> dict:
    """The values the paper quotes, formatted (3 significant digits): ``settings`` (e.g. n, grace, horizons) as
    given, the number of replications, and per estimand the mean true effect and per method (keys without spaces:
    ``ccw_logistic``, ``ccw_boosting``, ``naive``) the mean estimate, bias, RMSE, coverage and width when defined,
    with the Monte Carlo SE of the bias and of the coverage."""
    values = {key: fmt(v) if isinstance(v, float) else v for key, v in settings.items()}
    values["replications"] = int(results.groupby(["method", "estimand"]).size().min())
    means = results.groupby(["method", "estimand"])["estimate"].mean()
    for row in summary.itertuples():
        key = "naive" if row.method == NAIVE else row.method.lower().replace(",", "").replace(" ", "_")
        entry = values.setdefault(row.estimand, {"truth": fmt(row.truth)}).setdefault(key, {})
        entry["mean"] = fmt(means[(row.method, row.estimand)])
        for measure in ("bias", "bias_mcse", "rmse", "coverage", "coverage_mcse", "width"):
            if not pd.isna(getattr(row, measure)):
                entry[measure] = fmt(getattr(row, measure))
    return {"ccw": values}


def plot_ccw_curves(fitted, truth_curves: pd.DataFrame, horizon: float):
    """Weighted Kaplan-Meier curve of the clones per strategy (one fitted CloneCensorWeight) beside the true
    strategy survival curves (:func:`true_strategy_survival`), up to ``horizon``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for strategy, colour in (("start", "C0"), ("never", "C1")):
        km = fitted.survival_curves_.query("strategy == @strategy")
        ax.step(np.r_[0.0, km["time"]], np.r_[1.0, km["survival"]], where="post", color=colour,
                label=f"CCW: {strategy}")
        true = truth_curves.query("strategy == @strategy")
        ax.plot(true["time"], true["survival"], color=colour, linestyle="--", label=f"truth: {strategy}")
    grace = fitted.grace
    ax.axvline(grace, color="grey", linewidth=0.8)
    ax.set(xlim=(0, horizon), xlabel="years since eligibility", ylabel="survival without complication")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_ccw_estimates(results: pd.DataFrame):
    """Error (estimate minus true effect) per replication and method, with its 95% bootstrap interval where there
    is one, one panel per estimand (with the methods that estimate it); the dashed line is no error. The y axis is
    linear up to the largest CCW error or interval bound and logarithmic beyond, so that the naive comparison's
    large bias fits beside CCW."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    estimands = list(dict.fromkeys(results["estimand"]))
    methods = list(dict.fromkeys(results["method"]))
    fig, axes = plt.subplots(1, len(estimands), figsize=(4.2 * len(estimands), 3.6), squeeze=False)
    for ax, estimand in zip(axes[0], estimands):
        present = [m for m in methods if ((results["estimand"] == estimand) & (results["method"] == m)).any()]
        for k, method in enumerate(present):
            sub = results[(results["estimand"] == estimand) & (results["method"] == method)]
            x = k + np.linspace(-0.3, 0.3, len(sub)) if len(sub) > 1 else np.full(len(sub), float(k))
            err = (sub["estimate"] - sub["truth"]).to_numpy()
            ax.errorbar(x, err, yerr=[(sub["estimate"] - sub["lower"]).to_numpy(),
                                      (sub["upper"] - sub["estimate"]).to_numpy()],
                        fmt="o", markersize=3, color=f"C{methods.index(method)}", elinewidth=0.8)
        ccw = results[(results["estimand"] == estimand) & (results["method"] != NAIVE)]
        bounds = (ccw[["estimate", "lower", "upper"]].sub(ccw["truth"], axis=0)).abs().max().max()
        if bounds > 0:
            ax.set_yscale("symlog", linthresh=float(bounds), linscale=3)
            ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.axhline(0, color="black", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(present)), present, rotation=20, ha="right")
        ax.set(title=LABELS[estimand], ylabel="estimate - truth")
    fig.tight_layout()
    return fig


def run(replications: int, seed: int, competing: Mapping | None = None,
        **design) -> tuple[pd.DataFrame, dict, SimulatedCohort]:
    """``replications`` replications (:func:`run_replication` with ``design``: n, simulation, weights, grace,
    horizon, horizon_surv, n_intervals), seeds derived from ``seed``; with ``competing`` (death_effect, weights)
    as many replications with death competing (:func:`run_competing_replication`, estimands "cif" and "rmtl").
    Returns the estimates of every replication (column ``replication``), and the fitted estimators and the cohort
    of the first all-cause one (for the curves figure)."""
    results = []
    for rep in range(replications):
        estimates, fitted, cohort = run_replication(job_seed(seed, "ccw", rep), **design)
        results.append(estimates.assign(replication=rep))
        if rep == 0:
            first_fit, first_cohort = fitted, cohort
        if competing is not None:
            design_c = {k: v for k, v in design.items() if k != "weights"}
            estimates = run_competing_replication(job_seed(seed, "ccw-competing", rep), competing=competing,
                                                  **design_c)
            results.append(estimates.assign(replication=rep))
    return pd.concat(results, ignore_index=True), first_fit, first_cohort


def report(results: pd.DataFrame, summary: pd.DataFrame, fitted, cohort: SimulatedCohort, design: Mapping,
           paths: Mapping[str, str | Path]) -> None:
    """Write the replications, the figures (curves of ``fitted``, one fitted CloneCensorWeight, against the truth of
    ``cohort``; errors per replication), the performance table and the values the paper quotes."""
    horizon = design["horizon"]
    results.to_parquet(paths["replications"], index=False)
    truth_curves = true_strategy_survival(cohort, np.linspace(0, horizon, 61))
    save_figure(plot_ccw_curves(fitted, truth_curves, horizon), paths["curves"], source=NOTEBOOK)
    save_figure(plot_ccw_estimates(results), paths["estimates"], source=NOTEBOOK)
    Path(paths["table"]).write_text(ccw_table(summary))
    p = cohort.params
    settings = {"n": design["n"], "grace": float(design["grace"]), "horizon": float(horizon),
                "horizon_surv": float(design["horizon_surv"]), "start_rate": float(p["start_rate"]),
                "confounding": float(p["confounding"]), "bootstrap": dict(design["weights"]),
                "follow_up_min": float(p["min_follow_up"]), "follow_up_max": float(p["max_follow_up"]),
                "centres": int(p["n_centres"])}
    if design.get("competing") is not None:
        settings["death_effect"] = float(design["competing"]["death_effect"])
        settings["bootstrap_competing"] = dict(design["competing"]["weights"])
    write_values(paths["values"], ccw_values(summary, results, settings))
