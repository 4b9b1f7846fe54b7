"""Simulation checks of the probation methods: interval coverage of the agreement metrics against the
injected truth, and of prediction-powered versus naive AI-only inference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .agreement import agreement
from .ppi import km_survival_at, ppi_bootstrap, ppi_inputs, ppi_mean
from .synthetic import default_errors, default_spec, simulate_extraction

PPI_VARIABLES = ["index_date", "age", "treatment", "event", "event_date", "end_date", "hypertension"]


def metric_coverage(n_reps: int, n_patients: int, seed: int, *, spec: pd.DataFrame | None = None,
                    errors: pd.DataFrame | None = None, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Share of replications whose interval holds the injected truth, per source, variable, metric, stratum;
    with the mean estimate and mean truth. Replication r uses seed ``seed + r``."""
    rows = []
    for r in range(n_reps):
        data = simulate_extraction(n_patients, spec, seed + r, errors=errors)
        for name, table in data.sources.items():
            m = agreement(data.reference, table, data.spec, strata=data.strata, by=by, source=name)
            rows.append(m.merge(data.truth, on=["source", "variable", "by", "stratum", "metric"]))
    allm = pd.concat(rows, ignore_index=True).dropna(subset=["lower", "upper", "truth"])
    allm["covered"] = (allm["lower"] <= allm["truth"]) & (allm["truth"] <= allm["upper"])
    keys = ["source", "variable", "metric", "by", "stratum"]
    return allm.groupby(keys, sort=False).agg(coverage=("covered", "mean"), mean_estimate=("estimate", "mean"),
                                              truth=("truth", "mean"), n_reps=("covered", "size")).reset_index()


def ppi_coverage(n_reps: int, n_patients: int, n_labelled: int, seed: int, *, binary: str = "hypertension",
                 horizon: float = 2.0, n_boot: int = 200, alpha: float = 0.1) -> pd.DataFrame:
    """Coverage and mean width of the PPI, classical (labelled only) and naive AI-only intervals for the
    prevalence of ``binary`` and the Kaplan-Meier survival at ``horizon``. The target is the reference value
    on the whole simulated cohort; the validated subset is a simple random sample of ``n_labelled`` patients."""
    spec = default_spec()
    spec = spec[spec["variable"].isin(PPI_VARIABLES + [binary])]
    rows = []
    for r in range(n_reps):
        data = simulate_extraction(n_patients, spec, seed + r)
        y, yhat = ppi_inputs(data.reference, data.sources["ai"], data.spec, binary=[binary], horizon=horizon,
                             covariates=["age"])
        # own streams for the validated subset and the bootstrap, independent of the simulation's
        lab_seed, boot_seed = np.random.SeedSequence([seed, r]).spawn(2)
        rng = np.random.default_rng(lab_seed)
        lab = np.zeros(n_patients, dtype=bool)
        lab[rng.choice(n_patients, n_labelled, replace=False)] = True
        te = ["time", "event"]
        results = {
            "prevalence": (y[binary].mean(), ppi_mean(y.loc[lab, binary], yhat.loc[lab, binary], yhat.loc[~lab, binary],
                                                      alpha=alpha)),
            "km_survival": (km_survival_at(y[te].to_numpy(float), horizon),
                            ppi_bootstrap(lambda a: km_survival_at(a, horizon), y.loc[lab, te], yhat.loc[lab, te],
                                          yhat.loc[~lab, te], n_boot=n_boot, alpha=alpha, seed=boot_seed)),
        }
        for estimand, (truth, res) in results.items():
            for _, row in res.iterrows():
                rows.append({"estimand": estimand, "method": row["method"], "truth": truth,
                             "estimate": row["estimate"], "covered": row["lower"] <= truth <= row["upper"],
                             "width": row["upper"] - row["lower"]})
    out = pd.DataFrame(rows)
    return out.groupby(["estimand", "method"]).agg(
        coverage=("covered", "mean"), mean_width=("width", "mean"),
        bias=("estimate", lambda e: float(np.mean(e - out.loc[e.index, "truth"]))), n_reps=("covered", "size"),
    ).reset_index().assign(nominal=1 - alpha)


ATE_VARIABLES = ["index_date", "age", "female", "treatment", "event", "event_date", "end_date"]


def ppi_ate_coverage(n_reps: int, n_patients: int, n_labelled: int, seed: int, *, horizon: float = 3.0,
                     alphas: tuple[float, ...] = (0.1, 0.05), covariates: tuple[str, ...] = ("age", "female"),
                     ) -> pd.DataFrame:
    """Per replication, level and method (PPI, classical on the validated subset only, naive AI-only), the ATE
    of strategy 1 (RMST difference up to ``horizon``, :func:`causalehr.probation.ppi.ppi_rmst_ate`), its interval,
    whether it covers the true ATE (:func:`causalehr.probation.synthetic.rmst_difference_truth`) and its width.
    The validated subset is a simple random sample of ``n_labelled`` patients; replication r simulates from
    ``seed + r``. Summarise with :func:`summarise_coverage`."""
    from .ppi import ppi_rmst_ate
    from .synthetic import rmst_difference_truth

    spec = default_spec()
    spec = spec[spec["variable"].isin(ATE_VARIABLES)]
    truth = rmst_difference_truth(horizon)
    errors = default_errors(spec, sources=("ai",))
    rows = []
    for r in range(n_reps):
        data = simulate_extraction(n_patients, spec, seed + r, errors=errors, metric_truth=False)
        rng = np.random.default_rng(np.random.SeedSequence([seed, r, 1]))
        lab = data.reference.index[rng.choice(n_patients, n_labelled, replace=False)]
        res = ppi_rmst_ate(data.reference, data.sources["ai"], data.spec, labelled=lab, covariates=list(covariates),
                           horizon=horizon, alphas=alphas)
        rows.append(res[["nominal", "method", "estimate", "lower", "upper"]].assign(rep=r))
    out = pd.concat(rows, ignore_index=True)
    return out.assign(truth=truth, covered=(out["lower"] <= truth) & (truth <= out["upper"]),
                      width=out["upper"] - out["lower"], n=n_patients, n_labelled=n_labelled, horizon=horizon)


def summarise_coverage(reps: pd.DataFrame, keys=("n", "n_labelled", "nominal", "method")) -> pd.DataFrame:
    """Coverage with its Monte Carlo standard error sqrt(c (1 - c) / R), mean width, bias and empirical SD of
    the estimate, per ``keys``."""
    out = reps.assign(error=reps["estimate"] - reps["truth"]).groupby(list(keys), sort=False).agg(
        coverage=("covered", "mean"), mean_width=("width", "mean"), bias=("error", "mean"),
        sd=("estimate", "std"), n_reps=("covered", "size")).reset_index()
    out["coverage_mcse"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["n_reps"])
    out["bias_mcse"] = out["sd"] / np.sqrt(out["n_reps"])
    return out
