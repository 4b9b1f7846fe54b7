"""Declarative target-trial specification (Hernan & Robins 2016, "Using big data to emulate a target trial when a
randomized trial is not available", Am J Epidemiol 183:758-764), checked before any work.

A specification is a mapping (a YAML block) with the keys of :data:`SPEC_SCHEMA`, a JSON-schema (draft 2020-12)
fragment that the workflow schema can include. Days are relative to the candidate time zero (negative = before);
a window ``[lo, hi]`` is inclusive, ``lo: null`` meaning all history. Example: ``config/trials/sglt2_vs_dpp4.yaml``.

- ``concept_sets``: name -> ``{domain: condition|drug|measurement|visit, concepts: [ids], descendants: true}``
  (with ``descendants`` the ids are expanded through ``concept_ancestor`` when the warehouse has it);
- ``eligibility``: ``entry`` (candidate dates of time zero: the dates of a concept set's rows, any visit
  ``{domain: visit}``, or ``{calendar: {start, end, every_days}}`` for a sequence of trials), ``select`` (``first``:
  the first candidate date that meets every criterion; ``all``: one trial per eligible candidate date), ``require``
  (concept sets present in a window; drugs: an exposure overlapping it, e.g. current metformin), ``age`` [min, max]
  years, ``prior_observation_days``, ``washout`` (no exposure to the compared drugs in the ``days`` before time zero,
  null = ever), ``exclude`` (concept sets absent in a window);
- ``strategies``: ``active_comparator`` (initiate ``treatment`` vs ``comparator`` within ``grace_days`` of time zero;
  the first initiated defines the arm) or ``grace_vs_never`` (initiate ``treatment`` within ``grace_days`` vs never:
  the clone-censor-weight input with the time to treatment start);
- ``outcome``: the first row of ``concept_sets`` after time zero and/or ``death``; ``competing_death`` (default true)
  makes death a competing event when the outcome is not death;
- ``censoring``: end of the observation period always; ``loss_to_follow_up_days`` (censored at the last contact
  when no visit follows for that many days), ``administrative_end`` (date), ``max_follow_up_days``,
  ``per_protocol`` (active comparator: censored when the other drug is started);
- ``covariates``: list of ``{name, type, concept_set, window_days}`` with types age, sex, calendar_year, care_site,
  measurement (last value in [t0 - window_days, t0], with ``<name>_age_days`` and ``<name>_missing``), condition,
  drug (present / exposure overlapping the window; ``window_days: null`` = all history), visit_count,
  years_since_first (years since the first row of a concept set); ``offset_days`` (default 0) moves the window of
  a measurement, condition or drug to [t0 + offset_days - window_days, t0 + offset_days] (a positive offset reads
  records after time zero: a design error, :mod:`causalehr.cohort.designs`);
- ``time_unit`` (days or years, of time, treatment_start and the horizon in the output), ``horizon_days``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

_WINDOW = {"type": "array", "minItems": 2, "maxItems": 2,
           "items": [{"type": ["integer", "null"]}, {"type": "integer"}],
           "prefixItems": [{"type": ["integer", "null"]}, {"type": "integer"}]}
_DAYS = {"type": "integer", "minimum": 0}
_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "additionalProperties": False, "required": list(required), "properties": properties}


_CRITERION = _object({"concept_set": _NAME, "window": _WINDOW}, ("concept_set",))
COVARIATE_TYPES = ("age", "sex", "calendar_year", "care_site", "measurement", "condition", "drug", "visit_count",
                   "years_since_first")

SPEC_SCHEMA: dict = _object({
    "name": {"type": "string"},
    "description": {"type": "string"},
    "time_unit": {"enum": ["days", "years"], "default": "days"},
    "horizon_days": {"type": "integer", "minimum": 1},
    "concept_sets": {"type": "object", "minProperties": 1, "propertyNames": _NAME,
                     "additionalProperties": _object({
                         "domain": {"enum": ["condition", "drug", "measurement", "visit"]},
                         "concepts": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
                         "descendants": {"type": "boolean", "default": True}}, ("domain", "concepts"))},
    "eligibility": _object({
        "entry": _object({
            "concept_set": _NAME, "domain": {"enum": ["visit"]},
            "calendar": _object({"start": {"type": "string", "format": "date"},
                                 "end": {"type": "string", "format": "date"},
                                 "every_days": {"type": "integer", "minimum": 1}}, ("start", "end", "every_days"))}),
        "select": {"enum": ["first", "all"], "default": "first"},
        "require": {"type": "array", "items": _CRITERION, "default": []},
        "age": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0}},
        "prior_observation_days": {**_DAYS, "default": 0},
        "washout": _object({"days": {"type": ["integer", "null"], "minimum": 1},
                            "concept_sets": {"type": "array", "items": _NAME}}),
        "exclude": {"type": "array", "items": _CRITERION, "default": []},
    }, ("entry",)),
    "strategies": _object({
        "type": {"enum": ["active_comparator", "grace_vs_never"]},
        "treatment": _NAME, "comparator": _NAME, "grace_days": _DAYS}, ("type", "treatment", "grace_days")),
    "outcome": _object({
        "concept_sets": {"type": "array", "items": _NAME, "default": []},
        "death": {"type": "boolean", "default": False},
        "competing_death": {"type": "boolean", "default": True}}),
    "censoring": _object({
        "loss_to_follow_up_days": {"type": ["integer", "null"], "minimum": 1},
        "administrative_end": {"type": ["string", "null"], "format": "date"},
        "max_follow_up_days": {"type": ["integer", "null"], "minimum": 1},
        "per_protocol": {"type": "boolean", "default": False}}),
    "covariates": {"type": "array", "items": _object({
        "name": _NAME, "type": {"enum": list(COVARIATE_TYPES)}, "concept_set": _NAME,
        "window_days": {"type": ["integer", "null"], "minimum": 0},
        "offset_days": {"type": "integer"}}, ("name", "type"))},
}, ("name", "concept_sets", "eligibility", "strategies", "outcome", "horizon_days"))

RESERVED = ("person_id", "time_zero", "trial", "treatment", "treatment_start", "time", "event", "cause")


@dataclass(frozen=True)
class TrialSpec:
    """A validated target-trial specification (defaults filled in); ``raw`` is the mapping as given."""

    name: str
    concept_sets: dict
    eligibility: dict
    strategies: dict
    outcome: dict
    censoring: dict
    covariates: list
    horizon_days: int
    time_unit: str
    raw: dict

    @property
    def compared_sets(self) -> list[str]:
        """Concept sets of the compared drugs (treatment, and comparator for an active comparator)."""
        s = self.strategies
        return [s["treatment"]] + ([s["comparator"]] if s["type"] == "active_comparator" else [])


def _where(path) -> str:
    return "/".join(str(p) for p in path) or "the top level"


def _schema_errors(spec: Mapping) -> None:
    validator = Draft202012Validator(SPEC_SCHEMA)
    errors = sorted(validator.iter_errors(spec), key=lambda e: (len(e.path), list(map(str, e.path))))
    for error in errors:
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema["properties"])
            unknown = sorted(set(error.instance) - set(allowed))
            raise ValueError(f"trial specification: unknown key '{unknown[0]}' in {_where(error.path)}; "
                             f"allowed keys: {allowed}")
    if errors:
        e = errors[0]
        raise ValueError(f"trial specification: {_where(e.path)}: {e.message}")


def _defaults(spec: dict) -> dict:
    out = copy.deepcopy(spec)
    for block, keys in (("eligibility", {"select": "first", "require": [], "prior_observation_days": 0,
                                         "exclude": [], "age": None, "washout": None}),
                        ("outcome", {"concept_sets": [], "death": False, "competing_death": True}),
                        ("censoring", {"loss_to_follow_up_days": None, "administrative_end": None,
                                       "max_follow_up_days": None, "per_protocol": False})):
        out.setdefault(block, {})
        for key, value in keys.items():
            out[block].setdefault(key, value)
    for cs in out["concept_sets"].values():
        cs.setdefault("descendants", True)
    for criterion in out["eligibility"]["require"] + out["eligibility"]["exclude"]:
        criterion.setdefault("window", [None, 0])
    out.setdefault("covariates", [])
    out.setdefault("time_unit", "days")
    return out


def _check_semantics(s: dict) -> None:
    sets = s["concept_sets"]

    def ref(name, where, domain=None):
        if name not in sets:
            raise ValueError(f"trial specification: {where} names the concept set '{name}', which is not defined "
                             f"under concept_sets (defined: {sorted(sets)})")
        if domain and sets[name]["domain"] != domain:
            raise ValueError(f"trial specification: {where} needs a concept set of domain '{domain}'; "
                             f"'{name}' has domain '{sets[name]['domain']}'")

    entry = s["eligibility"]["entry"]
    if len(entry) != 1:
        raise ValueError("trial specification: eligibility/entry needs exactly one of concept_set, domain, calendar; "
                         f"got {sorted(entry)}")
    if "concept_set" in entry:
        ref(entry["concept_set"], "eligibility/entry")
    if "calendar" in entry and entry["calendar"]["end"] < entry["calendar"]["start"]:
        raise ValueError("trial specification: eligibility/entry/calendar ends before it starts")
    for kind in ("require", "exclude"):
        for k, c in enumerate(s["eligibility"][kind]):
            ref(c["concept_set"], f"eligibility/{kind}/{k}")
            lo, hi = c["window"]
            if lo is not None and lo > hi:
                raise ValueError(f"trial specification: eligibility/{kind}/{k}/window {c['window']} ends before it "
                                 "starts")
    age = s["eligibility"]["age"]
    if age is not None and age[0] > age[1]:
        raise ValueError(f"trial specification: eligibility/age {age} has its minimum above its maximum")
    st = s["strategies"]
    ref(st["treatment"], "strategies/treatment", "drug")
    if st["type"] == "active_comparator":
        if "comparator" not in st:
            raise ValueError("trial specification: strategies of type active_comparator need a 'comparator'")
        ref(st["comparator"], "strategies/comparator", "drug")
    elif "comparator" in st:
        raise ValueError("trial specification: strategies of type grace_vs_never take no 'comparator' (the "
                         "comparison is never starting the treatment)")
    washout = s["eligibility"]["washout"]
    if washout is not None:
        for name in washout.setdefault("concept_sets", [st["treatment"]] + ([st["comparator"]]
                                       if st["type"] == "active_comparator" else [])):
            ref(name, "eligibility/washout", "drug")
        washout.setdefault("days", None)
    out = s["outcome"]
    if not out["concept_sets"] and not out["death"]:
        raise ValueError("trial specification: outcome needs concept_sets and/or death: true")
    for name in out["concept_sets"]:
        ref(name, "outcome/concept_sets", "condition")
    horizon, grace = s["horizon_days"], st["grace_days"]
    follow = min(horizon, s["censoring"]["max_follow_up_days"] or horizon)
    if grace >= follow:
        raise ValueError(f"trial specification: the grace period (strategies/grace_days = {grace}) is not shorter "
                         f"than the follow-up ({follow} days: horizon_days / censoring/max_follow_up_days)")
    end = s["censoring"]["administrative_end"]
    if end is not None:
        dt.date.fromisoformat(str(end))
    names = set()
    for k, c in enumerate(s["covariates"]):
        if c["name"] in names or c["name"] in RESERVED:
            raise ValueError(f"trial specification: covariates/{k} name '{c['name']}' is "
                             + ("used twice" if c["name"] in names else f"reserved ({list(RESERVED)})"))
        names.add(c["name"])
        needs = {"measurement": "measurement", "condition": "condition", "drug": "drug",
                 "years_since_first": None}
        if c["type"] in needs:
            if "concept_set" not in c:
                raise ValueError(f"trial specification: covariates/{k} ('{c['name']}', type {c['type']}) needs a "
                                 "concept_set")
            ref(c["concept_set"], f"covariates/{k}", needs[c["type"]])
        if c["type"] == "measurement" and c.get("window_days") is None:
            raise ValueError(f"trial specification: covariates/{k} ('{c['name']}', a measurement) needs window_days")
        c.setdefault("window_days", None)
        if c.setdefault("offset_days", 0) and c["type"] not in ("measurement", "condition", "drug"):
            raise ValueError(f"trial specification: covariates/{k} ('{c['name']}', type {c['type']}) takes no "
                             "offset_days (only measurement, condition and drug covariates)")


def load_spec(spec: Mapping | str | Path) -> TrialSpec:
    """Validate a trial specification (a mapping, or a YAML file holding it) and fill in its defaults.

    Raises ValueError before any work, naming the key: an unknown key (with the allowed keys), a wrong type or value,
    an undefined or wrong-domain concept set, a grace period not shorter than the follow-up.
    """
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if not path.exists():
            raise ValueError(f"trial specification file {path} not found")
        spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, Mapping):
        raise ValueError(f"trial specification must be a mapping, got {type(spec).__name__}")
    spec = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in spec.items()}
    if isinstance(spec.get("censoring"), Mapping) and isinstance(spec["censoring"].get("administrative_end"),
                                                                 dt.date):
        spec["censoring"] = {**spec["censoring"],
                             "administrative_end": spec["censoring"]["administrative_end"].isoformat()}
    _schema_errors(spec)
    full = _defaults(dict(spec))
    _check_semantics(full)
    return TrialSpec(name=full["name"], concept_sets=full["concept_sets"], eligibility=full["eligibility"],
                     strategies=full["strategies"], outcome=full["outcome"], censoring=full["censoring"],
                     covariates=full["covariates"], horizon_days=full["horizon_days"], time_unit=full["time_unit"],
                     raw=dict(spec))
