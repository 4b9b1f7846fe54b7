"""Named designs: the correct target-trial emulation and the classic errors that turn it into a flawed one.

Each design is one entry of :data:`DESIGNS` (its name is the config key; ``config/schema.yaml`` repeats the names
and a test holds them equal), made of small pure pieces, so that a user can add a design of their own:

- ``trial``: the target trial it emulates: ``"point"`` (a treatment started at time zero, e.g.
  ``config/trials/ehr_diabetes_active.yaml``) or ``"grace"`` (start within a grace period versus never,
  ``ehr_diabetes_grace.yaml``);
- ``spec``: a function from the correct specification (a mapping, as in the YAML file) to the flawed one
  (:func:`causalehr.cohort.build_cohort` then builds its cohort), None to use the correct cohort;
- ``cohort``: a function from the correct cohort's analysis table to the flawed one, None to keep it;
- ``analysis``: ``"point"`` (the ``treatment`` column taken as a baseline treatment: strategy 1) or ``"ccw"``
  (clone-censor-weight on ``treatment_start``: strategy 2);
- ``missing``: handling of missing measurements: ``"indicators"`` (median and a missing indicator),
  ``"native"`` (left missing, with the indicator, for learners that split on missing values: Josse, Prost,
  Scornet & Varoquaux 2019, "On the consistency of supervised learning with missing values"), ``"mean"`` (mean
  imputation, no indicator) or ``"complete"`` (complete cases);
- ``drop``: covariate types left out of the features (e.g. ``care_site``, ``calendar_year``);
- ``options``: options of the strategy-1 learners (e.g. a covariate-free censoring model);
- ``folds_by``: a covariate type whose values keep their patients in one cross-fitting fold (e.g. ``care_site``:
  every centre's patients are predicted by nuisance models fitted on other centres);
- ``transport``: the effect of one centre from the patients of another: None (the whole cohort), ``"covariates"``
  (learners fitted in the largest centre, the smallest centre's ATE by the doubly robust transport estimator
  :func:`causalehr.cate.transport_ate`) or ``"as_is"`` (the largest centre's ATE taken for the smallest).

The errors (Hernan, Sauer, Hernandez-Diaz, Platt & Shrier 2016, "Specifying a target trial prevents immortal time
bias and other self-inflicted injuries in observational analyses", J Clin Epidemiol 79:70-75; Suissa 2008,
"Immortal time bias in pharmacoepidemiology", Am J Epidemiol 167:492-499; Ray 2003, "Evaluating medication
effects outside of clinical trials: new-user designs", Am J Epidemiol 158:915-920; Little & Rubin 2019, Statistical
Analysis with Missing Data; Dahabreh et al. 2020, "Extending inferences from a randomized trial to a new target
population", Stat Med 39:1999-2014):

>>> sorted(DESIGNS)[:3]
['centre_as_is', 'centre_folds', 'centre_transported']
>>> DESIGNS["immortal_time"].trial, DESIGNS["immortal_time"].analysis
('grace', 'point')
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MISSING = ("indicators", "native", "mean", "complete")
TRANSPORTS = (None, "covariates", "as_is")
TRIALS = ("point", "grace")
ANALYSES = ("point", "ccw")


@dataclass(frozen=True)
class Design:
    """One design (module docstring)."""

    description: str
    trial: str = "point"
    spec: Callable[[Mapping], dict] | None = None
    cohort: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    analysis: str = "point"
    missing: str = "indicators"
    drop: tuple[str, ...] = ()
    options: Mapping = field(default_factory=dict)
    folds_by: str | None = None
    transport: str | None = None

    def __post_init__(self):
        for key, value, allowed in (("trial", self.trial, TRIALS), ("analysis", self.analysis, ANALYSES),
                                    ("missing", self.missing, MISSING), ("transport", self.transport, TRANSPORTS)):
            if value not in allowed:
                raise ValueError(f"design {key} must be one of {allowed}, got {value!r}")


def transport_centres(cohort) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the analysis table's source centre (the one with the most patients) and target centre (the
    other with the fewest; ties broken by the centre's value) of a transport design; ValueError without a care-site
    covariate or with a single centre."""
    names = [c["name"] for c in cohort.spec.covariates if c["type"] == "care_site"]
    if not names:
        raise ValueError("a transport design needs a covariate of type 'care_site' in the cohort specification")
    centre = cohort.analysis[names[0]]
    sizes = centre.value_counts().sort_index(kind="stable")
    if len(sizes) < 2:
        raise ValueError(f"a transport design needs at least two centres in '{names[0]}', got {len(sizes)}")
    source = sizes.idxmax()
    target = sizes.drop(source).idxmin()
    return (centre == source).to_numpy(), (centre == target).to_numpy()


def ever_treated(analysis: pd.DataFrame) -> pd.DataFrame:
    """Immortal time: "ever treated during follow-up" versus never as a baseline treatment, time zero at
    eligibility for both, so that the treated arm is credited with its untreated time before the start."""
    return analysis.assign(treatment=analysis["treatment_start"].notna().astype(np.int64))


def time_zero_at_start(analysis: pd.DataFrame) -> pd.DataFrame:
    """Time zero at the start of treatment for the treated (their time before it is dropped, and with it the
    deaths and events of those who would have started later), at eligibility for the untreated."""
    out = ever_treated(analysis)
    start = out["treatment_start"].fillna(0.0)
    out = out.assign(time=out["time"] - start, treatment_start=np.where(out["treatment"] == 1, 0.0, np.nan))
    return out[out["time"] > 0].reset_index(drop=True)


def no_washout(spec: Mapping) -> dict:
    """Prevalent users: no washout of the compared drugs, so that patients already on them are admitted at a later
    dispensing, with the time they have already survived on treatment."""
    out = copy.deepcopy(dict(spec))
    out["eligibility"] = {k: v for k, v in out["eligibility"].items() if k != "washout"}
    return out


def measurements_after_time_zero(spec: Mapping) -> dict:
    """Covariates read after time zero: every measurement's window moved to the year after time zero (days 1 to
    ``window_days`` + 1), where the treatment has already changed it (e.g. HbA1c lowered by the drug)."""
    out = copy.deepcopy(dict(spec))
    for c in out.get("covariates", []):
        if c["type"] == "measurement":
            c["offset_days"] = c["window_days"] + 1
    return out


DESIGNS: dict[str, Design] = {
    "correct": Design("new users, time zero at eligibility (clone-censor-weight for a grace period), covariates "
                      "before time zero, covariate censoring model, missing indicators, centre and calendar year"),
    "immortal_time": Design("ever treated during follow-up versus never, time zero at eligibility", trial="grace",
                            cohort=ever_treated),
    "time_zero_mismatch": Design("time zero at treatment start for the treated, at eligibility for the untreated",
                                 trial="grace", cohort=time_zero_at_start),
    "prevalent_users": Design("no washout: prevalent users admitted", spec=no_washout),
    "post_baseline_covariates": Design("measurements read in the year after time zero", spec=measurements_after_time_zero),
    "independent_censoring": Design("Kaplan-Meier censoring model (censoring taken as independent of covariates)",
                                    options={"censoring_model": "kaplan-meier"}),
    "complete_cases": Design("patients with a missing measurement left out", missing="complete"),
    "mean_imputation": Design("missing measurements set to the mean, without indicator", missing="mean"),
    "native_missing": Design("missing measurements left missing, with indicators, for learners that take them "
                             "natively (boosted-tree nuisances and propensity)", missing="native",
                             options={"event_model": "discrete-time", "censoring_model": "discrete-time",
                                      "propensity_model": "hgb"}),
    "no_centre": Design("centres pooled without a centre covariate", drop=("care_site",)),
    "centre_folds": Design("cross-fitting folds grouped by centre (each centre's nuisances fitted on other centres)",
                           folds_by="care_site"),
    "no_calendar_time": Design("calendar year left out of the covariates", drop=("calendar_year",)),
    "centre_transported": Design("effect fitted in the largest centre, transported to the smallest by its covariates",
                                 drop=("care_site",), transport="covariates"),
    "centre_as_is": Design("the largest centre's effect taken as the smallest centre's", drop=("care_site",),
                           transport="as_is"),
}


WRITER_KNOBS = ("prevalent", "hba1c_lowering")  # knobs of the OMOP writer; the others are ehr_diabetes parameters


def check_strength(knobs: Mapping) -> None:
    """ValueError naming the key unless every knob of ``knobs`` (knob -> {"design": name, "values": [...]}: the
    strength grid of :func:`causalehr.studies.design.strength_run`) is a writer knob (:data:`WRITER_KNOBS`) or an
    ehr_diabetes parameter and its design an error of the point trial."""
    from causalehr.simulate import setting_params

    allowed = {*WRITER_KNOBS, *setting_params("ehr_diabetes")}
    for knob, entry in knobs.items():
        if knob not in allowed:
            raise ValueError(f"design.strength.knobs: unknown knob {knob!r}; known: writer knobs {list(WRITER_KNOBS)} "
                             "or ehr_diabetes parameters")
        name = entry["design"]
        if name not in DESIGNS or name == "correct" or DESIGNS[name].trial != "point":
            raise ValueError(f"design.strength.knobs.{knob}.design: expected a design error of the point trial, got "
                             f"{name!r}; known: {sorted(k for k, d in DESIGNS.items() if d.trial == 'point' and k != 'correct')}")


def design_for(name: str, trial: str) -> Design:
    """The design ``name`` as applied to a trial of kind ``trial``: "correct" analyses a grace-period trial by
    clone-censor-weight. Raises ValueError for an unknown name or a design of another trial."""
    if name not in DESIGNS:
        raise ValueError(f"unknown design {name!r}; known: {sorted(DESIGNS)}")
    design = DESIGNS[name]
    if name == "correct":
        return Design(design.description, trial=trial, analysis="ccw" if trial == "grace" else "point")
    if design.trial != trial:
        raise ValueError(f"design {name!r} applies to a {design.trial!r} trial, not a {trial!r} one")
    return design
