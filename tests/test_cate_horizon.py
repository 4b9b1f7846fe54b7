"""The horizon (proposing it where censoring positivity holds, stopping on positivity failure, extrapolating) and
the default propensity on unscaled covariates."""

import warnings

import numpy as np
import pytest

from causalehr.cate import CensoredCATE, propose_horizon
from causalehr.nuisance import ArmSurvival, MarginalKaplanMeier


def exponential_cohort(n, seed, censoring_rate=1.0, admin0=None):
    """Event rate 0.3 (x 0.7 when treated and x1 > 0); censoring Exp(censoring_rate) in both arms, so that
    G(t) = exp(-censoring_rate t); arm 0 optionally administratively censored at ``admin0``."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    a = rng.binomial(1, 0.5, n)
    T = rng.exponential(1 / (0.3 * np.where((a == 1) & (X[:, 0] > 0), 0.7, 1.0)))
    C = rng.exponential(1 / censoring_rate, n)
    if admin0 is not None:
        C = np.where(a == 0, np.minimum(C, admin0), C)
    return X, a, np.minimum(T, C), (T <= C).astype(int)


def test_propose_horizon_finds_where_the_censoring_survival_crosses_the_threshold():
    X, a, t, d = exponential_cohort(6000, 0)
    proposal = propose_horizon(X, a, t, d, min_censoring_survival=0.05, censoring_model=MarginalKaplanMeier())
    # true G(t) = exp(-t) = 0.05 at t = log(20) = 3.0: it lies between the proposal and the next candidate time
    # (50 quantiles of the event times), up to the Kaplan-Meier error of G there (about 0.1 on the log scale)
    table = proposal.table
    row = table[table["time"] == proposal.horizon].iloc[0]
    assert row["ok"] and min(row["min_g_0"], row["min_g_1"]) >= 0.05
    later = table[table["time"] > proposal.horizon].iloc[0]
    assert not later["ok"] and (later["share_0"] < 0.95 or later["share_1"] < 0.95)
    assert proposal.horizon < np.log(20) + 0.1 and later["time"] > np.log(20) - 0.1
    assert (table["at_risk_0"].diff().dropna() <= 0).all()


def test_positivity_failure_stops_when_asked_with_the_warning_message():
    X, a, t, d = exponential_cohort(600, 1, censoring_rate=2.0)
    kwargs = dict(horizon=1.8, n_folds=2, random_state=0, min_censoring_survival=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CensoredCATE(**kwargs).fit(X, a, t, d)
    messages = [str(w.message) for w in caught if "censoring survival" in str(w.message)]
    assert len(messages) == 1
    with pytest.raises(ValueError) as error:
        CensoredCATE(on_positivity_failure="raise", **kwargs).fit(X, a, t, d)
    assert str(error.value) == messages[0]
    assert str(error.value).startswith("censoring survival G(t-|x,a) before horizon 1.8 is below 0.05 for ")


def test_extrapolate_holds_each_arms_survival_after_its_last_time():
    X, a, t, d = exponential_cohort(800, 2, censoring_rate=0.2, admin0=2.0)
    last0 = t[a == 0].max()
    with pytest.raises(ValueError) as error:
        CensoredCATE(horizon=3.0).fit(X, a, t, d)
    assert str(error.value) == (f"horizon 3 is beyond the last observed time {last0:g} in treatment arm 0; "
                                "CensoredCATE(extrapolate=True) holds each arm's survival constant after its "
                                "last observed time")
    arms = ArmSurvival(MarginalKaplanMeier(), hold_after_last=True).fit(X, a, t, d)
    np.testing.assert_array_equal(arms.last_time_, [last0, t[a == 1].max()])
    s = arms.predict_survival(X[:3], 0, [last0, 2.5, 3.0])
    np.testing.assert_array_equal(s[:, 1:], s[:, [0, 0]])
    est = CensoredCATE(horizon=3.0, extrapolate=True, method="t-learner", n_folds=2, random_state=0,
                       event_model=MarginalKaplanMeier(), censoring_model=MarginalKaplanMeier()).fit(X, a, t, d)
    # RMST of arm 0 up to 3 = RMST up to its last time + (3 - last) S0(last)
    km0 = est.survival_model_.predict_survival(X[:1], 0, est.grid_)
    assert km0[0, -1] == km0[0, np.searchsorted(est.grid_, last0)]
    assert np.isfinite(est.effect(X)).all()


def test_default_propensity_solves_its_likelihood_on_unscaled_counts():
    # counts in the hundreds to millions (CD4, viral load): the default logistic regression reaches the optimum of
    # its penalised log likelihood, gradient X'(e - a) + coef / C = 0 (C = 1), in the covariates' own units
    from causalehr.nuisance import make_propensity

    rng = np.random.default_rng(0)
    n = 5000
    cd4, viral_load = rng.uniform(0, 1500, n), rng.lognormal(9, 1.5, n)
    X = np.column_stack([cd4, viral_load, rng.uniform(20, 70, n), rng.poisson(2000, n)])
    a = rng.binomial(1, 1 / (1 + np.exp(-((cd4 - 700) / 300 + (np.log(viral_load) - 9) / 1.5))))
    model = make_propensity().fit(X, a)
    e = model.predict_proba(X)[:, 1]
    gradient = X.T @ (e - a) + model.coef_.ravel()
    # Newton: 1e-13 relative to sum |x|; the earlier lbfgs default stopped at 2e-7
    np.testing.assert_allclose(gradient / np.abs(X).sum(axis=0), 0, atol=1e-10)
    assert abs(np.sum(e - a)) < 1e-8 * n   # intercept (unpenalised)
