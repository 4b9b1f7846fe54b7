import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from causalehr.probation import (
    analysis_estimates,
    cohort_from_source,
    corrupt,
    error_propagation,
    replicate_analysis,
    simulate_extraction,
)
from causalehr.probation.synthetic import default_spec

VARS = ["index_date", "age", "female", "treatment", "event", "event_date", "end_date"]


def small_spec():
    spec = default_spec()
    return spec[spec["variable"].isin(VARS)]


def test_cohort_from_source_hand_example():
    t = pd.DataFrame({
        "treatment": [1.0, 0, 1, 0, 1], "event": [1.0, 0, 1, 1, 0], "age": [50.0, 60, 70, np.nan, 40],
        "index_date": pd.to_datetime(["2020-01-01"] * 5),
        "event_date": pd.to_datetime(["2021-01-01", None, None, "2020-07-01", "2022-01-01"]),
        "end_date": pd.to_datetime(["2022-01-01", "2020-07-02", "2021-01-01", "2021-01-01", "2021-12-31"]),
    }, index=pd.Index([1, 2, 3, 4, 5], name="patient_id"))
    cohort, n_out = cohort_from_source(t, ["age"])
    # patient 3: event without date (inconsistent), patient 4: missing age -> left out
    assert n_out == 2 and cohort.index.tolist() == [1, 2, 5]
    assert cohort["time"].tolist() == pytest.approx([366 / 365.25, 183 / 365.25, 730 / 365.25])
    assert cohort["event"].tolist() == [1, 0, 0]  # patient 5: event date given but event = 0 -> censored
    with pytest.raises(ValueError, match="missing column 'bmi'"):
        cohort_from_source(t, ["bmi"])


def test_estimates_recover_simulated_effect_and_match_lifelines():
    data = simulate_extraction(4000, small_spec(), seed=4)
    cohort, n_out = cohort_from_source(data.reference, ["age"], data.spec)
    assert n_out == 0
    est = analysis_estimates(cohort, ["age"], horizon=3.0)
    assert abs(np.log(est["cox_hr"]) - (-0.5)) < 0.2  # simulated log hazard ratio -0.5
    arm = cohort[cohort["treatment"] == 1]
    km = KaplanMeierFitter().fit(arm["time"], arm["event"])
    arm0 = cohort[cohort["treatment"] == 0]
    km0 = KaplanMeierFitter().fit(arm0["time"], arm0["event"])
    assert est["rmst_diff"] == pytest.approx(restricted_mean_survival_time(km, t=3.0)
                                             - restricted_mean_survival_time(km0, t=3.0))
    lifelines_medians = [m if np.isfinite(m) else np.nan for m in (km.median_survival_time_, km0.median_survival_time_)]
    np.testing.assert_array_equal([est["km_median_treated"], est["km_median_control"]], lifelines_medians)  # NaN: > 0.5


def test_replication_differences():
    data = simulate_extraction(800, small_spec(), seed=6)
    cohorts = {s: cohort_from_source(t, ["age"], data.spec)[0] for s, t in {"reference": data.reference, **data.sources}.items()}
    cohorts["copy"] = cohorts["reference"].copy()
    rep = replicate_analysis(cohorts, ["age"], horizon=3.0, n_boot=15, seed=1).set_index(["source", "quantity"])
    assert rep.loc[("copy", "cox_hr"), "diff_vs_reference"] == 0
    assert (rep.loc["copy", "diff_lower"] == 0).all() and (rep.loc["copy", "diff_upper"] == 0).all()
    hr = rep.loc[("reference", "cox_hr")]
    assert hr["lower"] < hr["estimate"] < hr["upper"]
    assert rep.loc[("ai", "cox_hr"), "n"] < 800
    with pytest.raises(ValueError, match="reference source 'gold' not in"):
        replicate_analysis(cohorts, ["age"], horizon=3.0, reference="gold")


def _rmst_diff(cohort):
    est = analysis_estimates(cohort, [], horizon=3.0)["rmst_diff"]
    return est, np.full(len(cohort), est)


def test_error_propagation_sweep():
    data = simulate_extraction(3000, small_spec(), seed=8)
    cohort, _ = cohort_from_source(data.reference, ["age"], data.spec)
    rng = np.random.default_rng(0)
    flipped = corrupt(cohort, ["age"], "treatment", 1.0, rng)
    assert (flipped["treatment"] == 1 - cohort["treatment"]).all()
    assert corrupt(cohort, ["age"], "covariates", 0.0, rng).equals(cohort)
    with pytest.raises(ValueError, match="unknown error kind 'dose'"):
        corrupt(cohort, ["age"], "dose", 0.1, rng)
    res = error_propagation(cohort, ["age"], _rmst_diff, rates=(0.0, 0.5), kinds=("treatment", "event_time"),
                            n_reps=3, seed=1).set_index(["kind", "rate"])
    assert res.loc[("treatment", 0.0), "ate_bias"] == 0
    clean = res.loc[("treatment", 0.0), "ate"]
    assert clean > 0.1
    # treatment flipped at random half of the time: no association left
    assert abs(res.loc[("treatment", 0.5), "ate"]) < 0.06
    assert res.loc[("event_time", 0.0), "cate_rms_diff"] == 0


def test_replication_compares_the_aalen_johansen_incidence_when_death_competes():
    from causalehr.survival import aalen_johansen, cumulative_incidence_at

    rng = np.random.default_rng(4)
    n = 300
    index = pd.Timestamp("2020-01-01")
    days = rng.integers(30, 1500, n)
    code = rng.choice([0, 1, 2], size=n, p=[0.4, 0.35, 0.25])
    table = pd.DataFrame({
        "treatment": rng.integers(0, 2, n).astype(float), "event": code.astype(float),
        "age": rng.normal(60, 10, n), "index_date": index,
        "event_date": [index + pd.Timedelta(days=int(d)) if c else pd.NaT for d, c in zip(days, code)],
        "end_date": index + pd.Timedelta(days=1500)}, index=pd.Index(range(n), name="patient_id"))
    reference, _ = cohort_from_source(table, ["age"])
    assert sorted(reference["event"].unique()) == [0, 1, 2]
    # the AI source records every death as the complication
    ai, _ = cohort_from_source(table.assign(event=table["event"].clip(upper=1)), ["age"])
    est = analysis_estimates(reference, ["age"], horizon=3.0)
    treated = reference[reference["treatment"] == 1]
    assert est["aj_cif_treated"] == pytest.approx(
        cumulative_incidence_at(aalen_johansen(treated["time"], treated["event"]), 3.0, 1))
    # cause 1 with deaths censored: the net Kaplan-Meier RMST
    control = reference[reference["treatment"] == 0]
    rmst = [restricted_mean_survival_time(KaplanMeierFitter().fit(d["time"], d["event"] == 1), t=3.0)
            for d in (treated, control)]
    assert est["rmst_diff"] == pytest.approx(rmst[0] - rmst[1])
    out = replicate_analysis({"reference": reference, "ai": ai}, ["age"], horizon=3.0, n_boot=5, seed=1)
    by = out.set_index(["source", "quantity"])
    # the AI source has no death left: its Aalen-Johansen incidence is 1 - Kaplan-Meier, above the reference's
    ai_treated = ai[ai["treatment"] == 1]
    km = KaplanMeierFitter().fit(ai_treated["time"], ai_treated["event"]).survival_function_at_times(3.0).item()
    assert by.loc[("ai", "aj_cif_treated"), "estimate"] == pytest.approx(1 - km)
    assert by.loc[("ai", "aj_cif_treated"), "estimate"] > est["aj_cif_treated"] + 0.1
    assert by.loc[("ai", "aj_cif_treated"), "diff_vs_reference"] == pytest.approx(
        by.loc[("ai", "aj_cif_treated"), "estimate"] - est["aj_cif_treated"])
    assert by.loc[("reference", "aj_cif_diff"), "estimate"] == pytest.approx(
        est["aj_cif_treated"] - est["aj_cif_control"])
