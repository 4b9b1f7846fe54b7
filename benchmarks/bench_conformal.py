"""Coverage of the individual intervals of ConformalITE (Candes, Lei & Ren 2023 with Lei & Candes 2021).

  flock /tmp/heavy.lock nice -n 10 python benchmarks/bench_conformal.py --reps 100 --n 3000 [--shape 4] \
      --out benchmarks/results/conformal.csv

Per replication: a training cohort of ``n`` patients and 5000 new patients with both potential times drawn. Three
covariates U(0, 1); treatment with P(A = 1 | x) = 0.2 + 0.6 x1; Weibull proportional-hazards times (shape ``--shape``,
1 = exponential; a larger shape, less dispersed times) with cumulative hazard t^shape exp(0.8 x2) untreated, times
exp(-0.7) by treatment when x3 > 0.5; censoring time C = U(0.5, 4) exp(-0.5 x2), known for every
patient and depending on x; horizon 1.5. For alpha 0.10 and 0.05: the share of new patients whose individual effect
min(T(1), tau) - min(T(0), tau) lies in the interval, and whose min(T(a), tau) lies in arm a's interval
(1 - alpha / 2), and the mean width of the effect interval. Reported: the mean over replications with its Monte
Carlo standard error.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from causalehr.studies.multiarm import conformal_coverage  # noqa: E402


def replication(n, seed, shape, n_test=5000):
    """One replication at levels 0.90 and 0.95 (:func:`causalehr.studies.multiarm.conformal_coverage`; seconds: fit
    and checks)."""
    start = time.perf_counter()
    rows = conformal_coverage(n, n_test, (0.90, 0.95), seed, shape)
    seconds = time.perf_counter() - start
    return [{"seed": seed, "shape": shape, "seconds": seconds, **row} for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--shape", type=float, default=1.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    df = pd.DataFrame([row for seed in range(args.reps) for row in replication(args.n, seed, args.shape)])
    g = df.drop(columns=["seed", "shape"]).groupby("level")
    summary = g.mean().join(g.std(ddof=1).div(np.sqrt(g.size()), axis=0), rsuffix="_mcse").reset_index()
    summary["reps"], summary["shape"], summary["n"] = args.reps, args.shape, args.n
    print(summary.round(4).to_string(index=False))
    if args.out:
        df.to_csv(args.out.replace(".csv", "_replications.csv"), index=False)
        summary.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
