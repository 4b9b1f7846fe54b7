"""Intervals for one patient: weighted split-conformal intervals for each potential restricted survival time and for
the individual effect, under censoring.

Written here because no Python implementation exists of the combination of Candes, Lei & Ren (2023) and Lei &
Candes (2021); the quantile regressions are scikit-learn's.
"""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ..nuisance import check_arms, check_covariates, check_survival_outcome
from ..nuisance.base import check_predict_covariates


def weighted_conformal_quantile(scores, weights, test_weights, level):
    """Per test point, the ``level`` quantile of sum_i p_i delta_{V_i} + p_test delta_{+inf} with
    p_i = w_i / (sum_j w_j + w_test) (Tibshirani, Barber, Candes & Ramdas 2019, "Conformal prediction under
    covariate shift"); +inf where the calibration weights do not reach ``level``."""
    order = np.argsort(scores)
    v, cum = np.asarray(scores)[order], np.cumsum(np.asarray(weights)[order])
    need = level * (cum[-1] + np.asarray(test_weights))
    k = np.searchsorted(cum, need, side="left")
    return np.where(k < len(v), v[np.minimum(k, len(v) - 1)], np.inf)


class ConformalITE(BaseEstimator):
    """Calibrated intervals for the restricted potential survival times min(T(a), tau) of one patient and for the
    individual effect min(T(1), tau) - min(T(0), tau), with a right-censored outcome.

    Censoring as in Candes, Lei & Ren (2023, "Conformalized survival analysis", JRSS B 85, 24-45): the censoring
    time C of every patient is known (the end of follow-up, also for those with an event) and C is independent of
    T given the covariates and the arm; min(T, tau) is then observed for the patients with C >= tau, who differ from
    the population only through x. Counterfactuals as in Lei & Candes (2021, "Conformal inference of
    counterfactuals and individual treatment effects", JRSS B 83, 911-938): the patients of arm a differ from the
    population only through x. So the calibration patients of arm a with C >= tau are weighted by
    w_a(x) = 1 / (P(A = a | x) P(C >= tau | x, A = a)), both fitted by logistic regression on the training half,
    and the conformalised quantile regression (CQR; Romano, Patterson & Candes 2019) scores of min(T, tau) give, by
    weighted split conformal inference (Tibshirani et al. 2019), an interval holding min(T(a), tau) with
    probability >= 1 - alpha / 2 when the weights are right. The individual-effect interval is
    [L_1 - U_0, U_1 - L_0] (Bonferroni: coverage >= 1 - alpha whatever the dependence of T(0) and T(1); the
    nested construction of Lei & Candes 2021 is less conservative but needs a second split).

    Parameters
    ----------
    horizon : float
        tau: the intervals are for min(T, tau).
    alpha : float, default=0.1
        1 - coverage of the individual-effect interval (each arm's interval has coverage 1 - alpha / 2).
    quantile_model : regressor, default=None
        Regressor with a ``quantile`` parameter, cloned for the lower and upper quantile (alpha / 4, 1 - alpha / 4)
        of each arm; None: HistGradientBoostingRegressor(loss="quantile", max_leaf_nodes=8, min_samples_leaf=40).
    classifier : classifier, default=None
        Model of the propensity and of P(C >= tau | x, a); None: logistic regression.
    calibration_share : float, default=0.5
        Share of the patients kept for calibration.
    random_state : int, default=None
        Seed of the split and of the quantile models.

    Attributes
    ----------
    horizon_ : float
        tau.
    calibration_ : list of tuple
        Per arm: (conformity scores, weights) of the calibration patients with C >= tau.
    quantile_models_ : list of tuple
        Per arm: the fitted (lower, upper) quantile regressions.
    propensity_model_, followed_models_ : estimator, list
        Fitted P(A = 1 | x) and, per arm, P(C >= tau | x, A = a).
    n_features_in_ : int
        Number of covariates.

    Examples
    --------
    >>> import numpy as np
    >>> from causalehr.cate.conformal import ConformalITE
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(2000, 2))
    >>> a = rng.binomial(1, 0.3 + 0.4 * X[:, 0])
    >>> T = rng.exponential(1 / np.exp(0.5 * X[:, 1] - 0.5 * a))
    >>> C = rng.uniform(0.5, 4, 2000)
    >>> model = ConformalITE(horizon=2.0, random_state=0).fit(X, a, np.minimum(T, C), T <= C, C)
    >>> interval = model.predict_interval(X[:3])
    >>> sorted(interval), bool(np.all(interval["effect_lower"] <= interval["effect_upper"]))
    (['effect_lower', 'effect_upper', 'lower0', 'lower1', 'upper0', 'upper1'], True)
    """

    def __init__(self, horizon, alpha=0.1, quantile_model=None, classifier=None, calibration_share=0.5,
                 random_state=None):
        self.horizon = horizon
        self.alpha = alpha
        self.quantile_model = quantile_model
        self.classifier = classifier
        self.calibration_share = calibration_share
        self.random_state = random_state

    def _quantile(self, q):
        if self.quantile_model is None:
            return HistGradientBoostingRegressor(loss="quantile", quantile=q, max_leaf_nodes=8, min_samples_leaf=40,
                                                 random_state=self.random_state)
        return clone(self.quantile_model).set_params(quantile=q)

    def _classifier(self):
        return LogisticRegression(max_iter=1000) if self.classifier is None else clone(self.classifier)

    def fit(self, X, treatment, time, event, censoring_time):
        """Fit on covariates, 0/1 treatment, follow-up ``time`` = min(T, C), ``event`` = 1{T <= C} and the
        censoring time C of every patient; returns self."""
        X = check_covariates(X, allow_nan=False, name="X (covariates)")
        a = check_arms(treatment, len(X))
        time, event = check_survival_outcome(time, np.asarray(event, dtype=int), len(X))
        c = np.asarray(censoring_time, dtype=float).ravel()
        if len(c) != len(X) or np.any(c < time - 1e-12):
            raise ValueError("censoring_time must have one value per patient, at or after the follow-up time")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        self.horizon_ = float(self.horizon)
        followed = c >= self.horizon_
        y = np.minimum(time, self.horizon_)
        for arm in (0, 1):
            if (followed & (a == arm)).sum() < 20:
                raise ValueError(f"arm {arm} has fewer than 20 patients followed to the horizon {self.horizon_:g} "
                                 "(censoring_time >= horizon): too few to calibrate")
        train, cal = train_test_split(np.arange(len(X)), test_size=self.calibration_share, stratify=2 * a + followed,
                                      random_state=self.random_state)
        self.propensity_model_ = self._classifier().fit(X[train], a[train])
        self.followed_models_, self.quantile_models_, self.calibration_ = [], [], []
        q = self.alpha / 4
        for arm in (0, 1):
            tr = train[a[train] == arm]
            self.followed_models_.append(self._classifier().fit(X[tr], followed[tr]))
            fit_rows = tr[followed[tr]]
            models = tuple(self._quantile(level).fit(X[fit_rows], y[fit_rows]) for level in (q, 1 - q))
            self.quantile_models_.append(models)
            rows = cal[(a[cal] == arm) & followed[cal]]
            lo, hi = (m.predict(X[rows]) for m in models)
            self.calibration_.append((np.maximum(lo - y[rows], y[rows] - hi), self._weights(X[rows], arm)))
        self.n_features_in_ = X.shape[1]
        return self

    def _weights(self, X, arm):
        """1 / (P(A = arm | x) P(C >= tau | x, arm)), probabilities floored at 0.001."""
        e = self.propensity_model_.predict_proba(X)[:, 1]
        e = e if arm == 1 else 1 - e
        followed = self.followed_models_[arm].predict_proba(X)[:, 1]
        return 1.0 / (np.maximum(e, 1e-3) * np.maximum(followed, 1e-3))

    def predict_interval(self, X, alpha=None):
        """Intervals for covariates X: dict of arrays "lower0", "upper0", "lower1", "upper1" (min(T(a), tau), each
        at 1 - alpha / 2, within [0, tau]) and "effect_lower", "effect_upper" (the individual effect, 1 - alpha);
        ``alpha`` defaults to the fitted one."""
        check_is_fitted(self)
        X = check_predict_covariates(self, X, allow_nan=False, name="X (covariates)")
        alpha = self.alpha if alpha is None else alpha
        out = {}
        for arm in (0, 1):
            scores, weights = self.calibration_[arm]
            margin = weighted_conformal_quantile(scores, weights, self._weights(X, arm), 1 - alpha / 2)
            lo, hi = (m.predict(X) for m in self.quantile_models_[arm])
            out[f"lower{arm}"] = np.clip(lo - margin, 0.0, self.horizon_)
            out[f"upper{arm}"] = np.clip(hi + margin, 0.0, self.horizon_)
        out["effect_lower"] = out["lower1"] - out["upper0"]
        out["effect_upper"] = out["upper1"] - out["lower0"]
        return out
