"""The survlearners settings "survlearners1".."survlearners9".

Re-implemented from ``generate_tutorial_survival_data(dgp = "fcomplex")`` in the R package survlearners
(r-package/survlearners/R/dgps.R) and the scenario grid of its benchmark (experiments/simulation_hpc.R), from
Xu, Ignatiadis, Sverdrup, Fleming, Wager and Shah (2023), "Treatment heterogeneity with survival outcomes",
Handbook of Matching and Weighting Adjustments for Causal Inference, ch. 21 (arXiv:2207.07758).

X ~ N(0, I_p), W ~ Bernoulli(propensity) (a randomised trial), Weibull(shape 1/2) proportional hazards
T = (E / exp(b(X) + (-0.5 - g(X)) W))^2 with E ~ Exp(1). Censoring C = (E' / s^rho)^(1/rho), i.e.
P(C > t) = exp(-(s t)^rho), with s = ``cen_scale`` ("indX"), exp(0.5 + 2 X1 + 2 X2 W) ("dX") or
exp(1 + 2 X1 + 2 W + 2 X2 W) ("dX.ub"). The nine scenarios are the first nine rows of the benchmark grid:

==============  ======  ======  ======  ======
setting         f.b     p.b     f.i     p.i
==============  ======  ======  ======  ======
survlearners1   L       1       L       1
survlearners2   L       25      L       1
survlearners3   L       25      L       25
survlearners4   NL      1       L       1
survlearners5   NL      25      L       1
survlearners6   NL      25      L       25
survlearners7   NL      1       NL      1
survlearners8   NL      25      NL      1
survlearners9   NL      25      NL      25
==============  ======  ======  ======  ======

L/1: beta X1 (main) or gamma X2 (interaction); L/25: X_1..25 with coefficients beta/5 (gamma/5);
NL/1: beta 1(X1 > .5) (gamma 1(X2 > .5)); NL/25: 0.99 V1 + 0.33 (V2 V3 + V4 V5 + ... + V24 V25), V_j = 1(X_j > .5).
The other rows of the benchmark grid are knobs: ``propensity`` = 0.05 (unbalanced), ``cen_scale``/``cen_rho``
(censoring rate), ``cen_model`` ("dX", "dX.ub"), ``gamma`` (heterogeneity), ``horizon_surv`` (t0, event rate).

Truth: survlearners estimates P(T(w) > t0 | X) by a Monte Carlo draw of n.mc = 10,000 per patient; here it is
exact, S_w(t | X) = exp(-sqrt(t) exp(eta_w(X))), and so is the RMST up to ``horizon`` (survlearners' Y.max).
As in csf, the untruncated T is observed unless ``truncate=True`` (survlearners records min(T, Y.max)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causalehr.simulate._base import SimulatedCohort, assemble, check_positive
from causalehr.simulate.truth import WeibullPH

# setting number -> (f.b, p.b, f.i, p.i)
SCENARIOS = {
    1: ("L", 1, "L", 1),
    2: ("L", 25, "L", 1),
    3: ("L", 25, "L", 25),
    4: ("NL", 1, "L", 1),
    5: ("NL", 25, "L", 1),
    6: ("NL", 25, "L", 25),
    7: ("NL", 1, "NL", 1),
    8: ("NL", 25, "NL", 1),
    9: ("NL", 25, "NL", 25),
}
CENSORING_MODELS = ("indX", "dX", "dX.ub")
_NL_COEF = np.r_[0.99, np.full(12, 0.33)]


def _nonlinear_terms(x: np.ndarray) -> np.ndarray:
    """Columns V1, V2:V3, V4:V5, ..., V24:V25 with V_j = 1(X_j > 0.5)."""
    v = (x[:, :25] > 0.5).astype(float)
    return np.column_stack([v[:, 0], v[:, 1:25:2] * v[:, 2:25:2]])


def _function(x: np.ndarray, form: str, size: int, coef: float, column: int) -> np.ndarray:
    """Main effect (column 0, coefficient beta) or interaction (column 1, coefficient gamma)."""
    if size == 1:
        return coef * (x[:, column] > 0.5) if form == "NL" else coef * x[:, column]
    if form == "NL":
        return _nonlinear_terms(x) @ _NL_COEF
    return x[:, :25] @ np.full(25, coef / 5)


def simulate_survlearners(
    n: int,
    rng: np.random.Generator,
    *,
    scenario: int,
    n_covariates: int = 25,
    propensity: float = 0.5,
    beta: float = 1.0,
    gamma: float = 1.0,
    cen_model: str = "indX",
    cen_scale: float = 4.0,
    cen_rho: float = 2.0,
    horizon: float = 2.0,
    horizon_surv: float = 0.2,
    truncate: bool = False,
    params: dict,
) -> SimulatedCohort:
    """Simulate setting survlearners``scenario`` (knobs named after the R arguments; see module docstring)."""
    f_b, p_b, f_i, p_i = SCENARIOS[scenario]
    needed = 25 if 25 in (p_b, p_i) else 2
    if n_covariates < needed:
        raise ValueError(f"setting survlearners{scenario} needs n_covariates >= {needed}, got {n_covariates}")
    if not 0 < propensity < 1:
        raise ValueError(f"propensity must be in (0, 1), got {propensity}")
    if cen_model not in CENSORING_MODELS:
        raise ValueError(f"cen_model must be one of {list(CENSORING_MODELS)}, got {cen_model!r}")
    for name, value in [("cen_scale", cen_scale), ("cen_rho", cen_rho), ("horizon", horizon),
                        ("horizon_surv", horizon_surv)]:
        check_positive(name, value)

    x = rng.standard_normal((n, n_covariates))
    model = WeibullPH(0.5, _function(x, f_b, p_b, beta, 0), -0.5 - _function(x, f_i, p_i, gamma, 1))
    w = (rng.random(n) < propensity).astype(np.int64)
    failure = model.draw_event(w, rng)
    if truncate:
        failure = np.minimum(failure, horizon)
    if cen_model == "indX":
        scale = np.full(n, cen_scale)
    elif cen_model == "dX":
        scale = np.exp(0.5 + 2 * x[:, 0] + 2 * x[:, 1] * w)
    else:
        scale = np.exp(1 + 2 * x[:, 0] + 2 * w + 2 * x[:, 1] * w)
    censor = (rng.standard_exponential(n) / scale**cen_rho) ** (1 / cen_rho)

    covariates = pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(n_covariates)])
    descriptions = {c: ("", "N(0, 1) covariate") for c in covariates.columns}
    descriptions["time"] = ("time units", "min(failure time, censoring time)")
    return assemble(
        setting=f"survlearners{scenario}",
        params=params,
        covariates=covariates,
        treatment=w,
        time=np.minimum(failure, censor),
        event=failure <= censor,
        survival=model.survival,
        rmst=model.rmst,
        horizon=horizon,
        horizon_surv=horizon_surv,
        propensity=np.full(n, propensity),
        descriptions=descriptions,
    )
