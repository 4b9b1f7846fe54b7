"""Strategy 1: censoring-adjusted CATE learners (IPCW / AIPCW pseudo-outcomes, DR-learner, econml, meta-learners)."""

from .estimator import METHODS, CensoredCATE, fit_cate
from .horizon import HorizonProposal, propose_horizon
from .pseudo import censoring_pseudo_outcomes, dr_scores, functional, time_grid

__all__ = ["METHODS", "CensoredCATE", "HorizonProposal", "censoring_pseudo_outcomes", "dr_scores", "fit_cate",
           "functional", "propose_horizon", "time_grid"]
