"""ConformalITE: the weighted conformal quantile by hand, and coverage of the individual intervals in a small
simulation with covariate-dependent treatment and censoring."""

import numpy as np
import pytest

from causalehr.cate.conformal import ConformalITE, weighted_conformal_quantile


def test_weighted_conformal_quantile_hand_values():
    scores, weights = np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0])
    # sorted scores 1, 2, 3 with cumulative weights 1, 3, 4; total with the test point 4 + w_test
    np.testing.assert_array_equal(weighted_conformal_quantile(scores, weights, [1.0, 1.0, 4.0], 0.5),
                                  [2.0, 2.0, 3.0])
    assert weighted_conformal_quantile(scores, weights, [1.0], 0.9)[0] == np.inf   # 4 < 0.9 x 5


def _draw(n, rng):
    X = rng.uniform(size=(n, 2))
    a = rng.binomial(1, 0.25 + 0.5 * X[:, 0])
    scale0 = np.exp(-0.6 * X[:, 1])
    t0 = scale0 * rng.weibull(1.5, n)
    t1 = scale0 * np.where(X[:, 0] > 0.5, 1.6, 1.0) * rng.weibull(1.5, n)
    c = rng.uniform(0.3, 3.0, n) * np.exp(-0.7 * X[:, 0])
    return X, a, t0, t1, c


def test_individual_intervals_cover_in_a_small_simulation():
    rng = np.random.default_rng(11)
    X, a, t0, t1, c = _draw(3000, rng)
    t = np.where(a == 1, t1, t0)
    model = ConformalITE(horizon=1.0, alpha=0.1, random_state=0).fit(X, a, np.minimum(t, c), t <= c, c)
    Xt, _, s0, s1, _ = _draw(4000, rng)
    y0, y1 = np.minimum(s0, 1.0), np.minimum(s1, 1.0)
    iv = model.predict_interval(Xt)
    # each arm at 1 - alpha / 2 = 0.95 (binomial standard error of a share of 4000 about 0.0035)
    assert np.mean((iv["lower0"] <= y0) & (y0 <= iv["upper0"])) > 0.94
    assert np.mean((iv["lower1"] <= y1) & (y1 <= iv["upper1"])) > 0.94
    ite = y1 - y0
    assert np.mean((iv["effect_lower"] <= ite) & (ite <= iv["effect_upper"])) > 0.9
    # the intervals of min(T(a), tau) stay within [0, tau]
    assert np.all(iv["upper1"] <= 1.0) and np.all(iv["lower0"] >= 0.0)


def test_bad_input_is_named():
    rng = np.random.default_rng(1)
    X, a, t0, t1, c = _draw(300, rng)
    with pytest.raises(ValueError, match=r"^arm 0 has fewer than 20 patients followed to the horizon 2.9 "
                                         r"\(censoring_time >= horizon\): too few to calibrate$"):
        ConformalITE(horizon=2.9).fit(X, a, np.minimum(t0, c), t0 <= c, c)
    with pytest.raises(ValueError, match=r"^censoring_time must have one value per patient, at or after the "
                                         r"follow-up time$"):
        ConformalITE(horizon=1.0).fit(X, a, np.minimum(t0, c), t0 <= c, c - 0.1)
