"""One simulation experiment: estimators built from the config, fitted on a training cohort, compared with
the truth on a test cohort. The notebooks of the workflow call these functions."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV

from causalehr.simulate import SimulatedCohort, load_cohort

# Names usable in the config's method specifications -> factories of fresh estimators.
SURVIVAL_MODELS = {
    "discrete-time": lambda seed: _nuisance().DiscreteTimeHazard(random_state=seed),
    "discrete-time-logistic": lambda seed: _nuisance().DiscreteTimeHazard(
        classifier=LogisticRegression(max_iter=1000), random_state=seed
    ),
    "cox": lambda seed: _nuisance().LifelinesCoxSurvival(penalizer=0.01),
    "survivalboost": lambda seed: _nuisance().SurvivalBoostSurvival(random_state=seed),
    "kaplan-meier": lambda seed: _nuisance().MarginalKaplanMeier(),
}
CLASSIFIERS = {
    "logistic": lambda seed: LogisticRegression(max_iter=1000),
    "hgb": lambda seed: HistGradientBoostingClassifier(random_state=seed),
}
REGRESSORS = {
    "hgb": lambda seed: HistGradientBoostingRegressor(max_depth=3, learning_rate=0.05, random_state=seed),
    "forest": lambda seed: RandomForestRegressor(n_estimators=300, min_samples_leaf=20, random_state=seed),
    "ridge": lambda seed: RidgeCV(),
}
MODEL_KEYS = {
    "event_model": SURVIVAL_MODELS,
    "censoring_model": SURVIVAL_MODELS,
    "propensity_model": CLASSIFIERS,
    "cate_model": REGRESSORS,
}


def _nuisance():
    import causalehr.nuisance as nuisance

    return nuisance


def make_estimator(spec: dict, estimand: str, horizon: float, random_state: int):
    """A :class:`causalehr.cate.CensoredCATE` from a config specification.

    ``spec`` holds ``method`` and optionally model names (``event_model``, ``censoring_model``,
    ``propensity_model``, ``cate_model``; see the dictionaries of this module) and other keyword arguments of
    CensoredCATE (e.g. ``n_folds``). An unknown model name is an error listing the known ones.
    """
    from causalehr.cate import CensoredCATE

    kwargs = dict(spec)
    for key, registry in MODEL_KEYS.items():
        if key in kwargs:
            name = kwargs[key]
            if name not in registry:
                raise ValueError(f"unknown {key} {name!r}; known: {sorted(registry)}")
            kwargs[key] = registry[name](random_state)
    return CensoredCATE(estimand=estimand, horizon=horizon, random_state=random_state, **kwargs)


def horizon_of(cohort: SimulatedCohort, estimand: str) -> float:
    return cohort.horizon if estimand == "rmst" else cohort.horizon_surv


def load_split(directory: str | Path) -> tuple[SimulatedCohort, SimulatedCohort]:
    """The training and test cohorts written by the simulate notebook."""
    directory = Path(directory)
    return load_cohort(directory / "train"), load_cohort(directory / "test")


def run_method(
    train: SimulatedCohort, test: SimulatedCohort, spec: dict, estimands: list[str], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit ``spec`` on ``train`` for each estimand; return the test-set CATE and the ATE with its interval.

    The CATE table has one row per test patient and estimand (columns ``estimand, patient, estimate, truth``);
    the ATE table one row per estimand (``estimate, lower, upper, truth, fit_seconds``). The true ATE is the
    mean true CATE over the test cohort.
    """
    X, X_test = train.data[train.covariates].to_numpy(), test.data[test.covariates].to_numpy()
    cate_rows, ate_rows = [], []
    for estimand in estimands:
        truth = test.truth[f"cate_{estimand}"].to_numpy()
        estimator = make_estimator(spec, estimand, horizon_of(train, estimand), seed)
        start = time.perf_counter()
        estimator.fit(X, train.data["treatment"].to_numpy(), train.data["time"].to_numpy(),
                      train.data["event"].to_numpy())
        seconds = time.perf_counter() - start
        estimate = estimator.effect(X_test)
        ate, lower, upper = estimator.ate_interval()
        cate_rows.append(pd.DataFrame({"estimand": estimand, "patient": np.arange(len(truth)),
                                       "estimate": estimate, "truth": truth}))
        ate_rows.append({"estimand": estimand, "estimate": ate, "lower": lower, "upper": upper,
                         "truth": float(truth.mean()), "fit_seconds": seconds})
    return pd.concat(cate_rows, ignore_index=True), pd.DataFrame(ate_rows)


CELL = ["setting", "method", "estimand"]


def accuracy_by_replication(cate: pd.DataFrame) -> pd.DataFrame:
    """Per replication, on the test cohort: CATE accuracy (:func:`causalehr.metrics.cate_accuracy`), the regret of
    treating when the estimated benefit is positive against the oracle policy, and the AUTOC of the estimate as a
    prioritisation rule, computed with the true CATE (:func:`causalehr.metrics.oracle_rate`)."""
    from causalehr.metrics import cate_accuracy, oracle_rate, policy_regret

    keys = CELL + ["replication"]
    return pd.DataFrame(
        [{**dict(zip(keys, key)), **cate_accuracy(g["estimate"], g["truth"]),
          "regret": policy_regret(g["estimate"], g["truth"])["regret"],
          "autoc": oracle_rate(g["estimate"], g["truth"]).estimate}
         for key, g in cate.groupby(keys)]
    )


def plot_mse(cate: pd.DataFrame):
    """Mean CATE MSE per method and setting with Monte Carlo standard-error bars, one panel per estimand."""
    import seaborn as sns

    several_methods = cate["method"].nunique() > 1  # seaborn cannot dodge a single hue level
    grid = sns.catplot(
        data=accuracy_by_replication(cate), x="setting", y="mse", hue="method", col="estimand", kind="point",
        errorbar="se", dodge=0.3 if several_methods else False, sharey=False, height=3.2, aspect=1.2,
        linestyle="none",
    )
    grid.set_axis_labels("Setting", "CATE mean squared error")
    grid.set(yscale="log")  # the settings' MSEs differ by two orders of magnitude
    return grid.figure


def evaluate(cate: pd.DataFrame, ate: pd.DataFrame) -> pd.DataFrame:
    """Per (setting, method, estimand), over replications: the means of the per-replication CATE metrics
    (:func:`accuracy_by_replication`) with their Monte Carlo SE (``<metric>_mcse``; the Spearman correlation is
    averaged over the replications where it is defined), the ATE's performance
    (:func:`causalehr.metrics.summarize_replications`, prefixed ``ate_``) and the mean fit time."""
    from causalehr.metrics import summarize_metrics, summarize_replications

    per_rep = accuracy_by_replication(cate)
    cate_perf = summarize_metrics(per_rep, by=CELL, columns=["mse", "bias", "regret", "autoc"]).set_index(CELL)
    spearman = per_rep.groupby(CELL)["spearman"].mean()
    ate_perf = summarize_replications(ate, by=CELL).set_index(CELL).drop(columns="n_sim").add_prefix("ate_")
    seconds = ate.groupby(CELL)["fit_seconds"].mean()
    return (cate_perf.join(spearman).join(ate_perf).join(seconds).reset_index()
            .rename(columns={"n_sim": "replications"}))


def fmt(value: float) -> str:
    """A number as the paper prints it: three significant digits."""
    return f"{value:.3g}"


ESTIMAND_LABELS = {"rmst": "RMST", "surv": "Survival"}


def mse_table(metrics: pd.DataFrame) -> str:
    """Markdown table of the CATE MSE x 100 (Monte Carlo SE): estimand and method in rows, settings in columns."""
    cells = metrics.assign(
        cell=[f"{fmt(100 * m)} ({fmt(100 * s)})" for m, s in zip(metrics["mse"], metrics["mse_mcse"])],
        estimand=metrics["estimand"].map(ESTIMAND_LABELS),
    )
    table = cells.pivot(index=["estimand", "method"], columns="setting", values="cell")
    return table.rename_axis(index=["Estimand", "Method"], columns=None).reset_index().to_markdown(index=False) + "\n"


def paper_values(metrics: pd.DataFrame) -> dict:
    """The values the manuscript quotes, formatted: CATE MSE x 100, AUTOC and ATE coverage per
    setting/method/estimand, and the best method (smallest MSE) per setting and estimand."""
    nested: dict = {"replications": int(metrics["replications"].min()), "mse": {}, "autoc": {}, "coverage": {},
                    "best": {}}
    for row in metrics.itertuples():
        for key, value in (("mse", 100 * row.mse), ("autoc", row.autoc), ("coverage", row.ate_coverage)):
            nested[key].setdefault(row.setting, {}).setdefault(row.method, {})[row.estimand] = fmt(value)
    for (setting, estimand), group in metrics.groupby(["setting", "estimand"]):
        best = group.loc[group["mse"].idxmin()]
        nested["best"].setdefault(setting, {})[estimand] = {"method": best["method"], "mse": fmt(100 * best["mse"])}
    nested["summary"] = {
        estimand: {
            "best": _by_value({s: g.loc[g["mse"].idxmin(), "method"] for s, g in sub.groupby("setting")}),
            "ranking": {s: " < ".join(g.sort_values("mse")["method"]) for s, g in sub.groupby("setting")},
        }
        for estimand, sub in metrics.groupby("estimand")
    }
    return {"evaluate": nested}


def _by_value(mapping: dict) -> str:
    """{"csf1": "a", "csf2": "b", "csf3": "a"} as "a (csf1, csf3), b (csf2)": keys grouped by their value."""
    groups: dict = {}
    for key, value in mapping.items():
        groups.setdefault(value, []).append(key)
    return ", ".join(f"{value} ({', '.join(keys)})" for value, keys in groups.items())


REFERENCE_METHODS = ("CSF (grf)", "IPCW forest (grf)")


def reference_comparison(mse: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Head-to-head with grf's causal survival forest (CSF) on identical cohorts (benchmarks/bench_strategy1.py
    csf --grf): per setting and estimand, the mean MSE x 100 (Monte Carlo SE) of every method, and the best
    method of the compendium minus CSF, paired by training cohort (mean and SE of the per-cohort differences).
    Cohorts on which a method gave no estimate (missing MSE) are left out for all methods (``incomplete``).

    ``mse`` has one row per setting, estimand, method and replication (column ``rep``) with ``mse_x100``.
    Returns the table (estimand and method in rows, settings in columns, closing with the best method of the
    compendium and its paired difference to CSF) and the values the manuscript quotes; a cell is "better" or
    "worse" when the paired difference is more than two standard errors from zero, "level" otherwise."""
    missing = sorted({"setting", "estimand", "method", "rep", "mse_x100"} - set(mse.columns))
    if missing:
        raise ValueError(f"the reference MSE table lacks the column(s) {missing}")
    absent = [m for m in REFERENCE_METHODS if m not in set(mse["method"])]
    if absent:
        raise ValueError(f"the reference MSE table has no rows of method(s) {absent}: run "
                         "benchmarks/bench_strategy1.py csf with --grf")
    wide = mse.pivot_table(index=["setting", "estimand", "rep"], columns="method", values="mse_x100", dropna=False)
    complete = wide.notna().all(axis=1)  # cohorts on which every method gave an estimate
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
            cell = f"{fmt(mean.loc[key, method])} ({fmt(mcse.loc[key, method])})"
            table.setdefault((estimand, method), {})[setting] = cell
        best = mean.loc[key, ours].idxmin()
        d, se = diff.loc[key, best], diff_se.loc[key, best]
        table.setdefault((estimand, "best of the compendium"), {})[setting] = best
        table.setdefault((estimand, "best - CSF (paired)"), {})[setting] = f"{d:+.3g} ({fmt(se)})"
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
    frame = pd.DataFrame([{"Estimand": ESTIMAND_LABELS[e], "Method": m, **cells} for (e, m), cells in table.items()])
    cells = [(s, e, v) for s, by_estimand in values["settings"].items() for e, v in by_estimand.items()]
    values["not_worse"] = sum(v["not_worse"] for *_, v in cells)
    values["cells"] = len(cells)
    for verdict in ("better", "level", "worse"):
        named = [f"{s} {ESTIMAND_LABELS[e]}" for s, e, v in cells if v["verdict"] == verdict]
        values[verdict], values[f"n_{verdict}"] = ", ".join(named) or "none", len(named)
    return frame, {"reference": values}


def describe_setting(cohort: SimulatedCohort) -> dict:
    """One row describing a simulated cohort: size, treated share, share censored before the horizon, horizon, and
    the true effects (ATE and sd of the CATE for the RMST difference, ATE for the survival difference)."""
    data, truth = cohort.data, cohort.truth
    return {
        "Setting": cohort.setting,
        "n": len(data),
        "Treated": data["treatment"].mean(),
        "Censored": ((data["event"] == 0) & (data["time"] < cohort.horizon)).mean(),
        "Horizon": cohort.horizon,
        "ATE (RMST)": truth["cate_rmst"].mean(),
        "SD CATE (RMST)": truth["cate_rmst"].std(),
        "ATE (survival)": truth["cate_surv"].mean(),
    }


def plot_settings(cohorts: list[SimulatedCohort]):
    """Per setting: Kaplan-Meier curves by arm (observed data) up to the horizon, and the true CATE's distribution."""
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter

    # at least two columns wide, so that one setting does not give a figure taller than the page
    fig, axes = plt.subplots(2, len(cohorts), figsize=(3.2 * max(len(cohorts), 2), 5.6), squeeze=False)
    for (km_ax, cate_ax), cohort in zip(axes.T, cohorts):
        for arm, label in ((0, "control"), (1, "treated")):
            rows = cohort.data["treatment"] == arm
            KaplanMeierFitter(label=label).fit(cohort.data.loc[rows, "time"], cohort.data.loc[rows, "event"]).plot(
                ax=km_ax, ci_show=False
            )
        km_ax.set(title=cohort.setting, xlim=(0, cohort.horizon), ylim=(0, 1), xlabel="time", ylabel="survival")
        cate_ax.hist(cohort.truth["cate_rmst"], bins=40, color="grey")
        cate_ax.set(xlabel="true CATE (RMST difference)", ylabel="patients")
    fig.tight_layout()
    return fig
