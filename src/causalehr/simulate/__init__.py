"""Simulated cohorts with ground truth: ``simulate(setting, n, seed, **params) -> SimulatedCohort``.

Settings (``SETTINGS``): "csf1".."csf4" (Cui et al. 2023, grf; :mod:`.csf`), "survlearners1".."survlearners9"
(Xu et al. 2023, survlearners; :mod:`.survlearners`) and "ehr_diabetes" (EHR-like diabetes cohort with a
point treatment, or a time-varying start for clone-censor-weight with ``time_varying_start=True``, or a competing
death with ``competing_death=True``; :mod:`.ehr`) and "csf2_competing" (csf2 with a competing cause;
:mod:`.competing`); "grf_example" (the example of grf's causal_survival_forest) and "heavy_censoring" (heavy,
informative censoring), both added to the head-to-head with grf (:mod:`.csf_extra`).
A cohort is written with ``cohort.to_parquet(directory)`` and read back with :func:`load_cohort`.
"""

from __future__ import annotations

import inspect

import numpy as np

from causalehr.simulate._base import SimulatedCohort, load_cohort
from causalehr.simulate.competing import simulate_csf2_competing
from causalehr.simulate.csf import simulate_csf
from causalehr.simulate.csf_extra import simulate_grf_example, simulate_heavy_censoring
from causalehr.simulate.ehr import simulate_ehr_diabetes
from causalehr.simulate.survlearners import SCENARIOS, simulate_survlearners

__all__ = ["SETTINGS", "SimulatedCohort", "load_cohort", "simulate", "setting_params"]

# setting name -> (generator, fixed keyword arguments)
SETTINGS: dict[str, tuple] = {
    **{f"csf{k}": (simulate_csf, {"dgp": k}) for k in (1, 2, 3, 4)},
    **{f"survlearners{k}": (simulate_survlearners, {"scenario": k}) for k in SCENARIOS},
    "ehr_diabetes": (simulate_ehr_diabetes, {}),
    "csf2_competing": (simulate_csf2_competing, {}),
    "grf_example": (simulate_grf_example, {}),
    "heavy_censoring": (simulate_heavy_censoring, {}),
}


def setting_params(setting: str) -> dict:
    """Default parameters (knobs) of a setting."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; available settings: {sorted(SETTINGS)}")
    func, fixed = SETTINGS[setting]
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in fixed and name != "params"
    }


def simulate(setting: str, n: int, seed: int, **params) -> SimulatedCohort:
    """Simulate ``n`` patients of ``setting`` with the random seed ``seed`` (same seed, same cohort).

    ``params`` override the setting's defaults (see :func:`setting_params`); the resolved values are kept
    in ``cohort.params``.
    """
    defaults = setting_params(setting)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for setting {setting!r}; accepted: {sorted(defaults)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    resolved = {**defaults, **params}
    func, fixed = SETTINGS[setting]
    rng = np.random.default_rng(seed)
    return func(int(n), rng, **fixed, **resolved, params=resolved)
