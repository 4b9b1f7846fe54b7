"""Bias of clone-censor-weight on the grace-period trial's warehouses (``config/trials/ehr_diabetes_grace.yaml``:
start an SGLT2 inhibitor within 183 days versus never, RMST difference up to 5 years) against the positivity of the
"never" strategy, set by the simulator's start rate and confounding.

For each setting ``start_rate:confounding`` and replication: a synthetic OMOP warehouse of ``--n`` eligible patients
(:func:`causalehr.studies.trial.build`, the trial study's chain; ``--source simulator`` skips the records and fits
the simulator's own table with centre indicators), clone-censor-weight with each weight model of ``--models``
(``WEIGHT_MODELS`` names, or ``oracle``: the start hazard from the simulator's true start rate, 1 - exp(-rate x
interval length), and P(started by g | X) = 1 - exp(-rate g), which ignores the conditioning on survival to g;
censoring weights by the logistic model), against the truth of the warehouse. Printed and written (``--out``) per
setting and model: the mean truth, bias with its Monte Carlo SE, SD, the share of patients whose true probability of
not having started by the horizon is below 1e-3 (the "never" strategy is then unsupported for them) and the Kish
effective sample size of the "never" clones in the last interval of the time grid (against the clones at risk).

    python benchmarks/bench_ccw_positivity.py --n 20000 --reps 8 --out benchmarks/results/ccw_positivity.csv
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_limits

from causalehr.ccw import CloneCensorWeight, fit_ccw
from causalehr.cohort import load_spec
from causalehr.registry import WEIGHT_MODELS
from causalehr.simulate import simulate
from causalehr.studies.trial import build, features, synthetic_params

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "config" / "trials" / "ehr_diabetes_grace.yaml"


class OracleStart(BaseEstimator, ClassifierMixin):
    """The true discrete hazard of starting, read from the standardised log start rate in column ``col`` of the
    design (``mean``, ``sd``: its standardisation) and the interval indicators that follow the ``p`` covariates."""

    def __init__(self, col=0, mean=0.0, sd=1.0, p=1, grid=None, grace=1.0):
        self.col, self.mean, self.sd, self.p, self.grid, self.grace = col, mean, sd, p, grid, grace

    def fit(self, Z, y, sample_weight=None):
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, Z):
        rate = np.exp(Z[:, self.col] * self.sd + self.mean)
        if Z.shape[1] == self.p:  # P(started by g | X)
            h = 1 - np.exp(-rate * self.grace)
        else:
            j = np.argmax(Z[:, self.p:self.p + len(self.grid) - 1], axis=1)
            h = 1 - np.exp(-rate * np.diff(self.grid)[j])
        return np.column_stack([1 - h, h])


def analysis_table(spec, n, seed, params, source, workdir):
    """(features, treatment_start, time, event, per-patient truth, true start rate) of one warehouse."""
    if source == "records":
        cohort = build(spec, Path(workdir) / f"rep{seed}", seed=seed, synthetic={"n": n, "params": params})
        effects = pd.read_parquet(Path(workdir) / f"rep{seed}" / "truth" / "effects.parquet").set_index("person_id")
        df, X = cohort.analysis, features(cohort)
        effects = effects.loc[df["person_id"]]
        return X, df["treatment_start"], df["time"], df["event"], effects
    c = simulate("ehr_diabetes", n, seed, time_varying_start=True, **synthetic_params(spec, params))
    df = c.data
    X = pd.concat([df[c.covariates], pd.get_dummies(df["centre"], prefix="centre", drop_first=True, dtype=float)],
                  axis=1)
    return X, df["treatment_start"], df["time"], (df["event"] == 1).astype(int), c.truth


def fit(model, X, start, time, event, rate, grace, horizon, n_intervals, seed):
    """RMST difference and the "never" clones' (ESS, at risk) in the last interval."""
    kwargs = dict(grace=grace, horizon=horizon, n_intervals=n_intervals, random_state=seed)
    if model == "oracle":
        X = X.assign(log_rate=np.log(rate))
        grid = CloneCensorWeight(**kwargs)._grid()
        lr = X["log_rate"].to_numpy()
        kwargs.update(start_model=OracleStart(col=X.shape[1] - 1, mean=lr.mean(), sd=lr.std(), p=X.shape[1],
                                              grid=grid, grace=grace))
    else:
        kwargs.update(start_model=WEIGHT_MODELS[model](seed), censoring_model=WEIGHT_MODELS[model](seed))
    frame = X.assign(treatment_start=np.asarray(start), time=np.asarray(time), event=np.asarray(event))
    m = fit_ccw(frame, list(X.columns), **kwargs)
    last = m.ess_.query("strategy == 'never'").iloc[-1]
    return m.rmst_difference_, last["ess"], last["n_at_risk"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--settings", default="0.5:1.0,0.2:1.0,0.5:0.5,0.2:0.5",
                        help="start_rate:confounding pairs (the trial study's warehouses: 0.5:1.0)")
    parser.add_argument("--models", default="logistic,boosting,oracle")
    parser.add_argument("--source", choices=["records", "simulator"], default="records")
    parser.add_argument("--n-intervals", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    spec = load_spec(SPEC)
    grace, horizon = spec.strategies["grace_days"] / 365.25, spec.horizon_days / 365.25
    rows = []
    with threadpool_limits(1), tempfile.TemporaryDirectory(prefix="ccw_positivity_") as workdir:
        for setting in args.settings.split(","):
            start_rate, confounding = (float(v) for v in setting.split(":"))
            params = {"missingness": 0.0, "start_rate": start_rate, "confounding": confounding}
            for rep in range(args.reps):
                seed = 1000 + rep
                X, start, time, event, truth = analysis_table(spec, args.n, seed, params, args.source, workdir)
                rate = truth["start_rate"].to_numpy()
                unsupported = float(np.mean(np.exp(-rate * horizon) < 1e-3))
                for model in args.models.split(","):
                    estimate, ess, at_risk = fit(model, X, start, time, event, rate, grace, horizon,
                                                 args.n_intervals, seed)
                    rows.append({"start_rate": start_rate, "confounding": confounding, "model": model, "rep": rep,
                                 "truth": truth["strategy_rmst_difference"].mean(), "estimate": estimate,
                                 "unsupported": unsupported, "never_ess_last": ess, "never_at_risk_last": at_risk})
                    print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    res = pd.DataFrame(rows).assign(error=lambda d: d["estimate"] - d["truth"])
    table = res.groupby(["start_rate", "confounding", "model"], sort=False).agg(
        reps=("rep", "size"), truth=("truth", "mean"), bias=("error", "mean"), sd=("error", "std"),
        unsupported=("unsupported", "mean"), never_ess_last=("never_ess_last", "mean"),
        never_at_risk_last=("never_at_risk_last", "mean")).reset_index()
    table.insert(table.columns.get_loc("sd"), "bias_mcse", table["sd"] / np.sqrt(table["reps"]))
    table = table.assign(n=args.n, source=args.source, n_intervals=args.n_intervals).round(4)
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
