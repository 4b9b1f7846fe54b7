"""Competing-risks nuisance models: cumulative incidence F_k(t | x) of each cause and event-free survival S(t | x).

Every model here has ``fit(X, time, event)`` with ``event`` 0 for a censoring and k = 1, 2, ... for an event of
cause k, ``predict_cumulative_incidence(X, times) -> (n, len(times), n_causes_)`` (column k - 1 for cause k) and
``predict_survival(X, times) -> (n, len(times))``, the probability of no event of any cause, with
S + sum_k F_k = 1; so each also serves where an all-cause survival model is expected.
"""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from causalehr.survival import aalen_johansen

from .base import allows_nan, check_covariates, check_predict_covariates, check_time_and_event_lengths, step_survival
from .discrete import DiscreteTimeHazard
from .wrappers import SurvivalBoostSurvival


def check_competing_outcome(time, event, n=None):
    """Return (time, event) as float / int arrays after checking time >= 0 finite and event a non-negative integer
    (0 = censored, k = cause k) with at least one event."""
    time, event = check_time_and_event_lengths(time, event, n)
    codes = np.asarray(event, dtype=float)
    bad = ~np.isfinite(codes) | (codes < 0) | (codes != np.round(codes))
    if bad.any():
        raise ValueError(f"event must be 0 (censored) or a cause 1, 2, ...; {int(bad.sum())} rows are not "
                         f"(e.g. {', '.join(map(str, pd.unique(event[bad])[:5]))})")
    if not (codes != 0).any():
        raise ValueError("event has no events (all rows censored): cannot fit a competing-risks model")
    return time, codes.astype(np.int8)


class DiscreteTimeCompetingHazard(DiscreteTimeHazard):
    """Cause-specific discrete-time hazards from one multiclass classifier on the person-period data.

    The person-period expansion of :class:`DiscreteTimeHazard` (same bins, at quantiles of the event times of any
    cause), each row labelled 0 (no event in the bin) or k (an event of cause k in the bin); the classifier's
    probabilities are the cause-specific discrete hazards h_k(bin | x), their sum the all-cause hazard. Then
    S(end of bin j) = prod_{i <= j} (1 - sum_k h_ki) and F_k(end of bin j) = sum_{i <= j} S(end of bin i - 1) h_ki
    (the discrete-time competing-risks model of Allison 1982 and Tutz & Schmid 2016, ch. 8); within a bin the
    all-cause hazard is spread at a constant rate, as in DiscreteTimeHazard, and each cause keeps its share of
    it, so that S + sum_k F_k = 1 at every time. One classifier for all causes keeps the person-period data
    expanded once: the cost at 10^6 patients is that of DiscreteTimeHazard with one more class.

    Parameters
    ----------
    classifier : scikit-learn classifier with ``predict_proba``, default=None
        Multiclass classifier of the bin's outcome; None: HistGradientBoostingClassifier (200 iterations,
        learning rate 0.1, 15 leaves of at least 100 person-periods) with early stopping. Cloned.
    n_bins : int, default=20
        Number of time bins.
    horizon : float, default=None
        Last time modelled; None: the largest observed time.
    random_state : int, default=None
        Seed of the default classifier.

    Attributes
    ----------
    causes_ : ndarray
        Causes 1..K (K the largest event code at or before the horizon).
    n_causes_ : int
        K.
    bin_edges_, horizon_, classifier_, n_person_periods_, n_features_in_
        As in :class:`DiscreteTimeHazard`.

    References
    ----------
    Allison, P. D. (1982). Discrete-time methods for the analysis of event histories. Sociological Methodology
    13, 61-98.
    Tutz, G. & Schmid, M. (2016). Modeling Discrete Time-to-Event Data. Springer.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import DiscreteTimeCompetingHazard
    >>> cohort = simulate("csf2_competing", 500, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = DiscreteTimeCompetingHazard(n_bins=10, horizon=2.0, random_state=0).fit(X, y["time"], y["event"])
    >>> cif = model.predict_cumulative_incidence(X[:2], [0.5, 2.0])
    >>> cif.shape, cif.round(2)[:, :, 0]
    ((2, 2, 2), array([[0.74, 0.78],
           [0.56, 0.61]]))
    >>> (cif.sum(axis=2) + model.predict_survival(X[:2], [0.5, 2.0])).round(12)
    array([[1., 1.],
           [1., 1.]])
    """

    def fit(self, X, time, event):
        """Fit on covariates X (n, p), follow-up ``time`` >= 0 and ``event`` (0 censored, k cause k); returns
        self."""
        clf = self._classifier()
        X = check_covariates(X, allow_nan=allows_nan(clf))
        time, event = check_competing_outcome(time, event, len(X))
        horizon = float(time.max()) if self.horizon is None else float(self.horizon)
        self.n_causes_ = int(event[time <= horizon].max())
        self.causes_ = np.arange(1, self.n_causes_ + 1)
        return self._fit_person_period(clf, X, time, event)

    def predict_cause_hazard(self, X):
        """Discrete cause-specific hazards of each bin, shape (n, n_bins_, n_causes_)."""
        check_is_fitted(self)
        return self._predict_proba(X, list(self.causes_))

    def predict_hazard(self, X):
        """Discrete all-cause hazard of each bin, shape (n, n_bins_)."""
        return self.predict_cause_hazard(X).sum(axis=2)

    def predict_cumulative_incidence(self, X, times):
        """F_k(times | x) of each cause, shape (n, len(times), n_causes_); held at F_k(horizon) beyond it."""
        h = self.predict_cause_hazard(X)
        total = np.clip(h.sum(axis=2), 0.0, 1.0 - 1e-12)
        share = h / np.maximum(total, 1e-300)[:, :, None]
        log1m = np.log1p(-total)
        surv_start = np.exp(np.concatenate([np.zeros((len(h), 1)), np.cumsum(log1m, axis=1)[:, :-1]], axis=1))
        cif_end = np.concatenate([np.zeros((len(h), 1, h.shape[2])),
                                  np.cumsum(surv_start[:, :, None] * h, axis=1)], axis=1)
        edges = self.bin_edges_
        times = np.asarray(times, dtype=float)
        k = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
        frac = np.clip((times - edges[k]) / (edges[k + 1] - edges[k]), 0.0, 1.0)
        within = surv_start[:, k] * -np.expm1(frac * log1m[:, k])          # all-cause events within the bin
        return cif_end[:, k] + within[:, :, None] * share[:, k]


class SurvivalBoostCompeting(SurvivalBoostSurvival):
    """hazardous ``SurvivalBoost`` (Alberge et al. 2025) with competing causes, natively.

    SurvivalBoost classifies the state at a time (event-free, or cause k already occurred) given the covariates
    and that time. Each cumulative incidence curve is its probabilities on the fitted time grid rearranged into a
    non-decreasing sequence (Chernozhukov, Fernandez-Val & Galichon 2010), read as a step function (0 before the
    first grid time, held after the last); the event-free survival is 1 - sum_k F_k, floored at 0.

    Parameters
    ----------
    n_iter, learning_rate, max_leaf_nodes, min_samples_leaf, n_time_grid_steps, random_state
        Those of SurvivalBoost (defaults 100, 0.05, 31, 50, 100, None).

    Attributes
    ----------
    estimator_ : hazardous.SurvivalBoost
        The fitted model.
    causes_ : ndarray
        Causes 1..K.
    n_causes_ : int
        K.
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Alberge, J., Maladiere, V., Grisel, O., Abecassis, J. & Varoquaux, G. (2025). Survival models: proper
    scoring rule and stochastic optimization with competing risks. AISTATS.
    Chernozhukov, V., Fernandez-Val, I. & Galichon, A. (2010). Quantile and probability curves without
    crossing. Econometrica 78, 1093-1125.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import SurvivalBoostCompeting
    >>> cohort = simulate("csf2_competing", 500, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = SurvivalBoostCompeting(n_iter=5, learning_rate=0.3, n_time_grid_steps=20, random_state=0)
    >>> model.fit(X, y["time"], y["event"]).predict_cumulative_incidence(X[:2], [0.0, 2.0]).round(2)[:, :, 0]
    array([[0.  , 0.6 ],
           [0.  , 0.68]])
    """

    def fit(self, X, time, event):
        """Fit on covariates X (n, p), follow-up ``time`` >= 0 and ``event`` (0 censored, k cause k); returns
        self."""
        X = check_covariates(X, allow_nan=True)
        time, event = check_competing_outcome(time, event, len(X))
        self.n_causes_ = int(event.max())
        self.causes_ = np.arange(1, self.n_causes_ + 1)
        return self._fit_survivalboost(X, time, event)

    def predict_cumulative_incidence(self, X, times):
        """F_k(times | x) of each cause, shape (n, len(times), n_causes_)."""
        X = check_predict_covariates(self, X, allow_nan=True)
        grid = self.estimator_.time_grid_
        raw = self.estimator_.predict_cumulative_incidence(X, times=grid)    # (n, K + 1, grid)
        times = np.asarray(times, dtype=float)
        cif = np.empty((len(X), len(times), self.n_causes_))
        for k in range(self.n_causes_):
            curve = np.sort(raw[:, k + 1], axis=1)
            cif[:, :, k] = 1.0 - step_survival(grid, 1.0 - curve, times)
        return cif

    def predict_survival(self, X, times):
        """Event-free survival 1 - sum_k F_k(times | x), shape (n, len(times))."""
        return np.maximum(1.0 - self.predict_cumulative_incidence(X, times).sum(axis=2), 0.0)


class MarginalAalenJohansen(BaseEstimator):
    """Covariate-free Aalen-Johansen cumulative incidences (:func:`causalehr.survival.aalen_johansen`) with the
    competing-risks nuisance interface: the reference without covariates (covariates are ignored, their number
    checked at prediction).

    Attributes
    ----------
    times_ : ndarray
        Distinct event times of any cause.
    cumulative_incidence_ : ndarray of shape (len(times_), n_causes_)
        F_k just after each of ``times_``.
    causes_ : ndarray
        Causes 1..K.
    n_causes_ : int
        K.
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Aalen, O. O. & Johansen, S. (1978). An empirical transition matrix for non-homogeneous Markov chains based on
    censored observations. Scandinavian Journal of Statistics 5, 141-150.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import MarginalAalenJohansen
    >>> cohort = simulate("csf2_competing", 500, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = MarginalAalenJohansen().fit(X, y["time"], y["event"])
    >>> model.predict_cumulative_incidence(X[:1], [0.5, 2.0]).round(2)
    array([[[0.53, 0.27],
            [0.62, 0.31]]])
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, time, event):
        """Fit on ``time`` and ``event`` (0 censored, k cause k); X gives only the number of covariates."""
        X = check_covariates(X, allow_nan=True)
        time, event = check_competing_outcome(time, event, len(X))
        self.n_causes_ = int(event.max())
        self.causes_ = np.arange(1, self.n_causes_ + 1)
        curve = aalen_johansen(time, event)
        self.times_ = curve["time"].to_numpy()
        self.cumulative_incidence_ = np.column_stack(
            [curve.get(f"cumulative_incidence_{k}", pd.Series(np.zeros(len(curve)))).to_numpy()
             for k in self.causes_])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_cumulative_incidence(self, X, times):
        """The Aalen-Johansen F_k at ``times``, the same for every patient, shape (n, len(times), n_causes_)."""
        X = check_predict_covariates(self, X, allow_nan=True)
        cif = 1.0 - step_survival(self.times_, 1.0 - self.cumulative_incidence_.T, times)   # (K, len(times))
        return np.broadcast_to(cif.T, (len(X), *cif.T.shape)).copy()

    def predict_survival(self, X, times):
        """Event-free survival 1 - sum_k F_k(times), shape (n, len(times))."""
        return np.maximum(1.0 - self.predict_cumulative_incidence(X, times).sum(axis=2), 0.0)


# every competing-risks model of the package (unfitted, default parameters; clone before use)
COMPETING_RISK_MODELS = (DiscreteTimeCompetingHazard(), SurvivalBoostCompeting(), MarginalAalenJohansen())
