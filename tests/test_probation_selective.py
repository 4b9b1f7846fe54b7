import numpy as np
import pytest

from causalehr.probation import (
    aurc,
    correctness,
    risk_coverage,
    routing_cost,
    selective_prediction,
    simulate_extraction,
    threshold_for_accuracy,
)
from causalehr.probation.selective import expected_calibration_error

CONF = [0.9, 0.8, 0.7, 0.6]
CORRECT = [1, 0, 1, 1]


def test_risk_coverage_and_aurc_hand_computed():
    rc = risk_coverage(CONF, CORRECT)
    assert rc["coverage"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert rc["risk"].tolist() == pytest.approx([0, 0.5, 1 / 3, 0.25])
    assert aurc(CONF, CORRECT) == pytest.approx((0 + 0.5 + 1 / 3 + 0.25) / 4)
    # ties are accepted together; missing values are left out
    rc = risk_coverage([0.9, 0.9, 0.5, np.nan], [1, 0, 1, 1])
    assert rc["n_accepted"].tolist() == [2, 3] and rc["risk"].tolist() == pytest.approx([0.5, 1 / 3])
    with pytest.raises(ValueError, match="confidence has shape"):
        risk_coverage([0.1, 0.2], [1])


def test_threshold_for_target_accuracy_and_cost():
    assert threshold_for_accuracy(CONF, CORRECT, 0.75)["threshold"] == 0.6
    t = threshold_for_accuracy(CONF, CORRECT, 0.8)
    assert t["threshold"] == 0.9 and t["coverage"] == 0.25 and t["review_share"] == 0.75
    assert np.isnan(threshold_for_accuracy(CONF, CORRECT, 0.8, alpha=0.05)["threshold"])  # 1/1 too few
    cost = routing_cost(CONF, CORRECT, error_cost=1.0, review_cost=0.1).set_index("n_accepted")["cost_per_value"]
    # accept none: 4 reviews * .1 / 4; accept first: 3 * .1 / 4; first two: (1 + 2 * .1) / 4; all: 1 / 4
    assert cost.tolist() == pytest.approx([0.1, 0.075, 0.3, 0.275, 0.25])


def test_calibrated_scores_give_the_bayes_threshold():
    data = simulate_extraction(20000, seed=2)
    corr = correctness(data.reference, data.sources["ai"], data.spec)
    res = selective_prediction(data.confidence["ai"], corr, error_cost=1.0, review_cost=0.1).set_index("variable")
    # calibrated: accepting a value costs 1 - confidence, reviewing it .1 -> optimal threshold 0.9
    assert np.abs(res["cost_threshold"] - 0.9).max() < 0.05
    assert (res["ece"] < 0.02).all()
    assert (res["accuracy_lower_safe"] >= 0.95).all() and (res["coverage_safe"] <= res["coverage"]).all()
    over = simulate_extraction(20000, seed=2, calibrated=False)
    ece = expected_calibration_error(over.confidence["ai"]["female"], corr["female"])
    assert ece > 0.04
    # a monotone distortion keeps the ranking: same AURC
    assert aurc(over.confidence["ai"]["female"], corr["female"]) == pytest.approx(res.loc["female", "aurc"])
