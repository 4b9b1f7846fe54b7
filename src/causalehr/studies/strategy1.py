"""Strategy 1 simulation study: censoring-adjusted CATE learners fitted on simulated training cohorts and compared
with the truth on a held-out test cohort (notebooks/simulate.ipynb, estimate.ipynb, evaluate.ipynb).

Shape of every study module: ``run`` (fit, one job), ``summarise`` (performance over replications), ``report``
(the figures, tables and values of the paper, written to the paths of the stage's output contract,
:data:`causalehr.workflow.STAGES`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalehr.registry import COMPETING_ESTIMANDS, make_estimator
from causalehr.simulate import SimulatedCohort, load_cohort, simulate
from causalehr.studies.common import ESTIMAND_LABELS, fmt, save_figure
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/evaluate.ipynb"
HORIZON_KEYS = ("horizon", "horizon_surv")  # config keys of a setting that set the estimands' horizons


def simulator_params(setting: Mapping) -> dict:
    """Keyword arguments of the simulator for one setting of the config: its ``params`` and its horizons."""
    clash = sorted(k for k in HORIZON_KEYS if k in setting and k in setting.get("params", {}))
    if clash:
        raise ValueError(f"{clash} set twice: as keys of the setting and in its params; keep one")
    return {**setting.get("params", {}), **{k: setting[k] for k in HORIZON_KEYS if k in setting}}


def simulate_split(setting: Mapping, n_test: int, seed: int) -> tuple[SimulatedCohort, SimulatedCohort]:
    """A training cohort of ``setting["n"]`` patients and an independent test cohort of ``n_test`` patients, with
    seeds derived from ``seed``."""
    params = simulator_params(setting)
    train = simulate(setting["simulator"], n=setting["n"], seed=job_seed(seed, "train"), **params)
    test = simulate(setting["simulator"], n=n_test, seed=job_seed(seed, "test"), **params)
    return train, test


def horizon_of(cohort: SimulatedCohort, estimand: str) -> float:
    """The horizon of an estimand: the setting's ``horizon`` for the areas (RMST, RMTL), ``horizon_surv`` for the
    probabilities (survival, cumulative incidence)."""
    return cohort.horizon if estimand in ("rmst", "rmtl") else cohort.horizon_surv


# competing-risks estimand -> the all-cause estimand of the naive analysis that censors the competing event, whose
# negated effect it reports: the net risk 1 - S_1(tau) for the CIF, the net time lost tau - RMST_1 for the RMTL
NAIVE = {"cif": "surv", "rmtl": "rmst"}


def _fits(train: SimulatedCohort, estimands: list[str]):
    """(label, estimand, event, sign) of each fit: the estimands as asked and, for each competing-risks estimand,
    its naive counterpart ``<estimand>_naive`` (cause 1 with deaths censored, the all-cause estimand negated)."""
    event = train.data["event"].to_numpy()
    for estimand in estimands:
        yield estimand, estimand, event, 1.0
        if estimand in COMPETING_ESTIMANDS:
            yield f"{estimand}_naive", NAIVE[estimand], (event == 1).astype(np.int8), -1.0


def load_split(directory: str | Path) -> tuple[SimulatedCohort, SimulatedCohort]:
    """The training and test cohorts written by the simulate notebook."""
    directory = Path(directory)
    return load_cohort(directory / "train"), load_cohort(directory / "test")


def run(
    train: SimulatedCohort, test: SimulatedCohort, spec: dict, estimands: list[str], seed: int, n_jobs: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit ``spec`` on ``train`` for each estimand; return the test-set CATE and the ATE with its interval.
    ``n_jobs``: threads of the fit (joblib workers, BLAS and OpenMP threads).

    The CATE table has one row per test patient and estimand (columns ``estimand, patient, estimate, truth``);
    the ATE table one row per estimand (``estimate, lower, upper, truth, fit_seconds``; for method "auto" also
    ``weight_<candidate>``, the weights of its candidates, :attr:`CensoredCATE.weights_`). The true ATE is the
    mean true CATE over the test cohort. A competing-risks estimand ("cif", "rmtl": cause 1, death competing)
    also gives ``<estimand>_naive``: the analysis that treats death as censoring, against the same truth.
    """
    X, X_test = train.data[train.covariates].to_numpy(), test.data[test.covariates].to_numpy()
    cate_rows, ate_rows = [], []
    for label, estimand, event, sign in _fits(train, estimands):
        truth = test.truth[f"cate_{label.removesuffix('_naive')}"].to_numpy()
        estimator = make_estimator(spec, estimand, horizon_of(train, estimand), seed, n_jobs)
        start = time.perf_counter()
        with threadpool_limits(n_jobs):
            estimator.fit(X, train.data["treatment"].to_numpy(), train.data["time"].to_numpy(), event)
            seconds = time.perf_counter() - start
            estimate = sign * estimator.effect(X_test)
        ate, lower, upper = estimator.ate_interval()
        if sign < 0:
            ate, lower, upper = -ate, -upper, -lower
        cate_rows.append(pd.DataFrame({"estimand": label, "patient": np.arange(len(truth)),
                                       "estimate": estimate, "truth": truth}))
        weights = getattr(estimator, "weights_", {})  # method "auto": the weight of each candidate
        ate_rows.append({"estimand": label, "estimate": ate, "lower": lower, "upper": upper,
                         "truth": float(truth.mean()), "fit_seconds": seconds,
                         **{f"{WEIGHT}{name}": w for name, w in weights.items()}})
    return pd.concat(cate_rows, ignore_index=True), pd.DataFrame(ate_rows)


CELL = ["setting", "method", "estimand"]
WEIGHT = "weight_"  # prefix of the ATE table's columns holding the weights of the candidates of method "auto"


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
        linestyle="none", col_wrap=3 if cate["estimand"].nunique() > 3 else None,  # competing risks: 6 panels
    )
    grid.set_axis_labels("Setting", "CATE mean squared error")
    grid.set(yscale="log")  # the settings' MSEs differ by two orders of magnitude
    return grid.figure


def summarise(cate: pd.DataFrame, ate: pd.DataFrame) -> pd.DataFrame:
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


def mse_table(metrics: pd.DataFrame) -> str:
    """Markdown table of the CATE MSE x 100 (Monte Carlo SE): estimand and method in rows, settings in columns."""
    cells = metrics.assign(
        cell=[f"{fmt(100 * m)} ({fmt(100 * s)})" for m, s in zip(metrics["mse"], metrics["mse_mcse"])],
        estimand=metrics["estimand"].map(ESTIMAND_LABELS),
    )
    table = cells.pivot(index=["estimand", "method"], columns="setting", values="cell").fillna("-")
    return table.rename_axis(index=["Estimand", "Method"], columns=None).reset_index().to_markdown(index=False) + "\n"


COMPETING_ROWS = [e for c in COMPETING_ESTIMANDS for e in (c, f"{c}_naive")]


def competing_table(metrics: pd.DataFrame, cate: pd.DataFrame) -> str:
    """Markdown table of the competing-risks estimands and their naive counterparts (death censored) per setting
    and method: true ATE (mean true CATE), ATE bias, coverage of the 95% interval, CATE MSE x 100 (Monte Carlo SE
    in parentheses); one line saying so when the config has no competing-risks setting."""
    rows = metrics[metrics["estimand"].isin(COMPETING_ROWS)]
    if rows.empty:
        return "No competing-risks setting in this configuration.\n"
    truth = cate.groupby(["setting", "estimand"])["truth"].mean()
    rows = rows.assign(order=rows["estimand"].map(COMPETING_ROWS.index)).sort_values(["setting", "method", "order"])
    table = pd.DataFrame({
        "Setting": rows["setting"], "Method": rows["method"], "Estimand": rows["estimand"].map(ESTIMAND_LABELS),
        "True ATE": [fmt(truth[(s, e)]) for s, e in zip(rows["setting"], rows["estimand"])],
        **{name: [f"{fmt(scale * v)} ({fmt(scale * s)})" for v, s in zip(rows[col], rows[f"{col}_mcse"])]
           for name, col, scale in (("ATE bias", "ate_bias", 1), ("ATE coverage", "ate_coverage", 1),
                                    ("CATE MSE x 100", "mse", 100))}})
    return table.to_markdown(index=False) + "\n"


def competing_values(cate: pd.DataFrame) -> dict:
    """Per competing-risks setting, the true ATE (mean true CATE over the test cohorts) of each competing-risks
    estimand (the ATE bias of each analysis, naive included, is in :func:`paper_values`)."""
    truth = cate[cate["estimand"].isin(COMPETING_ESTIMANDS)].groupby(["setting", "estimand"])["truth"].mean()
    out: dict = {}
    for (setting, estimand), value in truth.items():
        out.setdefault(setting, {"truth": {}})["truth"][estimand] = fmt(value)
    return out


def auto_choices(ate: pd.DataFrame) -> tuple[str, dict]:
    """How method "auto" combined its candidates, from the weights recorded per fit (:func:`run`): per method
    whose fits carry weights, setting and estimand, the fits, and per candidate how often it had the largest
    weight (was chosen) with its mean weight; "constant kept" counts the fits where the constant model (no
    heterogeneity) had all the weight. Returns the markdown table (one line saying so when no fit carries
    weights) and the quoted values: per method, the fits, the times each candidate was chosen, "constant kept"
    and the same as a sentence fragment (``chosen_text``)."""
    columns = [c for c in ate.columns if c.startswith(WEIGHT)]
    fits = ate.dropna(subset=columns, how="all") if columns else ate.iloc[:0]
    if fits.empty:
        return "No fit of method auto in this configuration.\n", {}
    rows, values = [], {}
    for method, by_method in fits.groupby("method"):
        used = [c for c in columns if by_method[c].notna().any()]
        names = [c.removeprefix(WEIGHT) for c in used]
        weights = by_method[used].fillna(0.0).to_numpy()
        chosen = pd.Series(np.array(names)[weights.argmax(axis=1)], index=by_method.index)
        kept = (by_method.get(f"{WEIGHT}constant", pd.Series(0.0, index=by_method.index)) == 1.0)
        for (setting, estimand), g in by_method.groupby(["setting", "estimand"]):
            rows.append({"Method": method, "Setting": setting, "Estimand": ESTIMAND_LABELS.get(estimand, estimand),
                         "Fits": len(g), "Constant kept": int(kept[g.index].sum()),
                         **{n: f"{int((chosen[g.index] == n).sum())} ({fmt(g[c].fillna(0.0).mean())})"
                            for n, c in zip(names, used)}})
        counts = {n: int((chosen == n).sum()) for n in names}
        values[method] = {"fits": len(by_method), "chosen": counts, "constant_kept": int(kept.sum()),
                          "chosen_text": ", ".join(f"{n} in {k}" for n, k in sorted(counts.items(),
                                                                                     key=lambda t: -t[1]))}
    return pd.DataFrame(rows).to_markdown(index=False) + "\n", values


def paper_values(metrics: pd.DataFrame) -> dict:
    """The values the manuscript quotes, formatted: CATE MSE x 100, AUTOC, ATE coverage and ATE bias (with its
    Monte Carlo SE) per setting/method/estimand, and the best method (smallest MSE) per setting and estimand."""
    nested: dict = {"replications": int(metrics["replications"].min()), "mse": {}, "autoc": {}, "coverage": {},
                    "best": {}, "ate_bias": {}, "ate_bias_mcse": {}}
    for row in metrics.itertuples():
        for key, value in (("mse", 100 * row.mse), ("autoc", row.autoc), ("coverage", row.ate_coverage),
                           ("ate_bias", row.ate_bias), ("ate_bias_mcse", row.ate_bias_mcse)):
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


def report(metrics: pd.DataFrame, cate: pd.DataFrame, ate: pd.DataFrame, paths: Mapping[str, str | Path]) -> dict:
    """Write the metrics, the MSE figure and tables (all estimands; competing risks with the naive analysis; the
    choices of method "auto") to the evaluate stage's ``paths``; return the quoted values."""
    metrics.to_parquet(paths["metrics"], index=False)
    save_figure(plot_mse(cate), paths["figure"], source=NOTEBOOK)
    Path(paths["table"]).write_text(mse_table(metrics))
    Path(paths["competing_table"]).write_text(competing_table(metrics, cate))
    values = paper_values(metrics)
    values["evaluate"]["competing"] = competing_values(cate)
    auto_table, values["evaluate"]["choices"] = auto_choices(ate)
    Path(paths["auto_table"]).write_text(auto_table)
    return values
