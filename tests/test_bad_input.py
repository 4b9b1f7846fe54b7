"""Every bad input of issue 20 (and the earlier catalogue) with the exact message it now gets.

Each case is (id, a function raising or warning, the expected exception or warning type, the exact message).
"""

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT

from causalehr.probation import load_probation
from causalehr.probation.spec import validate_spec, violations
from causalehr.registry import check_config
from causalehr.studies import casestudy as cs
from causalehr.workflow import check_paper_config


def cohort(n=40, seed=0, **columns):
    """A user's cohort table: age, a text sex column, 0/1 treatment and event, follow-up days."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "age": rng.normal(60, 10, n).round(),
                      "sex": rng.choice(["f", "m"], n), "drug": np.arange(n) % 2, "days": rng.uniform(1, 100, n).round(),
                      "died": (np.arange(n) % 3 == 0).astype(int)})
    return d.assign(**columns)


def load(tmp_path, table, name="mine.csv", encoding="utf-8", **kwargs):
    path = tmp_path / name
    table.to_csv(path, index=False, encoding=encoding)
    args = dict(covariates=["age", "sex"], treatment="drug", time="days", event="died", horizon=50)
    return cs.load_user_data(path, **{**args, **kwargs})


USER_DATA = [
    ("duplicated identifiers (item 3)",
     lambda p: load(p, pd.concat([cohort(), cohort().iloc[:3]]), id="pid"), ValueError,
     "identifier column 'pid' has 3 duplicated values (e.g. p0, p1, p2); one row per patient is expected"),
    ("identifier-like text covariate (item 4)",
     lambda p: load(p, cohort(n=60), covariates=["age", "pid"]), ValueError,
     "covariate 'pid' has 60 distinct values in 60 rows: it looks like an identifier or free text; a categorical "
     "covariate may have at most 50 levels (group its levels, or leave it out)"),
    ("reference level not a value (item 4)",
     lambda p: load(p, cohort(), categorical={"sex": "x"}), ValueError,
     "reference level 'x' of covariate 'sex' is not among its values ['f', 'm']"),
    ("categorical column not a covariate (item 4)",
     lambda p: load(p, cohort(), categorical={"race": None}), ValueError,
     "categorical column(s) ['race'] are not among the covariates ['age', 'sex']"),
    ("ambiguous treatment coding (item 5)",
     lambda p: load(p, cohort(drug=np.where(np.arange(40) % 2, "metformin", "insulin"))), ValueError,
     "treatment column 'drug' must be coded 0/1 (numbers, strings or booleans); it has 2 values "
     "(e.g. insulin, metformin): declare the value coded 1 with `treated`"),
    ("declared treated level absent (item 5)",
     lambda p: load(p, cohort(drug=np.where(np.arange(40) % 2, "metformin", "insulin")), treated="sulfonylurea"),
     ValueError, "treatment column 'drug': the level coded 1 ('sulfonylurea') must be one of exactly two values; "
     "the column has 2 values (e.g. insulin, metformin)"),
    ("event coded 1/2 (item 5)",
     lambda p: load(p, cohort(died=1 + (np.arange(40) % 3 == 0))), ValueError,
     "event column 'died' must be coded 0/1 (numbers, strings or booleans); it has 2 values (e.g. 1, 2): "
     "declare the value coded 1 with `event_level`"),
    ("missing treatment (item 5)",
     lambda p: load(p, cohort(drug=np.where(np.arange(40) < 2, np.nan, np.arange(40) % 2))), ValueError,
     "treatment column 'drug' has 2 missing values; every patient needs one"),
    ("negative time names the user's column (item 5)",
     lambda p: load(p, cohort(days=np.where(np.arange(40) == 0, -1.0, 5.0))), ValueError,
     "column 'days' has 1 negative values; follow-up times must be >= 0"),
    ("non-UTF-8 CSV (item 6)",
     lambda p: load(p, cohort(sex=np.where(np.arange(40) % 2, "fémme", "m"))[["age", "sex", "drug", "days", "died"]],
                    encoding="latin-1"), ValueError,
     "{tmp}/mine.csv is not utf-8 text (it holds the byte b'\\xe9'): give its encoding, e.g. `encoding: latin-1` "
     "under its dataset in the config, or encoding=\"latin-1\" in the notebook"),
    ("wrong column name (earlier catalogue)",
     lambda p: load(p, cohort(), time="day"), ValueError,
     "missing column(s) ['day']; available columns: ['pid', 'age', 'sex', 'drug', 'days', 'died']"),
]


@pytest.mark.parametrize("case, call, error, message", USER_DATA, ids=[c[0] for c in USER_DATA])
def test_user_data_messages(tmp_path, case, call, error, message):
    with pytest.raises(error) as info:
        call(tmp_path)
    assert str(info.value) == message.replace("{tmp}", str(tmp_path))


def test_duplicated_rows_without_identifier_warn_with_their_count(tmp_path):
    table = pd.concat([cohort(), cohort().iloc[:4]])[["age", "sex", "drug", "days", "died"]]
    with pytest.warns(UserWarning) as record:
        load(tmp_path, table)
    assert [str(w.message) for w in record if "repeat" in str(w.message)] == [
        "4 rows repeat an earlier row in every column: if they are the same patients twice, drop them, or name the "
        "patient identifier column (`id`) so that duplicates are caught"]


def test_accepted_codings_give_the_same_cohort(tmp_path):
    base = load(tmp_path, cohort(), id="pid").data
    for coded in (cohort(drug=cohort()["drug"].astype(str)), cohort(drug=cohort()["drug"].astype(bool)),
                  cohort(drug=np.where(cohort()["drug"] == 1, "True", "false"))):
        assert load(tmp_path, coded, id="pid").data.equals(base)
    declared = load(tmp_path, cohort(drug=np.where(cohort()["drug"] == 1, "metformin", "insulin")), id="pid",
                    treated="metformin")
    assert declared.data.equals(base)


def test_numeric_coded_categorical_with_reference_level(tmp_path):
    table = cohort(race=np.arange(40) % 3 + 1)  # codes 1, 2, 3
    case = load(tmp_path, table, covariates=["age", "race"], categorical={"race": 2}, id="pid")
    assert case.covariates == ["age", "race_1", "race_3"]
    assert case.data["race_1"].tolist() == (table["race"] == 1).astype(int).tolist()


def spec(fmt=r"E1[01]\.\d"):
    return pd.DataFrame({"variable": ["code"], "type": ["text"], "format": [fmt]})


PROBATION = [
    ("empty reference table (item 7)",
     lambda: load_probation(spec(), pd.DataFrame({"patient_id": [], "code": []}), {}), ValueError,
     "reference: the table has no rows; a probation needs at least one patient"),
    ("empty source table (item 7)",
     lambda: load_probation(spec(), pd.DataFrame({"patient_id": [1], "code": ["E11.9"]}),
                            {"ai": pd.DataFrame({"patient_id": [], "code": []})}), ValueError,
     "ai: the table has no rows; a probation needs at least one patient"),
    ("empty specification (item 7)",
     lambda: validate_spec(spec().iloc[:0]), ValueError, "specification: no variables (the table has no rows)"),
    ("format with a backreference (item 7)",
     lambda: validate_spec(spec(r"(a)\1")), ValueError,
     "specification, variable 'code': format '(a)\\\\1' is not a regular expression the linear-time engine RE2 "
     "accepts (invalid escape sequence: \\1); backreferences and lookarounds are not supported"),
]


@pytest.mark.parametrize("case, call, error, message", PROBATION, ids=[c[0] for c in PROBATION])
def test_probation_messages(case, call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message


def test_catastrophic_format_runs_in_linear_time():
    """(a+)+$ on 'aaa...ab' takes exponential time with backtracking (Python's re: about 2^n steps); RE2 answers
    at once, and the value is counted as breaking the format."""
    import time

    values = pd.Series(["a" * 5000 + "b", "aaa", None])
    start = time.perf_counter()
    broken = violations(values, validate_spec(spec("(a+)+")).iloc[0])["format"]
    assert time.perf_counter() - start < 1.0
    assert broken.tolist() == [True, False, False]


def quick_config():
    return yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())


def changed(change):
    config = quick_config()
    change(config)
    return config


def _check(config):
    check_config(config)
    cs.check_casestudy_config(config["casestudy"])
    check_paper_config(config, ROOT / "paper")


MINE = {"path": "data/mine.csv", "covariates": ["age", "sex"], "treatment": "drug", "time": "days", "event": "died",
        "horizon": 50}
CONFIG = [
    ("misspelt method option (item 13)",
     lambda c: c["methods"]["ipcw-dr"].update(event_modle="cox"),
     "methods.ipcw-dr: unknown option(s) ['event_modle']; accepted: ['calibrate_propensity', 'candidates', "
     "'cate_model', 'censoring_model', 'combine', 'event_model', 'extrapolate', 'method', 'min_censoring_survival', "
     "'n_folds', 'n_grid', 'on_positivity_failure', 'propensity_bounds', 'propensity_model', 'selection_risk', "
     "'treatment_as_feature']"),
    ("unknown simulator parameter (item 13)",
     lambda c: c["simulation"]["settings"]["csf1"].update(params={"censoring": 0.2}),
     "simulation.settings.csf1: unknown parameter(s) ['censoring'] of simulator 'csf1'; accepted: "),
    ("unknown dataset without a path (item 13)",
     lambda c: c["casestudy"]["datasets"].update(mydata={"horizon": 10}),
     "casestudy.datasets.mydata: not a built-in dataset (['cgvhd', 'gbsg2', 'rossi']) and no `path` to a data file"),
    ("yardstick dataset not in the datasets (item 11)",
     lambda c: c["casestudy"]["yardstick"].update(dataset="trial"),
     "casestudy.yardstick.dataset: 'trial' is not among casestudy.datasets ['gbsg2', 'rossi']"),
    ("yardstick on a user's file not declared randomised (item 11)",
     lambda c: (c["casestudy"]["datasets"].update(mine=MINE), c["casestudy"]["yardstick"].update(dataset="mine")),
     "casestudy.yardstick.dataset: 'mine' is not a randomised trial; the yardstick needs one (set `randomised: "
     "true` under casestudy.datasets.mine if it is)"),
    ("yardstick confounder not a covariate (item 11)",
     lambda c: (c["casestudy"]["datasets"].update(mine={**MINE, "randomised": True}),
                c["casestudy"]["yardstick"].update(dataset="mine")),
     "casestudy.yardstick.confounders: ['prio', 'wexp'] are not covariates of 'mine' ['age', 'sex']"),
    ("only the user's datasets while the paper quotes gbsg2 and rossi (item 13)",
     lambda c: c["casestudy"].update(
         datasets={"mine": {**MINE, "randomised": True, "covariates": ["age", "prio", "wexp"]}},
         yardstick={**c["casestudy"]["yardstick"], "dataset": "mine"}),
     "the paper ({root}/paper/) quotes case-study results this config does not produce: casestudy.datasets lacks "
     "['gbsg2', 'rossi']; casestudy.yardstick.dataset lacks ['rossi']. Add them to the config, or build only your "
     "outputs: snakemake --cores all results/casestudy/mine/values.yml"),
]


@pytest.mark.parametrize("case, change, message", CONFIG, ids=[c[0] for c in CONFIG])
def test_config_messages(case, change, message):
    with pytest.raises(ValueError) as info:
        _check(changed(change))
    expected = message.replace("{root}", str(ROOT))
    if expected.endswith("accepted: "):  # the accepted names are the simulator's, listed by the registry
        assert str(info.value).startswith(expected)
    else:
        assert str(info.value) == expected


def test_yardstick_strength_above_the_keep_fraction_limit():
    a = np.repeat([1, 0], 50)
    with pytest.raises(ValueError) as info:
        cs.selection_probabilities(a, np.zeros(100), 0.8, 0.6)
    assert str(info.value) == ("confounding strength 0.8 is above the limit 0.667 that keep_fraction 0.6 permits with "
                               "a treated share of 0.500 (keep_fraction * (1 + strength) <= 2 min(share, 1 - share)): "
                               "lower the strength or keep_fraction")
