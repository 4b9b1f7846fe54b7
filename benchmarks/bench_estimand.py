"""Estimand-based probation benchmarks (issue 21).

    python benchmarks/bench_estimand.py coverage [--reps 400] [--n 5000] [--n-labelled 250,1000]
                                                 [--out benchmarks/results/ppi_ate_coverage.csv]
    python benchmarks/bench_estimand.py speed [--n 100000] [--n-labelled 1000] [--out benchmarks/results/estimand_speed.csv]

``coverage``: coverage, with Monte Carlo SE, and mean width of the prediction-powered ATE of strategy 1 (RMST
difference up to 3 years, :func:`causalehr.probation.ppi.ppi_rmst_ate`) against the classical estimate on the
validated subset only and the naive AI-only estimate, at nominal 90% and 95%, on simulated extractions
(:func:`causalehr.probation.simulate_extraction`) whose true ATE is known
(:func:`causalehr.probation.synthetic.rmst_difference_truth`). Writes the summary (one row per design, level and
method) and, beside it, the per-replication rows (``*_reps.csv``).

``speed``: estimand-based acceptance of 20 variables (5 survival columns and 15 covariates) for the RMST ATE of
strategy 1 on the fast path (validated subset of ``n_labelled``), the prediction-powered ATE, and the
error-propagation sweep (4 error kinds x rates 0.05 and 0.2, one replication, AIPCW DR-learner on the fast path) on ``n``
patients, on 2 threads; seconds per step (simulation not counted: it only makes the input) and peak resident
memory, written to the CSV and drawn beside the 10-minute target (``.png`` beside the CSV). Target: under 600 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from causalehr.probation import cohort_from_source, error_propagation, simulate_extraction  # noqa: E402
from causalehr.probation.estimand import PlannedAnalysis, estimand_acceptance  # noqa: E402
from causalehr.probation.evaluation import ppi_ate_coverage, summarise_coverage  # noqa: E402
from causalehr.probation.ppi import ppi_rmst_ate  # noqa: E402
from causalehr.probation.propagation import fast_cate_estimator  # noqa: E402
from causalehr.probation.synthetic import default_errors, default_spec  # noqa: E402

TARGET_SECONDS = 600


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


def speed(args) -> None:
    spec = default_spec(n_extra=20)
    covariates = ["age", "female", "hypertension", "smoker", "hba1c", "creatinine"] + [
        v for v in spec["variable"] if v.startswith(("extra_binary", "extra_numeric"))][:9]
    keep = ["index_date", "treatment", "event", "event_date", "end_date", *covariates]
    spec = spec[spec["variable"].isin(keep)]
    t0 = time.perf_counter()
    data = simulate_extraction(args.n, spec, args.seed, errors=default_errors(spec, sources=("ai",)),
                               metric_truth=False)
    times = {"simulate (input, not counted)": time.perf_counter() - t0}
    rng = np.random.default_rng(args.seed)
    lab = data.reference.index[rng.choice(args.n, args.n_labelled, replace=False)]
    analysis = PlannedAnalysis("rmst_diff", "rmst_ate", 0.05, covariates, horizon=3.0)

    def step(name, fn):
        t = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t
        print(f"{name}: {times[name]:.1f} s", flush=True)
        return out

    res = step(f"estimand acceptance ({len(keep)} variables, {args.n_labelled} validated)", lambda: estimand_acceptance(
        data.reference.loc[lab], data.sources["ai"], spec, [analysis]))
    step(f"PPI ATE ({args.n} patients)", lambda: ppi_rmst_ate(data.reference, data.sources["ai"], spec, labelled=lab,
                                                            covariates=covariates, horizon=3.0))
    cohort = cohort_from_source(data.reference, covariates, spec)[0]
    step(f"error propagation (4 kinds x 2 rates, {len(cohort)} patients)", lambda: error_propagation(
        cohort, covariates, fast_cate_estimator(covariates, 3.0), rates=(0.05, 0.2), n_reps=1, seed=args.seed))
    total = sum(v for k, v in times.items() if "not counted" not in k)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    rows = pd.DataFrame({"step": list(times), "seconds": list(times.values())})
    rows = pd.concat([rows, pd.DataFrame({"step": ["total (counted)"], "seconds": [total]})], ignore_index=True)
    rows = rows.assign(n=args.n, n_labelled=args.n_labelled, n_variables=len(keep), peak_gb=round(peak_gb, 2),
                       load_before=args.load, machine=f"{os.cpu_count()} cores",
                       verdicts=";".join(f"{v}={k}" for k, v in res["verdict"].value_counts().items()))
    rows.to_csv(args.out, index=False, float_format="%.4g")
    print(rows.to_string())
    plot_speed(rows, Path(args.out).with_suffix(".png"))


def plot_speed(rows: pd.DataFrame, path: Path) -> None:
    """Seconds per counted step beside the 10-minute target."""
    counted = rows[~rows["step"].str.contains("not counted|total")]
    total = float(rows.loc[rows["step"] == "total (counted)", "seconds"].iloc[0])
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.barh(counted["step"], counted["seconds"], color="C0")
    ax.axvline(TARGET_SECONDS, color="black", ls="--", lw=1)
    ax.set_xlabel("seconds (dashed: 10-minute target)")
    ax.set_title(f"{int(rows['n'].iloc[0]):,} patients, 2 cores: {total:.0f} s in all, peak "
                 f"{rows['peak_gb'].iloc[0]:.2f} GB", fontsize=10)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cov = sub.add_parser("coverage")
    cov.add_argument("--reps", type=int, default=400)
    cov.add_argument("--n", type=int, default=5000)
    cov.add_argument("--n-labelled", type=lambda s: [int(v) for v in s.split(",")], default=[250, 1000])
    cov.add_argument("--seed", type=int, default=2100)
    cov.add_argument("--out", default="benchmarks/results/ppi_ate_coverage.csv")
    spd = sub.add_parser("speed")
    spd.add_argument("--n", type=int, default=100_000)
    spd.add_argument("--n-labelled", type=int, default=1000)
    spd.add_argument("--seed", type=int, default=21)
    spd.add_argument("--out", default="benchmarks/results/estimand_speed.csv")
    args = parser.parse_args()
    args.load = os.getloadavg()[0]
    with threadpool_limits(1 if args.command == "coverage" else 2):
        {"coverage": coverage, "speed": speed}[args.command](args)


if __name__ == "__main__":
    main()
