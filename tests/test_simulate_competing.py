"""Competing-risks simulators (ehr_diabetes with a competing death, csf2_competing): the true cumulative incidence
and restricted mean time lost against independent Monte Carlo draws and a closed form; the default without death
unchanged."""

import numpy as np
import pandas as pd
import pytest

from causalehr.simulate import simulate
from causalehr.simulate.competing import CauseSpecificWeibull
from causalehr.simulate.ehr import COVARIATES, _cause1_started_at, death_model, event_model
from causalehr.simulate.truth import WeibullPH, weibull_integral

N_MC = 200_000


def _draw(rate, shape, rng):
    """N_MC Weibull times per patient (rows) with cumulative hazard rate t^shape."""
    return (rng.standard_exponential((len(rate), N_MC)) / rate[:, None]) ** (1 / shape)


def _assert_close(truth, draws, what):
    mc, se = draws.mean(1), draws.std(1) / np.sqrt(N_MC)
    err = np.abs(np.asarray(truth) - mc)
    assert np.all(err <= 5 * se + 1e-6), (what, err, se)


def _check_against_monte_carlo(cohort, causes, rng):
    """``causes``: (complication, death) WeibullPH of the first patients of ``cohort``."""
    n = len(causes[0].eta0)
    truth = cohort.truth.iloc[:n]
    for arm in (0, 1):
        t1 = _draw(causes[0].rate(arm), causes[0].shape, rng)
        t2 = _draw(causes[1].rate(arm), causes[1].shape, rng)
        first, is1 = np.minimum(t1, t2), t1 < t2
        _assert_close(truth[f"cif{arm}"], (is1 & (first <= cohort.horizon_surv)).astype(float), f"cif{arm}")
        lost = np.where(is1, np.maximum(cohort.horizon - first, 0.0), 0.0)          # tau - min(T, tau) if J = 1
        _assert_close(truth[f"mu{arm}_rmtl"], lost, f"mu{arm}_rmtl")
    np.testing.assert_allclose(truth["cate_cif"], truth["cif1"] - truth["cif0"])
    np.testing.assert_allclose(truth["cate_rmtl"], truth["mu1_rmtl"] - truth["mu0_rmtl"])


def test_ehr_competing_death_truth_matches_monte_carlo():
    cohort = simulate("ehr_diabetes", n=1000, seed=21, missingness=0.0, competing_death=True, death_effect=-0.3)
    x = cohort.data[COVARIATES].iloc[:5]
    causes = (event_model(x, effect=-0.2, heterogeneity=1.0), death_model(x, -0.3))
    _check_against_monte_carlo(cohort, causes, np.random.default_rng(1))


def test_csf2_competing_truth_matches_monte_carlo_and_closed_form():
    cohort = simulate("csf2_competing", n=6, seed=3)
    x = cohort.data[cohort.covariates].to_numpy()
    causes = (WeibullPH(0.5, x[:, 0], x[:, 1] - 0.5), WeibullPH(0.5, -0.5 + x[:, 2], -0.8 * x[:, 3]))
    _check_against_monte_carlo(cohort, causes, np.random.default_rng(2))
    # equal shapes: F_1(t) = c1 / (c1 + c2) (1 - exp(-(c1 + c2) t^k)), RMTL_1 = c1 / (c1 + c2) (tau - RMST)
    for arm in (0, 1):
        c1, c2 = causes[0].rate(arm), causes[1].rate(arm)
        share = c1 / (c1 + c2)
        np.testing.assert_allclose(cohort.truth[f"cif{arm}"],
                                   share * (1 - np.exp(-(c1 + c2) * np.sqrt(cohort.horizon_surv))), rtol=1e-12)
        np.testing.assert_allclose(cohort.truth[f"mu{arm}_rmtl"],
                                   share * (cohort.horizon - weibull_integral(c1 + c2, 0.5, cohort.horizon)),
                                   rtol=1e-12)


def test_quadrature_against_closed_form_for_unequal_data():
    # shape 1.2 (the complication): the substitution u = t s^2 keeps Gauss-Legendre accurate
    rng = np.random.default_rng(0)
    eta1, eta2, b1, b2 = rng.normal(size=(4, 50))
    model = CauseSpecificWeibull([WeibullPH(1.2, eta1, b1), WeibullPH(1.2, eta2, b2)])
    for arm in (0, 1):
        c = np.exp(eta1 + arm * b1) + np.exp(eta2 + arm * b2)
        share = np.exp(eta1 + arm * b1) / c
        np.testing.assert_allclose(model.cumulative_incidence(3.0, arm), share * (1 - np.exp(-c * 3.0**1.2)),
                                   atol=1e-8)
        np.testing.assert_allclose(model.rmtl(3.0, arm), share * (3.0 - weibull_integral(c, 1.2, 3.0)), atol=1e-8)
        np.testing.assert_allclose(model.cumulative_incidence(3.0, arm, cause=2)
                                   + model.cumulative_incidence(3.0, arm) + model.survival(3.0, arm), 1.0, atol=1e-8)


def test_observed_events_and_the_default_without_death():
    off = simulate("ehr_diabetes", n=5000, seed=7, missingness=0.0)
    on = simulate("ehr_diabetes", n=5000, seed=7, missingness=0.0, competing_death=True)
    assert set(off.data["event"]) == {0, 1} and "cate_cif" not in off.truth
    assert set(on.data["event"]) == {0, 1, 2}
    # death drawn after the complication: covariates, treatment and the truth of the complication are unchanged
    pd.testing.assert_frame_equal(on.data[COVARIATES + ["treatment"]], off.data[COVARIATES + ["treatment"]])
    pd.testing.assert_frame_equal(on.truth[off.truth.columns], off.truth)
    assert abs((on.data["event"] == 0).mean() - 0.8) < 0.02                 # censoring_rate: before either event
    assert on.dictionary.set_index("column").loc["event", "unit"] == "0/1/2"
    # death pre-empts complications: the real risk is below the net risk 1 - S, so is the size of the effect
    assert (on.truth["cif0"] < 1 - on.truth["surv0"]).all()
    assert abs(on.truth["cate_cif"].mean()) < abs(on.truth["cate_surv"].mean()) - 0.005
    # with a time-varying start too: the start and the complication as without death
    tv_off = simulate("ehr_diabetes", n=2000, seed=7, missingness=0.0, time_varying_start=True)
    tv_on = simulate("ehr_diabetes", n=2000, seed=7, missingness=0.0, time_varying_start=True, competing_death=True)
    assert set(tv_on.data["event"]) == {0, 1, 2}
    pd.testing.assert_series_equal(tv_on.truth["start_rate"], tv_off.truth["start_rate"])


def test_a_treatment_that_prevents_death_raises_the_incidence_of_the_complication():
    base = simulate("ehr_diabetes", n=5000, seed=7, competing_death=True, death_effect=0.0).truth
    saves = simulate("ehr_diabetes", n=5000, seed=7, competing_death=True, death_effect=-0.7).truth
    assert (saves["cate_cif"] > base["cate_cif"]).all()
    pd.testing.assert_series_equal(saves["cate_surv"], base["cate_surv"])   # net effect unchanged


def _draw_started(model, start, rng):
    """N_MC times per patient (rows) under the hazard of ``model`` untreated before ``start`` (per draw) and
    treated from it on, by inverting the cumulative hazard."""
    rate, k, hr = model.rate(0)[:, None], model.shape, np.exp(model.effect)[:, None]
    e = rng.standard_exponential(start.shape)
    h_start = rate * start**k
    after = (np.maximum(e - h_start, 0) / (rate * hr) + start**k) ** (1 / k)
    return np.where(e < h_start, (e / rate) ** (1 / k), after)


@pytest.mark.parametrize("grace", [0.5, 8.0])
def test_ehr_strategy_truth_with_a_competing_death_matches_monte_carlo(grace):
    # "start within grace" vs "never" with death competing; grace 8 > horizon: the kink of the outer integrand
    cohort = simulate("ehr_diabetes", n=400, seed=5, missingness=0.0, time_varying_start=True, grace=grace,
                      start_rate=0.5, competing_death=True, death_effect=-0.4)
    truth = cohort.truth.iloc[:4]
    x = cohort.data[COVARIATES].iloc[:4]
    causes = (event_model(x, effect=-0.2, heterogeneity=1.0), death_model(x, -0.4))
    rng = np.random.default_rng(3)
    start = np.minimum(rng.standard_exponential((4, N_MC)) / truth["start_rate"].to_numpy()[:, None], grace)
    h, hs = cohort.horizon, cohort.horizon_surv
    for strategy, s in (("start", start), ("never", np.full((4, N_MC), np.inf))):
        t1, t2 = (_draw_started(m, s, rng) for m in causes)
        first, is1 = np.minimum(t1, t2), t1 < t2
        _assert_close(truth[f"strategy_cif_{strategy}"], (is1 & (first <= hs)).astype(float), f"cif {strategy}")
        _assert_close(truth[f"strategy_rmtl_{strategy}"], np.where(is1, np.maximum(h - first, 0.0), 0.0),
                      f"rmtl {strategy}")
    effects = cohort.strategy_effects.set_index("estimand")
    assert np.isclose(effects.loc["cif", "difference"], cohort.truth["strategy_cif_difference"].mean())
    assert effects.loc["rmtl", "horizon"] == h and effects.loc["cif", "horizon"] == hs
    # starting at time 0 is the treated arm of the point-treatment truth: the two quadratures agree
    model = CauseSpecificWeibull(causes)
    np.testing.assert_allclose(_cause1_started_at(model, 0.0, hs, lambda u: 1.0), truth["cif1"], rtol=1e-6)
    np.testing.assert_allclose(_cause1_started_at(model, 10.0, h, lambda u: h - u), truth["mu0_rmtl"], rtol=1e-6)
