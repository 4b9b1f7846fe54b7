"""Strategy-1 benchmarks (censoring-adjusted CATE learners).

    python benchmarks/bench_strategy1.py csf   [--reps 20] [--n-train 2000] [--n-test 5000] [--p 15]
                                                [--grf [--grf-methods "CSF (grf)",...]]
                                                [--settings csf1,...] [--methods aipcw-dr,...]
                                                [--out FILE.csv | --update FILE.csv]
    python benchmarks/bench_strategy1.py speed [--n 1000000] [--p 20] [--threads 1] [--out FILE.csv]
                                                [--method aipcw-dr | auto [--candidates constant,aipcw-dr,...]]

``csf``: MSE (x 100) of each CensoredCATE method against the true CATE on a test cohort, settings csf1..csf4
of Cui et al. (2023), grf's own example ("grf_example") and a heavily, informatively censored setting
("heavy_censoring"; both :mod:`causalehr.simulate.csf_extra`) with p covariates, both estimands, ``reps``
training cohorts. With ``--grf`` the same
cohorts go to ``benchmarks/csf_grf.R`` (run beside, in R with grf installed), which fits grf's causal survival
forest and the IPCW causal forest of the paper, so that every method is compared on identical data; the table
ends with the best method of the compendium minus CSF, paired by training cohort. ``--update`` reruns the
chosen settings x methods only and replaces their rows in an earlier output (the other rows, grf's included,
stay).
``speed``: fast path (cross-fitted DiscreteTimeHazard nuisances, AIPCW pseudo-outcomes, DR-learner; or, with
``--method auto``, the candidates chosen or stacked on those nuisances) on a simulated EHR-like cohort, the folds
fitted in ``--threads`` worker processes; reports seconds per stage and the peak resident memory of the process
and its workers together (with ``--out``, appended as one row with the threads and the load average of the
machine).
"""

import argparse
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from peak_memory import PeakMemory
from threadpoolctl import threadpool_limits

from causalehr.cate import CensoredCATE
from causalehr.registry import LEARNERS, make_estimator
from causalehr.simulate import simulate
from causalehr.studies.reference import REFERENCE_METHODS
from causalehr.studies.reference import summarise as reference_comparison

SETTINGS = ("csf1", "csf2", "csf3", "csf4", "grf_example", "heavy_censoring")
GRF_DGPS = SETTINGS[:4]  # generated as grf does, failure times truncated at the RMST horizon
TEST_SEED = 100_000


def simulate_csf_cohorts(reps, n_train, n_test, n_covariates, settings=SETTINGS):
    """Training cohorts (seed = rep) and one test cohort per setting; csf1..csf4 as grf generates them (failure
    times truncated at the RMST horizon)."""
    for setting in settings:
        kw = {"n_covariates": n_covariates, **({"truncate": True} if setting in GRF_DGPS else {})}
        test = simulate(setting, n_test, seed=TEST_SEED, **kw)
        for rep in range(reps):
            yield setting, rep, simulate(setting, n_train, seed=rep, **kw), test


def export_cohorts(cohorts, folder):
    """Write the cohorts as CSV (test files with the true CATEs) and their index cohorts.csv for csf_grf.R."""
    rows = []
    for setting, rep, train, test in cohorts:
        train_file, test_file = f"{setting}_train_{rep}.csv", f"{setting}_test.csv"
        cols = train.covariates + ["treatment", "time", "event"]
        train.data[cols].assign(event=train.data["event"].astype(int)).to_csv(folder / train_file, index=False)
        if not (folder / test_file).exists():
            test.data[test.covariates].assign(cate_rmst=test.truth["cate_rmst"].to_numpy(),
                                              cate_surv=test.truth["cate_surv"].to_numpy()
                                              ).to_csv(folder / test_file, index=False)
        rows.append({"setting": setting, "rep": rep, "train": train_file, "test": test_file,
                     "horizon": train.horizon, "horizon_surv": train.horizon_surv})
    pd.DataFrame(rows).to_csv(folder / "cohorts.csv", index=False)


def csf_study(cohorts, methods=tuple(LEARNERS)):
    """MSE (x 100) of each method against the true CATE on the test cohort, per setting, estimand and rep; a fit
    that refuses its input (ValueError) gets a missing MSE and its message in ``error``."""
    rows = []
    for setting, rep, train, test in cohorts:
        d, Xt = train.data, test.data[test.covariates].to_numpy()
        X = d[train.covariates].to_numpy()
        for estimand, horizon, truth in (("rmst", train.horizon, test.truth["cate_rmst"]),
                                         ("surv", train.horizon_surv, test.truth["cate_surv"])):
            for method in methods:
                t0 = time.perf_counter()
                est = make_estimator(LEARNERS[method], estimand, horizon, rep)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        est.fit(X, d["treatment"], d["time"], d["event"])
                    mse, error = float(np.mean((est.effect(Xt) - truth.to_numpy()) ** 2)), ""
                except ValueError as exc:  # e.g. a horizon beyond the last observed time of an arm
                    mse, error = np.nan, str(exc)
                rows.append({"setting": setting, "estimand": estimand, "method": method, "rep": rep,
                             "mse_x100": 100 * mse, "seconds": time.perf_counter() - t0, "error": error})
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def csf_table(df):
    """Mean MSE x 100 (Monte Carlo SE) per setting, estimand and method, with the paired comparison with grf's
    CSF when its rows are there."""
    if "CSF (grf)" in set(df["method"]):
        return reference_comparison(df)[0]
    g = df.groupby(["setting", "estimand", "method"])["mse_x100"]
    return (g.mean().round(3).astype(str) + " (" + (g.std() / np.sqrt(g.count())).round(3).astype(str) + ")"
            ).unstack("method").reset_index()


def speed(n, p, seed=0, method="aipcw-dr", candidates=None, n_jobs=None):
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
    est = CensoredCATE(horizon=10.0, method=method, n_folds=2, random_state=0, candidates=candidates, n_jobs=n_jobs,
                       event_model=DiscreteTimeHazard(n_bins=10), censoring_model=DiscreteTimeHazard(n_bins=10))
    with PeakMemory() as peak:
        est.fit(X, a, tm, ev)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tau = est.effect(X)
        ate, lower, upper = est.ate_interval()
        effect_s = time.perf_counter() - t0
    peak_gb = peak.gb
    print(f"fit {fit_s:.1f} s, effect {effect_s:.1f} s, peak memory {peak_gb:.2f} GB, "
          f"ATE {ate:.3f} ({lower:.3f}, {upper:.3f}), CATE range {tau.min():.3f}..{tau.max():.3f}", flush=True)
    chosen = getattr(est, "weights_", None)
    if chosen is not None:
        print("weights of the candidates:", {k: round(w, 3) for k, w in chosen.items()}, flush=True)
    return {"n": n, "p": p, "method": method, "fit_seconds": round(fit_s, 1), "effect_seconds": round(effect_s, 1),
            "peak_gb": round(peak_gb, 2), "ate": ate, "load_average": round(os.getloadavg()[0], 1)}


def check_same_design(old, args):
    """The earlier output that --update amends must come from the same cohorts (sizes, covariates,
    replications), or the paired comparison would mix them."""
    for col, value in (("n_train", args.n_train), ("n_test", args.n_test), ("p", args.p)):
        if col not in old.columns:
            raise ValueError(f"{args.update} has no column {col!r}: cannot check that it has the same design")
        if set(old[col]) != {value}:
            raise ValueError(f"{args.update} was made with {col} {sorted(set(old[col]))}, this run has {value}: "
                             "rerun with the same value")
    if set(old["rep"]) != set(range(args.reps)):
        raise ValueError(f"{args.update} has replications 0..{old['rep'].max()}, this run 0..{args.reps - 1}: "
                         "rerun with the same --reps")


def replace_rows(old, new):
    """``old`` without the (setting, method) pairs that ``new`` has, plus ``new``."""
    pairs = pd.MultiIndex.from_frame(new[["setting", "method"]].drop_duplicates())
    keep = ~pd.MultiIndex.from_frame(old[["setting", "method"]]).isin(pairs)
    return pd.concat([old[keep], new], ignore_index=True)


def run_csf(args):
    if args.update:
        check_same_design(pd.read_csv(args.update), args)
    cohorts = list(simulate_csf_cohorts(args.reps, args.n_train, args.n_test, args.p, args.settings))
    with tempfile.TemporaryDirectory() as tmp:
        grf = None
        if args.grf:
            export_cohorts(cohorts, Path(tmp))
            script = Path(__file__).with_name("csf_grf.R")
            grf = subprocess.Popen(["Rscript", str(script), tmp, ",".join(args.grf_methods)])
        df = csf_study(cohorts, args.methods)
        if grf is not None:
            if grf.wait() != 0:
                raise RuntimeError(f"{script} failed with exit code {grf.returncode}")
            df = pd.concat([df, pd.read_csv(Path(tmp) / "grf_mse.csv")], ignore_index=True)
    df = df.assign(n_train=args.n_train, n_test=args.n_test, p=args.p)
    if args.update:
        df = replace_rows(pd.read_csv(args.update, float_precision="round_trip"), df)
    if args.out or args.update:
        df.to_csv(args.out or args.update, index=False)
    print(csf_table(df).to_markdown(index=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["csf", "speed"])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=None, help="covariates (csf default 15 as in the paper, speed 20)")
    parser.add_argument("--grf", action="store_true", help="also run grf's CSF and IPCW forest (needs R + grf)")
    parser.add_argument("--grf-methods", type=lambda s: s.split(","), default=list(REFERENCE_METHODS),
                        help=f"with --grf: which of {list(REFERENCE_METHODS)} to fit (default both)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--settings", type=lambda s: s.split(","), default=SETTINGS)
    parser.add_argument("--methods", type=lambda s: s.split(","), default=list(LEARNERS))
    parser.add_argument("--out", default=None)
    parser.add_argument("--method", default="aipcw-dr", choices=["aipcw-dr", "auto"], help="speed: the learner")
    parser.add_argument("--candidates", type=lambda s: s.split(","), default=None,
                        help="speed, method auto: its candidates (default: all of selection.CANDIDATES)")
    parser.add_argument("--update", default=None, help="earlier output whose rows of these settings x methods "
                                                         "are replaced")
    args = parser.parse_args()
    if args.out and args.update:
        parser.error("give --out or --update, not both")
    unknown = sorted(set(args.settings) - set(SETTINGS)) + sorted(set(args.methods) - set(LEARNERS))
    if unknown:
        parser.error(f"unknown setting(s) or method(s) {unknown}; settings {SETTINGS}, methods {list(LEARNERS)}")
    unknown = sorted(set(args.grf_methods) - set(REFERENCE_METHODS))
    if unknown:
        parser.error(f"unknown --grf-methods {unknown}; accepted: {list(REFERENCE_METHODS)}")
    with threadpool_limits(args.threads):
        if args.part == "csf":
            args.p = args.p or 15
            run_csf(args)
        else:
            row = speed(args.n, args.p or 20, method=args.method, candidates=args.candidates, n_jobs=args.threads)
            if args.out:  # one row per run appended, with the threads and the load of the machine
                out = Path(args.out)
                pd.DataFrame([{**row, "threads": args.threads}]).to_csv(out, mode="a", header=not out.exists(),
                                                                        index=False)


if __name__ == "__main__":
    main()
