"""Speed and peak memory of one replication of the design-matters study (issue 16) end to end: the two synthetic
OMOP warehouses of ``n`` eligible patients each (point treatment and grace period, with the knobs of
config/config.yaml's ``design`` block), the cohort of every design (:func:`causalehr.studies.design.design_cohorts`)
and on each the fast strategy-1 path (AIPCW DR-learner, 2 folds, discrete-time hazards on 10 bins for the event and
censoring; a design's own options, e.g. a Kaplan-Meier censoring model, replace them; transport designs fit the
largest centre), or for the correct
grace-period design clone-censor-weight without bootstrap.

Seconds per design (its cohort: warehouse writing included for the first design of a trial; its fit; wall clock),
the patients analysed, the estimate and the truth, the peak resident memory of the process, the machine and the load
average are printed and written to ``--out``; the peak memory counts the fold workers too. BLAS/OpenMP threads
are capped (``--threads``, default 1, as in the study): on a shared machine the threads of many small fits only
compete (500 patients took 526 s wall uncapped under a load of 11, 13 s capped); ``--n-jobs`` fits the two
cross-fitting folds in worker processes. Usage (long: run it where it does not compete with other work):

    python benchmarks/bench_design.py --n 100000 --out /tmp/design.csv
    python benchmarks/bench_design.py --n 1000000 --threads 2 --n-jobs 2 --out benchmarks/results/design_1m.csv
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings
from pathlib import Path

import pandas as pd
import yaml
from joblib.externals.loky import get_reusable_executor
from peak_memory import PeakMemory
from threadpoolctl import threadpool_limits

from causalehr.cate import CensoredCATE
from causalehr.ccw import fit_ccw
from causalehr.nuisance import DiscreteTimeHazard
from causalehr.registry import MODEL_KEYS
from causalehr.studies.design import design_cohorts, design_features, fit_design

ROOT = Path(__file__).resolve().parents[1]


def fast_fit(d, seed: int, n_jobs: int | None = None) -> tuple[float, int]:
    """The estimate of one design and the patients analysed: the fast strategy-1 path (:func:`fit_design`: folds
    grouped and centres transported as the design says), or clone-censor-weight without bootstrap."""
    if d.design.analysis == "ccw":
        X, _ = design_features(d.cohort, d.design)
        frame = X.assign(**{c: d.cohort.analysis[c] for c in ("treatment_start", "time", "event")})
        fitted = fit_ccw(frame, list(X.columns), grace=d.cohort.grace, horizon=d.cohort.horizon, n_bootstrap=0,
                         random_state=seed)
        return float(fitted.effects_.query("estimand == 'rmst'")["difference"].iloc[0]), len(frame)
    models = {"event_model": DiscreteTimeHazard(n_bins=10), "censoring_model": DiscreteTimeHazard(n_bins=10)}
    models.update({k: MODEL_KEYS[k][v](seed) for k, v in d.design.options.items()
                   if k in MODEL_KEYS and v != "discrete-time"})  # the fast path's hazards are discrete-time already
    est = CensoredCATE(horizon=d.cohort.horizon, method="aipcw-dr", n_folds=2, random_state=seed, extrapolate=True,
                       n_jobs=n_jobs, **models)
    fit = fit_design(d.cohort, d.design, est)
    return fit["estimate"], fit["n"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1, as the study)")
    parser.add_argument("--n-jobs", type=int, default=None, help="worker processes of the cross-fitting folds")
    parser.add_argument("--designs", default=None, help="comma-separated designs (default: the config's)")
    parser.add_argument("--workdir", default=None, help="folder of the temporary warehouses (default: the system's)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    block = yaml.safe_load(Path(args.config).read_text())["design"]
    specs = {t: ROOT / s for t, s in block["trials"].items()}
    load = os.getloadavg()[0]
    rows, start = [], time.perf_counter()
    tick = time.perf_counter()
    designs = args.designs.split(",") if args.designs else block["designs"]
    with PeakMemory() as peak, threadpool_limits(args.threads):  # threads of many small fits only compete
        for d in design_cohorts(specs, designs, n=args.n, warehouses=block["warehouses"], seed=args.seed,
                                workdir=args.workdir):
            cohort_s = time.perf_counter() - tick
            fit_start = time.perf_counter()
            estimate, analysed = fast_fit(d, args.seed, args.n_jobs)
            fit_s = time.perf_counter() - fit_start
            rows.append({"n": args.n, "trial": d.trial, "design": d.name, "patients": analysed,
                         "cohort_seconds": round(cohort_s, 1), "fit_seconds": round(fit_s, 1),
                         "estimate": round(estimate, 4), "truth": round(d.target, 4)})
            print(rows[-1], flush=True)
            tick = time.perf_counter()
    total = time.perf_counter() - start
    get_reusable_executor().shutdown(wait=True)  # the fold workers, reaped, count in RUSAGE_CHILDREN
    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    peak_gb = peak.gb
    table = pd.DataFrame(rows).assign(total_seconds=round(total, 1), peak_gb=round(peak_gb, 2),
                                      machine=f"{platform.node()} {os.cpu_count()} cores", threads=args.threads,
                                      n_jobs=args.n_jobs, load_at_start=load, cpu_seconds=round(cpu, 1))
    print(table.to_string(index=False))
    print(f"n={args.n}: {total:.0f} s end to end ({cpu:.0f} CPU s), peak memory {peak_gb:.2f} GB (workers included), "
          f"load average at start {load:.1f}")
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
