"""Nuisance models for censored causal effects: survival S(t|x,a), censoring G(t|x,a), propensity e(x)."""

from .arms import ArmSurvival, check_arms
from .base import check_covariates, check_survival_outcome
from .discrete import DiscreteTimeHazard
from .propensity import PositivityWarning, make_propensity, positivity_report
from .wrappers import LifelinesCoxSurvival, MarginalKaplanMeier, SksurvSurvival, SurvivalBoostSurvival

__all__ = ["ArmSurvival", "DiscreteTimeHazard", "LifelinesCoxSurvival", "MarginalKaplanMeier", "PositivityWarning", "SksurvSurvival",
           "SurvivalBoostSurvival", "check_arms", "check_covariates", "check_survival_outcome", "make_propensity",
           "positivity_report"]
