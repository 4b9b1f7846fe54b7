"""Benchmark of several treatments and treatment rules on ``ehr_diabetes(drug_classes=True)``.

  flock /tmp/heavy.lock nice -n 10 python benchmarks/bench_multiarm.py --reps 50 --n 4000 \
      --out benchmarks/results/multiarm.csv

Per replication: MultiArmCATE (Cox nuisances per arm with ridge penalty 0.01, multinomial logistic propensity,
5 folds, RMST up to 3 years) and a depth-2 PolicyRule on its arm scores. Reported over replications, with Monte
Carlo standard errors: the bias and the coverage of the 95% influence-function interval of the ATE of each contrast
against the sample truth; the true regret of the held-out rule against the optimal class, its true gain over the
best single class, the agreement with the optimal class, and the coverage of the held-out value interval of the
true value of the held-out assignments; seconds per replication. Scenario: complete covariates, administrative
follow-up 3-8 years, 75% censored, heterogeneity 2. ``--oracle``: the same for a rule learned and valued on arm
scores whose outcome means and propensities are the simulator's (is the value interval's under-coverage the
nuisances'?).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402

from causalehr.cate import MultiArmCATE, PolicyRule, learn_rule  # noqa: E402
from causalehr.cate.pseudo import arm_scores  # noqa: E402
from causalehr.metrics import rule_regret  # noqa: E402
from causalehr.nuisance import LifelinesCoxSurvival, PositivityWarning  # noqa: E402
from causalehr.simulate import simulate  # noqa: E402

SIMULATION = dict(drug_classes=True, missingness=0.0, horizon=3.0, min_follow_up=3.0, max_follow_up=8.0,
                  censoring_rate=0.75, heterogeneity=2.0)


def rule_row(seed, kind, rule, mu):
    """The rule's row: held-out value against the true value of its held-out assignments, regret, gains."""
    true = rule_regret(rule.held_out_arm_, mu)
    value = rule.values_.set_index("policy").loc["rule"]
    return {"seed": seed, "kind": kind, "contrast": kind, "estimate": value["value"], "truth": true["value"],
            "covered": value["lower"] <= true["value"] <= value["upper"], "regret": true["regret"],
            "gain_over_best_single": true["value"] - true["best_single_value"],
            "oracle_gain_over_best_single": true["oracle_value"] - true["best_single_value"],
            "agreement": true["agreement"]}


def replication(n, seed, depth, oracle=False):
    """One replication: rows of the contrasts (kind "ate") and one row of the rule (kind "rule"); with ``oracle``
    also the row of a rule learned and valued on arm scores whose outcome means and propensities are the
    simulator's true ones (kind "rule_oracle"; the AIPCW outcomes stay estimated)."""
    start = time.perf_counter()
    c = simulate("ehr_diabetes", n, seed=seed, **SIMULATION)
    d, X = c.data, c.data[c.covariates].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        est = MultiArmCATE(horizon=3.0, reference="dpp4", event_model=LifelinesCoxSurvival(penalizer=0.01),
                           censoring_model=LifelinesCoxSurvival(penalizer=0.01), cate_model=LinearRegression(), n_folds=5,
                           random_state=seed).fit(X, d["drug_class"], d["time"], d["event"])
    rule = learn_rule(est, X, max_depth=depth, random_state=seed)
    seconds = time.perf_counter() - start
    mu = c.truth[[f"mu_rmst_{a}" for a in est.arms_]].to_numpy()
    rows = []
    for r in est.ate_table().itertuples():
        truth = float(np.mean(mu[:, list(est.arms_).index(r.arm)] - mu[:, list(est.arms_).index(r.other)]))
        rows.append({"seed": seed, "kind": "ate", "contrast": f"{r.arm} - {r.other}", "estimate": r.estimate,
                     "truth": truth, "covered": r.lower <= truth <= r.upper, "seconds": seconds})
    rows.append({**rule_row(seed, "rule", rule, mu), "seconds": seconds})
    if oracle:
        a = np.searchsorted(est.arms_, d["drug_class"].to_numpy())
        propensity = c.truth[[f"propensity_{x}" for x in est.arms_]].to_numpy()
        scores = arm_scores(est.nuisances_["aipcw"], a, mu, propensity)
        truth_rule = PolicyRule(max_depth=depth, random_state=seed).fit(
            X, scores, est.folds_, labels=est.arms_, observed=est.nuisances_["aipcw"])
        rows.append({**rule_row(seed, "rule_oracle", truth_rule, mu), "seconds": seconds})
    return rows


def summarise(df):
    """Mean and Monte Carlo standard error of each measure, by contrast."""
    out = []
    for contrast, g in df.groupby("contrast", sort=False):
        row = {"contrast": contrast, "reps": len(g)}
        g = g.assign(error=g["estimate"] - g["truth"], covered=g["covered"].astype(float))
        for column in ("error", "covered", "regret", "gain_over_best_single", "oracle_gain_over_best_single",
                       "agreement", "seconds"):
            if column in g and g[column].notna().any():
                v = g[column].dropna()
                row[column] = v.mean()
                row[f"{column}_mcse"] = v.std(ddof=1) / np.sqrt(len(v))
        out.append(row)
    return pd.DataFrame(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--oracle", action="store_true", help="also the rule on arm scores with true nuisances")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = [row for seed in range(args.reps) for row in replication(args.n, seed, args.depth, args.oracle)]
    df = pd.DataFrame(rows)
    summary = summarise(df)
    pd.set_option("display.width", 200)
    print(summary.round(4).to_string(index=False))
    if args.out:
        df.to_csv(args.out.replace(".csv", "_replications.csv"), index=False)
        summary.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
