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


def mse_table(metrics: pd.DataFrame, estimand: str) -> str:
    """Markdown table of the CATE MSE (Monte Carlo SE) for one estimand: settings in rows, methods in columns."""
    sub = metrics[metrics["estimand"] == estimand]
    cells = sub.assign(cell=[f"{fmt(m)} ({fmt(s)})" for m, s in zip(sub["mse"], sub["mse_mcse"])])
    table = cells.pivot(index="setting", columns="method", values="cell")
    return table.rename_axis(index="Setting", columns=None).to_markdown() + "\n"


def paper_values(metrics: pd.DataFrame) -> dict:
    """The values the manuscript quotes, formatted: MSE and ATE coverage per setting/method/estimand, and the
    best method (smallest MSE) per setting and estimand."""
    nested: dict = {"replications": int(metrics["replications"].min()), "mse": {}, "coverage": {}, "best": {}}
    for row in metrics.itertuples():
        nested["mse"].setdefault(row.setting, {}).setdefault(row.method, {})[row.estimand] = fmt(row.mse)
        nested["coverage"].setdefault(row.setting, {}).setdefault(row.method, {})[row.estimand] = fmt(
            row.ate_coverage
        )
    for (setting, estimand), group in metrics.groupby(["setting", "estimand"]):
        best = group.loc[group["mse"].idxmin()]
        nested["best"].setdefault(setting, {})[estimand] = {"method": best["method"], "mse": fmt(best["mse"])}
    return {"evaluate": nested}


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

    fig, axes = plt.subplots(2, len(cohorts), figsize=(3.2 * len(cohorts), 5.6), squeeze=False)
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
