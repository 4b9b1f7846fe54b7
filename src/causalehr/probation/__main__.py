"""Command line: ``python -m causalehr.probation run ...`` on a user's tables, ``... simulate ...`` to write
simulated example tables (then probe them with ``run``), ``... coverage ...`` for the simulation study of
interval coverage. ``python -m causalehr.probation --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .evaluation import metric_coverage, ppi_coverage
from .io import load_probation, read_table
from .report import probation_report, run_probation
from .suppress import DEFAULT_MIN_CELL
from .synthetic import default_spec, simulate_extraction


def _pairs(items, what):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--{what} expects NAME=PATH, got {item!r}")
        name, path = item.split("=", 1)
        out[name] = read_table(path)
    return out


def _csv_list(text):
    return [c for c in (text or "").split(",") if c]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m causalehr.probation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="probation report on your own tables")
    run.add_argument("--spec", required=True, help="variable specification (CSV/parquet)")
    run.add_argument("--reference", required=True, help="reference (gold standard) table")
    run.add_argument("--source", action="append", required=True, help="NAME=PATH of a source to judge (repeat)")
    run.add_argument("--confidence", action="append", help="NAME=PATH of a source's confidence table (repeat)")
    run.add_argument("--rules", help="Kahn check rule table (default: from the specification)")
    run.add_argument("--acceptance-rules", help="acceptance rule table (default: built-in)")
    run.add_argument("--long", action="store_true", help="tables are long: key, variable, value")
    run.add_argument("--key", default="patient_id")
    run.add_argument("--strata", default="", help="comma-separated stratification columns of the reference")
    run.add_argument("--covariates", default="", help="comma-separated covariates: enables the replication")
    run.add_argument("--horizon", type=float, default=3.0, help="RMST / survival horizon (years)")
    run.add_argument("--date-tolerance", type=float, default=7.0)
    run.add_argument("--target-accuracy", type=float, default=0.95)
    run.add_argument("--error-cost", type=float, default=1.0)
    run.add_argument("--review-cost", type=float, default=0.1)
    run.add_argument("--n-boot", type=int, default=100)
    run.add_argument("--n-labelled", type=int, default=200)
    run.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", required=True, help="output directory")
    sim = sub.add_parser("simulate", help="write simulated reference/manual/AI tables (CSV) and a specification")
    sim.add_argument("--n", type=int, default=5000)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--uncalibrated", action="store_true")
    sim.add_argument("--out", required=True)
    cov = sub.add_parser("coverage", help="simulation study: interval coverage of the metrics and of PPI")
    cov.add_argument("--reps", type=int, default=50)
    cov.add_argument("--n", type=int, default=5000)
    cov.add_argument("--n-labelled", type=int, default=200)
    cov.add_argument("--seed", type=int, default=0)
    cov.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    if args.command == "coverage":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        metric_coverage(args.reps, args.n, args.seed, by=("centre",)).to_csv(out / "metric_coverage.csv", index=False)
        ppi_coverage(args.reps, args.n, args.n_labelled, args.seed).to_csv(out / "ppi_coverage.csv", index=False)
        print(f"wrote coverage tables to {out}")
        return 0

    if args.command == "simulate":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        data = simulate_extraction(args.n, default_spec(), args.seed, calibrated=not args.uncalibrated)
        data.spec.to_csv(out / "spec.csv", index=False)
        data.reference.join(data.strata).reset_index().to_csv(out / "reference.csv", index=False)
        for name, t in data.sources.items():
            t.reset_index().to_csv(out / f"{name}.csv", index=False)
        for name, t in data.confidence.items():
            t.reset_index().to_csv(out / f"{name}_confidence.csv", index=False)
        data.truth.to_csv(out / "truth.csv", index=False)
        print(f"wrote simulated tables to {out}")
        return 0

    try:
        data = load_probation(read_table(args.spec), read_table(args.reference), _pairs(args.source, "source"),
                              confidence=_pairs(args.confidence, "confidence"), strata=tuple(_csv_list(args.strata)),
                              key=args.key, long=args.long)
        results = run_probation(
            data, rules=read_table(args.rules).astype({"threshold": float}) if args.rules else None,
            acceptance_rules=read_table(args.acceptance_rules).astype({"threshold": float}) if args.acceptance_rules else None,
            date_tolerance=args.date_tolerance, target_accuracy=args.target_accuracy, error_cost=args.error_cost,
            review_cost=args.review_cost, covariates=_csv_list(args.covariates) or None, horizon=args.horizon,
            n_boot=args.n_boot, n_labelled=args.n_labelled, seed=args.seed, min_cell=args.min_cell)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = probation_report(results, args.out, min_cell=args.min_cell)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
