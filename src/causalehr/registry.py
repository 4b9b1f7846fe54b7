"""The one registry of names: CATE methods, nuisance models, clone-censor-weight weight models, simulators.

The config, its schema (``config/schema.yaml``, whose enums a test holds equal to these names), the studies and
the benchmarks all take names from here; :func:`check_method_spec` and :func:`check_config` reject a misspelt
name or option before any work starts, naming the key and the accepted values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV

from causalehr.cate import METHODS, CensoredCATE
from causalehr.cate.competing import COMPETING_ESTIMANDS
from causalehr.cate.pseudo import ESTIMANDS as SURVIVAL_ESTIMANDS
from causalehr.simulate import SETTINGS as SIMULATORS
from causalehr.simulate import setting_params

__all__ = ["CLASSIFIERS", "COMPETING_ESTIMANDS", "ESTIMANDS", "LEARNERS", "METHODS", "MODEL_KEYS", "NAMED_METHODS", "REGRESSORS",
           "SIMULATORS", "SURVIVAL_MODELS", "WEIGHT_MODELS", "check_config", "check_method_spec", "is_competing",
           "make_estimator", "setting_estimands", "setting_methods"]

# estimands of the config: all-cause (any simulator) and competing-risks (cause 1 of a competing-risks simulator)
ESTIMANDS = SURVIVAL_ESTIMANDS + COMPETING_ESTIMANDS
# simulators whose cohorts have a competing event: always, or with the given parameter set to true
_COMPETING_SIMULATORS = {"csf2_competing": None, "ehr_diabetes": "competing_death"}

# methods a specification can name: the econml ones take a learner object as cate_model, which has no name here
NAMED_METHODS = tuple(m for m in METHODS if not m.endswith("-econml"))


def _nuisance():
    import causalehr.nuisance as nuisance

    return nuisance


Factory = Callable[[int], object]  # random_state -> a fresh, unfitted estimator

SURVIVAL_MODELS: dict[str, Factory] = {
    "discrete-time": lambda seed: _nuisance().DiscreteTimeHazard(random_state=seed),
    "discrete-time-logistic": lambda seed: _nuisance().DiscreteTimeHazard(
        classifier=LogisticRegression(max_iter=1000), random_state=seed
    ),
    "cox": lambda seed: _nuisance().LifelinesCoxSurvival(penalizer=0.01),
    "survivalboost": lambda seed: _nuisance().SurvivalBoostSurvival(random_state=seed),
    "kaplan-meier": lambda seed: _nuisance().MarginalKaplanMeier(),
    # competing risks (cumulative incidence of each cause; also all-cause survival models)
    "discrete-time-competing": lambda seed: _nuisance().DiscreteTimeCompetingHazard(random_state=seed),
    "discrete-time-competing-logistic": lambda seed: _nuisance().DiscreteTimeCompetingHazard(
        classifier=LogisticRegression(max_iter=1000), random_state=seed),
    "survivalboost-competing": lambda seed: _nuisance().SurvivalBoostCompeting(random_state=seed),
    "aalen-johansen": lambda seed: _nuisance().MarginalAalenJohansen(),
}
CLASSIFIERS: dict[str, Factory] = {
    "logistic": lambda seed: LogisticRegression(max_iter=1000),
    "hgb": lambda seed: HistGradientBoostingClassifier(random_state=seed),
}
REGRESSORS: dict[str, Factory] = {
    "hgb": lambda seed: HistGradientBoostingRegressor(max_depth=3, learning_rate=0.05, random_state=seed),
    "forest": lambda seed: RandomForestRegressor(n_estimators=300, min_samples_leaf=20, random_state=seed),
    "ridge": lambda seed: RidgeCV(),
}
# key of a method specification -> the registry its value is looked up in
MODEL_KEYS: dict[str, dict[str, Factory]] = {
    "event_model": SURVIVAL_MODELS,
    "censoring_model": SURVIVAL_MODELS,
    "propensity_model": CLASSIFIERS,
    "cate_model": REGRESSORS,
}
# keys whose value may be a list of names, chosen among by cross-validation (registry._model)
_CHOOSABLE = ("event_model", "censoring_model", "propensity_model")
# clone-censor-weight: classifiers of the discrete hazards of starting treatment and of being censored
WEIGHT_MODELS: dict[str, Factory] = {
    "logistic": lambda seed: LogisticRegression(max_iter=1000),
    "boosting": lambda seed: HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=50, early_stopping=False,
        random_state=seed),
}
# named learners of the benchmarks: label -> method specification (as in the config's `methods`);
# "pooled-causal-forest" fits event and censoring models with the treatment as a feature, as grf does
LEARNERS: dict[str, dict] = {
    **{m: {"method": m} for m in ("aipcw-dr", "ipcw-dr", "aipcw-causal-forest", "t-learner", "s-learner",
                                  "x-learner", "constant", "auto")},
    "pooled-causal-forest": {"method": "aipcw-causal-forest", "treatment_as_feature": True},
}
# options of CensoredCATE a specification may set besides the model names (not: estimand, horizon, random_state,
# which the study sets, the workers it gives, and the cause of interest and causes of competing-risks data)
_SET_BY_STUDY = ("estimand", "horizon", "random_state", "n_jobs", "cause", "causes")
SPEC_OPTIONS = tuple(p for p in inspect.signature(CensoredCATE).parameters
                     if p not in _SET_BY_STUDY and p not in MODEL_KEYS and p != "method")


def check_method_spec(spec: Mapping, where: str = "method") -> None:
    """Check a method specification (``{"method": ..., "event_model": ..., ...}``) without building anything.

    Raises ValueError naming ``where`` (the config key), the offending key or value and the accepted ones.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: expected a mapping with a 'method' key, got {type(spec).__name__}")
    if spec.get("method") not in NAMED_METHODS:
        raise ValueError(f"{where}: unknown method {spec.get('method')!r}; known: {sorted(NAMED_METHODS)}")
    allowed = {"method", *MODEL_KEYS, *SPEC_OPTIONS}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; accepted: {sorted(allowed)}")
    for key, registry in MODEL_KEYS.items():
        if key not in spec:
            continue
        names = spec[key]
        if isinstance(names, list) and (not names or key not in _CHOOSABLE):
            raise ValueError(f"{where}: {key} as a list (candidates chosen by cross-validation) must name at least "
                             f"one model and is accepted for {sorted(_CHOOSABLE)} only, got {names!r}")
        for name in names if isinstance(names, list) else [names]:
            if name not in registry:
                raise ValueError(f"{where}: unknown {key} {name!r}; known: {sorted(registry)}")


def _model(key: str, value, seed: int):
    """The model of a method specification's ``key``: a registry name, or a list of names chosen among by
    cross-validation (:class:`causalehr.nuisance.selection.SurvivalModelCV` for survival models,
    :func:`~causalehr.nuisance.selection.propensity_cv` for the propensity)."""
    if not isinstance(value, list):
        return MODEL_KEYS[key][value](seed)
    from causalehr.nuisance.selection import SurvivalModelCV, propensity_cv

    candidates = {name: MODEL_KEYS[key][name](seed) for name in value}
    return propensity_cv(candidates) if key == "propensity_model" else SurvivalModelCV(candidates, random_state=seed)


def make_estimator(spec: Mapping, estimand: str, horizon: float, random_state: int, n_jobs: int | None = None
                   ) -> CensoredCATE:
    """A :class:`causalehr.cate.CensoredCATE` from a method specification (see :func:`check_method_spec`):
    model names are replaced by fresh models seeded with ``random_state``; ``n_jobs``: its workers (threads)."""
    check_method_spec(spec)
    kwargs = {key: _model(key, value, random_state) if key in MODEL_KEYS else value for key, value in spec.items()}
    return CensoredCATE(estimand=estimand, horizon=horizon, random_state=random_state, n_jobs=n_jobs, **kwargs)


def _check_simulator(name: str, params: Mapping, where: str) -> None:
    if name not in SIMULATORS:
        raise ValueError(f"{where}: unknown simulator {name!r}; known: {sorted(SIMULATORS)}")
    unknown = sorted(set(params) - set(setting_params(name)))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown} of simulator {name!r}; "
                         f"accepted: {sorted(setting_params(name))}")


def is_competing(setting: Mapping) -> bool:
    """Whether a setting of the config (simulator, params) simulates a competing event (event codes 1 and 2)."""
    name = setting["simulator"]
    if name not in _COMPETING_SIMULATORS:
        return False
    knob = _COMPETING_SIMULATORS[name]
    return knob is None or bool(setting.get("params", {}).get(knob, False))


def setting_estimands(setting: Mapping, estimands) -> list[str]:
    """The estimands of a setting: its own ``estimands`` list, else the config's ``estimands``."""
    return list(setting.get("estimands", estimands))


def setting_methods(setting: Mapping, methods: Mapping) -> list[str]:
    """The method names a setting is estimated with: its own ``methods`` list, else every name of the config's
    ``methods``."""
    return list(setting.get("methods", methods))


def _check_estimands(setting: Mapping, estimands, where: str) -> None:
    """Competing-risks estimands need a competing-risks setting (and the all-cause ones are kept for both: on
    competing-risks data they are the net survival of cause 1, deaths censored)."""
    wrong = [e for e in setting_estimands(setting, estimands) if e in COMPETING_ESTIMANDS]
    if wrong and not is_competing(setting):
        raise ValueError(f"{where}: estimand(s) {wrong} need a competing event, which simulator "
                         f"{setting['simulator']!r} with params {dict(setting.get('params', {}))} does not have; "
                         f"use csf2_competing or ehr_diabetes with competing_death: true, or set the setting's "
                         f"estimands: {list(SURVIVAL_ESTIMANDS)}")


def check_config(config: Mapping) -> None:
    """Check the names of a workflow config that its JSON schema cannot see: method options and model names,
    simulators and their parameters, clone-censor-weight weight models and simulator knobs, the trial
    specifications of the records-to-trial block."""
    for name, spec in config["methods"].items():
        check_method_spec(spec, f"methods.{name}")
    for name, spec in config["casestudy"]["methods"].items():
        check_method_spec(spec, f"casestudy.methods.{name}")
    for dataset, entry in config["casestudy"]["datasets"].items():
        for name, spec in entry.get("methods", {}).items():
            check_method_spec(spec, f"casestudy.datasets.{dataset}.methods.{name}")
    for name, spec in config["casestudy"]["yardstick"]["methods"].items():
        check_method_spec(spec, f"casestudy.yardstick.methods.{name}")
    for name, setting in config["simulation"]["settings"].items():
        _check_simulator(setting["simulator"], setting.get("params", {}), f"simulation.settings.{name}")
        _check_estimands(setting, config["estimands"], f"simulation.settings.{name}")
        unknown = sorted(set(setting_methods(setting, config["methods"])) - set(config["methods"]))
        if unknown:
            raise ValueError(f"simulation.settings.{name}.methods: unknown method(s) {unknown}; the config's "
                             f"methods: {sorted(config['methods'])}")
    _check_simulator("ehr_diabetes", config["ccw"]["simulation"], "ccw.simulation")
    for key in ("ccw", "trial"):
        unknown = sorted(set(config[key]["weights"]) - set(WEIGHT_MODELS))
        if unknown:
            raise ValueError(f"{key}.weights: unknown weight model(s) {unknown}; known: {sorted(WEIGHT_MODELS)}")
    competing = config["ccw"].get("competing")
    if competing is not None:
        unknown = sorted(set(competing["weights"]) - set(WEIGHT_MODELS))
        if unknown:
            raise ValueError(f"ccw.competing.weights: unknown weight model(s) {unknown}; known: "
                             f"{sorted(WEIGHT_MODELS)}")
    _check_trial(config["trial"])
    if "design" in config:
        _check_design(config["design"])
    if "multiarm" in config:
        _check_multiarm(config["multiarm"])


def _check_trial(trial: Mapping) -> None:
    """The records-to-trial block: its methods, every trial specification (causalehr.cohort.load_spec), the
    synthetic warehouse's simulator knobs (its horizon and grace come from the specification, in years), and one
    replication for a user's warehouse, at least two for synthetic ones (Monte Carlo SE)."""
    from causalehr.cohort import load_spec

    for name, spec in trial["methods"].items():
        check_method_spec(spec, f"trial.methods.{name}")
    synthetic = trial["warehouse"].get("synthetic")
    for name, path in trial["trials"].items():
        try:
            spec = load_spec(path)
        except ValueError as error:
            raise ValueError(f"trial.trials.{name}: {error}") from None
        if synthetic is not None and spec.time_unit != "years":
            raise ValueError(f"trial.trials.{name}: a synthetic warehouse needs time_unit: years in {path} (the "
                             f"simulator's unit), got {spec.time_unit!r}")
    if synthetic is not None:
        _check_simulator("ehr_diabetes", synthetic.get("params", {}), "trial.warehouse.synthetic.params")
        if trial["replications"] < 2:
            raise ValueError("trial.replications: a synthetic warehouse needs at least 2 replications (Monte Carlo "
                             f"standard errors), got {trial['replications']}")
    elif trial["replications"] != 1:
        raise ValueError("trial.replications: your own warehouse (trial.warehouse.source) is analysed once: set "
                         f"replications: 1, got {trial['replications']}")


def _check_multiarm(multiarm: Mapping) -> None:
    """The which-treatment-for-whom block: a MultiArmCATE method, the simulator's knobs, and a rule depth that the
    training folds can support (2**max_depth leaves of min_samples_leaf patients), before any job."""
    from causalehr.cate import MULTIARM_METHODS

    spec = multiarm["estimator"]
    check_method_spec(spec, "multiarm.estimator")
    if spec["method"] not in MULTIARM_METHODS:
        raise ValueError(f"multiarm.estimator: MultiArmCATE's method must be one of "
                         f"{sorted(set(MULTIARM_METHODS) & set(NAMED_METHODS))}, got {spec['method']!r}")
    _check_simulator("ehr_diabetes", multiarm["simulation"], "multiarm.simulation")
    folds = spec.get("n_folds", inspect.signature(CensoredCATE).parameters["n_folds"].default)
    rule, n = multiarm["rule"], multiarm["n"]
    need = 2 ** rule["max_depth"] * rule["min_samples_leaf"]
    if n - -(-n // folds) < need:
        raise ValueError(f"multiarm.rule: a rule of max_depth={rule['max_depth']} needs at least {need} patients in "
                         f"each training fold (2**{rule['max_depth']} leaves of min_samples_leaf="
                         f"{rule['min_samples_leaf']}); multiarm.n={n} with {folds} folds gives about "
                         f"{n - -(-n // folds)}: lower max_depth or min_samples_leaf, or raise n")


def _check_design(design: Mapping) -> None:
    """The design-matters block: its methods, its trial specifications (of the kind each trial key names) and
    the simulator knobs of its warehouses (the design names are checked by the schema and by the study)."""
    from causalehr.cohort import load_spec
    from causalehr.cohort.designs import DESIGNS

    for name, spec in design["methods"].items():
        check_method_spec(spec, f"design.methods.{name}")
    unknown = sorted(set(design["designs"]) - set(DESIGNS))
    if unknown:
        raise ValueError(f"design.designs: unknown design(s) {unknown}; known: {sorted(DESIGNS)}")
    kinds = {"point": "active_comparator", "grace": "grace_vs_never"}
    for trial, path in design["trials"].items():
        try:
            spec = load_spec(path)
        except ValueError as error:
            raise ValueError(f"design.trials.{trial}: {error}") from None
        if spec.strategies["type"] != kinds[trial]:
            raise ValueError(f"design.trials.{trial}: {path} has strategies of type {spec.strategies['type']!r}; "
                             f"expected {kinds[trial]!r}")
    for trial, knobs in design.get("warehouses", {}).items():
        _check_simulator("ehr_diabetes", knobs.get("params", {}), f"design.warehouses.{trial}.params")
    if "strength" in design:
        from causalehr.cohort.designs import check_strength

        _check_simulator("ehr_diabetes", design["strength"]["base"].get("params", {}), "design.strength.base.params")
        check_strength(design["strength"]["knobs"])
