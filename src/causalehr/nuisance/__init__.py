"""Nuisance models for censored causal effects: survival S(t|x,a), censoring G(t|x,a), propensity e(x)."""

from sklearn.linear_model import LogisticRegression
from sksurv.ensemble import RandomSurvivalForest

from .arms import ArmSurvival, check_arms
from .base import check_covariates, check_survival_outcome
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

__all__ = ["PROPENSITY_MODELS", "SURVIVAL_MODELS", "ArmSurvival", "DiscreteTimeHazard", "LifelinesCoxSurvival",
           "MarginalKaplanMeier", "PositivityWarning", "SksurvSurvival", "SurvivalBoostSurvival", "check_arms",
           "check_covariates", "check_survival_outcome", "make_propensity", "positivity_report"]
