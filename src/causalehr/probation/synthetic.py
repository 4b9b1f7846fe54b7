"""Simulated reference / manual / AI-extracted tables with known error mechanisms, and the implied truth.

The reference table is drawn first (a point-treatment survival cohort plus generic variables of each type);
each other source copies it and injects, per variable (:func:`default_errors`):

* omission (``omission``), missing-not-at-random on top for "high" values (``omission_mnar``: binary 1,
  numeric above the middle of its range);
* misclassification (binary flip, categorical to a uniformly drawn other level) at a centre-specific rate
  ``expit(logit(misclass) + u_c)``, ``u_c ~ N(0, centre_sd)``;
* hallucination: a value where the reference has none (``hallucination``, e.g. an event date without event);
* dates: small jitter (share ``jitter_rate``, ``round(N(0, jitter_sd))`` days) or a gross wrong-document error
  (share ``gross_rate``, +/- 30..730 days);
* numbers: additive error ``bias + N(0, noise_sd)`` (in units of the variable's spread (max - min) / 10);
* text: each letter replaced by another letter with probability ``char_error``;
* format and range violations (``violation``) on present values: binary 9, malformed codes, out-of-range
  numbers (unit error) and dates;
* AI confidence scores (binary, categorical, date values): calibrated (``P(correct | score) = score``, drawn
  from the Beta posterior) or over-confident (calibrated score ** 0.25).

``truth`` gives, per source and variable (overall and, for the classification metrics, per centre), the value
of every metric implied by these mechanisms given the drawn reference table, so that each estimate of
:func:`causalehr.probation.agreement.agreement` can be checked against it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from .agreement import table_metrics
from .spec import ProbationData, allowed_values, bounds, validate_spec

VOCABULARY = np.array(["patient", "reports", "chest", "pain", "since", "three", "days", "no", "fever", "history",
                       "of", "diabetes", "treated", "with", "metformin", "stable", "renal", "function", "denies",
                       "smoking", "follow", "up", "in", "weeks"])
WORDS_PER_TEXT = 6
GROSS_MIN, GROSS_MAX = 30, 730
AGE_MEAN, AGE_SD, AGE_CLIP = 62.0, 12.0, (18.0, 100.0)
BASE_HAZARD, AGE_LOG_HR, TREATMENT_LOG_HR = 0.12, 0.03, -0.5

_ERROR_DEFAULTS = {
    "ai": dict(omission=0.05, omission_mnar=0.05, misclass=0.08, centre_sd=0.4, hallucination=0.04,
               jitter_rate=0.3, jitter_sd=3.0, gross_rate=0.04, violation=0.02, bias=0.05, noise_sd=0.2,
               char_error=0.03),
    "manual": dict(omission=0.02, omission_mnar=0.0, misclass=0.02, centre_sd=0.2, hallucination=0.01,
                   jitter_rate=0.1, jitter_sd=1.0, gross_rate=0.01, violation=0.005, bias=0.0, noise_sd=0.05,
                   char_error=0.005),
}


def default_spec(n_extra: int = 0) -> pd.DataFrame:
    """Variable specification of the simulated diabetes cohort; ``n_extra`` adds generic variables (cycling
    binary, numeric, categorical, date) to reach a wider table (e.g. 30 variables for the benchmark)."""
    rows = [
        ("index_date", "date", None, "2010-01-01", "2030-12-31", None, "date"),
        ("age", "numeric", None, 18, 110, None, "years"),
        ("female", "binary", None, None, None, None, ""),
        ("treatment", "binary", None, None, None, None, ""),
        ("event", "binary", None, None, None, None, ""),
        ("event_date", "date", None, "2010-01-01", "2030-12-31", None, "date"),
        ("end_date", "date", None, "2010-01-01", "2030-12-31", None, "date"),
        ("hypertension", "binary", None, None, None, None, ""),
        ("smoker", "binary", None, None, None, None, ""),
        ("stage", "categorical", "I|II|III|IV", None, None, None, ""),
        ("diagnosis", "categorical", "E11.9|E11.2|E11.4|E11.5|I10|I25.1|N18.3|E78.5", None, None,
         r"[A-Z][0-9]{2}\.?[0-9]?", "ICD-10"),
        ("hba1c", "numeric", None, 3, 20, None, "%"),
        ("creatinine", "numeric", None, 20, 1000, None, "umol/L"),
        ("note", "text", None, None, None, None, ""),
    ]
    cycle = [("binary", None, None, None, ""), ("numeric", None, 0, 100, "unit"),
             ("categorical", "A|B|C|D|E", None, None, ""), ("date", None, "2010-01-01", "2030-12-31", "date")]
    for i in range(n_extra):
        kind, allowed, lo, hi, unit = cycle[i % len(cycle)]
        rows.append((f"extra_{kind}_{i}", kind, allowed, lo, hi, None, unit))
    return pd.DataFrame(rows, columns=["variable", "type", "allowed", "min", "max", "format", "unit"])


def default_errors(spec: pd.DataFrame, sources: tuple[str, ...] = ("manual", "ai"), **overrides) -> pd.DataFrame:
    """Error-mechanism table (one row per source and variable) with the default rates; ``overrides`` (e.g.
    ``misclass=0.1``) set a parameter for every row."""
    spec = validate_spec(spec)
    rows = []
    for src in sources:
        base = _ERROR_DEFAULTS.get(src, _ERROR_DEFAULTS["ai"])
        for var in spec.index:
            rows.append({"source": src, "variable": var, **base, **overrides})
    return pd.DataFrame(rows)


def _reference(n, spec, rng, n_centres):
    """Draw the reference table, strata and the survival times (years)."""
    centre_w = rng.dirichlet(np.full(n_centres, 5.0))
    strata = pd.DataFrame({"centre": rng.choice(n_centres, size=n, p=centre_w) + 1,
                           "subgroup": rng.choice(np.array(["A", "B", "C"]), size=n, p=[0.5, 0.3, 0.2])})
    age = np.clip(rng.normal(AGE_MEAN, AGE_SD, n), *AGE_CLIP)
    treat = rng.random(n) < expit(-0.3 + 0.03 * (age - AGE_MEAN))
    t_event = rng.exponential(1.0 / _hazard(age, treat))
    t_cens = rng.uniform(1.0, 8.0, n)
    time = np.minimum(t_event, t_cens)
    event = t_event <= t_cens
    index = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D")
    days = lambda years: pd.to_timedelta(np.maximum(1, np.round(years * 365.25)), unit="D")  # noqa: E731
    special = {"age": age, "treatment": treat.astype(float), "event": event.astype(float), "index_date": index,
               "event_date": pd.Series(index + days(time)).where(event), "end_date": index + days(time)}
    data = {}
    for var in spec.index:
        row = spec.loc[var]
        if var in special:
            data[var] = special[var]
        elif row["type"] == "binary":
            data[var] = (rng.random(n) < rng.uniform(0.1, 0.5)).astype(float)
        elif row["type"] == "categorical":
            levels = np.array(allowed_values(row))
            p = 1.0 / np.arange(1, len(levels) + 1)
            data[var] = levels[rng.choice(len(levels), size=n, p=p / p.sum())].astype(object)
        elif row["type"] == "numeric":
            lo, hi = bounds(row)
            data[var] = (lo + hi) / 2 + (hi - lo) / 10 * np.clip(rng.standard_normal(n), -3, 3)
        elif row["type"] == "date":
            data[var] = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D")
        else:
            words = VOCABULARY[rng.integers(0, len(VOCABULARY), size=(n, WORDS_PER_TEXT))]
            data[var] = np.array([" ".join(w) for w in words], dtype=object)
    ref = pd.DataFrame(data)
    ref.index = pd.RangeIndex(1, n + 1, name="patient_id")
    strata.index = ref.index
    return ref, strata


def _hazard(age, treated):
    """Event hazard (per year) of the simulated cohort: exponential times, proportional in age and treatment."""
    return BASE_HAZARD * np.exp(AGE_LOG_HR * (age - AGE_MEAN) + TREATMENT_LOG_HR * treated)


def rmst_difference_truth(horizon: float, n_nodes: int = 4001) -> float:
    """True average effect of treatment on the restricted mean survival time up to ``horizon`` (years) in the
    simulated cohort: E_age[RMST(horizon | age, 1) - RMST(horizon | age, 0)], RMST of an exponential time of
    hazard h being (1 - exp(-h horizon)) / h; the expectation over the clipped normal age by quadrature on
    +-8 standard deviations (error below 1e-9). Checked against the strategy-1 fit on a large draw in the tests.

    >>> round(rmst_difference_truth(3.0), 4)
    0.1808
    """
    z = np.linspace(-8, 8, n_nodes)
    w = stats.norm.pdf(z)
    w /= w.sum()
    age = np.clip(AGE_MEAN + AGE_SD * z, *AGE_CLIP)
    h1, h0 = _hazard(age, 1.0), _hazard(age, 0.0)
    return float(np.sum(w * ((1 - np.exp(-h1 * horizon)) / h1 - (1 - np.exp(-h0 * horizon)) / h0)))


def _scale(row):
    lo, hi = bounds(row)
    return (hi - lo) / 10, (lo + hi) / 2


def _substitute_letters(texts, rate, rng):
    """Replace each letter of each text by another lowercase letter with probability ``rate``."""
    joined = "\n".join(texts)
    buf = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).copy()
    letters = (buf >= 97) & (buf <= 122)
    hit = letters & (rng.random(len(buf)) < rate)
    buf[hit] = (buf[hit] - 97 + rng.integers(1, 26, hit.sum())) % 26 + 97
    return buf.tobytes().decode("ascii").split("\n")


def _inject(ref, spec, err, centre_codes, rng, n_centres):
    """Copy the reference and inject the errors of one source; returns (table, centre misclass rates)."""
    n = len(ref)
    out = {}
    rates = {}
    for var in spec.index:
        row, e = spec.loc[var], err.loc[var]
        kind = row["type"]
        x = ref[var].copy()
        present = x.notna().to_numpy()
        if kind in ("binary", "categorical"):
            f_c = expit(logit(e["misclass"]) + rng.normal(0, e["centre_sd"], n_centres))
            rates[var] = f_c
            flip = present & (rng.random(n) < f_c[centre_codes])
            if kind == "binary":
                x[flip] = 1.0 - x[flip]
            else:
                levels = np.array(allowed_values(row), dtype=object)
                codes = pd.Categorical(x[flip], categories=levels).codes
                shift = rng.integers(1, len(levels), flip.sum())
                x[flip] = levels[(codes + shift) % len(levels)]
        elif kind == "date":
            jit = present & (rng.random(n) < e["jitter_rate"])
            gross = present & (rng.random(n) < e["gross_rate"])
            shift = np.where(jit, np.round(rng.normal(0, e["jitter_sd"], n)), 0.0)
            shift = np.where(gross, rng.choice([-1, 1], n) * rng.integers(GROSS_MIN, GROSS_MAX + 1, n), shift)
            x = x + pd.to_timedelta(shift, unit="D")
        elif kind == "numeric":
            sd, _ = _scale(row)
            x = x + sd * (e["bias"] + e["noise_sd"] * rng.standard_normal(n))
        else:
            x = pd.Series(_substitute_letters(list(x), e["char_error"], rng), index=x.index, dtype=object)
        high = _high(ref[var], row)
        omit = present & (rng.random(n) < e["omission"] + e["omission_mnar"] * high)
        x[omit] = None if kind in ("categorical", "text") else np.nan
        if kind == "date":
            fill = (~present) & (rng.random(n) < e["hallucination"])
            fake = ref["index_date"] if "index_date" in ref else pd.Series(pd.Timestamp("2015-01-01"), index=x.index)
            x[fill] = fake[fill] + pd.to_timedelta(rng.integers(1, 8 * 365, fill.sum()), unit="D")
        bad = x.notna().to_numpy() & (rng.random(n) < e["violation"])
        x = _violate(x, bad, row)
        out[var] = x
    return pd.DataFrame(out, index=ref.index), rates


def _high(values, row):
    if row["type"] == "binary":
        return (values == 1).to_numpy()
    if row["type"] == "numeric":
        return (values > _scale(row)[1]).to_numpy()
    return np.zeros(len(values), dtype=bool)


def _violate(x, bad, row):
    kind = row["type"]
    if not bad.any() or kind == "text":
        return x
    x = x.copy()
    if kind == "binary":
        x[bad] = 9.0
    elif kind == "categorical":
        x[bad] = x[bad].str.lower().str.replace(".", "", regex=False) + "?"
    elif kind == "numeric":
        x[bad] = bounds(row)[1] + 10 * np.abs(x[bad]) + 1
    else:
        x[bad] = x[bad] + pd.DateOffset(years=200)
    return x


def _calibrated_confidence(correct, centre_codes, rng, concentration=4.0):
    """Scores with P(correct | score) = score: Beta(a + 1, b) if correct, Beta(a, b + 1) if not, where
    Beta(a, b) has the centre's accuracy as its mean (the prior of which the score is the posterior mean)."""
    ok = ~np.isnan(correct)
    n_c = np.bincount(centre_codes[ok], minlength=centre_codes.max() + 1)
    acc_c = np.bincount(centre_codes[ok], weights=correct[ok], minlength=len(n_c)) / np.maximum(n_c, 1)
    m = np.clip(acc_c[centre_codes], 0.01, 0.99)
    a, b = m * concentration, (1 - m) * concentration
    conf = np.where(correct == 1, rng.beta(a + 1, b), rng.beta(a, b + 1))
    return np.where(ok, conf, np.nan)


def simulate_extraction(
    n_patients: int, variables_spec: pd.DataFrame | None = None, seed: int = 0, *,
    errors: pd.DataFrame | None = None, n_centres: int = 8, calibrated: bool = True, date_tolerance: float = 7,
    metric_truth: bool = True,
) -> ProbationData:
    """Simulate reference, manual and AI tables (plus AI confidence and the truth) for ``n_patients``.

    ``errors``: table from :func:`default_errors` (its ``source`` column names the sources); ``calibrated``:
    whether the AI confidence scores are calibrated; ``date_tolerance``: the k of the within-k-days truth and
    of the correctness behind the confidence scores; ``metric_truth``: False skips the true agreement metrics
    (``truth`` is then None), for studies that need the tables only.
    """
    from .agreement import correctness

    spec = validate_spec(variables_spec if variables_spec is not None else default_spec())
    errors = errors if errors is not None else default_errors(spec)
    rng = np.random.default_rng(seed)
    ref, strata = _reference(n_patients, spec, rng, n_centres)
    centre_codes = strata["centre"].to_numpy() - 1
    sources, confidence, truths = {}, {}, []
    for src, err in errors.groupby("source", sort=False):
        err = err.set_index("variable")
        table, rates = _inject(ref, spec, err, centre_codes, rng, n_centres)
        sources[src] = table
        if metric_truth:
            truths.append(_truth(src, ref, spec, err, rates, centre_codes, n_centres, date_tolerance))
        if src == "ai":
            corr = correctness(ref, table, spec, date_tolerance=date_tolerance)
            conf = {}
            for var in corr.columns:
                c = _calibrated_confidence(corr[var].to_numpy(), centre_codes, rng)
                conf[var] = c if calibrated else c**0.25
            confidence[src] = pd.DataFrame(conf, index=ref.index)
    params = {"n_patients": n_patients, "seed": seed, "n_centres": n_centres, "calibrated": calibrated,
              "date_tolerance": date_tolerance}
    return ProbationData(reference=ref, sources=sources, spec=spec.reset_index(drop=True), strata=strata,
                         confidence=confidence, truth=pd.concat(truths, ignore_index=True) if truths else None,
                         params=params)


def _truth(src, ref, spec, err, rates, centre_codes, n_centres, k):
    """Population value of each metric given the reference table and the injected mechanisms."""
    rows = []
    w = np.bincount(centre_codes, minlength=n_centres).astype(float)

    def add(var, metric, value, by="overall", stratum="all"):
        rows.append({"source": src, "variable": var, "by": by, "stratum": stratum, "metric": metric,
                     "truth": float(value)})

    for var in spec.index:
        row, e = spec.loc[var], err.loc[var]
        kind = row["type"]
        x = ref[var]
        present = x.notna().to_numpy()
        high = _high(x, row)[present].mean()
        add(var, "omission", e["omission"] + e["omission_mnar"] * high)
        if (~present).any():
            add(var, "hallucination", e["hallucination"] if kind == "date" else 0.0)
        add(var, "nonconformant", 0.0 if kind == "text" else e["violation"])
        if kind in ("binary", "categorical"):
            levels = [float(v) for v in (allowed_values(row) or [0, 1])] if kind == "binary" else allowed_values(row)
            q = len(levels)
            keep = 1 - e["omission"] - e["omission_mnar"] * (np.array(levels) == 1.0 if kind == "binary" else 0)
            share = x[present].value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy() * keep
            tables = []
            for c in range(n_centres):
                f = rates[var][c]
                cond = np.full((q, q), f / (q - 1))
                np.fill_diagonal(cond, 1 - f)
                tables.append(share[:, None] * cond)
                if w[c] > 0:
                    for r in table_metrics(tables[-1], kind):
                        add(var, r["metric"], r["estimate"], "centre", str(c + 1))
            overall = sum(wc * t for wc, t in zip(w / w.sum(), tables))
            for r in table_metrics(overall, kind):
                add(var, r["metric"], r["estimate"])
        elif kind == "date":
            jit_ok = 2 * stats.norm.cdf((k + 0.5) / e["jitter_sd"]) - 1 if e["jitter_sd"] > 0 else 1.0
            g = e["gross_rate"]
            add(var, "within_k_days", (1 - g) * (1 - e["jitter_rate"] + e["jitter_rate"] * jit_ok))
            add(var, "gross_error", g)
            add(var, "diff_days_mean", 0.0)
        elif kind == "numeric":
            sd, _ = _scale(row)
            add(var, "bias", sd * e["bias"])
            add(var, "loa_lower", sd * (e["bias"] - 1.96 * e["noise_sd"]))
            add(var, "loa_upper", sd * (e["bias"] + 1.96 * e["noise_sd"]))
        else:
            lengths = np.char.str_len(VOCABULARY.astype(str))
            r = e["char_error"]
            add(var, "cer", r * lengths.mean() * WORDS_PER_TEXT / (lengths.mean() * WORDS_PER_TEXT + WORDS_PER_TEXT - 1))
            add(var, "wer", np.mean(1 - (1 - r) ** lengths))
    return pd.DataFrame(rows)
