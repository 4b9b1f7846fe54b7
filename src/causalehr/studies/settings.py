"""The simulation settings of the strategy-1 study at a glance (notebooks/settings.ipynb): Kaplan-Meier curves by
arm, the true CATE's distribution, censoring, treatment shares and true average effects of each setting."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from causalehr.simulate import SimulatedCohort, simulate
from causalehr.studies.common import fmt, save_figure, write_values
from causalehr.studies.strategy1 import simulator_params
from causalehr.survival import kaplan_meier
from causalehr.workflow import job_seed

NOTEBOOK = "notebooks/settings.ipynb"


def run(settings: Mapping[str, Mapping], seed: int) -> list[SimulatedCohort]:
    """One cohort of each setting of the config (name -> simulator, n, horizons, params)."""
    return [simulate(spec["simulator"], n=spec["n"], seed=job_seed(seed, "settings", name), **simulator_params(spec))
            for name, spec in settings.items()]


def summarise(cohorts: list[SimulatedCohort], names: list[str]) -> pd.DataFrame:
    """One row per setting (:func:`describe_setting`), named as in the config."""
    return pd.DataFrame([describe_setting(c) for c in cohorts]).assign(Setting=list(names))


def report(table: pd.DataFrame, cohorts: list[SimulatedCohort], paths: Mapping[str, str | Path]) -> None:
    """Write the settings figure, table and the values the paper quotes (censored share per setting)."""
    save_figure(plot_settings(cohorts), paths["figure"], source=NOTEBOOK)
    Path(paths["table"]).write_text(table.to_markdown(index=False, floatfmt=".3g", missingval="-") + "\n")
    write_values(paths["values"], {"settings": {row["Setting"]: {"censored": fmt(100 * row["Censored"])}
                                                for row in table.to_dict("records")}})


def describe_setting(cohort: SimulatedCohort) -> dict:
    """One row describing a simulated cohort: size, treated share, share censored before the horizon, horizon, and
    the true effects (ATE and sd of the CATE for the RMST difference, ATE for the survival difference; with a
    competing death, ATE for the cumulative incidence of cause 1)."""
    data, truth = cohort.data, cohort.truth
    return {
        "Setting": cohort.setting,
        "n": len(data),
        "Treated": data["treatment"].mean(),
        "Censored": ((data["event"] == 0) & (data["time"] < cohort.horizon)).mean(),
        "Horizon": cohort.horizon,
        "ATE (RMST)": truth["cate_rmst"].mean(),
        "SD CATE (RMST)": truth["cate_rmst"].std(),
        "ATE (survival)": truth["cate_surv"].mean(),
        **({"ATE (CIF)": truth["cate_cif"].mean()} if "cate_cif" in truth else {}),
    }


def plot_settings(cohorts: list[SimulatedCohort]):
    """Per setting: Kaplan-Meier curves by arm (observed data) up to the horizon, and the true CATE's distribution."""
    import matplotlib.pyplot as plt

    # at least two columns wide, so that one setting does not give a figure taller than the page
    fig, axes = plt.subplots(2, len(cohorts), figsize=(3.2 * max(len(cohorts), 2), 5.6), squeeze=False)
    for (km_ax, cate_ax), cohort in zip(axes.T, cohorts):
        for arm, label in ((0, "control"), (1, "treated")):
            rows = cohort.data["treatment"] == arm
            curve = kaplan_meier(cohort.data.loc[rows, "time"], cohort.data.loc[rows, "event"] != 0)  # any cause
            km_ax.step(np.r_[0.0, curve["time"]], np.r_[1.0, curve["survival"]], where="post", label=label)
        km_ax.legend(frameon=False)
        km_ax.set(title=cohort.setting, xlim=(0, cohort.horizon), ylim=(0, 1), xlabel="time",
                  ylabel="event-free survival")
        cate_ax.hist(cohort.truth["cate_rmst"], bins=40, color="grey")
        cate_ax.set(xlabel="true CATE (RMST difference)", ylabel="patients")
    fig.tight_layout()
    return fig
