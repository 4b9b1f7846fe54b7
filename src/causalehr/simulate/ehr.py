"""The "ehr_diabetes" setting: an EHR-like type 2 diabetes cohort with a point treatment at baseline
(SGLT2 inhibitor vs another second-line drug) or, with ``time_varying_start=True``, a treatment started at
any time after eligibility (for clone-censor-weight).

Covariates: 20 variables (7 continuous, 13 binary) from a latent Gaussian four-factor model (ageing, metabolic,
glycaemic, cardio-renal factors; a Gaussian copula with fixed loadings) pushed through realistic margins.
Centres differ in case mix (factor means), prescribing habits, loss to follow-up and documentation quality,
all scaled by ``centre_heterogeneity``.

Outcome: time (years) to a kidney or cardiovascular complication, Weibull proportional hazards
h(t | X, w) = shape t^(shape - 1) exp(eta0(X) + w beta(X)) with a heterogeneous log hazard ratio
beta(X) = effect + heterogeneity (-0.35 HF - 0.30 CKD - 0.10 CVD + 0.10 (age - 64) / 10 + 0.15 1(eGFR >= 90)).
Per-patient truth is exact: survival exp(-t^shape exp(.)) and RMST by the incomplete gamma function.

Time-varying start: natural start time S ~ Exp(start_rate exp(prescribing score)), independent of the event
given X; the hazard is multiplied by exp(beta(X)) from S onwards (the contract's regime definition, so the
post-start hazard does not depend on when treatment started). Strategy "start within grace g" = start at
min(S, g); "never start" = the untreated hazard. Per-patient strategy truth E[f(min(S, g)) | X] is computed by
Gauss-Legendre quadrature over S (and over t inside the RMST for the early pieces), 16 nodes each. The "never"
strategy needs P(S > horizon | X) away from 0: with a 5-year horizon it is below 1e-3 for about 30% of the patients
at start_rate 0.5 and confounding 1, 1% at 0.2 and 0.5 (benchmarks/results/ccw_positivity.csv); in the former,
clone-censor-weight with the true start hazards has an SD of 0.2 years at 20,000 patients and fitted weight models
fall short of the truth (the fastest starters, who are also the sickest, are missing from the "never" arm).

Censoring: loss to follow-up ~ exponential with a rate depending on covariates, centre and (point treatment
only) treatment, its scale calibrated by root finding so that the realised share of censored patients equals
``censoring_rate``; plus administrative end of follow-up ~ U(min_follow_up, max_follow_up).
Missingness: HbA1c, BMI and LDL are set to NaN, more often in healthier patients (HbA1c, LDL) and in centres
with poorer documentation; the ``missingness`` knob is the baseline missing share (0 = complete data).
The truth is conditional on the complete covariates.

Design-error knobs (default 0: no effect and no extra draw, so that outputs stay as without them): with
``calendar_drift`` d each patient gets a calendar position u ~ U(0, 1) in the enrolment window (data column
``calendar``; the OMOP writer dates time zero there), prescribing rises with it (log rate or log-odds + 2 d (u -
1/2)) and the complication's log hazard falls with it (- d (u - 1/2)): calendar time confounds; with
``centre_outcome`` c the log hazard rises by c times the centre's standardised prescribing habit, so that the
centre confounds (centres that prescribe more treat sicker patients).

Drug classes (``drug_classes=True``, point treatment): the second-line drug is one of ``DRUG_CLASSES`` (DPP-4
inhibitor, the reference, SGLT2 inhibitor, GLP-1 receptor agonist, sulfonylurea), prescribed by a multinomial logit
(:func:`_class_scores`, scaled by ``confounding``, with a habit per centre and class), each with its own log hazard
ratio against DPP-4 (:func:`class_effects`): SGLT2i better for patients with eGFR < 60, GLP-1 RA better for BMI >=
35, sulfonylureas slightly worse; the profile parts are scaled by ``heterogeneity`` (``effect`` is not used). The
truth holds each class's RMST and survival, the optimal class (largest RMST up to ``horizon``) and its RMST.

The event hazard and the censoring hazard are separate functions. With ``competing_death=True`` death before a
complication competes: a cause-specific Weibull hazard (shape 1.5) rising with age, kidney disease, heart failure,
cardiovascular disease, smoking and low eGFR, with a treatment log hazard ratio ``death_effect``; ``event`` is then
2 for a death, and the truth adds the cumulative incidence of the complication at ``horizon_surv`` and the
restricted mean time lost to it up to ``horizon`` per arm (:mod:`causalehr.simulate.competing`;
``cate_rmst``/``cate_surv`` keep the complication's net survival, the target of an analysis that censors deaths).
With a time-varying start as well, the death hazard too is multiplied by exp(death_effect) from the start on, and
the strategy truth adds ``strategy_{cif,rmtl}_*``: E over S of int_0^t w(u) h_1(u; min(S, g)) S(u; min(S, g)) du,
the inner integral by Gauss-Legendre on each side of the start (64 nodes), the outer as for the RMST. The death
times are drawn after the complication times, so that without death every draw is as before.

References: event times by inversion of the cumulative hazard as in Bender, Augustin and Blettner (2005),
"Generating survival times to simulate Cox proportional hazards models", Stat Med 24:1713-1723; the
strategies follow target-trial emulation with a grace period, Hernan and Robins (2016), "Using big data to
emulate a target trial when a randomized trial is not available", Am J Epidemiol 183:758-764, and the
clone-censor-weight approach of Maringe et al. (2020), "Reflection on modern methods: trial emulation in the
presence of immortal-time bias", Int J Epidemiol 49:1719-1729.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import norm

from causalehr.simulate._base import SimulatedCohort, assemble, check_positive
from causalehr.simulate.competing import N_QUADRATURE, CauseSpecificWeibull, competing_truth
from causalehr.simulate.truth import WeibullPH

# name: (loadings on the ageing, metabolic, glycaemic, cardio-renal factors), margin, unit, meaning
# margins: ("normal", mean, sd, low, high), ("lognormal", median, log-sd, low, high), ("binary", prevalence)
VARIABLES = {
    "age": ((0.8, -0.2, 0.0, 0.3), ("normal", 64.0, 11.0, 30.0, 95.0), "years", "age at eligibility"),
    "female": ((0.1, 0.0, 0.0, -0.1), ("binary", 0.42), "0/1", "female sex"),
    "hba1c": ((-0.2, 0.3, 0.7, 0.0), ("lognormal", 7.6, 0.14, 5.0, 15.0), "%", "glycated haemoglobin"),
    "bmi": ((-0.3, 0.8, 0.1, 0.1), ("lognormal", 30.5, 0.17, 17.0, 60.0), "kg/m2", "body-mass index"),
    "egfr": ((-0.5, 0.0, 0.0, -0.6), ("normal", 75.0, 20.0, 8.0, 130.0), "mL/min/1.73m2", "estimated GFR"),
    "sbp": ((0.3, 0.3, 0.0, 0.3), ("normal", 136.0, 16.0, 90.0, 210.0), "mmHg", "systolic blood pressure"),
    "diabetes_duration": ((0.5, 0.0, 0.5, 0.2), ("lognormal", 7.0, 0.6, 0.1, 40.0), "years", "diabetes duration"),
    "ldl": ((-0.1, 0.3, 0.1, 0.0), ("lognormal", 2.5, 0.3, 0.5, 7.0), "mmol/L", "LDL cholesterol"),
    "smoker": ((-0.2, 0.1, 0.0, 0.2), ("binary", 0.18), "0/1", "current smoker"),
    "ckd": ((0.4, 0.0, 0.1, 0.7), ("binary", 0.25), "0/1", "chronic kidney disease"),
    "heart_failure": ((0.4, 0.2, 0.0, 0.5), ("binary", 0.10), "0/1", "heart failure"),
    "hypertension": ((0.4, 0.4, 0.0, 0.3), ("binary", 0.70), "0/1", "hypertension"),
    "cvd": ((0.5, 0.1, 0.1, 0.5), ("binary", 0.22), "0/1", "prior cardiovascular disease (MI, stroke)"),
    "retinopathy": ((0.2, 0.0, 0.6, 0.2), ("binary", 0.15), "0/1", "diabetic retinopathy"),
    "neuropathy": ((0.3, 0.1, 0.5, 0.1), ("binary", 0.18), "0/1", "diabetic neuropathy"),
    "insulin": ((0.1, 0.1, 0.7, 0.2), ("binary", 0.15), "0/1", "prior insulin"),
    "metformin": ((-0.2, 0.2, 0.1, -0.4), ("binary", 0.80), "0/1", "prior metformin"),
    "sulfonylurea": ((0.2, 0.0, 0.4, 0.0), ("binary", 0.25), "0/1", "prior sulfonylurea"),
    "statin": ((0.4, 0.2, 0.0, 0.4), ("binary", 0.65), "0/1", "statin"),
    "ras_blocker": ((0.4, 0.3, 0.0, 0.5), ("binary", 0.60), "0/1", "ACE inhibitor or ARB"),
}
COVARIATES = list(VARIABLES)
MASKED = ("hba1c", "bmi", "ldl")
DRUG_CLASSES = ("dpp4", "sglt2", "glp1", "sulfonylurea")  # codes 0..3 of ``treatment``; DPP-4i is the reference
DRUG_NAMES = ("DPP-4 inhibitor", "SGLT2 inhibitor", "GLP-1 receptor agonist", "sulfonylurea")
WEIBULL_SHAPE = 1.2
DEATH_SHAPE = 1.5
N_NODES = 16


def _covariates(rng, n, n_centres, centre_heterogeneity):
    """Draw the centres and the complete covariates; return (DataFrame, centre index 0..n_centres-1)."""
    sizes = 1 / np.sqrt(np.arange(1, n_centres + 1))
    centre = rng.choice(n_centres, size=n, p=sizes / sizes.sum())
    case_mix = centre_heterogeneity * rng.normal(0, 0.35, size=(n_centres, 4))
    loadings = np.array([v[0] for v in VARIABLES.values()])
    factors = rng.standard_normal((n, 4)) + case_mix[centre]
    z = factors @ loadings.T + rng.standard_normal((n, len(VARIABLES))) * np.sqrt(1 - (loadings**2).sum(1))
    columns = {}
    for j, (name, (_, margin, _, _)) in enumerate(VARIABLES.items()):
        zj = z[:, j]
        if margin[0] == "binary":
            columns[name] = (zj > norm.ppf(1 - margin[1])).astype(float)
        elif margin[0] == "normal":
            columns[name] = np.clip(margin[1] + margin[2] * zj, margin[3], margin[4])
        else:
            columns[name] = np.clip(margin[1] * np.exp(margin[2] * zj), margin[3], margin[4])
    return pd.DataFrame(columns), centre


def event_model(x: pd.DataFrame, effect: float, heterogeneity: float) -> WeibullPH:
    """Untreated log hazard eta0(X) and log hazard ratio beta(X) of the complication."""
    eta0 = (
        -3.1
        + 0.35 * (x["age"] - 64) / 10
        + 0.5 * x["ckd"]
        + 0.6 * x["heart_failure"]
        + 0.5 * x["cvd"]
        + 0.2 * (x["hba1c"] - 7.6)
        + 0.3 * x["smoker"]
        + 0.08 * (x["sbp"] - 136) / 10
        - 0.012 * (x["egfr"] - 75)
        + 0.2 * x["insulin"]
        + 0.2 * x["retinopathy"]
        + 0.3 * np.maximum(x["bmi"] - 35, 0) / 5
    )
    beta = effect + heterogeneity * (
        -0.35 * x["heart_failure"]
        - 0.30 * x["ckd"]
        - 0.10 * x["cvd"]
        + 0.10 * (x["age"] - 64) / 10
        + 0.15 * (x["egfr"] >= 90)
    )
    return WeibullPH(WEIBULL_SHAPE, eta0.to_numpy(), beta.to_numpy())


def class_effects(x: pd.DataFrame, heterogeneity: float) -> np.ndarray:
    """Log hazard ratio of each drug class against DPP-4 (columns in the order of ``DRUG_CLASSES``), shape (n, 4):
    SGLT2i 0.05 - 0.65 1(eGFR < 60), GLP-1 RA 0.10 - 0.60 1(BMI >= 35), sulfonylurea 0.15, the profile parts
    times ``heterogeneity``. The optimal class is SGLT2i for eGFR < 60, else GLP-1 RA for BMI >= 35, else DPP-4i."""
    low_egfr = (x["egfr"] < 60).to_numpy(dtype=float)
    high_bmi = (x["bmi"] >= 35).to_numpy(dtype=float)
    return np.column_stack([np.zeros(len(x)), 0.05 - 0.65 * heterogeneity * low_egfr,
                            0.10 - 0.60 * heterogeneity * high_bmi, np.full(len(x), 0.15)])


def _class_scores(x: pd.DataFrame) -> np.ndarray:
    """Patient part of the multinomial log-odds of each class against DPP-4, shape (n, 4): SGLT2i as the binary
    prescribing score, GLP-1 RA with BMI, cardiovascular disease and HbA1c, sulfonylurea in older, leaner patients
    with prior sulfonylurea."""
    glp1 = 0.08 * (x["bmi"] - 30.5) + 0.4 * x["cvd"] + 0.2 * (x["hba1c"] - 7.6) - 0.02 * (x["age"] - 64)
    sulfonylurea = 0.03 * (x["age"] - 64) - 0.05 * (x["bmi"] - 30.5) + 0.6 * x["sulfonylurea"] - 0.3
    return np.column_stack([np.zeros(len(x)), _prescribing_score(x, "linear"), glp1.to_numpy(),
                            sulfonylurea.to_numpy()])


def _draw_classes(rng, x, centre, n_centres, confounding, centre_heterogeneity, overlap):
    """(drug class code, generalised propensity (n, 4)): multinomial logit with a habit per centre and class,
    probabilities mixed with the uniform so that each is at least ``overlap``."""
    habit = centre_heterogeneity * rng.normal(0, 0.5, (n_centres, len(DRUG_CLASSES)))
    logits = confounding * _class_scores(x) + habit[centre]
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    propensity = overlap + (1 - len(DRUG_CLASSES) * overlap) * soft / soft.sum(axis=1, keepdims=True)
    u = rng.random(len(x))
    return (u[:, None] > np.cumsum(propensity, axis=1)[:, :-1]).sum(axis=1), propensity


def _class_truth(x, heterogeneity, eta0, horizon, horizon_surv, propensity, truth):
    """Per-arm WeibullPH models of the drug classes; adds each class's RMST, survival and propensity, its RMST
    difference to DPP-4, the optimal class and its RMST to ``truth``."""
    beta = class_effects(x, heterogeneity)
    models = [WeibullPH(WEIBULL_SHAPE, eta0, beta[:, j]) for j in range(len(DRUG_CLASSES))]
    rmst = np.column_stack([m.rmst(horizon, 1) for m in models])
    for j, name in enumerate(DRUG_CLASSES):
        truth[f"mu_rmst_{name}"] = rmst[:, j]
        truth[f"surv_{name}"] = models[j].survival(horizon_surv, 1)
        truth[f"cate_rmst_{name}"] = rmst[:, j] - rmst[:, 0]
        truth[f"propensity_{name}"] = propensity[:, j]
    truth["optimal_arm"] = np.asarray(DRUG_CLASSES, dtype=object)[rmst.argmax(axis=1)]
    truth["optimal_rmst"] = rmst.max(axis=1)
    return models


def _class_curves(models, horizon, horizon_surv) -> pd.DataFrame:
    """True marginal survival of each drug class (arm = class code) on the grid of the binary curves."""
    grid = np.linspace(0.0, max(horizon, horizon_surv), 41)
    return pd.DataFrame({"time": np.tile(grid, len(models)), "arm": np.repeat(np.arange(len(models)), len(grid)),
                         "survival": [float(m.survival(t, 1).mean()) for m in models for t in grid]})


def death_model(x: pd.DataFrame, death_effect: float) -> WeibullPH:
    """Cause-specific hazard of death before a complication: Weibull (shape 1.5) with log rate rising with age
    (about doubling per decade), comorbidity and low eGFR; treatment log hazard ratio ``death_effect``."""
    eta = (
        -4.0
        + 0.7 * (x["age"] - 64) / 10
        + 0.4 * x["ckd"]
        + 0.7 * x["heart_failure"]
        + 0.3 * x["cvd"]
        + 0.4 * x["smoker"]
        - 0.008 * (x["egfr"] - 75)
    ).to_numpy()
    return WeibullPH(DEATH_SHAPE, eta, np.full(len(x), float(death_effect)))


def _prescribing_score(x: pd.DataFrame, start_model: str) -> np.ndarray:
    """Patient part of the log-odds (baseline) or log-rate (time-varying start) of SGLT2i prescription."""
    linear = (
        0.9 * x["heart_failure"]
        + 0.6 * x["ckd"]
        + 0.5 * x["cvd"]
        + 0.05 * (x["bmi"] - 30.5)
        - 0.03 * (x["age"] - 64)
        + 0.3 * (x["hba1c"] - 7.6)
        + 0.3 * x["metformin"]
        - 0.3 * x["insulin"]
    )
    if start_model == "linear":
        return linear.to_numpy()
    nonlinear = (
        1.2 * x["heart_failure"] * x["ckd"]
        + 0.8 * (x["hba1c"] > 8.5)
        - 0.8 * (x["age"] > 75)
        - 1.0 * (x["egfr"] < 30)
        + 0.5 * np.sin((x["bmi"] - 30.5) / 3)
        + 0.5 * x["cvd"] * (x["ldl"] > 3)
    )
    return nonlinear.to_numpy()


def _censoring_risk(x: pd.DataFrame, centre_effect: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Relative hazard of loss to follow-up: younger, smokers, poorly controlled patients leave more,
    sicker and treated patients are followed more closely."""
    return np.exp(
        -0.25 * (x["age"] - 64) / 10
        + 0.3 * x["smoker"]
        + 0.15 * (x["hba1c"] - 7.6)
        - 0.3 * x["cvd"]
        - 0.2 * x["heart_failure"]
        - 0.3 * w
        + centre_effect
    ).to_numpy()


def _calibrated_censoring(rng, failure, admin, risk, target):
    """Loss-to-follow-up times E / (scale * risk), E ~ Exp(1), with the scale chosen by root finding so that the
    realised share of patients censored (min(C, admin) < T) equals ``target``."""
    e = rng.standard_exponential(len(failure)) / risk
    floor = np.mean(admin < failure)
    if target <= floor + 1 / len(failure):
        raise ValueError(
            f"censoring_rate={target} is not above the share censored by the administrative end of follow-up "
            f"alone ({floor:.3f}); raise censoring_rate or lengthen follow-up (min_follow_up, max_follow_up)"
        )

    def excess(log_scale):
        return np.mean(np.minimum(e / np.exp(log_scale), admin) < failure) - target

    log_scale = brentq(excess, -30.0, 30.0, xtol=1e-6) if target < 1 else 30.0
    return e / np.exp(log_scale)


def _gauss_legendre(a, m=N_NODES):
    """Nodes and weights of the m-point Gauss-Legendre rule on [0, a]."""
    x, wts = np.polynomial.legendre.leggauss(m)
    return a * (x + 1) / 2, a * wts / 2


def _integral_from_zero(c, shape, s):
    """int_0^s exp(-c t^shape) dt by Gauss-Legendre (s scalar, c per patient)."""
    nodes, weights = _gauss_legendre(s)
    return sum(wt * np.exp(-c * t**shape) for t, wt in zip(nodes, weights))


def _rmst_started_at(model: WeibullPH, s: float, tau: float, rmst_treated: np.ndarray) -> np.ndarray:
    """Per-patient RMST up to tau when treatment starts at time s (scalar); survival after s is
    exp(-c s^k (1 - hr)) exp(-c hr t^k)."""
    c, k, hr = model.rate(0), model.shape, np.exp(model.effect)
    rmst = _integral_from_zero(c, k, min(s, tau))
    if s < tau:
        rmst = rmst + np.exp(-c * s**k * (1 - hr)) * (rmst_treated - _integral_from_zero(c * hr, k, s))
    return rmst


def _surv_started_at(model: WeibullPH, s: float, t: float) -> np.ndarray:
    """Per-patient survival at t when treatment starts at time s (scalar)."""
    c, k, hr = model.rate(0), model.shape, np.exp(model.effect)
    if s >= t:
        return np.exp(-c * t**k)
    return np.exp(-c * s**k * (1 - hr) - c * hr * t**k)


def _expected_over_start(f, start_rate, grace, kink):
    """E[f(min(S, grace))] for S ~ Exp(start_rate) and f constant after ``kink``:
    int_0^a f(s) r exp(-r s) ds + exp(-r a) f(a), a = min(grace, kink), by Gauss-Legendre."""
    a = min(grace, kink)
    nodes, weights = _gauss_legendre(a)
    total = np.exp(-start_rate * a) * f(a)
    for s, wt in zip(nodes, weights):
        total = total + wt * start_rate * np.exp(-start_rate * s) * f(s)
    return total


def _strategy_truth(model, start_rate, grace, tau, horizon_surv):
    """Per-patient RMST up to tau and survival at horizon_surv under "start within grace"
    (start at min(S, grace), S ~ Exp(start_rate))."""
    rmst_treated = model.rmst(tau, 1)
    rmst = _expected_over_start(lambda s: _rmst_started_at(model, s, tau, rmst_treated), start_rate, grace, tau)
    surv = _expected_over_start(lambda s: _surv_started_at(model, s, horizon_surv), start_rate, grace, horizon_surv)
    return rmst, surv


def _cause1_started_at(causes: CauseSpecificWeibull, s: float, t: float, weight) -> np.ndarray:
    """Per patient, int_0^t weight(u) h_1(u; s) S(u; s) du when treatment starts at time s (scalar): the
    cause-specific hazards are untreated before s and multiplied by exp(beta_j(X)) from s on (the complication's
    cumulative incidence at t with weight 1, its restricted mean time lost up to t with weight t - u). Gauss-Legendre
    on [0, min(s, t)] and [min(s, t), t], each with u = lo + (hi - lo) x^2 (smooth at the Weibull origin)."""
    models = causes.causes
    rates = [m.rate(0) for m in models]
    hrs = [np.exp(m.effect) for m in models]

    def cumulative(j, u):
        k = models[j].shape
        return rates[j] * min(u, s) ** k + (rates[j] * hrs[j] * (u**k - s**k) if u > s else 0.0)

    nodes, weights = np.polynomial.legendre.leggauss(N_QUADRATURE)
    x, wx = (nodes + 1) / 2, weights / 2
    total = np.zeros_like(rates[0])
    for lo, hi in ((0.0, min(s, t)), (min(s, t), t)):
        for xi, wi in zip(x, wx):
            u = lo + (hi - lo) * xi**2
            if u <= 0:
                continue
            hazard = rates[0] * models[0].shape * u ** (models[0].shape - 1) * (hrs[0] if u >= s else 1.0)
            surv = np.exp(-sum(cumulative(j, u) for j in range(len(models))))
            total = total + wi * 2 * (hi - lo) * xi * weight(u) * hazard * surv
    return total


def _competing_strategy_truth(causes, start_rate, grace, tau, horizon_surv):
    """Per-patient cumulative incidence of the complication at horizon_surv and restricted mean time lost to it up
    to tau under "start within grace" (start at min(S, grace), S ~ Exp(start_rate)), death competing."""
    cif = _expected_over_start(lambda s: _cause1_started_at(causes, s, horizon_surv, lambda u: 1.0), start_rate,
                               grace, horizon_surv)
    rmtl = _expected_over_start(lambda s: _cause1_started_at(causes, s, tau, lambda u: tau - u), start_rate, grace,
                                tau)
    return rmtl, cif


def _strategy_columns(model, start_rate, graces, horizon, horizon_surv, truth: dict, death=None) -> pd.DataFrame:
    """Add the per-patient strategy truth to ``truth`` (``strategy_{rmst,surv}_{start,never,difference}``,
    suffixed ``_grace{g}`` after the first grace) and return the averages (the ``strategy_effects`` table). With
    a competing ``death`` model, also ``strategy_{rmtl,cif}_*`` of the complication (``rmst``/``surv`` stay its
    net survival, deaths censored)."""
    never = {"rmst": model.rmst(horizon, 0), "surv": model.survival(horizon_surv, 0)}
    estimands = [("rmst", horizon), ("surv", horizon_surv)]
    if death is not None:
        causes = CauseSpecificWeibull([model, death])
        never.update(rmtl=causes.rmtl(horizon, 0), cif=causes.cumulative_incidence(horizon_surv, 0))
        estimands += [("rmtl", horizon), ("cif", horizon_surv)]
    rows = []
    for g in graces:
        start = dict(zip(("rmst", "surv"), _strategy_truth(model, start_rate, g, horizon, horizon_surv)))
        if death is not None:
            start.update(zip(("rmtl", "cif"), _competing_strategy_truth(causes, start_rate, g, horizon, horizon_surv)))
        suffix = "" if g == graces[0] else f"_grace{g:g}"
        for estimand, h in estimands:
            on, off = start[estimand], never[estimand]
            truth[f"strategy_{estimand}_start{suffix}"] = on
            truth[f"strategy_{estimand}_never{suffix}"] = off
            truth[f"strategy_{estimand}_difference{suffix}"] = on - off
            rows.append({"grace": g, "estimand": estimand, "horizon": h, "strategy_start": on.mean(),
                         "strategy_never": off.mean(), "difference": (on - off).mean()})
    return pd.DataFrame(rows)


def _time_varying_event(model: WeibullPH, start, rng):
    """Event times under h0(t) exp(beta 1[t >= start]) by inverting the cumulative hazard."""
    c, k = model.rate(0), model.shape
    e = rng.standard_exponential(len(c))
    h_start = c * start**k
    before = (e / c) ** (1 / k)
    after = (np.maximum(e - h_start, 0) / (c * np.exp(model.effect)) + start**k) ** (1 / k)
    return np.where(e < h_start, before, after)


def _mask(rng, x, centre_doc, missingness):
    """Set HbA1c, BMI and LDL to NaN: baseline share ``missingness``, more often in healthier patients
    (no complications, HbA1c near target) and centres with poorer documentation."""
    healthy = (
        0.6 * (x["hba1c"] < 7.0) + 0.4 * (1 - x["cvd"]) * (1 - x["ckd"]) - 0.4 * x["insulin"] - 0.2
    ).to_numpy()
    masked = x.copy()
    for name, strength in zip(MASKED, (1.0, 0.5, 1.0)):
        p = expit(logit(missingness) + strength * healthy + centre_doc)
        masked.loc[rng.random(len(x)) < p, name] = np.nan
    return masked


def simulate_ehr_diabetes(
    n: int,
    rng: np.random.Generator,
    *,
    n_centres: int = 5,
    centre_heterogeneity: float = 1.0,
    confounding: float = 1.0,
    overlap: float = 0.02,
    effect: float = -0.2,
    heterogeneity: float = 1.0,
    censoring_rate: float = 0.8,
    min_follow_up: float = 1.0,
    max_follow_up: float = 8.0,
    missingness: float = 0.1,
    horizon: float = 5.0,
    horizon_surv: float = 3.0,
    time_varying_start: bool = False,
    start_model: str = "linear",
    start_rate: float = 0.8,
    grace: float | Sequence[float] = 0.5,
    competing_death: bool = False,
    death_effect: float = -0.1,
    drug_classes: bool = False,
    calendar_drift: float = 0.0,
    centre_outcome: float = 0.0,
    params: dict,
) -> SimulatedCohort:
    """Simulate the EHR diabetes cohort (see the module docstring).

    Knobs: ``confounding`` multiplies the dependence of treatment (or start) on the patient covariates;
    ``overlap`` bounds the baseline propensity in [overlap, 1 - overlap]; ``effect``/``heterogeneity`` set the
    log hazard ratio; ``censoring_rate`` is the target share of censored patients; ``missingness`` the baseline
    missing share of HbA1c, BMI, LDL. Time-varying start: ``start_model`` ("linear" or "nonlinear" prescribing
    score), ``start_rate`` (per year, reference patient) and ``grace`` (one or several grace periods, years;
    the first gives the ``strategy_*`` truth columns, others add columns suffixed ``_grace{g}``).
    In time-varying mode ``treatment`` is 1 if treatment started during follow-up (the naive ever/never
    grouping), truth ``propensity`` is P(S < first grace | X) and truth ``start_rate`` the natural start hazard;
    ``cate_*`` remain the contrasts of starting at time 0 vs never. ``competing_death`` adds death as a competing
    event (``event`` 2) with treatment log hazard ratio ``death_effect`` and the competing-risks truth
    (``cif0``, ``cif1``, ``cate_cif``, ``mu0_rmtl``, ``mu1_rmtl``, ``cate_rmtl``; with a time-varying start also
    ``strategy_{cif,rmtl}_*``); ``censoring_rate`` is then the share censored before either event.
    ``drug_classes`` draws one of four drug classes (see the module docstring):
    ``treatment`` is the class code (0 = DPP-4i, 1 = SGLT2i, 2 = GLP-1 RA, 3 = sulfonylurea), ``drug_class`` its
    name; ``cate_rmst``/``cate_surv`` compare SGLT2i with DPP-4i, truth ``propensity`` is that of the class drawn,
    the per-class truth is in ``mu_rmst_<class>``, ``surv_<class>``, ``cate_rmst_<class>`` (vs DPP-4i),
    ``propensity_<class>``, ``optimal_arm`` and ``optimal_rmst``, and ``survival_curves`` has one curve per class.
    ``calendar_drift`` and ``centre_outcome``: the design-error knobs of the module docstring.
    """
    if isinstance(n_centres, bool) or not isinstance(n_centres, (int, np.integer)) or n_centres < 1:
        raise ValueError(f"n_centres must be a positive integer, got {n_centres!r}")
    if not 0 <= overlap < 0.5:
        raise ValueError(f"overlap must be in [0, 0.5), got {overlap}")
    if not 0 <= missingness < 1:
        raise ValueError(f"missingness must be in [0, 1), got {missingness}")
    if not 0 < censoring_rate <= 1:
        raise ValueError(f"censoring_rate must be in (0, 1], got {censoring_rate}")
    if start_model not in ("linear", "nonlinear"):
        raise ValueError(f"start_model must be 'linear' or 'nonlinear', got {start_model!r}")
    if drug_classes and (time_varying_start or competing_death):
        raise ValueError("drug_classes is available with a point treatment without competing death only "
                         "(time_varying_start=False, competing_death=False)")
    graces = [float(g) for g in np.atleast_1d(grace)]
    if len(set(graces)) < len(graces):
        raise ValueError(f"grace periods must be distinct, got {graces}")
    for name, value in [("horizon", horizon), ("horizon_surv", horizon_surv), ("start_rate", start_rate),
                        ("max_follow_up", max_follow_up), *[("grace", g) for g in graces]]:
        check_positive(name, value)
    if not 0 <= min_follow_up <= max_follow_up:
        raise ValueError(f"need 0 <= min_follow_up <= max_follow_up, got {min_follow_up}, {max_follow_up}")

    x, centre = _covariates(rng, n, n_centres, centre_heterogeneity)
    habit, ltfu, doc = (centre_heterogeneity * rng.normal(0, sd, n_centres)[centre] for sd in (0.5, 0.3, 0.5))
    model = event_model(x, effect, heterogeneity)
    score = confounding * _prescribing_score(x, start_model if time_varying_start else "linear") + habit
    extra_data, extra_truth, effects = {"centre": centre + 1}, {}, None
    if centre_outcome:
        model.eta0 = model.eta0 + centre_outcome * habit / 0.5
    if calendar_drift:
        calendar = rng.random(n)
        score = score + 2 * calendar_drift * (calendar - 0.5)
        model.eta0 = model.eta0 - calendar_drift * (calendar - 0.5)
        extra_data["calendar"] = calendar
    descriptions = {name: (unit, meaning) for name, (_, _, unit, meaning) in VARIABLES.items()}
    descriptions["time"] = ("years", "time to kidney/cardiovascular complication or censoring")

    if time_varying_start:
        rate = start_rate * np.exp(score)
        start = rng.standard_exponential(n) / rate
        failure = _time_varying_event(model, start, rng)
        w_censor = np.zeros(n)
        propensity = 1 - np.exp(-rate * graces[0])
        extra_truth["start_rate"] = rate
    elif drug_classes:
        w, class_propensity = _draw_classes(rng, x, centre, n_centres, confounding, centre_heterogeneity, overlap)
        arm_models = _class_truth(x, heterogeneity, model.eta0, horizon, horizon_surv, class_propensity, extra_truth)
        failure = WeibullPH(WEIBULL_SHAPE, model.eta0, class_effects(x, heterogeneity)[np.arange(n), w]).draw_event(
            1, rng)
        propensity = class_propensity[np.arange(n), w]
        w_censor = (w != 0).astype(np.int64)
        model = WeibullPH(WEIBULL_SHAPE, model.eta0, arm_models[1].effect)  # truth columns: SGLT2i vs DPP-4i
        extra_data["drug_class"] = np.asarray(DRUG_CLASSES, dtype=object)[w]
    else:
        propensity = overlap + (1 - 2 * overlap) * expit(score - 0.6)
        w = (rng.random(n) < propensity).astype(np.int64)
        failure = model.draw_event(w, rng)
        w_censor = w
    cause = np.ones(n, dtype=np.int64)
    dying = death_model(x, death_effect) if competing_death else None
    if competing_death:
        death = _time_varying_event(dying, start, rng) if time_varying_start else dying.draw_event(w, rng)
        cause[death < failure] = 2
        failure = np.minimum(failure, death)
        extra_truth.update(competing_truth(CauseSpecificWeibull([model, dying]), horizon, horizon_surv))
        descriptions["event"] = ("0/1/2", "1 = complication, 2 = death before a complication, 0 = censored")

    admin = rng.uniform(min_follow_up, max_follow_up, n)
    ltfu_time = _calibrated_censoring(rng, failure, admin, _censoring_risk(x, ltfu, w_censor), censoring_rate)
    time = np.minimum.reduce([failure, admin, ltfu_time])
    event = np.where(failure <= time, cause, 0)

    if time_varying_start:
        observed_start = np.where(start < time, start, np.nan)
        w = (~np.isnan(observed_start)).astype(np.int64)
        extra_data["treatment_start"] = observed_start
        descriptions["treatment"] = ("0/1", "started SGLT2i during follow-up (naive ever/never grouping)")
        descriptions["treatment_start"] = ("years", "time of starting SGLT2i (NaN = not started during follow-up)")
        effects = _strategy_columns(model, rate, graces, horizon, horizon_surv, extra_truth, dying)
    elif drug_classes:
        codes = ", ".join(f"{j} = {name}" for j, name in enumerate(DRUG_NAMES))
        descriptions["treatment"] = ("0-3", f"second-line drug class at baseline: {codes}")
        descriptions["drug_class"] = ("", f"second-line drug class at baseline: {', '.join(DRUG_CLASSES)}")
    else:
        descriptions["treatment"] = ("0/1", "SGLT2 inhibitor (1) vs other second-line drug (0) at baseline")
    descriptions["centre"] = ("", f"centre 1..{n_centres}")
    if calendar_drift:
        descriptions["calendar"] = ("0-1", "calendar position of eligibility in the enrolment window")

    observed = _mask(rng, x, doc, missingness) if missingness > 0 else x
    cohort = assemble(
        setting="ehr_diabetes",
        params=params,
        covariates=observed,
        treatment=w,
        time=time,
        event=event,
        survival=model.survival,
        rmst=model.rmst,
        horizon=horizon,
        horizon_surv=horizon_surv,
        propensity=propensity,
        descriptions=descriptions,
        extra_data=extra_data,
        extra_truth=extra_truth,
        strategy_effects=effects,
    )
    if drug_classes:
        cohort.survival_curves = _class_curves(arm_models, horizon, horizon_surv)
    return cohort
