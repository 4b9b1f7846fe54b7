"""Tests of causalehr.studies.ccw: true strategy curves against the simulator's truth, one replication against
the truth and the naive comparison, hand-computed replication summaries, table, values and figures."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.integrate import trapezoid

from causalehr.ccw import naive_comparisons
from causalehr.studies.ccw import (
    NAIVE,
    ccw_cohort,
    ccw_table,
    ccw_values,
    plot_ccw_curves,
    plot_ccw_estimates,
    run_competing_replication,
    run_replication,
    summarise,
    true_strategy_survival,
)

matplotlib.use("Agg")

SIM = {"start_rate": 0.2, "confounding": 0.5, "start_model": "linear", "min_follow_up": 3.0, "max_follow_up": 6.0,
       "missingness": 0.0}
DESIGN = dict(simulation=SIM, grace=1.0, horizon=3.0, horizon_surv=2.0)


@pytest.fixture(scope="module")
def replication():
    return run_replication(11, n=3000, weights={"logistic": 30, "boosting": 0}, **DESIGN)


def test_true_curves_match_simulator_truth():
    _, _, cohort = ccw_cohort(2000, 3, SIM, grace=1.0, horizon=3.0, horizon_surv=2.0)
    truth = cohort.strategy_effects.set_index("estimand")
    times = np.linspace(0, 3.0, 301)
    curves = true_strategy_survival(cohort, times)
    for strategy in ("start", "never"):
        curve = curves.query("strategy == @strategy")
        assert curve["survival"].iloc[0] == 1.0
        assert np.all(np.diff(curve["survival"]) < 0)
        # survival at horizon_surv = the simulator's strategy truth; the area to the horizon = its RMST
        assert np.interp(2.0, curve["time"], curve["survival"]) == pytest.approx(
            truth.loc["surv", f"strategy_{strategy}"], rel=1e-9)
        assert trapezoid(curve["survival"], curve["time"]) == pytest.approx(
            truth.loc["rmst", f"strategy_{strategy}"], abs=1e-4)


def test_true_curves_need_complete_covariates():
    _, _, cohort = ccw_cohort(500, 3, {**SIM, "missingness": 0.3}, grace=1.0, horizon=3.0, horizon_surv=2.0)
    n_missing = int(cohort.data[cohort.covariates].isna().any(axis=1).sum())
    with pytest.raises(ValueError, match=f"complete covariates: {n_missing} rows have missing"):
        true_strategy_survival(cohort, [0.0, 1.0])


def test_replication_against_truth_and_naive(replication):
    estimates, fitted, cohort = replication
    est = estimates.set_index(["method", "estimand"])
    truth = cohort.strategy_effects.set_index("estimand")["difference"]
    assert set(fitted) == {"logistic", "boosting"}
    for estimand in ("rmst", "surv"):
        assert (est.xs(estimand, level="estimand")["truth"] == truth[estimand]).all()
        # CCW close to the truth (sd about 0.02 for the RMST at n = 3000), the naive comparison far above it
        for method in ("CCW logistic", "CCW boosting"):
            assert abs(est.loc[(method, estimand), "estimate"] - truth[estimand]) < 3 * truth[estimand] + 0.02
        assert est.loc[(NAIVE, estimand), "estimate"] - truth[estimand] > 3 * truth[estimand]
    row = est.loc[("CCW logistic", "rmst")]
    assert row["lower"] < row["estimate"] < row["upper"]
    assert est.loc[("CCW boosting", "rmst"), ["lower", "upper"]].isna().all()
    assert est.loc[("CCW logistic", "surv"), "estimate"] == fitted["logistic"].surv_difference_
    df, _, _ = ccw_cohort(3000, 11, SIM, grace=1.0, horizon=3.0, horizon_surv=2.0)
    naive = naive_comparisons(df, horizon=3.0, horizon_surv=2.0).query("comparison == 'ever_vs_never'")
    assert est.loc[(NAIVE, "rmst"), "estimate"] == naive.set_index("estimand").loc["rmst", "difference"]


def test_replication_is_reproducible(replication):
    again, _, _ = run_replication(11, n=3000, weights={"logistic": 30, "boosting": 0}, **DESIGN)
    pd.testing.assert_frame_equal(replication[0].drop(columns="seconds"), again.drop(columns="seconds"))


def test_unknown_weight_model():
    with pytest.raises(ValueError, match=r"unknown weight models \['forest'\] in 'weights'"):
        run_replication(1, n=500, weights={"forest": 0}, **DESIGN)


RESULTS = pd.DataFrame({
    "method": ["CCW logistic"] * 3 + [NAIVE] * 3, "estimand": "rmst",
    "estimate": [0.1, 0.3, 0.2, 0.5, 0.6, 0.7], "lower": [0.0, 0.25, -0.1] + [np.nan] * 3,
    "upper": [0.3, 0.4, 0.25] + [np.nan] * 3, "truth": [0.2, 0.2, 0.2, 0.2, 0.2, 0.2]})


def test_summary_hand_computed():
    s = summarise(RESULTS).set_index("method")
    # CCW: errors -0.1, 0.1, 0 -> bias 0, empirical SE sd(0.1, 0.3, 0.2) = 0.1; intervals cover 0.2 in rows 1, 3
    # -> coverage 2/3; widths 0.3, 0.15, 0.35 -> 0.2667
    assert s.loc["CCW logistic", "bias"] == pytest.approx(0.0, abs=1e-12)
    assert s.loc["CCW logistic", "empse"] == pytest.approx(0.1)
    assert s.loc["CCW logistic", "rmse"] == pytest.approx(np.sqrt(0.02 / 3))
    assert s.loc["CCW logistic", "coverage"] == pytest.approx(2 / 3)
    assert s.loc["CCW logistic", "width"] == pytest.approx(0.8 / 3)
    # naive: errors 0.3, 0.4, 0.5 -> bias 0.4, no interval measures
    assert s.loc[NAIVE, "bias"] == pytest.approx(0.4)
    assert s.loc[NAIVE, "bias_mcse"] == pytest.approx(0.1 / np.sqrt(3))
    assert s.loc[NAIVE, ["coverage", "width"]].isna().all()
    assert s.loc[NAIVE, "truth"] == pytest.approx(0.2)


def test_summary_partial_intervals_error():
    bad = RESULTS.copy()
    bad.loc[0, "lower"] = np.nan
    with pytest.raises(ValueError, match=r"missing in some replications of \[\('CCW logistic', 'rmst'\)\]"):
        summarise(bad)


def test_table_and_values():
    summary = summarise(RESULTS)
    rows = {cells[2]: cells[1:-1] for cells in
            ([c.strip() for c in line.split("|")] for line in ccw_table(summary).splitlines()[2:])}
    # columns: estimand, method, truth, bias, empirical SE, RMSE, coverage, width (MCSE in parentheses), by hand:
    # empirical SE 0.1, MCSE 0.1 / sqrt(2 * 2); RMSE MCSE sqrt(sum (e^2 - mse)^2 / 6) / (2 rmse): CCW
    # sqrt(6.67e-5 / 6) / 0.163 = 0.0204, naive sqrt(0.01287 / 6) / 0.816 = 0.0567; coverage MCSE
    # sqrt(2/3 * 1/3 / 3) = 0.272; width MCSE sd(0.3, 0.15, 0.35) / sqrt(3) = 0.0601
    assert rows["CCW logistic"][:3] == ["RMST difference", "CCW logistic", "0.2"]
    assert rows["CCW logistic"][4:] == ["0.1 (0.05)", "0.0816 (0.0204)", "0.667 (0.272)", "0.267 (0.0601)"]
    assert rows[NAIVE][3:] == ["0.4 (0.0577)", "0.1 (0.05)", "0.408 (0.0567)", "-", "-"]
    values = ccw_values(summary, RESULTS, {"n": 3000, "grace": 1.0})["ccw"]
    assert values["n"] == 3000 and values["grace"] == "1" and values["replications"] == 3
    assert values["rmst"]["truth"] == "0.2"
    assert float(values["rmst"]["ccw_logistic"].pop("bias")) == pytest.approx(0.0, abs=1e-12)
    assert values["rmst"]["ccw_logistic"] == {"mean": "0.2", "bias_mcse": "0.0577", "rmse": "0.0816",
                                              "coverage": "0.667", "coverage_mcse": "0.272", "width": "0.267"}
    # naive RMSE sqrt((0.09 + 0.16 + 0.25) / 3)
    assert values["rmst"]["naive"] == {"mean": "0.6", "bias": "0.4", "bias_mcse": "0.0577", "rmse": "0.408"}


def test_figures(replication):
    estimates, fitted, cohort = replication
    fig = plot_ccw_curves(fitted["logistic"], true_strategy_survival(cohort, np.linspace(0, 3, 31)), 3.0)
    assert len(fig.axes[0].lines) == 5  # 2 weighted KM + 2 true curves + the grace line
    fig = plot_ccw_estimates(estimates.assign(replication=0))
    assert [ax.get_title() for ax in fig.axes] == ["RMST difference", "survival difference"]
    assert fig.axes[0].get_yscale() == "symlog"


def test_competing_replication_against_truth_and_the_deaths_censored_analysis():
    out = run_competing_replication(3, n=3000, competing={"death_effect": -0.3, "weights": {"logistic": 0}},
                                    **DESIGN)
    cohort = ccw_cohort(3000, 3, {**SIM, "competing_death": True, "death_effect": -0.3}, grace=1.0, horizon=3.0,
                        horizon_surv=2.0)[2]
    truth = cohort.strategy_effects.set_index("estimand")["difference"]
    est = out.set_index(["method", "estimand"])
    assert sorted(est.index) == [("CCW logistic", "cif"), ("CCW logistic", "rmtl"),
                                 ("CCW logistic, deaths censored", "cif"), ("CCW logistic, deaths censored", "rmtl")]
    # the truth is the cumulative incidence's; sd of CCW over 12 seeds at n = 3000: 0.020 (CIF), 0.046 (RMTL)
    # (tests/test_ccw.py checks the estimator more tightly at n = 20,000)
    for estimand, tolerance in (("cif", 0.06), ("rmtl", 0.14)):
        assert est.loc[("CCW logistic", estimand), "truth"] == truth[estimand]
        assert abs(est.loc[("CCW logistic", estimand), "estimate"] - truth[estimand]) < tolerance
    # deaths censored: minus the all-cause CCW effect on the complication's net survival
    assert est.loc[("CCW logistic, deaths censored", "cif"), "estimate"] != est.loc[("CCW logistic", "cif"),
                                                                                   "estimate"]
    twice = pd.concat([out.assign(replication=0), out.assign(replication=1)], ignore_index=True)
    values = ccw_values(summarise(twice), twice, {})["ccw"]
    assert set(values["cif"]) == {"truth", "ccw_logistic", "ccw_logistic_deaths_censored"}
