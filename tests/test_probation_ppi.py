import numpy as np
import pytest
from ppi_py import ppi_mean_ci

from causalehr.probation import km_survival_at, ppi_bootstrap, ppi_mean
from causalehr.probation.evaluation import ppi_coverage
from causalehr.survival import kaplan_meier, survival_at


def test_km_survival_at_reads_time_then_event():
    # the (n, 2) form ppi_bootstrap resamples; the Kaplan-Meier itself is tested in tests/test_survival.py
    time, event = np.array([1.0, 2, 2, 3, 5]), np.array([1.0, 1, 0, 1, 0])
    assert km_survival_at(np.c_[time, event], 2.5) == survival_at(kaplan_meier(time, event), 2.5) == pytest.approx(0.6)


def test_ppi_mean_uses_ppi_py_and_flags_bad_input():
    rng = np.random.default_rng(1)
    y = rng.random(100) < 0.3
    yh = np.where(rng.random(100) < 0.9, y, ~y)
    yu = rng.random(1000) < 0.35
    res = ppi_mean(y, yh, yu, alpha=0.1).set_index("method")
    lo, hi = np.ravel(ppi_mean_ci(y.astype(float), yh.astype(float), yu.astype(float), alpha=0.1))
    assert (res.loc["ppi", "lower"], res.loc["ppi", "upper"]) == pytest.approx((lo, hi))
    assert res.loc["classical", "estimate"] == pytest.approx(y.mean())
    assert res.loc["naive_ai", "estimate"] == pytest.approx(np.r_[yh, yu].mean())
    with pytest.raises(ValueError, match="100 labelled reference values but 99 labelled AI values"):
        ppi_mean(y, yh[:99], yu)
    with pytest.raises(ValueError, match="missing values"):
        ppi_mean(y, np.r_[yh[:99], np.nan], yu)


def test_ppi_bootstrap_rectifier_and_seed():
    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    yu = rng.normal(size=500)
    # predictions off by exactly +1: f(AI, unlabelled) + f(Y) - f(AI, labelled) = mean(yu) - 1
    res = ppi_bootstrap(np.mean, y, y + 1, yu, n_boot=200, seed=3).set_index("method")
    assert res.loc["ppi", "estimate"] == pytest.approx(yu.mean() - 1)
    assert res.loc["naive_ai", "estimate"] == pytest.approx(np.r_[y + 1, yu].mean())
    again = ppi_bootstrap(np.mean, y, y + 1, yu, n_boot=200, seed=3)
    assert again.equals(res.reset_index())


def test_ppi_covers_where_naive_ai_does_not():
    cov = ppi_coverage(16, 1000, 150, seed=20, n_boot=150, alpha=0.1).set_index(["estimand", "method"])
    assert cov.loc[("prevalence", "ppi"), "coverage"] >= 0.75
    assert cov.loc[("km_survival", "ppi"), "coverage"] >= 0.75
    assert cov.loc[("km_survival", "naive_ai"), "coverage"] <= 0.25
    # PPI is narrower than the labelled-only interval
    assert cov.loc[("km_survival", "ppi"), "mean_width"] < cov.loc[("km_survival", "classical"), "mean_width"]
