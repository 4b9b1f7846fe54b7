"""Closed-form truth for Weibull proportional-hazards outcome models (vectorised over patients)."""

from __future__ import annotations

import numpy as np
from scipy.special import gamma, gammainc


def weibull_integral(c: np.ndarray, shape: float, tau: float) -> np.ndarray:
    """int_0^tau exp(-c t^shape) dt via the regularised lower incomplete gamma function P:
    (1/shape) c^(-1/shape) Gamma(1/shape) P(1/shape, c tau^shape)."""
    k = 1.0 / shape
    c = np.asarray(c, dtype=float)
    return k * gamma(k) * c ** (-k) * gammainc(k, c * np.power(tau, shape))


class WeibullPH:
    """Weibull proportional hazards: cumulative hazard H_w(t | X) = t^shape exp(eta0(X) + w * effect(X)).

    ``effect`` is the log hazard ratio of treatment (per patient); survival and RMST are closed form.
    """

    def __init__(self, shape: float, eta0: np.ndarray, effect: np.ndarray):
        self.shape = shape
        self.eta0 = eta0
        self.effect = effect

    def rate(self, w) -> np.ndarray:
        return np.exp(self.eta0 + w * self.effect)

    def survival(self, t, w) -> np.ndarray:
        return np.exp(-np.power(t, self.shape) * self.rate(w))

    def rmst(self, tau, w) -> np.ndarray:
        return weibull_integral(self.rate(w), self.shape, tau)

    def draw_event(self, w, rng: np.random.Generator) -> np.ndarray:
        return (rng.standard_exponential(len(self.eta0)) / self.rate(w)) ** (1 / self.shape)
