"""Prediction-powered inference: AI values on everyone plus reference values on a small validated subset.

Angelopoulos AN, Bates S, Fannjiang C, Jordan MI, Zrnic T (2023). Prediction-powered inference. Science
382:669-674; with power tuning (PPI++; Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453), via ``ppi_py``.
For quantities that are not means (Kaplan-Meier survival, RMST) the prediction-powered bootstrap of
Zrnic T (2024), "A note on the prediction-powered bootstrap", arXiv:2405.18379, without power tuning
(lambda = 1): estimate = f(AI, all unlabelled) + f(reference, labelled) - f(AI, labelled), percentile
interval. It is written here, not taken from ``ppi_py.ppboot``, because ppboot draws from NumPy's global
random state and cannot honour a seed argument.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from ppi_py import classical_mean_ci, ppi_mean_ci, ppi_mean_pointestimate

from causalehr.survival import kaplan_meier, survival_at

from .replicate import cohort_from_source
from .spec import nonconformant, validate_spec


def ppi_mean(y_labelled, yhat_labelled, yhat_unlabelled, *, alpha: float = 0.05) -> pd.DataFrame:
    """Mean of a quantity: PPI++ (ppi_py), classical (labelled reference only) and naive (AI on everyone)
    estimates with their 1 - alpha intervals; one row per method."""
    y, yh, yu = (np.asarray(a, float) for a in (y_labelled, yhat_labelled, yhat_unlabelled))
    if len(y) != len(yh):
        raise ValueError(f"ppi_mean: {len(y)} labelled reference values but {len(yh)} labelled AI values")
    if np.isnan(y).any() or np.isnan(yh).any() or np.isnan(yu).any():
        raise ValueError("ppi_mean: missing values in the inputs; drop or impute them explicitly first")
    ai_all = np.concatenate([yh, yu])
    rows = [("ppi", float(np.ravel(ppi_mean_pointestimate(y, yh, yu))[0]), *np.ravel(ppi_mean_ci(y, yh, yu, alpha=alpha))),
            ("classical", float(y.mean()), *np.ravel(classical_mean_ci(y, alpha=alpha))),
            ("naive_ai", float(ai_all.mean()), *np.ravel(classical_mean_ci(ai_all, alpha=alpha)))]
    return pd.DataFrame(rows, columns=["method", "estimate", "lower", "upper"])


def ppi_bootstrap(
    statistic: Callable[[np.ndarray], float], y_labelled, yhat_labelled, yhat_unlabelled, *, n_boot: int = 500,
    alpha: float = 0.05, seed: int | np.random.SeedSequence = 0,
) -> pd.DataFrame:
    """Prediction-powered bootstrap (lambda = 1) of ``statistic`` (rows of the arrays are patients, e.g.
    columns time and event), with the classical bootstrap on the labelled reference and the naive one on
    the AI values of everyone; one row per method. ``seed``: anything ``numpy.random.default_rng`` takes."""
    y, yh, yu = (np.asarray(a, float) for a in (y_labelled, yhat_labelled, yhat_unlabelled))
    if len(y) != len(yh):
        raise ValueError(f"ppi_bootstrap: {len(y)} labelled reference rows but {len(yh)} labelled AI rows")
    rng = np.random.default_rng(seed)
    ai_all = np.concatenate([yh, yu])

    def ppi(a, b, c):
        return statistic(c) + statistic(a) - statistic(b)

    point = {"ppi": ppi(y, yh, yu), "classical": statistic(y), "naive_ai": statistic(ai_all)}
    draws = {m: np.empty(n_boot) for m in point}
    for i in range(n_boot):
        lab = rng.integers(0, len(y), len(y))
        unl = rng.integers(0, len(yu), len(yu))
        draws["ppi"][i] = ppi(y[lab], yh[lab], yu[unl])
        draws["classical"][i] = statistic(y[lab])
        draws["naive_ai"][i] = statistic(ai_all[rng.integers(0, len(ai_all), len(ai_all))])
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return pd.DataFrame([(m, point[m], *np.nanpercentile(draws[m], q)) for m in point],
                        columns=["method", "estimate", "lower", "upper"])


def km_survival_at(time_event: np.ndarray, t: float) -> float:
    """Kaplan-Meier survival probability at ``t`` of an (n, 2) array of (time, event), the form
    :func:`ppi_bootstrap` resamples (:func:`causalehr.survival.kaplan_meier`)."""
    return survival_at(kaplan_meier(time_event[:, 0], time_event[:, 1]), t)


def ppi_inputs(reference: pd.DataFrame, source: pd.DataFrame, spec: pd.DataFrame, *, binary: list[str],
               horizon: float, covariates: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per patient, the reference values ``y`` and the source's predictions ``yhat`` of the binary variables
    and of the survival outcome (columns ``time``, ``event``) for PPI.

    A source value that is missing or nonconformant predicts 0; a source record that cannot enter the
    analysis cohort predicts censoring at ``horizon`` (PPI stays valid whatever the prediction; a poor
    fallback only costs power). Reference values stay missing where the reference has none (NaN time for
    patients outside the reference cohort): leave those patients out of the validated subset.
    """
    spec = validate_spec(spec)
    ref_cohort, _ = cohort_from_source(reference, covariates, spec)
    src_cohort, _ = cohort_from_source(source, covariates, spec)
    y = reference[binary].apply(lambda c: c.mask(nonconformant(c, spec.loc[c.name])))
    yhat = source[binary].apply(lambda c: c.mask(nonconformant(c, spec.loc[c.name]))).fillna(0.0)
    y[["time", "event"]] = ref_cohort[["time", "event"]].reindex(reference.index)
    yhat[["time", "event"]] = src_cohort[["time", "event"]].reindex(reference.index).fillna({"time": horizon, "event": 0})
    return y, yhat


def ppi_rmst_ate(reference: pd.DataFrame, source: pd.DataFrame, spec: pd.DataFrame, *, labelled, covariates: list[str],
                 horizon: float, alphas: tuple[float, ...] = (0.05,), random_state: int = 0) -> pd.DataFrame:
    """Prediction-powered ATE of strategy 1 (RMST difference up to ``horizon``): AI values on every patient of
    ``source``, reference values on the validated patients ``labelled`` (index values of ``reference``).

    The ATE is the mean of the AIPCW-AIPW scores (:func:`causalehr.probation.estimand.ate_scores`, fast path), so
    PPI++ for a mean (``ppi_py.ppi_mean_ci``, power-tuned lambda; Angelopoulos et al. 2023, Science 382:669-674;
    Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453) applies to the scores: the quantity is the score of the
    analysis fitted on the reference values of the validated patients, its prediction the score of the analysis
    fitted on the AI values of everyone. This is PPI in its influence-function form (the one-step estimator is a
    mean of its scores to first order); ppi_py has no censored or doubly robust ATE, hence the reduction. A
    validated or unlabelled patient that the AI cohort leaves out (missing or nonconformant values) predicts the
    mean AI score: PPI stays valid whatever the prediction. Rows per level 1 - alpha of ``alphas``: ``ppi``,
    ``classical`` (reference on the validated patients only), ``naive_ai`` (the AI cohort of everyone), with
    estimate, interval and the number of patients used.
    """
    from .estimand import ate_scores

    spec = validate_spec(spec)
    labelled = pd.Index(labelled)
    absent = labelled.difference(reference.index)
    if len(absent):
        raise ValueError(f"ppi_rmst_ate: {len(absent)} validated patient(s) not in the reference (e.g. {absent[0]!r})")
    ref_cohort, _ = cohort_from_source(reference.loc[labelled], covariates, spec)
    ai_cohort, _ = cohort_from_source(source, covariates, spec)
    y = ate_scores(ref_cohort, covariates, horizon, random_state=random_state)
    yhat_all = ate_scores(ai_cohort, covariates, horizon, random_state=random_state)
    yhat = yhat_all.reindex(source.index).fillna(yhat_all.mean())
    unlabelled = source.index.difference(labelled)
    rows = []
    for alpha in alphas:
        out = ppi_mean(y, yhat.loc[y.index], yhat.loc[unlabelled], alpha=alpha)
        # naive: the AI cohort's own scores, without the fallback predictions
        out.loc[out["method"] == "naive_ai", ["estimate", "lower", "upper"]] = [
            yhat_all.mean(), *np.ravel(classical_mean_ci(yhat_all.to_numpy(), alpha=alpha))]
        rows.append(out.assign(nominal=1 - alpha, n=out["method"].map(
            {"ppi": len(source), "classical": len(y), "naive_ai": len(yhat_all)})))
    return pd.concat(rows, ignore_index=True)
