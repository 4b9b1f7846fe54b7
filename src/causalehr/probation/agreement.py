"""Agreement of a data source (manual abstraction, AI extraction) with the reference, per variable.

Conventions. A value is *present* when not missing. Values that break the specification (value set, format,
range; see :func:`causalehr.probation.spec.violations`) are set aside and counted by the ``nonconformant``
metric. Completeness: ``omission`` = share of reference-present values missing in the source, ``hallucination``
= share of reference-missing values present in the source. Every other metric compares the pairs where both
values are present and conformant. Intervals are two-sided at level 1 - alpha:

* proportions (sensitivity, specificity, PPV, NPV, accuracy, within-k-days, ...): Wilson score interval
  (statsmodels ``proportion_confint``);
* F1: delta method on the multinomial 2x2 table;
* Cohen's kappa: statsmodels ``cohens_kappa`` (asymptotic variance of Fleiss, Cohen & Everitt 1969);
* Gwet's AC1: own code (see :func:`gwet_ac1`);
* numbers: Bland-Altman bias and 95% limits of agreement with the approximate standard errors of
  Bland & Altman (1986, "Statistical methods for assessing agreement between two methods of clinical
  measurement", Lancet; 1999, Stat Methods Med Res);
* dates: share within +/- k days, signed difference (days; mean with t interval, median, 5th/95th centiles),
  share of gross errors (|difference| > ``gross_days``);
* text: character and word error rates (as jiwer defines them), delta-method interval for a ratio estimator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint, proportions_chisquare

from .spec import allowed_values, nonconformant, validate_spec

METRIC_COLUMNS = ["source", "variable", "type", "by", "stratum", "metric", "estimate", "lower", "upper", "se",
                  "count", "n"]


def wilson(count, n, alpha: float = 0.05):
    """Wilson score interval of count/n (arrays allowed); NaN where n == 0."""
    count = np.asarray(count, float)
    n = np.asarray(n, float)
    ok = n > 0
    safe_n = np.where(ok, n, 1.0)
    lo, hi = proportion_confint(np.where(ok, count, 0.0), safe_n, alpha=alpha, method="wilson")
    lo = np.where(count == 0, 0.0, lo)  # exact ends (statsmodels leaves rounding residue of order 1e-17)
    hi = np.where(count == n, 1.0, hi)
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def gwet_ac1(table, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Gwet's AC1 of a q x q contingency table of two raters: (estimate, se, lower, upper).

    Gwet KL (2008). Computing inter-rater reliability and its variance in the presence of high agreement.
    Br J Math Stat Psychol 61:29-48. Chance agreement pe = sum_k pi_k (1 - pi_k) / (q - 1) with pi_k the mean of
    the two raters' marginal shares; variance from Gwet (2008, eq. for two raters, no finite-population
    correction). Written here because none of statsmodels, scikit-learn or the other pinned libraries
    provide AC1. Normal-approximation interval, clipped to [-1, 1].
    """
    p = np.asarray(table, float)
    p = p / p.sum()
    n = float(np.asarray(table, float).sum())
    q = p.shape[0]
    pa = np.trace(p)
    pi = (p.sum(axis=1) + p.sum(axis=0)) / 2
    pe = np.sum(pi * (1 - pi)) / (q - 1)
    ac1 = (pa - pe) / (1 - pe)
    term = np.eye(q) - 2 * (1 - ac1) * (1 - (pi[:, None] + pi[None, :]) / 2) / (q - 1)
    var = (np.sum(p * term**2) - (pa - 2 * (1 - ac1) * pe) ** 2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    z = stats.norm.ppf(1 - alpha / 2)
    return float(ac1), se, max(-1.0, ac1 - z * se), min(1.0, ac1 + z * se)


def kappa(table, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Cohen's kappa of a contingency table with its asymptotic interval (statsmodels): (est, se, lower, upper)."""
    res = cohens_kappa(np.asarray(table, float))
    z = stats.norm.ppf(1 - alpha / 2)
    return float(res["kappa"]), float(res["std_kappa"]), res["kappa"] - z * res["std_kappa"], res["kappa"] + z * res["std_kappa"]


def _row(metric, estimate, lower=np.nan, upper=np.nan, se=np.nan, count=np.nan, n=np.nan):
    return {"metric": metric, "estimate": float(estimate), "lower": float(lower), "upper": float(upper),
            "se": float(se), "count": float(count), "n": float(n)}


def _prop(metric, count, n, alpha):
    if n == 0:
        return _row(metric, np.nan, count=count, n=n)
    lo, hi = wilson(count, n, alpha)
    est = count / n
    return _row(metric, est, lo, hi, np.sqrt(est * (1 - est) / n), count, n)


def table_metrics(table: np.ndarray, kind: str, alpha: float = 0.05) -> list[dict]:
    """Metrics of a contingency table (rows reference, columns source, same category order).

    ``kind`` "binary" (2 x 2, order 0, 1) gives sensitivity, specificity, ppv, npv, accuracy, f1, kappa, ac1;
    "categorical" gives accuracy, kappa, ac1. The table may hold counts or probabilities (for the truth).
    """
    t = np.asarray(table, float)
    n = t.sum()
    rows = []
    if kind == "binary":
        tn, fp, fn, tp = t[0, 0], t[0, 1], t[1, 0], t[1, 1]
        rows += [_prop("sensitivity", tp, tp + fn, alpha), _prop("specificity", tn, tn + fp, alpha),
                 _prop("ppv", tp, tp + fp, alpha), _prop("npv", tn, tn + fn, alpha)]
    rows.append(_prop("accuracy", np.trace(t), n, alpha))
    if kind == "binary":
        rows.append(_f1(tp, fp, fn, n, alpha))
    if n > 0 and (t.sum(0) > 0).sum() + (t.sum(1) > 0).sum() > 2:
        k = kappa(t, alpha)
        rows.append(_row("kappa", k[0], k[2], k[3], k[1], n=n))
    else:
        rows.append(_row("kappa", np.nan, n=n))
    a = gwet_ac1(t, alpha) if n > 0 else (np.nan,) * 4
    rows.append(_row("ac1", a[0], a[2], a[3], a[1], n=n))
    return rows


def _f1(tp, fp, fn, n, alpha):
    d = 2 * tp + fp + fn
    if d == 0:
        return _row("f1", np.nan, n=n)
    f1 = 2 * tp / d
    p = np.array([tp, fp, fn]) / n
    grad = np.array([2 * (p[1] + p[2]), -2 * p[0], -2 * p[0]]) / (d / n) ** 2
    cov = np.diag(p) - np.outer(p, p)
    se = float(np.sqrt(max(grad @ cov @ grad, 0.0) / n))
    z = stats.norm.ppf(1 - alpha / 2)
    return _row("f1", f1, max(0.0, f1 - z * se), min(1.0, f1 + z * se), se, n=n)


def _mean_row(metric, d, alpha):
    """Mean with its t interval, and the standard deviation (len(d) >= 2)."""
    n = len(d)
    mean, sd = d.mean(), d.std(ddof=1)
    se = sd / np.sqrt(n)
    t = stats.t.ppf(1 - alpha / 2, n - 1)
    return _row(metric, mean, mean - t * se, mean + t * se, se, n=n), sd


def date_metrics(diff_days: np.ndarray, k: float, gross_days: float, alpha: float = 0.05) -> list[dict]:
    """Metrics of signed date differences (source - reference, days)."""
    n = len(diff_days)
    absd = np.abs(diff_days)
    rows = [_prop("within_k_days", float((absd <= k).sum()), n, alpha),
            _prop("gross_error", float((absd > gross_days).sum()), n, alpha)]
    if n >= 2:
        rows.append(_mean_row("diff_days_mean", diff_days, alpha)[0])
        q05, q50, q95 = np.percentile(diff_days, [5, 50, 95])
        rows += [_row("diff_days_median", q50, n=n), _row("diff_days_p05", q05, n=n), _row("diff_days_p95", q95, n=n)]
    return rows


def bland_altman(diff: np.ndarray, alpha: float = 0.05) -> list[dict]:
    """Bias and 95% limits of agreement of differences (source - reference) with their intervals."""
    n = len(diff)
    if n < 3:
        return [_row(m, np.nan, n=n) for m in ("bias", "loa_lower", "loa_upper")]
    bias, sd = _mean_row("bias", diff, alpha)
    rows = [bias]
    mean = bias["estimate"]
    se_loa = sd * np.sqrt(3.0 / n)
    t = stats.t.ppf(1 - alpha / 2, n - 1)
    for name, sign in (("loa_lower", -1), ("loa_upper", 1)):
        loa = mean + sign * 1.96 * sd
        rows.append(_row(name, loa, loa - t * se_loa, loa + t * se_loa, se_loa, n=n))
    return rows


def text_edits(reference: list[str], hypothesis: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: character edits, reference characters, word edits, reference words.

    Same definitions as ``jiwer.cer`` / ``jiwer.wer`` with their default transforms (characters of the
    stripped text; whitespace-separated words), so that sum(edits) / sum(lengths) equals jiwer's corpus rates
    (tested). The per-pair edit distances come from ``rapidfuzz`` (the Levenshtein engine jiwer itself
    uses) because jiwer's Python-level transforms take about 3 minutes per million pairs.
    """
    ref_chars = [r.strip() for r in reference]
    hyp_chars = [h.strip() for h in hypothesis]
    ref_words = [r.split() for r in reference]
    hyp_words = [h.split() for h in hypothesis]
    return (np.array([Levenshtein.distance(r, h) for r, h in zip(ref_chars, hyp_chars)], float),
            np.array([len(r) for r in ref_chars], float),
            np.array([Levenshtein.distance(r, h) for r, h in zip(ref_words, hyp_words)], float),
            np.array([len(r) for r in ref_words], float))


def _ratio_row(metric, errors, lengths, alpha):
    n = len(errors)
    if n == 0 or lengths.sum() == 0:
        return _row(metric, np.nan, n=n)
    r = errors.sum() / lengths.sum()
    se = np.sqrt(np.sum((errors - r * lengths) ** 2)) / lengths.sum()
    z = stats.norm.ppf(1 - alpha / 2)
    return _row(metric, r, max(0.0, r - z * se), r + z * se, se, n=n)


def _strata_codes(strata: pd.DataFrame | None, by: list[str], index: pd.Index):
    yield "overall", np.zeros(len(index), dtype=np.int64), ["all"]
    for col in by:
        if strata is None or col not in strata.columns:
            raise ValueError(f"agreement: stratification column '{col}' not found in the strata table")
        codes, labels = pd.factorize(strata[col].reindex(index), sort=True)
        if (codes < 0).any():
            raise ValueError(f"agreement: {int((codes < 0).sum())} patient(s) with a missing '{col}'")
        yield col, codes, [str(x) for x in labels]


def agreement(
    reference: pd.DataFrame, other: pd.DataFrame, spec: pd.DataFrame, *, strata: pd.DataFrame | None = None,
    by: list[str] | tuple[str, ...] = (), source: str = "source", date_tolerance: float = 7,
    gross_days: float = 30, alpha: float = 0.05,
) -> pd.DataFrame:
    """Long table of agreement metrics of ``other`` against ``reference`` (both typed wide tables, same index).

    One row per variable, stratification (``by`` = "overall" or a column of ``strata``), stratum and metric
    with columns :data:`METRIC_COLUMNS` (``count``/``n``: numerator and denominator of proportions; ``n`` the
    number of pairs otherwise). Dates within +/- ``date_tolerance`` days agree.
    """
    spec = validate_spec(spec)
    if not reference.index.equals(other.index):
        n_miss = int((~other.index.isin(reference.index)).sum()) + int((~reference.index.isin(other.index)).sum())
        raise ValueError(f"agreement: {source} and reference do not hold the same patients ({n_miss} unmatched keys)")
    rows = []
    groupings = list(_strata_codes(strata, list(by), reference.index))
    for var in spec.index:
        srow = spec.loc[var]
        kind = srow["type"]
        ref, oth = reference[var], other[var]
        ref_present = ref.notna().to_numpy()
        ref_ok = ref_present & ~nonconformant(ref, srow)
        oth_present = oth.notna().to_numpy()
        oth_bad = nonconformant(oth, srow)
        pair = ref_ok & oth_present & ~oth_bad
        prepared = _prepare(kind, ref[pair], oth[pair], srow)
        for by_name, codes, labels in groupings:
            for g, label in enumerate(labels):
                in_g = codes == g
                base = {"source": source, "variable": var, "type": kind, "by": by_name, "stratum": label}
                out = [_prop("omission", float((in_g & ref_ok & ~oth_present).sum()), float((in_g & ref_ok).sum()), alpha),
                       _prop("hallucination", float((in_g & ~ref_present & oth_present).sum()),
                             float((in_g & ~ref_present).sum()), alpha),
                       _prop("nonconformant", float((in_g & oth_bad).sum()), float((in_g & oth_present).sum()), alpha)]
                out += _pair_metrics(kind, prepared, in_g[pair], date_tolerance, gross_days, alpha)
                rows += [{**base, **r} for r in out]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _prepare(kind, ref, oth, srow):
    if kind in ("binary", "categorical"):
        levels = allowed_values(srow)
        if kind == "binary":
            levels = [float(v) for v in levels] if levels else [0.0, 1.0]
        elif levels is None:
            levels = sorted(set(ref.unique()) | set(oth.unique()))
        r = pd.Categorical(ref, categories=levels).codes.astype(np.int64)
        o = pd.Categorical(oth, categories=levels).codes.astype(np.int64)
        return len(levels), r * len(levels) + o
    if kind == "date":
        return ((oth - ref).dt.total_seconds() / 86400.0).to_numpy()
    if kind == "numeric":
        return (oth - ref).to_numpy(float)
    return text_edits(list(ref), list(oth))


def _pair_metrics(kind, prepared, sel, k, gross_days, alpha):
    if kind in ("binary", "categorical"):
        q, cell = prepared
        table = np.bincount(cell[sel], minlength=q * q).reshape(q, q)
        return table_metrics(table, kind, alpha)
    if kind == "date":
        return date_metrics(prepared[sel], k, gross_days, alpha)
    if kind == "numeric":
        return bland_altman(prepared[sel], alpha)
    ce, cl, we, wl = (a[sel] for a in prepared)
    return [_ratio_row("cer", ce, cl, alpha), _ratio_row("wer", we, wl, alpha)]


def correctness(reference: pd.DataFrame, other: pd.DataFrame, spec: pd.DataFrame, *, date_tolerance: float = 7) -> pd.DataFrame:
    """Per value: 1.0 where the source agrees with the reference, 0.0 where not, NaN where not evaluable.

    Defined for binary and categorical (equal values) and dates (within +/- ``date_tolerance`` days). A source
    value where the reference is missing is wrong (hallucination); a missing source value is not evaluable.
    """
    spec = validate_spec(spec)
    out = {}
    for var in spec.index:
        kind = spec.loc[var, "type"]
        if kind not in ("binary", "categorical", "date"):
            continue
        ref, oth = reference[var], other[var]
        if kind == "date":
            ok = ((oth - ref).abs() <= pd.Timedelta(days=date_tolerance)).to_numpy()
        else:
            ok = (ref == oth).to_numpy()
        out[var] = np.where(oth.notna().to_numpy(), ok.astype(float), np.nan)
    return pd.DataFrame(out, index=reference.index)


def heterogeneity(metrics: pd.DataFrame, by: str = "centre") -> pd.DataFrame:
    """Between-stratum heterogeneity of each (source, variable, metric) across the strata of ``by``.

    Proportions: chi-square test of equal proportions (statsmodels ``proportions_chisquare``); other metrics:
    Cochran's Q with inverse-variance weights. I^2 = max(0, (Q - df) / Q) (Higgins & Thompson 2002,
    "Quantifying heterogeneity in a meta-analysis", Stat Med). Strata with n == 0 or no estimate are skipped.
    """
    sub = metrics[(metrics["by"] == by) & metrics["estimate"].notna() & (metrics["n"] > 0)]
    rows = []
    for (source, var, metric), g in sub.groupby(["source", "variable", "metric"], sort=False):
        if len(g) < 2:
            continue
        if g["count"].notna().all():
            if g["count"].sum() in (0, g["n"].sum()):
                q, p = 0.0, 1.0
            else:
                q, p, _ = proportions_chisquare(g["count"].to_numpy(), g["n"].to_numpy())
        else:
            se = g["se"].to_numpy()
            if not (se > 0).all():
                continue
            w = 1 / se**2
            est = g["estimate"].to_numpy()
            q = float(np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2))
            p = float(stats.chi2.sf(q, len(g) - 1))
        df = len(g) - 1
        rows.append({"source": source, "variable": var, "metric": metric, "by": by, "n_strata": len(g),
                     "q": float(q), "df": df, "p_value": float(p), "i2": max(0.0, (q - df) / q) if q > 0 else 0.0})
    return pd.DataFrame(rows, columns=["source", "variable", "metric", "by", "n_strata", "q", "df", "p_value", "i2"])
