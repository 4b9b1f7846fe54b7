"""Discrete-time hazard survival model fed to any scikit-learn classifier."""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier

from .base import allows_nan, check_covariates, check_predict_covariates, check_survival_outcome

_CHUNK_ROWS = 2_000_000  # person-period rows predicted at once


class DiscreteTimeHazard(BaseEstimator):
    """Survival model from a classifier of the discrete-time hazard (person-period expansion).

    Follow-up up to ``horizon`` is cut into ``n_bins`` bins at quantiles of the event times (at the distinct
    event times if there are at most ``n_bins``, e.g. discrete times, with a bin of its own for time 0); each
    patient gives one row per bin in which they are at risk, stopping at their last bin and at the horizon
    (memory-lean), with the bin midpoint as an extra feature, labelled 1 in the bin of an observed event. The
    classifier's probability is the hazard h_k(x); S at bin ends is the cumulative product of (1 - h_k), and
    between bin ends the hazard is spread at a constant rate (exponential interpolation), so S(0) = 1 unless
    events occur at time 0. Beyond the horizon S is held at S(horizon). A patient whose time falls in a bin is at
    risk for the whole bin (ties within a bin: events and censorings of the bin share its risk set). Without any
    event up to the horizon the hazard estimate is 0 and S == 1 up to the horizon, as Kaplan-Meier gives (no
    classifier is fitted: ``classifier_`` is None).

    Written here (no library offers a vectorised person-period learner for 10^6 patients); the model is the
    discrete-time survival model of Cox (1972) and Singer & Willett (1993).

    Parameters
    ----------
    classifier : scikit-learn classifier with ``predict_proba``, default=None
        Classifier of the hazard; None: HistGradientBoostingClassifier (200 iterations, learning rate 0.1,
        15 leaves of at least 100 person-periods) with early stopping on a 10% validation split of the
        person-period rows. It is cloned, never fitted in place.
    n_bins : int, default=20
        Number of time bins.
    horizon : float, default=None
        Last time modelled; None: the largest observed time.
    random_state : int, default=None
        Seed of the default classifier (its validation split); unused with another ``classifier``.

    Attributes
    ----------
    bin_edges_ : ndarray of shape (n_bins_ + 1,)
        Edges of the time bins, from 0 (or -1 with a bin (-1, 0] for events at time 0) to the horizon.
    horizon_ : float
        Horizon used.
    classifier_ : classifier
        The fitted hazard classifier (covariates and bin midpoint as features).
    n_person_periods_ : int
        Number of person-period rows it was fitted on.
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Cox, D. R. (1972). Regression models and life-tables. JRSS B 34, 187-220.
    Singer, J. D. & Willett, J. B. (1993). It's about time: using discrete-time survival analysis to study
    duration and the timing of events. Journal of Educational Statistics 18, 155-195.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import DiscreteTimeHazard
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = DiscreteTimeHazard(n_bins=10, horizon=1.5, random_state=0).fit(X, y["time"], y["event"])
    >>> model.predict_survival(X[:2], [0.0, 0.5, 1.5]).round(2)
    array([[1.  , 0.14, 0.03],
           [1.  , 0.11, 0.01]])
    """

    def __init__(self, classifier=None, n_bins=20, horizon=None, random_state=None):
        self.classifier = classifier
        self.n_bins = n_bins
        self.horizon = horizon
        self.random_state = random_state

    def _classifier(self):
        if self.classifier is None:
            return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=15,
                                                  min_samples_leaf=100, early_stopping=True,
                                                  random_state=self.random_state)
        return clone(self.classifier)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = allows_nan(self._classifier())
        return tags

    def fit(self, X, time, event):
        clf = self._classifier()
        X = check_covariates(X, allow_nan=allows_nan(clf))
        time, event = check_survival_outcome(time, event, len(X))
        return self._fit_person_period(clf, X, time, event)

    def _fit_person_period(self, clf, X, time, event):
        """Expand to person-period rows labelled with the event code (0 = no event) in the bin of an event, and
        fit ``clf`` on them."""
        horizon = float(time.max()) if self.horizon is None else float(self.horizon)
        is_event = (event != 0) & (time <= horizon)
        self.horizon_ = horizon
        self.n_features_in_ = X.shape[1]
        if not is_event.any():
            self.bin_edges_, self.classifier_ = np.array([0.0, horizon]), None
            return self
        cuts = np.unique(time[is_event])
        if len(cuts) > self.n_bins:
            cuts = np.quantile(time[is_event], np.linspace(0, 1, self.n_bins + 1)[1:])
        edges = np.unique(np.concatenate([[0.0], cuts[cuts < horizon], [horizon]]))
        if (time[is_event] == 0).any():  # events at time 0 (discrete times): a bin (-1, 0] for them
            edges = np.concatenate([[-1.0], edges])
        self.bin_edges_ = edges
        last = np.searchsorted(edges[1:], np.minimum(time, horizon), side="left")  # bin of each patient
        counts = last + 1
        rows = np.repeat(np.arange(len(X)), counts)
        starts = np.cumsum(counts) - counts
        bins = np.arange(len(rows)) - np.repeat(starts, counts)
        Xpp = np.empty((len(rows), X.shape[1] + 1), dtype=np.float32)
        Xpp[:, :-1] = X[rows]
        Xpp[:, -1] = self._mid()[bins]
        ypp = np.zeros(len(rows), dtype=np.int8)
        ypp[starts + last] = np.where(is_event, event, 0)
        self.n_person_periods_ = len(rows)
        self.classifier_ = clf.fit(Xpp, ypp)
        return self

    def _mid(self):
        return (self.bin_edges_[:-1] + self.bin_edges_[1:]) / 2

    def predict_hazard(self, X):
        """Discrete hazard of each bin, shape (n, n_bins_)."""
        return self._predict_proba(X, [1])[:, :, 0]

    def _predict_proba(self, X, labels):
        """Classifier probabilities of ``labels`` in each bin, shape (n, n_bins_, len(labels)); 0 for a label the
        classifier never saw."""
        X = check_predict_covariates(self, X, allow_nan=allows_nan(self))
        n, k = len(X), len(self.bin_edges_) - 1
        if self.classifier_ is None:  # no event up to the horizon: every hazard is 0
            return np.zeros((n, k, len(labels)))
        mid = self._mid().astype(np.float32)
        classes = list(self.classifier_.classes_)
        seen = [j for j, label in enumerate(labels) if label in classes]
        columns = [classes.index(labels[j]) for j in seen]
        out = np.zeros((n, k, len(labels)))
        step = max(1, _CHUNK_ROWS // k)
        for s in range(0, n, step):
            xc = X[s:s + step]
            block = np.empty((len(xc) * k, X.shape[1] + 1), dtype=np.float32)
            block[:, :-1] = np.repeat(xc, k, axis=0)
            block[:, -1] = np.tile(mid, len(xc))
            proba = self.classifier_.predict_proba(block)[:, columns]
            out[s:s + step, :, seen] = proba.reshape(len(xc), k, len(columns))
        return out

    def predict_survival(self, X, times):
        """Survival S(t | x) at ``times`` (1-d), shape (n, len(times))."""
        times = np.asarray(times, dtype=float)
        h = np.clip(self.predict_hazard(X), 0.0, 1.0 - 1e-12)
        log1m = np.log1p(-h)
        log_s = np.concatenate([np.zeros((len(h), 1)), np.cumsum(log1m, axis=1)], axis=1)
        edges = self.bin_edges_
        k = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
        frac = np.clip((times - edges[k]) / (edges[k + 1] - edges[k]), 0.0, 1.0)
        return np.exp(log_s[:, k] + frac * log1m[:, k])
