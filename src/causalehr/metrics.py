"""Evaluation metrics for the simulation study and for held-out real data.

Four families, numpy-vectorised (at most one sort per priority score, so they run on 1,000,000 patients):

* CATE accuracy against the simulated truth: :func:`cate_accuracy`.
* ATE performance over simulation replications with Monte Carlo standard errors
  (Morris, White & Crowther 2019): :func:`summarize_replications`, and the mean of any per-replication
  metric with its MCSE: :func:`summarize_metrics`.
* Decisions: value and regret of the policy "treat if the estimated benefit exceeds a threshold"
  (:func:`policy_regret` against the truth, :func:`policy_value` from doubly robust scores) and the
  rank-weighted average treatment effect RATE / TOC curve of a priority score (Yadlowsky et al. 2025):
  :func:`rate`, :func:`rate_difference`, :func:`oracle_rate`.
* Calibration of the CATE by quantile groups of the estimate (GATES, Chernozhukov et al.):
  :func:`calibration_table`, and the best-linear-predictor calibration test: :func:`calibration_test`.

Convention: a CATE is a *benefit* (e.g. RMST difference or survival-probability difference, treated minus
untreated), so larger is better and a patient is treated when the estimated CATE is above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

__all__ = [
    "cate_accuracy",
    "summarize_replications",
    "summarize_metrics",
    "policy_regret",
    "policy_value",
    "RATEResult",
    "rate",
    "rate_difference",
    "oracle_rate",
    "calibration_table",
    "calibration_test",
]


# ----------------------------------------------------------------------------------------------- input checks
def _vector(name: str, values) -> np.ndarray:
    """Return `values` as a finite, non-empty 1-D float array, or raise a ValueError naming `name`."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`{name}` must be numeric") from err
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty; expected at least one value")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"`{name}` has {n_bad} non-finite values (NaN or inf); expected finite numbers")
    return arr


def _vectors(**named) -> list[np.ndarray]:
    """Check several vectors with :func:`_vector` and that they all have the length of the first one."""
    arrays = [_vector(name, values) for name, values in named.items()]
    names = list(named)
    for name, arr in zip(names[1:], arrays[1:]):
        if arr.size != arrays[0].size:
            raise ValueError(
                f"`{names[0]}` has {arrays[0].size} values but `{name}` has {arr.size}; "
                "they must have the same length"
            )
    return arrays


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be in (0, 1); got {alpha}")
    return float(stats.norm.ppf(1 - alpha / 2))


# ----------------------------------------------------------------------------------------------- CATE accuracy
def cate_accuracy(estimate, truth) -> dict[str, float]:
    """Accuracy of estimated CATEs against the true CATEs of the same patients.

    With errors e_i = tau_hat_i - tau_i, i = 1..n:
    ``mse`` = mean(e_i^2); ``pehe`` = sqrt(mse), the precision in estimating heterogeneous effects
    (Hill 2011, "Bayesian nonparametric modeling for causal inference", JCGS); ``bias`` = mean(e_i);
    ``pearson`` = linear correlation of tau_hat and tau; ``spearman`` = rank correlation (ties get
    average ranks), which measures how well the estimate orders patients for targeting. The correlations
    are NaN when either vector is constant (undefined), and ``n`` is the number of patients.
    """
    est, tru = _vectors(estimate=estimate, truth=truth)
    err = est - tru
    mse = float(np.mean(err**2))
    constant = np.ptp(est) == 0 or np.ptp(tru) == 0
    return {
        "n": int(est.size),
        "mse": mse,
        "pehe": float(np.sqrt(mse)),
        "bias": float(np.mean(err)),
        "pearson": np.nan if constant or est.size < 2 else float(np.corrcoef(est, tru)[0, 1]),
        "spearman": np.nan if constant or est.size < 2 else float(stats.spearmanr(est, tru).statistic),
    }


# ----------------------------------------------------------------------------------------------- replications
def summarize_replications(
    df: pd.DataFrame,
    by=None,
    *,
    estimate: str = "estimate",
    lower: str = "lower",
    upper: str = "upper",
    truth: str = "truth",
    se: str | None = None,
) -> pd.DataFrame:
    """Performance of an estimator over simulation replications, with Monte Carlo standard errors (MCSE).

    Morris, White & Crowther (2019), "Using simulation studies to evaluate statistical methods",
    Statistics in Medicine 38:2074-2102, Table 6 (written here with pandas group-by because the reference
    implementations, rsimsum / simsum, are R and Stata packages). Per group of ``by`` (one row if ``by``
    is None), with n_sim replications, estimates t_i, truths theta_i (may differ between replications,
    e.g. a sample average effect), errors e_i = t_i - theta_i, model standard errors s_i and intervals
    [l_i, u_i]:

    * ``bias`` = mean(e); MCSE = sd(e) / sqrt(n_sim)   (sd with divisor n_sim - 1 throughout).
    * ``empse`` = sd(t); MCSE = empse / sqrt(2 (n_sim - 1)).
    * ``mse`` = mean(e^2); MCSE = sqrt(sum_i (e_i^2 - mse)^2 / (n_sim (n_sim - 1))).
    * ``rmse`` = sqrt(mse); MCSE by the delta method = MCSE(mse) / (2 rmse).
    * ``model_se`` = sqrt(mean(s^2)) (root mean squared model SE, as Morris et al. recommend);
      MCSE = sqrt(var(s^2) / (4 n_sim model_se^2)).
    * ``rel_error_model_se`` = 100 (model_se / empse - 1) (%); MCSE =
      100 (model_se / empse) sqrt(var(s^2) / (4 n_sim model_se^4) + 1 / (2 (n_sim - 1))).
    * ``coverage`` = mean(1[l_i <= theta_i <= u_i]); MCSE = sqrt(coverage (1 - coverage) / n_sim).
    * ``be_coverage`` (bias-eliminated) = mean(1[l_i <= mean(t) <= u_i]); same MCSE formula.
    * ``width`` = mean(u - l); MCSE = sd(u - l) / sqrt(n_sim).

    The model-SE measures are returned only when ``se`` names a column of model standard errors.
    Missing values are not dropped: a NaN in a used column, an interval with lower > upper, or a group with
    fewer than 2 replications raises a ValueError (filter failed replications and report them separately).
    Returns one row per group: the ``by`` columns, ``n_sim``, then each measure followed by ``<measure>_mcse``.
    """
    use_se = se is not None
    by, keys, vals = _replication_columns(df, by, [estimate, lower, upper, truth] + ([se] if use_se else []))
    lo, hi, t, theta = vals[lower], vals[upper], vals[estimate], vals[truth]
    n_bad = int((lo > hi).sum())
    if n_bad:
        raise ValueError(f"column '{lower}' is greater than column '{upper}' in {n_bad} rows")
    if use_se and (vals[se] < 0).any():
        raise ValueError(f"column '{se}' has {int((vals[se] < 0).sum())} rows with negative values")

    t_mean = t.groupby(keys, sort=True, dropna=False).transform("mean")
    rows = pd.DataFrame(
        {
            "t": t,
            "e": t - theta,
            "e2": (t - theta) ** 2,
            "cover": ((lo <= theta) & (theta <= hi)).astype(float),
            "be_cover": ((lo <= t_mean) & (t_mean <= hi)).astype(float),
            "width": hi - lo,
        }
    )
    if use_se:
        rows["s2"] = vals[se] ** 2
    mean, var, n = _group_moments(rows, keys, by)

    out = pd.DataFrame(index=mean.index)
    out["n_sim"] = n
    out["bias"] = mean["e"]
    out["bias_mcse"] = np.sqrt(var["e"] / n)
    out["empse"] = np.sqrt(var["t"])
    out["empse_mcse"] = out["empse"] / np.sqrt(2 * (n - 1))
    out["mse"] = mean["e2"]
    out["mse_mcse"] = np.sqrt(var["e2"] / n)  # = sqrt(sum (e^2 - mse)^2 / (n (n - 1)))
    out["rmse"] = np.sqrt(mean["e2"])
    out["rmse_mcse"] = out["mse_mcse"] / (2 * out["rmse"])
    if use_se:
        out["model_se"] = np.sqrt(mean["s2"])
        out["model_se_mcse"] = np.sqrt(var["s2"] / (4 * n * mean["s2"]))
        ratio = out["model_se"] / out["empse"]
        out["rel_error_model_se"] = 100 * (ratio - 1)
        out["rel_error_model_se_mcse"] = (
            100 * ratio * np.sqrt(var["s2"] / (4 * n * mean["s2"] ** 2) + 1 / (2 * (n - 1)))
        )
    for name, col in (("coverage", "cover"), ("be_coverage", "be_cover")):
        out[name] = mean[col]
        out[f"{name}_mcse"] = np.sqrt(mean[col] * (1 - mean[col]) / n)
    out["width"] = mean["width"]
    out["width_mcse"] = np.sqrt(var["width"] / n)
    return _with_group_columns(out, by)


def summarize_metrics(df: pd.DataFrame, by=None, *, columns) -> pd.DataFrame:
    """Mean over replications of per-replication metrics (e.g. pehe, regret, AUTOC), with their MCSE.

    For a metric m_i computed in each of n_sim replications, reports mean(m) and its Monte Carlo standard
    error sd(m) / sqrt(n_sim) (Morris, White & Crowther 2019, "Using simulation studies to evaluate
    statistical methods", Statistics in Medicine). Input checks as in :func:`summarize_replications`.
    Returns one row per group: the ``by`` columns, ``n_sim``, then each column followed by ``<column>_mcse``.
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    if not columns:
        raise ValueError("`columns` is empty; expected the names of metric columns")
    by, keys, vals = _replication_columns(df, by, columns)
    mean, var, n = _group_moments(pd.DataFrame(vals), keys, by)
    out = pd.DataFrame({"n_sim": n})
    for col in columns:
        out[col] = mean[col]
        out[f"{col}_mcse"] = np.sqrt(var[col] / n)
    return _with_group_columns(out, by)


def _replication_columns(df, by, columns):
    """Check a replications table; return the ``by`` list, the group keys and the columns as floats."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"`df` must be a pandas DataFrame; got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("`df` is empty; expected one row per replication")
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    for col in by + columns:
        if col not in df.columns:
            raise ValueError(f"missing column '{col}'; available columns: {list(df.columns)}")
    vals = {}
    for col in columns:
        try:
            vals[col] = pd.to_numeric(df[col], errors="raise").astype(float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"column '{col}' must be numeric") from err
        n_bad = int((~np.isfinite(vals[col])).sum())
        if n_bad:
            raise ValueError(f"column '{col}' has {n_bad} rows with missing or infinite values")
    keys = [df[col] for col in by] if by else np.zeros(len(df), dtype=int)
    return by, keys, vals


def _group_moments(rows: pd.DataFrame, keys, by):
    """Per-group mean, variance (divisor n - 1) and size; every group needs 2 replications."""
    grouped = rows.groupby(keys, sort=True, dropna=False)
    n = grouped.size()
    if (n < 2).any():
        first = n.index[(n < 2).to_numpy()][0]
        raise ValueError(
            f"every group needs at least 2 replications; {int((n < 2).sum())} groups have 1 "
            f"(first: {dict(zip(by, first if isinstance(first, tuple) else (first,)))})"
        )
    return grouped.mean(), grouped.var(ddof=1), n


def _with_group_columns(out: pd.DataFrame, by: list) -> pd.DataFrame:
    if not by:
        return out.reset_index(drop=True)
    out.index.names = by
    return out.reset_index()


# ----------------------------------------------------------------------------------------------- markers
def best_linear_projection(X: pd.DataFrame, scores, alpha: float = 0.05, min_cell_size: int = 10) -> pd.DataFrame:
    """Best linear projection of the CATE on the standardised covariates: OLS of the doubly robust scores on an
    intercept and (x - mean) / sd, HC3 standard errors (Semenova & Chernozhukov 2021, "Debiased machine learning
    of conditional average treatment effects and other causal functions"; grf's best_linear_projection).
    A coefficient is the change in effect per standard deviation of the covariate, the others held fixed;
    constant covariates are left out, and so are 0/1 indicators with fewer than ``min_cell_size`` patients at 1
    or at 0 (the small level is merged into the reference level: its coefficient would describe a small group)."""
    X = X.loc[:, X.std(ddof=0) > 0]   # a constant covariate explains no variation of the effect
    binary = X.isin([0, 1]).all()
    ones = X.sum()
    small = binary & ((ones < min_cell_size) | (len(X) - ones < min_cell_size))
    X = X.loc[:, ~small]
    Z = (X - X.mean()) / X.std(ddof=0)
    fit = sm.OLS(np.asarray(scores, float), sm.add_constant(Z.to_numpy(float), has_constant="add")).fit(cov_type="HC3")
    z = stats.norm.ppf(1 - alpha / 2)
    return pd.DataFrame({"term": ["intercept", *Z.columns], "estimate": fit.params, "std_err": fit.bse,
                         "lower": fit.params - z * fit.bse, "upper": fit.params + z * fit.bse,
                         "p_value": fit.pvalues})


def heterogeneity_importance(X: pd.DataFrame, scores, *, n_estimators: int = 200, min_samples_leaf: int = 50,
                             random_state=None) -> pd.Series:
    """Share of the heterogeneity of the effect attributed to each covariate: the depth-weighted split importance
    (econml's ``feature_importances(max_depth=4, depth_decay_exponent=2)``, grf's ``variable_importance``; Athey,
    Tibshirani & Wager 2019) of an honest regression forest (econml.grf.RegressionForest) of the doubly robust
    scores, whose mean given x is the CATE; sums to one, sorted decreasing."""
    from econml.grf import RegressionForest

    forest = RegressionForest(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, n_jobs=1,
                              random_state=random_state)
    forest.fit(X.to_numpy(float), np.asarray(scores, float))
    importance = forest.feature_importances(max_depth=4, depth_decay_exponent=2.0)
    return pd.Series(importance / max(importance.sum(), 1e-300), index=X.columns).sort_values(ascending=False)


def markers_table(X: pd.DataFrame, scores, *, n_top: int = 3, n_groups: int = 3, alpha: float = 0.05,
                  min_cell_size: int = 10, random_state=None) -> pd.DataFrame:
    """The markers of an effect, in one table: for each covariate its best linear projection coefficient
    (:func:`best_linear_projection`, kind "projection") and its heterogeneity importance
    (:func:`heterogeneity_importance`, kind "importance"), and for the ``n_top`` most important covariates the
    average effect in each of ``n_groups`` quantile groups of the covariate (each level of a 0/1 covariate), the mean
    of the doubly robust scores with a Wald interval (kind "subgroup"; GATES of Chernozhukov, Demirer, Duflo &
    Fernandez-Val 2018, "Generic machine learning inference on heterogeneous treatment effects", grouped by a
    marker instead of the predicted effect). Groups of fewer than ``min_cell_size`` patients are left out.
    Columns: marker, kind, group, n, estimate, lower, upper.
    """
    scores = np.asarray(scores, float)
    if len(X) != len(scores):
        raise ValueError(f"scores must have {len(X)} rows like X, got {len(scores)}")
    z = _z(alpha)
    blp = best_linear_projection(X, scores, alpha, min_cell_size)
    rows = [{"marker": r.term, "kind": "projection", "group": "", "n": len(X), "estimate": r.estimate,
             "lower": r.lower, "upper": r.upper} for r in blp.iloc[1:].itertuples()]
    importance = heterogeneity_importance(X, scores, random_state=random_state)
    rows += [{"marker": name, "kind": "importance", "group": "", "n": len(X), "estimate": value, "lower": np.nan,
              "upper": np.nan} for name, value in importance.items()]
    for name in importance.index[:n_top]:
        x = X[name].to_numpy(float)
        if np.isin(x, (0, 1)).all():
            order, bins = [f"{name} = 0", f"{name} = 1"], x.astype(int)
        else:
            cuts = np.unique(np.quantile(x, np.linspace(0, 1, n_groups + 1)[1:-1]))
            bins = np.searchsorted(cuts, x, side="left")
            order = ([f"{name} <= {cuts[0]:.4g}"] + [f"{lo:.4g} < {name} <= {hi:.4g}" for lo, hi in zip(cuts, cuts[1:])]
                     + [f"{name} > {cuts[-1]:.4g}"])
        for b, label in enumerate(order):
            phi = scores[bins == b]
            if len(phi) < max(min_cell_size, 2):
                continue
            half = z * phi.std(ddof=1) / np.sqrt(len(phi))
            rows.append({"marker": name, "kind": "subgroup", "group": label, "n": len(phi), "estimate": phi.mean(),
                         "lower": phi.mean() - half, "upper": phi.mean() + half})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- decisions
def policy_regret(estimate, truth, *, threshold: float = 0.0) -> dict[str, float]:
    """Value and regret of the policy pi(x) = 1[tau_hat(x) > threshold], computed with the true CATE.

    Values are mean gains relative to treating nobody (Manski 2004, "Statistical treatment rules for
    heterogeneous populations", Econometrica; Athey & Wager 2021, "Policy learning with observational
    data", Econometrica): ``value`` = mean(pi_i tau_i); ``oracle_value`` = mean(max(tau_i, 0)), the value of
    the best policy pi*(x) = 1[tau(x) > 0]; ``regret`` = oracle_value - value >= 0; ``treat_all_value`` =
    mean(tau_i); ``treated_fraction`` = mean(pi_i); ``wrong_decision_rate`` = mean(pi_i != 1[tau_i > 0]).
    The threshold applies to the estimate only: the oracle always treats when the true benefit is > 0.
    """
    est, tau = _vectors(estimate=estimate, truth=truth)
    treat = est > threshold
    value = float(np.mean(np.where(treat, tau, 0.0)))
    oracle = float(np.mean(np.maximum(tau, 0.0)))
    return {
        "n": int(est.size),
        "value": value,
        "oracle_value": oracle,
        "regret": oracle - value,
        "treat_all_value": float(np.mean(tau)),
        "treated_fraction": float(np.mean(treat)),
        "wrong_decision_rate": float(np.mean(treat != (tau > 0))),
    }


def rule_regret(assigned, outcomes) -> dict[str, float]:
    """True value and regret of a rule over several arms: ``assigned`` the arm code given to each patient,
    ``outcomes`` (n, k) the true expected outcome of each arm (larger is better, e.g. RMST).

    ``value`` = mean(outcome of the assigned arm); ``oracle_value`` = mean(max over arms), the value of the optimal
    rule; ``regret`` = oracle_value - value; ``best_single_value`` = the value of treating all with the best arm;
    ``agreement`` = share of patients given an optimal arm (Zhou, Athey & Wager 2023, "Offline multi-action policy
    learning", Operations Research).
    """
    y = np.asarray(outcomes, dtype=float)
    arm = np.asarray(assigned).ravel()
    if y.ndim != 2 or len(arm) != len(y):
        raise ValueError(f"outcomes must have shape (n, k) with n = {len(arm)} rows like assigned, got {y.shape}")
    value = float(y[np.arange(len(y)), arm].mean())
    oracle = float(y.max(axis=1).mean())
    return {"n": int(len(y)), "value": value, "oracle_value": oracle, "regret": oracle - value,
            "best_single_value": float(y.mean(axis=0).max()),
            "agreement": float(np.mean(y[np.arange(len(y)), arm] >= y.max(axis=1)))}


def policy_value(estimate, scores, *, threshold: float = 0.0, alpha: float = 0.05) -> dict[str, float]:
    """Doubly robust estimate of the value of pi(x) = 1[tau_hat(x) > threshold] on held-out data.

    With doubly robust scores Gamma_i (E[Gamma_i | X_i] = tau(X_i), e.g. AIPCW pseudo-outcomes computed
    on data not used to fit tau_hat), the gain over treating nobody is V = mean(pi_i Gamma_i), with
    SE = sd(pi_i Gamma_i) / sqrt(n) and a normal (1 - alpha) interval (Athey & Wager 2021, "Policy
    learning with observational data", Econometrica). Returns value, se, lower, upper, treated_fraction.
    """
    est, gamma = _vectors(estimate=estimate, scores=scores)
    if est.size < 2:
        raise ValueError("`scores` needs at least 2 values to estimate a standard error")
    treat = est > threshold
    gain = np.where(treat, gamma, 0.0)
    value = float(np.mean(gain))
    se = float(np.std(gain, ddof=1) / np.sqrt(gain.size))
    z = _z(alpha)
    return {
        "n": int(est.size),
        "value": value,
        "se": se,
        "lower": value - z * se,
        "upper": value + z * se,
        "treated_fraction": float(np.mean(treat)),
    }


@dataclass(frozen=True)
class RATEResult:
    """Result of :func:`rate` / :func:`rate_difference`: RATE estimate, standard error, TOC curve on grid q.

    ``toc`` has columns q, estimate, std_err. ``std_err`` is NaN when no bootstrap was run.
    """

    target: str
    estimate: float
    std_err: float
    toc: pd.DataFrame
    n_bootstrap: int

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Normal (1 - alpha) confidence interval estimate +/- z std_err."""
        z = _z(alpha)
        return self.estimate - z * self.std_err, self.estimate + z * self.std_err


def _rate_curve(gamma_sorted: np.ndarray, tie_id: np.ndarray | None, q: np.ndarray, target: str) -> np.ndarray:
    """[RATE, TOC(q_1), ..., TOC(q_m)] from scores already sorted by decreasing priority."""
    n = gamma_sorted.size
    if tie_id is not None:  # tied priorities share the mean of their scores
        gamma_sorted = (np.bincount(tie_id, weights=gamma_sorted) / np.bincount(tie_id))[tie_id]
    cum = np.concatenate(([0.0], np.cumsum(gamma_sorted)))
    k = np.arange(1, n + 1)
    ate = cum[-1] / n
    toc = cum[1:] / k - ate
    weights = 1.0 if target == "AUTOC" else k / n
    # TOC at fractions q: average over the top q*n patients, a fractional patient counting partly (as grf).
    toc_q = np.interp(q * n, np.arange(n + 1), cum) / (q * n) - ate
    return np.concatenate(([np.mean(weights * toc)], toc_q))


def _tie_id(sorted_values: np.ndarray) -> np.ndarray | None:
    """Index of the run of equal values each element belongs to, or None if there are no ties."""
    new_run = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    return None if new_run.all() else np.cumsum(new_run) - 1


def _rate_replicates(priorities, scores, target, q, n_bootstrap, random_state, clusters):
    """Check inputs; return the point curves (one row per priority) and half-sample bootstrap replicates.

    All priorities are evaluated on the same half-samples (a paired bootstrap), so differences between
    them get a valid standard error. Half-samples draw half of the clusters (default: one per patient).
    """
    named = {f"priority{'_' + str(j + 1) if len(priorities) > 1 else ''}": p for j, p in enumerate(priorities)}
    *prios, gamma = _vectors(**named, scores=scores)
    target = str(target).upper()
    if target not in ("AUTOC", "QINI"):
        raise ValueError(f"`target` must be 'AUTOC' or 'QINI'; got {target!r}")
    q = np.round(np.arange(1, 11) / 10, 10) if q is None else _vector("q", q)
    if np.any(np.diff(q) <= 0) or q[0] <= 0 or q[-1] != 1:
        raise ValueError("`q` must be strictly increasing fractions in (0, 1] ending at 1")
    n_bootstrap = int(n_bootstrap)
    if n_bootstrap < 0 or n_bootstrap == 1:
        raise ValueError(f"`n_bootstrap` must be 0 or at least 2; got {n_bootstrap}")
    n = gamma.size
    if clusters is None:
        codes, unit = np.arange(n), "patients"
    else:
        clusters = pd.Series(np.asarray(clusters).ravel())
        if clusters.size != n:
            raise ValueError(f"`scores` has {n} values but `clusters` has {clusters.size}; they must have the same length")
        if clusters.isna().any():
            raise ValueError(f"`clusters` has {int(clusters.isna().sum())} missing values")
        codes, unit = pd.factorize(clusters)[0], "clusters"
    n_units = int(codes.max()) + 1
    if n_bootstrap and n_units < 4:
        raise ValueError(f"the half-sample bootstrap needs at least 4 {unit}; got {n_units}")

    sorted_parts = []
    for prio in prios:
        order = np.argsort(-prio, kind="stable")
        sorted_parts.append((gamma[order], _tie_id(prio[order]), codes[order]))
    point = np.array([_rate_curve(g, ties, q, target) for g, ties, _ in sorted_parts])
    boot = np.empty((n_bootstrap, len(prios), q.size + 1))
    rng = np.random.default_rng(random_state)
    for b in range(n_bootstrap):
        chosen = np.zeros(n_units, dtype=bool)
        chosen[rng.choice(n_units, size=n_units // 2, replace=False)] = True
        for j, (g, ties, code) in enumerate(sorted_parts):
            keep = chosen[code]  # a boolean mask keeps the sorted order: no re-sorting
            ties_b = None if ties is None else _tie_id(ties[keep])
            boot[b, j] = _rate_curve(g[keep], ties_b, q, target)
    return target, q, point, boot


def _rate_result(target, q, curve, replicates) -> RATEResult:
    sd = replicates.std(axis=0, ddof=1) if len(replicates) else np.full(curve.size, np.nan)
    toc = pd.DataFrame({"q": q, "estimate": curve[1:], "std_err": sd[1:]})
    return RATEResult(target, float(curve[0]), float(sd[0]), toc, len(replicates))


def rate(
    priority,
    scores,
    *,
    target: str = "AUTOC",
    q=None,
    n_bootstrap: int = 200,
    random_state=None,
    clusters=None,
) -> RATEResult:
    """Rank-weighted average treatment effect (RATE) of a treatment priority score, with its TOC curve.

    Yadlowsky, Fleming, Shah, Brunskill & Wager (2025), "Evaluating treatment prioritization rules via
    rank-weighted average treatment effects", JASA; same estimator as grf's rank_average_treatment_effect
    (written here in numpy because grf is an R package). Sort the n held-out patients by decreasing
    ``priority`` (patients with tied priorities get the mean of their doubly robust scores Gamma, so the
    order within ties does not matter), then

        TOC(k/n) = (1/k) sum_{j<=k} Gamma_(j) - (1/n) sum_j Gamma_j,   k = 1..n,
        AUTOC = (1/n) sum_k TOC(k/n),     QINI = (1/n) sum_k (k/n) TOC(k/n).

    TOC(q) on the grid ``q`` (default 0.1, ..., 1) averages the top q*n patients, counting the
    boundary patient fractionally. ``scores`` must not come from the data used to build ``priority``
    (cross-fitting). Standard errors: half-sample bootstrap as in grf: draw half of the patients (or of the
    ``clusters``, e.g. centres) without replacement ``n_bootstrap`` times, recompute, and take the sd of the
    replicates (no rescaling: a half-sample drawn without replacement has the variance of the full-sample
    estimate). ``n_bootstrap=0`` skips it (std_err NaN). Larger ``priority`` = treat first.
    """
    target, q, point, boot = _rate_replicates([priority], scores, target, q, n_bootstrap, random_state, clusters)
    return _rate_result(target, q, point[0], boot[:, 0])


def rate_difference(
    priority_1,
    priority_2,
    scores,
    *,
    target: str = "AUTOC",
    q=None,
    n_bootstrap: int = 200,
    random_state=None,
    clusters=None,
) -> RATEResult:
    """RATE(priority_1) - RATE(priority_2) and the difference of their TOC curves, on the same patients.

    Compares two prioritisation rules (e.g. two CATE estimators) as in grf's rank_average_treatment_effect
    with two priorities (Yadlowsky et al. 2025): the standard error comes from a paired half-sample
    bootstrap, both rules being evaluated on the same half-samples. Arguments as in :func:`rate`.
    """
    target, q, point, boot = _rate_replicates(
        [priority_1, priority_2], scores, target, q, n_bootstrap, random_state, clusters
    )
    return _rate_result(target, q, point[0] - point[1], boot[:, 0] - boot[:, 1])


def oracle_rate(priority, truth, *, target: str = "AUTOC", q=None) -> RATEResult:
    """RATE and TOC of ``priority`` computed with the true CATE in place of doubly robust scores.

    This is the in-sample estimand that :func:`rate` estimates in a simulation (Yadlowsky et al. 2025);
    with ``priority=truth`` it is the best RATE any priority can reach on these patients. No standard error.
    """
    _vectors(priority=priority, truth=truth)
    return rate(priority, truth, target=target, q=q, n_bootstrap=0)


# ----------------------------------------------------------------------------------------------- calibration
def calibration_table(estimate, *, truth=None, scores=None, n_groups: int = 5, alpha: float = 0.05) -> pd.DataFrame:
    """Group average treatment effects (GATES) by quantile groups of the estimated CATE.

    Chernozhukov, Demirer, Duflo & Fernandez-Val (2018/2025), "Generic machine learning inference on
    heterogeneous treatment effects in randomized experiments". Patients are split into ``n_groups``
    groups of (nearly) equal size by the rank of the estimate: group = floor((r_i - 1) G / n) + 1 with
    r_i the average rank (tied estimates stay in the same group, so with many ties some groups are absent).
    Per group g: ``n``, ``estimate_mean`` (mean predicted CATE), and

    * ``truth_mean`` = mean true CATE (simulation), if ``truth`` is given;
    * ``score_mean`` = mean doubly robust score, ``score_se`` = sd / sqrt(n_g) and a normal (1 - alpha)
      interval ``score_lower``, ``score_upper`` (real data; scores computed on patients not used to fit
      the estimate), if ``scores`` is given.

    A calibrated estimate has estimate_mean close to truth_mean (or inside the score interval) in every group.
    """
    if truth is None and scores is None:
        raise ValueError("give `truth` (simulation) or `scores` (doubly robust scores) to calibrate against")
    named = {"estimate": estimate}
    if truth is not None:
        named["truth"] = truth
    if scores is not None:
        named["scores"] = scores
    arrays = dict(zip(named, _vectors(**named)))
    est = arrays["estimate"]
    n = est.size
    if int(n_groups) != n_groups or not 1 <= n_groups <= n:
        raise ValueError(f"`n_groups` must be an integer between 1 and the number of patients ({n}); got {n_groups}")
    z = _z(alpha)
    group = np.floor((stats.rankdata(est) - 1) * n_groups / n).astype(int)
    counts = np.bincount(group, minlength=n_groups)
    present = counts > 0
    n_g = counts[present]

    def group_sum(x):
        return np.bincount(group, weights=x, minlength=n_groups)[present]

    table = pd.DataFrame({"group": np.arange(1, n_groups + 1)[present], "n": n_g})
    table["estimate_mean"] = group_sum(est) / n_g
    if "truth" in arrays:
        table["truth_mean"] = group_sum(arrays["truth"]) / n_g
    if "scores" in arrays:
        gamma = arrays["scores"]
        mean = np.zeros(n_groups)
        mean[present] = group_sum(gamma) / n_g
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.sqrt(group_sum((gamma - mean[group]) ** 2) / (n_g - 1) / n_g)
        table["score_mean"] = mean[present]
        table["score_se"] = se
        table["score_lower"] = mean[present] - z * se
        table["score_upper"] = mean[present] + z * se
    return table


def calibration_test(estimate, scores) -> pd.DataFrame:
    """Best-linear-predictor calibration test of a CATE estimate against doubly robust scores.

    The doubly robust analogue of grf's test_calibration (Chernozhukov, Demirer, Duflo & Fernandez-Val,
    "Generic machine learning inference on heterogeneous treatment effects in randomized experiments";
    Athey & Wager 2019, "Estimating treatment effects with causal forests: an application", Observational
    Studies): ordinary least squares of Gamma_i on  mean(tau_hat)  and  tau_hat_i - mean(tau_hat)  without
    intercept, with heteroskedasticity-robust (HC3) standard errors from statsmodels. A coefficient of 1 on
    ``mean_prediction`` means the average prediction is correct; a coefficient of 1 on
    ``differential_prediction`` means the heterogeneity is well calibrated, and > 0 that it is detected.
    Returns rows mean_prediction and differential_prediction with estimate, std_err, t_value and the
    one-sided p_value for H1: coefficient > 0 (as grf reports).
    """
    est, gamma = _vectors(estimate=estimate, scores=scores)
    mean = est.mean()
    if mean == 0:
        raise ValueError("`estimate` has mean 0, so the mean_prediction coefficient is not identified")
    if np.ptp(est) == 0:
        raise ValueError("`estimate` is constant, so the differential_prediction coefficient is not identified")
    if est.size < 3:
        raise ValueError("`estimate` needs at least 3 values to fit two coefficients with a standard error")
    design = np.column_stack([np.full(est.size, mean), est - mean])
    fit = sm.OLS(gamma, design).fit(cov_type="HC3")
    return pd.DataFrame(
        {
            "estimate": fit.params,
            "std_err": fit.bse,
            "t_value": fit.tvalues,
            "p_value": stats.norm.sf(fit.tvalues),
        },
        index=pd.Index(["mean_prediction", "differential_prediction"], name="term"),
    )
