"""Clone-censor-weight (CCW) emulation of a target trial of "start treatment within a grace period g" versus
"never start", with machine-learning weights.

Method: Hernan, M. A. & Robins, J. M. (2016). Using big data to emulate a target trial when a randomized trial is
not available. Am J Epidemiol 183, 758-764. Cain, L. E. et al. (2010). When to start treatment? A systematic
approach to the comparison of dynamic regimes using observational data. Int J Biostat 6(2):18. Hernan, M. A.
(2018). How to estimate the effect of treatment duration on survival outcomes using observational data. BMJ 360,
k182. Maringe, C. et al. (2020). Reflection on modern methods: trial emulation in the presence of immortal-time
bias. Assessing the benefit of major surgery for elderly lung cancer patients using observational data. Int J
Epidemiol 49, 1719-1729.

Each patient (eligible at time 0) is cloned into both strategies.
- "start" (start within [0, g]): the clone follows its patient; a patient still followed at g who has not started
  is censored at g. Target regime: start at the natural start time S if S <= g, otherwise at g. Among clones
  followed at g, the uncensored ones get weight 1 / P(started by g | X, followed at g), from ``start_model``
  fitted on the patients followed at g (weighted for natural censoring up to g). This is valid when the hazard
  after starting does not depend on when treatment started (the post-start survival of those who started by g
  stands for those the regime starts at g).
- "never": the clone is censored at S; the weight is 1 / P(not started by t | X), the product over intervals of
  1 / (1 - hazard of starting).
Natural censoring is weighted by 1 / P(not censored by t | X, treatment started so far), the product of
1 / (1 - hazard of censoring).
Both hazards come from pooled discrete-time models (Cox 1972; the pooled logistic regression of the CCW papers
above): one row per patient and interval of the time grid while at risk, features = covariates, one indicator per
interval (interval-specific intercepts) and, for censoring, "on treatment at the interval start"; the outcome is
fitted by any scikit-learn classifier that takes ``sample_weight``. A row whose follow-up ends inside its interval
without the model's outcome (for the start model an event or a censoring before any start, for the censoring model
an event) was at risk for only part of the interval: it enters the fit with weight equal to the share of the
interval followed, the actuarial correction of the life table (Cutler, S. J. & Ederer, F. (1958), Maximum
utilization of the life table method in analyzing survival, J Chronic Dis 8, 699-712; with interval indicators alone
the fit is starts / (starts + the time at risk of the others, in intervals)). Counted as a whole interval without a
start, such rows bias the hazard of starting down, most for the patients who start fastest, and so the "never" arm
towards those who start slowly: on ``ehr_diabetes`` (start_rate 0.2, confounding 0.5, grace 183 days, 5-year
horizon, 8 intervals, 80% censored) the RMST difference was biased by -0.024 (Monte Carlo SE 0.008, 16 cohorts of
20,000), +0.001 (0.010) with the correction. Written here rather than with
:class:`causalehr.nuisance.DiscreteTimeHazard` because CCW needs the risk set "not started yet", a time-varying
treatment feature and interval indicators (a logistic model of the hazard linear in time on quantile bins biased the
"never" arm in our checks).
Weights are constant within each interval, evaluated at its midpoint (previous intervals' factors times the
square root of the current one). Survival per strategy is the weighted Kaplan-Meier of the clones
(:func:`causalehr.survival.kaplan_meier`); RMST and survival differences are "start" minus "never";
intervals are percentile bootstrap intervals over patients (all models refitted in each replicate).
Conventions: follow-up is cut at the horizon; a start at exactly time 0 counts as a start in the first interval
(it is not given a separate baseline weight); a start at the time of the event does not censor the "never" clone
before its event; covariates are standardised before fitting (same trees, better-conditioned logistic fits) and
may hold NaN only if both classifiers accept NaN. Gaber, C. E. et al. (2024). The clone-censor-weight method in
pharmacoepidemiologic research: foundations and methodological implementation. Curr Epidemiol Rep 11, 164-174,
review the design choices (grace period, weight models, truncation) followed here.

Competing events (``cause=k``): ``event`` holds 0 for a censoring and the cause of the first event otherwise. An
event of another cause (e.g. death before the complication k) ends the clone's follow-up as an event, not as a
censoring: it is neither weighted away nor modelled by the censoring model, and the per-strategy curve is the
weighted Aalen-Johansen cumulative incidence of cause k (:func:`causalehr.survival.aalen_johansen`, the
time-varying inverse-probability weights of the clones as above, as in the weighted estimators of Geskus 2011);
the estimands are the difference in cumulative incidence of cause k at horizon_surv ("cif") and in restricted
mean time lost to cause k up to the horizon ("rmtl", Andersen 2013), start minus never, with the same bootstrap.
The contrast is the "total effect" on the cumulative incidence of Young, J. G., Stensrud, M. J., Tchetgen
Tchetgen, E. J. & Hernan, M. A. (2020), "A causal framework for classical statistical estimands in failure-time
settings with competing events", Stat Med 39, 1199-1236 (the competing event is not prevented). Geskus, R. B.
(2011), Biometrics 67, 39-49. Andersen, P. K. (2013), Stat Med 32, 5278-5285.
"""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression

from causalehr.nuisance import check_covariates
from causalehr.nuisance.base import allows_nan
from causalehr.survival import aalen_johansen, cumulative_incidence_at, kaplan_meier, rmst, rmtl, survival_at

STRATEGIES = ("start", "never")
_PROB_FLOOR = 1e-6  # probabilities are floored here before inversion, so that no weight is infinite


def check_ccw_input(X, treatment_start, time, event, *, grace, horizon, names=None, allow_nan=False, cause=None):
    """Check the inputs of clone-censor-weight and return them as arrays (X float, start with NaN = never
    started, time float, event int8). Errors name the column and the number of offending rows. ``grace=None``
    skips the checks of the grace period."""
    names = {"treatment_start": "treatment_start", "time": "time", "event": "event", **(names or {})}
    X = check_covariates(X, allow_nan=allow_nan)
    n = len(X)
    s = np.asarray(treatment_start, dtype=float).ravel()
    t = np.asarray(time, dtype=float).ravel()
    d = np.asarray(event).ravel()
    for key, arr in (("treatment_start", s), ("time", t), ("event", d)):
        if len(arr) != n:
            raise ValueError(f"column '{names[key]}' has {len(arr)} rows, expected {n} like the covariates")
    bad = int(np.sum(~np.isfinite(t)))
    if bad:
        raise ValueError(f"column '{names['time']}' must be finite: {bad} rows are missing or infinite")
    bad = int(np.sum(t <= 0))
    if bad:
        raise ValueError(f"column '{names['time']}' must be > 0 (follow-up end after eligibility at 0): "
                         f"{bad} rows are negative or zero")
    if cause is None:
        bad = int(np.sum(~np.isin(d, (0, 1))))
        if bad:
            raise ValueError(f"column '{names['event']}' must be 0/1: {bad} rows are not")
    else:
        codes = np.asarray(d, dtype=float)
        bad = int(np.sum(~np.isfinite(codes) | (codes < 0) | (codes != np.round(codes))))
        if bad:
            raise ValueError(f"column '{names['event']}' must be 0 (censored) or a cause 1, 2, ...: {bad} rows are "
                             f"not")
        if not np.any(codes == cause):
            raise ValueError(f"column '{names['event']}' has no event of cause {cause} (codes found: "
                             f"{sorted(int(c) for c in np.unique(codes))}): nothing to estimate")
    d = np.asarray(d, dtype=float).astype(np.int8)
    if not d.any():
        raise ValueError(f"column '{names['event']}' has no events: nothing to estimate")
    bad = int(np.sum(np.isinf(s)))
    if bad:
        raise ValueError(f"column '{names['treatment_start']}' must be finite or NaN (never started): "
                         f"{bad} rows are infinite")
    bad = int(np.sum(s < 0))
    if bad:
        raise ValueError(f"column '{names['treatment_start']}' must be >= 0 (eligibility is time 0): "
                         f"{bad} rows are negative")
    bad = int(np.sum(s > t))
    if bad:
        raise ValueError(f"column '{names['treatment_start']}' is after the follow-up end '{names['time']}' in "
                         f"{bad} rows (a start after follow-up must be NaN)")
    if horizon is None or not np.isfinite(horizon) or horizon <= 0:
        raise ValueError(f"horizon must be a positive number, got {horizon!r}")
    if grace is None:
        return X, s, t, d
    if not 0 < grace < horizon:
        raise ValueError(f"grace must be in (0, horizon={horizon:g}), got {grace!r}")
    beyond = int(np.sum(t > grace))
    if beyond == 0:
        raise ValueError(f"grace period {grace:g} is longer than the follow-up: 0 of {n} rows have "
                         f"'{names['time']}' > grace")
    if not np.any(s <= grace):
        raise ValueError(f"no patient starts treatment within the grace period {grace:g} "
                         f"(column '{names['treatment_start']}'): the 'start' strategy is not observed")
    return X, s, t, d


def _design(X, pid, j, n_intervals, extra=None):
    """Person-interval design matrix (float32): covariates, one indicator per interval (interval-specific
    intercepts of the pooled model), optional extra columns."""
    p = X.shape[1]
    Z = np.zeros((len(pid), p + n_intervals + (0 if extra is None else 1)), dtype=np.float32)
    Z[:, :p] = X[pid]
    Z[np.arange(len(pid)), p + j] = 1.0
    if extra is not None:
        Z[:, -1] = extra
    return Z


def _pooled_hazard(model, Z, y, exposure):
    """Fit a classifier of the discrete hazard on person-interval rows; return (fitted model or None when no row
    has the outcome, -log(1 - hazard) per row). A row without the outcome counts for the share ``exposure`` of its
    interval during which it was followed (the actuarial correction)."""
    if not y.any():
        return None, np.zeros(len(y))
    model = model.fit(Z, y, sample_weight=np.where(y, 1.0, exposure))
    h = np.minimum(model.predict_proba(Z)[:, 1], 1 - _PROB_FLOOR)
    return model, -np.log1p(-h)


def _marginal(y, j, n_intervals, exposure):
    """-log(1 - marginal hazard) per interval: the rows with the outcome over the rows at risk, a row without it
    counting for its ``exposure`` (as in :func:`_pooled_hazard`)."""
    at_risk = np.bincount(j, weights=np.where(y, 1.0, exposure), minlength=n_intervals)
    h = np.bincount(j, weights=y, minlength=n_intervals) / np.where(at_risk > 0, at_risk, 1.0)
    return -np.log1p(-np.minimum(h, 1 - _PROB_FLOOR))


def _cumsum_before(values, groups):
    """Within runs of equal ``groups`` (sorted), the sum of ``values`` over the previous rows of the run."""
    before = np.cumsum(values) - values
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return before - np.repeat(before[first], np.diff(np.r_[first, len(groups)]))


class CloneCensorWeight(BaseEstimator):
    """Clone-censor-weight estimate of "start within ``grace``" versus "never start" (see module docstring).

    Parameters
    ----------
    grace : length g of the grace period (0 < g < horizon).
    horizon : tau of the RMST and end of follow-up considered (required).
    horizon_surv : time of the survival-probability difference (default: horizon).
    start_model : classifier (predict_proba, sample_weight in fit) for the hazard of starting treatment and for
        P(started by g); default logistic regression.
    censoring_model : classifier (sample_weight in fit) for the hazard of natural censoring; default logistic
        regression.
    n_intervals : intervals of the time grid (0 to horizon, a knot at g, equal lengths on each side of g): the
        intervals of the pooled hazard models and on which weights are constant.
    stabilize : multiply weights by the marginal (covariate-free) probability of remaining uncensored (per-interval
        share of starts / censorings among the rows at risk, share started by g). The Kaplan-Meier curves do not
        change (common factor at each time); the weight distribution and the effect of truncation do.
    truncate : None or (lower, upper) quantiles at which the weights of each strategy are clipped.
    n_bootstrap : bootstrap replicates for the intervals (0: no interval).
    alpha : 1 - level of the intervals.
    random_state : seed of the bootstrap and of models that have a ``random_state`` left at None.
    cause : None (all-cause: ``event`` 0/1, estimands "rmst" and "surv") or the cause k of a competing-risks
        ``event`` (0 censored, j an event of cause j; estimands "rmtl" and "cif" of cause k, other causes
        competing; see the module docstring).

    Attributes
    ----------
    survival_curves_ : DataFrame time, strategy, survival (weighted Kaplan-Meier at the event times).
    rmst_, surv_ : dict strategy -> RMST up to horizon / survival at horizon_surv.
    rmst_difference_, surv_difference_ : start minus never.
    rmst_interval_, surv_interval_ : (lower, upper) bootstrap percentile intervals (NaN if n_bootstrap == 0).
    rmtl_, cif_, rmtl_difference_, cif_difference_, rmtl_interval_, cif_interval_ : the same for the
        competing-risks estimands (with ``cause``; then ``survival_curves_`` also has ``cumulative_incidence``).
    effects_ : DataFrame grace, estimand, horizon, strategy_start, strategy_never, difference, lower, upper.
    weight_summary_ : DataFrame per strategy: person-interval rows, mean, sd, min, quantiles, max of the weights,
        rows truncated.
    ess_ : DataFrame strategy, interval, time (interval start), n_at_risk, sum_weights, ess (Kish effective sample
        size (sum w)^2 / sum w^2 of the clones at risk in the interval).
    clones_ : DataFrame, one row per clone: patient (row position), strategy, exit, event, weight (unstabilised,
        untruncated inverse probability of the clone staying uncensored up to its exit), for CATE learners.
    grid_ : time grid; start_hazard_, censoring_hazard_ : fitted pooled classifiers (None when no row has the
        outcome); start_by_grace_model_ : classifier of P(started by g | X, followed at g) (None if all started).
    """

    def __init__(self, grace=1.0, horizon=None, horizon_surv=None, start_model=None, censoring_model=None,
                 n_intervals=10, stabilize=True, truncate=None, n_bootstrap=0, alpha=0.05, random_state=None,
                 cause=None):
        self.grace = grace
        self.horizon = horizon
        self.horizon_surv = horizon_surv
        self.start_model = start_model
        self.censoring_model = censoring_model
        self.n_intervals = n_intervals
        self.stabilize = stabilize
        self.truncate = truncate
        self.n_bootstrap = n_bootstrap
        self.alpha = alpha
        self.random_state = random_state
        self.cause = cause

    # ----------------------------------------------------------------------------------------------------------
    def fit(self, X, treatment_start, time, event, *, names=None):
        """Clone, censor, weight and estimate; ``names`` maps treatment_start/time/event to column names used in
        error messages."""
        self._check_params()
        models = self._models()
        X, s, t, d = check_ccw_input(X, treatment_start, time, event, grace=self.grace, horizon=self.horizon,
                                     names=names, allow_nan=all(allows_nan(m) for m in models.values()),
                                     cause=self.cause)
        self.n_features_in_ = X.shape[1]
        # standardised covariates: the same fit for trees, a well-conditioned problem for logistic regression
        sd = np.nanstd(X, axis=0)
        X = (X - np.nanmean(X, axis=0)) / np.where(sd > 0, sd, 1.0)
        self.grid_ = self._grid()
        point = self._estimate(X, s, t, d, models, diagnostics=True)
        self.start_hazard_ = point["start_hazard"]
        self.censoring_hazard_ = point["censoring_hazard"]
        self.start_by_grace_model_ = point["start_by_grace"]
        columns = ["time", "strategy", "survival"] + ([] if self.cause is None else ["cumulative_incidence"])
        self.survival_curves_ = pd.concat([c.assign(strategy=k)[columns] for k, c in point["curves"].items()],
                                          ignore_index=True)
        estimands = self._estimands()
        for e in estimands:
            setattr(self, f"{e}_", point[e])
            setattr(self, f"{e}_difference_", point[e]["start"] - point[e]["never"])
        self.weight_summary_, self.ess_, self.clones_ = point["weight_summary"], point["ess"], point["clones"]

        rng = np.random.default_rng(self.random_state)
        boot = np.full((self.n_bootstrap, 2), np.nan)
        for b in range(self.n_bootstrap):
            i = rng.integers(0, len(t), len(t))
            res = self._estimate(X[i], s[i], t[i], d[i], models)
            boot[b] = [res[e]["start"] - res[e]["never"] for e in estimands]
        self.bootstrap_differences_ = pd.DataFrame(boot, columns=list(estimands))
        q = [self.alpha / 2, 1 - self.alpha / 2]
        for k, e in enumerate(estimands):
            setattr(self, f"{e}_interval_", tuple(np.quantile(boot[:, k], q)) if self.n_bootstrap else (np.nan, np.nan))
        self.effects_ = pd.DataFrame({
            "grace": self.grace, "estimand": list(estimands),
            "horizon": [self.horizon, self._horizon_surv()],
            "strategy_start": [point[e]["start"] for e in estimands],
            "strategy_never": [point[e]["never"] for e in estimands],
            "difference": [getattr(self, f"{e}_difference_") for e in estimands],
            "lower": [getattr(self, f"{e}_interval_")[0] for e in estimands],
            "upper": [getattr(self, f"{e}_interval_")[1] for e in estimands]})
        return self

    def _estimands(self):
        """(estimand up to the horizon, estimand at horizon_surv)."""
        return ("rmst", "surv") if self.cause is None else ("rmtl", "cif")

    def _measures(self, curve):
        """The two estimands of one strategy's curve."""
        if self.cause is None:
            return rmst(curve, self.horizon), survival_at(curve, self._horizon_surv())
        return (rmtl(curve, self.horizon, self.cause),
                cumulative_incidence_at(curve, self._horizon_surv(), self.cause))

    # ----------------------------------------------------------------------------------------------------------
    def _check_params(self):
        if int(self.n_intervals) != self.n_intervals or self.n_intervals < 2:
            raise ValueError(f"n_intervals must be an integer >= 2, got {self.n_intervals!r}")
        if self.truncate is not None:
            lo, hi = self.truncate
            if not 0 <= lo < hi <= 1:
                raise ValueError(f"truncate must be (lower, upper) quantiles with 0 <= lower < upper <= 1, "
                                 f"got {self.truncate!r}")
        if self.horizon is not None and not 0 < self._horizon_surv() <= self.horizon:
            raise ValueError(f"horizon_surv must be in (0, horizon={self.horizon:g}], got {self.horizon_surv!r}")
        if int(self.n_bootstrap) != self.n_bootstrap or self.n_bootstrap < 0:
            raise ValueError(f"n_bootstrap must be an integer >= 0, got {self.n_bootstrap!r}")
        if self.cause is not None and (isinstance(self.cause, bool) or not isinstance(self.cause, (int, np.integer))
                                       or self.cause < 1):
            raise ValueError(f"cause must be None (all-cause) or a cause code 1, 2, ..., got {self.cause!r}")

    def _horizon_surv(self):
        return self.horizon if self.horizon_surv is None else self.horizon_surv

    def _models(self):
        """Unfitted copies of the classifiers; a random_state left at None is set from self.random_state."""
        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        out = {}
        for key, model in (("start", self.start_model), ("censoring", self.censoring_model)):
            model = LogisticRegression(max_iter=1000) if model is None else clone(model)
            if "random_state" in model.get_params() and model.get_params()["random_state"] is None:
                model.set_params(random_state=seed)
            out[key] = model
        return out

    def _grid(self):
        """n_intervals + 1 knots from 0 to horizon with a knot at grace, intervals of equal length on each side."""
        k = int(min(max(1, round(self.n_intervals * self.grace / self.horizon)), self.n_intervals - 1))
        return np.r_[np.linspace(0, self.grace, k + 1),
                     np.linspace(self.grace, self.horizon, self.n_intervals - k + 1)[1:]]

    # ----------------------------------------------------------------------------------------------------------
    def _rows(self, s, t, d):
        """Patient x interval rows while followed (time > interval start), up to the horizon, in patient order."""
        grid, horizon = self.grid_, self.horizon
        t_h = np.minimum(t, horizon)
        n_rows = np.searchsorted(grid, t_h, side="left")
        pid = np.repeat(np.arange(len(t), dtype=np.int64), n_rows)
        j = np.arange(pid.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        last = j == n_rows[pid] - 1
        s_inf = np.where(np.isnan(s), np.inf, s)[pid]
        died = last & (d[pid] != 0) & (t[pid] <= horizon)
        return dict(pid=pid, j=j, s=s_inf, t=t[pid], exit=np.minimum(grid[j + 1], t_h[pid]), died=died,
                    code=np.where(died, d[pid], 0).astype(np.int8), censored=last & (d[pid] == 0) & (t[pid] < horizon))

    def _nuisance(self, X, r, models):
        """Fit the three weight models on the rows ``r``; return them with the per-row log inverse probabilities
        (midpoint convention) of staying uncensored: ``log_wc`` (natural censoring, all rows), ``log_ws`` (not
        starting, rows not started at the interval start) and ``log_p`` per patient (-log P(started by g) for the
        patients followed at g, 0 otherwise)."""
        grid, g, K = self.grid_, self.grace, self.n_intervals
        G = int(np.searchsorted(grid, g))
        pid, j = r["pid"], r["j"]
        on_treatment = r["s"] < grid[j]
        exposure = (r["exit"] - grid[j]) / np.diff(grid)[j]
        censoring_model, L = _pooled_hazard(clone(models["censoring"]), _design(X, pid, j, K, on_treatment),
                                            r["censored"], exposure)
        before = _cumsum_before(L, pid)
        raw = {"before_c": before, "L_c": L}
        log_wc = before + L / 2
        at_g = j == G  # one row per patient followed at g
        w_g = np.exp(before[at_g])
        marg_c = _marginal(r["censored"], j, K, exposure)

        risk = ~on_treatment
        started = r["s"][risk] < grid[j[risk] + 1]
        start_model, L = _pooled_hazard(clone(models["start"]), _design(X, pid[risk], j[risk], K), started,
                                        exposure[risk])
        raw.update(before_s=_cumsum_before(L, pid[risk]), L_s=L)
        log_ws = raw["before_s"] + L / 2
        marg_s = _marginal(started, j[risk], K, exposure[risk])

        followed = pid[at_g]
        y = r["s"][at_g] <= g
        log_p = np.zeros(len(X))
        start_by_grace = None
        if not y.all():
            start_by_grace = clone(models["start"]).fit(X[followed], y, sample_weight=w_g)
            log_p[followed] = -np.log(np.maximum(start_by_grace.predict_proba(X[followed])[:, 1], _PROB_FLOOR))
        marg_p = -np.log(max(np.sum(w_g * y) / np.sum(w_g), _PROB_FLOOR))
        raw["log_p"] = log_p.copy()
        if self.stabilize:
            log_wc -= _midpoint_cumulative(marg_c)[j]
            log_ws -= _midpoint_cumulative(marg_s)[j[risk]]
            log_p[followed] -= marg_p
        return dict(start_hazard=start_model, censoring_hazard=censoring_model, start_by_grace=start_by_grace,
                    log_wc=log_wc, log_ws=log_ws, risk=risk, log_p=log_p, G=G, raw=raw)

    def _estimate(self, X, s, t, d, models, diagnostics=False):
        """Point estimate on one data set (the fit data or a bootstrap resample)."""
        grid, g = self.grid_, self.grace
        r = self._rows(s, t, d)
        nu = self._nuisance(X, r, models)
        pid, j, G = r["pid"], r["j"], nu["G"]
        keep = (j < G) | (r["s"] <= g)  # "start": censored at g if not started by then
        rows = {"start": (keep, r["exit"][keep], r["code"][keep],
                          nu["log_wc"][keep] + (j[keep] >= G) * nu["log_p"][pid[keep]])}
        risk = nu["risk"]
        keep = r["s"] > grid[j]  # "never": censored at the start of treatment (rows of starts at a knot dropped)
        rows["never"] = (keep, np.minimum(r["exit"], r["s"])[keep], np.where(r["t"] <= r["s"], r["code"], 0)[keep],
                         (nu["log_wc"][risk] + nu["log_ws"])[keep[risk]])

        out = {"curves": {}, **{e: {} for e in self._estimands()}, "weight_summary": [], "ess": [], **nu}
        for k, (keep, exit_k, event_k, log_w) in rows.items():
            w = np.exp(log_w)
            n_trunc = 0
            if self.truncate is not None:
                lo, hi = np.quantile(w, self.truncate)
                n_trunc = int(np.sum((w < lo) | (w > hi)))
                w = np.clip(w, lo, hi)
            if self.cause is None:
                curve = kaplan_meier(exit_k, event_k, entry=grid[j[keep]], weight=w)
            else:
                curve = aalen_johansen(exit_k, event_k, entry=grid[j[keep]], weight=w)
                column = f"cumulative_incidence_{self.cause}"
                curve["cumulative_incidence"] = curve[column] if column in curve else 0.0
            out["curves"][k] = curve
            for e, value in zip(self._estimands(), self._measures(curve)):
                out[e][k] = value
            if diagnostics:
                out["weight_summary"].append(_weight_summary(k, w, n_trunc))
                out["ess"].append(_ess(k, j[keep], w, grid))
        if diagnostics:
            out["weight_summary"] = pd.DataFrame(out["weight_summary"])
            out["ess"] = pd.concat(out["ess"], ignore_index=True)
            out["clones"] = self._clone_ends(r, nu, rows)
        return out

    def _clone_ends(self, r, nu, rows):
        """One row per clone: patient (row position in the input), strategy, exit, event and the unstabilised,
        untruncated weight 1 / P(clone uncensored through its exit | X), the cumulative hazards interpolated
        linearly within the last interval (constant hazard)."""
        grid, raw, G = self.grid_, nu["raw"], nu["G"]
        out = []
        for k, (keep, exit_k, event_k, _) in rows.items():
            idx = np.flatnonzero(keep)
            pid = r["pid"][idx]
            last = np.r_[pid[1:] != pid[:-1], True]
            idx, exit_k, event_k, pid = idx[last], exit_k[last], event_k[last], pid[last]
            j = r["j"][idx]
            u = (exit_k - grid[j]) / (grid[j + 1] - grid[j])
            log_w = raw["before_c"][idx] + u * raw["L_c"][idx]
            if k == "start":
                log_w += (j >= G) * raw["log_p"][pid]
            else:
                pos = np.cumsum(nu["risk"]) - 1  # position of a row among the rows at risk of starting
                log_w += raw["before_s"][pos[idx]] + u * raw["L_s"][pos[idx]]
            out.append(pd.DataFrame({"patient": pid, "strategy": k, "exit": exit_k, "event": event_k.astype(np.int8),
                                     "weight": np.exp(log_w)}))
        return pd.concat(out, ignore_index=True)


def _midpoint_cumulative(L):
    """Per interval: sum of L over the previous intervals plus half of its own (log weight at the midpoint)."""
    return np.cumsum(L) - L / 2


def _weight_summary(strategy, w, n_truncated):
    q = np.quantile(w, [0.01, 0.5, 0.99])
    return {"strategy": strategy, "n_rows": w.size, "mean": w.mean(), "sd": w.std(), "min": w.min(), "q01": q[0],
            "median": q[1], "q99": q[2], "max": w.max(), "n_truncated": n_truncated}


def _ess(strategy, j, w, grid):
    k = len(grid) - 1
    sw = np.bincount(j, weights=w, minlength=k)
    sw2 = np.bincount(j, weights=w * w, minlength=k)
    return pd.DataFrame({"strategy": strategy, "interval": np.arange(k), "time": grid[:-1],
                         "n_at_risk": np.bincount(j, minlength=k), "sum_weights": sw,
                         "ess": np.divide(sw * sw, sw2, out=np.zeros(k), where=sw2 > 0)})


def fit_ccw(df, covariates, *, treatment_start="treatment_start", time="time", event="event", **kwargs):
    """Fit :class:`CloneCensorWeight` on a cohort table; ``kwargs`` are its parameters."""
    missing = [c for c in [*covariates, treatment_start, time, event] if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not found in the cohort; available columns: {list(df.columns)}")
    return CloneCensorWeight(**kwargs).fit(
        df[list(covariates)].to_numpy(dtype=float), df[treatment_start].to_numpy(dtype=float),
        df[time].to_numpy(dtype=float), df[event].to_numpy(),
        names={"treatment_start": treatment_start, "time": time, "event": event})


def fit_graces(df, covariates, graces, **kwargs):
    """``effects_`` of :func:`fit_ccw` for several grace periods ("start within g" versus "never", one g at a time),
    stacked in one DataFrame."""
    return pd.concat([fit_ccw(df, covariates, grace=g, **kwargs).effects_ for g in graces], ignore_index=True)
