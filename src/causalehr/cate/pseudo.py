"""Censoring-corrected pseudo-outcomes for the RMST and survival-probability estimands.

Target f(T): ``min(T, tau)`` ("rmst") or ``1{T > tau}`` ("surv"). Nuisance curves are evaluated on a time grid
g_0 = 0 <= g_1 < ... < g_m = tau (S(g_0) = G(g_0) = 1, i.e. just before time 0).
Continuous times (``step=False``): quantile grid; curves read between grid points with a constant censoring
hazard within a bin (G) and linearly (Q); RMST by the trapezoid rule; G at the observed time itself.
Discrete times (``step=True``, e.g. days or the Poisson settings; the grid holds every observed time, 0 included):
curves are step functions, RMST a left Riemann sum, events are weighted by G(T-) and censorings at a tied time
come after the events (events precede censorings), as in the Kaplan-Meier estimator.
"""

from collections import namedtuple

import numpy as np

ESTIMANDS = ("rmst", "surv")


def time_grid(time, horizon, n_grid=50):
    """(grid, step): every observed time below ``horizon`` if there are fewer than ``n_grid`` distinct ones
    (step functions, ``step=True``), else ``n_grid`` quantiles of them (0 excluded); the grid ends at horizon."""
    t = np.asarray(time, dtype=float)
    t = np.unique(t[t < horizon])
    if len(t) < n_grid:
        return np.append(t, float(horizon)), True
    q = np.quantile(t, np.linspace(0, 1, n_grid)[1:-1])
    return np.unique(np.append(q[q > 0], float(horizon))), False


def _bin_integrals(surv, grid, step):
    """Integral of S over each bin (g_{j-1}, g_j], j = 1..m, from S on the grid (n, m) with S(g_0 = 0) = 1."""
    full = np.concatenate([np.ones((len(surv), 1)), surv], axis=1)
    height = full[:, :-1] if step else (full[:, 1:] + full[:, :-1]) / 2
    return height * np.diff(np.concatenate([[0.0], grid]))


def functional(surv, grid, estimand, step=False):
    """E[f(T) | x] from S on the grid (n, m): RMST = integral of S up to tau, or S(tau)."""
    if estimand == "surv":
        return surv[:, -1].copy()
    return _bin_integrals(surv, grid, step).sum(axis=1)


def conditional_target(surv, grid, estimand, step=False):
    """Q_k = E[f(T) | T > g_k, x] on the grid, shape (n, m)."""
    s = np.maximum(surv, 1e-12)
    if estimand == "surv":
        return np.clip(surv[:, -1:] / s, 0.0, 1.0)
    area = _bin_integrals(surv, grid, step)[:, 1:]                      # bins 2..m
    tail = np.concatenate([np.cumsum(area[:, ::-1], axis=1)[:, ::-1], np.zeros((len(s), 1))], axis=1)
    return np.clip(grid + tail / s, grid, grid[-1])


def observed_target(time, event, horizon, estimand):
    """(f(U), observed): f(T) where it is known, and which patients have it (event by tau or follow-up to tau)."""
    time = np.asarray(time, dtype=float)
    event_before = (np.asarray(event) == 1) & (time <= horizon)
    beyond = (time >= horizon) & ~event_before
    f = np.minimum(time, horizon) if estimand == "rmst" else beyond.astype(float)
    return f, event_before | beyond


PseudoOutcomes = namedtuple("PseudoOutcomes", "target weight ipcw aipcw g_tau")


def censoring_pseudo_outcomes(time, event, surv, cens, grid, estimand, step=False):
    """IPCW and AIPCW transformations of f(T), per patient, with S and G of the patient's own arm.

    With U = min(T~, tau) and Delta_tau = 1 if f(T) is observed (event by tau or follow-up to tau):
    IPCW: Delta_tau f(U) / G(U-). AIPCW (censoring-unbiased, doubly robust in S and G; Tsiatis 2006,
    "Semiparametric Theory and Missing Data", ch. 9-10; Rubin & van der Laan 2007, "A doubly robust
    censoring unbiased transformation"):
        Delta_tau f(U) / G(U-) + (1 - Delta_tau) Q(U) / G(U) - int_0^U Q(u) dLambda_C(u) / G(u),
    Q(u) = E[f(T) | T > u, x]; the integral is summed over grid bins (the last one up to U), exactly for a
    constant censoring hazard within a bin and Q at the bin's mean of its end values; with ``step`` it is the
    discrete sum of Q(g_k) (dN_C(g_k) - 1{at risk} dLambda_C(g_k)) / G(g_k), the risk set of g_k being the
    patients still event-free after g_k. With G == 1 both equal f(T) for every uncensored patient.
    ``surv`` and ``cens``: (n, m) on ``grid``; G is floored at 1e-6 (positivity is checked by the caller).
    Returns PseudoOutcomes(target f(U), IPCW weight Delta_tau / G(U-), ipcw, aipcw, g_tau = G(tau-), the
    smallest G before tau, for diagnostics).
    """
    f, observed = observed_target(time, event, grid[-1], estimand)
    q = np.concatenate([functional(surv, grid, estimand, step)[:, None],
                        conditional_target(surv, grid, estimand, step)], axis=1)
    return augmented_pseudo_outcomes(f, observed, time, q, cens, grid, step)


def augmented_pseudo_outcomes(f, observed, time, q, cens, grid, step=False):
    """IPCW and AIPCW transformations of a target f with known values ``f`` where ``observed``, from
    Q(g_k) = E[f | T > g_k, x] on g_0 = 0, g_1, ..., g_m (``q``, (n, m + 1)) and G on the grid (``cens``, (n, m));
    the formulas of :func:`censoring_pseudo_outcomes`, which holds for any target fixed by the history up to tau
    (also the competing-risks targets of :mod:`causalehr.cate.competing`)."""
    n, m = cens.shape
    tau = grid[-1]
    g = np.concatenate([np.ones((n, 1)), np.maximum(cens, 1e-6)], axis=1)   # G at g_0 = 0, g_1, ..., g_m
    u = np.minimum(np.asarray(time, dtype=float), tau)
    k = np.clip(np.searchsorted(grid, u, side="left") + 1, 1, m)        # U in bin (g_{k-1}, g_k]
    edges = np.concatenate([[0.0], grid])
    if step:  # events (and follow-up to tau) at G(U-), censorings after the events of their time
        frac = np.where(observed, 0.0, 1.0)
    else:
        frac = np.clip((u - edges[k - 1]) / np.maximum(edges[k] - edges[k - 1], 1e-300), 0.0, 1.0)
    rows = np.arange(n)
    g_u = g[rows, k - 1] * (g[rows, k] / g[rows, k - 1]) ** frac
    q_u = q[rows, k - 1] + frac * (q[rows, k] - q[rows, k - 1])
    weight = np.where(observed, 1.0 / g_u, 0.0)
    # int Q dLambda_C / G over a bin with constant censoring hazard = mean Q x (1 / G_end - 1 / G_start)
    q_bin = q[:, 1:] if step else (q[:, 1:] + q[:, :-1]) / 2
    increment = q_bin * (1.0 / g[:, 1:] - 1.0 / g[:, :-1])
    comp = np.concatenate([np.zeros((n, 1)), np.cumsum(increment, axis=1)], axis=1)
    q_last = q_u if step else (q[rows, k - 1] + q_u) / 2
    compensator = comp[rows, k - 1] + q_last * (1.0 / g_u - 1.0 / g[rows, k - 1])
    ipcw = f * weight
    aipcw = ipcw + np.where(observed, 0.0, q_u / g_u) - compensator
    return PseudoOutcomes(f, weight, ipcw, aipcw, g[:, max(m - 1, 1)])


def dr_scores(y, treatment, mu0, mu1, propensity):
    """AIPW / DR-learner pseudo-outcome (Robins, Rotnitzky & Zhao 1994; Kennedy 2023, "Towards optimal doubly
    robust estimation of heterogeneous causal effects"): mu1 - mu0 + (A - e) / (e (1 - e)) (Y - mu_A), with e
    clipped to [0.001, 0.999] against division by zero (positivity is checked by the caller)."""
    a = np.asarray(treatment)
    e = np.clip(propensity, 1e-3, 1 - 1e-3)
    return mu1 - mu0 + a * (y - mu1) / e - (1 - a) * (y - mu0) / (1 - e)


def arm_scores(y, treatment, mu, propensity):
    """AIPW score of each arm (Robins, Rotnitzky & Zhao 1994; for several arms, Cattaneo 2010, "Efficient
    semiparametric estimation of multi-valued treatment effects under ignorability", J Econometrics), shape (n, k):
    Gamma_a = mu_a + 1{A = a} (Y - mu_a) / e_a, with ``mu`` (n, k) = E[Y | x, a], ``propensity`` (n, k) =
    P(A = a | x) clipped to [0.001, 0.999] as in :func:`dr_scores`, ``treatment`` the arm codes 0..k-1.
    Gamma_1 - Gamma_0 is :func:`dr_scores` when k = 2."""
    a = np.asarray(treatment)
    e = np.clip(propensity, 1e-3, 1 - 1e-3)
    own = a[:, None] == np.arange(mu.shape[1])
    return mu + own * (np.asarray(y)[:, None] - mu) / e
