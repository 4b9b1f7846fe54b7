"""Choosing a survival model by cross-validated integrated Brier score.

:class:`SurvivalModelCV` is a survival model (``fit`` / ``predict_survival``) that compares its candidate models by
the integrated Brier score on held-out folds (Graf, Schmoor, Sauerbrei & Schumacher 1999, "Assessment and
comparison of prognostic classification schemes for survival data", Stat Med 18:2529-2545; inverse probability of
censoring weighted with the Kaplan-Meier censoring of the training fold, scikit-survival's
``integrated_brier_score``), then refits the best on all the data: scikit-learn's ``GridSearchCV`` for survival
models, which scikit-learn cannot cross-validate (two outcome columns). As the event or the censoring model of
:class:`causalehr.cate.CensoredCATE` it is chosen per arm inside each cross-fitting fold (for the censoring model
the censoring is its event), so the choice never sees the patients it predicts. The propensity needs nothing new:
``GridSearchCV(Pipeline([("model", LogisticRegression())]), {"model": [...]}, scoring="neg_log_loss")``
(:func:`propensity_cv`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from sksurv.metrics import brier_score, integrated_brier_score
from sksurv.util import Surv

from .base import allows_nan, check_covariates, check_survival_outcome
from .propensity import make_propensity


class SurvivalModelCV(BaseEstimator):
    """The candidate survival model with the smallest cross-validated integrated Brier score (module docstring).

    Parameters
    ----------
    candidates : mapping of name -> survival model
        Models of :mod:`causalehr.nuisance` (``fit(X, time, event)``, ``predict_survival(X, times)``); cloned.
    n_folds : int, default=3
        Folds, stratified on the event indicator.
    n_times : int, default=10
        Times of the Brier score: quantiles 0.1..0.9 of the event times inside every fold's follow-up.
    random_state : int, default=None
        Seed of the folds.

    Attributes
    ----------
    scores_ : DataFrame
        Per candidate: mean held-out integrated Brier score, its standard error over folds, and the difference
        from the chosen candidate.
    best_name_ : str
        The chosen candidate.
    best_model_ : survival model
        The chosen candidate refitted on all the data.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import LifelinesCoxSurvival, MarginalKaplanMeier
    >>> cohort = simulate("csf2", 400, seed=0, n_covariates=5)  # hazard exp(X1 + ...): covariates matter
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> model = SurvivalModelCV({"kaplan-meier": MarginalKaplanMeier(), "cox": LifelinesCoxSurvival()},
    ...                         random_state=0).fit(X, y["time"], y["event"])
    >>> model.best_name_, model.predict_survival(X[:2], [1.0]).shape
    ('cox', (2, 1))
    """

    def __init__(self, candidates: Mapping, n_folds=3, n_times=10, random_state=None):
        self.candidates = candidates
        self.n_folds = n_folds
        self.n_times = n_times
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = bool(self.candidates) and all(allows_nan(m) for m in self.candidates.values())
        return tags

    def fit(self, X, time, event):
        """Score every candidate on held-out folds, then refit the best on all the data."""
        if not self.candidates:
            raise ValueError("candidates must name at least one survival model")
        X = check_covariates(X, allow_nan=allows_nan(self))
        time, event = check_survival_outcome(time, event, len(X))
        event = (event != 0).astype(int)
        folds = list(StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state).split(X, event))
        times, cap = self._times(time, event, folds)
        # test times capped below the training fold's last time (scikit-survival's condition): the Brier score at
        # the times above uses only whether T > t, which the cap keeps
        capped = np.minimum(time, cap)
        rows = []
        for name, model in self.candidates.items():
            losses = [_brier_loss(Surv.from_arrays(event[train] == 1, time[train]),
                                  Surv.from_arrays(event[test] == 1, capped[test]),
                                  clone(model).fit(X[train], time[train], event[train]).predict_survival(X[test], times),
                                  times)
                      for train, test in folds]
            rows.append({"candidate": name, "loss": float(np.mean(losses)),
                         "se": float(np.std(losses, ddof=1) / np.sqrt(len(losses)))})
        scores = pd.DataFrame(rows)
        self.best_name_ = scores.loc[scores["loss"].idxmin(), "candidate"]
        self.scores_ = scores.assign(difference=scores["loss"] - scores["loss"].min())
        self.best_model_ = clone(self.candidates[self.best_name_]).fit(X, time, event)
        self.n_features_in_ = X.shape[1]
        return self

    def _times(self, time, event, folds):
        """Brier-score times (quantiles of the event times inside every fold's follow-up) and a cap of the test
        times between the last of them and the end of that follow-up."""
        low = max(time[test].min() for _, test in folds)
        high = min(min(time[test].max(), time[train].max()) for train, test in folds)
        times = np.unique(np.quantile(time[event == 1], np.linspace(0.1, 0.9, self.n_times)))
        times = times[(times > low) & (times < high)]
        if len(times) == 0:
            raise ValueError("no event time lies inside every fold's follow-up: too few events for the Brier score; "
                             "use fewer folds")
        return times, (times[-1] + high) / 2

    def predict_survival(self, X, times):
        """S(t | x) of the chosen model at ``times``: (n, len(times))."""
        check_is_fitted(self)
        return self.best_model_.predict_survival(X, times)


def _brier_loss(train, test, survival, times):
    """Integrated Brier score over ``times``, or the Brier score at the one time when the event times leave only
    one (ties: discrete or rounded times), where scikit-survival's integral is not defined."""
    if len(times) == 1:
        return float(brier_score(train, test, survival, times)[1][0])
    return integrated_brier_score(train, test, survival, times)


def propensity_cv(candidates: Mapping, n_folds=3) -> GridSearchCV:
    """Propensity model choosing among ``candidates`` (name -> classifier; None: the default logistic regression
    of :func:`make_propensity`) by held-out log loss, refitted on all the data (scikit-learn's GridSearchCV).

    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> propensity_cv({"logistic": None, "hgb": HistGradientBoostingClassifier()}).param_grid["model"][0]
    LogisticRegression(max_iter=1000, solver='newton-cholesky')
    """
    if not candidates:
        raise ValueError("candidates must name at least one classifier")
    models = [make_propensity(m) for m in candidates.values()]
    return GridSearchCV(Pipeline([("model", models[0])]), {"model": models}, scoring="neg_log_loss", cv=n_folds)
