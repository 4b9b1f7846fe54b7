"""Competing-risks benchmarks of strategy 1 (not timed tests).

    python benchmarks/bench_competing.py coverage [--setting csf2_competing] [--reps 100] [--n 2000]
                                                  [--estimands cif,rmtl] [--out FILE.csv]
    python benchmarks/bench_competing.py speed [--n 1000000] [--p 20]

``coverage``: ``reps`` cohorts of the setting (seed = rep); on each, the AIPTW-AIPCW ATE of CensoredCATE
(aipcw-dr, default DiscreteTimeCompetingHazard nuisances) with its 90% and 95% influence-function intervals,
against the sample-average true effect of the cohort; and the naive analysis that treats the competing event as
censoring (estimand "surv"/"rmst" on event == cause, whose ATE is the net effect -(S1 - S0) or -(RMST1 - RMST0)).
Prints bias, RMSE and coverage with Monte Carlo standard errors; ``--out`` writes the per-cohort rows as they
come (``summarise`` reads them back).
``speed``: the fast path (cross-fitted DiscreteTimeCompetingHazard and DiscreteTimeHazard censoring nuisances,
AIPCW, DR-learner) on ehr_diabetes with a competing death, n patients; seconds and peak resident memory.
"""

import argparse
import resource
import time
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from causalehr.cate import CensoredCATE
from causalehr.simulate import simulate

HORIZON = {"cif": "horizon_surv", "rmtl": "horizon"}
NAIVE = {"cif": ("surv", "cate_surv", -1.0), "rmtl": ("rmst", "cate_rmst", -1.0)}


def coverage_rows(setting, reps, n, estimands, cause=1, out=None):
    """One row per cohort and estimand: estimate, standard error, truth; for the competing-risks and the naive
    analysis. With ``out``, the rows so far are written there after each cohort."""
    rows = []
    for rep in range(reps):
        cohort = simulate(setting, n, seed=rep)
        d = cohort.data
        X, a, t, e = d[cohort.covariates].to_numpy(), d["treatment"], d["time"], d["event"].to_numpy()
        for estimand in estimands:
            horizon = getattr(cohort, HORIZON[estimand])
            truth = float(cohort.truth[f"cate_{estimand}"].mean())
            naive_estimand, naive_truth, sign = NAIVE[estimand]
            for analysis, est, event in (
                    ("competing", CensoredCATE(estimand=estimand, horizon=horizon, cause=cause, random_state=rep),
                     e),
                    ("naive", CensoredCATE(estimand=naive_estimand, horizon=horizon, random_state=rep),
                     (e == cause).astype(int))):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(X, a, t, event)
                scores = sign * est.scores_
                rows.append({"setting": setting, "rep": rep, "n": n, "estimand": estimand, "analysis": analysis,
                             "estimate": scores.mean(), "se": scores.std(ddof=1) / np.sqrt(n), "truth": truth,
                             "net_truth": sign * float(cohort.truth[naive_truth].mean()),
                             "seconds": time.perf_counter() - t0})
        if out:
            pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


def summarise(rows):
    """Bias, RMSE, mean standard error, coverage of 90% and 95% Wald intervals, each with its MCSE."""
    out = []
    for (estimand, analysis), g in rows.groupby(["estimand", "analysis"], sort=False):
        err = g["estimate"] - g["truth"]
        r = len(g)
        line = {"estimand": estimand, "analysis": analysis, "reps": r, "truth": g["truth"].mean(),
                "net_truth": g["net_truth"].mean(), "bias": err.mean(), "bias_mcse": err.std(ddof=1) / np.sqrt(r),
                "rmse": np.sqrt((err**2).mean()), "sd": g["estimate"].std(ddof=1), "mean_se": g["se"].mean()}
        for level in (0.90, 0.95):
            cover = (np.abs(err) <= norm.ppf(0.5 + level / 2) * g["se"]).mean()
            line[f"cover{int(level * 100)}"] = cover
            line[f"cover{int(level * 100)}_mcse"] = np.sqrt(cover * (1 - cover) / r)
        line["seconds"] = g["seconds"].mean()
        out.append(line)
    return pd.DataFrame(out)


def speed(n, p):
    """Seconds and peak memory of the fast path on ehr_diabetes with a competing death (p must be 20)."""
    if p != 20:
        raise ValueError(f"ehr_diabetes has 20 covariates, got --p {p}")
    t0 = time.perf_counter()
    cohort = simulate("ehr_diabetes", n, seed=0, competing_death=True)
    t1 = time.perf_counter()
    d = cohort.data
    est = CensoredCATE(estimand="cif", horizon=cohort.horizon_surv, n_folds=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(d[cohort.covariates].to_numpy(), d["treatment"], d["time"], d["event"])
    t2 = time.perf_counter()
    ate, lo, hi = est.ate_interval()
    print(f"n={n} p={p}: simulate {t1 - t0:.0f} s, fit {t2 - t1:.0f} s; ATE {ate:.4f} ({lo:.4f} to {hi:.4f}), "
          f"truth {cohort.truth['cate_cif'].mean():.4f}; "
          f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("coverage", "speed"))
    parser.add_argument("--setting", default="csf2_competing")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--estimands", default="cif,rmtl")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    with threadpool_limits(2):
        if args.task == "speed":
            speed(args.n or 1_000_000, args.p)
            return
        rows = coverage_rows(args.setting, args.reps, args.n or 2000, args.estimands.split(","), out=args.out)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summarise(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
