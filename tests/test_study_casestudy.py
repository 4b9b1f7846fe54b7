"""Tests of the real-data case study (causalehr.studies.casestudy): loaders and encoding, confounded
subsampling, the user-file error message, small-cell suppression, and small end-to-end runs."""

import warnings

import numpy as np
import pandas as pd
import pytest

from causalehr.nuisance import MarginalKaplanMeier
from causalehr.studies.casestudy import (
    analyse_case,
    confounded_subsample,
    effect_drivers,
    encode_covariates,
    load_case,
    load_user_data,
    risk_score,
    selection_probabilities,
    trial_yardstick,
    yardstick_values,
)
from causalehr.survival import rmst_difference

FAST = {"fast": {"method": "aipcw-dr", "event_model": "discrete-time-logistic", "censoring_model": "kaplan-meier",
                 "cate_model": "ridge"}}
ROSSI_RISK = {"prio": 1.0, "age": -1.0, "wexp": -1.0}


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # positivity warnings on small subsamples
        yield


@pytest.fixture(scope="module")
def rossi():
    return load_case("rossi")


def test_encode_covariates():
    frame = pd.DataFrame({"grade": pd.Categorical(["II", "I", "III"], categories=["I", "II", "III"], ordered=True),
                          "sex": ["m", "f", "m"], "smoker": [True, False, True], "age": [50, 60, np.nan]})
    out = encode_covariates(frame, ["grade", "sex", "smoker", "age"])
    assert list(out.columns) == ["grade", "sex_m", "smoker", "age"]
    assert out["grade"].tolist() == [2, 1, 3]
    assert out["sex_m"].tolist() == [1, 0, 1]
    assert out["smoker"].tolist() == [1, 0, 1]
    assert np.isnan(out["age"].iloc[2])
    with pytest.raises(ValueError, match=r"^categorical covariate 'sex' has 1 missing values; recode them"):
        encode_covariates(frame.assign(sex=["m", None, "f"]), ["sex"])


def test_load_gbsg2():
    case = load_case("gbsg2")
    d = case.data
    assert (len(d), case.horizon, case.randomised) == (686, 1826.0, False)
    assert case.covariates == ["age", "menostat_Pre", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
    assert d["treatment"].sum() == 246 and d["event"].sum() == 299 and d["menostat_Pre"].sum() == 290
    assert d["tgrade"].value_counts().to_dict() == {2: 444, 3: 161, 1: 81}   # grade I < II < III -> 1, 2, 3
    assert list(d.columns) == ["patient_id", *case.covariates, "treatment", "time", "event"]


def test_load_rossi(rossi):
    d = rossi.data
    assert (len(d), rossi.horizon, rossi.randomised) == (432, 50.0, True)
    assert rossi.covariates == ["age", "race", "wexp", "mar", "paro", "prio"]
    assert d["treatment"].sum() == 216 and d["event"].sum() == 114
    assert d.loc[d["event"] == 0, "time"].eq(52).all()


def test_wrong_column_names_list_available_columns(tmp_path):
    path = tmp_path / "cohort.csv"
    pd.DataFrame({"age": [50, 60], "drug": [0, 1], "fu_days": [10.0, 20.0], "died": [1, 0]}).to_csv(path, index=False)
    with pytest.raises(ValueError) as err:
        load_user_data(path, ["age", "sex"], treatment="drug", time="time", event="died", horizon=15)
    assert str(err.value) == ("missing column(s) ['sex', 'time']; available columns: "
                              "['age', 'drug', 'fu_days', 'died']")
    with pytest.raises(ValueError, match="a user data file needs a horizon"):
        load_case(path=path, covariates=["age"], treatment="drug", time="fu_days", event="died")
    case = load_case(path=path, horizon=15, covariates=["age"], treatment="drug", time="fu_days", event="died")
    assert case.data["time"].tolist() == [10.0, 20.0] and case.name == "cohort"


def test_selection_probabilities_keep_covariates_and_set_propensity():
    a = np.array([1, 1, 0, 0, 1, 0])
    score = np.array([0.0, 1.0, 1.0, -2.0, -2.0, 0.0])
    p = selection_probabilities(a, score, strength=0.6, keep_fraction=0.5)
    g = 2 * np.array([0.5, 0.8413447, 0.8413447, 0.0227501, 0.0227501, 0.5]) - 1   # 2 Phi(score) - 1
    expected = np.where(a == 1, 0.5 * (1 + 0.6 * g), 0.5 * (1 - 0.6 * g))          # treated share 1/2
    np.testing.assert_allclose(p, expected, atol=1e-6)
    # for a covariate value, both arms together keep the fraction 0.5, and the treated are (1 + s g) / 2 of it
    p1 = selection_probabilities(np.array([1, 0]), np.array([1.0, 1.0]), 0.6, 0.5)
    assert 0.5 * p1[0] + 0.5 * p1[1] == pytest.approx(0.5)
    assert 0.5 * p1[0] / 0.5 == pytest.approx((1 + 0.6 * g[1]) / 2)
    with pytest.raises(ValueError, match=r"confounding strength 0.9 is above the limit 0.667 that keep_fraction 0.6 "
                                         r"permits with a treated share of 0.500"):
        selection_probabilities(a, score, 0.9, 0.6)
    assert selection_probabilities(a, score, 1 / 0.6 - 1, 0.6).max() <= 1  # up to the limit
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\), got 1"):
        selection_probabilities(a, score, 1, 0.5)


def test_confounded_subsample_rates_and_naive_shift(rossi):
    d = rossi.data
    score = risk_score(d, ROSSI_RISK)
    assert score.mean() == pytest.approx(0) and score.std() == pytest.approx(1)
    rng = np.random.default_rng(0)
    kept = np.zeros(len(d))
    naive = {0.0: [], 0.6: []}
    for _ in range(200):
        for s in naive:
            sub = confounded_subsample(d, score, s, 0.5, rng)
            if s == 0.6:
                kept[sub.index] += 1
            naive[s].append(rmst_difference(sub["time"], sub["event"], sub["treatment"], 50)["estimate"])
    p = selection_probabilities(d["treatment"], score, 0.6, 0.5)
    assert np.abs(kept / 200 - p).max() < 4.5 * np.sqrt(0.25 / 200)   # empirical keep rates match
    trial = rmst_difference(d["time"], d["event"], d["treatment"], 50)["estimate"]
    shift0, shift = np.mean(naive[0.0]) - trial, np.mean(naive[0.6]) - trial
    mcse = np.std(naive[0.6]) / np.sqrt(200)
    # high-risk patients over-represented among the treated: the naive contrast is too pessimistic
    assert shift < -5 * mcse and shift < -0.8
    assert abs(shift0) < 3 * np.std(naive[0.0]) / np.sqrt(200)
    with pytest.raises(ValueError, match=r"confounder column\(s\) \['prior'\] not in the data; available columns"):
        risk_score(d, {"prior": 1.0})


def test_analyse_case_suppresses_small_cells_and_matches_trial(rossi):
    tables = analyse_case(rossi, FAST, seed=1, n_folds=3, n_groups=5, n_bootstrap=20, min_cell_size=100)
    cal = tables["calibration"]
    assert cal["suppressed"].all() and cal[["n", "estimate_mean", "score_mean", "score_upper"]].isna().all().all()
    assert cal["group"].tolist() == [1, 2, 3, 4, 5]     # group labels kept
    toc = tables["toc"]
    small = toc["q"] * len(rossi.data) < 100           # top 10% and 20% of 432 patients: 43 and 86
    assert toc.loc[small, "estimate"].isna().all() and toc.loc[~small, "estimate"].notna().all()
    assert toc["suppressed"].tolist() == small.tolist()
    ate = tables["ate"].set_index("method")
    assert not ate["suppressed"].any()
    # randomised trial: the adjusted ATE agrees with the Kaplan-Meier contrast (SE about 1.14 weeks)
    assert abs(ate.loc["fast", "estimate"] - ate.loc["naive-km", "estimate"]) < 0.5
    # indicators with fewer than 100 patients at 1 or 0 are left out: race (379 of 432) and mar (53 of 432)
    assert set(tables["drivers"]["term"]) == {"intercept", "age", "prio", "wexp", "paro"}


def test_trial_yardstick_recovers_trial_answer(rossi):
    reps, summary, trial = trial_yardstick(rossi, FAST, confounders=ROSSI_RISK, strengths=(0.6,), n_subsamples=12,
                                           seed=5)
    assert trial["estimate"] == pytest.approx(1.912037, abs=1e-5)
    assert len(reps) == 24 and (reps["truth"] == trial["estimate"]).all()
    s = summary.set_index("estimator")
    assert s.loc["naive-km", "bias"] < -3 * s.loc["naive-km", "bias_mcse"]             # naive misses the trial
    assert abs(s.loc["fast", "bias"]) < 2 * s.loc["fast", "bias_mcse"]                 # adjusted recovers it
    assert abs(s.loc["fast", "bias"]) < abs(s.loc["naive-km", "bias"])
    first, _, _ = trial_yardstick(rossi, FAST, confounders=ROSSI_RISK, strengths=(0.6,), n_subsamples=2, seed=5)
    pd.testing.assert_frame_equal(first, reps.iloc[:4])   # same seed, same subsamples and estimates


def test_yardstick_values():
    summary = pd.DataFrame({"strength": [0.6], "estimator": ["naive-km"], "bias": [-1.7561], "coverage": [0.88],
                            "coverage_contrast": [0.7]})
    values = yardstick_values(summary, {"estimate": 1.912, "lower": -0.331, "upper": 4.155}, 50)
    assert values == {"yardstick": {"trial": {"estimate": "1.91", "lower": "-0.331", "upper": "4.16"},
                                    "n_subsamples": 50, "strength": {"s0_6": {"naive-km": {
                                        "bias": "-1.76", "coverage": "0.88", "coverage_contrast": "0.70"}}}}}


def test_marginal_kaplan_meier_censoring_model():
    X = np.zeros((4, 2))
    km = MarginalKaplanMeier().fit(X, [1.0, 2.0, 3.0, 4.0], [1, 0, 1, 1])
    np.testing.assert_allclose(km.predict_survival(X[:2], [0.5, 1.0, 2.5, 3.0, 9.0]),
                               [[1, 0.75, 0.75, 0.375, 0.0]] * 2)
    none = MarginalKaplanMeier().fit(X, [52.0] * 4, [0, 0, 0, 0])   # no censoring event: G = 1 (Rossi)
    assert (none.predict_survival(X, [10.0, 50.0]) == 1).all()


def test_effect_drivers_recovers_linear_effect():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"x1": rng.normal(2, 3, 4000), "x2": rng.normal(0, 1, 4000), "const": 1.0})
    scores = 1.0 + 0.5 * X["x1"] + rng.normal(0, 1, 4000)   # effect 1 + 0.5 x1: 1.5 per SD of x1, none for x2
    drivers = effect_drivers(X, scores).set_index("term")
    assert list(drivers.index) == ["intercept", "x1", "x2"]
    assert drivers.loc["intercept", "estimate"] == pytest.approx(scores.mean(), abs=1e-10)   # centred covariates
    assert drivers.loc["x1", "estimate"] == pytest.approx(0.5 * X["x1"].std(ddof=0), abs=0.05)
    assert drivers.loc["x2", "lower"] < 0 < drivers.loc["x2", "upper"]


def test_cgvhd_competing_risks_dataset_and_its_aalen_johansen_contrast():
    from causalehr.studies.casestudy import aj_contrast, ate_table, load_case
    from causalehr.survival import aalen_johansen, cumulative_incidence_at

    case = load_case("cgvhd")
    d = case.data
    assert (len(d), case.estimand, case.horizon, case.time_unit) == (100, "cif", 0.75, "years")
    assert d["event"].value_counts().to_dict() == {1: 86, 2: 5, 3: 5, 0: 4}   # cGVHD, relapse, death, censored
    assert d["treatment"].sum() == 49                                          # peripheral blood stem cells
    out = aj_contrast(d["time"], d["event"], d["treatment"], 0.75, n_bootstrap=50, seed=1)
    cif = [cumulative_incidence_at(aalen_johansen(d.loc[d["treatment"] == g, "time"],
                                                  d.loc[d["treatment"] == g, "event"]), 0.75, 1) for g in (1, 0)]
    assert out["estimate"] == pytest.approx(cif[0] - cif[1])
    assert out["lower"] < out["estimate"] < out["upper"]
    table = ate_table(pd.DataFrame({"method": ["naive-aj"], "estimate": [0.1], "lower": [0.0], "upper": [0.2],
                                    "error": [""]}), "years", "cif")
    assert table.splitlines()[0].split("|")[2].strip() == "CIF difference (95% CI)"


def test_case_study_rule_recovers_a_planted_rule_and_hides_small_marker_groups():
    """Randomised treatment that lengthens time to event only when x0 < 0.5 (hazard halved) and shortens it
    otherwise (hazard times 1.5): the rule treats x0 < 0.5, x0 is the top marker; an indicator with 30 patients at
    1 shows no subgroup rows under min_cell_size=40 (its other group's size would reveal it)."""
    from causalehr.studies.casestudy import CaseData, _fit, case_values, treatment_rule

    rng = np.random.default_rng(3)
    n = 1500
    x = rng.uniform(size=(n, 2))
    rare = (np.arange(n) < 30).astype(float)
    a = rng.binomial(1, 0.5, n)
    t = rng.exponential(1 / (0.5 * np.where(x[:, 0] < 0.5, 0.5, 1.5) ** a))
    c = rng.uniform(1, 4, n)
    data = pd.DataFrame({"patient_id": np.arange(n), "x0": x[:, 0], "x1": x[:, 1], "rare": rare, "treatment": a,
                         "time": np.minimum(t, c), "event": (t <= c).astype(int)})
    case = CaseData("planted", data, ["x0", "x1", "rare"], 2.0, "years", True)
    spec = {"method": "aipcw-dr", "event_model": "cox", "censoring_model": "kaplan-meier", "cate_model": "ridge"}
    tables = treatment_rule(case, _fit(case, spec, 0), seed=0, min_cell_size=40)
    leaves = tables["rule_leaves"]
    assert leaves["n"].sum() == n and leaves["n"].min() >= 50
    treated = leaves.loc[leaves["arm"] == "treated", "conditions"]
    assert len(treated) >= 1 and all(c.startswith("x0 <= 0.") for c in treated)
    cut = float(treated.iloc[0].split(" and ")[0].split("<= ")[1])
    assert abs(cut - 0.5) < 0.08
    values = tables["rule"].set_index("policy")
    assert values.loc["treat all", "rule_gain_lower"] > 0 and values.loc["treat none", "rule_gain_lower"] > 0
    markers = tables["markers"]
    importance = markers[markers["kind"] == "importance"].set_index("marker")["estimate"]
    assert importance.idxmax() == "x0"
    assert "rare" not in set(markers.loc[markers["kind"] == "subgroup", "marker"])
    assert case_values(case, {**tables, "ate": pd.DataFrame({"method": [], "error": []}), "rate": pd.DataFrame(),
                              "drivers": pd.DataFrame()})["casestudy_planted"]["top_marker"] == "x0"
