"""Choosing the nuisance models of a censored CATE learner by cross-validated loss.

The survival models of the event and of the censoring are compared by the integrated Brier score of each arm's
model on held-out folds (Graf, Schmoor, Sauerbrei & Schumacher 1999, "Assessment and comparison of prognostic
classification schemes for survival data", Stat Med 18:2529-2545; inverse probability of censoring weighted with
the Kaplan-Meier censoring of the training fold, as scikit-survival's ``integrated_brier_score``), the censoring
model with the roles of event and censoring swapped; the propensity models by the held-out log loss. The winners,
unfitted, are the keyword arguments of :class:`causalehr.cate.CensoredCATE`. Choosing on the same data the learner
then uses is the usual practice of tuned nuisances (Chernozhukov et al. 2018 allow any learner with the right rate);
the loss differences and their standard errors are reported so that a near tie is visible.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import StratifiedKFold
from sksurv.metrics import integrated_brier_score
from sksurv.util import Surv

from .arms import ArmSurvival
from .base import check_covariates, check_survival_outcome
from .propensity import make_propensity


class NuisanceSelector(BaseEstimator):
    """Cross-validated choice of the event, censoring and propensity models (module docstring).

    Parameters
    ----------
    survival_models : mapping of name -> survival model
        Candidates for the event and the censoring model (any model of :mod:`causalehr.nuisance`), fitted per arm.
    propensity_models : mapping of name -> classifier, default=None
        Candidates for the propensity (None: the default propensity only, reported without choice).
    n_folds : int, default=3
        Folds, stratified on arm x event.
    n_times : int, default=10
        Times of the Brier score: quantiles 0.1..0.9 of the event (or censoring) times, within every test fold's
        follow-up and up to ``horizon``.
    horizon : float, default=None
        Last time of the Brier score (None: no limit).
    random_state : int, default=None
        Seed of the folds.

    Attributes
    ----------
    scores_ : DataFrame
        One row per nuisance and candidate: mean held-out loss, its standard error over folds and the difference
        from the chosen candidate.
    chosen_ : dict
        Nuisance ("event_model", "censoring_model", "propensity_model") -> name of the chosen candidate.
    models_ : dict
        The same keys -> unfitted clone of the chosen candidate: ``CensoredCATE(**selector.models_)``.

    Examples
    --------
    >>> from causalehr.simulate import simulate
    >>> from causalehr.nuisance import DiscreteTimeHazard, MarginalKaplanMeier
    >>> cohort = simulate("csf2", 600, seed=0, n_covariates=5)
    >>> X, y = cohort.data[cohort.covariates].to_numpy(), cohort.data
    >>> selector = NuisanceSelector({"kaplan-meier": MarginalKaplanMeier(),
    ...                              "discrete-time": DiscreteTimeHazard(n_bins=10)}, random_state=0)
    >>> selector.fit(X, y["treatment"], y["time"], y["event"]).chosen_["event_model"]
    'discrete-time'
    """

    def __init__(self, survival_models: Mapping, propensity_models: Mapping | None = None, n_folds=3, n_times=10,
                 horizon=None, random_state=None):
        self.survival_models = survival_models
        self.propensity_models = propensity_models
        self.n_folds = n_folds
        self.n_times = n_times
        self.horizon = horizon
        self.random_state = random_state

    def fit(self, X, treatment, time, event):
        """Score every candidate on held-out folds and choose the smallest loss of each nuisance."""
        if not self.survival_models:
            raise ValueError("survival_models must name at least one candidate survival model")
        X = check_covariates(X, allow_nan=True, name="X (covariates)")
        time, event = check_survival_outcome(time, event, len(X))
        a = np.asarray(treatment).astype(int).ravel()
        if len(a) != len(X) or not set(np.unique(a)) <= {0, 1}:
            raise ValueError(f"treatment must be {len(X)} values coded 0/1")
        event = (event != 0).astype(int)
        folds = list(StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
                     .split(X, 2 * a + event))
        rows = [*self._survival_scores("event_model", X, a, time, event, folds),
                *self._survival_scores("censoring_model", X, a, time, 1 - event, folds),
                *self._propensity_scores(X, a, folds)]
        scores = pd.DataFrame(rows)
        best = scores.loc[scores.groupby("nuisance", sort=False)["loss"].idxmin()]
        self.chosen_ = dict(zip(best["nuisance"], best["candidate"]))
        scores["difference"] = scores["loss"] - scores["nuisance"].map(best.set_index("nuisance")["loss"])
        self.scores_ = scores
        candidates = {"event_model": self.survival_models, "censoring_model": self.survival_models,
                      "propensity_model": self.propensity_models or {"default": None}}
        self.models_ = {k: None if candidates[k][v] is None else clone(candidates[k][v])
                        for k, v in self.chosen_.items()}
        return self

    def _times(self, time, event, folds):
        """Brier-score times: quantiles of the event times inside every test fold's follow-up (and the horizon)."""
        low = max(time[test].min() for _, test in folds)
        high = min(time[test].max() for _, test in folds)
        if self.horizon is not None:
            high = min(high, self.horizon)
        times = np.unique(np.quantile(time[event == 1], np.linspace(0.1, 0.9, self.n_times)))
        times = times[(times > low) & (times < high)]
        if len(times) == 0:
            raise ValueError("no event time lies inside every test fold's follow-up (and the horizon): too few "
                             "events for the Brier score; use fewer folds")
        return times

    def _survival_scores(self, nuisance, X, a, time, event, folds):
        times = self._times(time, event, folds)
        for name, model in self.survival_models.items():
            losses = []
            for train, test in folds:
                fitted = ArmSurvival(model, hold_after_last=True).fit(X[train], a[train], time[train], event[train])
                surv = np.empty((len(test), len(times)))
                for arm in (0, 1):
                    rows = a[test] == arm
                    surv[rows] = fitted.predict_survival(X[test][rows], arm, times)
                losses.append(integrated_brier_score(Surv.from_arrays(event[train] == 1, time[train]),
                                                     Surv.from_arrays(event[test] == 1, time[test]), surv, times))
            yield _row(nuisance, name, losses)

    def _propensity_scores(self, X, a, folds):
        for name, model in (self.propensity_models or {"default": None}).items():
            losses = []
            for train, test in folds:
                e = make_propensity(model).fit(X[train], a[train]).predict_proba(X[test])[:, 1]
                e = np.clip(e, 1e-12, 1 - 1e-12)
                losses.append(-np.mean(a[test] * np.log(e) + (1 - a[test]) * np.log(1 - e)))
            yield _row("propensity_model", name, losses)


def _row(nuisance, name, losses):
    losses = np.asarray(losses, float)
    return {"nuisance": nuisance, "candidate": name, "loss": float(losses.mean()),
            "se": float(losses.std(ddof=1) / np.sqrt(len(losses)))}
