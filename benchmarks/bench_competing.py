"""Competing-risks benchmarks of strategy 1 (not timed tests).

    python benchmarks/bench_competing.py coverage [--setting csf2_competing] [--reps 100] [--n 2000]
                                                  [--estimands cif,rmtl] [--out FILE.csv]
    python benchmarks/bench_competing.py speed [--n 1000000] [--p 20] [--threads 2]
    python benchmarks/bench_competing.py peer [--reps 12] [--sizes 2000,10000] [--r-sizes 2000]
                                              [--methods dr-dtch,forest,dr-survivalboost] [--sb-reps 12]
                                              [--out FILE.csv]
    python benchmarks/bench_competing.py {coverage,peer} --table FILE.csv

``coverage``: ``reps`` cohorts of the setting (seed = rep); on each, the AIPTW-AIPCW ATE of CensoredCATE
(aipcw-dr, default DiscreteTimeCompetingHazard nuisances) with its 90% and 95% influence-function intervals,
against the sample-average true effect of the cohort; and the naive analysis that treats the competing event as
censoring (estimand "surv"/"rmst" on event == cause, whose ATE is the net effect -(S1 - S0) or -(RMST1 - RMST0)).
Prints bias, RMSE and coverage with Monte Carlo standard errors; ``--out`` writes the per-cohort rows as they
come, ``--table FILE.csv`` prints the summary of saved rows (also for ``peer``).
``speed``: the fast path (cross-fitted DiscreteTimeCompetingHazard and DiscreteTimeHazard censoring nuisances,
AIPCW, DR-learner, 2 folds) on ehr_diabetes with a competing death (no missing covariates: the default logistic
propensity refuses NaN), n patients, the folds fitted in ``--threads`` worker processes; wall and CPU seconds and
peak resident memory of the process and its workers (``--threads 2`` for the target of 2 cores).
``peer``: the compendium against R riskRegression's ``ate()`` (AIPTW-AIPCW with cause-specific Cox, logistic and
Cox censoring models; ``benchmarks/competing_riskregression.R``, run beside in R on the same cohorts written as
CSV) on ``reps`` cohorts (seed = rep) of csf2_competing and ehr_diabetes with a competing death at each size, the
effect on the cumulative incidence of cause 1 at the horizon (``horizon_surv``). Compendium methods: aipcw-dr with
DiscreteTimeCompetingHazard ("dr-dtch") or SurvivalBoostCompeting ("dr-survivalboost", on the first ``sb-reps``
cohorts: hazardous is slow) nuisances and the causal survival forest ("forest", DiscreteTimeCompetingHazard
nuisances; its ATE is that of dr-dtch, the same mean of AIPCW-AIPW scores); each also fitted the naive way, death
as censoring (estimand "surv" on event == 1 with the all-cause version of its nuisance, effect -(S1 - S0)). The ATE
against the cohort's sample-average true effect (bias, RMSE, 95% coverage with MCSE, and the paired difference with
riskRegression by cohort: estimate and squared error, mean and SE); the CATE MSE against the true CATE on a test
cohort (5,000 patients). ``--r-sizes``: the sizes that R fits (its standard error costs O(n^2): 47 CPU-s at n =
2,000 on csf2_competing).

The committed benchmarks/results/competing_coverage.csv is remade by
    python benchmarks/bench_competing.py coverage --reps 34 --n 2000 --out A.csv
    python benchmarks/bench_competing.py coverage --reps 200 --n 2000 --estimands rmtl --analyses competing \
        --out B.csv
and the rows of B.csv in place of the rmtl/competing rows of A.csv (the first 34 are the same cohorts and equal);
and benchmarks/results/competing_peer.csv by, in turn (F = benchmarks/results/competing_peer.csv),
    python benchmarks/bench_competing.py peer --reps 12 --sizes 2000 --r-sizes 2000 --methods dr-dtch,forest \
        --out F
    python benchmarks/bench_competing.py peer --reps 12 --sizes 2000 --r-sizes 2000 --methods '' --r-se known \
        --out F --merge
    python benchmarks/bench_competing.py peer --reps 12 --sizes 10000 --r-sizes 10000 --methods '' --r-se known \
        --out F --merge
    python benchmarks/bench_competing.py peer --reps 12 --sizes 10000 --r-sizes '' --methods dr-dtch --out F --merge
(the first run's riskRegression with its full standard error covers the 12 csf2_competing cohorts but 3 of the 12
ehr_diabetes ones, reps 0, 1, 11: at 6-10 minutes per fit it was stopped at the deadline, its cohorts shared over
three R processes; the second adds riskRegression with the nuisances known on all 24 cohorts, 3-4 CPU-s each;
the last two, n = 10,000 on 12 cohorts of each setting (riskRegression with the nuisances known, 20-200 s per
cohort under load; dr-dtch, 10-40 s per fit): no forest and no full riskRegression SE at that size; SurvivalBoost
was not run.)
"""

import argparse
import resource
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
from causalehr.nuisance import DiscreteTimeHazard, SurvivalBoostCompeting, SurvivalBoostSurvival
from causalehr.simulate import simulate
from causalehr.studies.reference import competing_coverage_table as summarise
from causalehr.studies.reference import competing_peer_table as peer_table

HORIZON = {"cif": "horizon_surv", "rmtl": "horizon"}
NAIVE = {"cif": ("surv", "cate_surv", -1.0), "rmtl": ("rmst", "cate_rmst", -1.0)}


def coverage_rows(setting, reps, n, estimands, cause=1, out=None, analyses=("competing", "naive")):
    """One row per cohort and estimand: estimate, standard error, truth; for the competing-risks and the naive
    analysis (those of ``analyses``). With ``out``, the rows so far are written there after each cohort."""
    rows = []
    for rep in range(reps):
        cohort = simulate(setting, n, seed=rep)
        d = cohort.data
        X, a, t, e = d[cohort.covariates].to_numpy(), d["treatment"], d["time"], d["event"].to_numpy()
        for estimand in estimands:
            horizon = getattr(cohort, HORIZON[estimand])
            truth = float(cohort.truth[f"cate_{estimand}"].mean())
            naive_estimand, naive_truth, sign = NAIVE[estimand]
            # method "constant": the ATE (mean of the AIPCW-AIPW scores) is that of every method, without a
            # second stage
            for analysis, est, event, scale in (
                    ("competing", CensoredCATE(estimand=estimand, horizon=horizon, method="constant", cause=cause,
                                               random_state=rep), e, 1.0),
                    ("naive", CensoredCATE(estimand=naive_estimand, horizon=horizon, method="constant",
                                           random_state=rep), (e == cause).astype(int), sign)):
                if analysis not in analyses:
                    continue
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(X, a, t, event)
                scores = scale * est.scores_
                rows.append({"setting": setting, "rep": rep, "n": n, "estimand": estimand, "analysis": analysis,
                             "estimate": scores.mean(), "se": scores.std(ddof=1) / np.sqrt(n), "truth": truth,
                             "net_truth": sign * float(cohort.truth[naive_truth].mean()),
                             "seconds": time.perf_counter() - t0})
        if out:
            pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


# ehr_diabetes without missing covariates: R's Cox models would drop the rows, the causal forest refuses NaN
PEER_SETTINGS = {"csf2_competing": {}, "ehr_diabetes": {"competing_death": True, "missingness": 0.0}}
TEST_SEED = 100_000
N_TEST = 5000


def peer_methods(rep, sb_reps):
    """{name: (competing estimator kwargs, naive estimator kwargs)} of the compendium's methods for cohort ``rep``
    (hazardous' SurvivalBoost on the first ``sb_reps`` cohorts only)."""
    methods = {"dr-dtch": ({}, {"event_model": DiscreteTimeHazard()}),
               "forest": ({"method": "aipcw-causal-forest"}, {"method": "aipcw-causal-forest"})}
    if rep < sb_reps:
        methods["dr-survivalboost"] = ({"event_model": SurvivalBoostCompeting()},
                                       {"event_model": SurvivalBoostSurvival()})
    return methods


def peer_cohorts(reps, sizes, settings=tuple(PEER_SETTINGS)):
    """(setting, n, rep, cohort) in the order run: by size, rep, setting (a run stopped early stays balanced)."""
    for n in sizes:
        for rep in range(reps):
            for setting in settings:
                yield setting, n, rep, simulate(setting, n, seed=rep, **PEER_SETTINGS[setting])


def export_peer_cohorts(cohorts, folder, sizes):
    """Write the cohorts of the given sizes as CSV (covariates, treatment, time, event) and their index
    cohorts.csv (setting, n, rep, file, horizon, truth) for competing_riskregression.R."""
    rows = []
    for setting, n, rep, cohort in cohorts:
        if n not in sizes:
            continue
        file = f"{setting}_{n}_{rep}.csv"
        cohort.data[cohort.covariates + ["treatment", "time", "event"]].to_csv(folder / file, index=False)
        rows.append({"setting": setting, "n": n, "rep": rep, "file": file, "horizon": cohort.horizon_surv,
                     "truth": float(cohort.truth["cate_cif"].mean())})
    pd.DataFrame(rows).to_csv(folder / "cohorts.csv", index=False)


def peer_rows(cohorts, methods, sb_reps, out=None):
    """One row per cohort, method and analysis (competing, naive): ATE estimate and standard error against the
    sample-average truth, CATE MSE against the true CATE of the test cohort."""
    rows, tests = [], {}
    for setting, n, rep, cohort in cohorts if methods else ():
        if setting not in tests:
            tests[setting] = simulate(setting, N_TEST, seed=TEST_SEED, **PEER_SETTINGS[setting])
        test = tests[setting]
        d, xt = cohort.data, test.data[test.covariates].to_numpy()
        X, a, t, e = d[cohort.covariates].to_numpy(), d["treatment"], d["time"], d["event"].to_numpy()
        for name, (competing, naive) in peer_methods(rep, sb_reps).items():
            if name not in methods:
                continue
            for analysis, kwargs, estimand, event, sign in (("competing", competing, "cif", e, 1.0),
                                                             ("naive", naive, "surv", (e == 1).astype(int), -1.0)):
                t0 = time.perf_counter()
                est = CensoredCATE(estimand=estimand, horizon=cohort.horizon_surv, random_state=rep, **kwargs)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(X, a, t, event)
                scores = sign * est.scores_
                rows.append({"setting": setting, "n": n, "rep": rep, "method": name, "analysis": analysis,
                             "ate": scores.mean(), "se": scores.std(ddof=1) / np.sqrt(n),
                             "truth": float(cohort.truth["cate_cif"].mean()),
                             "cate_mse": float(np.mean((sign * est.effect(xt) - test.truth["cate_cif"]) ** 2)),
                             "seconds": time.perf_counter() - t0})
                print(rows[-1], flush=True)
        if out:
            pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


def run_peer(args):
    sizes = [int(s) for s in args.sizes.split(",")]
    r_sizes = [int(s) for s in args.r_sizes.split(",")] if args.r_sizes else []
    methods = [m for m in args.methods.split(",") if m]
    settings = args.settings.split(",")
    unknown = sorted(set(settings) - set(PEER_SETTINGS))
    if unknown:
        raise ValueError(f"--settings {unknown} unknown; the peer settings are {sorted(PEER_SETTINGS)}")
    cohorts = list(peer_cohorts(args.reps, sizes, settings))
    merge = args.merge and args.out and Path(args.out).exists()
    progress = f"{args.out}.part" if merge else args.out
    with tempfile.TemporaryDirectory() as tmp:
        peer = None
        if r_sizes:
            export_peer_cohorts(cohorts, Path(tmp), r_sizes)
            script = Path(__file__).with_name("competing_riskregression.R")
            peer = subprocess.Popen(["Rscript", str(script), tmp, args.r_se])
            print(f"riskRegression writes {tmp}/peer.csv", flush=True)
        rows = peer_rows(cohorts, methods, args.sb_reps, out=progress)
        if peer is not None:
            if peer.wait() != 0:
                raise RuntimeError(f"{script} failed with exit code {peer.returncode}")
            rows = pd.concat([rows, pd.read_csv(Path(tmp) / "peer.csv")], ignore_index=True)
    if merge:  # the rows of this run replace those of the same cohort, method and analysis in --out
        keys = ["setting", "n", "rep", "method", "analysis"]
        old = pd.read_csv(args.out)
        kept = old[~old.set_index(keys).index.isin(rows.set_index(keys).index)]
        rows = pd.concat([kept, rows], ignore_index=True)
        Path(progress).unlink(missing_ok=True)
    if args.out:
        rows.to_csv(args.out, index=False)
    return rows


def speed(n, p, n_jobs=None):
    """Seconds and peak memory of the fast path on ehr_diabetes with a competing death (p must be 20)."""
    if p != 20:
        raise ValueError(f"ehr_diabetes has 20 covariates, got --p {p}")
    t0 = time.perf_counter()
    cohort = simulate("ehr_diabetes", n, seed=0, **PEER_SETTINGS["ehr_diabetes"])
    t1 = time.perf_counter()
    d = cohort.data
    est = CensoredCATE(estimand="cif", horizon=cohort.horizon_surv, n_folds=2, random_state=0, n_jobs=n_jobs)
    with warnings.catch_warnings(), PeakMemory() as peak:
        warnings.simplefilter("ignore")
        est.fit(d[cohort.covariates].to_numpy(), d["treatment"], d["time"], d["event"])
    t2 = time.perf_counter()
    ate, lo, hi = est.ate_interval()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"n={n} p={p}: simulate {t1 - t0:.0f} s, fit {t2 - t1:.0f} s (process CPU time in all "
          f"{usage.ru_utime + usage.ru_stime:.0f} s, workers excluded); ATE {ate:.4f} ({lo:.4f} to {hi:.4f}), "
          f"truth {cohort.truth['cate_cif'].mean():.4f}; peak memory {max(peak.gb, usage.ru_maxrss / 1e6):.2f} GB "
          "(process and workers)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("coverage", "speed", "peer"))
    parser.add_argument("--setting", default="csf2_competing")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--estimands", default="cif,rmtl")
    parser.add_argument("--analyses", default="competing,naive", help="coverage: competing and/or naive")
    parser.add_argument("--out", default=None)
    parser.add_argument("--table", default=None, help="coverage/peer: print the summary of rows saved by --out")
    parser.add_argument("--sizes", default="2000,10000", help="peer: cohort sizes")
    parser.add_argument("--r-sizes", default="2000", help="peer: the sizes riskRegression fits ('' for none)")
    parser.add_argument("--methods", default="dr-dtch,forest,dr-survivalboost",
                        help="peer: compendium methods ('' for riskRegression only)")
    parser.add_argument("--settings", default=",".join(PEER_SETTINGS), help="peer: settings")
    parser.add_argument("--r-se", default="full", choices=("full", "known"),
                        help="peer: riskRegression's standard error (see competing_riskregression.R)")
    parser.add_argument("--merge", action="store_true",
                        help="peer: keep the rows of --out that this run does not remake")
    parser.add_argument("--sb-reps", type=int, default=12, help="peer: cohorts with SurvivalBoost nuisances")
    parser.add_argument("--threads", type=int, default=1, help="threads of the BLAS/OpenMP pools")
    args = parser.parse_args()
    if args.table:                                  # the summary of saved rows, without fitting anything
        rows = pd.read_csv(args.table)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print((peer_table(rows) if args.task == "peer" else summarise(rows)).round(4).to_string(index=False))
        return
    with threadpool_limits(args.threads):
        if args.task == "speed":
            speed(args.n or 1_000_000, args.p, n_jobs=args.threads)
            return
        if args.task == "peer":
            with pd.option_context("display.width", 250, "display.max_columns", 30):
                print(peer_table(run_peer(args)).round(4).to_string(index=False))
            return
        rows = coverage_rows(args.setting, args.reps, args.n or 2000, args.estimands.split(","), out=args.out,
                             analyses=args.analyses.split(","))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summarise(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
