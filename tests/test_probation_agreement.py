import jiwer
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from causalehr.probation import agreement, correctness, gwet_ac1, heterogeneity, kappa, simulate_extraction
from causalehr.probation.agreement import bland_altman, date_metrics, table_metrics, text_edits
from causalehr.probation.evaluation import metric_coverage
from causalehr.probation.synthetic import default_errors, default_spec

# Published example: irrCAC (Gwet's R package) data set cont3x3abstractors, documented output
# gwet.ac1.table -> AC1 0.8493305, se 0.04321747; kappa2.table -> Cohen's kappa 0.7964094.
ABSTRACTORS = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])


def test_gwet_ac1_published_example():
    ac1, se, lo, hi = gwet_ac1(ABSTRACTORS)
    assert ac1 == pytest.approx(0.8493305, abs=1e-7)
    assert se == pytest.approx(0.04321747, abs=1e-7)
    assert lo == pytest.approx(ac1 - 1.959964 * se, abs=1e-6)


def test_gwet_ac1_and_kappa_hand_computed_paradox():
    # 2x2 table with high agreement and skewed marginals: pa = 118/125 = .944;
    # rater marginals of "+": 123/125 = .984 and 120/125 = .96, pi+ = .972, pe(AC1) = 2 * .972 * .028 = .054432
    # AC1 = (.944 - .054432) / (1 - .054432) = .940756; pe(kappa) = .984*.96 + .016*.04 = .94528,
    # kappa = (.944 - .94528) / (1 - .94528) = -.023392
    t = np.array([[0, 2], [5, 118]])  # rows/cols: "-", "+"
    assert gwet_ac1(t)[0] == pytest.approx(0.889568 / 0.945568, abs=1e-6)
    assert kappa(t)[0] == pytest.approx(-0.00128 / 0.05472, abs=1e-6)


def test_kappa_matches_sklearn_and_published():
    rows, cols = np.nonzero(ABSTRACTORS)
    r = np.repeat(rows, ABSTRACTORS[rows, cols])
    c = np.repeat(cols, ABSTRACTORS[rows, cols])
    assert kappa(ABSTRACTORS)[0] == pytest.approx(cohen_kappa_score(r, c), abs=1e-12)
    assert kappa(ABSTRACTORS)[0] == pytest.approx(0.7964094, abs=1e-7)


def test_binary_table_metrics_hand_computed():
    m = {r["metric"]: r for r in table_metrics(np.array([[45, 10], [5, 40]]), "binary")}
    assert m["sensitivity"]["estimate"] == pytest.approx(40 / 45)
    assert m["specificity"]["estimate"] == pytest.approx(45 / 55)
    assert m["ppv"]["estimate"] == pytest.approx(0.8)
    assert m["npv"]["estimate"] == pytest.approx(0.9)
    assert m["accuracy"]["estimate"] == pytest.approx(0.85)
    assert m["f1"]["estimate"] == pytest.approx(80 / 95)
    # Wilson interval of 40/45 (hand: centre (40 + z^2/2)/(45 + z^2), half-width z/(45+z^2) sqrt(40*5/45 + z^2/4))
    z = 1.959964
    centre = (40 + z**2 / 2) / (45 + z**2)
    half = z / (45 + z**2) * np.sqrt(40 * 5 / 45 + z**2 / 4)
    assert m["sensitivity"]["lower"] == pytest.approx(centre - half, abs=1e-6)
    assert m["sensitivity"]["upper"] == pytest.approx(centre + half, abs=1e-6)


def test_bland_altman_dates_and_text_hand_computed():
    ba = {r["metric"]: r for r in bland_altman(np.array([1.0, 2, 3, 4, 5]))}
    sd = np.sqrt(2.5)
    assert ba["bias"]["estimate"] == 3
    assert ba["loa_lower"]["estimate"] == pytest.approx(3 - 1.96 * sd)
    assert ba["loa_upper"]["se"] == pytest.approx(sd * np.sqrt(3 / 5))
    d = {r["metric"]: r for r in date_metrics(np.array([0.0, 3, -8, 400, 1]), k=7, gross_days=30)}
    assert d["within_k_days"]["estimate"] == pytest.approx(3 / 5)
    assert d["gross_error"]["estimate"] == pytest.approx(1 / 5)
    assert d["diff_days_median"]["estimate"] == 1
    refs, hyps = ["abcd efgh", "hello world"], ["abxd efgh", "helo world"]
    ce, cl, we, wl = text_edits(refs, hyps)
    assert ce.tolist() == [1, 1] and cl.tolist() == [9, 11] and we.tolist() == [1, 1] and wl.tolist() == [2, 2]
    assert ce.sum() / cl.sum() == pytest.approx(jiwer.cer(refs, hyps))
    assert we.sum() / wl.sum() == pytest.approx(jiwer.wer(refs, hyps))
    # random texts with insertions, deletions and extra spaces: same corpus rates as jiwer
    rng = np.random.default_rng(0)
    letters = np.array(list("abcde "))
    refs = ["".join(rng.choice(letters, 30)).strip() + "x" for _ in range(200)]
    hyps = ["".join(rng.choice(letters, rng.integers(20, 40))).strip() + "y" for _ in range(200)]
    ce, cl, we, wl = text_edits(refs, hyps)
    assert ce.sum() / cl.sum() == pytest.approx(jiwer.cer(refs, hyps))
    assert we.sum() / wl.sum() == pytest.approx(jiwer.wer(refs, hyps))


def test_agreement_on_a_hand_table():
    spec = pd.DataFrame({"variable": ["x"], "type": ["binary"]})
    idx = pd.Index(range(6), name="patient_id")
    ref = pd.DataFrame({"x": [1, 1, 0, 0, np.nan, 1.0]}, index=idx)
    ai = pd.DataFrame({"x": [1, 0, 0, 1, 1, np.nan]}, index=idx)
    m = agreement(ref, ai, spec, source="ai").set_index("metric")
    assert m.loc["omission", "count"] == 1 and m.loc["omission", "n"] == 5
    assert m.loc["hallucination", "count"] == 1 and m.loc["hallucination", "n"] == 1
    assert m.loc["sensitivity", "estimate"] == 0.5 and m.loc["specificity", "estimate"] == 0.5
    assert m.loc["accuracy", "n"] == 4
    c = correctness(ref, ai, spec)["x"].tolist()
    assert c[:5] == [1, 0, 1, 0, 0] and np.isnan(c[5])
    with pytest.raises(ValueError, match="do not hold the same patients"):
        agreement(ref, ai.iloc[:5], spec)


def test_every_metric_recovers_injected_truth_in_one_large_draw():
    data = simulate_extraction(20000, seed=11)
    m = agreement(data.reference, data.sources["ai"], data.spec, strata=data.strata, by=["centre"], source="ai")
    m = m.merge(data.truth, on=["source", "variable", "by", "stratum", "metric"])
    covered = (m["lower"] <= m["truth"]) & (m["truth"] <= m["upper"])
    assert len(m) > 300
    assert covered[m["by"] == "overall"].mean() >= 0.88
    assert covered[m["by"] == "centre"].mean() >= 0.88
    # point estimates close to the truth
    acc = m[(m["by"] == "overall") & (m["metric"] == "accuracy")]
    assert np.abs(acc["estimate"] - acc["truth"]).max() < 0.015


def test_interval_coverage_over_replications():
    cov = metric_coverage(6, 3000, seed=100)
    assert cov["n_reps"].min() == 6
    for source in ("ai", "manual"):
        assert cov.loc[cov["source"] == source, "coverage"].mean() >= 0.88


def test_heterogeneity_detects_centre_effects():
    spec = default_spec()
    spec = spec[spec["variable"].isin(["female", "smoker", "stage"])]
    for centre_sd, expect_small_p in ((1.5, True), (0.0, False)):
        errors = default_errors(spec, sources=("ai",), centre_sd=centre_sd)
        data = simulate_extraction(20000, spec, seed=5, errors=errors)
        m = agreement(data.reference, data.sources["ai"], data.spec, strata=data.strata, by=["centre"], source="ai")
        h = heterogeneity(m, "centre").set_index(["variable", "metric"])
        p = h.xs("accuracy", level="metric")["p_value"]
        assert (p < 1e-4).all() if expect_small_p else (p > 1e-4).all()
        assert h["df"].eq(7).all()


def test_heterogeneity_hand_computed_chi_square():
    m = pd.DataFrame({"source": "ai", "variable": "x", "type": "binary", "by": "centre", "stratum": ["1", "2"],
                      "metric": "accuracy", "estimate": [0.9, 0.8], "lower": 0, "upper": 1, "se": 0.1,
                      "count": [90.0, 80.0], "n": [100.0, 100.0]})
    h = heterogeneity(m).iloc[0]
    # pooled .85: chi2 = sum (o - e)^2 / e over the 2x2 table = 2 * (25/85 + 25/15) = 3.9216
    assert h["q"] == pytest.approx(2 * (25 / 85 + 25 / 15))
    assert h["i2"] == pytest.approx((h["q"] - 1) / h["q"])


def test_simulator_is_reproducible_and_injects_the_rates():
    a, b = simulate_extraction(500, seed=4), simulate_extraction(500, seed=4)
    for s in a.sources:
        pd.testing.assert_frame_equal(a.sources[s], b.sources[s])
        pd.testing.assert_frame_equal(a.confidence.get(s, pd.DataFrame()), b.confidence.get(s, pd.DataFrame()))
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.sources["ai"].equals(simulate_extraction(500, seed=5).sources["ai"])
    # no error at all -> AI equals the reference
    spec = default_spec()
    zero = default_errors(spec, sources=("ai",), omission=0.0, omission_mnar=0.0, misclass=1e-12, centre_sd=0.0,
                          hallucination=0.0, jitter_rate=0.0, gross_rate=0.0, violation=0.0, bias=0.0,
                          noise_sd=0.0, char_error=0.0)
    clean = simulate_extraction(300, spec, seed=1, errors=zero)
    pd.testing.assert_frame_equal(clean.sources["ai"], clean.reference, check_dtype=False)
