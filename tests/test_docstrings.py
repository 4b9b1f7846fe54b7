"""The public estimators' docstrings: numpydoc sections that name every parameter, and Examples that run (doctest),
so that the examples cannot rot."""

import doctest
import importlib
import inspect
import re

import pytest

from causalehr.cate import CensoredCATE, ConformalITE, MultiArmCATE, PolicyRule, fit_cate
from causalehr.nuisance import (
    ArmSurvival,
    DiscreteTimeCompetingHazard,
    DiscreteTimeHazard,
    LifelinesCoxSurvival,
    MarginalAalenJohansen,
    MarginalKaplanMeier,
    SksurvSurvival,
    SurvivalBoostCompeting,
    SurvivalBoostSurvival,
    make_propensity,
)

MODULES = ["causalehr.cate.estimator", "causalehr.nuisance.arms", "causalehr.nuisance.competing",
           "causalehr.nuisance.discrete", "causalehr.nuisance.propensity", "causalehr.nuisance.wrappers",
           "causalehr.cate.multiarm", "causalehr.cate.rules", "causalehr.cate.conformal"]
PUBLIC = [CensoredCATE, fit_cate, ArmSurvival, DiscreteTimeHazard, LifelinesCoxSurvival, MarginalKaplanMeier,
          SksurvSurvival, SurvivalBoostSurvival, make_propensity, DiscreteTimeCompetingHazard, SurvivalBoostCompeting,
          MarginalAalenJohansen, MultiArmCATE, PolicyRule, ConformalITE]
DOCTESTS = [t for name in MODULES for t in doctest.DocTestFinder().find(importlib.import_module(name)) if t.examples]


def section(doc, title):
    """Text of a numpydoc section (title underlined with dashes), or None."""
    match = re.search(rf"^{title}\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", inspect.cleandoc(doc), re.S | re.M)
    return None if match is None else match.group(1)


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: o.__name__)
def test_numpydoc_sections_name_every_parameter(obj):
    doc = obj.__doc__
    assert section(doc, "Examples") is not None
    if inspect.isclass(obj):
        assert section(doc, "Attributes") is not None
    names = [p.name if p.kind is not p.VAR_KEYWORD else f"**{p.name}"
             for p in inspect.signature(obj).parameters.values()]
    if names:
        documented = section(doc, "Parameters")
        entries = {n.strip() for line in re.findall(r"^(\S[^:\n]*)", documented, re.M) for n in line.split(",")}
        assert set(names) <= entries, set(names) - entries


def test_every_public_object_of_the_modules_has_its_examples_run():
    assert {t.name.rsplit(".", 1)[-1] for t in DOCTESTS} == {o.__name__ for o in PUBLIC}


@pytest.mark.parametrize("test", DOCTESTS, ids=lambda t: t.name)
def test_docstring_examples_run(test):
    output = []
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=output.append)
    assert result.failed == 0, "".join(output)
