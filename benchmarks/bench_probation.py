"""Benchmark of the data probation at scale: all metrics and checks on n patients x 30 variables.

Run once, at the end (2 cores):
    /usr/bin/time -v .venv/bin/python benchmarks/bench_probation.py --n 1000000
Reports the seconds of each step (simulation excluded from the total: it only makes the input) and the
peak resident memory of the process. Target: total under 120 s for 1,000,000 patients x 30 variables.
"""

from __future__ import annotations

import argparse
import resource
import time

import pandas as pd

from causalehr.probation import (
    acceptance,
    agreement,
    correctness,
    default_acceptance_rules,
    default_rules,
    heterogeneity,
    run_quality_checks,
    selective_prediction,
    simulate_extraction,
)
from causalehr.probation.synthetic import default_spec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--n-vars", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = default_spec(n_extra=args.n_vars - len(default_spec()))
    t0 = time.perf_counter()
    data = simulate_extraction(args.n, spec, args.seed)
    times = {"simulate (input, not counted)": time.perf_counter() - t0}

    def step(name, fn):
        t = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t
        return out

    by = list(data.strata.columns)
    metrics = step("agreement (2 sources, overall + centre + subgroup)", lambda: pd.concat(
        [agreement(data.reference, t, data.spec, strata=data.strata, by=by, source=s) for s, t in data.sources.items()]))
    step("heterogeneity", lambda: [heterogeneity(metrics, b) for b in by])
    step("Kahn checks (3 tables)", lambda: run_quality_checks({"reference": data.reference, **data.sources},
                                                              default_rules(data.spec), data.spec))
    step("acceptance", lambda: acceptance(metrics, default_acceptance_rules()))
    corr = step("correctness (ai)", lambda: correctness(data.reference, data.sources["ai"], data.spec))
    step("selective prediction (ai)", lambda: selective_prediction(data.confidence["ai"], corr))
    total = sum(v for k, v in times.items() if "not counted" not in k)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"n = {args.n} patients x {len(data.spec)} variables, {len(data.sources)} sources")
    for k, v in times.items():
        print(f"{k:55s} {v:8.1f} s")
    print(f"{'total metrics and checks':55s} {total:8.1f} s")
    print(f"peak resident memory {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()
