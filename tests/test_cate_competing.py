"""Strategy 1 with competing risks: the AIPCW transformation without censoring is the observed target, the ATE of
the cumulative-incidence and time-lost differences against the simulator's truth, the bias of treating the
competing event as censoring, and bad input with exact messages."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from causalehr.cate import CensoredCATE
from causalehr.cate.competing import competing_pseudo_outcomes, competing_target
from causalehr.nuisance import DiscreteTimeHazard, MarginalAalenJohansen
from causalehr.simulate import simulate

COHORT = simulate("csf2_competing", 3000, seed=11)
D = COHORT.data
X, A, TIME, EVENT = D[COHORT.covariates].to_numpy(), D["treatment"].to_numpy(), D["time"].to_numpy(), \
    D["event"].to_numpy()


def fit(estimand, event=EVENT, time=TIME, **kwargs):
    horizon = COHORT.horizon_surv if estimand in ("cif", "surv") else COHORT.horizon
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CensoredCATE(estimand=estimand, horizon=horizon, n_folds=2, random_state=0,
                            **kwargs).fit(X, A, time, event)


@pytest.mark.parametrize("estimand", ["cif", "rmtl"])
def test_without_censoring_the_aipcw_outcome_is_the_observed_target(estimand):
    uncensored = simulate("csf2_competing", 400, seed=2, censoring_scale=1e6)
    d = uncensored.data
    tau = uncensored.horizon
    assert (d["event"] != 0).all() or ((d["event"] == 0) <= (d["time"] >= tau)).all()
    curves = MarginalAalenJohansen().fit(d[["x1"]], d["time"], d["event"])
    grid = np.linspace(tau / 30, tau, 30)
    cif = curves.predict_cumulative_incidence(d[["x1"]], grid)
    po = competing_pseudo_outcomes(d["time"], d["event"], 1, curves.predict_survival(d[["x1"]], grid), cif[:, :, 0],
                                   np.ones((len(d), len(grid))), grid, estimand)
    f, observed = competing_target(d["time"], d["event"], 1, tau, estimand)
    assert observed.all()
    np.testing.assert_allclose(po.aipcw, f, atol=1e-12)
    np.testing.assert_allclose(po.ipcw, f, atol=1e-12)
    expected = ((d["event"] == 1) & (d["time"] <= tau)).to_numpy()
    np.testing.assert_array_equal(f, expected if estimand == "cif" else np.where(expected, tau - d["time"], 0.0))
    # and through CensoredCATE: no censoring before tau, G = 1, the cross-fitted AIPCW outcome is the target
    est = CensoredCATE(estimand=estimand, horizon=tau, n_folds=2, random_state=0,
                       cate_model=LinearRegression()).fit(d[uncensored.covariates], d["treatment"], d["time"],
                                                          d["event"])
    np.testing.assert_allclose(est.nuisances_["aipcw"], f, atol=1e-12)


@pytest.mark.parametrize("estimand", ["cif", "rmtl"])
def test_ate_and_cate_against_the_truth(estimand):
    est = fit(estimand)
    truth = COHORT.truth[f"cate_{estimand}"].to_numpy()
    ate, lower, upper = est.ate_interval()
    se = (upper - lower) / (2 * 1.96)
    assert lower < truth.mean() < upper
    assert abs(ate - truth.mean()) < 2.5 * se
    tau = est.effect(X)
    assert np.corrcoef(tau, truth)[0, 1] > 0.5
    assert np.sqrt(np.mean((tau - truth) ** 2)) < truth.std()          # better than the constant 0 effect would be


def test_t_learner_differences_the_cause_specific_curves():
    est = fit("cif", method="t-learner")
    truth = COHORT.truth["cate_cif"].to_numpy()
    assert abs(est.effect(X).mean() - truth.mean()) < 0.05
    assert np.corrcoef(est.effect(X), truth)[0, 1] > 0.5


def test_treating_the_competing_event_as_censoring_is_biased():
    # the naive analysis estimates the net risk difference -(S1 - S0) of a world without cause 2
    naive = fit("surv", event=(EVENT == 1).astype(int))
    competing = fit("cif")
    truth = COHORT.truth["cate_cif"].mean()
    naive_ate, naive_lo, naive_hi = (-v for v in naive.ate_interval())
    assert not naive_hi <= truth <= naive_lo                            # its interval misses the real effect
    assert abs(naive_ate - truth) > 3 * abs(competing.ate_interval()[0] - truth)
    # here the treatment prevents the competing event: the real effect on cause 1 and the net one differ in sign
    assert -COHORT.truth["cate_surv"].mean() < 0 < truth


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"^event has codes \[3\] outside 0 \(censored\) and the declared causes "
                                         r"\[1, 2\]: 2 rows$"):
        fit("cif", event=np.where(np.arange(len(X)) < 2, 3, EVENT), causes=(1, 2))
    late = np.where(EVENT == 1, TIME + 10.0, TIME)
    with pytest.raises(ValueError, match=r"^no events of cause 1 at or before the horizon 1.2 \(events of each "
                                         r"cause by then: \{1: 0, 2: \d+\}\)$"):
        fit("cif", time=late)
    with pytest.raises(ValueError, match=r"^estimand 'rmtl' is for competing risks but event has the single cause "
                                         r"\[1\]; with one cause use estimand 'surv'"):
        fit("rmtl", event=(EVENT == 1).astype(int))
    with pytest.raises(ValueError, match=r"^cause 3 is not among the causes \[1, 2\] of event$"):
        fit("cif", cause=3)
    with pytest.raises(ValueError, match=r"^estimand 'cif' needs a competing-risks event_model \(with "
                                         r"predict_cumulative_incidence, e\.g\. DiscreteTimeCompetingHazard\), got "
                                         r"DiscreteTimeHazard$"):
        fit("cif", event_model=DiscreteTimeHazard())
    n_deaths = int((EVENT == 2).sum())
    with pytest.raises(ValueError, match=rf"^event has the codes \[2\] \({n_deaths} rows\) but estimand 'surv' is "
                                         r"all-cause \(event 0/1\): if they are competing causes, declare them, "
                                         r"e\.g\. CensoredCATE\(estimand='cif', cause=1, causes=\[1, 2\]\); "
                                         r"otherwise recode event to 0/1$"):
        fit("surv")                                                     # all-cause estimands stay 0/1
    with pytest.raises(ValueError, match=r"^event must be 0/1; 1 rows are not$"):
        fit("rmst", event=np.where(np.arange(len(X)) == 0, 0.5, EVENT == 1))   # not a cause code: the 0/1 check
    with pytest.raises(ValueError, match=r"^event has codes \[3\] outside 0 \(censored\) and the declared causes "
                                         r"\[1, 2\]: 1 rows$"):
        fit("rmtl", event=np.where(np.arange(len(X)) == 0, 3, EVENT), causes=[1, 2])


def test_a_competing_cause_without_events_by_the_horizon_is_named():
    late = np.where(EVENT == 2, TIME + 10.0, TIME)                      # deaths only after the horizon
    n_cause1 = int(((EVENT == 1) & (TIME <= COHORT.horizon_surv)).sum())
    with pytest.raises(ValueError, match=rf"^no events of the competing cause\(s\) \[2\] at or before the horizon "
                                         rf"1\.2 \(events of each cause by then: \{{1: {n_cause1}, 2: 0\}}\): declare "
                                         r"only the causes that occur by the horizon \(``causes``\), or use an "
                                         r"all-cause estimand if one remains$"):
        fit("cif", time=late)


def test_fit_cate_refuses_causes_given_to_an_all_cause_estimand_and_accepts_them_declared():
    from causalehr.cate import fit_cate

    n_deaths = int((EVENT == 2).sum())
    with pytest.raises(ValueError, match=rf"^column 'event' has the codes \[2\] \({n_deaths} rows\) besides 0/1: if "
                                         r"they are competing causes, declare them with a competing-risks estimand, "
                                         r"e\.g\. fit_cate\(\.\.\., estimand='cif', cause=1, causes=\[1, 2\]\); "
                                         r"otherwise recode the column to 0/1$"):
        fit_cate(D, COHORT.covariates, horizon=COHORT.horizon_surv, estimand="surv")
    with pytest.raises(ValueError, match=r"^column 'event' must be 0 \(censored\) or a cause 1, 2, \.\.\.; 1 rows "
                                         r"have other values \(e\.g\. -1\)$"):
        fit_cate(D.assign(event=np.where(np.arange(len(D)) == 0, -1, EVENT)), COHORT.covariates,
                 horizon=COHORT.horizon_surv, estimand="cif")
    small = D.iloc[:400]
    kwargs = dict(horizon=COHORT.horizon_surv, estimand="cif", causes=[1, 2], method="constant", n_folds=2,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = fit_cate(small, COHORT.covariates, **kwargs)
        direct = CensoredCATE(**kwargs).fit(X[:400], A[:400], TIME[:400], EVENT[:400])
    assert est.ate_interval() == direct.ate_interval()                  # the declared causes pass validation
