"""Benchmarks of clone-censor-weight (CCW) on the EHR diabetes simulator with a time-varying treatment start.

  python benchmarks/bench_ccw.py coverage --reps 50 --n 3000 --bootstrap 100   # coverage of the bootstrap interval
  python benchmarks/bench_ccw.py weights --reps 10 --n 20000 --confounding 1.5      # logistic vs boosted weights
  python benchmarks/bench_ccw.py scale --n 1000000 --bootstrap 0 [--model boosting]   # time, peak memory

Each prints a table (and writes it as CSV with --out). Scenario: ``ehr_diabetes`` with ``time_varying_start=True``,
complete covariates (the start depends on HbA1c and BMI), start rate 0.2/year, confounding 0.5, grace 1 year, RMST
horizon 3 years, survival at 2 years, administrative follow-up 3-6 years (censoring before the horizon is loss to
follow-up). Covariates given to CCW: the 20 patient covariates and centre indicators (centre drives prescribing).
"""

import os

# one BLAS thread: on a shared 2-core machine, threaded BLAS inside the many small logistic fits is 5x slower
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from causalehr.ccw import fit_ccw, naive_comparisons  # noqa: E402
from causalehr.registry import WEIGHT_MODELS  # noqa: E402
from causalehr.studies.ccw import ccw_cohort  # noqa: E402

SIMULATION = dict(missingness=0.0, start_rate=0.2, confounding=0.5, min_follow_up=3.0, max_follow_up=6.0)
SCENARIO = dict(grace=1.0, horizon=3.0, horizon_surv=2.0)


def cohort(n, seed, start_model="linear", confounding=SIMULATION["confounding"]):
    """Simulated cohort (as the workflow's CCW study draws it), its covariates (with centre indicators) and the true
    strategy effects."""
    df, covariates, c = ccw_cohort(n, seed, {**SIMULATION, "start_model": start_model, "confounding": confounding},
                                   **SCENARIO)
    return df, covariates, c.strategy_effects.set_index("estimand")["difference"]


def ccw(df, covariates, **kwargs):
    return fit_ccw(df, covariates, grace=SCENARIO["grace"], horizon=SCENARIO["horizon"],
                   horizon_surv=SCENARIO["horizon_surv"], **kwargs)


def coverage(args):
    rows = []
    for rep in range(args.reps):
        t0 = time.perf_counter()
        df, cov, truth = cohort(args.n, seed=1000 + rep)
        m = ccw(df, cov, n_intervals=args.intervals, n_bootstrap=args.bootstrap, random_state=rep)
        naive = naive_comparisons(df, horizon=SCENARIO["horizon"], horizon_surv=SCENARIO["horizon_surv"])
        naive = naive.query("comparison == 'ever_vs_never'").set_index("estimand")["difference"]
        for _, e in m.effects_.iterrows():
            rows.append({"rep": rep, "estimand": e["estimand"], "truth": truth[e["estimand"]],
                         "ccw": e["difference"], "lower": e["lower"], "upper": e["upper"],
                         "naive_ever_never": naive[e["estimand"]], "seconds": time.perf_counter() - t0})
        print(f"rep {rep}: {rows[-2]['ccw']:.3f} [{rows[-2]['lower']:.3f}, {rows[-2]['upper']:.3f}] "
              f"truth {rows[-2]['truth']:.3f}", flush=True)
    res = pd.DataFrame(rows)
    res["covered"] = (res["lower"] <= res["truth"]) & (res["truth"] <= res["upper"])
    res["error"] = res["ccw"] - res["truth"]
    res["naive_error"] = res["naive_ever_never"] - res["truth"]
    table = res.groupby("estimand").agg(
        reps=("rep", "size"), truth=("truth", "mean"), ccw_mean=("ccw", "mean"), ccw_bias=("error", "mean"),
        ccw_sd=("ccw", "std"), ccw_rmse=("error", lambda e: np.sqrt(np.mean(e**2))),
        interval_width=("upper", "mean"), coverage=("covered", "mean"),
        naive_mean=("naive_ever_never", "mean"), naive_bias=("naive_error", "mean"))
    table["interval_width"] -= res.groupby("estimand")["lower"].mean()
    return res, table


def weights(args):
    rows = []
    for rep in range(args.reps):
        df, cov, truth = cohort(args.n, seed=2000 + rep, start_model=args.start_model, confounding=args.confounding)
        for name, factory in WEIGHT_MODELS.items():
            t0 = time.perf_counter()
            m = ccw(df, cov, start_model=factory(rep), censoring_model=WEIGHT_MODELS["logistic"](rep),
                    n_intervals=args.intervals)
            seconds = time.perf_counter() - t0
            for _, e in m.effects_.iterrows():
                rows.append({"rep": rep, "weights": name, "estimand": e["estimand"],
                             "error": e["difference"] - truth[e["estimand"]], "seconds": seconds})
        print(f"rep {rep}: " + ", ".join(f"{r['weights']} {r['error']:+.3f}" for r in rows[-4::2]), flush=True)
    res = pd.DataFrame(rows)
    table = res.groupby(["estimand", "weights"]).agg(
        reps=("rep", "size"), bias=("error", "mean"), sd=("error", "std"),
        rmse=("error", lambda e: np.sqrt(np.mean(e**2))), seconds=("seconds", "mean"))
    return res, table


def scale(args):
    t0 = time.perf_counter()
    df, cov, truth = cohort(args.n, seed=1)
    t_sim = time.perf_counter() - t0
    tracemalloc.start()
    t0 = time.perf_counter()
    m = ccw(df, cov, start_model=WEIGHT_MODELS[args.model](0), n_intervals=args.intervals, n_bootstrap=args.bootstrap, random_state=0)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(m.weight_summary_.to_string())
    table = m.effects_.assign(truth=truth[m.effects_["estimand"]].to_numpy(), n=args.n, n_intervals=args.intervals,
                              start_model=args.model, n_bootstrap=args.bootstrap,
                              simulate_seconds=t_sim, ccw_seconds=seconds, ccw_peak_gb=peak / 1e9)
    return table, table


def main():
    warnings.filterwarnings("ignore", category=UserWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["coverage", "weights", "scale"])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--intervals", type=int, default=8)
    parser.add_argument("--start-model", default="nonlinear", choices=["linear", "nonlinear"])
    parser.add_argument("--model", default="logistic", choices=sorted(WEIGHT_MODELS),
                        help="start model of the scale benchmark")
    parser.add_argument("--confounding", type=float, default=SIMULATION["confounding"])
    parser.add_argument("--out", help="CSV file for the per-replication results")
    args = parser.parse_args()
    res, table = {"coverage": coverage, "weights": weights, "scale": scale}[args.what](args)
    if args.out:
        res.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table)


if __name__ == "__main__":
    main()
