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

from causalehr.cate.conformal import ConformalITE  # noqa: E402

TAU = 1.5


def draw(n, rng, shape=1.0):
    """Covariates, treatment, both potential times and the censoring time of ``n`` patients."""
    X = rng.uniform(size=(n, 3))
    a = rng.binomial(1, 0.2 + 0.6 * X[:, 0])
    rate0 = np.exp(0.8 * X[:, 1])
    rate1 = rate0 * np.exp(-0.7 * (X[:, 2] > 0.5))
    t0, t1 = ((rng.standard_exponential(n) / rate) ** (1 / shape) for rate in (rate0, rate1))
    c = rng.uniform(0.5, 4, n) * np.exp(-0.5 * X[:, 1])
    return X, a, t0, t1, c


def replication(n, seed, shape, n_test=5000):
    rng = np.random.default_rng(seed)
    X, a, t0, t1, c = draw(n, rng, shape)
    t = np.where(a == 1, t1, t0)
    start = time.perf_counter()
    model = ConformalITE(horizon=TAU, random_state=seed).fit(X, a, np.minimum(t, c), (t <= c).astype(int), c)
    seconds = time.perf_counter() - start
    Xt, _, s0, s1, _ = draw(n_test, rng, shape)
    y0, y1 = np.minimum(s0, TAU), np.minimum(s1, TAU)
    rows = []
    for alpha in (0.10, 0.05):
        iv = model.predict_interval(Xt, alpha)
        ite = y1 - y0
        rows.append({"seed": seed, "shape": shape, "level": 1 - alpha, "seconds": seconds,
                     "effect_coverage": np.mean((iv["effect_lower"] <= ite) & (ite <= iv["effect_upper"])),
                     "effect_width": np.mean(iv["effect_upper"] - iv["effect_lower"]),
                     "arm0_coverage": np.mean((iv["lower0"] <= y0) & (y0 <= iv["upper0"])),
                     "arm1_coverage": np.mean((iv["lower1"] <= y1) & (y1 <= iv["upper1"]))})
    return rows


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
