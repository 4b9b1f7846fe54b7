"""Real-data case study: strategy 1 (censoring-adjusted CATE learners) on public clinical trial data, and the
"trial as yardstick" check of the adjusted estimators on confounded subsamples of a randomised trial.

Datasets (shipped with the libraries the project uses):

* ``gbsg2``: German Breast Cancer Study Group 2 (Schumacher et al. 1994, "Randomized 2 x 2 trial evaluating
  hormonal treatment and the duration of chemotherapy in node-positive breast cancer patients", JCO 12:2086),
  686 women with complete data, from scikit-survival ``load_gbsg2``; treatment = hormonal therapy (tamoxifen),
  outcome = recurrence-free survival in days. In these 686 women hormonal therapy is strongly imbalanced by
  menopausal status (20% of pre- vs 47% of postmenopausal women treated), so we analyse it as observational data
  (covariate-adjusted), not as a randomised comparison.
* ``rossi``: Rossi, Berk & Lenihan (1980), "Money, work and crime", 432 released prisoners, from lifelines
  ``load_rossi``; treatment = randomised financial aid (``fin``), outcome = weeks to re-arrest, follow-up ended
  administratively at week 52. Being randomised, its unadjusted Kaplan-Meier contrast is the yardstick.
* ``cgvhd``: the only competing-risks dataset with a treatment-like variable among those our libraries ship
  (scikit-survival ``load_cgvhd``; its ``load_bmt`` has no treatment, hazardous and lifelines ship none): 100
  patients of a multicentre randomised trial of peripheral-blood (``tx`` PB) versus bone-marrow (BM) stem cells
  for an allogeneic transplant in myeloid malignancy; outcome = chronic graft-versus-host disease (cause 1), with
  relapse (2) and death (3) competing, time in years. Estimand: the difference in cumulative incidence of chronic
  GVHD at the horizon (default 0.75 years; :mod:`causalehr.cate.competing`), beside the unadjusted Aalen-Johansen
  contrast ("naive-aj"). A small sample: its intervals are wide.

Encoding of categorical covariates (:func:`encode_covariates`): ordered categories -> integer codes 1..k in
category order (GBSG2 tumour grade I < II < III -> 1, 2, 3); other categories and text -> one 0/1 indicator per
level except the first in sorted order, named ``<column>_<level>`` (GBSG2 menopausal status -> ``menostat_Pre``);
booleans -> 0/1. Only aggregates leave this module's result tables, and cells with fewer than ``min_cell_size``
patients are blanked (causalehr.probation.suppress).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from causalehr.data import binary_codes, validate_cohort
from causalehr.metrics import best_linear_projection as effect_drivers
from causalehr.metrics import calibration_table, calibration_test, rate, summarize_replications
from causalehr.probation.suppress import suppress_small_cells
from causalehr.registry import make_estimator
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.survival import aalen_johansen, cumulative_incidence_at, rmst_difference

NOTEBOOK = "notebooks/case_study.ipynb"
# the built-in datasets: covariates and whether treatment was randomised
BUILTIN = {"gbsg2": {"covariates": ["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"],
                     "randomised": False},
           "rossi": {"covariates": ["age", "race", "wexp", "mar", "paro", "prio"], "randomised": True},
           "cgvhd": {"covariates": ["dx", "extent", "age"], "randomised": True}}
OUTCOME = ["treatment", "time", "event"]
NAIVE = "naive-km"
NAIVE_AJ = "naive-aj"  # the unadjusted Aalen-Johansen contrast of a competing-risks dataset
EFFECT_LABELS = {"rmst": "RMST difference", "cif": "CIF difference"}


@dataclass
class CaseData:
    """A cohort ready for the case study: standard columns ``patient_id``, ``covariates`` (numeric),
    ``treatment``, ``time``, ``event``; the RMST horizon in ``time_unit``; whether treatment was randomised; the
    estimand ("rmst", or "cif" of cause 1 for a competing-risks dataset, ``event`` then 0 or the cause)."""

    name: str
    data: pd.DataFrame
    covariates: list[str]
    horizon: float
    time_unit: str
    randomised: bool
    description: str = ""
    estimand: str = "rmst"


# ------------------------------------------------------------------------------------------------ loading
MAX_LEVELS = 50  # a text covariate with more distinct values looks like an identifier or free text


def _levels(x: pd.Series) -> list:
    """Distinct values, in numeric order for numbers, else in sorted text order."""
    values = pd.unique(x)
    return sorted(values) if pd.api.types.is_numeric_dtype(x) else sorted(str(v) for v in values)


def encode_covariates(frame: pd.DataFrame, columns: list[str], *, categorical: Mapping | None = None,
                      max_levels: int = MAX_LEVELS) -> pd.DataFrame:
    """Numeric covariate table from ``columns`` of ``frame`` (encoding in the module docstring).

    ``categorical``: column -> reference level (None: the first level) for columns to encode as categories
    even when stored as numbers (race, Karnofsky score, centre); their indicators are named
    ``<column>_<level>``. A categorical or text column with more than ``max_levels`` distinct values stops
    (an identifier or free text would become one indicator per patient). A missing value in a categorical
    column is an error naming the column and the number of rows (it would otherwise vanish into the all-zero
    indicator pattern); numeric NaN is kept.
    """
    categorical = dict(categorical or {})
    unknown = sorted(set(categorical) - set(columns))
    if unknown:
        raise ValueError(f"categorical column(s) {unknown} are not among the covariates {list(columns)}")
    out = {}
    for c in columns:
        x = frame[c]
        if c not in categorical and pd.api.types.is_bool_dtype(x):
            out[c] = x.astype(int)
        elif c not in categorical and pd.api.types.is_numeric_dtype(x):
            out[c] = x.astype(float)
        else:
            if x.isna().any():
                raise ValueError(f"categorical covariate '{c}' has {int(x.isna().sum())} missing values; "
                                 "recode them as a level or impute them")
            if c not in categorical and isinstance(x.dtype, pd.CategoricalDtype) and x.dtype.ordered:
                out[c] = (x.cat.codes + 1).astype(float)
                continue
            levels = _levels(x)
            if len(levels) > max_levels:
                raise ValueError(f"covariate '{c}' has {len(levels)} distinct values in {len(x)} rows: it looks like "
                                 f"an identifier or free text; a categorical covariate may have at most {max_levels} "
                                 "levels (group its levels, or leave it out)")
            reference = categorical.get(c)
            if reference is not None:
                match = [v for v in levels if str(v) == str(reference)]
                if not match:
                    raise ValueError(f"reference level {reference!r} of covariate '{c}' is not among its values "
                                     f"{[str(v) for v in levels[:10]]}")
                levels = match + [v for v in levels if str(v) != str(reference)]
            text = x.astype(str)
            for level in levels[1:]:
                out[f"{c}_{level}"] = (text == str(level)).astype(int)
    return pd.DataFrame(out, index=frame.index)


def _case(name, raw, covariates, treatment, time, event, horizon, time_unit, randomised, description="", *,
          id="patient_id", categorical=None, treated=None, estimand="rmst"):
    """Standard-column cohort from a raw table, checked by causalehr.data.validate_cohort under the user's column
    names: treatment and event coded by causalehr.data.binary_codes (``treated``: the level coded 1), covariates
    by :func:`encode_covariates`, one row per patient (``id``: identifier column, or None for a warning on fully
    duplicated rows). Missing columns are reported before encoding (which needs them). With ``estimand`` "cif"
    the event keeps its cause codes (checked as 0/1 for any event)."""
    missing = [c for c in [*covariates, treatment, time, event, *([id] if id else [])] if c not in raw.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available columns: {list(raw.columns)}")
    X = encode_covariates(raw, list(covariates), categorical=categorical)
    codes = raw[event] if estimand == "cif" else binary_codes(raw[event], event, "event")
    outcome = pd.DataFrame({treatment: binary_codes(raw[treatment], treatment, "treatment", treated),
                            time: raw[time], event: codes}, index=raw.index)
    checked = pd.concat([X, outcome.assign(**{event: (outcome[event] != 0).astype(int)}), raw[[id]] if id else None],
                        axis=1)
    validate_cohort(checked, list(X.columns), treatment=treatment, time=time, event=event, id=id)
    patient_id = raw[id] if id else pd.Series(np.arange(len(raw)), index=raw.index)
    data = pd.concat([pd.DataFrame({"patient_id": patient_id}), X,
                      outcome.set_axis(["treatment", "time", "event"], axis=1)], axis=1).reset_index(drop=True)
    return CaseData(name, data, list(X.columns), float(horizon), time_unit, randomised, description, estimand)


def load_gbsg2(horizon: float = 1826.0) -> CaseData:
    """GBSG2 (scikit-survival): treatment = hormonal therapy, event = recurrence or death, time in days;
    default horizon 5 years (1826 days)."""
    from sksurv.datasets import load_gbsg2 as sksurv_gbsg2

    X, y = sksurv_gbsg2()
    raw = X.assign(patient_id=np.arange(len(X)), time=y["time"], event=y["cens"],
                   tgrade=X["tgrade"].astype(str).astype(pd.CategoricalDtype(["I", "II", "III"], ordered=True)))
    return _case("gbsg2", raw, BUILTIN["gbsg2"]["covariates"], "horTh", "time", "event", horizon, "days",
                 BUILTIN["gbsg2"]["randomised"],
                 "German Breast Cancer Study Group 2: hormonal therapy and recurrence-free survival", treated="yes")


def load_rossi(horizon: float = 50.0) -> CaseData:
    """Rossi recidivism data (lifelines): treatment = randomised financial aid, event = re-arrest, time in
    weeks. Default horizon 50 weeks: every follow-up without arrest ends at week 52, and with the horizon at 52
    a censoring model would count those censorings in the last interval before the horizon (G(52) < 1), wrongly
    up-weighting everyone followed to the horizon; before week 52 nobody is censored."""
    from lifelines.datasets import load_rossi as lifelines_rossi

    raw = lifelines_rossi().assign(patient_id=lambda d: np.arange(len(d)))  # 45 rows repeat others: distinct men
    return _case("rossi", raw, BUILTIN["rossi"]["covariates"], "fin", "week", "arrest",
                 horizon, "weeks", BUILTIN["rossi"]["randomised"],
                 "Rossi et al. (1980): financial aid after release and time to re-arrest")


def load_cgvhd(horizon: float = 0.75) -> CaseData:
    """Chronic GVHD after stem-cell transplant (scikit-survival ``load_cgvhd``): treatment = peripheral-blood
    stem cells (vs bone marrow), randomised; event = first of chronic GVHD (1), relapse (2), death (3); time in
    years; estimand the CIF difference of chronic GVHD at ``horizon`` (default 9 months: the last follow-up
    of the PB arm is 0.99 years)."""
    from sksurv.datasets import load_cgvhd as sksurv_cgvhd

    X, y = sksurv_cgvhd()
    raw = X.assign(patient_id=np.arange(len(X)), time=y["ftime"], event=y["status"].astype(int))
    return _case("cgvhd", raw, BUILTIN["cgvhd"]["covariates"], "tx", "time", "event", horizon, "years",
                 BUILTIN["cgvhd"]["randomised"],
                 "Chronic GVHD after peripheral-blood vs bone-marrow stem cells; relapse and death compete",
                 treated="PB", estimand="cif")


DATASETS = {"gbsg2": load_gbsg2, "rossi": load_rossi, "cgvhd": load_cgvhd}


def check_casestudy_config(casestudy: Mapping) -> None:
    """Check the config's ``casestudy`` section before any job: every dataset is built-in or has a ``path``;
    the yardstick's dataset is one of them, randomised (built-in rossi or ``randomised: true``), and its
    confounders are among its covariates. Raises ValueError naming the key."""
    datasets = casestudy["datasets"]
    for name, spec in datasets.items():
        if "path" not in spec and name not in BUILTIN:
            raise ValueError(f"casestudy.datasets.{name}: not a built-in dataset ({sorted(BUILTIN)}) and no `path` "
                             "to a data file")
    yard = casestudy["yardstick"]
    name = yard["dataset"]
    if name not in datasets:
        raise ValueError(f"casestudy.yardstick.dataset: {name!r} is not among casestudy.datasets {sorted(datasets)}")
    spec = datasets[name]
    randomised = spec.get("randomised", False) if "path" in spec else BUILTIN[name]["randomised"]
    if not randomised:
        raise ValueError(f"casestudy.yardstick.dataset: {name!r} is not a randomised trial; the yardstick needs one "
                         f"(set `randomised: true` under casestudy.datasets.{name} if it is)")
    covariates = spec["covariates"] if "path" in spec else BUILTIN[name]["covariates"]
    unknown = sorted(set(yard["confounders"]) - set(covariates))
    if unknown:
        raise ValueError(f"casestudy.yardstick.confounders: {unknown} are not covariates of {name!r} {covariates}")


def read_data_file(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """A CSV (text in ``encoding``) or parquet file; a CSV in another encoding stops naming the file and how to
    set its encoding."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() != ".csv":
        raise ValueError(f"data file must be .csv or .parquet, got {path.name}")
    try:
        return pd.read_csv(path, encoding=encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not {encoding} text (it holds the byte {e.object[e.start:e.start + 1]!r}): "
                         "give its encoding, e.g. `encoding: latin-1` under its dataset in the config, or "
                         "encoding=\"latin-1\" in the notebook") from None


def load_user_data(path, covariates, *, treatment, time, event, horizon, time_unit="", randomised=False,
                   name=None, id=None, categorical=None, treated=None, encoding="utf-8") -> CaseData:
    """A user's CSV or parquet file as a :class:`CaseData` (see :func:`_case`): ``covariates`` (encoded as in
    the module docstring, ``categorical``: column -> reference level), ``treatment`` and ``event`` coded 0/1 or
    with the level ``treated`` coded 1, the follow-up ``time`` column, the patient identifier column ``id``
    (optional), ``randomised`` (a trial: the yardstick check may run on it), the CSV's ``encoding``.
    A wrong column name stops with the list of available columns."""
    raw = read_data_file(path, encoding)
    return _case(name or Path(path).stem, raw, covariates, treatment, time, event, horizon, time_unit, randomised,
                 id=id, categorical=categorical, treated=treated)


def load_case(dataset=None, *, path=None, horizon=None, **columns) -> CaseData:
    """A named dataset (``DATASETS``; ``horizon`` None keeps its default) or, when ``path`` is given, a user
    file (``columns``: covariates, treatment, time, event, time_unit, randomised, id, categorical, treated,
    encoding; see load_user_data)."""
    if path is not None:
        if horizon is None:
            raise ValueError("a user data file needs a horizon (RMST restriction time, in the unit of `time`)")
        return load_user_data(path, horizon=horizon, **columns)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)} (or give a data file path)")
    return DATASETS[dataset]() if horizon is None else DATASETS[dataset](horizon=horizon)


# ------------------------------------------------------------------------------------------------ estimators
def case_estimator(spec: dict, horizon: float, seed: int, n_jobs: int = 1, estimand: str = "rmst"):
    """CensoredCATE for the RMST difference (or ``estimand``) from a config spec (causalehr.registry.make_estimator)."""
    return make_estimator(spec, estimand, horizon, seed, n_jobs)


def aj_contrast(time, event, group, tau: float, alpha: float = 0.05, n_bootstrap: int = 200, seed: int = 0) -> dict:
    """Unadjusted difference (group 1 minus group 0) in the Aalen-Johansen cumulative incidence of cause 1 at
    ``tau`` (:func:`causalehr.survival.aalen_johansen`), with a percentile bootstrap interval resampling within
    each group (no closed-form variance is written in the package). Returns ``estimate``, ``lower``, ``upper``."""
    time, event, group = (np.asarray(a) for a in (time, event, group))

    def difference(rows):
        cif = [cumulative_incidence_at(aalen_johansen(time[arm], event[arm]), tau, 1)
               for arm in (rows[group[rows] == g] for g in (1, 0))]
        return cif[0] - cif[1]

    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(group == g) for g in (1, 0)]
    boot = [difference(np.concatenate([rng.choice(a, len(a)) for a in arms])) for _ in range(n_bootstrap)]
    lower, upper = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return {"estimate": difference(np.arange(len(time))), "lower": float(lower), "upper": float(upper)}


def _fit(case: CaseData, spec, seed, rows=None, n_jobs=1):
    d = case.data if rows is None else case.data.iloc[rows]
    return case_estimator(spec, case.horizon, seed, n_jobs, case.estimand).fit(d[case.covariates].to_numpy(float),
                                                                *(d[c].to_numpy() for c in OUTCOME))


def cross_fitted_cate(case: CaseData, spec: dict, seed: int, n_folds: int = 5, n_jobs: int = 1) -> np.ndarray:
    """Out-of-fold CATE: each patient's estimate comes from the method fitted on the other folds (folds
    stratified on treatment and event of any cause), so it can be evaluated against that patient's doubly robust
    score."""
    d = case.data
    out = np.empty(len(d))
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(d, 2 * d["treatment"] + (d["event"] != 0)):  # any cause
        out[test] = _fit(case, spec, seed, train, n_jobs).effect(d[case.covariates].to_numpy(float)[test])
    return out


def _analyse_method(case, spec, *, seed, n_folds, n_groups, n_bootstrap, alpha, min_cell_size, n_jobs):
    """The tables of :func:`analyse_case` for one method: ATE row, calibration, test, RATE, TOC, drivers, CATE, and
    the model fitted on all patients."""
    d, n = case.data, len(case.data)
    z = stats.norm.ppf(1 - alpha / 2)
    model = _fit(case, spec, seed, n_jobs=n_jobs)
    est, lo, hi = model.ate_interval(alpha)
    scores, cate = model.scores_, cross_fitted_cate(case, spec, seed, n_folds, n_jobs)
    r = rate(cate, scores, target="AUTOC", n_bootstrap=n_bootstrap, random_state=seed)
    return {"ate": {"estimate": est, "lower": lo, "upper": hi, "n": n, "error": ""},
            "calibration": calibration_table(cate, scores=scores, n_groups=n_groups, alpha=alpha),
            "calibration_test": calibration_test(cate, scores).reset_index(),
            "rate": {"autoc": r.estimate, "std_err": r.std_err, "lower": r.estimate - z * r.std_err,
                     "upper": r.estimate + z * r.std_err},
            "toc": r.toc.assign(n=np.floor(r.toc["q"] * n)),
            "drivers": effect_drivers(d[case.covariates], scores, alpha, min_cell_size),
            "cate_summary": {"n": n, "mean": cate.mean(), "sd": cate.std(ddof=1),
                             **{f"q{int(q * 100)}": np.quantile(cate, q) for q in (0.1, 0.5, 0.9)},
                             "share_benefit": float((cate > 0).mean())},
            "model": model}


def analyse_case(case: CaseData, methods: dict, *, seed: int, n_folds: int = 5, n_groups: int = 5,
                 n_bootstrap: int = 200, alpha: float = 0.05, min_cell_size: int = 10,
                 n_jobs: int = 1) -> dict[str, pd.DataFrame]:
    """ATE with intervals, CATE calibration (GATES groups, BLP test), RATE/AUTOC and the effect's drivers, per
    method of ``methods`` (name -> spec for :func:`case_estimator`), on the RMST difference up to the horizon.

    Per method: the ATE and the doubly robust scores come from the fit on all patients (cross-fitted
    nuisances, CensoredCATE.ate_interval); the CATE that is calibrated and ranked is out-of-fold
    (:func:`cross_fitted_cate`). The unadjusted Kaplan-Meier contrast is added to the ATE table as "naive-km".
    A method that fails is recorded in the ATE table (column ``error``: the exception and its message) and
    left out of the other tables; the other methods still run. ``n_jobs``: threads of every fit.
    Returns aggregate tables only: ``ate``, ``calibration`` (groups with fewer than ``min_cell_size`` patients
    blanked, with complementary suppression), ``calibration_test``, ``rate`` (AUTOC with half-sample bootstrap
    SE), ``toc`` (points averaging fewer than ``min_cell_size`` patients blanked), ``drivers`` (without
    indicators of small groups), ``cate_summary``, and ``rule``, ``rule_leaves``, ``markers`` of
    :func:`treatment_rule` from the first DR-learner of ``methods`` (empty without one).
    """
    d, n = case.data, len(case.data)
    if case.estimand == "cif":
        naive, label = aj_contrast(d["time"], d["event"], d["treatment"], case.horizon, alpha, seed=seed), NAIVE_AJ
    else:
        naive, label = rmst_difference(d["time"], d["event"], d["treatment"], case.horizon, alpha), NAIVE
    ate = [{"method": label, **{k: naive[k] for k in ("estimate", "lower", "upper")}, "n": n, "error": ""}]
    tables = {k: [] for k in ("calibration", "calibration_test", "rate", "toc", "drivers", "cate_summary")}
    rule = None
    for name, spec in methods.items():
        try:
            with threadpool_limits(n_jobs):
                parts = _analyse_method(case, spec, seed=seed, n_folds=n_folds, n_groups=n_groups,
                                        n_bootstrap=n_bootstrap, alpha=alpha, min_cell_size=min_cell_size,
                                        n_jobs=n_jobs)
        except Exception as e:  # one failing learner must not stop the others (issue 20, item 8)
            warnings.warn(f"method {name!r} failed: {type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)
            ate.append({"method": name, "estimate": np.nan, "lower": np.nan, "upper": np.nan, "n": n,
                        "error": f"{type(e).__name__}: {e}"})
            continue
        ate.append({"method": name, **parts.pop("ate")})
        model = parts.pop("model")
        if rule is None and spec["method"] in RULE_METHODS:  # the rule of the first DR-learner
            rule = treatment_rule(case, model, seed=seed, alpha=alpha, min_cell_size=min_cell_size)
        for k, part in parts.items():
            tables[k].append(part.assign(method=name) if isinstance(part, pd.DataFrame) else {"method": name, **part})
    frames = {k: pd.concat(v, ignore_index=True) if v and isinstance(v[0], pd.DataFrame) else pd.DataFrame(v)
              for k, v in tables.items()}
    frames["ate"] = pd.DataFrame(ate)
    frames.update(rule or {k: pd.DataFrame() for k in ("rule", "rule_leaves", "markers")})
    for k, keep in (("calibration", ("group",)), ("toc", ("q",)), ("ate", ()), ("cate_summary", ())):
        if frames[k].empty:
            continue
        margins = ({"within": ("method",)},) if k == "calibration" else ()  # groups add up to the method's n
        frames[k] = suppress_small_cells(frames[k], n_col="n", count_cols=(), min_cell=min_cell_size, keep=keep,
                                         margins=margins)
    return frames


RULE = {"max_depth": 2, "min_samples_leaf": 50}  # the case study's treatment rule: a depth-2 policy tree
RULE_POLICIES = {"all 0": "treat none", "all 1": "treat all"}
RULE_METHODS = ("aipcw-dr", "ipcw-dr")  # learners whose cross-fitted nuisances give the doubly robust arm scores


def treatment_rule(case: CaseData, model, *, seed: int, alpha: float = 0.05,
                   min_cell_size: int = 10) -> dict[str, pd.DataFrame]:
    """Which patients to treat, where the data allow it (issue 18), from a fitted DR-learner ``model``
    (CensoredCATE of :data:`RULE_METHODS`): its cross-fitted nuisances give the doubly robust score of each arm
    (:func:`causalehr.cate.pseudo.arm_scores`, as MultiArmCATE with two arms), on which a depth-2 policy tree
    (:data:`RULE`; :class:`causalehr.cate.PolicyRule`, Athey & Wager 2021) is learned and valued on held-out folds,
    and the markers of the effect (:func:`causalehr.metrics.markers_table`). Tables (aggregates only): ``rule``
    (held-out value of the rule, of treating none, all, and of the observed practice, with the rule's gain over
    each), ``rule_leaves`` (the conditions of each leaf, the arm it assigns and its patients: at least
    max(min_samples_leaf, ``min_cell_size``)), ``markers`` (a marker's subgroup rows are dropped when one of its
    groups was too small to show, so that none can be read back by subtraction). All empty when the data do not
    allow a rule: a competing-risks estimand, or training folds too small for the tree's leaves."""
    from causalehr.cate import PolicyRule
    from causalehr.cate.pseudo import arm_scores
    from causalehr.metrics import markers_table

    d, n = case.data, len(case.data)
    leaf = max(RULE["min_samples_leaf"], min_cell_size)
    folds = model.folds_
    smallest = min(int((folds != k).sum()) for k in np.unique(folds))
    if case.estimand != "rmst" or smallest < 2 ** RULE["max_depth"] * leaf:
        return {"rule": pd.DataFrame(), "rule_leaves": pd.DataFrame(), "markers": pd.DataFrame()}
    nu, a = model.nuisances_, d["treatment"].to_numpy()
    e = nu["propensity"]
    scores = arm_scores(nu["aipcw"], a, np.column_stack([nu["mu0"], nu["mu1"]]), np.column_stack([1 - e, e]))
    X = d[case.covariates].astype(float)
    rule = PolicyRule(max_depth=RULE["max_depth"], min_samples_leaf=leaf, alpha=alpha, random_state=seed).fit(
        X.to_numpy(), scores, folds, labels=[0, 1], observed=nu["aipcw"])
    values = rule.values_.assign(policy=rule.values_["policy"].replace(RULE_POLICIES), n=n)
    leaves = rule.describe(case.covariates)
    leaves = leaves.assign(arm=leaves["arm"].map({0: "untreated", 1: "treated"}),
                           n=(leaves.pop("share") * n).round().astype(int))
    markers = markers_table(X, scores[:, 1] - scores[:, 0], alpha=alpha, min_cell_size=min_cell_size,
                            random_state=seed)
    groups = markers[markers["kind"] == "subgroup"].groupby("marker")["n"].sum()
    hidden = groups.index[groups != n]
    markers = markers[~((markers["kind"] == "subgroup") & markers["marker"].isin(hidden))].reset_index(drop=True)
    return {"rule": values, "rule_leaves": leaves, "markers": markers}


# ------------------------------------------------------------------------------------------------ yardstick
def risk_score(data: pd.DataFrame, weights: dict) -> np.ndarray:
    """Standardised linear score sum_j w_j (x_j - mean_j) / sd_j of the covariates named in ``weights``."""
    missing = [c for c in weights if c not in data.columns]
    if missing:
        raise ValueError(f"confounder column(s) {missing} not in the data; available columns: {list(data.columns)}")
    X = data[list(weights)].astype(float)
    s = ((X - X.mean()) / X.std(ddof=0)).to_numpy() @ np.array(list(weights.values()), float)
    return (s - s.mean()) / s.std()


def selection_probabilities(treatment, score, strength: float, keep_fraction: float = 0.5) -> np.ndarray:
    """Probability of keeping each patient of a randomised trial so that the kept patients are confounded.

    With g = 2 Phi(score) - 1 in (-1, 1), c = ``keep_fraction``, s = ``strength`` and pi the treated share:
    treated kept with c (1 + s g) / (2 pi), controls with c (1 - s g) / (2 (1 - pi)). Then every covariate
    pattern is kept with probability c (the subsample keeps the trial's covariate distribution, hence its
    ATE), and the subsample's propensity is e(x) = (1 + s g(x)) / 2 in [(1 - s) / 2, (1 + s) / 2]: for s > 0,
    patients with a high score are over-represented among the treated. Needs c (1 + s) <= 2 min(pi, 1 - pi).
    """
    a = np.asarray(treatment)
    if not 0 <= strength < 1:
        raise ValueError(f"strength must be in [0, 1), got {strength}")
    pi = a.mean()
    limit = 2 * min(pi, 1 - pi) / keep_fraction - 1
    if strength > limit:
        raise ValueError(f"confounding strength {strength:g} is above the limit {limit:.3f} that keep_fraction "
                         f"{keep_fraction:g} permits with a treated share of {pi:.3f} (keep_fraction * (1 + strength) "
                         "<= 2 min(share, 1 - share)): lower the strength or keep_fraction")
    g = 2 * stats.norm.cdf(np.asarray(score, float)) - 1
    return np.where(a == 1, keep_fraction * (1 + strength * g) / (2 * pi),
                    keep_fraction * (1 - strength * g) / (2 * (1 - pi)))


def confounded_subsample(data: pd.DataFrame, score, strength: float, keep_fraction: float, rng) -> pd.DataFrame:
    """Patients of ``data`` kept independently with :func:`selection_probabilities` (``rng``: numpy Generator)."""
    p = selection_probabilities(data["treatment"], score, strength, keep_fraction)
    return data[rng.random(len(data)) < p]


def _one_subsample(case, methods, score, strength, keep_fraction, seq, alpha):
    with threadpool_limits(1):  # small fits: BLAS/OpenMP threads of parallel workers only compete for the cores
        return _subsample_estimates(case, methods, score, strength, keep_fraction, seq, alpha)


def _subsample_estimates(case, methods, score, strength, keep_fraction, seq, alpha):
    rng = np.random.default_rng(seq)
    sub = CaseData(case.name, confounded_subsample(case.data, score, strength, keep_fraction, rng),
                   case.covariates, case.horizon, case.time_unit, case.randomised)
    d = sub.data
    rows = [{"estimator": NAIVE, **rmst_difference(d["time"], d["event"], d["treatment"], case.horizon, alpha)}]
    z = stats.norm.ppf(1 - alpha / 2)
    for name, spec in methods.items():
        est, lo, hi = _fit(sub, spec, int(rng.integers(2**31))).ate_interval(alpha)
        rows.append({"estimator": name, "estimate": est, "se": (hi - lo) / (2 * z), "lower": lo, "upper": hi})
    return pd.DataFrame(rows).assign(n=len(d), n_treated=int(d["treatment"].sum()))


def trial_yardstick(case: CaseData, methods: dict, *, confounders: dict, strengths=(0.0, 0.3, 0.6),
                    n_subsamples: int = 50, keep_fraction: float = 0.5, seed: int = 0, alpha: float = 0.05,
                    n_jobs: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Trial as yardstick: do adjusted estimators recover a randomised trial's answer from confounded subsamples?

    The trial's answer is the unadjusted Kaplan-Meier RMST difference on all patients. For each strength and
    ``n_subsamples`` times, patients are kept with :func:`selection_probabilities` of the ``confounders`` risk
    score (:func:`risk_score`; positive weights for covariates that raise the event risk make the naive
    contrast too pessimistic for treatment), and the naive contrast and each adjusted ATE (``methods``) are
    computed. Returns (replications, summary, trial): the summary has, per strength and estimator, bias, empirical
    SE, coverage of the 1 - alpha interval for the trial's answer, with Monte Carlo SEs (causalehr.metrics.
    summarize_replications), and ``coverage_contrast``: the same with the interval est +/- z sqrt(se^2 -
    se_trial^2). A subsample shares its patients with the trial, so the plain interval over-covers (about 99% at
    keep_fraction 0.5 without confounding); the contrast interval uses the variance of the difference of nested
    estimators (Hausman 1978, "Specification tests in econometrics") and should be near 1 - alpha.
    """
    from joblib import Parallel, delayed

    d = case.data
    trial = rmst_difference(d["time"], d["event"], d["treatment"], case.horizon, alpha)
    score = risk_score(d, confounders)
    for s in strengths:  # every strength within the limit, before any fit
        selection_probabilities(d["treatment"], score, s, keep_fraction)
    seqs = np.random.SeedSequence(seed).spawn(len(strengths) * n_subsamples)
    jobs = [(s, r) for s in strengths for r in range(n_subsamples)]
    parts = Parallel(n_jobs=n_jobs)(delayed(_one_subsample)(case, methods, score, s, keep_fraction, q, alpha)
                                    for (s, _), q in zip(jobs, seqs))
    reps = pd.concat([p.assign(strength=s, replication=r) for (s, r), p in zip(jobs, parts)], ignore_index=True)
    z = stats.norm.ppf(1 - alpha / 2)
    half = z * np.sqrt(np.maximum(reps["se"] ** 2 - trial["se"] ** 2, 0.0))
    reps = reps.assign(truth=trial["estimate"], lower_contrast=reps["estimate"] - half,
                       upper_contrast=reps["estimate"] + half)
    by = ["strength", "estimator"]
    summary = summarize_replications(reps, by=by, se="se")
    contrast = summarize_replications(reps, by=by, lower="lower_contrast", upper="upper_contrast")
    summary = summary.merge(contrast[by + ["coverage", "coverage_mcse"]].rename(
        columns={"coverage": "coverage_contrast", "coverage_mcse": "coverage_contrast_mcse"}), on=by)
    mean_n = reps.groupby(by)["n"].mean().rename("mean_n").reset_index()
    return reps, summary.merge(mean_n, on=by), trial


# ------------------------------------------------------------------------------------------------ reporting
def ate_table(ate: pd.DataFrame, unit: str, estimand: str = "rmst") -> str:
    """Markdown table of the ATE (RMST difference, or ``estimand``'s) and its interval per method ("failed:
    <error>" for a method that failed)."""
    cells = [f"failed: {err}" if err else f"{fmt(e)} ({fmt(lo)} to {fmt(hi)})"
             for e, lo, hi, err in zip(ate["estimate"], ate["lower"], ate["upper"], ate["error"])]
    header = f"RMST difference, {unit}" if estimand == "rmst" else EFFECT_LABELS[estimand]
    return pd.DataFrame({"Method": ate["method"], f"{header} (95% CI)": cells}).to_markdown(index=False) + "\n"


def yardstick_table(summary: pd.DataFrame) -> str:
    """Markdown table: bias, coverage (plain and contrast interval) per confounding strength and estimator."""
    t = pd.DataFrame({
        "Strength": summary["strength"], "Estimator": summary["estimator"],
        "Bias (MCSE)": [f"{fmt(b)} ({fmt(s)})" for b, s in zip(summary["bias"], summary["bias_mcse"])],
        "Coverage": [f"{c:.2f}" for c in summary["coverage"]],
        "Coverage, contrast interval": [f"{c:.2f}" for c in summary["coverage_contrast"]],
        "Mean n": summary["mean_n"].round().astype(int)})
    return t.to_markdown(index=False) + "\n"


def case_values(case: CaseData, tables: dict) -> dict:
    """Values the manuscript quotes for one dataset, under the key ``casestudy_<name>``."""
    ate = tables["ate"].set_index("method")
    ate = ate[ate["error"] == ""]
    rate_t = tables["rate"].set_index("method") if not tables["rate"].empty else pd.DataFrame()
    blp = tables["drivers"][tables["drivers"]["term"] != "intercept"] if not tables["drivers"].empty else None
    top = ({} if blp is None or blp.empty else
           blp.loc[blp.groupby("method")["estimate"].apply(lambda s: s.abs().idxmax())].set_index("method")["term"])
    return {f"casestudy_{case.name}": {
        "n": len(case.data), "horizon": f"{case.horizon:g}", "unit": case.time_unit,
        "ate": {m: {k: fmt(ate.loc[m, k]) for k in ("estimate", "lower", "upper")} for m in ate.index},
        "autoc": {m: {k: fmt(rate_t.loc[m, k]) for k in ("autoc", "lower", "upper")} for m in rate_t.index},
        "failed": {m: e for m, e in tables["ate"].set_index("method")["error"].items() if e},
        "top_driver": dict(top.items()) if len(top) else {},
        **_rule_values(tables)}}


def rule_table(tables: dict, unit: str) -> str:
    """Markdown: the held-out value (RMST, ``unit``) of the treatment rule, of treating none, all, and of the
    observed practice, with the rule's gain over each (95% intervals); a sentence when the data allowed no rule."""
    rule = tables.get("rule", pd.DataFrame())
    if rule.empty:
        return "No treatment rule: a competing-risks estimand, or too few patients per fold for its leaves.\n"

    def interval(r, prefix):
        return f"{_large(r[prefix])} ({_large(r[prefix + '_lower' if prefix != 'value' else 'lower'])} to " \
               f"{_large(r[prefix + '_upper' if prefix != 'value' else 'upper'])})"

    table = pd.DataFrame({"Policy": rule["policy"],
                          f"Value ({unit})": [interval(r, "value") for _, r in rule.iterrows()],
                          "Rule's gain": ["-" if r.policy == "rule" else interval(r, "rule_gain")
                                          for _, r in rule.iterrows()]})
    return table.to_markdown(index=False) + "\n"


def _large(value: float) -> str:
    """A value in the time unit (e.g. 1,399 days) without scientific notation, else as :func:`fmt`."""
    return f"{value:,.0f}" if abs(value) >= 1000 else fmt(value)


def _rule_values(tables: dict) -> dict:
    """The rule's values (:func:`treatment_rule`) the manuscript may quote, when the data allowed a rule: its
    held-out value with interval, its gain over each other policy with interval, its leaves, and the marker of
    largest heterogeneity importance."""
    rule = tables.get("rule", pd.DataFrame())
    if rule.empty:
        return {}
    v = rule.set_index("policy")
    out = {"value": {k: _large(v.loc["rule", k]) for k in ("value", "lower", "upper")}}
    for policy in v.index.drop("rule"):
        out[policy.replace(" ", "_")] = {k: (_large if k == "value" else fmt)(v.loc[policy, c]) for k, c in (
            ("value", "value"), ("gain", "rule_gain"), ("gain_lower", "rule_gain_lower"),
            ("gain_upper", "rule_gain_upper"))}
    out["leaves"] = "; ".join(f"{r.conditions}: {r.arm}" for r in tables["rule_leaves"].itertuples())
    markers = tables["markers"]
    importance = markers[markers["kind"] == "importance"]
    return {"rule": out, "top_marker": importance.loc[importance["estimate"].idxmax(), "marker"]}


def yardstick_values(summary: pd.DataFrame, trial: dict, n_subsamples: int) -> dict:
    """Values the manuscript quotes for the yardstick study, under the key ``yardstick``."""
    cells = {}
    for row in summary.itertuples():
        cells.setdefault(f"s{row.strength:g}".replace(".", "_"), {})[row.estimator] = {
            "bias": fmt(row.bias), "coverage": f"{row.coverage:.2f}",
            "coverage_contrast": f"{row.coverage_contrast:.2f}"}
    return {"yardstick": {"trial": {k: fmt(trial[k]) for k in ("estimate", "lower", "upper")},
                          "n_subsamples": int(n_subsamples), "strength": cells}}


def plot_case(tables: dict, case: CaseData):
    """Three panels: ATE per method with intervals; calibration (mean predicted vs doubly robust group means);
    best-linear-projection coefficients (drivers)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ate = tables["ate"]
    y = np.arange(len(ate))
    axes[0].errorbar(ate["estimate"], y, xerr=[ate["estimate"] - ate["lower"], ate["upper"] - ate["estimate"]],
                     fmt="o", capsize=3)
    axes[0].set_yticks(y, ate["method"])
    axes[0].axvline(0, color="grey", lw=0.8)
    at = "up to" if case.estimand == "rmst" else "at"
    axes[0].set_xlabel(f"ATE: {EFFECT_LABELS[case.estimand]} {at} {case.horizon:g} {case.time_unit}")
    if tables["calibration"].empty:  # every method failed (their errors are in the ATE table)
        for ax in axes[1:]:
            ax.set_axis_off()
        fig.suptitle(case.description or case.name)
        return fig
    cal = tables["calibration"]
    for i, (name, g) in enumerate(cal.groupby("method", sort=False)):
        x = g["estimate_mean"] + 0.02 * i * np.ptp(cal["estimate_mean"].dropna())
        axes[1].errorbar(x, g["score_mean"], yerr=[g["score_mean"] - g["score_lower"],
                                                   g["score_upper"] - g["score_mean"]], fmt="o", capsize=3, label=name)
    lim = [np.nanmin(cal["estimate_mean"]), np.nanmax(cal["estimate_mean"])]
    axes[1].plot(lim, lim, color="grey", lw=0.8)
    axes[1].set_xlabel("Mean out-of-fold CATE in quantile group")
    axes[1].set_ylabel("Doubly robust group ATE (95% CI)")
    axes[1].legend(fontsize=7)
    drv = tables["drivers"][tables["drivers"]["term"] != "intercept"]
    terms = list(dict.fromkeys(drv["term"]))
    for i, (name, g) in enumerate(drv.groupby("method", sort=False)):
        pos = np.array([terms.index(t) for t in g["term"]]) + 0.15 * i
        axes[2].errorbar(g["estimate"], pos, xerr=[g["estimate"] - g["lower"], g["upper"] - g["estimate"]],
                         fmt="o", capsize=2, label=name)
    axes[2].set_yticks(np.arange(len(terms)), terms)
    axes[2].axvline(0, color="grey", lw=0.8)
    axes[2].set_xlabel("Effect change per SD of covariate (BLP)")
    fig.suptitle(case.description or case.name)
    fig.tight_layout()
    return fig


def plot_yardstick(summary: pd.DataFrame, trial: dict):
    """Bias (with MCSE) and coverage of each estimator against the confounding strength."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, g in summary.groupby("estimator", sort=False):
        axes[0].errorbar(g["strength"], g["bias"], yerr=1.96 * g["bias_mcse"], marker="o", capsize=3, label=name)
        axes[1].errorbar(g["strength"], g["coverage_contrast"], yerr=1.96 * g["coverage_contrast_mcse"], marker="o",
                         capsize=3, label=name)
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set_ylabel(f"Bias vs trial answer ({fmt(trial['estimate'])})")
    axes[1].axhline(0.95, color="grey", lw=0.8)
    axes[1].set_ylabel("Coverage of the trial answer (contrast interval)")
    for ax in axes:
        ax.set_xlabel("Confounding strength")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def report(case: CaseData, tables: dict, paths: Mapping[str, str | Path]) -> None:
    """Write the tables of :func:`analyse_case` (parquet), the ATE and rule tables, the figure and the quoted
    values."""
    for name, table in tables.items():
        table.to_parquet(paths[name], index=False)
    Path(paths["table"]).write_text(ate_table(tables["ate"], case.time_unit, case.estimand))
    Path(paths["table_rule"]).write_text(rule_table(tables, case.time_unit))
    write_values(paths["values"], case_values(case, tables))
    save_figure(plot_case(tables, case), paths["figure"], source=NOTEBOOK)


def report_yardstick(replications: pd.DataFrame, summary: pd.DataFrame, trial: dict, n_subsamples: int,
                     paths: Mapping[str, str | Path]) -> None:
    """Write the results of :func:`trial_yardstick`: replications, summary, table, quoted values and figure."""
    replications.to_parquet(paths["replications"], index=False)
    summary.to_parquet(paths["summary"], index=False)
    Path(paths["table"]).write_text(yardstick_table(summary))
    write_values(paths["values"], yardstick_values(summary, trial, n_subsamples))
    save_figure(plot_yardstick(summary, trial), paths["figure"], source=NOTEBOOK)
