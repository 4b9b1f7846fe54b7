"""Nuisance models for censored causal effects: survival S(t|x,a), censoring G(t|x,a), propensity e(x)."""

from sklearn.linear_model import LogisticRegression
from sksurv.ensemble import RandomSurvivalForest

from .arms import ArmSurvival, check_arms
from .base import check_covariates, check_survival_outcome
from .competing import (
    COMPETING_RISK_MODELS,
    DiscreteTimeCompetingHazard,
    MarginalAalenJohansen,
    SurvivalBoostCompeting,
    check_competing_outcome,
)
from .discrete import DiscreteTimeHazard
from .propensity import PROPENSITY_MODELS, PositivityWarning, make_propensity, positivity_report
from .wrappers import LifelinesCoxSurvival, MarginalKaplanMeier, SksurvSurvival, SurvivalBoostSurvival

# Every survival model of the package (unfitted, default parameters; clone before use): the contract test
# (tests/test_nuisance_contract.py) runs over them, and a registry of model names can take them from here.
SURVIVAL_MODELS = (
    DiscreteTimeHazard(),
    DiscreteTimeHazard(classifier=LogisticRegression(max_iter=1000)),
    LifelinesCoxSurvival(),
    SksurvSurvival(),
    SksurvSurvival(RandomSurvivalForest()),
    SurvivalBoostSurvival(),
    MarginalKaplanMeier(),
)

# Competing-risks models (``predict_cumulative_incidence``) are listed apart, in COMPETING_RISK_MODELS: their
# ``event`` takes the causes 1, 2, ... and their contract is tests/test_nuisance_competing.py.
__all__ = ["COMPETING_RISK_MODELS", "PROPENSITY_MODELS", "SURVIVAL_MODELS", "ArmSurvival", "DiscreteTimeCompetingHazard",
           "DiscreteTimeHazard", "LifelinesCoxSurvival", "MarginalAalenJohansen", "MarginalKaplanMeier",
           "PositivityWarning", "SksurvSurvival", "SurvivalBoostCompeting", "SurvivalBoostSurvival", "check_arms",
           "check_competing_outcome", "check_covariates", "check_survival_outcome", "make_propensity",
           "positivity_report"]
