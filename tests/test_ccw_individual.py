"""Tests of causalehr.ccw.CloneTLearner (individualised effects on the weighted clones)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from test_ccw import TINY  # the hand-made cohort whose weights are worked out there

from causalehr.ccw import CloneCensorWeight, CloneTLearner
from causalehr.simulate import simulate


def test_clone_weights_and_t_learner_hand_computed():
    ccw = CloneCensorWeight(grace=1.0, horizon=2.0, n_intervals=2, start_model=DummyClassifier(strategy="prior"),
                            stabilize=False)
    m = CloneTLearner(ccw, outcome_model=DummyRegressor()).fit(TINY[["x"]], TINY["treatment_start"], TINY["time"],
                                                             TINY["event"])
    # start hazard 3 / 8.3 per interval (r = 8.3 / 5.3 = 1 / (1 - 3 / 8.3), test_ccw.py); P(started by g) = 2/5
    r = 8.3 / 5.3
    c = m.ccw_.clones_.set_index(["strategy", "patient"])
    assert c.loc[("never", 1), "weight"] == pytest.approx(r**0.5)   # B dies at 0.5
    assert c.loc[("never", 2), "weight"] == pytest.approx(r**2)     # C followed to the horizon 2
    assert c.loc[("never", 5), "weight"] == pytest.approx(r**1.8)   # F dies at 1.8
    assert c.loc[("start", 4), "weight"] == pytest.approx(2.5)      # E started 0.2, followed to 2
    assert c.loc[("start", 2), "exit"] == 1.0                       # C censored at g
    mu_start = (2.5 * 1.5 + 0.5 + 2.5 * 2) / 6                      # A, B, E observed
    mu_never = (r**0.5 * 0.5 + r**2 * 2 + r**1.8 * 1.8) / (r**0.5 + r**2 + r**1.8)  # B, C, F
    assert mu_start == pytest.approx(m.ccw_.rmst_["start"])  # IPCW mean = weighted Kaplan-Meier RMST here
    np.testing.assert_allclose(m.effect(TINY[["x"]].to_numpy()), mu_start - mu_never)
    assert m.n_observed_ == {"start": 3, "never": 3}
    with pytest.raises(ValueError, match="X must have 1 covariate columns"):
        m.effect(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="estimand must be one of"):
        CloneTLearner(ccw, estimand="hr").fit(TINY[["x"]], TINY["treatment_start"], TINY["time"], TINY["event"])


def test_t_learner_tracks_true_individual_effects():
    c = simulate("ehr_diabetes", 10_000, 3, time_varying_start=True, missingness=0.0, start_rate=0.2,
                 confounding=0.5, grace=1.0, horizon=3.0, horizon_surv=2.0, min_follow_up=3.0, max_follow_up=6.0)
    df = pd.concat([c.data, pd.get_dummies(c.data["centre"], prefix="centre", drop_first=True, dtype=float)], axis=1)
    cov = c.covariates + [k for k in df.columns if k.startswith("centre_")]
    m = CloneTLearner(CloneCensorWeight(grace=1.0, horizon=3.0, n_intervals=8), random_state=0)
    m.fit(df[cov], df["treatment_start"], df["time"], df["event"])
    est, true = m.effect(df[cov].to_numpy()), c.truth["strategy_rmst_difference"].to_numpy()
    assert np.corrcoef(est, true)[0, 1] > 0.4  # 0.64 observed
    assert abs(est.mean() - true.mean()) < 0.05  # true mean 0.09
