"""Strategy 1: censoring-adjusted CATE learners (IPCW / AIPCW pseudo-outcomes, DR-learner, econml, meta-learners)."""

from .estimator import METHODS, CensoredCATE, fit_cate
from .pseudo import censoring_pseudo_outcomes, dr_scores, functional, time_grid

__all__ = ["METHODS", "CensoredCATE", "censoring_pseudo_outcomes", "dr_scores", "fit_cate", "functional",
           "time_grid"]
