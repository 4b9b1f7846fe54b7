"""ehr_diabetes: truth vs independent Monte Carlo draws (point treatment and clone-censor-weight strategies),
censoring calibration, knobs, reproducibility, output format."""

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from causalehr.data import validate_cohort
from causalehr.simulate import load_cohort, simulate
from causalehr.simulate.ehr import COVARIATES, DRUG_CLASSES, event_model

N_MC = 200_000


def _draw_weibull(rate, shape, hr, start, rng):
    """Event times under hazard rate * shape * t^(shape-1) * hr^(1[t >= start]) by inverting the cumulative
    hazard, N_MC draws per patient (rows)."""
    e = rng.standard_exponential((len(rate), N_MC))
    rate, hr, start = rate[:, None], hr[:, None], np.broadcast_to(start, e.shape)
    h_start = rate * start**shape
    t_after = ((np.maximum(e - h_start, 0) / (rate * hr)) + start**shape) ** (1 / shape)
    return np.where(e < h_start, (e / rate) ** (1 / shape), t_after)


def _assert_close(truth, draws, what):
    mc, se = draws.mean(1), draws.std(1) / np.sqrt(N_MC)
    err = np.abs(np.asarray(truth) - mc)
    assert np.all(err <= 5 * se + 1e-6), (what, err, se)


def test_point_treatment_truth_matches_monte_carlo():
    cohort = simulate("ehr_diabetes", n=1000, seed=21, missingness=0.0)
    truth = cohort.truth.iloc[:5]
    model = event_model(cohort.data[COVARIATES].iloc[:5], effect=-0.2, heterogeneity=1.0)
    rng = np.random.default_rng(1)
    rate, shape = model.rate(0), model.shape
    t0 = _draw_weibull(rate, shape, np.ones(5), np.inf, rng)
    t1 = _draw_weibull(rate, shape, np.exp(model.effect), 0.0, rng)
    h, hs = cohort.horizon, cohort.horizon_surv
    _assert_close(truth["mu0_rmst"], np.minimum(t0, h), "mu0_rmst")
    _assert_close(truth["mu1_rmst"], np.minimum(t1, h), "mu1_rmst")
    _assert_close(truth["surv0"], (t0 > hs).astype(float), "surv0")
    _assert_close(truth["surv1"], (t1 > hs).astype(float), "surv1")


@pytest.mark.parametrize("grace", [0.5, 8.0])
def test_strategy_truth_matches_monte_carlo(grace):
    # grace 8 > horizon: starting after the horizon no longer matters (the kink of the integrand)
    cohort = simulate("ehr_diabetes", n=1000, seed=5, missingness=0.0, time_varying_start=True, grace=grace,
                      start_rate=0.5)
    truth = cohort.truth.iloc[:4]
    model = event_model(cohort.data[COVARIATES].iloc[:4], effect=-0.2, heterogeneity=1.0)
    rng = np.random.default_rng(2)
    natural_start = rng.standard_exponential((4, N_MC)) / truth["start_rate"].to_numpy()[:, None]
    t_start = _draw_weibull(model.rate(0), model.shape, np.exp(model.effect), np.minimum(natural_start, grace), rng)
    t_never = _draw_weibull(model.rate(0), model.shape, np.ones(4), np.inf, rng)
    h, hs = cohort.horizon, cohort.horizon_surv
    _assert_close(truth["strategy_rmst_start"], np.minimum(t_start, h), "rmst start")
    _assert_close(truth["strategy_rmst_never"], np.minimum(t_never, h), "rmst never")
    _assert_close(truth["strategy_surv_start"], (t_start > hs).astype(float), "surv start")
    _assert_close(truth["strategy_surv_difference"], (t_start > hs).astype(float) - (t_never > hs), "diff")


@pytest.mark.parametrize("target", [0.7, 0.85, 0.95])
def test_realised_censoring_rate_hits_target(target):
    d = simulate("ehr_diabetes", n=20_000, seed=3, censoring_rate=target).data
    assert abs((1 - d["event"].mean()) - target) < 0.02
    tv = simulate("ehr_diabetes", n=20_000, seed=3, censoring_rate=target, time_varying_start=True).data
    assert abs((1 - tv["event"].mean()) - target) < 0.02


def test_unreachable_censoring_rate_is_refused():
    with pytest.raises(ValueError, match=r"censoring_rate=0.3 is not above the share censored by the administrative "
                                         r"end of follow-up alone \(0\.\d{3}\); raise censoring_rate"):
        simulate("ehr_diabetes", n=2000, seed=1, censoring_rate=0.3)


def _naive_rmst_difference(cohort):
    rmst = []
    for arm in (0, 1):
        d = cohort.data[cohort.data["treatment"] == arm]
        rmst.append(restricted_mean_survival_time(KaplanMeierFitter().fit(d["time"], d["event"]), t=cohort.horizon))
    return rmst[1] - rmst[0]


def test_confounding_knob_widens_gap_between_naive_and_true_effect():
    gaps = []
    for confounding in (0.0, 1.0, 2.0):
        cohort = simulate("ehr_diabetes", n=20_000, seed=3, confounding=confounding, centre_heterogeneity=0.0)
        gaps.append(abs(_naive_rmst_difference(cohort) - cohort.truth["cate_rmst"].mean()))
    assert gaps[0] < 0.06 < gaps[0] + 0.06 < gaps[1] < gaps[2] - 0.05


def test_overlap_knob_narrows_propensity_range():
    wide = simulate("ehr_diabetes", n=5000, seed=1, overlap=0.0).truth["propensity"]
    narrow = simulate("ehr_diabetes", n=5000, seed=1, overlap=0.15).truth["propensity"]
    assert narrow.min() >= 0.15 and narrow.max() <= 0.85
    assert wide.min() < 0.1 and wide.max() > 0.9
    assert narrow.max() - narrow.min() < wide.max() - wide.min() - 0.1


def test_missingness_knob_raises_nan_share_and_is_informative():
    complete = simulate("ehr_diabetes", n=20_000, seed=2, missingness=0.0)
    assert not complete.data[COVARIATES].isna().any().any()
    shares = [simulate("ehr_diabetes", n=20_000, seed=2, missingness=m).data["hba1c"].isna().mean() for m in (0.05, 0.2, 0.4)]
    assert shares[0] + 0.05 < shares[1] < shares[2] - 0.05
    # masking is the last draw, so the same seed gives the complete values: HbA1c is missing more often
    # in well-controlled patients
    masked = simulate("ehr_diabetes", n=20_000, seed=2, missingness=0.2).data["hba1c"].isna()
    controlled = complete.data["hba1c"] < 7.0
    assert masked[controlled].mean() > masked[~controlled].mean() + 0.05


def test_centres_differ_and_knob_removes_differences():
    d = simulate("ehr_diabetes", n=20_000, seed=4, n_centres=6).data
    assert sorted(d["centre"].unique()) == [1, 2, 3, 4, 5, 6]
    by_centre = d.groupby("centre")[["treatment", "age"]].mean()
    assert by_centre["treatment"].max() - by_centre["treatment"].min() > 0.1
    same = simulate("ehr_diabetes", n=20_000, seed=4, n_centres=6, centre_heterogeneity=0.0).data
    assert same.groupby("centre")["age"].mean().std() < 0.5 < by_centre["age"].std()


def test_reproducible_valid_and_documented(tmp_path):
    a = simulate("ehr_diabetes", n=3000, seed=9, time_varying_start=True, grace=(0.5, 1.0))
    b = simulate("ehr_diabetes", n=3000, seed=9, time_varying_start=True, grace=(0.5, 1.0))
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.strategy_effects, b.strategy_effects)
    validate_cohort(a.data, a.covariates)
    assert len(a.covariates) == 20
    assert set(a.dictionary["column"]) == set(a.data.columns)
    assert a.dictionary.set_index("column").loc["egfr", "unit"] == "mL/min/1.73m2"
    # observed starts happen during follow-up; treatment = started during follow-up
    started = a.data["treatment_start"].notna()
    assert (a.data.loc[started, "treatment_start"] < a.data.loc[started, "time"]).all()
    assert (a.data["treatment"] == started.astype(int)).all()
    effects = a.strategy_effects
    assert list(effects.columns) == ["grace", "estimand", "horizon", "strategy_start", "strategy_never", "difference"]
    assert effects[["grace", "estimand"]].values.tolist() == [[0.5, "rmst"], [0.5, "surv"], [1.0, "rmst"], [1.0, "surv"]]
    assert np.isclose(effects.loc[0, "difference"], a.truth["strategy_rmst_difference"].mean())
    assert np.isclose(effects.loc[2, "difference"], a.truth["strategy_rmst_difference_grace1"].mean())
    a.to_parquet(tmp_path)
    back = load_cohort(tmp_path)
    pd.testing.assert_frame_equal(back.strategy_effects, effects)
    pd.testing.assert_frame_equal(back.data, a.data)
    assert back.params["grace"] == [0.5, 1.0]


def test_nonlinear_start_model_changes_who_starts():
    linear = simulate("ehr_diabetes", n=5000, seed=1, time_varying_start=True).truth["start_rate"]
    nonlinear = simulate("ehr_diabetes", n=5000, seed=1, time_varying_start=True, start_model="nonlinear").truth["start_rate"]
    assert np.corrcoef(np.log(linear), np.log(nonlinear))[0, 1] < 0.7
    with pytest.raises(ValueError, match="start_model must be 'linear' or 'nonlinear', got 'cubic'"):
        simulate("ehr_diabetes", n=10, seed=1, time_varying_start=True, start_model="cubic")


def _km_survival_and_rmst(d, t, tau):
    km = KaplanMeierFitter().fit(d["time"], d["event"])
    return float(km.survival_function_at_times(t).iloc[0]), restricted_mean_survival_time(km, t=tau)


def test_observed_data_agree_with_truth_when_censoring_is_light():
    # follow-up 10 years for everyone and little loss to follow-up: Kaplan-Meier of the observed data
    light = dict(n=20_000, seed=8, censoring_rate=0.41, min_follow_up=10.0, max_follow_up=10.0)
    # randomised point treatment: each arm's KM estimates the mean true survival of that arm
    c = simulate("ehr_diabetes", confounding=0.0, centre_heterogeneity=0.0, **light)
    for arm in (0, 1):
        surv, rmst = _km_survival_and_rmst(c.data[c.data["treatment"] == arm], c.horizon_surv, c.horizon)
        assert abs(surv - c.truth[f"surv{arm}"].mean()) < 0.015
        assert abs(rmst - c.truth[f"mu{arm}_rmst"].mean()) < 0.06
    # time-varying start with a grace period beyond the horizons: the strategy is the natural course
    tv = simulate("ehr_diabetes", time_varying_start=True, grace=20.0, **light)
    surv, rmst = _km_survival_and_rmst(tv.data, tv.horizon_surv, tv.horizon)
    assert abs(surv - tv.truth["strategy_surv_start"].mean()) < 0.015
    assert abs(rmst - tv.truth["strategy_rmst_start"].mean()) < 0.06
    # and it differs from never starting
    assert tv.truth["strategy_surv_start"].mean() - tv.truth["strategy_surv_never"].mean() > 0.03


def test_drug_classes_truth_matches_monte_carlo_and_the_planted_rule():
    cohort = simulate("ehr_diabetes", 3000, seed=8, missingness=0.0, drug_classes=True)
    x, truth = cohort.data[COVARIATES], cohort.truth
    # per class RMST and survival of 5 patients against draws from the class's Weibull hazard
    model = event_model(x.iloc[:5], effect=0.0, heterogeneity=1.0)
    low_egfr, high_bmi = (x["egfr"] < 60).to_numpy()[:5], (x["bmi"] >= 35).to_numpy()[:5]
    log_hr = {"dpp4": 0.0, "sglt2": 0.05 - 0.65 * low_egfr, "glp1": 0.10 - 0.60 * high_bmi, "sulfonylurea": 0.15}
    rng = np.random.default_rng(4)
    draws = {}
    for name in DRUG_CLASSES:
        t = _draw_weibull(model.rate(0), model.shape, np.exp(log_hr[name]) * np.ones(5), 0.0, rng)
        draws[name] = np.minimum(t, cohort.horizon)
        _assert_close(truth[f"mu_rmst_{name}"].iloc[:5], draws[name], f"mu_rmst_{name}")
        _assert_close(truth[f"surv_{name}"].iloc[:5], (t > cohort.horizon_surv).astype(float), f"surv_{name}")
    best = np.array([max(DRUG_CLASSES, key=lambda c: draws[c][i].mean()) for i in range(5)])
    np.testing.assert_array_equal(truth["optimal_arm"].iloc[:5], best)
    # the planted rule: SGLT2i for eGFR < 60, else GLP-1 RA for BMI >= 35, else DPP-4i
    rule = np.where(x["egfr"] < 60, "sglt2", np.where(x["bmi"] >= 35, "glp1", "dpp4"))
    np.testing.assert_array_equal(truth["optimal_arm"], rule)
    rmst = truth[[f"mu_rmst_{c}" for c in DRUG_CLASSES]].to_numpy()
    np.testing.assert_allclose(truth["optimal_rmst"], rmst.max(axis=1))
    np.testing.assert_allclose(truth["cate_rmst"], truth["mu_rmst_sglt2"] - truth["mu_rmst_dpp4"])
    # every class prescribed, the drug_class column names the treatment code, one curve per class
    d = cohort.data
    assert (np.asarray(DRUG_CLASSES, dtype=object)[d["treatment"]] == d["drug_class"]).all()
    assert d["treatment"].value_counts().min() > 300
    assert sorted(cohort.survival_curves["arm"].unique()) == [0, 1, 2, 3]
    props = truth[[f"propensity_{c}" for c in DRUG_CLASSES]].to_numpy()
    np.testing.assert_allclose(props.sum(axis=1), 1.0)
    assert props.min() >= 0.02
    np.testing.assert_allclose(truth["propensity"], props[np.arange(len(d)), d["treatment"]])
