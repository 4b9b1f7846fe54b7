"""Tests of causalehr.survival: Kaplan-Meier with weights and delayed entry, survival at a time, median, RMST and its
variance, RMST difference; by hand, against lifelines, and bad input."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from causalehr.survival import kaplan_meier, median_survival, rmst, rmst_difference, rmst_variance, survival_at

# 5 patients: times 1, 2, 2+, 3, 5+ (+ = censored)
TIME, EVENT = [1, 2, 2, 3, 5], [1, 1, 0, 1, 0]


def test_hand_computed_five_patients():
    curve = kaplan_meier(TIME, EVENT)
    # t=1: 1 of 5 -> 0.8; t=2: 1 of 4 (the censoring at 2 is still at risk) -> 0.6; t=3: 1 of 2 -> 0.3
    np.testing.assert_array_equal(curve["time"], [1, 2, 3])
    np.testing.assert_array_equal(curve["at_risk"], [5, 4, 2])
    np.testing.assert_array_equal(curve["events"], [1, 1, 1])
    np.testing.assert_allclose(curve["survival"], [0.8, 0.6, 0.3])
    np.testing.assert_allclose(survival_at(curve, [0.5, 1, 2.5, 3, 10]), [1, 0.8, 0.6, 0.3, 0.3])
    assert survival_at(curve, 0.0) == 1.0 and isinstance(survival_at(curve, 0.0), float)
    assert median_survival(curve) == 3.0
    # RMST(4) = 1*1 + 0.8*1 + 0.6*1 + 0.3*1
    assert rmst(curve, 4.0) == pytest.approx(2.7)
    # tau between event times: 1 + 0.8 + 0.6*0.5; tau at an event time: 1 + 0.8
    assert rmst(curve, 2.5) == pytest.approx(2.1)
    assert rmst(curve, 2.0) == pytest.approx(1.8)
    # tau beyond the last time (5, censored): the last value 0.3 is carried on: 1 + 0.8 + 0.6 + 0.3*3
    assert rmst(curve, 6.0) == pytest.approx(3.3)
    assert rmst(curve, 0.5) == 0.5
    # variance up to 4: A_j = int_{t_j}^4 S = 1.7, 0.9, 0.3; sum of A_j^2 d_j / (n_j (n_j - d_j))
    assert rmst_variance(curve, 4.0) == pytest.approx(1.7**2 / (5 * 4) + 0.9**2 / (4 * 3) + 0.3**2 / (2 * 1))
    # up to 2.5 the event at 3 is out: A = 0.8 + 0.6*0.5 = 1.1, 0.6*0.5 = 0.3
    assert rmst_variance(curve, 2.5) == pytest.approx(1.1**2 / 20 + 0.3**2 / 12)


def test_curve_to_zero_median_and_variance_terms():
    # KM: S = 0.75 after t=1 (4 at risk), censoring at 2, S = 0.375 after t=3 (2 at risk), 0 after t=4
    curve = kaplan_meier([1, 2, 3, 4], [1, 0, 1, 1])
    assert rmst(curve, 3.5) == pytest.approx(1 + 0.75 * 2 + 0.375 * 0.5)
    assert rmst_variance(curve, 3.5) == pytest.approx(1.6875**2 / (4 * 3) + 0.1875**2 / (2 * 1))
    assert rmst_variance(curve, 9.0) == pytest.approx(1.875**2 / 12 + 0.375**2 / 2)  # last term n = d: 0
    assert median_survival(curve) == 3.0
    assert np.isnan(median_survival(kaplan_meier([1, 2, 3], [1, 0, 0])))   # stays at 2/3


def test_rmst_difference_hand_computed():
    diff = rmst_difference([1, 2, 3, 4, 1, 2, 3, 4], [1, 0, 1, 1, 0, 0, 0, 1], [1, 1, 1, 1, 0, 0, 0, 0], 3.5)
    assert diff["estimate"] == pytest.approx(2.6875 - 3.5)
    assert diff["se"] == pytest.approx(np.sqrt(0.2548828125))   # control arm: no event before 3.5, variance 0
    assert diff["lower"] == pytest.approx(diff["estimate"] - 1.959963984540054 * diff["se"])
    assert diff["upper"] == pytest.approx(diff["estimate"] + 1.959963984540054 * diff["se"])


def test_weighted_hand_computed_with_ties():
    curve = kaplan_meier([1, 2, 2, 3], [1, 0, 1, 1], entry=np.zeros(4), weight=[1, 2, 1, 1])
    # t=1: 1 of 5 -> 0.8; t=2: 1 of 4 -> 0.6; t=3: 1 of 1 -> 0
    np.testing.assert_allclose(curve["survival"], [0.8, 0.6, 0.0])
    np.testing.assert_allclose(curve["at_risk"], [5, 4, 1])
    assert rmst(curve, 3.0) == pytest.approx(2.4)
    assert rmst(curve, 1.5) == pytest.approx(1.4)
    assert survival_at(curve, 2.5) == pytest.approx(0.6)
    assert survival_at(curve, 0.5) == 1.0


def test_delayed_entry_hand_computed():
    # at risk on (entry, time]: at t=1 rows 0, 1 -> 0.5; at t=3 rows 1, 2 -> 0.25; at t=4 row 2 -> 0
    curve = kaplan_meier([1, 3, 4], [1, 1, 1], entry=[0, 0, 2])
    np.testing.assert_array_equal(curve["at_risk"], [2, 2, 1])
    np.testing.assert_allclose(curve["survival"], [0.5, 0.25, 0.0])
    # a row that ends where it enters is never at risk; without entry an event at time 0 counts
    np.testing.assert_array_equal(kaplan_meier([2, 2, 3], [1, 0, 1], entry=[0, 2, 0])["at_risk"], [2, 1])
    np.testing.assert_allclose(kaplan_meier([0, 2], [1, 1])["survival"], [0.5, 0.0])


def test_zero_weights_drop_rows():
    time, event, w = [1, 2, 2, 3, 4], [1, 1, 0, 1, 1], [1, 0, 1, 1, 0]
    curve = kaplan_meier(time, event, weight=w)
    kept = kaplan_meier([1, 2, 3], [1, 0, 1])
    # the zero-weight events at 2 and 4 stay as times with no weighted event; the curve is that of the other rows
    np.testing.assert_array_equal(curve["events"], [1, 0, 1, 0])
    np.testing.assert_allclose(survival_at(curve, [0.5, 1, 2, 3, 4, 5]), survival_at(kept, [0.5, 1, 2, 3, 4, 5]))
    # nobody left at risk at 4 (weight 0): hazard 0, not NaN
    assert survival_at(curve, 4.0) == 0.0 and not curve["survival"].isna().any()
    assert kaplan_meier([1, 2], [1, 1], weight=[0, 0])["survival"].tolist() == [1.0, 1.0]


@pytest.mark.filterwarnings("ignore:It looks like your weights are not integers")  # lifelines on IPW weights
def test_matches_lifelines_with_entry_and_weights():
    rng = np.random.default_rng(0)
    n = 300
    entry = rng.uniform(0, 1, n)
    exit_ = entry + rng.exponential(1.0, n).round(2) + 0.01   # ties from the rounding
    event = rng.random(n) < 0.7
    w = rng.uniform(0.5, 3, n)
    ours = kaplan_meier(exit_, event, entry=entry, weight=w)
    km = KaplanMeierFitter().fit(exit_, event, entry=entry, weights=w)
    theirs = km.survival_function_.iloc[:, 0]
    np.testing.assert_allclose(ours["survival"], theirs.loc[ours["time"]].to_numpy(), rtol=1e-10, atol=1e-12)


def test_matches_lifelines_unweighted_with_ties():
    rng = np.random.default_rng(0)
    time = np.round(rng.exponential(2, 300), 1)  # ties on purpose
    event = (rng.random(300) < 0.7).astype(float)
    km = KaplanMeierFitter().fit(time, event)
    curve = kaplan_meier(time, event)
    grid = [0.0, 0.5, 1.0, 2.35, 5.0, 30.0]
    np.testing.assert_allclose(survival_at(curve, grid), km.survival_function_at_times(grid), rtol=1e-12)
    assert median_survival(curve) == km.median_survival_time_
    for tau in (0.05, 1.0, 2.35, 4.0, 100.0):   # before the first event, between and at event times, beyond the end
        assert rmst(curve, tau) == pytest.approx(restricted_mean_survival_time(km, t=tau), rel=1e-12)


def test_matches_lifelines_rmst_on_rossi():
    from lifelines.datasets import load_rossi

    d = load_rossi()
    d = d[d["fin"] == 1]
    kmf = KaplanMeierFitter().fit(d["week"], d["arrest"])
    assert rmst(kaplan_meier(d["week"], d["arrest"]), 50) == pytest.approx(restricted_mean_survival_time(kmf, t=50))


@pytest.mark.parametrize("kwargs, message", [
    (dict(time=[1, 1], event=[1, 1], entry=[0, 2]), "time must be >= entry: 1 rows have time < entry or a missing entry"),
    (dict(time=[1, 1], event=[1, 1], entry=[0, np.nan]), "time must be >= entry: 1 rows have time < entry or a missing"),
    (dict(time=[1, 2], event=[1, 1], entry=[1, 0]), "an event row must end after its entry: 1 event rows have time"),
    (dict(time=[1, 1], event=[1, 1], weight=[1, -1]), "weight must be finite and >= 0: 1 rows are not"),
    (dict(time=[1, 1], event=[1, 1], weight=[1, np.inf]), "weight must be finite and >= 0: 1 rows are not"),
    (dict(time=[1, 2, 3], event=[1, 0]), r"time, event must be 1-d arrays of the same length, got shapes \(3,\), \(2,\)"),
    (dict(time=[1, 2], event=[1, 0], entry=[0, 0], weight=[1]),
     r"time, event, entry, weight must be 1-d arrays of the same length, got shapes \(2,\), \(2,\), \(2,\), \(1,\)"),
    (dict(time=[[1, 2]], event=[[1, 0]]), r"time, event must be 1-d arrays of the same length, got shapes \(1, 2\)"),
    (dict(time=[1, np.nan], event=[1, 0]), "time must be finite: 1 rows are not"),
    (dict(time=[-1, 2], event=[1, 0]), "time must be >= 0: 1 rows are not"),
    (dict(time=[1, 2], event=[1, 2]), "event must be 0/1: 1 rows are not"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(**kwargs)


def test_rmst_difference_bad_input():
    with pytest.raises(ValueError, match="time, event and group must have the same length, got 3, 3 and 2"):
        rmst_difference([1, 2, 3], [1, 0, 1], [0, 1], 2.0)
