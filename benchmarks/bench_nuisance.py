"""Survival nuisance models on held-out data: integrated Brier score, IPCW C-index and fit time.

    python benchmarks/bench_nuisance.py [--n 10000] [--seed 0] [--threads 1]

EHR-like cohort ("ehr_diabetes", 20 covariates with missing values, treatment as a feature): ``n`` patients to
train, ``n`` others to test. DiscreteTimeHazard and SurvivalBoost take the missing values as they are;
RandomSurvivalForest gets median-imputed covariates. Metrics from scikit-survival: integrated_brier_score
(Graf et al. 1999) over the 10th-80th percentiles of the test event times, concordance_index_ipcw (Uno et al.
2011) of the risk 1 - S(horizon_surv | x) truncated at the horizon.
"""

import argparse
import time

import numpy as np
from sksurv.ensemble import RandomSurvivalForest
from sksurv.metrics import concordance_index_ipcw, integrated_brier_score
from sksurv.util import Surv
from threadpoolctl import threadpool_limits

from causalehr.nuisance import DiscreteTimeHazard, SksurvSurvival, SurvivalBoostSurvival
from causalehr.simulate import simulate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cohort = simulate("ehr_diabetes", 2 * args.n, seed=args.seed)
    d = cohort.data
    X = d[cohort.covariates + ["treatment"]].to_numpy(dtype=float)
    t, e = d["time"].to_numpy(), d["event"].to_numpy()
    tr, te = np.arange(args.n), np.arange(args.n, 2 * args.n)
    X_imp = np.where(np.isnan(X), np.nanmedian(X[tr], axis=0), X)
    y_tr, y_te = Surv.from_arrays(e[tr] == 1, t[tr]), Surv.from_arrays(e[te] == 1, t[te])
    times = np.quantile(t[te][e[te] == 1], np.linspace(0.1, 0.8, 20))
    models = {
        "DiscreteTimeHazard (HGB, 20 bins)": (DiscreteTimeHazard(n_bins=20, random_state=0), X),
        "RandomSurvivalForest (100 trees, leaf 15)": (SksurvSurvival(RandomSurvivalForest(
            n_estimators=100, min_samples_leaf=15, n_jobs=args.threads, random_state=0)), X_imp),
        "SurvivalBoost (hazardous)": (SurvivalBoostSurvival(random_state=0), X),
    }
    print(f"n train = n test = {args.n}, p = {X.shape[1]}, events {e.mean():.2f}, IBS times "
          f"{times[0]:.2f}..{times[-1]:.2f}, C-index risk at t = {cohort.horizon_surv}")
    print("| model | fit s | predict s | integrated Brier | C-index (IPCW) |\n|---|---|---|---|---|")
    for name, (model, data) in models.items():
        with threadpool_limits(args.threads):
            t0 = time.perf_counter()
            model.fit(data[tr], t[tr], e[tr])
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            surv = model.predict_survival(data[te], np.append(times, cohort.horizon_surv))
            pred_s = time.perf_counter() - t0
        ibs = integrated_brier_score(y_tr, y_te, surv[:, :-1], times)
        cidx = concordance_index_ipcw(y_tr, y_te, 1 - surv[:, -1], tau=times[-1])[0]
        print(f"| {name} | {fit_s:.1f} | {pred_s:.1f} | {ibs:.4f} | {cidx:.4f} |", flush=True)


if __name__ == "__main__":
    main()
