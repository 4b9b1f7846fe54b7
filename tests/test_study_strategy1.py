"""Tables and values of the simulation study: hand-computed figures."""

import pandas as pd
import pytest

from causalehr.studies.reference import competing_coverage_values, competing_peer_values, selection_values
from causalehr.studies.reference import summarise as reference_comparison
from causalehr.studies.strategy1 import mse_table, paper_values


def _mse_rows(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"setting": "csf1", "estimand": "rmst", "method": m, "rep": r, "mse_x100": v}
                         for m, by_rep in values.items() for r, v in enumerate(by_rep)])


def test_reference_comparison_pairs_the_best_method_with_csf_by_cohort():
    df = _mse_rows({"CSF (grf)": [1.0, 2.0, 3.0], "IPCW forest (grf)": [2.0, 2.0, 2.0],
                    "x-learner": [0.5, 1.0, 2.4], "t-learner": [4.0, 4.0, 4.0]})
    table, values = reference_comparison(df)
    v = values["reference"]["settings"]["csf1"]["rmst"]
    # x-learner has the smallest mean (1.3); differences to CSF -0.5, -1.0, -0.6: mean -0.7, sd 0.26458 / sqrt(3)
    assert v["best"] == "x-learner" and v["best_mse"] == "1.3" and v["csf_mse"] == "2"
    assert v["difference"] == "-0.7" and v["difference_se"] == "0.153" and v["not_worse"]
    rows = table.set_index("Method")["csf1"]
    assert rows["best of the compendium"] == "x-learner" and rows["best - CSF (paired)"] == "-0.7 (0.153)"
    assert rows["CSF (grf)"] == "2 (0.577)" and rows["t-learner"] == "4 (0)"
    assert values["reference"]["worse"] == "none" and values["reference"]["cells"] == 1
    # -0.7 is 4.6 standard errors below zero
    assert v["verdict"] == "better" and values["reference"]["better"] == "csf1 RMST"
    assert values["reference"]["n_better"] == 1 and values["reference"]["level"] == "none"


def test_reference_comparison_leaves_out_cohorts_a_method_could_not_fit():
    df = _mse_rows({"CSF (grf)": [1.0, 2.0, 9.0], "IPCW forest (grf)": [2.0, 2.0, 2.0],
                    "x-learner": [0.5, 1.5, float("nan")]})
    table, values = reference_comparison(df)
    v = values["reference"]
    assert v["incomplete"] == 1 and v["replications"] == 3
    assert v["settings"]["csf1"]["rmst"]["csf_mse"] == "1.5" and v["settings"]["csf1"]["rmst"]["difference"] == "-0.5"


def test_reference_comparison_names_the_cells_where_the_best_is_worse_than_csf():
    df = _mse_rows({"CSF (grf)": [1.0, 1.0, 1.0], "IPCW forest (grf)": [2.0, 2.0, 2.0],
                    "x-learner": [1.5, 1.6, 1.7]})
    values = reference_comparison(df)[1]["reference"]
    assert values["worse"] == "csf1 RMST" and values["not_worse"] == 0 and values["n_worse"] == 1
    assert values["single"] == {"method": "x-learner", "not_worse": 0, "better": 0}


def test_reference_comparison_names_the_single_learner_level_with_csf_in_most_cells():
    rows = []
    for setting, csf, ours in (("csf1", [1.0, 1.0, 1.0], {"t-learner": [1.2, 1.3, 1.4], "x-learner": [0.5, 1.5, 2.05]}),
                               ("csf2", [1.0, 2.0, 3.0], {"t-learner": [0.5, 1.0, 2.0], "x-learner": [2.0, 2.9, 4.1]})):
        for method, by_rep in {"CSF (grf)": csf, "IPCW forest (grf)": [5.0] * 3, **ours}.items():
            rows += [{"setting": setting, "estimand": "rmst", "method": method, "rep": r, "mse_x100": v}
                     for r, v in enumerate(by_rep)]
    values = reference_comparison(pd.DataFrame(rows))[1]["reference"]
    # t-learner: csf1 worse (+0.3, SE 0.058), csf2 better (-0.833, SE 0.167); x-learner: csf1 level (+0.35, SE 0.45),
    # csf2 worse (+1.0, SE 0.058): each is not worse in one cell, the t-learner has the smaller MSE in both
    assert values["single"] == {"method": "t-learner", "not_worse": 1, "better": 1}


def test_reference_comparison_holds_fixed_only_a_learner_run_in_every_cell_and_allows_no_ipcw_forest():
    rows = []
    for setting, csf, ours in (("csf1", [1.0, 1.0, 1.0], {"t-learner": [1.2, 1.3, 1.4], "x-learner": [0.5, 1.0, 1.6]}),
                               ("grf_example", [1.0, 2.0, 3.0], {"t-learner": [0.5, 1.0, 2.0]})):
        for method, by_rep in {"CSF (grf)": csf, **ours}.items():
            rows += [{"setting": setting, "estimand": "rmst", "method": method, "rep": r, "mse_x100": v}
                     for r, v in enumerate(by_rep)]
    table, values = reference_comparison(pd.DataFrame(rows))
    # x-learner (run in csf1 only) is level there (+0.033, SE 0.32) with the smaller MSE, not worse in its 1 cell; the
    # t-learner, run in both, is worse in csf1 (+0.3, SE 0.058) and better in grf_example (-0.833, SE 0.167): it is
    # the one held fixed
    assert values["reference"]["single"] == {"method": "t-learner", "not_worse": 1, "better": 1}
    assert values["reference"]["settings"]["grf_example"]["rmst"]["ipcw_mse"] == "-"
    assert table.set_index("Method").loc["IPCW forest (grf)", "grf_example"] == "-"


def test_reference_comparison_calls_a_difference_within_two_standard_errors_level():
    # differences -0.3, +0.1, +0.2: mean 0, within two standard errors
    df = _mse_rows({"CSF (grf)": [1.0, 1.0, 1.0], "IPCW forest (grf)": [2.0, 2.0, 2.0],
                    "x-learner": [0.7, 1.1, 1.2]})
    values = reference_comparison(df)[1]["reference"]
    assert values["level"] == "csf1 RMST" and values["settings"]["csf1"]["rmst"]["verdict"] == "level"
    assert values["not_worse"] == 1 and values["better"] == values["worse"] == "none"


def test_mse_table_and_values_are_in_mse_times_100():
    metrics = pd.DataFrame({
        "setting": ["csf1", "csf1", "csf2", "csf2"], "method": ["a", "b", "a", "b"], "estimand": ["rmst"] * 4,
        "mse": [0.0123, 0.0045, 0.2, 0.3], "mse_mcse": [0.001, 0.0002, 0.01, 0.02], "autoc": [0.1] * 4,
        "ate_coverage": [1.0] * 4, "replications": [5] * 4, "ate_bias": [0.01, -0.02, 0.0, 0.0],
        "ate_bias_mcse": [0.005] * 4,
    })
    table = mse_table(metrics)
    assert table.splitlines()[2] == "| RMST       | a        | 1.23 (0.1)  | 20 (1) |"
    values = paper_values(metrics)["evaluate"]
    assert values["mse"]["csf1"]["a"]["rmst"] == "1.23"
    assert values["best"]["csf2"]["rmst"] == {"method": "a", "mse": "20"}
    assert values["ate_bias"]["csf1"]["b"]["rmst"] == "-0.02" and values["ate_bias_mcse"]["csf2"]["a"]["rmst"] == "0.005"
    assert values["summary"]["rmst"]["best"] == "b (csf1), a (csf2)"
    assert values["summary"]["rmst"]["ranking"]["csf1"] == "b < a"


def test_reference_comparison_rejects_a_table_without_csf_or_columns():
    df = _mse_rows({"IPCW forest (grf)": [2.0, 2.0], "x-learner": [1.0, 1.0]})
    with pytest.raises(ValueError, match=r"no rows of method\(s\) \['CSF \(grf\)'\]: run benchmarks"):
        reference_comparison(df)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['rep'\]"):
        reference_comparison(df.drop(columns="rep"))


def test_competing_estimand_comes_with_the_analysis_that_censors_deaths():
    from causalehr.registry import make_estimator
    from causalehr.studies.strategy1 import run, simulate_split

    spec = {"method": "constant", "censoring_model": "kaplan-meier", "n_folds": 2}
    train, test = simulate_split({"simulator": "csf2_competing", "n": 400}, 300, 5)
    cate, ate = run(train, test, spec, ["cif"], seed=2)
    assert ate["estimand"].tolist() == ["cif", "cif_naive"]
    assert (ate["truth"] == test.truth["cate_cif"].mean()).all()      # both against the real risk of cause 1
    naive = make_estimator(spec, "surv", train.horizon_surv, 2)
    naive.fit(train.data[train.covariates].to_numpy(), train.data["treatment"].to_numpy(),
              train.data["time"].to_numpy(), (train.data["event"] == 1).astype(int).to_numpy())
    estimate, lower, upper = naive.ate_interval()
    row = ate.set_index("estimand").loc["cif_naive"]
    assert (row["estimate"], row["lower"], row["upper"]) == pytest.approx((-estimate, -upper, -lower))
    assert cate.query("estimand == 'cif_naive'")["estimate"].to_numpy() == pytest.approx(
        -naive.effect(test.data[test.covariates].to_numpy()))


def test_competing_table_hand_computed():
    from causalehr.studies.strategy1 import competing_table, competing_values

    rows = [{"setting": "s", "method": "m", "estimand": e, "ate_bias": b, "ate_bias_mcse": 0.01, "ate_coverage": c,
             "ate_coverage_mcse": 0.1, "mse": 0.02, "mse_mcse": 0.005}
            for e, b, c in (("cif_naive", -0.1, 0.2), ("cif", 0.01, 0.9), ("rmst", 0.0, 0.95))]
    cate = pd.DataFrame({"setting": "s", "estimand": ["cif", "cif", "cif_naive", "cif_naive", "rmst"],
                         "truth": [0.1, 0.3, 0.1, 0.3, 1.0]})
    lines = competing_table(pd.DataFrame(rows), cate).splitlines()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:]]
    assert cells == [["s", "m", "CIF", "0.2", "0.01 (0.01)", "0.9 (0.1)", "2 (0.5)"],
                     ["s", "m", "CIF, deaths censored", "0.2", "-0.1 (0.01)", "0.2 (0.1)", "2 (0.5)"]]
    assert competing_values(cate) == {"s": {"truth": {"cif": "0.2"}}}
    assert competing_table(pd.DataFrame(rows[2:]), cate) == "No competing-risks setting in this configuration.\n"


def _peer_rows() -> pd.DataFrame:
    rows = []
    for method, analysis, ates, se in (("riskRegression ate", "competing", [0.1, 0.2, 0.3], 0.05),
                                       ("dr-dtch", "competing", [0.12, 0.18, 0.33], 0.05),
                                       ("dr-dtch", "naive", [0.0, 0.05, 0.1], 0.01)):
        rows += [{"setting": "csf2_competing", "n": 100, "rep": r, "method": method, "analysis": analysis, "ate": a,
                  "se": se, "truth": 0.2, "cate_mse": None if method.startswith("risk") else 0.01 * (r + 1),
                  "seconds": 1.0} for r, a in enumerate(ates)]
    # riskRegression point estimates without standard errors at a larger size
    rows.append({"setting": "csf2_competing", "n": 1000, "rep": 0, "method": "riskRegression ate",
                 "analysis": "competing", "ate": 0.25, "se": float("nan"), "truth": 0.2, "cate_mse": None,
                 "seconds": 1.0})
    return pd.DataFrame(rows)


def test_competing_peer_values_hand_computed():
    v = competing_peer_values(_peer_rows())["competing_peer"]["csf2_competing"]
    r, dr, naive = v["n100"]["riskregression"]["competing"], v["n100"]["dr"]["competing"], v["n100"]["dr"]["naive"]
    # riskRegression errors -0.1, 0, 0.1: bias 0, MCSE 0.1 / sqrt(3), RMSE sqrt(0.02 / 3); |0.1| > 1.96 x 0.05
    assert float(r["bias"]) == pytest.approx(0, abs=1e-12) and r["bias_mcse"] == "0.0577" and r["rmse"] == "0.0816"
    assert r["coverage"] == "0.333" and r["coverage_mcse"] == "0.272" and "cate_mse" not in r
    # DR errors -0.08, -0.02, 0.13: bias 0.01, 2 of 3 covered; paired differences 0.02, -0.02, 0.03 (SD 0.02646);
    # squared errors minus riskRegression's: -0.0036, 0.0004, 0.0069 (mean 0.00123, SD 0.0053)
    assert dr["bias"] == "0.01" and dr["coverage"] == "0.667" and dr["cate_mse"] == "2"
    assert dr["paired"] == {"reps": 3, "difference": "+0.0100", "difference_se": "0.0153",
                            "sqerr_difference": "+0.00123", "sqerr_difference_se": "0.00306"}
    # death censored: errors -0.2, -0.15, -0.1, none within 1.96 x 0.01
    assert naive["bias"] == "-0.15" and naive["bias_mcse"] == "0.0289" and naive["coverage"] == "0"
    assert v["n1000"]["riskregression"]["competing"] == {"reps": 1, "truth": "0.2", "bias": "0.05",
                                                          "bias_mcse": "nan", "rmse": "0.05"}


def test_competing_peer_values_bad_input():
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['se'\]"):
        competing_peer_values(_peer_rows().drop(columns="se"))
    with pytest.raises(ValueError, match="no rows of method 'riskRegression ate'"):
        competing_peer_values(_peer_rows().query("method != 'riskRegression ate'"))


def test_competing_coverage_values_hand_computed():
    rows = pd.DataFrame({"estimand": "rmtl", "analysis": "competing", "estimate": [0.9, 1.0, 1.4, 1.1], "se": 0.1,
                         "truth": 1.0, "net_truth": 0.5, "seconds": 1.0})
    v = competing_coverage_values(rows)["competing_coverage"]["rmtl"]["competing"]
    # errors -0.1, 0, 0.4, 0.1: bias 0.1, SD 0.21602 (MCSE 0.108); 3 of 4 within 1.96 x 0.1
    assert v == {"reps": 4, "truth": "1", "bias": "0.1", "bias_mcse": "0.108", "sd": "0.216", "mean_se": "0.1",
                 "sd_over_se": "2.16", "coverage": "0.75", "coverage_mcse": "0.217"}
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['net_truth'\]"):
        competing_coverage_values(rows.drop(columns="net_truth"))


def test_selection_values_hand_computed():
    rows = pd.DataFrame({"setting": "constant", "estimand": "surv", "rep": [0, 1, 2, 3],
                         "auto": [0.1, 0.3, 0.2, 9.0], "constant": [0.1, 0.1, 0.2, 9.0], "true ATE": 0.0,
                         "w_constant": [1.0, 0.0, 1.0, None], "error": [None, None, None, "horizon 15 is beyond"]})
    v = selection_values(rows)["selection"]["constant"]["surv"]
    # the refused fit is left out; auto 0.1, 0.3, 0.2: mean 0.2, SD 0.1, MCSE 0.0577; auto - constant 0, 0.2, 0
    assert v == {"reps": 3, "constant_kept": 2, "auto": "0.2", "auto_mcse": "0.0577", "constant": "0.133",
                 "constant_mcse": "0.0333", "true_ate": "0", "true_ate_mcse": "0", "auto_minus_true_ate": "0.2",
                 "auto_minus_true_ate_mcse": "0.0577", "auto_minus_constant": "0.0667",
                 "auto_minus_constant_mcse": "0.0667"}
    with pytest.raises(ValueError, match=r"the selection benchmark table lacks the column\(s\) \['w_constant'\]"):
        selection_values(rows.drop(columns="w_constant"))


def test_auto_choices_count_the_candidate_of_largest_weight_per_fit():
    from causalehr.studies.strategy1 import auto_choices

    ate = pd.DataFrame({"setting": ["csf1"] * 3 + ["csf2"] + ["csf1"], "estimand": "rmst",
                        "method": ["auto"] * 4 + ["aipcw-dr"],
                        "weight_constant": [1.0, 0.0, 0.2, 1.0, None], "weight_x-learner": [0.0, 0.7, 0.8, 0.0, None],
                        "weight_t-learner": [0.0, 0.3, 0.0, 0.0, None]})
    table, values = auto_choices(ate)
    # csf1: constant has all the weight in fit 0; the x-learner the largest in fits 1 and 2 (mean 0.5)
    assert values == {"auto": {"fits": 4, "chosen": {"constant": 2, "x-learner": 2, "t-learner": 0},
                               "constant_kept": 2, "chosen_text": "constant in 2, x-learner in 2, t-learner in 0"}}
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:]]
    assert cells[0] == ["auto", "csf1", "RMST", "3", "1", "1 (0.4)", "2 (0.5)", "0 (0.1)"]
    assert auto_choices(ate.drop(columns=[c for c in ate.columns if c.startswith("weight_")]))[1] == {}


def test_strategy1_run_records_the_weights_of_auto():
    from causalehr.studies.strategy1 import run, simulate_split

    spec = {"method": "auto", "candidates": ["constant", "t-learner"], "n_folds": 2}
    train, test = simulate_split({"simulator": "csf1", "n": 400}, 200, 3)
    _, ate = run(train, test, spec, ["rmst"], seed=1)
    weights = ate[["weight_constant", "weight_t-learner"]].to_numpy()
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)


def test_reference_comparison_pairs_auto_with_csf_in_every_cell():
    rows = []
    for setting, csf, auto in (("csf1", [1.0, 1.0, 1.0], [0.5, 0.6, 0.7]), ("csf2", [1.0, 2.0, 3.0], [1.2, 1.9, 3.2])):
        for method, by_rep in {"CSF (grf)": csf, "IPCW forest (grf)": [5.0] * 3, "auto": auto,
                               "t-learner": [0.1] * 3}.items():
            rows += [{"setting": setting, "estimand": "rmst", "method": method, "rep": r, "mse_x100": v}
                     for r, v in enumerate(by_rep)]
    table, values = reference_comparison(pd.DataFrame(rows))
    # auto - CSF: csf1 -0.5, -0.4, -0.3 (mean -0.4, SE 0.0577: better); csf2 +0.2, -0.1, +0.2 (mean 0.1, SE 0.1)
    assert values["reference"]["auto"] == {"better": "csf1 RMST", "worse": "none", "level": "csf2 RMST",
                                           "n_better": 1, "n_worse": 0, "n_level": 1, "cells": 2}
    row = table.set_index("Method").loc["auto - CSF (paired)"]
    assert row["csf1"] == "-0.4 (0.0577)" and row["csf2"] == "+0.1 (0.1)"
    # auto not run in csf2: shown as "-", the other methods keep all their cohorts there
    partial = reference_comparison(pd.DataFrame([r for r in rows if (r["setting"], r["method"]) != ("csf2", "auto")]))
    table, values = partial[0].set_index("Method"), partial[1]["reference"]
    assert table.loc["auto", "csf2"] == "-" and table.loc["auto - CSF (paired)", "csf2"] == "-"
    assert table.loc["CSF (grf)", "csf2"] == "2 (0.577)" and values["incomplete"] == 0
    assert values["auto"]["cells"] == 1 and values["auto"]["n_level"] == 0
