"""Common pieces of the simulators: the SimulatedCohort container, covariate draws, truth assembly, I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from causalehr.data import data_dictionary

N_CURVE_POINTS = 41


@dataclass
class SimulatedCohort:
    """A simulated cohort with its ground truth.

    ``data`` holds the observed columns (one row per patient), ``truth`` the per-patient true quantities
    in the same order (at least ``cate_rmst`` = RMST difference up to ``horizon`` and ``cate_surv`` =
    S1 - S0 at ``horizon_surv``), ``survival_curves`` the true marginal survival per arm (sample average of
    the per-patient true survival curves; columns ``time, arm, survival``).
    """

    data: pd.DataFrame
    truth: pd.DataFrame
    covariates: list[str]
    horizon: float
    horizon_surv: float
    survival_curves: pd.DataFrame
    dictionary: pd.DataFrame
    setting: str
    params: dict
    strategy_effects: pd.DataFrame | None = None

    def to_parquet(self, directory: str | Path) -> Path:
        """Write data.parquet, truth.parquet, survival_curves.parquet, dictionary.csv, meta.json
        (and strategy_effects.parquet when present) into ``directory``; return the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.data.to_parquet(directory / "data.parquet", index=False)
        self.truth.to_parquet(directory / "truth.parquet", index=False)
        self.survival_curves.to_parquet(directory / "survival_curves.parquet", index=False)
        self.dictionary.to_csv(directory / "dictionary.csv", index=False)
        if self.strategy_effects is not None:
            self.strategy_effects.to_parquet(directory / "strategy_effects.parquet", index=False)
        meta = {
            "setting": self.setting,
            "params": _jsonable(self.params),
            "horizon": float(self.horizon),
            "horizon_surv": float(self.horizon_surv),
            "covariates": list(self.covariates),
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return directory

    @classmethod
    def read_parquet(cls, directory: str | Path) -> SimulatedCohort:
        """Load a cohort written by :meth:`to_parquet`."""
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            raise ValueError(f"{directory} is not a simulated cohort directory: meta.json not found")
        meta = json.loads(meta_path.read_text())
        effects = directory / "strategy_effects.parquet"
        dictionary = pd.read_csv(directory / "dictionary.csv", keep_default_na=False)
        return cls(
            data=pd.read_parquet(directory / "data.parquet"),
            truth=pd.read_parquet(directory / "truth.parquet"),
            covariates=meta["covariates"],
            horizon=meta["horizon"],
            horizon_surv=meta["horizon_surv"],
            survival_curves=pd.read_parquet(directory / "survival_curves.parquet"),
            dictionary=dictionary,
            setting=meta["setting"],
            params=meta["params"],
            strategy_effects=pd.read_parquet(effects) if effects.exists() else None,
        )


def load_cohort(directory: str | Path) -> SimulatedCohort:
    """Load a cohort written by :meth:`SimulatedCohort.to_parquet`."""
    return SimulatedCohort.read_parquet(directory)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def uniform_covariates(rng: np.random.Generator, n: int, p: int, rho: float) -> np.ndarray:
    """n x p covariates with U(0, 1) margins; for rho != 0 a Gaussian copula with correlation
    rho^|i-j| (as ``pnorm(MASS::mvrnorm(...))`` in grf)."""
    if not -1 < rho < 1:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    if rho == 0:
        return rng.random((n, p))
    corr = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    z = rng.standard_normal((n, p)) @ np.linalg.cholesky(corr).T
    return norm.cdf(z)


def check_positive(name: str, value: float) -> None:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def assemble(
    *,
    setting: str,
    params: dict,
    covariates: pd.DataFrame,
    treatment: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    survival: Callable[[float, int], np.ndarray],
    rmst: Callable[[float, int], np.ndarray],
    horizon: float,
    horizon_surv: float,
    propensity: np.ndarray,
    descriptions: Mapping[str, tuple[str, str]],
    extra_data: Mapping[str, np.ndarray] | None = None,
    extra_truth: Mapping[str, np.ndarray] | None = None,
    strategy_effects: pd.DataFrame | None = None,
    curve_grid: np.ndarray | None = None,
) -> SimulatedCohort:
    """Build a SimulatedCohort from the draws and the true per-patient survival ``survival(t, arm)`` and
    restricted mean ``rmst(tau, arm)`` functions (vectorised over patients). The marginal survival curves are
    evaluated on ``curve_grid`` (default: 41 points from 0 to the larger horizon)."""
    n = len(treatment)
    data = pd.DataFrame({"patient_id": np.arange(1, n + 1, dtype=np.int64)})
    data = pd.concat([data, covariates.reset_index(drop=True)], axis=1)
    extra_data = dict(extra_data or {})
    if "centre" in extra_data:
        data["centre"] = extra_data.pop("centre")
    data["treatment"] = treatment.astype(np.int64)
    for name, values in extra_data.items():
        data[name] = values
    data["time"] = time.astype(float)
    data["event"] = event.astype(np.int64)

    mu0, mu1 = rmst(horizon, 0), rmst(horizon, 1)
    s0, s1 = survival(horizon_surv, 0), survival(horizon_surv, 1)
    truth = pd.DataFrame(
        {
            "cate_rmst": mu1 - mu0,
            "cate_surv": s1 - s0,
            "mu0_rmst": mu0,
            "mu1_rmst": mu1,
            "surv0": s0,
            "surv1": s1,
            "propensity": propensity,
        }
    )
    for name, values in (extra_truth or {}).items():
        truth[name] = values

    grid = np.linspace(0.0, max(horizon, horizon_surv), N_CURVE_POINTS) if curve_grid is None else curve_grid
    curves = pd.DataFrame(
        {
            "time": np.tile(grid, 2),
            "arm": np.repeat([0, 1], len(grid)),
            "survival": [float(survival(t, arm).mean()) for arm in (0, 1) for t in grid],
        }
    )
    return SimulatedCohort(
        data=data,
        truth=truth,
        covariates=list(covariates.columns),
        horizon=float(horizon),
        horizon_surv=float(horizon_surv),
        survival_curves=curves,
        dictionary=data_dictionary(data, descriptions),
        setting=setting,
        params=params,
        strategy_effects=strategy_effects,
    )
