"""One analysis of ehr_diabetes(drug_classes=True): ATE of every contrast, positivity per arm, the depth-2 rule, its
held-out value against one-arm policies and the observed practice, its true regret, and the markers of SGLT2i vs DPP-4i.

  nice -n 10 python benchmarks/example_multiarm.py      # about 1.5 min on 2 busy cores
"""

import warnings

from sklearn.linear_model import LinearRegression

from causalehr.cate import MultiArmCATE, learn_rule
from causalehr.metrics import markers_table, rule_regret
from causalehr.nuisance import LifelinesCoxSurvival
from causalehr.simulate import simulate

c = simulate("ehr_diabetes", 4000, seed=0, drug_classes=True, missingness=0.0, horizon=3.0, min_follow_up=3.0,
             max_follow_up=8.0, censoring_rate=0.75, heterogeneity=2.0)
d, X = c.data, c.data[c.covariates].to_numpy()
warnings.simplefilter("ignore")  # positivity warnings: the sulfonylurea propensity is small for some
est = MultiArmCATE(horizon=3.0, reference="dpp4", event_model=LifelinesCoxSurvival(penalizer=0.01),
                   censoring_model=LifelinesCoxSurvival(penalizer=0.01), cate_model=LinearRegression(), n_folds=5,
                   random_state=0).fit(X, d["drug_class"], d["time"], d["event"], groups=d["centre"])
print(est.ate_table().round(3).to_string(index=False))
print(est.arm_positivity_.query("group == 'all'").round(3).to_string(index=False))
rule = learn_rule(est, X, max_depth=2, random_state=0)
print(rule.describe(c.covariates).round(3).to_string(index=False))
print(rule.values_.round(3).to_string(index=False))
mu = c.truth[[f"mu_rmst_{a}" for a in est.arms_]].to_numpy()
print({k: round(v, 4) for k, v in rule_regret(rule.held_out_arm_, mu).items()})
m = markers_table(d[c.covariates], est.contrast_scores("sglt2"), random_state=0)
print(m[m.kind != "projection"].head(12).round(3).to_string(index=False))
