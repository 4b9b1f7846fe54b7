"""From time-stamped records to an emulated target trial (issue 15): a synthetic OMOP warehouse with known truth (or
the user's warehouse), the cohort of a target-trial specification, strategy 1 and strategy 2 on that cohort against
the truth, and the tables, figure and values the paper quotes. The notebook notebooks/trial.ipynb calls
:func:`build` (part "cohort"), :func:`run` (part "estimate"), :func:`summarise` and :func:`report` (part "report").

- Cohort: the synthetic warehouse (:func:`causalehr.omop.write_synthetic_omop`) is written with the design of the
  specification's strategies and the simulator's horizon and grace period set from the specification
  (:func:`synthetic_params`), so that its per-patient truth is that of the specified estimand; the warehouse, its
  truth and the cohort's patient-level tables (:meth:`causalehr.cohort.Cohort.write`) go to the private ``records``
  folder, and only the suppressed aggregates of :mod:`causalehr.cohort.tables` to results/.
- Estimate: the RMST difference up to the specification's horizon. Active comparator (treatment at time zero):
  the CATE learners of ``methods`` (strategy 1; ATE with its interval, CATE accuracy against the per-patient truth,
  calibration by quantile groups of the estimated CATE) beside the unadjusted Kaplan-Meier contrast. Start within
  a grace period versus never: clone-censor-weight with each weight model of ``weights`` (strategy 2) beside the
  naive ever-versus-never comparison. The truth of one warehouse is the average over its extracted cohort of the
  simulator's per-patient effect (``cate_rmst``: SGLT2 versus DPP-4 inhibitor at time zero;
  ``strategy_rmst_difference``: start within the grace period versus never); on a user's warehouse there is none.
- Report: bias, empirical SE, coverage and width over the replications (one synthetic warehouse each, its own seed)
  with Monte Carlo SEs (:func:`causalehr.studies.ccw.summarise`, Morris, White & Crowther 2019, Stat Med
  38:2074-2102), the attrition table, Table 1 and the estimates against the truth.

Features given to the estimators (:func:`features`): the specification's covariates, numeric, a missing value set
to the cohort's median (the measurement's ``<name>_missing`` indicator keeps the information), the care site as
indicators (first level left out), columns without variation left out. The simulator's truth is conditional on its
complete covariates, so the shipped configs simulate complete measurements (``missingness: 0``): with missing
values the learners would face unmeasured confounding and the comparison with the truth would mix it with the
estimators' errors.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from causalehr.ccw import fit_ccw, naive_comparisons
from causalehr.cohort import Cohort, TrialSpec, build_cohort, load_spec
from causalehr.cohort.spec import RESERVED
from causalehr.cohort.tables import write_tables
from causalehr.metrics import calibration_table, cate_accuracy
from causalehr.omop import write_synthetic_omop
from causalehr.probation.suppress import suppress_small_cells
from causalehr.registry import WEIGHT_MODELS, make_estimator
from causalehr.studies.ccw import summarise as summarise_replications
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.survival import rmst_difference
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/trial.ipynb"
DAYS_PER_YEAR = 365.25  # as the OMOP writer and the cohort builder
TRUTH = {"active_comparator": "cate_rmst", "grace_vs_never": "strategy_rmst_difference"}
NAIVE = {"active_comparator": "naive KM", "grace_vs_never": "naive ever vs never"}
STRATEGY = {"active_comparator": "strategy 1", "grace_vs_never": "strategy 2"}
ESTIMATE_COLUMNS = ["method", "strategy", "estimate", "lower", "upper", "truth", "n", "cate_rmse", "cate_pearson",
                    "seconds"]


def _spec(spec) -> TrialSpec:
    return spec if isinstance(spec, TrialSpec) else load_spec(spec)


def synthetic_params(spec: TrialSpec, params: Mapping | None = None) -> dict:
    """Parameters of the ``ehr_diabetes`` simulator behind the synthetic warehouse of ``spec``: ``params`` with the
    horizon (and for a grace-period design the grace period) of the specification, in years."""
    params = dict(params or {})
    if spec.time_unit != "years":
        raise ValueError(f"trial specification {spec.name!r}: a synthetic warehouse needs time_unit: years (the "
                         f"simulator's unit), got {spec.time_unit!r}")
    taken = sorted(set(params) & {"horizon", "grace", "time_varying_start"})
    if taken:
        raise ValueError(f"trial.warehouse.synthetic.params: {taken} are set from the trial specification and its "
                         "design; remove them")
    params["horizon"] = spec.horizon_days / DAYS_PER_YEAR
    if spec.strategies["type"] == "grace_vs_never":
        params["grace"] = spec.strategies["grace_days"] / DAYS_PER_YEAR
    return params


def build(spec, records: str | Path, *, seed: int, synthetic: Mapping | None = None, source=None) -> Cohort:
    """Cohort part: write a synthetic warehouse (``synthetic``: ``n`` eligible patients, optional ``n_ineligible``
    per planted reason and simulator ``params``) with its truth into ``records``/omop and ``records``/truth, or
    read the user's ``source`` (DuckDB file, parquet/CSV folder, ibis backend); build the cohort of ``spec`` and
    write its patient-level tables into ``records``/cohort (a private folder, never under results/)."""
    spec = _spec(spec)
    if (synthetic is None) == (source is None):
        raise ValueError("give either a synthetic warehouse (synthetic={n, params}) or a source, not both or none")
    records = Path(records)
    if synthetic is not None:
        warehouse = write_synthetic_omop(int(synthetic["n"]), seed, records / "omop", design=spec.strategies["type"],
                                         n_ineligible=synthetic.get("n_ineligible"),
                                         **synthetic_params(spec, synthetic.get("params")))
        warehouse.write_truth(records / "truth")
        source = warehouse.path
    cohort = build_cohort(spec, source)
    cohort.write(records / "cohort")
    return cohort


def write_cohort_tables(cohort: Cohort, paths: Mapping[str, str | Path], min_cell_size: int) -> None:
    """The publishable aggregates of the cohort (attrition, Table 1, follow-up; small cells blanked) at ``paths``."""
    written = write_tables(cohort, Path(paths["attrition"]).parent, min_cell_size)
    for name in ("attrition", "table_one", "follow_up"):
        if (written / f"{name}.csv").resolve() != Path(paths[name]).resolve():
            (written / f"{name}.csv").replace(paths[name])


def load_cohort(spec, records: str | Path) -> tuple[Cohort, pd.DataFrame | None]:
    """The cohort written by :func:`build` into the private ``records`` folder and the per-patient true effects
    by ``person_id`` (None for a user's warehouse)."""
    spec, folder = _spec(spec), Path(records) / "cohort"
    analysis = pd.read_parquet(folder / "analysis.parquet")
    cohort = Cohort(spec, analysis, pd.read_csv(folder / "attrition.csv"), pd.read_csv(folder / "dictionary.csv"),
                    [c for c in analysis.columns if c not in RESERVED])
    effects = Path(records) / "truth" / "effects.parquet"
    return cohort, pd.read_parquet(effects) if effects.exists() else None


def features(cohort: Cohort) -> pd.DataFrame:
    """The covariates given to the estimators (module docstring): numeric, missing values set to the median, care
    sites as indicators; columns without variation (e.g. a missing indicator of a measurement every patient has)
    are left out."""
    care = {c["name"] for c in cohort.spec.covariates if c["type"] == "care_site"}
    df, columns = cohort.analysis, {}
    for name in cohort.covariates:
        if name in care:
            for level in sorted(df[name].dropna().unique())[1:]:
                columns[f"{name}_{level}"] = (df[name] == level).astype(float)
        else:
            x = df[name].astype(float)
            columns[name] = x.fillna(x.median())
    X = pd.DataFrame(columns, index=df.index)
    return X.loc[:, X.nunique(dropna=True) > 1]


def _truth(cohort: Cohort, effects: pd.DataFrame | None) -> np.ndarray | None:
    if effects is None:
        return None
    column = TRUTH[cohort.spec.strategies["type"]]
    truth = effects.set_index("person_id")[column].reindex(cohort.analysis["person_id"]).to_numpy(float)
    if np.isnan(truth).any():
        raise ValueError(f"{int(np.isnan(truth).sum())} patients of the cohort have no true effect '{column}'")
    return truth


def run(cohort: Cohort, effects: pd.DataFrame | None, *, methods: Mapping, weights: Mapping, seed: int,
        n_intervals: int = 8, n_groups: int = 5, alpha: float = 0.05,
        min_cell_size: int = 10) -> dict[str, pd.DataFrame]:
    """Estimate part (module docstring): ``estimates`` (method, strategy, estimate, lower, upper, truth, n,
    cate_rmse, cate_pearson, seconds; NaN bounds without interval, NaN truth without truth) and ``calibration``
    (strategy-1 methods with truth: quantile groups of the estimated CATE with their mean estimated and true
    effect; groups of fewer than ``min_cell_size`` patients blanked). Aggregates only."""
    kind = cohort.spec.strategies["type"]
    df, X = cohort.analysis, features(cohort)
    truth = _truth(cohort, effects)
    base = {"strategy": STRATEGY[kind], "truth": np.nan if truth is None else float(truth.mean()), "n": len(df)}
    rows, calibration = [], []
    horizon = cohort.horizon
    if kind == "active_comparator":
        naive = rmst_difference(df["time"], df["event"], df["treatment"], horizon, alpha)
        rows.append({"method": NAIVE[kind], **{k: naive[k] for k in ("estimate", "lower", "upper")}})
        y = [df[c].to_numpy() for c in ("treatment", "time", "event")]
        for name, spec in methods.items():
            start = time.perf_counter()
            model = make_estimator(spec, "rmst", horizon, job_seed(seed, name)).fit(X.to_numpy(float), *y)
            estimate, lower, upper = model.ate_interval(alpha)
            cate = model.effect(X.to_numpy(float))
            row = {"method": name, "estimate": estimate, "lower": lower, "upper": upper,
                   "seconds": time.perf_counter() - start}
            if truth is not None:
                accuracy = cate_accuracy(cate, truth)
                row.update(cate_rmse=accuracy["pehe"], cate_pearson=accuracy["pearson"])
                calibration.append(calibration_table(cate, truth=truth, n_groups=n_groups).assign(method=name))
            rows.append(row)
    else:
        frame = X.assign(treatment_start=df["treatment_start"], time=df["time"], event=df["event"])
        for name, n_bootstrap in weights.items():
            model_seed = job_seed(seed, "ccw", name)
            start = time.perf_counter()
            fitted = fit_ccw(frame, list(X.columns), grace=cohort.grace, horizon=horizon, n_intervals=n_intervals,
                             start_model=WEIGHT_MODELS[name](model_seed),
                             censoring_model=WEIGHT_MODELS[name](model_seed), n_bootstrap=n_bootstrap,
                             random_state=model_seed)
            effect = fitted.effects_.query("estimand == 'rmst'").iloc[0]
            rows.append({"method": f"CCW {name}", "estimate": effect["difference"], "lower": effect["lower"],
                         "upper": effect["upper"], "seconds": time.perf_counter() - start})
        naive = naive_comparisons(df, horizon=horizon).query("comparison == 'ever_vs_never' and estimand == 'rmst'")
        rows.append({"method": NAIVE[kind], "estimate": float(naive["difference"].iloc[0])})
    estimates = pd.DataFrame([{**base, **row} for row in rows]).reindex(columns=ESTIMATE_COLUMNS)
    columns = ["method", "group", "n", "estimate_mean", "truth_mean"]
    calibration = pd.concat(calibration, ignore_index=True)[columns] if calibration else pd.DataFrame(columns=columns)
    calibration = suppress_small_cells(calibration, n_col="n", count_cols=(), min_cell=min_cell_size,
                                       keep=("method", "group"))
    return {"estimates": estimates, "calibration": calibration}


def read_results(inputs: Mapping[str, list[Mapping[str, str | Path]]]) -> dict[str, pd.DataFrame]:
    """The aggregates of every trial and replication (``inputs``: trial -> one mapping per replication of output
    name -> path, as the rule passes them), stacked with columns ``trial`` and ``replication``."""
    out: dict[str, list] = {}
    for trial, replications in inputs.items():
        for rep, files in enumerate(replications):
            for name, path in files.items():
                if str(path).endswith(".csv"):  # not the private records
                    out.setdefault(name, []).append(pd.read_csv(path).assign(trial=trial, replication=rep))
    return {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}


def summarise(estimates: pd.DataFrame) -> pd.DataFrame:
    """Performance of each method of each trial over the replications with truth: bias, empirical SE, RMSE,
    coverage and width with Monte Carlo SEs (NaN interval measures for a method without interval), the mean truth,
    and the mean and Monte Carlo SE of the CATE's root mean squared error and correlation with the truth. Empty
    without truth (a user's warehouse)."""
    with_truth = estimates[estimates["truth"].notna()]
    if with_truth.empty:
        return pd.DataFrame()
    out = summarise_replications(with_truth, by=("trial", "method"))
    grouped = with_truth.groupby(["trial", "method"])
    index = pd.MultiIndex.from_frame(out[["trial", "method"]])
    for c in ("cate_rmse", "cate_pearson"):
        out[c] = grouped[c].mean().reindex(index).to_numpy()
        out[f"{c}_mcse"] = (grouped[c].std() / np.sqrt(grouped[c].count())).reindex(index).to_numpy()
    return out


def _count(value) -> str:
    return "<min" if pd.isna(value) else f"{int(value):,}"


def attrition_markdown(attrition: pd.DataFrame) -> str:
    """Markdown attrition table of the first replication of each trial: data-quality findings with rows, then the
    patients remaining after each criterion and the number it removed ("<min": suppressed small cell)."""
    blocks = []
    for trial, a in attrition[attrition["replication"] == 0].groupby("trial", sort=False):
        quality = a[(a["kind"] == "data quality") & (a["n_rows"].isna() | (a["n_rows"] > 0))]
        steps = a[a["kind"] != "data quality"]
        blocks += [pd.DataFrame({"Trial": trial, "Step": "records: " + quality["criterion"],
                                 "Patients": quality["n_patients"].map(_count), "Removed": "-",
                                 "Rows": quality["n_rows"].map(_count)}),
                   pd.DataFrame({"Trial": trial, "Step": steps["criterion"], "Patients": steps["n_patients"].map(_count),
                                 "Removed": steps["n_removed"].map(_count), "Rows": "-"})]
    table = pd.concat(blocks)
    return table.to_markdown(index=False) + "\n"


def _describe(row, arm: int) -> str:
    if row["kind"] == "binary":
        return "<min" if pd.isna(row[f"count_{arm}"]) else f"{int(row[f'count_{arm}'])} ({row[f'percent_{arm}']:.1f}%)"
    return "<min" if pd.isna(row[f"mean_{arm}"]) else f"{fmt(row[f'mean_{arm}'])} ({fmt(row[f'sd_{arm}'])})"


def table_one_markdown(table_one: pd.DataFrame, arms: Mapping[str, tuple[str, str]]) -> str:
    """Table 1 of the first replication of each trial side by side: per covariate (level), count (%) or mean (SD)
    per arm (``arms``: trial -> labels of arm 0 and arm 1), missing values and the standardised mean difference."""
    t = table_one[table_one["replication"] == 0].copy()
    t["Covariate"] = t["variable"] + t["level"].map(lambda v: "" if pd.isna(v) else f" = {v:g}")
    blocks = []
    for trial, (label0, label1) in arms.items():
        d = t[t["trial"] == trial].set_index("Covariate")
        missing = d["missing_0"].fillna(0) + d["missing_1"].fillna(0)
        blocks.append(pd.DataFrame({
            f"{trial}: {label0} (n = {_count(d['n_0'].iloc[0])})": d.apply(_describe, axis=1, arm=0),
            f"{trial}: {label1} (n = {_count(d['n_1'].iloc[0])})": d.apply(_describe, axis=1, arm=1),
            f"{trial}: missing": missing.map(lambda v: f"{int(v)}"),
            f"{trial}: SMD": d["smd"].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}")}))
    table = pd.concat(blocks, axis=1).fillna("")
    return table.reset_index().to_markdown(index=False) + "\n"


def estimates_markdown(summary: pd.DataFrame, estimates: pd.DataFrame) -> str:
    """Per trial and method: the mean truth, the mean estimate, bias, coverage of the 95% interval and its width
    (Monte Carlo SE in parentheses), and the CATE's root mean squared error and correlation with the truth."""
    def cell(row, measure):
        value = row[measure]
        return "-" if pd.isna(value) else f"{fmt(value)} ({fmt(row[measure + '_mcse'])})"

    if summary.empty:  # a user's warehouse: no truth, one replication
        return pd.DataFrame({
            "Trial": estimates["trial"], "Method": estimates["method"], "Estimate": estimates["estimate"].map(fmt),
            "95% interval": [("-" if pd.isna(lo) else f"{fmt(lo)} to {fmt(hi)}")
                             for lo, hi in zip(estimates["lower"], estimates["upper"])]}).to_markdown(index=False) + "\n"
    means = estimates.groupby(["trial", "method"])["estimate"].mean()
    table = pd.DataFrame({
        "Trial": summary["trial"], "Method": summary["method"], "Truth": summary["truth"].map(fmt),
        "Mean estimate": [fmt(means[(r.trial, r.method)]) for r in summary.itertuples()],
        **{name: [cell(r, m) for _, r in summary.iterrows()]
           for name, m in (("Bias", "bias"), ("Coverage", "coverage"), ("Width", "width"),
                           ("CATE RMSE", "cate_rmse"), ("CATE correlation", "cate_pearson"))}})
    return table.to_markdown(index=False) + "\n"


def _key(method: str) -> str:
    return "naive" if method in NAIVE.values() else method.lower().replace(" ", "_")


def trial_values(results: Mapping[str, pd.DataFrame], summary: pd.DataFrame, settings: Mapping) -> dict:
    """The values the paper quotes (3 significant digits), under ``trial``: ``settings`` as given, the number of
    replications, and per trial the patients of the first warehouse and cohort (``persons``, ``eligible``, per arm
    ``n_0``, ``n_1``), the largest absolute standardised mean difference, the mean truth and per method (key
    ``naive`` for the naive comparison, ``ccw_<weights>`` for clone-censor-weight) the first replication's
    estimate and interval, and over the replications the mean estimate, bias, coverage and width with Monte
    Carlo SEs and the CATE's RMSE and correlation."""
    values: dict = dict(settings)
    estimates = results["estimates"]
    values["replications"] = int(estimates["replication"].nunique())
    attrition = results["attrition"][results["attrition"]["replication"] == 0]
    t1 = results["table_one"][results["table_one"]["replication"] == 0]
    for trial, a in attrition.groupby("trial"):
        steps = a[a["kind"] != "data quality"]
        d = t1[t1["trial"] == trial]
        values[trial] = {"persons": int(steps["n_patients"].iloc[0]), "eligible": int(steps["n_patients"].iloc[-1]),
                         "n_0": int(d["n_0"].iloc[0]), "n_1": int(d["n_1"].iloc[0]),
                         "max_smd": f"{d['smd'].abs().max():.2f}"}
    first = estimates[estimates["replication"] == 0]
    for row in first.itertuples():
        entry = values[row.trial].setdefault(_key(row.method), {})
        entry.update({k: fmt(getattr(row, k)) for k in ("estimate", "lower", "upper") if not pd.isna(getattr(row, k))})
        if not pd.isna(row.truth):
            values[row.trial]["truth_first"] = fmt(row.truth)
    means = estimates.groupby(["trial", "method"])["estimate"].mean()
    for row in summary.itertuples():
        values[row.trial]["truth"] = fmt(estimates.loc[estimates["trial"] == row.trial, "truth"].mean())
        entry = values[row.trial][_key(row.method)]
        entry["mean"] = fmt(means[(row.trial, row.method)])
        for measure in ("bias", "bias_mcse", "coverage", "coverage_mcse", "width", "cate_rmse", "cate_pearson"):
            if not pd.isna(getattr(row, measure)):
                entry[measure] = fmt(getattr(row, measure))
    return {"trial": values}


def plot_estimates(estimates: pd.DataFrame, calibration: pd.DataFrame):
    """Left panels, one per trial: each method's estimate minus the truth of its warehouse per replication (the
    estimate itself without truth), with its 95% interval where there is one (dashed line: no error). Last panel:
    calibration of the CATE of the strategy-1 methods in the first replication, mean true against mean estimated
    effect per quantile group of the estimated CATE (the diagonal is perfect calibration)."""
    import matplotlib.pyplot as plt

    trials = list(dict.fromkeys(estimates["trial"]))
    cal = calibration[calibration["replication"] == 0].dropna(subset=["estimate_mean", "truth_mean"])
    panels = len(trials) + (not cal.empty)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), squeeze=False)
    for ax, trial in zip(axes[0], trials):
        d = estimates[estimates["trial"] == trial]
        has_truth = d["truth"].notna().all()
        methods = list(dict.fromkeys(d["method"]))
        for k, method in enumerate(methods):
            sub = d[d["method"] == method]
            x = k + np.linspace(-0.25, 0.25, len(sub)) if len(sub) > 1 else np.full(len(sub), float(k))
            ax.errorbar(x, sub["estimate"] - sub["truth"].fillna(0.0),
                        yerr=[(sub["estimate"] - sub["lower"]).fillna(0), (sub["upper"] - sub["estimate"]).fillna(0)],
                        fmt="o", markersize=3, color=f"C{k}", elinewidth=0.8)
        ax.axhline(0, color="black", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(methods)), methods, rotation=20, ha="right")
        ax.set(title=f"{trial}: RMST difference", ylabel="estimate - truth" if has_truth else "estimate")
    if not cal.empty:
        ax = axes[0][-1]
        for k, (method, sub) in enumerate(cal.groupby("method", sort=False)):
            ax.plot(sub["estimate_mean"], sub["truth_mean"], "o-", color=f"C{k + 1}", label=method, markersize=3)
        lo, hi = cal[["estimate_mean", "truth_mean"]].min().min(), cal[["estimate_mean", "truth_mean"]].max().max()
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)
        ax.set(title="CATE calibration (first warehouse)", xlabel="mean estimated CATE (years)",
               ylabel="mean true CATE (years)")
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def report(results: Mapping[str, pd.DataFrame], summary: pd.DataFrame, specs: Mapping, settings: Mapping,
           paths: Mapping[str, str | Path]) -> None:
    """Write the summary, the figure, the attrition, Table 1 and estimates tables and the values the paper quotes
    (``results``: :func:`read_results`; ``specs``: trial -> its specification; ``settings``: further values)."""
    specs = {trial: _spec(spec) for trial, spec in specs.items()}
    summary.to_csv(paths["summary"], index=False)
    save_figure(plot_estimates(results["estimates"], results["calibration"]), paths["figure"], source=NOTEBOOK)
    Path(paths["table_attrition"]).write_text(attrition_markdown(results["attrition"]))
    Path(paths["table_one"]).write_text(table_one_markdown(results["table_one"],
                                                           {t: arm_labels(s) for t, s in specs.items()}))
    Path(paths["table_estimates"]).write_text(estimates_markdown(summary, results["estimates"]))
    designs = {t: {"horizon_years": fmt(s.horizon_days / DAYS_PER_YEAR), "grace_days": s.strategies["grace_days"],
                   "treatment": s.strategies["treatment"], "comparator": s.strategies.get("comparator", "never")}
               for t, s in specs.items()}
    values = trial_values(results, summary, settings)
    for trial, design in designs.items():
        values["trial"].setdefault(trial, {}).update(design)
    write_values(paths["values"], values)


def arm_labels(spec) -> tuple[str, str]:
    """Labels of arms 0 and 1 of a specification's Table 1: the comparator and the treatment, or for a grace-period
    design "not started" and "started" (the treatment during follow-up)."""
    s = _spec(spec).strategies
    if s["type"] == "active_comparator":
        return s["comparator"], s["treatment"]
    return f"{s['treatment']} not started", f"{s['treatment']} started"
