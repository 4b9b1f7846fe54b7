"""Strategy 2: clone-censor-weight (CCW) target-trial emulation with machine-learning weights."""

from .estimator import STRATEGIES, CloneCensorWeight, check_ccw_input, fit_ccw, fit_graces
from .individual import CloneTLearner
from .naive import naive_comparisons

__all__ = ["STRATEGIES", "CloneCensorWeight", "CloneTLearner", "check_ccw_input", "fit_ccw", "fit_graces",
           "naive_comparisons"]
