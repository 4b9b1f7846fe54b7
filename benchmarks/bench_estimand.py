"""Estimand-based probation benchmarks (issue 21).

    python benchmarks/bench_estimand.py coverage [--reps 400] [--n 5000] [--n-labelled 250,1000]
                                                 [--out benchmarks/results/ppi_ate_coverage.csv]

``coverage``: coverage, with Monte Carlo SE, and mean width of the prediction-powered ATE of strategy 1 (RMST
difference up to 3 years, :func:`causalehr.probation.ppi.ppi_rmst_ate`) against the classical estimate on the
validated subset only and the naive AI-only estimate, at nominal 90% and 95%, on simulated extractions
(:func:`causalehr.probation.simulate_extraction`) whose true ATE is known
(:func:`causalehr.probation.synthetic.rmst_difference_truth`). Writes the summary (one row per design, level and
method) and, beside it, the per-replication rows (``*_reps.csv``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from causalehr.probation.evaluation import ppi_ate_coverage, summarise_coverage


def coverage(args) -> None:
    reps = []
    for n_labelled in args.n_labelled:
        t0 = time.perf_counter()
        r = ppi_ate_coverage(args.reps, args.n, n_labelled, args.seed)
        print(f"n={args.n} n_labelled={n_labelled}: {time.perf_counter() - t0:.0f} s", flush=True)
        reps.append(r)
    reps = pd.concat(reps, ignore_index=True)
    out = Path(args.out)
    reps.to_csv(out.with_name(out.stem + "_reps.csv"), index=False)
    summary = summarise_coverage(reps).assign(machine=f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    summary.to_csv(out, index=False, float_format="%.5g")
    print(summary.to_string())


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cov = sub.add_parser("coverage")
    cov.add_argument("--reps", type=int, default=400)
    cov.add_argument("--n", type=int, default=5000)
    cov.add_argument("--n-labelled", type=lambda s: [int(v) for v in s.split(",")], default=[250, 1000])
    cov.add_argument("--seed", type=int, default=2100)
    cov.add_argument("--out", default="benchmarks/results/ppi_ate_coverage.csv")
    args = parser.parse_args()
    with threadpool_limits(1):
        {"coverage": coverage}[args.command](args)


if __name__ == "__main__":
    main()
