"""The doubly robust transport estimator (Dahabreh et al. 2020) against a hand-computed value and against the
simulator's truth under a covariate shift between source and target."""

import warnings

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from causalehr.cate import CensoredCATE, transport_ate
from causalehr.nuisance import DiscreteTimeHazard
from causalehr.simulate import simulate


class _Fitted:
    """A fitted learner stand-in: given scores and a CATE of x."""

    def __init__(self, scores):
        self.scores_ = np.asarray(scores, float)

    def effect(self, X):
        return X[:, 0]


def test_transport_with_a_covariate_free_sampling_model_is_the_target_mean_plus_the_source_residual():
    # 4 source patients (CATE x = 0, 1, 0, 1; scores 1, 2, 0, 3) and 2 target patients (x = 2, 4); with the prior as
    # sampling model p = 4/6 in each stratified fold, w = (1 - p) / p = 1/2:
    # (1/2) [(2 + 4) + 1/2 ((1 - 0) + (2 - 1) + (0 - 0) + (3 - 1))] = (6 + 2) / 2 = 4
    X_source, X_target = np.array([[0.0], [1.0], [0.0], [1.0]]), np.array([[2.0], [4.0]])
    estimate, lower, upper = transport_ate(_Fitted([1, 2, 0, 3]), X_source, X_target,
                                           sampling_model=DummyClassifier(strategy="prior"), random_state=0)
    assert estimate == pytest.approx(4.0)
    # influence function (n / n_T) [w (phi - tau) on the source; tau - estimate on the target] = 3 x
    # [0.5, 0.5, 0, 1, -2, 0]: sd 3 x 0.9832 (ddof 1), SE = that / sqrt(6)
    se = 3 * np.std([0.5, 0.5, 0, 1, -2, 0], ddof=1) / np.sqrt(6)
    assert (lower, upper) == pytest.approx((4 - 1.959964 * se, 4 + 1.959964 * se), rel=1e-5)


def test_transport_errors_name_the_mismatch():
    with pytest.raises(ValueError, match="X_source has 3 rows but the model was fitted on 4 patients"):
        transport_ate(_Fitted([1, 2, 0, 3]), np.zeros((3, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="X_source has 1 covariates, X_target 2"):
        transport_ate(_Fitted([1, 2, 0, 3]), np.zeros((4, 1)), np.zeros((2, 2)))


def test_transport_recovers_the_target_effect_under_a_covariate_shift():
    # csf1: the effect falls with X1 (Cui et al. 2023); the source holds mostly X1 < 0.5, the target mostly above
    cohort = simulate("csf1", 6000, seed=0, n_covariates=5)
    X, d = cohort.data[cohort.covariates].to_numpy(), cohort.data
    source = np.random.default_rng(100).random(len(X)) < 1 / (1 + np.exp(-3 * (0.5 - X[:, 0])))
    model = CensoredCATE(horizon=cohort.horizon, method="aipcw-dr", n_folds=2, random_state=0,
                         event_model=DiscreteTimeHazard(n_bins=10), censoring_model=DiscreteTimeHazard(n_bins=10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[source], *(d[c].to_numpy()[source] for c in ("treatment", "time", "event")))
    truth = cohort.truth["cate_rmst"].to_numpy()[~source].mean()
    source_ate, _, _ = model.ate_interval()
    estimate, lower, upper = transport_ate(model, X[source], X[~source], random_state=0)
    assert lower < truth < upper
    assert abs(estimate - truth) < 0.5 * abs(source_ate - truth)  # the source's own ATE is far off
