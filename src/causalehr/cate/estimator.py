"""Censoring-adjusted CATE learners for the RMST and survival-probability differences, and with competing risks
for the cumulative-incidence and restricted-mean-time-lost differences (strategy 1)."""

import copy
import warnings
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import norm
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from ..nuisance import (
    ArmSurvival,
    DiscreteTimeCompetingHazard,
    DiscreteTimeHazard,
    check_arms,
    check_covariates,
    check_survival_outcome,
    make_propensity,
    positivity_report,
)
from ..nuisance.base import allows_nan, check_predict_covariates
from .competing import (
    COMPETING_ESTIMANDS,
    check_all_cause_event,
    check_competing_data,
    competing_functional,
    competing_pseudo_outcomes,
)
from .pseudo import ESTIMANDS, censoring_pseudo_outcomes, dr_scores, functional, time_grid
from .selection import check_selection, fit_auto, predict_auto

_CHUNK = 100_000  # patients predicted at once in cross-fitting


def _warnings_kept(func, *args):
    """``func(*args)`` and the warnings it raised (a joblib worker process would lose them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(*args)
    return result, caught


def is_econml_learner(model):
    """True for an econml CATE estimator (fit(Y, T, X=...) and const_marginal_effect)."""
    return hasattr(model, "const_marginal_effect")


# ---------------------------------------------------------------- methods: second stage, after cross-fitting
# fit(est, X, a, time, event, nu) sets the fitted attributes of ``est`` from the cross-fitted nuisances ``nu``;
# effect(est, X) predicts. References in CensoredCATE's docstring.
def _fit_dr(est, X, a, time, event, nu, *, outcome):
    """DR-learner: regression of the AIPW score of the IPCW or AIPCW transformed outcome."""
    est.cate_model_ = est._cate_model().fit(X, dr_scores(nu[outcome], a, nu["mu0"], nu["mu1"], nu["propensity"]))


def _fit_causal_forest(est, X, a, time, event, nu):
    """Causal survival forest: grf's local moment on the AIPCW outcome centred by m = e mu1 + (1 - e) mu0."""
    e = nu["propensity"]
    y_hat = e * nu["mu1"] + (1 - e) * nu["mu0"]
    est.cate_model_ = est._cate_model().fit(X, a - e, nu["aipcw"] - y_hat)


def _fit_aipcw_econml(est, X, a, time, event, nu):
    est.cate_model_ = est._cate_model().fit(nu["aipcw"], a, X=X)


def _fit_ipcw_econml(est, X, a, time, event, nu):
    keep = nu["weight"] > 0
    est.cate_model_ = est._cate_model().fit(nu["target"][keep], a[keep], X=X[keep], sample_weight=nu["weight"][keep])


def _fit_constant(est, X, a, time, event, nu):
    """No heterogeneity: the ATE (mean AIPCW-AIPW score) for everyone."""
    est.constant_effect_ = float(dr_scores(nu["aipcw"], a, nu["mu0"], nu["mu1"], nu["propensity"]).mean())


def _fit_survival(est, X, a, time, event, nu, *, treatment_as_feature):
    """T-learner (one survival model per arm) or S-learner (treatment as a feature)."""
    est.survival_model_ = ArmSurvival(est._event_model(), treatment_as_feature, est.extrapolate)
    est.survival_model_.fit(X, a, time, event)


def _fit_x_learner(est, X, a, time, event, nu):
    """IPCW-weighted regressions of the imputed effects per arm, combined with the propensity at prediction."""
    est.propensity_model_ = est._propensity().fit(X, a)
    est.cate_models_ = []
    for arm, imputed in ((0, nu["mu1"] - nu["target"]), (1, nu["target"] - nu["mu0"])):
        keep = (a == arm) & (nu["weight"] > 0)
        est.cate_models_.append(est._cate_model().fit(X[keep], imputed[keep], sample_weight=nu["weight"][keep]))


def _predict_regressor(est, X):
    return est.cate_model_.predict(X).ravel()


def _predict_econml(est, X):
    return np.asarray(est.cate_model_.effect(X)).ravel()


def _predict_constant(est, X):
    return np.full(len(X), est.constant_effect_)


def _predict_survival_difference(est, X):
    sm = est.survival_model_
    return np.concatenate([est._functional(*est._curves(sm, X[s:s + _CHUNK], 1))
                           - est._functional(*est._curves(sm, X[s:s + _CHUNK], 0))
                           for s in range(0, len(X), _CHUNK)])


def _predict_x_learner(est, X):
    e = est.propensity_model_.predict_proba(X)[:, 1]
    return e * est.cate_models_[0].predict(X) + (1 - e) * est.cate_models_[1].predict(X)


def causal_forest(min_samples_leaf=20, n_estimators=2000, random_state=None, n_jobs=None):
    """The causal forest of method "aipcw-causal-forest": econml's CausalForest with grf's defaults (trees on
    half-samples, gradient splitting), ``n_estimators`` trees and leaves of ``min_samples_leaf``."""
    from econml.grf import CausalForest

    return CausalForest(n_estimators=n_estimators, criterion="het", min_samples_leaf=min_samples_leaf,
                        max_samples=0.5, random_state=random_state, n_jobs=n_jobs)


def wald_interval(phi, alpha=0.05):
    """(mean, lower, upper): the mean of influence-function scores ``phi`` with its 1 - alpha Wald interval,
    standard error sd(phi) / sqrt(n)."""
    est = float(np.mean(phi))
    half = norm.ppf(1 - alpha / 2) * np.std(phi, ddof=1) / np.sqrt(len(phi))
    return est, est - half, est + half


class _Method(NamedTuple):
    fit: Callable
    effect: Callable


_METHODS = {
    "ipcw-dr": _Method(partial(_fit_dr, outcome="ipcw"), _predict_regressor),
    "aipcw-dr": _Method(partial(_fit_dr, outcome="aipcw"), _predict_regressor),
    "aipcw-causal-forest": _Method(_fit_causal_forest, _predict_regressor),
    "ipcw-econml": _Method(_fit_ipcw_econml, _predict_econml),
    "aipcw-econml": _Method(_fit_aipcw_econml, _predict_econml),
    "t-learner": _Method(partial(_fit_survival, treatment_as_feature=False), _predict_survival_difference),
    "s-learner": _Method(partial(_fit_survival, treatment_as_feature=True), _predict_survival_difference),
    "x-learner": _Method(_fit_x_learner, _predict_x_learner),
    "constant": _Method(_fit_constant, _predict_constant),
}
_METHODS["auto"] = _Method(partial(fit_auto, methods=_METHODS), predict_auto)
METHODS = tuple(_METHODS)


class CensoredCATE(BaseEstimator):
    """Conditional average treatment effect on a right-censored time to event.

    The estimand is fixed by ``estimand`` and ``horizon`` tau: the difference (treated minus control) in
    restricted mean survival time up to tau ("rmst", f(T) = min(T, tau)) or in survival probability at tau
    ("surv", f(T) = 1{T > tau}), tau(x) = E[f(T(1)) - f(T(0)) | X = x]. As in grf's causal_survival_forest, the
    horizon has no default: it is part of the question asked. Survival curves are evaluated on a grid of
    ``n_grid`` time quantiles, or on every observed time when there are fewer distinct times (discrete times;
    see :mod:`causalehr.cate.pseudo`).

    Methods (``method``, one of ``METHODS``):

    * "aipcw-dr" / "ipcw-dr": DR-learner (Kennedy 2023) on the AIPW pseudo-outcome (Robins, Rotnitzky & Zhao
      1994) of the AIPCW (Tsiatis 2006; Rubin & van der Laan 2007) or IPCW transformed outcome, all nuisances
      cross-fitted (Chernozhukov et al. 2018); ``cate_model`` is any regressor. This is the
      censoring-adjusted DR-learner of Xu et al. (2023, survlearners).
    * "aipcw-causal-forest": the causal survival forest of Cui et al. (2023): a generalised random forest
      (Athey, Tibshirani & Wager 2019; econml.grf.CausalForest, honest, grf's gradient splitting rule) that
      solves the local moment sum_i alpha_i(x) (W_i - e(X_i)) [AIPCW(f(T_i)) - m(X_i) - (W_i - e(X_i)) tau(x)]
      = 0, with m = e mu1 + (1 - e) mu0 from the survival model, all nuisances cross-fitted; ``cate_model``
      may be another econml.grf forest (fit(X, T, y), predict(X)).
    * "aipcw-econml": any econml learner given as ``cate_model`` fitted on the AIPCW outcome;
      "ipcw-econml": the same on the patients with f(T) observed, with IPCW sample weights.
    * "t-learner", "s-learner": survival model per arm / with the treatment as a feature (``event_model``),
      CATE = difference of the integrated (RMST) or read (S(tau)) survival curves.
    * "x-learner" (Kunzel et al. 2019): IPCW-weighted regressions of the imputed effects f(U) - mu0(x)
      (treated) and mu1(x) - f(U) (controls) with cross-fitted mu, combined with the propensity; as the
      X-learner of Xu et al. (2023).
    * "constant": no heterogeneity, the ATE (mean AIPCW-AIPW score) for everyone.
    * "auto": fits the ``candidates`` on the same cross-fitted nuisances and chooses or stacks them by a
      validation risk on held-out predictions: the R-risk (Nie & Wager 2021) with the AIPCW-transformed outcome,
      or the DR risk of the AIPCW-AIPW scores (:mod:`causalehr.cate.selection`; Doutreligne & Varoquaux 2023).
      ``cate_model`` is then the regressor of the DR- and X-learner candidates; the forest keeps its default.

    The ATE (:meth:`ate_interval`) is, for every method, the mean of the cross-fitted AIPCW-AIPW scores
    (one-step estimator, efficient influence function), with a Wald or multiplier-bootstrap interval.

    Competing risks (``estimand`` "cif" or "rmtl"; ``event`` 0 for a censoring, k for an event of cause k):
    the difference in cumulative incidence of cause k = ``cause`` at tau, F_k(tau | x, 1) - F_k(tau | x, 0),
    or in restricted mean time lost to cause k up to tau, int_0^tau F_k(t | x, 1) - F_k(t | x, 0) dt. The
    targets 1{T <= tau, J = k} and (tau - T) 1{T <= tau, J = k} get the same IPCW / AIPCW transformations
    (augmented IPCW of Bai, Tsiatis & O'Brien 2013; :mod:`causalehr.cate.competing`), with the event model a
    competing-risks model (default :class:`causalehr.nuisance.DiscreteTimeCompetingHazard`) giving F_k and the
    event-free survival, the censoring model fitted on event == 0 as for the other estimands; every method
    above applies (T/S-learners difference the cause-k curves), and the ATE is the AIPTW-AIPCW estimator of
    Ozenne et al. (2020), riskRegression's ``ate``. Treating the competing event as censoring instead estimates
    a world without it (the "surv" estimand on event == k), not the risk of cause k.

    Parameters
    ----------
    estimand : {"rmst", "surv", "cif", "rmtl"}, default="rmst"
        Difference in restricted mean survival time up to ``horizon``, or in survival probability at it; with
        competing risks, in cumulative incidence of ``cause`` at ``horizon`` or in restricted mean time lost to
        it up to ``horizon``.
    horizon : float
        tau, in the unit of the times: required (the default None only lets scikit-learn's ``get_params`` and
        ``clone`` build the estimator; :meth:`fit` raises ValueError without a horizon). Choose it from the
        question (e.g. 5-year survival), no later than the last follow-up of either arm and where enough
        patients of both arms are still followed (the positivity report warns when the censoring survival
        G(t- | x, a) before tau falls below ``min_censoring_survival``).
    method : str, default="aipcw-dr"
        One of ``METHODS``, see above.
    event_model, censoring_model : survival model, default=None
        ``fit(X, time, event)`` / ``predict_survival(X, times)`` (:mod:`causalehr.nuisance`); None:
        DiscreteTimeHazard, which, like any DiscreteTimeHazard without a horizon, gets ``horizon`` = tau. The
        censoring model is fitted with 1 - event (censorings from tau on do not count: G is used before tau
        only); both per arm unless ``treatment_as_feature``.
    propensity_model : classifier, default=None
        Classifier of the treatment (:func:`causalehr.nuisance.make_propensity`; None: logistic regression).
    cate_model : regressor, econml learner or econml.grf forest, default=None
        The second stage (see the methods). None: HistGradientBoostingRegressor with small trees, slow learning
        and early stopping (pseudo-outcomes are noisy); for "aipcw-causal-forest" a CausalForest with grf's
        defaults (2000 trees on half-samples, gradient splitting) and leaves of 20.
    n_folds : int, default=5
        Cross-fitting folds of the nuisances.
    random_state : int, default=None
        Seed of the folds, of the bootstrap, and of every model whose own ``random_state`` is None (same seed,
        same output).
    n_grid : int, default=50
        Number of grid times of the survival curves.
    treatment_as_feature : bool, default=False
        Fit the event and censoring models on both arms with the treatment as a feature.
    calibrate_propensity : {None, "sigmoid", "isotonic"}, default=None
        Calibration of the propensity model.
    min_censoring_survival : float, default=0.05
        PositivityWarning when G(t- | x, a) before tau is below it for some patients.
    propensity_bounds : tuple of float, default=(0.02, 0.98)
        PositivityWarning when a propensity score is outside.
    n_jobs : int, default=None
        joblib workers of the cross-fitting folds (processes) and of the default causal forest (None: one, not
        econml's every core, so that a workflow job uses the threads it was given).
    cause : int, default=1
        Cause k of the competing-risks estimands (unused by "rmst" and "surv").
    causes : sequence of int, default=None
        The causes the data may hold (competing-risks estimands): an event code outside 0 and ``causes`` is an
        error; None: every positive integer code found in ``event``.
    on_positivity_failure : {"warn", "raise"}, default="warn"
        When the positivity report finds censoring survival below ``min_censoring_survival`` or propensity
        scores outside ``propensity_bounds``: PositivityWarning, or stop with ValueError (same message).
        :func:`causalehr.cate.propose_horizon` proposes a horizon where censoring positivity holds.
    extrapolate : bool, default=False
        Accept a horizon beyond the last observed time of an arm, holding the survival and censoring survival
        of each arm constant after its last observed time (as grf's causal survival forest does implicitly).
        This assumes no event and no censoring in that arm between its last time and the horizon; False:
        ValueError naming this option.
    candidates : sequence, default=None
        Method "auto": the candidates, each a method (of ``METHODS``, not "auto") or a pair (label, parameters of
        this estimator with its "method"), e.g. causal forests of several leaf sizes
        (:func:`causalehr.cate.selection.forest_leaf_candidates`); None: ``selection.CANDIDATES``, i.e.
        "constant", "aipcw-causal-forest", "x-learner", "aipcw-dr", "t-learner".
    selection_risk : {"r", "dr"}, default="r"
        Method "auto": the validation risk minimised, R-risk or DR (pseudo-outcome) risk.
    combine : {"stack", "select"}, default="stack"
        Method "auto": the top rung of its ladder, non-negative weights summing to one that minimise the risk of
        the weighted CATE (stacking), or all the weight on the candidate of least risk. The ladder goes from the
        constant model to the causal forest to that combination, each rung taken only when it lowers the
        cross-validated risk by more than ``selection.LADDER_Z`` standard errors (``ladder_``, calibrated by
        simulation).

    Attributes
    ----------
    horizon_ : float
        tau.
    grid_ : ndarray
        Times at which the survival curves are evaluated (ends at tau).
    step_ : bool
        True when ``grid_`` holds every observed time (step functions, discrete times).
    folds_ : ndarray of shape (n,)
        Cross-fitting fold of each patient: its nuisances come from models fitted on the other folds.
    nuisances_ : dict of ndarray
        Per patient, cross-fitted: "mu0", "mu1" (E[f(T) | x, a]), "propensity", "target" (f(U)), "weight"
        (IPCW weight), "ipcw", "aipcw" (transformed outcomes, own arm), "g_tau" (smallest G before tau).
    positivity_ : dict
        Positivity summary (:func:`causalehr.nuisance.positivity_report`).
    scores_ : ndarray of shape (n,)
        AIPCW-AIPW scores; their mean is the ATE.
    cate_model_ : estimator
        Fitted second stage ("*-dr", "aipcw-causal-forest", "*-econml").
    survival_model_ : ArmSurvival
        Fitted survival model ("t-learner", "s-learner").
    propensity_model_, cate_models_ : estimator, list of two estimators
        Fitted propensity and per-arm effect regressions ("x-learner").
    constant_effect_ : float
        The ATE predicted for everyone ("constant").
    candidates_ : dict of str to CensoredCATE
        Fitted candidates by label, sharing this estimator's nuisances ("auto").
    held_out_effects_ : ndarray of shape (n, n_candidates)
        Held-out CATE predictions of the candidates, in the order of ``candidates_`` ("auto").
    validation_risks_ : pandas.DataFrame
        R-risk and DR risk of the held-out predictions of each candidate and of the combination, row "auto"
        ("auto").
    weights_ : dict of str to float
        Weight of each candidate, non-negative, summing to one ("auto").
    selected_ : str
        The candidate of largest weight ("auto").
    ladder_ : pandas.DataFrame
        Per rung of the ladder (:func:`causalehr.cate.selection.climb`): the cross-validated risk reduction over
        the rung below, its standard error, the threshold in standard errors and whether it was taken ("auto").
    stack_weights_ : dict
        The weights of the top rung, the combination of every candidate ("auto").
    n_features_in_ : int
        Number of covariates.

    References
    ----------
    Athey, S., Tibshirani, J. & Wager, S. (2019). Generalized random forests. Annals of Statistics 47,
    1148-1178.
    Chernozhukov, V., Chetverikov, D., Demirer, M., Duflo, E., Hansen, C., Newey, W. & Robins, J. (2018).
    Double/debiased machine learning for treatment and structural parameters. Econometrics Journal 21, C1-C68.
    Cui, Y., Kosorok, M. R., Sverdrup, E., Wager, S. & Zhu, R. (2023). Estimating heterogeneous treatment
    effects with right-censored data via causal survival forests. JRSS B 85, 179-211.
    Bai, X., Tsiatis, A. A. & O'Brien, S. M. (2013). Doubly-robust estimators of treatment-specific survival
    distributions in observational studies with stratified sampling. Biometrics 69, 830-839.
    Doutreligne, M. & Varoquaux, G. (2023). How to select predictive models for decision making or causal
    inference. arXiv:2302.00370.
    Kennedy, E. H. (2023). Towards optimal doubly robust estimation of heterogeneous causal effects. Electronic
    Journal of Statistics 17, 3008-3049.
    Kunzel, S. R., Sekhon, J. S., Bickel, P. J. & Yu, B. (2019). Metalearners for estimating heterogeneous
    treatment effects using machine learning. PNAS 116, 4156-4165.
    Ozenne, B. M. H., Scheike, T. H., Staerk, L. & Gerds, T. A. (2020). On the estimation of average treatment
    effects with right-censored time to event outcome and competing risks. Biometrical Journal 62, 751-763.
    Nie, X. & Wager, S. (2021). Quasi-oracle estimation of heterogeneous treatment effects. Biometrika 108,
    299-319.
    Robins, J. M., Rotnitzky, A. & Zhao, L. P. (1994). Estimation of regression coefficients when some
    regressors are not always observed. JASA 89, 846-866.
    Rubin, D. & van der Laan, M. J. (2007). A doubly robust censoring unbiased transformation. International
    Journal of Biostatistics 3(1).
    Tsiatis, A. A. (2006). Semiparametric Theory and Missing Data. Springer.
    Xu, Y., Ignatiadis, N., Sverdrup, E., Fleming, S., Wager, S. & Shah, N. (2023). Treatment heterogeneity
    with survival outcomes. Handbook of Matching and Weighting Adjustments for Causal Inference, CRC Press.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from causalehr.cate import CensoredCATE
    >>> from causalehr.simulate import simulate
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> X = cohort.data[cohort.covariates].to_numpy()
    >>> a, time, event = (cohort.data[c].to_numpy() for c in ("treatment", "time", "event"))
    >>> est = CensoredCATE(estimand="rmst", horizon=1.0, cate_model=LinearRegression(), n_folds=2, random_state=0)
    >>> est.fit(X, a, time, event).effect(X[:3]).round(3)
    array([ 0.004, -0.182, -0.075])
    >>> ate, lower, upper = est.ate_interval()
    >>> print(f"{ate:.3f} ({lower:.3f} to {upper:.3f})")
    0.010 (-0.054 to 0.074)

    Cross-fitting that keeps the patients of a centre in one fold:

    >>> centre = np.arange(300) % 12
    >>> est = CensoredCATE(horizon=1.0, n_folds=2, random_state=0).fit(X, a, time, event, groups=centre)
    >>> [np.unique(est.folds_[centre == c]).size for c in range(12)]
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    """

    def __init__(self, estimand="rmst", horizon=None, method="aipcw-dr", event_model=None, censoring_model=None,
                 propensity_model=None, cate_model=None, n_folds=5, random_state=None, *, n_grid=50,
                 treatment_as_feature=False, calibrate_propensity=None, min_censoring_survival=0.05,
                 propensity_bounds=(0.02, 0.98), n_jobs=None, cause=1, causes=None, on_positivity_failure="warn",
                 extrapolate=False, candidates=None, selection_risk="r", combine="stack"):
        self.estimand = estimand
        self.horizon = horizon
        self.method = method
        self.event_model = event_model
        self.censoring_model = censoring_model
        self.propensity_model = propensity_model
        self.cate_model = cate_model
        self.n_folds = n_folds
        self.random_state = random_state
        self.n_grid = n_grid
        self.treatment_as_feature = treatment_as_feature
        self.calibrate_propensity = calibrate_propensity
        self.min_censoring_survival = min_censoring_survival
        self.propensity_bounds = propensity_bounds
        self.n_jobs = n_jobs
        self.cause = cause
        self.causes = causes
        self.on_positivity_failure = on_positivity_failure
        self.extrapolate = extrapolate
        self.candidates = candidates
        self.selection_risk = selection_risk
        self.combine = combine

    # ---------------------------------------------------------------- nuisances
    def _seeded(self, model):
        """Clone (deep copy for econml learners) and pass random_state where the model's own is None."""
        model = copy.deepcopy(model) if is_econml_learner(model) else clone(model)
        if getattr(model, "random_state", 0) is None:
            model.random_state = self.random_state
        return model

    def _survival_model(self, model, horizon=None):
        if model is None:
            return DiscreteTimeHazard(horizon=horizon, random_state=self.random_state)
        model = self._seeded(model)
        if isinstance(model, DiscreteTimeHazard) and model.horizon is None:
            model.set_params(horizon=horizon)
        return model

    def _competing(self):
        return self.estimand in COMPETING_ESTIMANDS

    def _event_model(self):
        """The event model: a competing-risks model for the competing-risks estimands (default
        DiscreteTimeCompetingHazard with horizon tau)."""
        if self._competing() and self.event_model is None:
            return DiscreteTimeCompetingHazard(horizon=self.horizon_, random_state=self.random_state)
        model = self._survival_model(self.event_model, self.horizon_)
        if self._competing() and not hasattr(model, "predict_cumulative_incidence"):
            raise ValueError(f"estimand {self.estimand!r} needs a competing-risks event_model (with "
                             f"predict_cumulative_incidence, e.g. DiscreteTimeCompetingHazard), got "
                             f"{type(model).__name__}")
        return model

    def _propensity(self):
        model = None if self.propensity_model is None else self._seeded(self.propensity_model)
        return make_propensity(model, self.calibrate_propensity)

    def _cate_model(self):
        if self.method == "aipcw-causal-forest" and self.cate_model is None:
            return causal_forest(random_state=self.random_state, n_jobs=self.n_jobs)
        if self.cate_model is None:
            # pseudo-outcomes are noisy: small trees, slow learning, early stopping on a validation split
            return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.02, max_leaf_nodes=4,
                                                 min_samples_leaf=200, early_stopping=True, n_iter_no_change=30,
                                                 random_state=self.random_state)
        return self._seeded(self.cate_model)

    def _check_input(self, X, treatment, time, event, n_arms=2):
        if self.estimand not in ESTIMANDS + COMPETING_ESTIMANDS:
            raise ValueError(f"estimand must be one of {ESTIMANDS + COMPETING_ESTIMANDS}, got {self.estimand!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        check_selection(self)
        econml_needed = self.method in ("ipcw-econml", "aipcw-econml")
        if econml_needed and not is_econml_learner(self.cate_model):
            raise ValueError(f"method {self.method!r} needs an econml CATE learner as cate_model, "
                             f"got {type(self.cate_model).__name__}")
        if self.method == "aipcw-causal-forest" and is_econml_learner(self.cate_model):
            raise ValueError(f"method 'aipcw-causal-forest' needs an econml.grf forest (fit(X, T, y)) as cate_model, "
                             f"got {type(self.cate_model).__name__}; pass econml CATE learners with "
                             "method 'aipcw-econml'")
        models = [self._survival_model(self.event_model), self._survival_model(self.censoring_model),
                  make_propensity(self.propensity_model)]
        if not is_econml_learner(self._cate_model()):
            models.append(self._cate_model())
        nan_ok = all(allows_nan(m) for m in models)
        X = check_covariates(X, allow_nan=nan_ok, name="X (covariates)")
        a = check_arms(treatment, len(X), n_arms)
        if self._competing():
            time, event = check_competing_data(time, event, estimand=self.estimand, cause=self.cause,
                                               causes=self.causes, horizon=self.horizon, n=len(X))
        else:
            check_all_cause_event(event, self.estimand)
            time, event = check_survival_outcome(time, event, len(X))
        return X, a, time, event

    def _check_horizon(self, a, time, event, labels=(0, 1)):
        """tau after checking it against the follow-up and events of each arm (``labels``: the arms' names in
        the messages, for arm codes 0, 1, ...)."""
        last = {arm: time[a == code].max() for code, arm in enumerate(labels)}
        if self.horizon is None:
            target = ("restricted mean survival time up to" if self.estimand == "rmst"
                      else "survival probability at")
            arms = ", ".join(f"{t:g} in arm {arm}" for arm, t in last.items())
            raise ValueError(
                f"{type(self).__name__} needs a horizon: the estimand (estimand={self.estimand!r}) is the difference "
                f"in {target} the horizon. Choose it from the question asked (e.g. 5-year survival), no later than "
                f"the last follow-up of either arm ({arms}) and where enough "
                f"patients of both arms are still followed; pass it as {type(self).__name__}(horizon=...)")
        tau = float(self.horizon)
        for arm, last_time in last.items():
            if tau > last_time and not self.extrapolate:
                raise ValueError(f"horizon {tau:g} is beyond the last observed time {last_time:g} in treatment "
                                 f"arm {arm}; CensoredCATE(extrapolate=True) holds each arm's survival constant "
                                 "after its last observed time")
        if not ((event == 1) & (time <= tau)).any():
            raise ValueError(f"no events at or before the horizon {tau:g}")
        for code, arm in enumerate(labels):
            if not ((event[a == code] == 1) & (time[a == code] <= tau)).any():
                warnings.warn(f"treatment arm {arm} has no events at or before the horizon {tau:g}: its survival up "
                              "to the horizon is estimated as 1 (as Kaplan-Meier gives)", UserWarning, stacklevel=3)
        return tau

    def _folds(self, X, a, event, groups):
        """Cross-fitting fold of each patient: StratifiedKFold on the strata treatment x event, or with
        ``groups`` StratifiedGroupKFold on the same strata, which keeps each group in one fold."""
        strata = 2 * a + event
        if groups is None:
            splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        else:
            groups = np.asarray(groups).ravel()
            if len(groups) != len(X):
                raise ValueError(f"groups must have {len(X)} rows like X, got {len(groups)}")
            n_groups = len(np.unique(groups))
            if n_groups < self.n_folds:
                raise ValueError(f"groups has {n_groups} distinct values, fewer than n_folds={self.n_folds}: "
                                 "cross-fitting needs at least one group per fold")
            splitter = StratifiedGroupKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        folds = np.empty(len(X), dtype=np.intp)
        for k, (_, test) in enumerate(splitter.split(X, strata, groups)):
            folds[test] = k
        return folds

    def _cross_fit(self, X, a, time, event):
        """Cross-fitted mu0, mu1, propensity and IPCW/AIPCW pseudo-outcomes (own arm), per patient."""
        nu = self._cross_fit_arms(X, a, time, event, 2)
        mu, propensity = nu.pop("mu"), nu.pop("propensity")
        return {"mu0": mu[:, 0], "mu1": mu[:, 1], "propensity": propensity[:, 1], **nu}

    def _cross_fit_arms(self, X, a, time, event, n_arms):
        """Cross-fitted nuisances of arms 0..n_arms - 1, per patient: "mu" (n, n_arms) = E[f(T) | x, arm],
        "propensity" (n, n_arms) = P(A = arm | x) (generalised propensity), and the IPCW/AIPCW pseudo-outcomes
        of the patient's own arm ("target", "weight", "ipcw", "aipcw", "g_tau"). With ``n_jobs`` > 1 the folds
        are fitted in joblib worker processes; their warnings are raised again here."""
        censored = ((event == 0) & (time < self.horizon_)).astype(np.int8)  # later censoring does not matter
        parts = Parallel(n_jobs=self.n_jobs)(delayed(_warnings_kept)(self._fit_fold, k, X, a, time, event, censored,
                                                                     n_arms) for k in range(self.n_folds))
        out = {key: np.empty((len(X),) + value.shape[1:]) for key, value in parts[0][0][1].items()}
        for (test, part), caught in parts:
            for w in caught:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            for key, value in part.items():
                out[key][test] = value
        return out

    def _fit_fold(self, k, X, a, time, event, censored, n_arms):
        """Nuisances fitted outside fold ``k`` and predicted on it: (its patients, their nuisances)."""
        train, test = np.flatnonzero(self.folds_ != k), np.flatnonzero(self.folds_ == k)
        ev = ArmSurvival(self._event_model(), self.treatment_as_feature, self.extrapolate, n_arms)
        ev.fit(X[train], a[train], time[train], event[train])
        ce = ArmSurvival(self._survival_model(self.censoring_model, self.horizon_), self.treatment_as_feature,
                         self.extrapolate, n_arms)
        ce.fit(X[train], a[train], time[train], censored[train])
        ps = self._propensity().fit(X[train], a[train])
        out = {k: np.empty(len(test)) for k in ("target", "weight", "ipcw", "aipcw", "g_tau")}
        out["mu"], out["propensity"] = np.empty((len(test), n_arms)), np.empty((len(test), n_arms))
        for s in range(0, len(test), _CHUNK):
            rows = slice(s, s + _CHUNK)
            idx = test[rows]
            xi, ai = X[idx], a[idx]
            curves = [self._curves(ev, xi, arm) for arm in range(n_arms)]
            g = np.empty_like(curves[0][0])
            for arm in range(n_arms):  # censoring survival of the patient's own arm only
                g[ai == arm] = ce.predict_survival(xi[ai == arm], arm, self.grid_)
            own = [np.choose(ai[:, None], per_arm) for per_arm in zip(*curves)]
            po = self._pseudo_outcomes(time[idx], event[idx], own, g)
            out["mu"][rows] = np.column_stack([self._functional(*c) for c in curves])
            out["propensity"][rows] = ps.predict_proba(xi)[:, np.searchsorted(ps.classes_, np.arange(n_arms))]
            for key in po._fields:
                out[key][rows] = getattr(po, key)
        return test, out

    def _curves(self, model, X, arm):
        """Curves on the grid that the estimand reads, for arm ``arm``: (S,), or (S, F_cause) with competing risks."""
        if not self._competing():
            return (model.predict_survival(X, arm, self.grid_),)
        surv, cif = model.predict_survival_and_incidence(X, arm, self.grid_)
        return surv, cif[:, :, self.cause - 1]

    def _functional(self, surv, cif=None):
        if self._competing():
            return competing_functional(cif, self.grid_, self.estimand, self.step_)
        return functional(surv, self.grid_, self.estimand, self.step_)

    def _pseudo_outcomes(self, time, event, curves, cens):
        if self._competing():
            return competing_pseudo_outcomes(time, event, self.cause, *curves, cens, self.grid_, self.estimand,
                                             self.step_)
        return censoring_pseudo_outcomes(time, event, *curves, cens, self.grid_, self.estimand, self.step_)

    # ---------------------------------------------------------------- fit / predict
    def fit(self, X, treatment, time, event, groups=None):
        """Fit the nuisances by cross-fitting, then the CATE.

        Parameters
        ----------
        X : array-like of shape (n, p)
            Covariates (NaN allowed if every model accepts it).
        treatment : array-like of shape (n,)
            0/1 treatment; both arms needed.
        time : array-like of shape (n,)
            Follow-up time, >= 0.
        event : array-like of shape (n,)
            1 for an event at ``time``, 0 for a censoring; with a competing-risks estimand k for an event of
            cause k.
        groups : array-like of shape (n,), default=None
            Group of each row (e.g. centre, or patient when a patient has several rows): cross-fitting keeps
            each group in one fold (StratifiedGroupKFold on treatment x event); needs at least ``n_folds``
            groups. None: StratifiedKFold on treatment x event.

        Returns
        -------
        self
        """
        X, a, time, event = self._check_input(X, treatment, time, event)
        self.horizon_ = self._check_horizon(a, time, (event != 0).astype(np.int8))
        self.folds_ = self._folds(X, a, event, groups)
        self.grid_, self.step_ = time_grid(time, self.horizon_, self.n_grid)
        nu = self._cross_fit(X, a, time, event)
        self.nuisances_ = nu
        self.positivity_ = positivity_report(nu["g_tau"], nu["propensity"], self.horizon_,
                                             min_censoring_survival=self.min_censoring_survival,
                                             propensity_bounds=self.propensity_bounds,
                                             errors=self.on_positivity_failure)
        self.scores_ = dr_scores(nu["aipcw"], a, nu["mu0"], nu["mu1"], nu["propensity"])
        self.n_features_in_ = X.shape[1]
        _METHODS[self.method].fit(self, X, a, time, event, nu)
        return self

    def effect(self, X):
        """Estimated CATE (RMST, survival-probability, cumulative-incidence or time-lost difference, treated minus
        control) for covariates X, shape (n,); NotFittedError before :meth:`fit`."""
        X = check_predict_covariates(self, X, allow_nan=True, name="X (covariates)")
        return _METHODS[self.method].effect(self, X)

    def ate_interval(self, alpha=0.05, method="influence", n_boot=1000):
        """ATE (mean of the cross-fitted AIPCW-AIPW scores) with a 1 - alpha interval.

        Parameters
        ----------
        alpha : float, default=0.05
            1 - coverage.
        method : {"influence", "bootstrap"}, default="influence"
            "influence": Wald interval, standard error sd(scores) / sqrt(n); "bootstrap": multiplier bootstrap
            with Exp(1) weights seeded by ``random_state``, percentile interval.
        n_boot : int, default=1000
            Bootstrap replicates.

        Returns
        -------
        (estimate, lower, upper) : tuple of float
        """
        check_is_fitted(self)
        phi = self.scores_
        est = float(phi.mean())
        if method == "influence":
            return wald_interval(phi, alpha)
        if method != "bootstrap":
            raise ValueError(f"method must be 'influence' or 'bootstrap', got {method!r}")
        rng = np.random.default_rng(self.random_state)
        boot = np.empty(n_boot)
        for b in range(n_boot):
            w = rng.exponential(size=len(phi))
            boot[b] = w @ phi / w.sum()
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        return est, float(lo), float(hi)


def fit_cate(df, covariates, *, horizon, treatment="treatment", time="time", event="event", groups=None, **kwargs):
    """Validate a cohort table (:func:`causalehr.data.validate_cohort`) and fit :class:`CensoredCATE` on it.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per patient.
    covariates : list of str
        Covariate columns.
    horizon : float
        tau, required: it defines the estimand (see :class:`CensoredCATE`).
    treatment, time, event : str, default="treatment", "time", "event"
        Columns of the 0/1 treatment, the follow-up time and the 0/1 event (with a competing-risks estimand,
        0 or the cause k of the event).
    groups : str, default=None
        Column whose values cross-fitting keeps together (e.g. the centre), see :meth:`CensoredCATE.fit`.
    **kwargs
        Other parameters of :class:`CensoredCATE`.

    Returns
    -------
    CensoredCATE
        Fitted, with ``feature_names_in_`` = ``covariates``.

    Examples
    --------
    >>> from causalehr.cate import fit_cate
    >>> from causalehr.simulate import simulate
    >>> cohort = simulate("csf1", 300, seed=0)
    >>> est = fit_cate(cohort.data, cohort.covariates, horizon=1.0, n_folds=2, random_state=0)
    >>> est.effect(cohort.data[cohort.covariates]).shape
    (300,)
    """
    from ..data import validate_cohort

    validate_cohort(df, covariates, treatment=treatment, time=time, event=event,
                    competing=kwargs.get("estimand") in COMPETING_ESTIMANDS)
    if groups is not None and groups not in df.columns:
        raise ValueError(f"groups column {groups!r} is missing; available columns: {list(df.columns)}")
    X = df[list(covariates)].to_numpy(dtype=float)
    model = CensoredCATE(horizon=horizon, **kwargs).fit(X, df[treatment].to_numpy(), df[time].to_numpy(),
                                                        df[event].to_numpy(),
                                                        groups=None if groups is None else df[groups].to_numpy())
    model.feature_names_in_ = np.asarray(covariates, dtype=object)
    return model
