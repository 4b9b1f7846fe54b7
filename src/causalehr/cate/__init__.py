"""Strategy 1: censoring-adjusted CATE learners (IPCW / AIPCW pseudo-outcomes, DR-learner, econml, meta-learners)."""

from .conformal import ConformalITE
from .estimator import METHODS, CensoredCATE, fit_cate
from .horizon import HorizonProposal, propose_horizon
from .multiarm import MULTIARM_METHODS, MultiArmCATE
from .pseudo import arm_scores, censoring_pseudo_outcomes, dr_scores, functional, time_grid
from .rules import PolicyRule, learn_rule
from .transport import transport_ate

__all__ = ["METHODS", "MULTIARM_METHODS", "CensoredCATE", "ConformalITE", "HorizonProposal", "MultiArmCATE", "PolicyRule",
           "arm_scores", "censoring_pseudo_outcomes", "dr_scores", "fit_cate", "functional", "learn_rule",
           "propose_horizon", "time_grid", "transport_ate"]
