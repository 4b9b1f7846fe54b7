"""Tests of causalehr.metrics: hand-computed values on tiny arrays, known identities, exact error messages."""

import re

import numpy as np
import pandas as pd
import pytest

from causalehr import metrics as m


# ----------------------------------------------------------------------------------------------- CATE accuracy
def test_cate_accuracy_hand_computed():
    # estimate 1,2,3,4 vs truth 1,3,2,5: errors 0,-1,1,-1 -> bias -1/4, mse 3/4.
    # Pearson: centred x -1.5,-.5,.5,1.5; centred y -1.75,.25,-.75,2.25; sxy 5.5, sxx 5, syy 8.75
    #   -> r = 5.5 / sqrt(43.75). Spearman: ranks of y 1,3,2,4, d = 0,-1,1,0 -> 1 - 6*2/(4*15) = 0.8.
    res = m.cate_accuracy([1, 2, 3, 4], [1, 3, 2, 5])
    assert res["n"] == 4
    assert res["bias"] == pytest.approx(-0.25)
    assert res["mse"] == pytest.approx(0.75)
    assert res["pehe"] == pytest.approx(np.sqrt(0.75))
    assert res["pearson"] == pytest.approx(5.5 / np.sqrt(43.75))
    assert res["spearman"] == pytest.approx(0.8)


def test_cate_accuracy_constant_estimate_has_undefined_correlation():
    res = m.cate_accuracy([2.0, 2.0, 2.0], [1.0, 2.0, 4.0])
    assert np.isnan(res["pearson"]) and np.isnan(res["spearman"])
    assert res["mse"] == pytest.approx((1 + 0 + 4) / 3)


@pytest.mark.parametrize(
    "estimate, truth, message",
    [
        ([1, 2, 3], [1, 2], "`estimate` has 3 values but `truth` has 2; they must have the same length"),
        ([], [], "`estimate` is empty; expected at least one value"),
        ([1, np.nan, np.inf], [1, 2, 3], "`estimate` has 2 non-finite values (NaN or inf); expected finite numbers"),
        ([1, 2], ["a", "b"], "`truth` must be numeric"),
        ([[1, 2]], [[1, 2]], "`estimate` must be one-dimensional; got shape (1, 2)"),
    ],
)
def test_cate_accuracy_bad_input(estimate, truth, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        m.cate_accuracy(estimate, truth)


# ----------------------------------------------------------------------------------------------- replications
def _tiny_replications():
    return pd.DataFrame(
        {
            "estimate": [1.0, 2.0, 3.0, 6.0],
            "truth": 2.0,
            "lower": [0.0, 1.0, 2.5, 5.0],
            "upper": [3.0, 3.0, 4.0, 7.0],
            "se": [1.0, 1.0, 2.0, 2.0],
        }
    )


def test_summarize_replications_hand_computed():
    # errors -1,0,1,4: bias 1; estimates 1,2,3,6 (mean 3): empse = sqrt(14/3); bias MCSE = empse/2;
    # empse MCSE = empse/sqrt(6). e^2 = 1,0,1,16: mse 4.5, MCSE = sqrt((3.5^2+4.5^2+3.5^2+11.5^2)/12)
    # = sqrt(14.75); rmse MCSE = that / (2 sqrt(4.5)). se^2 = 1,1,4,4: model_se = sqrt(2.5),
    # var(se^2) = 9/3 = 3 -> MCSE sqrt(3/(4*4*2.5)). Truth 2 is in [0,3],[1,3] not [2.5,4],[5,7] -> 0.5,
    # MCSE sqrt(.25/4) = .25. Mean estimate 3 is in the first three -> be_coverage 0.75.
    # Widths 3,2,1.5,2: mean 2.125, var 1.1875/3 -> MCSE sqrt(1.1875/3/4).
    out = m.summarize_replications(_tiny_replications(), se="se")
    assert len(out) == 1
    row = out.iloc[0]
    empse = np.sqrt(14 / 3)
    expected = {
        "n_sim": 4,
        "bias": 1.0,
        "bias_mcse": empse / 2,
        "empse": empse,
        "empse_mcse": empse / np.sqrt(6),
        "mse": 4.5,
        "mse_mcse": np.sqrt(14.75),
        "rmse": np.sqrt(4.5),
        "rmse_mcse": np.sqrt(14.75) / (2 * np.sqrt(4.5)),
        "model_se": np.sqrt(2.5),
        "model_se_mcse": np.sqrt(3 / 40),
        "rel_error_model_se": 100 * (np.sqrt(2.5) / empse - 1),
        "rel_error_model_se_mcse": 100 * np.sqrt(2.5) / empse * np.sqrt(3 / (16 * 6.25) + 1 / 6),
        "coverage": 0.5,
        "coverage_mcse": 0.25,
        "be_coverage": 0.75,
        "be_coverage_mcse": np.sqrt(0.75 * 0.25 / 4),
        "width": 2.125,
        "width_mcse": np.sqrt(1.1875 / 3 / 4),
    }
    assert list(out.columns) == list(expected)
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key


def test_summarize_replications_groups_match_separate_calls_and_skip_model_se():
    tiny = _tiny_replications()
    other = tiny.assign(estimate=tiny["estimate"] * 2)
    both = pd.concat([tiny.assign(method="b"), other.assign(method="a")], ignore_index=True)
    out = m.summarize_replications(both, by="method")
    assert list(out["method"]) == ["a", "b"]
    assert "model_se" not in out.columns
    for label, part in (("a", other), ("b", tiny)):
        alone = m.summarize_replications(part).iloc[0]
        grouped = out.loc[out["method"] == label].iloc[0]
        pd.testing.assert_series_equal(grouped.drop("method").astype(float), alone, check_names=False)


def test_summarize_replications_normal_estimator_reaches_nominal_coverage():
    # t ~ N(theta, 1) with exact SE 1 and 95% Wald intervals: unbiased, empse 1, coverage 0.95.
    rng = np.random.default_rng(11)
    n_sim, theta = 4000, 0.7
    t = theta + rng.standard_normal(n_sim)
    df = pd.DataFrame({"estimate": t, "lower": t - 1.959964, "upper": t + 1.959964, "truth": theta, "se": 1.0})
    row = m.summarize_replications(df, se="se").iloc[0]
    assert abs(row["bias"]) < 3 * row["bias_mcse"]
    assert abs(row["empse"] - 1) < 3 * row["empse_mcse"]
    assert abs(row["coverage"] - 0.95) < 3 * row["coverage_mcse"]
    assert abs(row["rel_error_model_se"]) < 3 * row["rel_error_model_se_mcse"]
    assert row["model_se"] == pytest.approx(1.0)
    assert row["width"] == pytest.approx(2 * 1.959964)


def test_summarize_replications_mcse_matches_spread_across_studies():
    # 400 independent simulation "studies" of 60 replications each (biased estimator, wrong SE):
    # the MCSE of each measure must match the standard deviation of that measure across studies.
    rng = np.random.default_rng(5)
    n_studies, n_sim = 400, 60
    t = 0.3 + 2.0 * rng.standard_normal(n_studies * n_sim)
    se = 1.5 * rng.chisquare(10, t.size) / 10
    df = pd.DataFrame(
        {
            "study": np.repeat(np.arange(n_studies), n_sim),
            "estimate": t,
            "truth": 0.0,
            "lower": t - 1.96 * se,
            "upper": t + 1.96 * se,
            "se": se,
        }
    )
    out = m.summarize_replications(df, by=["study"], se="se")
    assert len(out) == n_studies and (out["n_sim"] == n_sim).all()
    for measure in ("bias", "empse", "mse", "rmse", "model_se", "coverage", "be_coverage", "width", "rel_error_model_se"):
        ratio = out[f"{measure}_mcse"].mean() / out[measure].std(ddof=1)
        assert 0.85 < ratio < 1.15, (measure, ratio)


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (lambda d: d.drop(columns="lower"), {}, "missing column 'lower'; available columns: ['estimate', 'truth', 'upper', 'se']"),
        (lambda d: d, {"by": "method"}, "missing column 'method'; available columns:"),
        (lambda d: d.assign(estimate=[1.0, np.nan, np.nan, 2.0]), {}, "column 'estimate' has 2 rows with missing or infinite values"),
        (lambda d: d.assign(lower=[0.0, 4.0, 2.5, 5.0]), {}, "column 'lower' is greater than column 'upper' in 1 rows"),
        (lambda d: d.assign(se=[1.0, -1.0, 1.0, 1.0]), {"se": "se"}, "column 'se' has 1 rows with negative values"),
        (lambda d: d.assign(truth="x"), {}, "column 'truth' must be numeric"),
        (lambda d: d.iloc[:0], {}, "`df` is empty; expected one row per replication"),
        (
            lambda d: d.assign(method=["a", "a", "a", "b"]),
            {"by": "method"},
            "every group needs at least 2 replications; 1 groups have 1 (first: {'method': 'b'})",
        ),
    ],
)
def test_summarize_replications_bad_input(change, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        m.summarize_replications(change(_tiny_replications()), **kwargs)


def test_summarize_metrics_hand_computed_by_group():
    # method a: pehe 1,2,3,6 -> mean 3, MCSE sqrt(14/3)/2; regret .1,.3,.1,.3 -> mean .2, MCSE sqrt(.04/3)/2.
    # method b: pehe 2,4 -> mean 3, MCSE sqrt(2)/sqrt(2) = 1.
    df = pd.DataFrame(
        {
            "method": ["a", "a", "a", "a", "b", "b"],
            "pehe": [1.0, 2.0, 3.0, 6.0, 2.0, 4.0],
            "regret": [0.1, 0.3, 0.1, 0.3, 0.0, 0.0],
        }
    )
    out = m.summarize_metrics(df, by="method", columns=["pehe", "regret"])
    assert list(out.columns) == ["method", "n_sim", "pehe", "pehe_mcse", "regret", "regret_mcse"]
    np.testing.assert_allclose(out["pehe"], [3, 3])
    np.testing.assert_allclose(out["pehe_mcse"], [np.sqrt(14 / 3) / 2, 1])
    np.testing.assert_allclose(out["regret"], [0.2, 0.0])
    np.testing.assert_allclose(out["regret_mcse"], [np.sqrt(0.04 / 3) / 2, 0.0], atol=1e-12)
    assert list(m.summarize_metrics(df, columns="pehe").columns) == ["n_sim", "pehe", "pehe_mcse"]
    with pytest.raises(ValueError, match=re.escape("`columns` is empty; expected the names of metric columns")):
        m.summarize_metrics(df, columns=[])
    with pytest.raises(ValueError, match=re.escape("missing column 'autoc'; available columns: ['method', 'pehe', 'regret']")):
        m.summarize_metrics(df, columns="autoc")


# ----------------------------------------------------------------------------------------------- decisions
def test_policy_regret_hand_computed():
    # tau = 2,-1,.5,-3; estimate 1,.5,-.2,-1 -> treat patients 1,2: value (2-1)/4 = .25;
    # oracle treats 1,3: (2+.5)/4 = .625; regret .375; treat all (2-1+.5-3)/4 = -.375;
    # wrong decisions: patient 2 (treated, harmed) and 3 (untreated, would benefit) -> .5.
    res = m.policy_regret([1, 0.5, -0.2, -1], [2, -1, 0.5, -3])
    assert res == pytest.approx(
        {"n": 4, "value": 0.25, "oracle_value": 0.625, "regret": 0.375, "treat_all_value": -0.375,
         "treated_fraction": 0.5, "wrong_decision_rate": 0.5}
    )
    # threshold 0.6 treats only patient 1: value 2/4, regret .125
    assert m.policy_regret([1, 0.5, -0.2, -1], [2, -1, 0.5, -3], threshold=0.6)["regret"] == pytest.approx(0.125)


def test_policy_regret_is_zero_for_the_truth_and_positive_otherwise():
    rng = np.random.default_rng(2)
    tau = rng.normal(size=1000)
    assert m.policy_regret(tau, tau)["regret"] == 0
    assert m.policy_regret(tau + rng.normal(size=1000), tau)["regret"] > 0


def test_policy_value_hand_computed_and_unbiased():
    # treat patients 1,2: gains 3,-1,0,0 -> mean .5; deviations 2.5,-1.5,-.5,-.5 -> var 9/3 = 3, se sqrt(3)/2.
    res = m.policy_value([1, 0.5, -0.2, -1], [3, -1, 2, 0])
    assert res["value"] == pytest.approx(0.5)
    assert res["se"] == pytest.approx(np.sqrt(3) / 2)
    assert res["lower"] == pytest.approx(0.5 - 1.959964 * np.sqrt(3) / 2, rel=1e-6)
    assert res["treated_fraction"] == 0.5
    # with noisy unbiased scores the estimate covers the true value from policy_regret
    rng = np.random.default_rng(3)
    tau = rng.normal(size=20000)
    estimate = tau + rng.normal(size=tau.size)
    est = m.policy_value(estimate, tau + 2 * rng.normal(size=tau.size))
    assert est["lower"] < m.policy_regret(estimate, tau)["value"] < est["upper"]


def test_policy_value_bad_input():
    with pytest.raises(ValueError, match=re.escape("`estimate` has 2 values but `scores` has 3")):
        m.policy_value([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match=re.escape("`alpha` must be in (0, 1); got 1.5")):
        m.policy_value([1, 2], [1, 2], alpha=1.5)


# ----------------------------------------------------------------------------------------------- RATE
def test_rate_hand_computed_autoc_qini_and_toc():
    # Scores in priority order 4,2,0,-2 (mean 1): running means 4,3,2,1 -> TOC 3,2,1,0.
    # AUTOC = (3+2+1+0)/4 = 1.5; QINI = (1/4)(.25*3 + .5*2 + .75*1) = .625.
    # TOC(.3): top 1.2 patients = (4 + .2*2)/1.2 - 1; TOC(.5) = (4+2)/2 - 1 = 2; TOC(1) = 0.
    prio, scores = [4, 3, 2, 1], [4, 2, 0, -2]
    res = m.rate(prio, scores, q=[0.3, 0.5, 1.0], n_bootstrap=0)
    assert res.target == "AUTOC" and res.estimate == pytest.approx(1.5) and np.isnan(res.std_err)
    np.testing.assert_allclose(res.toc["estimate"], [4.4 / 1.2 - 1, 2, 0], atol=1e-12)
    assert m.rate(prio, scores, target="qini", n_bootstrap=0).estimate == pytest.approx(0.625)
    # input order does not matter, only the priority
    assert m.rate(prio[::-1], scores[::-1], n_bootstrap=0).estimate == pytest.approx(1.5)


def test_rate_averages_scores_within_tied_priorities():
    # Priorities 1,1,0,0: tied scores averaged to 3,3,-1,-1 -> running means 3,3,5/3,1 -> TOC 2,2,2/3,0,
    # AUTOC = (14/3)/4 = 7/6, whatever the order of the patients within a tie.
    assert m.rate([1, 1, 0, 0], [4, 2, 0, -2], n_bootstrap=0).estimate == pytest.approx(7 / 6)
    assert m.rate([1, 1, 0, 0], [2, 4, -2, 0], n_bootstrap=0).estimate == pytest.approx(7 / 6)
    # a constant priority cannot target anybody
    assert m.rate([5, 5, 5, 5], [4, 2, 0, -2], n_bootstrap=0).estimate == pytest.approx(0)


def test_rate_of_random_priority_is_zero_on_average_and_perfect_ranking_is_positive():
    rng = np.random.default_rng(7)
    n = 400
    tau = rng.uniform(size=n)
    scores = tau + rng.normal(size=n)
    random_autoc = [m.rate(rng.permutation(n), scores, n_bootstrap=0).estimate for _ in range(300)]
    assert abs(np.mean(random_autoc)) < 3 * np.std(random_autoc) / np.sqrt(300)
    perfect = m.rate(tau, scores, n_bootstrap=200, random_state=1)
    assert perfect.estimate > 2 * perfect.std_err > 0
    assert perfect.toc["estimate"].iloc[-1] == pytest.approx(0) and perfect.toc["std_err"].iloc[-1] == pytest.approx(0)


def test_rate_is_unbiased_with_calibrated_bootstrap_standard_error():
    # tau = U ~ Uniform(0,1), priority U: TOC(q) = (1 - q)/2, AUTOC = 1/4, QINI = int q(1-q)/2 = 1/12.
    rng = np.random.default_rng(8)
    n, reps = 1000, 150
    estimates, ses = {"AUTOC": [], "QINI": []}, {"AUTOC": [], "QINI": []}
    for r in range(reps):
        u = rng.uniform(size=n)
        scores = u + rng.normal(size=n)
        for target in estimates:
            res = m.rate(u, scores, target=target, n_bootstrap=60, random_state=r)
            estimates[target].append(res.estimate)
            ses[target].append(res.std_err)
    for target, truth in (("AUTOC", 1 / 4), ("QINI", 1 / 12)):
        est = np.array(estimates[target])
        assert abs(est.mean() - truth) < 3 * est.std() / np.sqrt(reps) + 0.005, target
        assert 0.8 < np.mean(ses[target]) / est.std(ddof=1) < 1.25, target


def test_oracle_rate_matches_theory_and_is_maximal_for_the_true_ranking():
    rng = np.random.default_rng(9)
    u = rng.uniform(size=200_000)
    assert m.oracle_rate(u, u).estimate == pytest.approx(0.25, abs=2e-3)
    assert m.oracle_rate(u, u, target="QINI").estimate == pytest.approx(1 / 12, abs=2e-3)
    noisy = u + rng.normal(size=u.size)
    assert m.oracle_rate(noisy, u).estimate < m.oracle_rate(u, u).estimate
    assert np.isnan(m.oracle_rate(noisy, u).std_err)


def test_rate_same_seed_same_output():
    rng = np.random.default_rng(4)
    prio, scores = rng.normal(size=300), rng.normal(size=300)
    a = m.rate(prio, scores, random_state=123, n_bootstrap=30)
    b = m.rate(prio, scores, random_state=123, n_bootstrap=30)
    c = m.rate(prio, scores, random_state=124, n_bootstrap=30)
    assert a.std_err == b.std_err and a.std_err != c.std_err
    pd.testing.assert_frame_equal(a.toc, b.toc)
    lo, hi = a.interval(0.05)
    assert (hi - lo) == pytest.approx(2 * 1.959964 * a.std_err, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": "AUC"}, "`target` must be 'AUTOC' or 'QINI'; got 'AUC'"),
        ({"q": [0.5, 0.9]}, "`q` must be strictly increasing fractions in (0, 1] ending at 1"),
        ({"q": [0.5, 0.2, 1]}, "`q` must be strictly increasing fractions in (0, 1] ending at 1"),
        ({"n_bootstrap": 1}, "`n_bootstrap` must be 0 or at least 2; got 1"),
        ({"scores": [1, 2, 3]}, "`priority` has 5 values but `scores` has 3; they must have the same length"),
    ],
)
def test_rate_bad_input(kwargs, message):
    args = {"priority": [1, 2, 3, 4, 5], "scores": [1, 2, 3, 4, 5], **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        m.rate(**args)


def test_rate_bootstrap_needs_four_patients():
    with pytest.raises(ValueError, match=re.escape("the half-sample bootstrap needs at least 4 patients; got 3")):
        m.rate([1, 2, 3], [1, 2, 3])
    assert m.rate([1, 2, 3], [1, 2, 3], n_bootstrap=0).estimate > 0


def test_rate_difference_hand_computed_and_paired():
    # reversed priority: scores in order -2,0,2,4 -> running means -2,-1,0,1 -> TOC -3,-2,-1,0, AUTOC -1.5;
    # so RATE(best) - RATE(reversed) = 1.5 - (-1.5) = 3.
    res = m.rate_difference([4, 3, 2, 1], [1, 2, 3, 4], [4, 2, 0, -2], n_bootstrap=0)
    assert res.estimate == pytest.approx(3.0)
    np.testing.assert_allclose(res.toc["estimate"].iloc[-1], 0, atol=1e-12)
    rng = np.random.default_rng(12)
    tau = rng.uniform(size=2000)
    scores = tau + rng.normal(size=tau.size)
    same = m.rate_difference(tau, tau, scores, n_bootstrap=50, random_state=0)
    assert same.estimate == 0 and same.std_err == 0
    # two correlated rules: the paired SE of the difference is far below the unpaired sqrt(se1^2 + se2^2)
    p1, p2 = tau + 0.1 * rng.normal(size=tau.size), tau + 0.1 * rng.normal(size=tau.size)
    diff = m.rate_difference(p1, p2, scores, n_bootstrap=100, random_state=0)
    se1 = m.rate(p1, scores, n_bootstrap=100, random_state=0).std_err
    se2 = m.rate(p2, scores, n_bootstrap=100, random_state=0).std_err
    assert 0 < diff.std_err < 0.5 * np.hypot(se1, se2)


def test_rate_cluster_bootstrap_accounts_for_duplicated_patients():
    # Each of 500 patients copied 5 times: the copies carry no new information. A cluster (patient)
    # bootstrap gives the SE of the 500 originals; the naive one is about sqrt(5) times too small.
    rng = np.random.default_rng(13)
    tau = rng.uniform(size=500)
    scores = tau + rng.normal(size=tau.size)
    original = m.rate(tau, scores, n_bootstrap=200, random_state=0)
    copies = np.repeat(np.arange(500), 5)
    clustered = m.rate(tau[copies], scores[copies], n_bootstrap=200, random_state=0, clusters=copies)
    naive = m.rate(tau[copies], scores[copies], n_bootstrap=200, random_state=0)
    assert clustered.estimate == pytest.approx(original.estimate, abs=0.01)  # ties: finer TOC grid only
    assert 0.8 < clustered.std_err / original.std_err < 1.25
    assert 0.3 < naive.std_err / original.std_err < 0.6


def test_rate_cluster_bad_input():
    with pytest.raises(ValueError, match=re.escape("`scores` has 4 values but `clusters` has 3; they must have the same length")):
        m.rate([1, 2, 3, 4], [1, 2, 3, 4], clusters=[1, 1, 2])
    with pytest.raises(ValueError, match=re.escape("`clusters` has 1 missing values")):
        m.rate([1, 2, 3, 4], [1, 2, 3, 4], clusters=["a", None, "b", "c"])
    with pytest.raises(ValueError, match=re.escape("the half-sample bootstrap needs at least 4 clusters; got 2")):
        m.rate([1, 2, 3, 4], [1, 2, 3, 4], clusters=[1, 1, 2, 2])
    with pytest.raises(ValueError, match=re.escape("`priority_1` has 4 values but `priority_2` has 3")):
        m.rate_difference([1, 2, 3, 4], [1, 2, 3], [1, 2, 3, 4])


# ----------------------------------------------------------------------------------------------- calibration
def test_calibration_table_hand_computed():
    # 6 patients, 3 groups of 2 by estimate: {.1,.2}, {.3,.4}, {.5,.6} -> estimate means .15,.35,.55;
    # truth 0,.2 | .2,.6 | .4,1 -> .1,.4,.7; scores 1,3 | 0,2 | 4,8 -> means 2,1,6, se = sd/sqrt(2) = 1,1,2.
    est = [0.6, 0.1, 0.2, 0.3, 0.4, 0.5]
    truth = [1.0, 0.0, 0.2, 0.2, 0.6, 0.4]
    scores = [8, 1, 3, 0, 2, 4]
    table = m.calibration_table(est, truth=truth, scores=scores, n_groups=3)
    assert list(table["group"]) == [1, 2, 3] and list(table["n"]) == [2, 2, 2]
    np.testing.assert_allclose(table["estimate_mean"], [0.15, 0.35, 0.55])
    np.testing.assert_allclose(table["truth_mean"], [0.1, 0.4, 0.7])
    np.testing.assert_allclose(table["score_mean"], [2, 1, 6])
    np.testing.assert_allclose(table["score_se"], [1, 1, 2])
    np.testing.assert_allclose(table["score_upper"] - table["score_mean"], 1.959964 * np.array([1, 1, 2]), rtol=1e-6)


def test_calibration_table_keeps_ties_together():
    # estimates 1,1,1,1,2,2 with 3 groups: average ranks 2.5 and 5.5 -> groups floor(1.5*3/6)+1 = 1
    # and floor(4.5*3/6)+1 = 3; group 2 is absent.
    table = m.calibration_table([1, 1, 1, 1, 2, 2], truth=[0, 0, 1, 1, 5, 7], n_groups=3)
    assert list(table["group"]) == [1, 3] and list(table["n"]) == [4, 2]
    np.testing.assert_allclose(table["truth_mean"], [0.5, 6])
    assert "score_mean" not in table.columns


def test_calibration_table_bad_input():
    with pytest.raises(ValueError, match=re.escape("give `truth` (simulation) or `scores`")):
        m.calibration_table([1, 2, 3])
    with pytest.raises(ValueError, match=re.escape("`n_groups` must be an integer between 1 and the number of patients (3); got 4")):
        m.calibration_table([1, 2, 3], truth=[1, 2, 3], n_groups=4)
    with pytest.raises(ValueError, match=re.escape("`estimate` has 3 values but `scores` has 2")):
        m.calibration_table([1, 2, 3], scores=[1, 2])


def test_calibration_test_recovers_exact_and_calibrated_coefficients():
    # Gamma = 2 + 3 (tau_hat - mean): coefficients 2/mean(tau_hat) and 3 exactly.
    est = np.array([0.5, 1.0, 2.0, 4.5])  # mean 2
    res = m.calibration_test(est, 2 + 3 * (est - 2))
    np.testing.assert_allclose(res["estimate"], [1.0, 3.0])
    # a calibrated estimate with noisy scores: both coefficients within 3 SE of 1
    rng = np.random.default_rng(10)
    tau = 1 + rng.normal(size=5000)
    res = m.calibration_test(tau, tau + 2 * rng.normal(size=tau.size))
    assert (np.abs(res["estimate"] - 1) < 3 * res["std_err"]).all()
    assert (res["p_value"] < 1e-6).all()


def test_calibration_test_bad_input():
    with pytest.raises(ValueError, match=re.escape("`estimate` is constant, so the differential_prediction")):
        m.calibration_test([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match=re.escape("`estimate` has mean 0, so the mean_prediction")):
        m.calibration_test([-1, 0, 1], [1, 2, 3])


def test_markers_table_finds_the_planted_markers():
    from causalehr.metrics import markers_table

    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"egfr": rng.normal(75, 20, n), "bmi": rng.normal(30, 5, n), "age": rng.normal(64, 10, n),
                      "ckd": rng.binomial(1, 0.3, n).astype(float)})
    tau = np.where(X["egfr"] < 60, 1.0, 0.0) + 0.5 * X["ckd"]
    scores = tau + rng.normal(0, 2, n)
    table = markers_table(X, scores, n_top=2, random_state=0)
    importance = table[table["kind"] == "importance"].set_index("marker")["estimate"]
    assert list(importance.index[:2]) == ["egfr", "ckd"] and importance.sum() == pytest.approx(1.0)
    blp = table[table["kind"] == "projection"].set_index("marker")
    assert blp.loc["egfr", "upper"] < 0 < blp.loc["ckd", "lower"]
    assert blp.loc["bmi", "lower"] < 0 < blp.loc["bmi", "upper"]
    groups = table[table["kind"] == "subgroup"].set_index("group")
    lo, hi = np.quantile(X["egfr"], [1 / 3, 2 / 3])
    assert list(groups.index) == [f"egfr <= {lo:.4g}", f"{lo:.4g} < egfr <= {hi:.4g}", f"egfr > {hi:.4g}", "ckd = 0",
                                  "ckd = 1"]
    ckd = X["ckd"] == 1
    assert groups.loc["ckd = 1", "estimate"] == pytest.approx(scores[ckd].mean())
    assert groups.loc["ckd = 1", "n"] == ckd.sum()
    for label, rows in (("ckd = 1", ckd), ("ckd = 0", ~ckd), (f"egfr <= {lo:.4g}", X["egfr"] <= lo)):
        assert groups.loc[label, "lower"] < tau[rows].mean() < groups.loc[label, "upper"]
