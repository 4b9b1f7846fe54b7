"""Selective prediction: accept AI values whose confidence reaches a threshold, route the others to review.

Risk-coverage curve and its area (AURC) after Geifman Y & El-Yaniv R (2017), "Selective classification for
deep neural networks", NeurIPS, and Geifman Y, Uziel G & El-Yaniv R (2019), "Bias-reduced uncertainty
estimation for deep neural classifiers", ICLR. Written here (a cumulative sum over the values sorted by
confidence) because none of the pinned libraries provides it. Values with tied confidence are accepted or
rejected together, so the curve has one point per distinct confidence value. In the ICD-coding use case the
coverage is the automatic coding rate and the risk the error rate of the codes assigned automatically.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .agreement import wilson


def _clean(confidence, correct):
    conf = np.asarray(confidence, float)
    corr = np.asarray(correct, float)
    if conf.shape != corr.shape:
        raise ValueError(f"selective prediction: confidence has shape {conf.shape}, correct has {corr.shape}")
    ok = ~np.isnan(conf) & ~np.isnan(corr)
    if not ok.any():
        raise ValueError("selective prediction: no value with both a confidence score and a correctness")
    return conf[ok], corr[ok]


def risk_coverage(confidence, correct) -> pd.DataFrame:
    """One row per distinct confidence value t (descending): accepting values with confidence >= t gives
    ``n_accepted``, ``coverage`` (accepted share), ``errors`` and ``risk`` (error share among accepted).
    Values with a missing confidence or correctness are left out."""
    conf, corr = _clean(confidence, correct)
    order = np.argsort(-conf, kind="stable")
    conf, err = conf[order], 1.0 - corr[order]
    last = np.r_[conf[1:] != conf[:-1], True]
    n_acc = np.arange(1, len(conf) + 1)[last]
    errors = np.cumsum(err)[last]
    return pd.DataFrame({"threshold": conf[last], "n_accepted": n_acc, "coverage": n_acc / len(conf),
                         "errors": errors, "risk": errors / n_acc})


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve: sum over curve points of risk x coverage increment (the mean of the
    risk at each coverage k/n when confidences are distinct)."""
    return _aurc(risk_coverage(confidence, correct))


def _aurc(rc):
    return float(np.sum(rc["risk"] * np.diff(np.r_[0.0, rc["coverage"]])))


def threshold_for_accuracy(confidence, correct, target: float, *, alpha: float | None = None) -> dict:
    """Lowest confidence threshold whose accepted values reach ``target`` accuracy (largest coverage).

    With ``alpha`` the Wilson lower bound of the accuracy, not the estimate, must reach the target. Returns
    threshold (NaN when no threshold reaches it), coverage, review share, accuracy and its lower bound.
    """
    return _threshold(risk_coverage(confidence, correct), target, alpha)


def _threshold(rc, target, alpha):
    acc = 1 - rc["risk"].to_numpy()
    lower = wilson(rc["n_accepted"] - rc["errors"], rc["n_accepted"], alpha)[0] if alpha else acc
    ok = np.flatnonzero(lower >= target)
    if len(ok) == 0:
        return {"threshold": np.nan, "coverage": 0.0, "review_share": 1.0, "accuracy": np.nan,
                "accuracy_lower": np.nan, "n_accepted": 0}
    i = ok[-1]
    return {"threshold": float(rc["threshold"].iloc[i]), "coverage": float(rc["coverage"].iloc[i]),
            "review_share": 1 - float(rc["coverage"].iloc[i]), "accuracy": float(acc[i]),
            "accuracy_lower": float(lower[i]), "n_accepted": int(rc["n_accepted"].iloc[i])}


def routing_cost(confidence, correct, *, error_cost: float = 1.0, review_cost: float = 0.1) -> pd.DataFrame:
    """Cost per value of each threshold: ``error_cost`` per accepted wrong value plus ``review_cost`` per value
    routed to human review (reviewed values are assumed corrected), including the review-everything option."""
    return _cost(risk_coverage(confidence, correct), error_cost, review_cost)


def _cost(rc, error_cost, review_cost):
    n = rc["n_accepted"].iloc[-1]
    out = pd.concat([pd.DataFrame({"threshold": [np.inf], "n_accepted": [0], "coverage": [0.0], "errors": [0.0],
                                   "risk": [np.nan]}), rc], ignore_index=True)
    out["review_share"] = 1 - out["coverage"]
    out["cost_per_value"] = (error_cost * out["errors"] + review_cost * (n - out["n_accepted"])) / n
    return out


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """Expected calibration error with equal-width bins (Naeini, Cooper & Hauskrecht 2015, AAAI)."""
    conf, corr = _clean(confidence, correct)
    b = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, corr, n_bins) - np.bincount(b, conf, n_bins))
    return float(gap.sum() / n.sum())


def selective_prediction(
    confidence: pd.DataFrame, correct: pd.DataFrame, *, target_accuracy: float = 0.95, alpha: float = 0.05,
    error_cost: float = 1.0, review_cost: float = 0.1, source: str = "ai",
) -> pd.DataFrame:
    """Per variable (columns shared by both wide tables): AURC, calibration error, threshold reaching
    ``target_accuracy`` (estimate and Wilson lower bound at ``alpha``) with its automatic rate (coverage) and
    review share, and the cost-minimising threshold with its cost per value."""
    rows = []
    for var in [c for c in confidence.columns if c in correct.columns]:
        conf, corr = confidence[var].to_numpy(), correct[var].to_numpy()
        if not (~np.isnan(conf) & ~np.isnan(corr)).any():
            continue
        rc = risk_coverage(conf, corr)
        point = _threshold(rc, target_accuracy, None)
        safe = _threshold(rc, target_accuracy, alpha)
        cost = _cost(rc, error_cost, review_cost)
        best = cost.loc[cost["cost_per_value"].idxmin()]
        n = int(rc["n_accepted"].iloc[-1])
        rows.append({"source": source, "variable": var, "n": n, "accuracy_all": 1 - float(rc["risk"].iloc[-1]),
                     "aurc": _aurc(rc), "ece": expected_calibration_error(conf, corr),
                     "threshold": point["threshold"], "coverage": point["coverage"],
                     "review_share": point["review_share"], "threshold_safe": safe["threshold"],
                     "coverage_safe": safe["coverage"], "accuracy_lower_safe": safe["accuracy_lower"],
                     "cost_threshold": float(best["threshold"]), "cost_coverage": float(best["coverage"]),
                     "cost_per_value": float(best["cost_per_value"]),
                     "cost_review_all": review_cost, "cost_accept_all": float(cost["cost_per_value"].iloc[-1])})
    return pd.DataFrame(rows)
