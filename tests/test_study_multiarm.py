"""Which treatment for whom (causalehr.studies.multiarm): the summary of hand-built replications against hand-computed
values, and the config's bad input named before any job."""

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT

from causalehr import registry
from causalehr.studies import multiarm


def hand_built():
    """Two replications of one contrast, two policies (value and gain rows) and one conformal level."""
    contrasts = pd.DataFrame({"replication": [0, 1], "contrast": ["sglt2 - dpp4"] * 2, "estimate": [0.3, 0.1],
                              "lower": [0.1, 0.25], "upper": [0.5, 0.4], "truth": [0.2, 0.2],
                              "cate_mse": [0.02, 0.04], "seconds": [1.0, 1.0]})
    policies = pd.DataFrame({
        "replication": [0, 0, 0, 1, 1, 1], "policy": ["rule", "all dpp4", "all dpp4"] * 2,
        "measure": ["value", "value", "gain"] * 2, "estimate": [2.6, 2.5, 0.1, 2.8, 2.4, 0.4],
        "lower": [2.5, 2.4, 0.0, 2.75, 2.3, 0.3], "upper": [2.7, 2.6, 0.2, 2.85, 2.5, 0.5],
        "truth": [2.65, 2.45, 0.2, 2.7, 2.45, 0.25],
        "regret": [0.1, np.nan, np.nan, 0.3, np.nan, np.nan], "oracle_value": [2.75, np.nan, np.nan, 3.0, np.nan, np.nan],
        "agreement": [0.5, np.nan, np.nan, 0.7, np.nan, np.nan]})
    conformal = pd.DataFrame({"replication": [0, 0, 1], "conformal_rep": [0, 1, 0], "level": [0.9] * 3,
                              "effect_coverage": [0.9, 0.96, 0.93], "effect_width": [2.0, 2.2, 2.4],
                              "arm0_coverage": [0.95, 0.95, 0.95], "arm1_coverage": [0.94, 0.96, 0.95]})
    return contrasts, policies, conformal


def test_summarise_recovers_hand_computed_values():
    s = multiarm.summarise(*hand_built())
    c = s["contrasts"].iloc[0]
    # errors 0.1 and -0.1: bias 0, MCSE sd / sqrt(2) = 0.1; the truth 0.2 is in [0.1, 0.5], not in [0.25, 0.4]
    assert (c["contrast"], c["bias"], c["coverage"]) == ("sglt2 - dpp4", pytest.approx(0.0), 0.5)
    assert c["bias_mcse"] == pytest.approx(0.1)
    assert c["width"] == pytest.approx(0.275)
    assert (c["cate_mse"], c["cate_mse_mcse"]) == (pytest.approx(0.03), pytest.approx(0.01))
    p = s["policies"].set_index(["policy", "measure"])
    assert p.loc[("rule", "value"), "bias"] == pytest.approx((-0.05 + 0.1) / 2)
    assert p.loc[("rule", "value"), "coverage"] == 0.5  # 2.7 is outside [2.75, 2.85]
    assert p.loc[("all dpp4", "gain"), "bias"] == pytest.approx((-0.1 + 0.15) / 2)
    assert p.loc[("all dpp4", "gain"), "truth"] == pytest.approx(0.225)
    r = s["regret"].iloc[0]
    assert (r["miss_above"], r["miss_below"]) == (0.5, 0.0)  # [2.75, 2.85] lies above the truth 2.7: too high
    assert (r["regret"], r["regret_mcse"], r["agreement"]) == (pytest.approx(0.2), pytest.approx(0.1),
                                                               pytest.approx(0.6))
    f = s["conformal"].iloc[0]
    assert (f["replications"], f["effect_coverage"], f["effect_width"]) == (3, pytest.approx(0.93), pytest.approx(2.2))
    assert f["effect_coverage_mcse"] == pytest.approx(0.03 / np.sqrt(3))
    values = multiarm.multiarm_values(s, {"n": "800"}, {"n": 800})["multiarm"]
    assert values["contrasts"]["sglt2_vs_dpp4"]["cate_mse"] == "0.03"
    assert values["policies"]["all_dpp4"]["gain"]["truth"] == "0.225"
    assert (values["replications"], values["conformal"]["l90"]["effect_coverage"]) == (2, "0.93")


def test_a_rule_depth_the_cohort_cannot_support_is_named_before_any_job():
    config = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    config["multiarm"]["rule"] = {"max_depth": 3, "min_samples_leaf": 60}
    with pytest.raises(ValueError, match=r"^multiarm\.rule: a rule of max_depth=3 needs at least 480 patients in each "
                                         r"training fold \(2\*\*3 leaves of min_samples_leaf=60\); multiarm\.n=800 "
                                         r"with 2 folds gives about 400: lower max_depth or min_samples_leaf, or "
                                         r"raise n$"):
        registry._check_multiarm(config["multiarm"])  # as check_config does at the start of a run
    config["multiarm"]["rule"] = {"max_depth": 2, "min_samples_leaf": 50}
    config["multiarm"]["estimator"]["method"] = "x-learner"
    with pytest.raises(ValueError, match=r"^multiarm\.estimator: MultiArmCATE's method must be one of \['aipcw-dr', "
                                         r"'constant', 'ipcw-dr', 't-learner'\], got 'x-learner'$"):
        registry._check_multiarm(config["multiarm"])  # as check_config does at the start of a run
