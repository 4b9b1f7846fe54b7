"""The one registry of names: the schema's enums equal it, and misspelt names stop before any work."""

from pathlib import Path

import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from causalehr import registry
from causalehr.nuisance import DiscreteTimeHazard, MarginalKaplanMeier

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_schema_enums_are_the_registry_names():
    defs, props = SCHEMA["$defs"], SCHEMA["properties"]
    assert defs["method"]["properties"]["method"]["enum"] == sorted(registry.NAMED_METHODS)
    assert defs["survival_model"]["enum"] == sorted(registry.SURVIVAL_MODELS)
    one, several = defs["method"]["properties"]["propensity_model"]["anyOf"]
    assert one["enum"] == several["items"]["enum"] == sorted(registry.CLASSIFIERS)
    assert defs["method"]["properties"]["cate_model"]["enum"] == sorted(registry.REGRESSORS)
    assert props["ccw"]["properties"]["weights"]["propertyNames"]["enum"] == sorted(registry.WEIGHT_MODELS)
    assert props["trial"]["properties"]["weights"]["propertyNames"]["enum"] == sorted(registry.WEIGHT_MODELS)
    settings = props["simulation"]["properties"]["settings"]["additionalProperties"]["properties"]
    assert settings["simulator"]["enum"] == sorted(registry.SIMULATORS)
    assert props["estimands"]["items"]["enum"] == list(registry.ESTIMANDS)
    assert settings["estimands"]["items"]["enum"] == list(registry.ESTIMANDS)
    competing = props["ccw"]["properties"]["competing"]["properties"]["weights"]
    assert competing["propertyNames"]["enum"] == sorted(registry.WEIGHT_MODELS)
    from causalehr.cohort.designs import DESIGNS
    assert props["design"]["properties"]["designs"]["items"]["enum"] == sorted(DESIGNS)
    assert props["design"]["properties"]["weights"]["propertyNames"]["enum"] == sorted(registry.WEIGHT_MODELS)


def test_benchmark_learners_are_valid_specifications():
    for name, spec in registry.LEARNERS.items():
        registry.check_method_spec(spec, f"LEARNERS.{name}")


def test_make_estimator_builds_the_named_models_with_the_seed():
    est = registry.make_estimator({"method": "x-learner", "event_model": "discrete-time-logistic",
                                   "censoring_model": "kaplan-meier", "n_folds": 3}, "surv", 2.0, 7)
    assert (est.method, est.estimand, est.horizon, est.random_state, est.n_folds) == ("x-learner", "surv", 2.0, 7, 3)
    assert isinstance(est.event_model, DiscreteTimeHazard) and est.event_model.random_state == 7
    assert isinstance(est.event_model.classifier, LogisticRegression)
    assert isinstance(est.censoring_model, MarginalKaplanMeier)


@pytest.mark.parametrize("spec, message", [
    ({"method": "aipcw-dr", "event_modle": "cox"},
     "methods.m: unknown option(s) ['event_modle']; accepted: ['calibrate_propensity', 'candidates', "
     "'cate_model', 'censoring_model', 'combine', 'event_model', 'extrapolate', 'method', 'min_censoring_survival', "
     "'n_folds', 'n_grid', 'on_positivity_failure', 'propensity_bounds', 'propensity_model', 'selection_risk', "
     "'treatment_as_feature']"),
    ({"method": "aipcw-dr", "censoring_model": "kaplan_meier"},
     "methods.m: unknown censoring_model 'kaplan_meier'; known: ['aalen-johansen', 'cox', 'discrete-time', "
     "'discrete-time-competing', 'discrete-time-competing-logistic', 'discrete-time-logistic', 'kaplan-meier', "
     "'survivalboost', "
     "'survivalboost-competing']"),
    ({"method": "dr-learner"},
     "methods.m: unknown method 'dr-learner'; known: ['aipcw-causal-forest', 'aipcw-dr', 'auto', 'constant', "
     "'ipcw-dr', 's-learner', 't-learner', 'x-learner']"),
    ({"method": "aipcw-dr", "horizon": 3.0}, "methods.m: unknown option(s) ['horizon']"),
])
def test_a_misspelt_method_specification_is_named(spec, message):
    with pytest.raises(ValueError) as error:
        registry.check_method_spec(spec, "methods.m")
    assert str(error.value).startswith(message)


def test_check_config_passes_the_shipped_configs_and_names_a_wrong_key():
    for name in ("config.yaml", "quick.yaml", "large.yaml"):
        registry.check_config(yaml.safe_load((ROOT / "config" / name).read_text()))
    bad = {**CONFIG, "casestudy": {**CONFIG["casestudy"], "methods": {"x": {"method": "t-learner",
                                                                          "event_model": "coxph"}}}}
    with pytest.raises(ValueError, match=r"^casestudy\.methods\.x: unknown event_model 'coxph'"):
        registry.check_config(bad)
    bad = {**CONFIG, "simulation": {**CONFIG["simulation"], "settings": {
        "s": {"simulator": "csf1", "n": 100, "params": {"n_covariate": 5}}}}}
    with pytest.raises(ValueError, match=r"^simulation\.settings\.s: unknown parameter\(s\) \['n_covariate'\] of "
                                         r"simulator 'csf1'; accepted: \["):
        registry.check_config(bad)
    bad = {**CONFIG, "ccw": {**CONFIG["ccw"], "simulation": {"start_rates": 0.2}}}
    with pytest.raises(ValueError, match=r"^ccw\.simulation: unknown parameter\(s\) \['start_rates'\]"):
        registry.check_config(bad)


def test_check_config_checks_the_trial_block(tmp_path):
    trial = CONFIG["trial"]
    registry.check_config({**CONFIG, "trial": {**trial, "warehouse": {"source": "omop.duckdb"}, "replications": 1}})
    with pytest.raises(ValueError, match=r"^trial\.replications: your own warehouse \(trial\.warehouse\.source\) is "
                                         r"analysed once: set replications: 1, got 3$"):
        registry.check_config({**CONFIG, "trial": {**trial, "warehouse": {"source": "omop.duckdb"}, "replications": 3}})
    with pytest.raises(ValueError, match=r"^trial\.replications: a synthetic warehouse needs at least 2 replications"):
        registry.check_config({**CONFIG, "trial": {**trial, "replications": 1}})
    with pytest.raises(ValueError, match=r"^trial\.methods\.m: unknown method 'dr'"):
        registry.check_config({**CONFIG, "trial": {**trial, "methods": {"m": {"method": "dr"}}}})
    with pytest.raises(ValueError, match=r"^trial\.warehouse\.synthetic\.params: unknown parameter\(s\) \['missing'\]"):
        registry.check_config({**CONFIG, "trial": {**trial, "warehouse": {"synthetic": {"n": 500, "params": {
            "missing": 0.0}}}}})
    spec = yaml.safe_load((ROOT / "config" / "trials" / "ehr_diabetes_grace.yaml").read_text())
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**spec, "horizon": 5}))
    with pytest.raises(ValueError, match=r"^trial\.trials\.bad: trial specification: unknown key 'horizon' in the top "
                                         r"level; allowed keys: \["):
        registry.check_config({**CONFIG, "trial": {**trial, "trials": {"bad": str(tmp_path / "bad.yaml")}}})
    (tmp_path / "days.yaml").write_text(yaml.safe_dump({**spec, "time_unit": "days"}))
    with pytest.raises(ValueError, match=r"^trial\.trials\.days: a synthetic warehouse needs time_unit: years"):
        registry.check_config({**CONFIG, "trial": {**trial, "trials": {"days": str(tmp_path / "days.yaml")}}})


def test_competing_risks_settings_estimands_and_models():
    from causalehr.nuisance import DiscreteTimeCompetingHazard

    est = registry.make_estimator({"method": "aipcw-dr", "event_model": "discrete-time-competing"}, "cif", 1.2, 3)
    assert est.estimand == "cif" and isinstance(est.event_model, DiscreteTimeCompetingHazard)
    assert est.event_model.random_state == 3
    assert registry.is_competing({"simulator": "csf2_competing"})
    assert registry.is_competing({"simulator": "ehr_diabetes", "params": {"competing_death": True}})
    assert not registry.is_competing({"simulator": "ehr_diabetes"})
    settings = CONFIG["simulation"]["settings"]
    assert registry.setting_estimands(settings["csf2_competing"], CONFIG["estimands"]) == ["cif", "rmtl"]
    assert registry.setting_estimands(settings["csf1"], CONFIG["estimands"]) == ["rmst", "surv"]
    assert registry.setting_methods(settings["csf1"], CONFIG["methods"]) == list(CONFIG["methods"])
    bad = {**CONFIG, "simulation": {**CONFIG["simulation"], "settings": {
        "s": {"simulator": "csf1", "n": 100, "estimands": ["rmst", "cif"]}}}}
    with pytest.raises(ValueError, match=r"^simulation\.settings\.s: estimand\(s\) \['cif'\] need a competing event, "
                                         r"which simulator 'csf1' with params \{\} does not have"):
        registry.check_config(bad)
    bad["simulation"]["settings"]["s"] = {"simulator": "csf2_competing", "n": 100, "methods": ["aipcw-dr", "dr"]}
    with pytest.raises(ValueError, match=r"^simulation\.settings\.s\.methods: unknown method\(s\) \['dr'\]"):
        registry.check_config(bad)
    datasets = {**CONFIG["casestudy"]["datasets"], "cgvhd": {"methods": {"x": {"method": "aipcw-dr",
                                                                             "event_model": "fine-gray"}}}}
    with pytest.raises(ValueError, match=r"^casestudy\.datasets\.cgvhd\.methods\.x: unknown event_model 'fine-gray'"):
        registry.check_config({**CONFIG, "casestudy": {**CONFIG["casestudy"], "datasets": datasets}})
    bad = {**CONFIG, "ccw": {**CONFIG["ccw"], "competing": {"death_effect": 0.0, "weights": {"lasso": 0}}}}
    with pytest.raises(ValueError, match=r"^ccw\.competing\.weights: unknown weight model\(s\) \['lasso'\]"):
        registry.check_config(bad)


def test_schema_multiarm_reference_enum_is_the_simulator_drug_classes():
    from causalehr.simulate.ehr import DRUG_CLASSES

    assert SCHEMA["properties"]["multiarm"]["properties"]["reference"]["enum"] == sorted(DRUG_CLASSES)
