"""Choosing and combining CATE learners under censoring: the method "auto" of :class:`CensoredCATE`.

Every candidate learner is fitted on the same cross-fitted nuisances; its held-out CATE predictions (patient i
predicted by a model that did not see i) are scored by a validation risk built from censoring-adjusted doubly
robust quantities, and the candidates are chosen or combined (stacked) to minimise that risk:

* R-risk (Nie & Wager 2021), with the AIPCW-transformed outcome Y* (Tsiatis 2006; Rubin & van der Laan 2007)
  in place of the uncensored outcome: mean_i [Y*_i - m(X_i) - (W_i - e(X_i)) tau(X_i)]^2, m = e mu1 + (1 - e) mu0,
  the loss the causal survival forest solves locally (Cui et al. 2023); Doutreligne & Varoquaux (2023) found it
  the most reliable risk for causal model selection.
* DR risk: mean_i [Gamma_i - tau(X_i)]^2 with Gamma the AIPCW-AIPW score (the DR-learner's pseudo-outcome,
  Kennedy 2023; Saito & Yasui 2020).

Stacking finds weights w >= 0 with sum w = 1 minimising the risk of sum_j w_j tau_j, the super learner's
convex combination (van der Laan, Polley & Hubbard 2007) under a causal risk; selection puts all the weight on
the candidate of least risk. Neither is used as such: at n = 2,000 the R-risk of AIPCW outcomes is so noisy that
the stack often fits noise where there is no heterogeneity, and it was less accurate than the causal forest alone
where the forest is good. The candidates are climbed as a ladder of increasing complexity (:func:`ladder`,
:func:`climb`): the constant model (the ATE for everyone), then the causal forest (the best of several leaf sizes
when there are several), then the combination of every candidate. A rung replaces the current one only when its
cross-validated risk reduction over it is more than ``LADDER_Z[current rung]`` standard errors: the weights (or
the choice) are refitted without each fold and scored on it, since the in-sample reduction of a stack is
optimistic, as the minimum over the simplex. It is Breiman's preference for the simpler model unless the data
clearly favour a richer one (Breiman et al. 1984), with the forest as the default learner because its out-of-bag
predictions need no refit and it was the most accurate single candidate on grf's settings.

The thresholds are calibrated by simulation (benchmarks/bench_select.py replays every rule exactly on the same
fits; benchmarks/results/select.csv and select_replay.csv), on the settings of the grf head-to-head and three
settings with no or weak heterogeneity under heavy censoring, 12 cohorts of 2,000 each. Leaving the constant model
at a positive reduction (z = 0, the cross-validated choice of the discrete super learner) kept power where there
is heterogeneity; a one-sided 5% test (z = 1.645) had kept the constant model in nearly every heterogeneous cohort
of csf1 and csf2. Leaving the forest for the combination only at z = 2 made auto worse than grf's causal survival
forest in 3 of 12 setting x estimand cells instead of 6 with the earlier rule (no forest rung: the combination
replaced the constant model at z = 0), and it lowered auto's MSE where there is no heterogeneity (0.125 against
0.140, x 100). The thresholds were chosen on the cohorts on which they are then reported.

Held-out predictions: the causal forest's out-of-bag predictions (each tree is grown on a half-sample, so a
patient's prediction averages the trees that did not see it); the T-/S-learner's cross-fitted nuisances
mu1 - mu0 when it uses the same survival model as the nuisances (they are its held-out predictions); the
other candidates are refitted on the cross-fitting folds of the nuisances (``folds_``). The nuisances of the
risk are the cross-fitted ones of :class:`CensoredCATE`: a candidate refitted without fold k used
pseudo-outcomes whose nuisance models saw fold k, a leak of second order (nuisance error only).

References
----------
Breiman, L., Friedman, J. H., Olshen, R. A. & Stone, C. J. (1984). Classification and Regression Trees.
Wadsworth (the one-standard-error rule).
Doutreligne, M. & Varoquaux, G. (2023). How to select predictive models for decision making or causal
inference. arXiv:2302.00370.
Kennedy, E. H. (2023). Towards optimal doubly robust estimation of heterogeneous causal effects. Electronic
Journal of Statistics 17, 3008-3049.
Nie, X. & Wager, S. (2021). Quasi-oracle estimation of heterogeneous treatment effects. Biometrika 108, 299-319.
Rubin, D. & van der Laan, M. J. (2007). A doubly robust censoring unbiased transformation. International Journal
of Biostatistics 3(1).
Saito, Y. & Yasui, S. (2020). Counterfactual cross-validation: stable model selection procedure for causal
inference models. ICML, 8398-8407.
Tsiatis, A. A. (2006). Semiparametric Theory and Missing Data. Springer.
van der Laan, M. J., Polley, E. C. & Hubbard, A. E. (2007). Super learner. Statistical Applications in Genetics
and Molecular Biology 6(1).
"""

from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import clone

from .pseudo import dr_scores

CANDIDATES = ("constant", "aipcw-causal-forest", "x-learner", "aipcw-dr", "t-learner")
RISKS = ("r", "dr")
COMBINATIONS = ("stack", "select")
# the ladder of "auto" (:func:`climb`) leaves a rung for a higher one when the higher rung's cross-validated risk
# reduction over it exceeds this many standard errors (calibrated by simulation, see the module docstring)
LADDER_Z = {"constant": 0.0, "causal forest": 2.0}
# the attributes a candidate shares with the "auto" estimator that fitted it (set by CensoredCATE.fit)
_SHARED = ("horizon_", "grid_", "step_", "folds_", "nuisances_", "positivity_", "scores_", "n_features_in_")


def candidate_specs(candidates) -> dict:
    """Label -> CensoredCATE parameters (with "method") of each candidate of method "auto".

    An entry is a method name (its own label) or a pair (label, parameters), e.g. a causal forest with other
    leaves (:func:`forest_leaf_candidates`); ValueError naming the entry when it is neither, when its method is
    not a candidate method or when two entries share a label.
    """
    allowed = (*CANDIDATES, "s-learner", "ipcw-dr")
    if candidates is None:
        return {name: {"method": name} for name in CANDIDATES}
    specs = {}
    for entry in candidates:
        label, params = (entry, {"method": entry}) if isinstance(entry, str) else _pair(entry)
        if params.get("method") not in allowed:
            raise ValueError(f"candidates: the method of {entry!r} must be one of {allowed}")
        if label in specs:
            raise ValueError(f"candidates: the label {label!r} is given twice")
        specs[label] = dict(params)
    if not specs:
        raise ValueError(f"candidates must be a non-empty list of {allowed} or (label, parameters) pairs, got []")
    return specs


def _pair(entry):
    """(label, parameters) of a candidate given as a pair; ValueError naming the entry otherwise."""
    if not (isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[0], str)
            and isinstance(entry[1], dict)):
        raise ValueError(f"candidates: expected a method name or a (label, parameters) pair, got {entry!r}")
    return entry


def forest_leaf_candidates(leaf_sizes=(5, 20, 50), n_estimators=2000):
    """Causal forests that differ by their leaf size, as candidates of method "auto": the selection (or the
    stack) then tunes the leaf size by the same held-out risk, on the forests' out-of-bag predictions, as grf's
    ``tune.parameters`` does with its out-of-bag R-loss (Athey, Tibshirani & Wager 2019).

    Returns (label, parameters) pairs, label "aipcw-causal-forest(leaf=k)"; each forest is CensoredCATE's default
    (:func:`causalehr.cate.estimator.causal_forest`) with ``n_estimators`` trees; its seed is CensoredCATE's.
    """
    from .estimator import causal_forest  # the estimator module imports this one

    return [(f"aipcw-causal-forest(leaf={k})",
             {"method": "aipcw-causal-forest",
              "cate_model": causal_forest(min_samples_leaf=k, n_estimators=n_estimators)})
            for k in leaf_sizes]


def check_selection(est):
    """ValueError naming the option when the "auto" options of CensoredCATE ``est`` are not valid."""
    if est.selection_risk not in RISKS:
        raise ValueError(f"selection_risk must be one of {RISKS}, got {est.selection_risk!r}")
    if est.combine not in COMBINATIONS:
        raise ValueError(f"combine must be one of {COMBINATIONS}, got {est.combine!r}")
    known = set(est.get_params(deep=False)) - {"candidates"}
    for label, params in candidate_specs(est.candidates).items():
        if set(params) - known:
            raise ValueError(f"candidates: {label!r} sets {sorted(set(params) - known)}, which are not parameters "
                             f"of CensoredCATE")


def r_risk(effect, outcome, mu0, mu1, treatment, propensity):
    """R-risk of CATE predictions, one per column of ``effect`` (n,) or (n, J).

    mean_i [Y*_i - m(X_i) - (W_i - e(X_i)) tau(X_i)]^2 with m = e mu1 + (1 - e) mu0 (Nie & Wager 2021);
    ``outcome`` is the AIPCW-transformed outcome Y*, all nuisances cross-fitted.
    """
    e = np.asarray(propensity)
    residual = outcome - (e * mu1 + (1 - e) * mu0)
    centred = np.asarray(treatment) - e
    effect = np.asarray(effect, dtype=float)
    if effect.ndim == 1:
        return float(np.mean((residual - centred * effect) ** 2))
    return np.mean((residual[:, None] - centred[:, None] * effect) ** 2, axis=0)


def dr_risk(effect, scores):
    """DR (pseudo-outcome) risk mean_i [Gamma_i - tau(X_i)]^2 of CATE predictions, one per column of ``effect``."""
    effect = np.asarray(effect, dtype=float)
    if effect.ndim == 1:
        return float(np.mean((scores - effect) ** 2))
    return np.mean((scores[:, None] - effect) ** 2, axis=0)


def risk_design(risk, effects, nu, treatment, scores):
    """(A, b) such that the risk (``"r"`` or ``"dr"``) of the combination ``effects @ w`` is mean (A w - b)^2."""
    if risk == "r":
        e = nu["propensity"]
        b = nu["aipcw"] - (e * nu["mu1"] + (1 - e) * nu["mu0"])
        return (np.asarray(treatment) - e)[:, None] * effects, b
    return effects, scores


def simplex_least_squares(A, b):
    """Weights w >= 0 with sum w = 1 minimising ||A w - b||^2, exactly.

    Enumerates the supports S (smallest first) and solves the equality-constrained problem on each by its
    KKT system; the optimum of this convex problem is the feasible solution of least objective (ties go to
    the smallest support). Meant for a handful of columns (2^J - 1 supports).

    Parameters
    ----------
    A : ndarray of shape (n, J)
    b : ndarray of shape (n,)

    Returns
    -------
    ndarray of shape (J,)
    """
    n_cols = A.shape[1]
    gram, cross = A.T @ A, A.T @ b
    best, best_obj = None, np.inf
    for size in range(1, n_cols + 1):
        for support in combinations(range(n_cols), size):
            s = list(support)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = gram[np.ix_(s, s)]
            kkt[:size, size] = kkt[size, :size] = 1.0
            sol = np.linalg.lstsq(kkt, np.append(cross[s], 1.0), rcond=None)[0][:size]
            if (sol < -1e-10).any():
                continue
            w = np.zeros(n_cols)
            w[s] = np.clip(sol, 0.0, None) / np.clip(sol, 0.0, None).sum()
            obj = float(np.sum((A @ w - b) ** 2))
            if obj < best_obj * (1 - 1e-10):
                best, best_obj = w, obj
    return best


def _candidate(est, params):
    """An unfitted CensoredCATE with candidate ``params`` carrying the nuisances of ``est`` (fitted)."""
    sub = clone(est).set_params(**{"cate_model": None, **params} if params["method"] == "aipcw-causal-forest"
                                else params)  # cate_model is the regressor of the DR- and X-learners
    for name in _SHARED:
        setattr(sub, name, getattr(est, name))
    return sub


def _held_out(est, sub, params, X, a, time, event, nu, methods):
    """Held-out CATE predictions of a fitted candidate (see the module docstring)."""
    method, model = params["method"], getattr(sub, "cate_model_", None)
    if method == "aipcw-causal-forest" and hasattr(model, "oob_predict"):
        return np.asarray(model.oob_predict(X)).ravel()
    if params == {"method": "s-learner" if est.treatment_as_feature else "t-learner"}:  # the nuisances' model
        return nu["mu1"] - nu["mu0"]
    out = np.empty(len(X))
    for k in np.unique(est.folds_):
        train, test = est.folds_ != k, est.folds_ == k
        fold = _candidate(est, params)
        methods[method].fit(fold, X[train], a[train], time[train], event[train], {n: v[train] for n, v in nu.items()})
        out[test] = methods[method].effect(fold, X[test])
    return out


def combination_weights(combine, A, b):
    """Stacking weights (simplex least squares) or the one-hot choice of the column of least risk mean (A w - b)^2
    (``combine`` "stack" or "select"; (A, b) from :func:`risk_design`)."""
    if combine == "stack":
        return simplex_least_squares(A, b)
    return np.eye(A.shape[1])[int(np.argmin(np.mean((A - b[:, None]) ** 2, axis=0)))]


def risk_reduction(combine, A, b, folds, current, columns):
    """(mean, standard error) of the per-patient risk reduction of the combination of ``columns`` of A over the
    weights ``current``, the combination refitted without each fold of ``folds`` and scored on it."""
    gain = np.empty(len(b))
    for k in np.unique(folds):
        test = folds == k
        w_k = combination_weights(combine, A[~test][:, columns], b[~test])
        gain[test] = (A[test] @ current - b[test]) ** 2 - (A[test][:, columns] @ w_k - b[test]) ** 2
    return float(gain.mean()), float(gain.std(ddof=1) / np.sqrt(len(gain)))


def ladder(specs, combine):
    """Rungs (name, columns, combination) of the ladder of method "auto" over candidates ``specs``
    (:func:`candidate_specs`): the constant model, the causal forest(s) (the best of several leaf sizes) and the
    ``combine`` of every candidate, each rung present when its candidates are and differs from the one below."""
    methods = [params["method"] for params in specs.values()]
    rungs = [("constant", [methods.index("constant")], "select")] if "constant" in methods else []
    forests = [j for j, method in enumerate(methods) if method == "aipcw-causal-forest"]
    if forests:
        rungs.append(("causal forest", forests, "select"))
    rungs.append(("combination", list(range(len(methods))), combine))
    return [rung for below, rung in zip([None, *rungs], rungs) if below is None or rung[1] != below[1]]


def climb(rungs, A, b, folds, thresholds=None):
    """Weights chosen by the ladder ``rungs`` on the risk mean (A w - b)^2 (from :func:`risk_design`) and a table
    of its steps: climbing from the bottom rung, each rung replaces the current one when its cross-validated risk
    reduction over it (:func:`risk_reduction`) exceeds ``thresholds[current rung]`` (default ``LADDER_Z``)
    standard errors."""
    thresholds = LADDER_Z if thresholds is None else thresholds
    rows, w, current = [], None, None
    for name, columns, combine in rungs:
        proposed = np.zeros(A.shape[1])
        proposed[columns] = combination_weights(combine, A[:, columns], b)
        if w is None:  # the bottom rung
            row = {"risk_reduction": np.nan, "se": np.nan, "threshold_z": np.nan, "taken": True}
        else:
            mean, se = risk_reduction(combine, A, b, folds, w, columns)
            row = {"risk_reduction": mean, "se": se, "threshold_z": thresholds[current],
                   "taken": mean > thresholds[current] * se}
        if row["taken"]:
            w, current = proposed, name
        rows.append({"rung": name, **row})
    return w, pd.DataFrame(rows).set_index("rung")


def fit_auto(est, X, a, time, event, nu, *, methods):
    """Second stage of method "auto": fit the candidates, their held-out predictions, risks and weights.

    Sets on ``est``: ``candidates_`` (name -> fitted CensoredCATE), ``held_out_effects_`` (n, J),
    ``validation_risks_`` (DataFrame: R-risk and DR risk of each candidate and of the combination),
    ``weights_`` (name -> weight, chosen by the ladder :func:`climb`), ``selected_`` (the candidate of largest
    weight), ``stack_weights_`` (the combination of every candidate, the top rung) and ``ladder_`` (the table of
    :func:`climb`).
    ``methods`` is CensoredCATE's table of methods (name -> fit, effect).
    """
    specs = candidate_specs(est.candidates)
    names = tuple(specs)
    est.candidates_, effects = {}, np.empty((len(X), len(names)))
    for j, (label, params) in enumerate(specs.items()):
        sub = _candidate(est, params)
        methods[params["method"]].fit(sub, X, a, time, event, nu)
        est.candidates_[label] = sub
        effects[:, j] = _held_out(est, sub, params, X, a, time, event, nu, methods)
    scores = dr_scores(nu["aipcw"], a, nu["mu0"], nu["mu1"], nu["propensity"])

    def risks(effect):
        return {"r": r_risk(effect, nu["aipcw"], nu["mu0"], nu["mu1"], a, nu["propensity"]),
                "dr": dr_risk(effect, scores)}

    each = risks(effects)
    A, b = risk_design(est.selection_risk, effects, nu, a, scores)
    est.stack_weights_ = dict(zip(names, combination_weights(est.combine, A, b).tolist()))
    w, est.ladder_ = climb(ladder(specs, est.combine), A, b, est.folds_)
    combined = risks(effects @ w)
    est.held_out_effects_ = effects
    est.validation_risks_ = pd.DataFrame({f"{r}_risk": np.append(each[r], combined[r]) for r in RISKS},
                                         index=pd.Index([*names, "auto"], name="candidate"))
    est.weights_ = dict(zip(names, w.tolist()))
    est.selected_ = names[int(np.argmax(w))]


def predict_auto(est, X):
    """Weighted sum of the candidates' CATE predictions (zero weights skipped)."""
    return sum(w * est.candidates_[name].effect(X) for name, w in est.weights_.items() if w > 0)
