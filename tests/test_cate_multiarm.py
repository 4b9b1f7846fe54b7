"""Several treatments (MultiArmCATE) and treatment rules (PolicyRule): against the binary learner, the truth of
the drug-class simulator, a planted rule, and exact error messages."""

import warnings

import numpy as np
import pytest
from econml.dr import DRLearner
from sklearn.linear_model import LinearRegression, LogisticRegression

from causalehr.cate import CensoredCATE, MultiArmCATE, PolicyRule, learn_rule
from causalehr.metrics import rule_regret
from causalehr.nuisance import LifelinesCoxSurvival, PositivityWarning
from causalehr.simulate import simulate

SIMULATION = dict(drug_classes=True, missingness=0.0, horizon=3.0, min_follow_up=3.0, max_follow_up=8.0,
                  censoring_rate=0.75, heterogeneity=2.0)


def _cox():
    return LifelinesCoxSurvival(penalizer=0.01)


@pytest.fixture(scope="module")
def drug_classes():
    cohort = simulate("ehr_diabetes", 3000, seed=1, **SIMULATION)
    d = cohort.data
    X = d[cohort.covariates].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        est = MultiArmCATE(horizon=3.0, reference="dpp4", event_model=_cox(), censoring_model=_cox(),
                           cate_model=LinearRegression(), n_folds=3, random_state=0)
        est.fit(X, d["drug_class"], d["time"], d["event"], groups=d["centre"])
    return cohort, X, est


def test_two_arms_give_the_binary_scores_effects_and_ate():
    cohort = simulate("ehr_diabetes", 600, seed=2, missingness=0.0, horizon=3.0, min_follow_up=3.0,
                      censoring_rate=0.75)
    d = cohort.data
    args = (d[cohort.covariates].to_numpy(), d["treatment"].to_numpy(), d["time"].to_numpy(), d["event"].to_numpy())
    params = dict(horizon=3.0, event_model=_cox(), censoring_model=_cox(), cate_model=LinearRegression(), n_folds=3,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        binary, multi = CensoredCATE(**params).fit(*args), MultiArmCATE(**params).fit(*args)
    np.testing.assert_allclose(multi.contrast_scores(1), binary.scores_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(multi.nuisances_["propensity"][:, 1], binary.nuisances_["propensity"], atol=1e-12)
    np.testing.assert_allclose(multi.effect(args[0], 1), binary.effect(args[0]), rtol=0, atol=1e-10)
    np.testing.assert_allclose(multi.ate_interval(1), binary.ate_interval(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(multi.contrast_scores(0, 1), -binary.scores_, rtol=0, atol=1e-10)


def test_ate_of_every_contrast_against_the_truth(drug_classes):
    cohort, X, est = drug_classes
    mu = cohort.truth[[f"mu_rmst_{a}" for a in est.arms_]].to_numpy()
    table = est.ate_table()
    assert list(zip(table["arm"], table["other"])) == [
        ("glp1", "dpp4"), ("sglt2", "dpp4"), ("sulfonylurea", "dpp4"), ("glp1", "sglt2"), ("glp1", "sulfonylurea"),
        ("sglt2", "sulfonylurea")]
    codes = {a: j for j, a in enumerate(est.arms_)}
    truth = np.array([np.mean(mu[:, codes[a]] - mu[:, codes[b]]) for a, b in zip(table["arm"], table["other"])])
    z = (table["estimate"] - truth) / table["se"]
    assert np.all(np.abs(z) < 3), z
    # the interval is the Wald interval of the contrast scores; a pair's CATE is the difference of the arms' CATEs
    np.testing.assert_allclose(table["upper"] - table["lower"], 2 * 1.959964 * table["se"], rtol=1e-6)
    np.testing.assert_allclose(est.effect(X, "glp1", "sglt2"), est.effect(X, "glp1") - est.effect(X, "sglt2"))


def test_positivity_per_arm_and_centre(drug_classes):
    cohort, _, est = drug_classes
    table = est.arm_positivity_
    e = est.nuisances_["propensity"]
    np.testing.assert_allclose(e.sum(axis=1), 1.0)
    overall = table[table["group"] == "all"].set_index("arm")
    np.testing.assert_allclose(overall.loc[est.arms_, "min_propensity"], e.min(axis=0))
    centre = cohort.data["centre"].to_numpy()
    row = table[(table["group"] == 2) & (table["arm"] == "sglt2")].iloc[0]
    assert row["min_propensity"] == e[centre == 2, list(est.arms_).index("sglt2")].min()
    assert len(table) == 4 * (1 + cohort.data["centre"].nunique())


def test_policy_tree_recovers_a_planted_rule():
    # arm 1 best for x0 < 0.4, arm 2 for x0 >= 0.4 and x1 > 0.6, arm 0 elsewhere; scores with unit noise
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(3000, 3))
    low, high = X[:, 0] < 0.4, (X[:, 0] >= 0.4) & (X[:, 1] > 0.6)
    mu = np.column_stack([np.zeros(3000), np.where(low, 1.0, -1.0), np.where(high, 1.0, -1.0)])
    optimal = np.where(low, 1, np.where(high, 2, 0))
    rule = PolicyRule(max_depth=2, random_state=0).fit(X, mu + rng.normal(size=mu.shape), np.arange(3000) % 5,
                                                       labels=np.array(["a", "b", "c"]))
    assert np.mean(rule.tree_.predict(X) == optimal) > 0.97
    assert np.mean(rule.held_out_arm_ == optimal) > 0.95
    assert rule_regret(rule.held_out_arm_, mu)["regret"] < 0.1
    leaves = rule.describe(["x0", "x1", "x2"]).set_index("conditions")["arm"]
    assert set(leaves) == {"a", "b", "c"}
    first_cut = float(leaves.index[0].split(" ")[2])
    assert leaves.index[0].startswith("x0 <= ") and abs(first_cut - 0.4) < 0.03


def test_rule_value_interval_holds_the_true_value_of_its_held_out_assignments(drug_classes):
    cohort, X, est = drug_classes
    rule = learn_rule(est, X, max_depth=2, random_state=0)
    mu = cohort.truth[[f"mu_rmst_{a}" for a in est.arms_]].to_numpy()
    true = rule_regret(rule.held_out_arm_, mu)
    values = rule.values_.set_index("policy")
    assert values.loc["rule", "lower"] <= true["value"] <= values.loc["rule", "upper"]
    # treating all with one arm: the mean of that arm's scores; the observed practice: of the own-arm outcomes
    np.testing.assert_allclose(values.loc[[f"all {a}" for a in est.arms_], "value"], est.arm_scores_.mean(axis=0))
    assert values.loc["observed practice", "value"] == pytest.approx(est.nuisances_["aipcw"].mean())
    assert 0 <= true["regret"] < true["oracle_value"] - mu.mean(axis=0).min()


def test_bad_input_names_the_values():
    cohort = simulate("ehr_diabetes", 400, seed=4, drug_classes=True, missingness=0.0)
    d = cohort.data
    X = d[cohort.covariates].to_numpy()
    arms = d["drug_class"].to_numpy().copy()
    arms[:3] = "insulin"
    est = MultiArmCATE(horizon=3.0, reference="dpp4", n_folds=5)
    with pytest.raises(ValueError, match=r"^treatment level 'insulin' has fewer than 10 patients; cross-fitting with "
                                         r"n_folds=5 needs at least 10 patients of each level \(2 per fold\)$"):
        est.fit(X, arms, d["time"], d["event"])
    with pytest.raises(ValueError, match=r"^reference arm 'metformin' is not a treatment level; the levels are "
                                         r"\['dpp4', 'glp1', 'sglt2', 'sulfonylurea'\]$"):
        est.set_params(reference="metformin").fit(X, d["drug_class"], d["time"], d["event"])
    with pytest.raises(ValueError, match=r"^MultiArmCATE's method must be one of \('aipcw-dr', 'ipcw-dr', "
                                         r"'aipcw-econml', 't-learner', 'constant'\), got 'x-learner'$"):
        est.set_params(method="x-learner").fit(X, d["drug_class"], d["time"], d["event"])
    folds = np.arange(400) % 5
    with pytest.raises(ValueError, match=r"^a rule of max_depth=3 needs at least 400 patients in each training fold "
                                         r"\(2\*\*3 leaves of min_samples_leaf=50\) and two folds; the smallest "
                                         r"training fold has 320 of 5 folds: lower max_depth or min_samples_leaf$"):
        PolicyRule(max_depth=3).fit(X, np.zeros((400, 4)), folds)


def test_t_learner_constant_and_econml_methods():
    cohort = simulate("ehr_diabetes", 2000, seed=5, **SIMULATION)
    d = cohort.data
    X = d[cohort.covariates].to_numpy()
    params = dict(horizon=3.0, reference="dpp4", event_model=_cox(), censoring_model=_cox(), n_folds=2,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        t_learner = MultiArmCATE(method="t-learner", **params).fit(X, d["drug_class"], d["time"], d["event"])
        constant = MultiArmCATE(method="constant", **params).fit(X, d["drug_class"], d["time"], d["event"])
        learner = DRLearner(model_propensity=LogisticRegression(max_iter=1000, solver="newton-cholesky"),
                            model_regression=LinearRegression(),
                            model_final=LinearRegression(), cv=2, random_state=0)
        econml = MultiArmCATE(method="aipcw-econml", cate_model=learner, **params)
        econml.fit(X, d["drug_class"], d["time"], d["event"])
    tau = t_learner.effects(X)
    assert np.all(tau[:, 0] == 0)   # the reference's column
    for arm in ("sglt2", "glp1"):   # the profile-dependent classes: the per-arm Cox models find who benefits
        j = list(t_learner.arms_).index(arm)
        assert np.corrcoef(tau[:, j], cohort.truth[f"cate_rmst_{arm}"])[0, 1] > 0.3
    np.testing.assert_allclose(constant.effect(X[:3], "glp1", "sglt2"),
                               constant.contrast_scores("glp1").mean() - constant.contrast_scores("sglt2").mean())
    # econml's DRLearner with the drug class as a categorical treatment, on the AIPCW outcome: its average effects
    # agree with the truth within 3 standard errors of the ATE
    tau = econml.effects(X)
    for j, arm in enumerate(econml.arms_):
        se = constant.ate_table().set_index(["arm", "other"]).loc[(arm, "dpp4"), "se"] if arm != "dpp4" else 0
        assert abs(tau[:, j].mean() - cohort.truth[f"cate_rmst_{arm}"].mean()) <= 3 * se
