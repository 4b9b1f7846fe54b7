"""Strategy-1 benchmarks (censoring-adjusted CATE learners).

    python benchmarks/bench_strategy1.py csf   [--reps 5] [--n-train 2000] [--n-test 10000] [--out FILE.csv]
    python benchmarks/bench_strategy1.py speed [--n 1000000] [--p 20]

``csf``: MSE (x 100) of each CensoredCATE method vs the true CATE on a test cohort, settings csf1..csf4
(Cui et al. 2023), both estimands, ``reps`` training cohorts; printed next to the causal survival forest (CSF)
and IPCW causal forest figures of the grf replication files (see REFERENCE below).
``speed``: fast path (cross-fitted DiscreteTimeHazard nuisances, AIPCW pseudo-outcomes, DR-learner) on a
simulated EHR-like cohort; reports seconds per stage (run it under /usr/bin/time -v for the peak memory).
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalehr.cate import CensoredCATE
from causalehr.simulate import simulate

METHODS = ("aipcw-dr", "ipcw-dr", "aipcw-causal-forest", "t-learner", "s-learner", "x-learner")

# MSE x 100, RMST difference, n = 2000, p = 5, 200 replications: mean of column `mse` x 100 in
# experiments/csf/simulation.csv.gz of github.com/grf-labs/grf at commit 00311e83 (replication files of
# Cui, Kosorok, Sverdrup, Wager & Zhu, arXiv 2001.09887, generated with grf's generate_survival_data of that
# commit; the survival-probability figures of the published paper (p = 15) are not in the repository).
REFERENCE = {
    ("csf1", "rmst"): {"CSF (grf)": 0.232, "IPCW forest (grf)": 0.547},
    ("csf2", "rmst"): {"CSF (grf)": 0.913, "IPCW forest (grf)": 1.499},
    ("csf3", "rmst"): {"CSF (grf)": 12.321, "IPCW forest (grf)": 14.416},
    ("csf4", "rmst"): {"CSF (grf)": 2.063, "IPCW forest (grf)": 2.324},
}


def csf_study(reps, n_train, n_test, methods=METHODS):
    rows = []
    for setting in ("csf1", "csf2", "csf3", "csf4"):
        test = simulate(setting, n_test, seed=100_000)
        Xt = test.data[test.covariates].to_numpy()
        for rep in range(reps):
            train = simulate(setting, n_train, seed=rep)
            d = train.data
            X = d[train.covariates].to_numpy()
            for estimand, horizon, truth in (("rmst", train.horizon, test.truth["cate_rmst"]),
                                             ("surv", train.horizon_surv, test.truth["cate_surv"])):
                for method in methods:
                    t0 = time.perf_counter()
                    est = CensoredCATE(estimand=estimand, horizon=horizon, method=method, random_state=rep)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        est.fit(X, d["treatment"], d["time"], d["event"])
                    mse = float(np.mean((est.effect(Xt) - truth.to_numpy()) ** 2))
                    rows.append({"setting": setting, "estimand": estimand, "method": method, "rep": rep,
                                 "mse_x100": 100 * mse, "seconds": time.perf_counter() - t0})
                    print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def csf_table(df):
    tab = df.groupby(["setting", "estimand", "method"])["mse_x100"].mean().unstack("method")
    for key, ref in REFERENCE.items():
        for name, value in ref.items():
            tab.loc[key, name] = value
    return tab


def speed(n, p, seed=0):
    from causalehr.nuisance import DiscreteTimeHazard

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    X = rng.normal(size=(n, p)).astype(np.float32).astype(float)
    a = rng.binomial(1, 1 / (1 + np.exp(-0.5 * X[:, 0])))
    rate = 0.1 * np.exp(0.3 * X[:, 1] - 0.2 * X[:, 2] - a * (0.3 + 0.3 * (X[:, 3] > 0)))
    T = rng.exponential(1 / rate)
    C = rng.exponential(1 / 0.05, n)
    tm, ev = np.minimum(T, C), (T <= C).astype(int)
    print(f"simulated n={n} p={p}: {time.perf_counter() - t0:.1f} s, event rate {ev.mean():.2f}", flush=True)
    t0 = time.perf_counter()
    est = CensoredCATE(horizon=10.0, method="aipcw-dr", n_folds=2, random_state=0,
                       event_model=DiscreteTimeHazard(n_bins=10), censoring_model=DiscreteTimeHazard(n_bins=10))
    est.fit(X, a, tm, ev)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tau = est.effect(X)
    print(f"fit {fit_s:.1f} s, effect {time.perf_counter() - t0:.1f} s, ATE {est.ate_interval()}, "
          f"CATE range {tau.min():.3f}..{tau.max():.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["csf", "speed"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        if args.part == "csf":
            df = csf_study(args.reps, args.n_train, args.n_test)
            if args.out:
                df.to_csv(args.out, index=False)
            print(csf_table(df).round(3).to_markdown())
        else:
            speed(args.n, args.p)


if __name__ == "__main__":
    main()
