"""The causal survival forest settings "csf1".."csf4".

Re-implemented from the definition of ``generate_causal_survival_data(dgp = "type1".."type4")`` in R grf 2.6.1
(r-package/grf/R/dgps.R), which are scenarios 1-4 of Cui, Kosorok, Sverdrup, Wager and Zhu (2023),
"Estimating heterogeneous treatment effects with right-censored data via causal survival forests",
JRSS-B 85(2):179-211. Covariates X ~ U(0, 1)^p (Gaussian copula with correlation rho^|i-j| if rho != 0).

- csf1: log T = -1.85 - 0.8 I(X1 < .5) + 0.7 sqrt(X2) + 0.2 X3 + (0.7 - 0.4 I(X1 < .5) - 0.4 sqrt(X2)) W + N(0, 1);
  censoring from a Cox/Weibull(shape 2) model; e(X) = (1 + dbeta(X1, 2, 4)) / 4; horizon 1.5, y0 = 0.8.
- csf2: Weibull(shape 1/2) proportional hazards, T = (E / exp(X1 + (X2 - 0.5) W))^2, E ~ Exp(1);
  C ~ U(0, 3); same e(X); horizon 2, y0 = 1.2.
- csf3: T ~ Poisson(X2^2 + X3 + 6 + 2 (sqrt(X1) - 0.3) W), C ~ Poisson(12 + log(1 + exp(X3)));
  same e(X); horizon 15, y0 = 10.
- csf4: T ~ Poisson(X2 + X3 + max(0, X1 - 0.3) W), C ~ Poisson(1 + log(1 + exp(X3)));
  e(X) = 1 / ((1 + exp(-X1)) (1 + exp(-X2))); horizon 3, y0 = 2.

True effects: grf estimates E[min(T(w), horizon) | X] and P(T(w) > y0 | X) by a Monte Carlo draw of
n.mc = 10,000 per patient; here they are computed in closed form (log-normal and Weibull RMST formulas,
Poisson tail sums), which is the exact value that grf's Monte Carlo approximates.

Differences to grf, both optional: grf records min(T, horizon) as the failure time (so patients alive and
uncensored at the horizon get event = 1 at the horizon); here the untruncated T is observed by default and
``truncate=True`` reproduces grf. csf3/csf4 have discrete times, and time 0 occurs, as in grf.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist
from scipy.stats import norm

from causalehr.simulate._base import SimulatedCohort, assemble, check_positive, uniform_covariates
from causalehr.simulate.truth import WeibullPH

DEFAULTS = {1: (1.5, 0.8), 2: (2.0, 1.2), 3: (15.0, 10.0), 4: (3.0, 2.0)}


def _propensity_beta(x: np.ndarray) -> np.ndarray:
    return (1 + beta_dist.pdf(x[:, 0], 2, 4)) / 4


class _LogNormalAFT:
    """csf1: log T(w) = m0 + w * tau + N(0, 1)."""

    def __init__(self, x: np.ndarray, censoring_scale: float):
        i1 = x[:, 0] < 0.5
        sx2 = np.sqrt(x[:, 1])
        self.m0 = -1.85 - 0.8 * i1 + 0.7 * sx2 + 0.2 * x[:, 2]
        self.tau = 0.7 - 0.4 * i1 - 0.4 * sx2
        self.censor_lp = (-1.75 - 0.5 * sx2 + 0.2 * x[:, 2], 1.15 + 0.5 * i1 - 0.3 * sx2)
        self.censoring_scale = censoring_scale
        self.propensity = _propensity_beta(x)

    def _m(self, w):
        return self.m0 + w * self.tau

    def survival(self, t, w):
        with np.errstate(divide="ignore"):
            return norm.cdf(self._m(w) - np.log(t))

    def rmst(self, tau, w):
        m = self._m(w)
        z = np.log(tau) - m
        return np.exp(m + 0.5) * norm.cdf(z - 1) + tau * norm.cdf(-z)

    def draw_event(self, w, rng):
        return np.exp(self._m(w) + rng.standard_normal(len(w)))

    def draw_censoring(self, w, rng):
        a, b = self.censor_lp
        return self.censoring_scale * np.sqrt(rng.standard_exponential(len(w)) / np.exp(a + b * w))


class _WeibullPH(WeibullPH):
    """csf2: S(t | X, w) = exp(-sqrt(t) exp(X1 + (X2 - 0.5) w)), C ~ U(0, 3)."""

    def __init__(self, x: np.ndarray, censoring_scale: float):
        super().__init__(0.5, x[:, 0], x[:, 1] - 0.5)
        self.censoring_scale = censoring_scale
        self.propensity = _propensity_beta(x)

    def draw_censoring(self, w, rng):
        return self.censoring_scale * 3 * rng.random(len(w))


class _Poisson:
    """csf3 / csf4: T(w) ~ Poisson(lam0 + w * tau), C ~ Poisson(censoring_scale * lam_c)."""

    def __init__(self, x: np.ndarray, censoring_scale: float, dgp: int):
        if dgp == 3:
            self.lam0 = x[:, 1] ** 2 + x[:, 2] + 6
            self.tau = 2 * (np.sqrt(x[:, 0]) - 0.3)
            self.lam_c = 12 + np.log1p(np.exp(x[:, 2]))
            self.propensity = _propensity_beta(x)
        else:
            self.lam0 = x[:, 1] + x[:, 2]
            self.tau = np.maximum(0, x[:, 0] - 0.3)
            self.lam_c = 1 + np.log1p(np.exp(x[:, 2]))
            self.propensity = 1 / ((1 + np.exp(-x[:, 0])) * (1 + np.exp(-x[:, 1])))
        self.lam_c = censoring_scale * self.lam_c

    def _lam(self, w):
        return self.lam0 + w * self.tau

    def _tails(self, m, w):
        """P(N > k) for k = 0..m (list), by the recursion pmf(k) = pmf(k - 1) lam / k (exps only: fast)."""
        lam = self._lam(w)
        pmf = np.exp(-lam)
        cdf = pmf.copy()
        tails = [1 - cdf]
        for k in range(1, m + 1):
            pmf = pmf * lam / k
            cdf += pmf
            tails.append(np.clip(1 - cdf, 0, 1))
        return tails

    def survival(self, t, w):
        return self._tails(int(np.floor(t)), w)[-1]

    def rmst(self, tau, w):
        # E min(N, tau) = int_0^tau P(N > t) dt, and P(N > t) = P(N > floor(t))
        whole = int(np.floor(tau))
        tails = self._tails(whole, w)
        return sum(tails[:whole]) + (tau - whole) * tails[whole]

    def draw_event(self, w, rng):
        return rng.poisson(self._lam(w)).astype(float)

    def draw_censoring(self, w, rng):
        return rng.poisson(self.lam_c).astype(float)


def make_model(x: np.ndarray, dgp: int, censoring_scale: float = 1.0):
    """True event/censoring model of csf``dgp`` for covariates ``x`` (n x p, p >= 5)."""
    if dgp == 1:
        return _LogNormalAFT(x, censoring_scale)
    if dgp == 2:
        return _WeibullPH(x, censoring_scale)
    return _Poisson(x, censoring_scale, dgp)


def simulate_csf(
    n: int,
    rng: np.random.Generator,
    *,
    dgp: int,
    n_covariates: int = 5,
    rho: float = 0.0,
    censoring_scale: float = 1.0,
    horizon: float | None = None,
    horizon_surv: float | None = None,
    truncate: bool = False,
    params: dict,
) -> SimulatedCohort:
    """Simulate setting csf``dgp``.

    Knobs: ``n_covariates`` (p >= 5; only X1-X3 matter), ``rho`` (covariate correlation), ``censoring_scale``
    (multiplies the censoring times, or the censoring Poisson mean in csf3/csf4; 1 = grf, < 1 = more censoring),
    ``horizon`` (grf's Y.max: RMST horizon), ``horizon_surv`` (grf's y0), ``truncate`` (record min(T, horizon)
    as failure time, as grf does).
    """
    if n_covariates < 5:
        raise ValueError(f"setting csf{dgp} needs n_covariates >= 5, got {n_covariates}")
    check_positive("censoring_scale", censoring_scale)
    default_h, default_hs = DEFAULTS[dgp]
    horizon = default_h if horizon is None else horizon
    horizon_surv = default_hs if horizon_surv is None else horizon_surv
    check_positive("horizon", horizon)
    check_positive("horizon_surv", horizon_surv)

    x = uniform_covariates(rng, n, n_covariates, rho)
    model = make_model(x, dgp, censoring_scale)
    w = (rng.random(n) < model.propensity).astype(np.int64)
    failure = model.draw_event(w, rng)
    if truncate:
        failure = np.minimum(failure, horizon)
    censor = model.draw_censoring(w, rng)
    covariates = pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(n_covariates)])
    descriptions = {c: ("", "U(0, 1) covariate") for c in covariates.columns}
    descriptions["time"] = ("time units", "min(failure time, censoring time)")
    return assemble(
        setting=f"csf{dgp}",
        params=params,
        covariates=covariates,
        treatment=w,
        time=np.minimum(failure, censor),
        event=failure <= censor,
        survival=model.survival,
        rmst=model.rmst,
        horizon=horizon,
        horizon_surv=horizon_surv,
        propensity=model.propensity,
        descriptions=descriptions,
        # Poisson survival is a step function: its integer points are the whole curve
        curve_grid=np.arange(np.ceil(max(horizon, horizon_surv)) + 1) if dgp in (3, 4) else None,
    )
