"""Which treatment for whom (issue 18): several drug classes, an interpretable treatment rule, the markers of an
effect and intervals for one patient, against the truth of simulators. The notebook notebooks/multiarm.ipynb calls
:func:`run` (part "replication", one workflow job per replication), :func:`summarise` and :func:`report` (part
"report").

- Several treatments: ``ehr_diabetes(drug_classes=True)`` (four classes, per-class truth and optimal class) analysed
  with :class:`causalehr.cate.MultiArmCATE` (per-arm nuisances, multinomial propensity, doubly robust arm scores;
  the DR-learner of each arm against the reference, as econml's multi-valued DRLearner). Per contrast: the ATE with
  its 95% interval against the sample truth and the CATE's mean squared error against the per-patient truth.
- Rule: :class:`causalehr.cate.PolicyRule` (econml's PolicyTree on the arm scores, Athey & Wager 2021), valued on
  held-out folds against treating all with one class and against the observed practice; the truth of each policy is
  the mean true RMST of the arms it assigns, the rule's regret is against the true optimal class.
- Intervals for one patient: :class:`causalehr.cate.conformal.ConformalITE` (Candes, Lei & Ren 2023 with Lei &
  Candes 2021) on :func:`conformal_cohort` (binary treatment, censoring time known for everyone, both potential
  times drawn for new patients): the share of new patients whose individual effect lies in the interval, and the
  interval's width, at each level.
- Summary: bias, coverage and widths with Monte Carlo SEs (Morris, White & Crowther 2019); the report refits the
  first replication to draw its rule and give the markers table (:func:`causalehr.metrics.markers_table`) of each
  class against the reference.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalehr.cate import MultiArmCATE, learn_rule
from causalehr.cate.conformal import ConformalITE
from causalehr.metrics import markers_table, rule_regret
from causalehr.nuisance import PositivityWarning
from causalehr.registry import MODEL_KEYS
from causalehr.simulate import simulate
from causalehr.simulate.ehr import DRUG_CLASSES
from causalehr.studies.ccw import summarise as summarise_replications
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/multiarm.ipynb"
CONFORMAL_HORIZON = 1.5


def conformal_cohort(n: int, rng: np.random.Generator, shape: float = 1.0):
    """Covariates X (three U(0, 1)), treatment A with P(A = 1 | x) = 0.2 + 0.6 x1, both potential times (Weibull
    proportional hazards of shape ``shape``, cumulative hazard t^shape exp(0.8 x2), times exp(-0.7) by treatment
    when x3 > 0.5) and the censoring time C = U(0.5, 4) exp(-0.5 x2), known for everyone and depending on x:
    (X, a, t0, t1, c)."""
    X = rng.uniform(size=(n, 3))
    a = rng.binomial(1, 0.2 + 0.6 * X[:, 0])
    rate0 = np.exp(0.8 * X[:, 1])
    rate1 = rate0 * np.exp(-0.7 * (X[:, 2] > 0.5))
    t0, t1 = ((rng.standard_exponential(n) / rate) ** (1 / shape) for rate in (rate0, rate1))
    c = rng.uniform(0.5, 4, n) * np.exp(-0.5 * X[:, 1])
    return X, a, t0, t1, c


def conformal_coverage(n: int, n_test: int, levels: Sequence[float], seed: int, shape: float = 1.0) -> list[dict]:
    """One replication of the individual intervals: ConformalITE fitted on ``n`` patients of
    :func:`conformal_cohort`, then for ``n_test`` new patients and each level the share whose individual effect
    min(T(1), tau) - min(T(0), tau) lies in the interval, the share whose min(T(a), tau) lies in arm a's interval
    (level 1 - alpha / 2), and the mean width of the effect interval."""
    rng = np.random.default_rng(seed)
    X, a, t0, t1, c = conformal_cohort(n, rng, shape)
    t = np.where(a == 1, t1, t0)
    model = ConformalITE(horizon=CONFORMAL_HORIZON, random_state=seed).fit(X, a, np.minimum(t, c),
                                                                           (t <= c).astype(int), c)
    Xt, _, s0, s1, _ = conformal_cohort(n_test, rng, shape)
    y0, y1 = np.minimum(s0, CONFORMAL_HORIZON), np.minimum(s1, CONFORMAL_HORIZON)
    rows = []
    for level in levels:
        iv = model.predict_interval(Xt, 1 - level)
        ite = y1 - y0
        rows.append({"level": level,
                     "effect_coverage": np.mean((iv["effect_lower"] <= ite) & (ite <= iv["effect_upper"])),
                     "effect_width": np.mean(iv["effect_upper"] - iv["effect_lower"]),
                     "arm0_coverage": np.mean((iv["lower0"] <= y0) & (y0 <= iv["upper0"])),
                     "arm1_coverage": np.mean((iv["lower1"] <= y1) & (y1 <= iv["upper1"]))})
    return rows


def make_multiarm(estimator: Mapping, horizon: float, reference, random_state: int) -> MultiArmCATE:
    """A :class:`MultiArmCATE` from a specification (``method``, model names of the registry, ``n_folds``)."""
    kwargs = {key: MODEL_KEYS[key][value](random_state) if key in MODEL_KEYS else value
              for key, value in estimator.items()}
    return MultiArmCATE(horizon=horizon, reference=reference, random_state=random_state, **kwargs)


def analysis(*, n: int, seed: int, replication: int, simulation: Mapping, estimator: Mapping, reference: str,
             horizon: float, max_depth: int, min_samples_leaf: int):
    """One simulated cohort and its analysis: (cohort, covariates as a DataFrame, fitted MultiArmCATE, PolicyRule)."""
    cohort = simulate("ehr_diabetes", n, seed=job_seed(seed, "multiarm", replication), drug_classes=True,
                      horizon=horizon, **simulation)
    d = cohort.data
    X = d[cohort.covariates].astype(float)
    if reference not in DRUG_CLASSES:
        raise ValueError(f"multiarm.reference: {reference!r} is not a drug class; the classes are "
                         f"{list(DRUG_CLASSES)}")
    model_seed = job_seed(seed, "multiarm", replication, "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)  # reported: arm_positivity_
        est = make_multiarm(estimator, horizon, reference, model_seed).fit(X.to_numpy(), d["drug_class"], d["time"],
                                                                           d["event"])
    rule = learn_rule(est, X.to_numpy(), max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                      random_state=model_seed)
    return cohort, X, est, rule


def run(*, n: int, seed: int, replication: int = 0, simulation: Mapping, estimator: Mapping, reference: str = "dpp4",
        horizon: float = 3.0, max_depth: int = 2, min_samples_leaf: int = 50, conformal: Mapping) -> dict:
    """One replication (module docstring): {"contrasts": one row per pair of classes (estimate, lower, upper,
    truth, cate_mse), "policies": one row per policy and measure ("value" of the policy, "gain" of the rule over
    it; estimate, lower, upper, truth; the rule's row also its true regret, oracle value and agreement, the SE of
    its value and the largest inverse propensity among the patients whose own arm is the one assigned),
    "conformal": one row per conformal replication (``conformal["replications"]`` of ``conformal["n"]`` patients,
    ``conformal["n_test"]`` new ones) and level}. Aggregates only."""
    start = time.perf_counter()
    with threadpool_limits(1):  # many small fits: threaded BLAS/OpenMP only compete for a shared machine's cores
        cohort, X, est, rule = analysis(n=n, seed=seed, replication=replication, simulation=simulation,
                                        estimator=estimator, reference=reference, horizon=horizon,
                                        max_depth=max_depth, min_samples_leaf=min_samples_leaf)
        seconds = time.perf_counter() - start
        arms = list(est.arms_)
        mu = cohort.truth[[f"mu_rmst_{a}" for a in arms]].to_numpy()
        effects = est.effects(X.to_numpy())
        contrasts = []
        for r in est.ate_table().itertuples():
            j, i = arms.index(r.arm), arms.index(r.other)
            true_cate = mu[:, j] - mu[:, i]
            contrasts.append({"replication": replication, "contrast": f"{r.arm} - {r.other}", "estimate": r.estimate,
                              "lower": r.lower, "upper": r.upper, "truth": float(true_cate.mean()),
                              "cate_mse": float(np.mean((effects[:, j] - effects[:, i] - true_cate) ** 2)),
                              "seconds": seconds})
        observed = np.searchsorted(est.arms_, cohort.data["drug_class"].to_numpy())
        truths = {"rule": mu[np.arange(len(mu)), rule.held_out_arm_].mean(),
                  **{f"all {a}": mu[:, j].mean() for j, a in enumerate(arms)},
                  "observed practice": mu[np.arange(len(mu)), observed].mean()}
        regret = rule_regret(rule.held_out_arm_, mu)
        policies = []
        for r in rule.values_.itertuples():
            policies.append({"replication": replication, "policy": r.policy, "measure": "value", "estimate": r.value,
                             "lower": r.lower, "upper": r.upper, "truth": truths[r.policy]})
            if r.policy != "rule":
                policies.append({"replication": replication, "policy": r.policy, "measure": "gain",
                                 "estimate": r.rule_gain, "lower": r.rule_gain_lower, "upper": r.rule_gain_upper,
                                 "truth": truths["rule"] - truths[r.policy]})
        own = observed == rule.held_out_arm_  # patients whose score of the assigned arm carries an inverse weight
        e = np.clip(est.nuisances_["propensity"][np.arange(len(observed)), observed], 1e-3, 1)
        policies[0].update(regret=regret["regret"], oracle_value=regret["oracle_value"],
                           agreement=regret["agreement"], se=float(rule.values_["se"].iloc[0]),
                           max_weight=float((1 / e[own]).max()))
        conformal_rows = [{"replication": replication, "conformal_rep": k, **row}
                          for k in range(conformal["replications"])
                          for row in conformal_coverage(conformal["n"], conformal["n_test"], conformal["levels"],
                                                        job_seed(seed, "conformal", replication, k))]
    return {"contrasts": pd.DataFrame(contrasts), "policies": pd.DataFrame(policies),
            "conformal": pd.DataFrame(conformal_rows)}


def _mean_mcse(frame: pd.DataFrame, by: str | list[str], columns: Sequence[str]) -> pd.DataFrame:
    """Mean and Monte Carlo SE (sd / sqrt(count)) of ``columns`` per group of ``by``."""
    g = frame.groupby(by, sort=False)[list(columns)]
    mcse = g.std(ddof=1).div(np.sqrt(g.count()))
    return g.mean().join(mcse, rsuffix="_mcse").join(g.size().rename("replications")).reset_index()


def summarise(contrasts: pd.DataFrame, policies: pd.DataFrame, conformal: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Over the replications, with Monte Carlo SEs: per contrast the bias, empirical SE, RMSE, coverage and width of
    the ATE's interval and the mean CATE MSE ("contrasts"); per policy and measure the same for the held-out value
    and the rule's gain, and for the rule its mean true regret, oracle value and agreement and the shares of
    replications whose value interval lies wholly above (``miss_above``: the estimate too high) or below the truth
    ("policies", "regret");
    per level the mean coverage of the individual-effect and arm intervals and the effect interval's width
    ("conformal")."""
    by = ("contrast", "estimand")  # grouped by two keys, as the shared summary expects (all RMST)
    out = summarise_replications(contrasts.assign(estimand="rmst"), by=by)
    cate = _mean_mcse(contrasts, "contrast", ["cate_mse"]).set_index("contrast")
    out = out.join(cate[["cate_mse", "cate_mse_mcse"]], on="contrast").drop(columns="estimand")
    rule = policies[(policies["policy"] == "rule") & (policies["measure"] == "value")]
    rule = rule.assign(all="rule", miss_above=(rule["truth"] < rule["lower"]).astype(float),
                       miss_below=(rule["truth"] > rule["upper"]).astype(float))
    return {"contrasts": out, "policies": summarise_replications(policies, by=("policy", "measure")),
            "regret": _mean_mcse(rule, "all", ["regret", "oracle_value", "agreement", "miss_above", "miss_below"]),
            "conformal": _mean_mcse(conformal, "level", ["effect_coverage", "effect_width", "arm0_coverage",
                                                         "arm1_coverage"])}


def _cell(row, measure) -> str:
    value = row[measure]
    return "-" if pd.isna(value) else f"{fmt(value)} ({fmt(row[measure + '_mcse'])})"


def contrasts_table(summary: pd.DataFrame) -> str:
    """Markdown: per contrast the mean truth, bias, coverage of the 95% interval, width and CATE MSE (MCSE)."""
    table = pd.DataFrame({"Contrast": summary["contrast"], "Truth": summary["truth"].map(fmt),
                          **{name: [_cell(r, m) for _, r in summary.iterrows()]
                             for name, m in (("Bias", "bias"), ("Coverage", "coverage"), ("Width", "width"),
                                             ("CATE MSE", "cate_mse"))}})
    return table.to_markdown(index=False) + "\n"


def policies_table(summary: pd.DataFrame) -> str:
    """Markdown: per policy the mean true value, the bias and coverage of its held-out value, and the rule's true
    gain over it with the coverage of the gain's interval (MCSE)."""
    value = summary[summary["measure"] == "value"].set_index("policy")
    gain = summary[summary["measure"] == "gain"].set_index("policy").reindex(value.index)
    table = pd.DataFrame({"Policy": value.index, "True value": value["truth"].map(fmt),
                          "Bias": [_cell(r, "bias") for _, r in value.iterrows()],
                          "Coverage": [_cell(r, "coverage") for _, r in value.iterrows()],
                          "Rule's true gain": [("-" if pd.isna(t) else fmt(t)) for t in gain["truth"]],
                          "Gain coverage": [_cell(r, "coverage") for _, r in gain.iterrows()]})
    return table.to_markdown(index=False) + "\n"


def conformal_table(summary: pd.DataFrame) -> str:
    """Markdown: per nominal level the coverage of the individual-effect interval, its mean width and the coverage
    of each arm's interval (nominal 1 - alpha / 2), MCSE in parentheses."""
    table = pd.DataFrame({"Level": summary["level"].map(fmt),
                          **{name: [_cell(r, m) for _, r in summary.iterrows()]
                             for name, m in (("Effect coverage", "effect_coverage"), ("Width", "effect_width"),
                                             ("Untreated arm coverage", "arm0_coverage"),
                                             ("Treated arm coverage", "arm1_coverage"))}})
    return table.to_markdown(index=False) + "\n"


def markers(X: pd.DataFrame, est: MultiArmCATE, *, min_cell_size: int = 10, random_state=None) -> pd.DataFrame:
    """The markers table (:func:`causalehr.metrics.markers_table`) of each arm against the reference, with a column
    ``contrast``."""
    ref = est.arms_[est.reference_code_]
    return pd.concat([markers_table(X, est.contrast_scores(a), min_cell_size=min_cell_size,
                                    random_state=random_state).assign(contrast=f"{a} - {ref}")
                      for a in est.arms_ if a != ref], ignore_index=True)


def markers_markdown(table: pd.DataFrame, n_importance: int = 3) -> str:
    """Markdown: per contrast the ``n_importance`` most important covariates (heterogeneity importance), their best
    linear projection coefficient (per SD) with its interval, and the subgroup effects of the top markers."""
    rows = []
    for contrast, g in table.groupby("contrast", sort=False):
        importance = g[g["kind"] == "importance"].nlargest(n_importance, "estimate")
        blp = g[g["kind"] == "projection"].set_index("marker")
        for r in importance.itertuples():
            b = blp.loc[r.marker] if r.marker in blp.index else None
            rows.append({"Contrast": contrast, "Marker": r.marker, "Importance": fmt(r.estimate),
                         "Projection (per SD)": "-" if b is None else
                         f"{fmt(b['estimate'])} ({fmt(b['lower'])} to {fmt(b['upper'])})",
                         "Subgroup effects": "; ".join(f"{s.group}: {fmt(s.estimate)} (n = {s.n})"
                                                       for s in g[(g["kind"] == "subgroup")
                                                                  & (g["marker"] == r.marker)].itertuples())})
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def plot_rule(rule, feature_names: Sequence[str]):
    """The learned rule drawn as a tree (econml's PolicyTree.plot): the splits, the patients of each node, its mean
    score gain of each class over the first (``value``) and, in each leaf, the class assigned."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2 * 2 ** rule.max_depth, 1.9 * (rule.max_depth + 1)))
    rule.tree_.plot(ax=ax, feature_names=list(feature_names), treatment_names=[str(a) for a in rule.arms_],
                    fontsize=8)
    ax.set_title("")  # econml's title reads the first arm as "no treatment"; the caption says what the nodes hold
    return fig


def _key(name: str) -> str:
    return name.replace(" - ", "_vs_").replace(" ", "_").replace("-", "_")


def multiarm_values(summary: Mapping[str, pd.DataFrame], example: Mapping, settings: Mapping) -> dict:
    """The values the paper quotes, under ``multiarm`` (3 significant digits): ``settings`` as given; per contrast
    the truth, bias, coverage and CATE MSE (keys like ``sglt2_vs_dpp4``); per policy (``rule``, ``all_<class>``,
    ``observed_practice``) the true value, bias and coverage of its value and of the rule's gain; the rule's regret,
    oracle value and agreement; per level (``l90``, ``l95``) the conformal coverage and width; the example analysis
    (``example``: its rule's value with interval, gains, first split)."""
    values: dict = {**settings}
    c = summary["contrasts"]
    values["replications"] = int(c["n_sim"].iloc[0])
    for r in c.itertuples():
        values.setdefault("contrasts", {})[_key(r.contrast)] = {
            k: fmt(getattr(r, k)) for k in ("truth", "bias", "bias_mcse", "coverage", "coverage_mcse",
                                            "cate_mse", "cate_mse_mcse")}
    for r in summary["policies"].itertuples():
        values.setdefault("policies", {}).setdefault(_key(r.policy), {})[r.measure] = {
            k: fmt(getattr(r, k)) for k in ("truth", "bias", "bias_mcse", "coverage", "coverage_mcse")}
    rule = summary["regret"].iloc[0]
    values["rule"] = {k: fmt(rule[k]) for k in ("regret", "regret_mcse", "oracle_value", "oracle_value_mcse",
                                                "agreement", "agreement_mcse", "miss_above", "miss_below")}
    conformal = summary["conformal"]
    values["conformal"] = {f"l{round(100 * r.level)}": {k: fmt(getattr(r, k)) for k in (
        "effect_coverage", "effect_coverage_mcse", "effect_width", "effect_width_mcse", "arm0_coverage",
        "arm1_coverage")} for r in conformal.itertuples()}
    values["conformal"]["replications"] = int(conformal["replications"].iloc[0])
    values["example"] = dict(example)
    return {"multiarm": values}


def example_values(rule, est, X: pd.DataFrame, truth_mu: np.ndarray) -> dict:
    """The example analysis's rule in numbers: its held-out value with interval, its gain over each policy with
    interval, its true value and regret, and its leaves."""
    v = rule.values_.set_index("policy")
    out = {"rule": {k: fmt(v.loc["rule", k]) for k in ("value", "lower", "upper")}}
    for policy in v.index.drop("rule"):
        out[_key(policy)] = {k: fmt(v.loc[policy, c]) for k, c in (("value", "value"), ("gain", "rule_gain"),
                                                                    ("gain_lower", "rule_gain_lower"),
                                                                    ("gain_upper", "rule_gain_upper"))}
    true = rule_regret(rule.held_out_arm_, truth_mu)
    out["true_value"], out["regret"] = fmt(true["value"]), fmt(true["regret"])
    leaves = rule.describe(X.columns)
    out["leaves"] = "; ".join(f"{r.conditions}: {r.arm}" for r in leaves.itertuples())
    out["n"] = f"{len(X):,}"
    return out


def report(contrasts: pd.DataFrame, policies: pd.DataFrame, conformal: pd.DataFrame, *, example: Mapping,
           settings: Mapping, paths: Mapping[str, str | Path], min_cell_size: int = 10) -> dict:
    """Summarise the replications, refit the first one (``example``: the keyword arguments of :func:`analysis`)
    to draw its rule and give its markers, and write the summary, figure, tables and values to ``paths``; returns
    the summary."""
    summary = summarise(contrasts, policies, conformal)
    pd.concat([frame.assign(table=name) for name, frame in summary.items()], ignore_index=True).to_csv(
        paths["summary"], index=False)
    with threadpool_limits(1):
        cohort, X, est, rule = analysis(**example)
        table = markers(X, est, min_cell_size=min_cell_size, random_state=example["seed"])
    mu = cohort.truth[[f"mu_rmst_{a}" for a in est.arms_]].to_numpy()
    table.to_csv(paths["markers"], index=False)
    save_figure(plot_rule(rule, X.columns), paths["figure_rule"], source=NOTEBOOK)
    Path(paths["table_contrasts"]).write_text(contrasts_table(summary["contrasts"]))
    Path(paths["table_policies"]).write_text(policies_table(summary["policies"]))
    Path(paths["table_conformal"]).write_text(conformal_table(summary["conformal"]))
    Path(paths["table_markers"]).write_text(markers_markdown(table))
    write_values(paths["values"], multiarm_values(summary, example_values(rule, est, X, mu), settings))
    return summary
