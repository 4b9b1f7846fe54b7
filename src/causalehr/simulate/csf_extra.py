"""Two more settings for the head-to-head with grf's causal survival forest: "grf_example" and "heavy_censoring".

- grf_example: the example of the documentation of ``causal_survival_forest`` in R grf 2.6.1 (written here from its
  description, not its code): X ~ U(0, 1)^p, W ~ Bernoulli(1/2), T(w) = E X1 + w with E ~ Exp(1), C ~ U(0, 2),
  horizon 1 for both estimands. Truth in closed form: E min(T(w), h) = h if h <= w, else
  w + X1 (1 - exp(-(h - w) / X1)); P(T(w) > t) = 1 if t < w, else exp(-(t - w) / X1). At h = 1 the treated
  survive the horizon surely, so CATE_RMST = 1 - X1 (1 - exp(-1 / X1)) and CATE_surv = 1 - exp(-1 / X1). The
  example records min(T, horizon) as the failure time; that leaves the RMST at the horizon unchanged but would make
  the survival past the horizon zero in both arms, so the failure times are kept whole here.
- heavy_censoring (this compendium's own): heavy, informative (covariate- and treatment-dependent) censoring, with
  the censoring survival at the horizon small but positive (about 0.007 at its smallest, 0.05 at the 5th
  percentile, 0.28 at the median; about 56% of patients censored before the horizon, 27% with an observed event).
  X ~ U(0, 1)^p; e(X) = (1 + dbeta(X1, 2, 4)) / 4 (as csf1); T(w) exponential proportional hazards,
  H(t) = t exp(-1 + X2 - 0.5 X3 + w (0.6 - 1.6 sqrt(X1))); C Weibull (shape 2),
  H_C(t) = (t / censoring_scale)^2 exp(-0.2 + 1.2 X2 - 0.8 X1 + 0.6 w): the patients at higher risk (X2) and the
  treated are censored sooner. Horizon 1, survival at 0.7. Truth in closed form (:class:`~.truth.WeibullPH`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causalehr.simulate._base import SimulatedCohort, assemble, check_positive, uniform_covariates
from causalehr.simulate.csf import _propensity_beta
from causalehr.simulate.truth import WeibullPH


class _GrfExample:
    """T(w) = E X1 + w, E ~ Exp(1); C ~ U(0, 2 censoring_scale)."""

    def __init__(self, x: np.ndarray, censoring_scale: float):
        self.x1 = x[:, 0]
        self.censoring_scale = censoring_scale
        self.propensity = np.full(len(x), 0.5)

    def survival(self, t, w):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t < w, 1.0, np.exp(-np.maximum(t - w, 0) / self.x1))

    def rmst(self, tau, w):
        if tau <= w:
            return np.full(len(self.x1), float(tau))
        with np.errstate(divide="ignore"):
            return w + self.x1 * -np.expm1(-(tau - w) / self.x1)

    def draw_event(self, w, rng):
        return rng.standard_exponential(len(w)) * self.x1 + w

    def draw_censoring(self, w, rng):
        return self.censoring_scale * 2 * rng.random(len(w))


class _HeavyCensoring(WeibullPH):
    """Exponential PH events; Weibull (shape 2) censoring depending on X1, X2 and the treatment."""

    def __init__(self, x: np.ndarray, censoring_scale: float):
        super().__init__(1.0, -1 + x[:, 1] - 0.5 * x[:, 2], 0.6 - 1.6 * np.sqrt(x[:, 0]))
        self.censor_lp = (-0.2 + 1.2 * x[:, 1] - 0.8 * x[:, 0], 0.6)
        self.censoring_scale = censoring_scale
        self.propensity = _propensity_beta(x)

    def censoring_survival(self, t, w):
        a, b = self.censor_lp
        return np.exp(-((t / self.censoring_scale) ** 2) * np.exp(a + b * w))

    def draw_censoring(self, w, rng):
        a, b = self.censor_lp
        return self.censoring_scale * np.sqrt(rng.standard_exponential(len(w)) / np.exp(a + b * w))


_MODELS = {"grf_example": (_GrfExample, "U(0, 1) covariate (only x1 matters)"),
           "heavy_censoring": (_HeavyCensoring, "U(0, 1) covariate (only x1-x3 matter)")}


def _simulate(setting, n, rng, n_covariates, rho, censoring_scale, horizon, horizon_surv, params):
    if n_covariates < 3:
        raise ValueError(f"setting {setting} needs n_covariates >= 3, got {n_covariates}")
    for name, value in (("censoring_scale", censoring_scale), ("horizon", horizon), ("horizon_surv", horizon_surv)):
        check_positive(name, value)
    cls, description = _MODELS[setting]
    x = uniform_covariates(rng, n, n_covariates, rho)
    model = cls(x, censoring_scale)
    w = (rng.random(n) < model.propensity).astype(np.int64)
    failure = model.draw_event(w, rng)
    censor = model.draw_censoring(w, rng)
    covariates = pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(n_covariates)])
    descriptions = {c: ("", description) for c in covariates.columns}
    descriptions["time"] = ("time units", "min(failure time, censoring time)")
    return assemble(setting=setting, params=params, covariates=covariates, treatment=w,
                    time=np.minimum(failure, censor), event=failure <= censor, survival=model.survival,
                    rmst=model.rmst, horizon=horizon, horizon_surv=horizon_surv, propensity=model.propensity,
                    descriptions=descriptions)


def simulate_grf_example(n: int, rng: np.random.Generator, *, n_covariates: int = 5, rho: float = 0.0,
                         censoring_scale: float = 1.0, horizon: float = 1.0, horizon_surv: float = 1.0,
                         params: dict) -> SimulatedCohort:
    """Simulate grf's ``causal_survival_forest`` example. Knobs: ``n_covariates`` (p >= 3; only X1 matters),
    ``rho`` (covariate correlation), ``censoring_scale`` (multiplies the censoring times), ``horizon`` (RMST),
    ``horizon_surv`` (survival)."""
    return _simulate("grf_example", n, rng, n_covariates, rho, censoring_scale, horizon, horizon_surv, params)


def simulate_heavy_censoring(n: int, rng: np.random.Generator, *, n_covariates: int = 5, rho: float = 0.0,
                             censoring_scale: float = 1.0, horizon: float = 1.0, horizon_surv: float = 0.7,
                             params: dict) -> SimulatedCohort:
    """Simulate the heavily and informatively censored setting. Knobs as :func:`simulate_grf_example` (p >= 3;
    only X1-X3 matter; ``censoring_scale`` < 1 censors more)."""
    return _simulate("heavy_censoring", n, rng, n_covariates, rho, censoring_scale, horizon, horizon_surv, params)
