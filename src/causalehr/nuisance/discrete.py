"""Discrete-time hazard survival model fed to any scikit-learn classifier."""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.validation import validate_data

from .base import allows_nan, check_covariates, check_predict_covariates, check_survival_outcome

_CHUNK_ROWS = 2_000_000  # person-period rows predicted at once


class _PrebinnedHistGradientBoosting(HistGradientBoostingClassifier):
    """HistGradientBoostingClassifier fitted on person-period rows that are already bin codes.

    The default hazard classifier of :class:`DiscreteTimeHazard`. scikit-learn bins every row it is given; the
    person-period rows repeat each patient's covariates once per time bin, so binning them costs several times
    binning the patients (a third of HistGradientBoosting's fitting time at 10^6 patients).
    ``fit(codes, y, bin_mapper=..., X_val=..., y_val=...)`` takes the codes (uint8, kept so: no float64 copy) of
    each person-period row from ``bin_mapper``, a fitted ``_BinMapper`` of the features (covariates, bin
    midpoint), and uses them as scikit-learn's own binned data; the fitted trees keep thresholds in the units of
    the features (from ``bin_mapper``), so prediction takes the features as usual. Early stopping on the
    validation loss skips the training loss that scikit-learn also computes at each iteration (unused by the
    rule; ``train_score_`` holds NaN). Written here because scikit-learn has no public way to fit on binned
    data; the private interface it overrides is pinned by requirements.lock, and tests/test_nuisance.py checks
    that the model is the one scikit-learn fits on the person-period rows.
    """

    def fit(self, X, y, sample_weight=None, *, bin_mapper, **validation):
        self._given_bin_mapper = bin_mapper
        return super().fit(X, y, sample_weight, **validation)

    def _preprocess_X(self, X, *, reset):
        if reset:  # fit: the codes stay uint8 (scikit-learn would copy every person-period row to float64)
            self.is_categorical_ = self._preprocessor = self._is_categorical_remapped = None
            return validate_data(self, X, dtype=np.uint8), None
        return super()._preprocess_X(X, reset=reset)

    def _check_early_stopping_loss(self, raw_predictions, y_train, sample_weight_train, raw_predictions_val, y_val,
                                   sample_weight_val, n_threads=1):
        """As scikit-learn's, without the training loss over every person-period row at each iteration, which
        early stopping on the validation loss does not use (``train_score_`` holds NaN)."""
        if not self._use_validation_data:
            return super()._check_early_stopping_loss(raw_predictions, y_train, sample_weight_train,
                                                      raw_predictions_val, y_val, sample_weight_val, n_threads)
        self.train_score_.append(np.nan)
        self.validation_score_.append(-self._loss(y_true=y_val, raw_prediction=raw_predictions_val,
                                                  sample_weight=sample_weight_val, n_threads=n_threads))
        return self._should_stop(self.validation_score_)

    def _bin_data(self, X, sample_weight, is_training_data):
        if is_training_data:
            self._bin_mapper = self._given_bin_mapper
            return np.asfortranarray(X)
        return np.ascontiguousarray(X, dtype=np.uint8)  # validation codes, as float64


def _person_period_bins(clf, features, rows, mid, y):
    """(mapper, train, val): the ``_BinMapper`` that ``clf.fit`` fits on the person-period rows (``features[rows]``
    with the bin midpoints ``mid`` as last column), and its training and early-stopping validation rows (None
    without early stopping): same seed, same split, same subsample, as in scikit-learn 1.9's
    HistGradientBoostingClassifier.fit for an int ``random_state`` (with None, another random split); only the
    subsample's rows are built."""
    seed = check_random_state(clf.random_state).randint(np.iinfo(np.uint32).max, dtype="u8")
    train, val = np.arange(len(rows)), None
    early_stopping = len(rows) > 10_000 if clf.early_stopping == "auto" else clf.early_stopping
    if early_stopping and clf.validation_fraction is not None:
        train, val = train_test_split(train, test_size=clf.validation_fraction, stratify=y, random_state=seed)
    mapper = _BinMapper(n_bins=clf.max_bins + 1, random_state=seed, n_threads=_openmp_effective_n_threads())
    sample = train
    if len(train) > mapper.subsample:
        sample = train[check_random_state(seed).choice(len(train), mapper.subsample, replace=True)]
    binned = features[rows[sample]]
    binned[:, -1] = mid[sample]
    return mapper.fit(binned), train, val


def _segments(predictor, time_feature, mid):
    """Boundaries 0 = b_0 < ... < b_m = len(mid) of the runs of bins that the tree ``predictor`` does not
    separate: its splits on the bin-midpoint feature ``time_feature`` cut the bins only there."""
    nodes = predictor.nodes
    thresholds = nodes["num_threshold"][(nodes["is_leaf"] == 0) & (nodes["feature_idx"] == time_feature)]
    cuts = np.searchsorted(mid, thresholds, side="right")
    return np.unique(np.concatenate([[0, len(mid)], cuts[(cuts > 0) & (cuts < len(mid))]]))


def _raw_by_bin(clf, X, mid):
    """Raw scores (n, len(mid), n_trees_per_iteration) of a fitted HistGradientBoostingClassifier (numerical
    features) at the person-period rows (x_i, mid_j) of every patient i and bin j, equal to its own prediction
    on those rows. The patients are binned once, and each tree is evaluated on their binned rows once per run
    of bins that it does not separate (about a third of the bins in the benchmark of DiscreteTimeHazard) instead
    of once per bin."""
    mapper, p = clf._bin_mapper, X.shape[1]
    features = np.empty((len(X), p + 1), dtype=np.float32)  # the values the person-period rows hold
    features[:, :-1] = X
    features[:, -1] = 0.0  # set per run of bins below
    codes = np.ascontiguousarray(mapper.transform(features))
    mid = mid.astype(np.float32).astype(np.float64)
    mid_codes = np.searchsorted(mapper.bin_thresholds_[p], mid)  # x is in bin i iff thr[i - 1] < x <= thr[i]
    n_threads = _openmp_effective_n_threads()
    diff = np.zeros((clf.n_trees_per_iteration_, len(mid) + 1, len(X)))
    for iteration in clf._predictors:
        for k, tree in enumerate(iteration):
            bounds = _segments(tree, p, mid)
            for start, stop in zip(bounds[:-1], bounds[1:]):
                codes[:, -1] = mid_codes[start]
                value = tree.predict_binned(codes, mapper.missing_values_bin_idx_, n_threads)
                diff[k, start] += value
                diff[k, stop] -= value
    return np.cumsum(diff[:, :-1], axis=1).transpose(2, 1, 0) + clf._baseline_prediction


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
        person-period rows, given the rows binned once per patient (the model that scikit-learn fits on the
        person-period rows, faster). It is cloned, never fitted in place. A HistGradientBoostingClassifier
        (numerical features) predicts each tree once per run of bins that it does not split, on the patients'
        rows, rather than on every person-period row.
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
            return _PrebinnedHistGradientBoosting(max_iter=200, learning_rate=0.1, max_leaf_nodes=15,
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
        ypp = np.zeros(len(rows), dtype=np.int8)
        ypp[starts + last] = np.where(is_event, event, 0)
        self.n_person_periods_ = len(rows)
        if isinstance(clf, _PrebinnedHistGradientBoosting):  # bin the patients once, not every person-period
            features = np.empty((len(X), X.shape[1] + 1), dtype=np.float32)
            features[:, :-1] = X
            features[:, -1] = 0.0
            mapper, train, val = _person_period_bins(clf, features, rows, self._mid()[bins], ypp)
            codes = np.ascontiguousarray(mapper.transform(features))
            bin_codes = np.searchsorted(mapper.bin_thresholds_[-1], self._mid().astype(np.float32).astype(float))

            def person_periods(idx):
                out = codes[rows[idx]]
                out[:, -1] = bin_codes[bins[idx]]
                return out

            if val is None:
                self.classifier_ = clf.fit(person_periods(train), ypp, bin_mapper=mapper)
            else:
                self.classifier_ = clf.fit(person_periods(train), ypp[train], X_val=person_periods(val),
                                           y_val=ypp[val], bin_mapper=mapper)
            return self
        Xpp = np.empty((len(rows), X.shape[1] + 1), dtype=np.float32)
        Xpp[:, :-1] = X[rows]
        Xpp[:, -1] = self._mid()[bins]
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
        fast = isinstance(self.classifier_, HistGradientBoostingClassifier) and self.classifier_._preprocessor is None
        step = max(1, _CHUNK_ROWS // k)
        for s in range(0, n, step):
            xc = X[s:s + step]
            if fast:  # without building the person-period rows
                raw = _raw_by_bin(self.classifier_, xc, self._mid())
                proba = self.classifier_._loss.predict_proba(raw.reshape(-1, raw.shape[2]))[:, columns]
            else:
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
