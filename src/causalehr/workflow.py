"""Glue between the Snakemake workflow, the notebooks and the package: the output contract of every stage, seeds,
the Jupyter kernel, the code version."""

from __future__ import annotations

import re
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KERNEL_NAME = "causalehr"


@dataclass(frozen=True)
class Output:
    """One output of a stage: its path inside the stage's folder (``{wildcards}`` allowed), whether it is a
    folder, the caption of the Snakemake report (``workflow/report/<caption>.rst``), whether the paper reads it
    ("figure", "table" or "values") and whether it holds patient-level rows (``private``: written under the
    private folder of the config's ``trial.private``, never under results/)."""

    path: str
    directory: bool = False
    caption: str | None = None
    paper: str | None = None
    private: bool = False


# The output contract: stage -> (folder under results/ (and under the private folder for private outputs), report
# category, outputs). The rule of a stage declares exactly these outputs (workflow/rules/common.smk:
# stage_rule_outputs) and passes them to its notebook as one parameter `outputs`; a notebook run by hand writes the
# same files under results/notebooks/ (private ones under private/notebooks/).
STAGES: dict[str, tuple[str, str | None, dict[str, Output]]] = {
    "simulate": ("simulate/{setting}/rep{rep}", None, {
        "train": Output("train", directory=True), "test": Output("test", directory=True)}),
    "settings": ("settings", "Settings", {
        "figure": Output("figures/settings.png", caption="settings", paper="figure"),
        "table": Output("tables/settings.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    "estimate": ("estimate/{setting}/{method}/rep{rep}", None, {
        "cate": Output("cate.parquet"), "ate": Output("ate.parquet")}),
    "evaluate": ("evaluate", "Simulation study", {
        "metrics": Output("metrics.parquet"),
        "figure": Output("figures/cate_mse.png", caption="cate_mse", paper="figure"),
        "table": Output("tables/cate_mse.md", paper="table"),
        "reference_table": Output("tables/csf_reference.md", paper="table"),
        "competing_table": Output("tables/competing.md", paper="table"),
        "auto_table": Output("tables/auto_choices.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    "ccw": ("ccw", "Strategy 2", {
        "replications": Output("replications.parquet"),
        "curves": Output("figures/ccw_curves.png", caption="ccw_curves", paper="figure"),
        "estimates": Output("figures/ccw_estimates.png", caption="ccw_estimates", paper="figure"),
        "table": Output("tables/ccw_performance.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    "casestudy": ("casestudy/{dataset}", None, {
        **{t: Output(f"{t}.parquet") for t in ("ate", "calibration", "calibration_test", "rate", "toc", "drivers",
                                                "cate_summary", "rule", "rule_leaves", "markers")},
        "figure": Output("figures/casestudy_{dataset}.png", paper="figure"),
        "table": Output("tables/casestudy_{dataset}_ate.md", paper="table"),
        "table_rule": Output("tables/casestudy_{dataset}_rule.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    "yardstick": ("casestudy/yardstick/{dataset}", None, {
        "replications": Output("replications.parquet"), "summary": Output("summary.parquet"),
        "figure": Output("figures/yardstick_{dataset}.png", paper="figure"),
        "table": Output("tables/yardstick_{dataset}.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    "probation": ("probation", "Data probation", {
        "report": Output("report/report.html", caption="probation_report"),
        "results_json": Output("report/results.json"),
        "report_tables": Output("report/tables", directory=True),
        "figure_agreement": Output("figures/probation_agreement.png", caption="probation_agreement", paper="figure"),
        "figure_routing": Output("figures/probation_risk_coverage.png", caption="probation_risk_coverage",
                                 paper="figure"),
        "figure_coverage": Output("figures/probation_coverage.png", caption="probation_coverage", paper="figure"),
        "table_agreement": Output("tables/probation_agreement.md", paper="table"),
        "table_acceptance": Output("tables/probation_acceptance.md", paper="table"),
        "table_replication": Output("tables/probation_replication.md", paper="table"),
        "table_ppi_coverage": Output("tables/probation_ppi_coverage.md", paper="table"),
        "metric_coverage": Output("probation_metric_coverage.parquet"),
        "ppi_coverage": Output("probation_ppi_coverage.parquet"),
        "values": Output("probation_values.yml", paper="values")}),
    # estimand-based probation on synthetic OMOP versions (issue 21); aggregates only
    "probation_omop": ("probation_omop", "Estimand-based probation (OMOP)", {
        "table_estimand": Output("tables/probation_estimand.md", paper="table"),
        "table_ppi_ate": Output("tables/probation_ppi_ate.md", paper="table"),
        "estimand": Output("estimand.csv"), "overlap": Output("overlap.csv"), "propagation": Output("propagation.csv"),
        "values": Output("probation_omop_values.yml", paper="values")}),
    # records to trial: the private folder holds the warehouse (synthetic: with its truth) and the cohort's
    # patient-level tables; results/ only the suppressed aggregates of causalehr.cohort.tables
    "trial_cohort": ("trial/{trial}/rep{rep}", None, {
        "records": Output("records", directory=True, private=True),
        "attrition": Output("attrition.csv"), "table_one": Output("table_one.csv"),
        "follow_up": Output("follow_up.csv")}),
    "trial_estimate": ("trial/{trial}/rep{rep}", None, {
        "estimates": Output("estimates.csv"), "calibration": Output("calibration.csv")}),
    "trial_report": ("trial", "Target trial from records", {
        "summary": Output("summary.csv"),
        "figure": Output("figures/trial_estimates.png", caption="trial_estimates", paper="figure"),
        "table_attrition": Output("tables/trial_attrition.md", paper="table"),
        "table_one": Output("tables/trial_table_one.md", paper="table"),
        "table_estimates": Output("tables/trial_estimates.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    # design matters: one job per replication (its warehouses are temporary; aggregates only), then the report
    "design_replication": ("design/rep{rep}", None, {"estimates": Output("estimates.csv")}),
    "design_strength": ("design/strength/rep{rep}", None, {"estimates": Output("estimates.csv")}),
    "design_report": ("design", "Design matters", {
        "summary": Output("summary.csv"),
        "figure": Output("figures/design_bias.png", caption="design_bias", paper="figure"),
        "table": Output("tables/design_bias.md", paper="table"),
        "strength_summary": Output("strength_summary.csv"),
        "strength_figure": Output("figures/design_strength.png", caption="design_strength", paper="figure"),
        "strength_table": Output("tables/design_strength.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
    # which treatment for whom (issue 18): one job per simulated replication (aggregates), then the report
    "multiarm_replication": ("multiarm/rep{rep}", None, {
        "contrasts": Output("contrasts.csv"), "policies": Output("policies.csv"), "conformal": Output("conformal.csv")}),
    "multiarm_report": ("multiarm", "Which treatment for whom", {
        "summary": Output("summary.csv"), "markers": Output("markers.csv"),
        "figure_rule": Output("figures/multiarm_rule.png", caption="multiarm_rule", paper="figure"),
        "table_contrasts": Output("tables/multiarm_contrasts.md", paper="table"),
        "table_policies": Output("tables/multiarm_policies.md", paper="table"),
        "table_markers": Output("tables/multiarm_markers.md", paper="table"),
        "table_conformal": Output("tables/multiarm_conformal.md", paper="table"),
        "values": Output("values.yml", paper="values")}),
}


def _fill(pattern: str, wildcards: Mapping) -> str:
    """``pattern`` with the given wildcards filled in; the others stay ``{name}`` (for Snakemake)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(wildcards.get(m.group(1), m.group(0))), pattern)


def stage_outputs(stage: str, results: str = "results", private: str = "private", **wildcards) -> dict[str, str]:
    """The paths of a stage's outputs (name -> path) under the ``results`` folder (private outputs under the
    ``private`` folder), wildcards filled in where given (the rest stay as Snakemake wildcards)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {sorted(STAGES)}")
    folder, _, outputs = STAGES[stage]
    return {name: _fill(f"{private if out.private else results}/{folder}/{out.path}", wildcards)
            for name, out in outputs.items()}


def notebook_outputs(stage: str, outputs: Mapping[str, str] | None = None, part: str | None = None,
                     **wildcards) -> dict[str, Path]:
    """For a notebook: the paths its rule passed (``outputs``), or when run by hand those of the contract under
    results/notebooks/ (private ones under private/notebooks/); absolute, with their folders created. A notebook
    of several stages run with ``part="all"`` (every stage in turn) uses the by-hand paths. A missing or unknown
    name is an error."""
    given = dict((outputs if part != "all" else None) or stage_outputs(stage, "results/notebooks", "private/notebooks", **wildcards))
    expected = set(STAGES[stage][2])
    if set(given) != expected:
        raise ValueError(f"outputs of stage {stage!r} must be {sorted(expected)}, got {sorted(given)}")
    root = project_root()
    paths = {name: root / path for name, path in given.items()}
    for name, path in paths.items():
        (path if STAGES[stage][2][name].directory else path.parent).mkdir(parents=True, exist_ok=True)
    return paths


def paper_inputs(config: Mapping) -> dict[str, list[str]]:
    """The files the manuscript reads, from the stages the config runs: {"figures_tables": [...], "values": [...]};
    the case studies of every dataset of the config, the yardstick of its randomised dataset, the records-to-trial
    report, the design-matters report when the config has a ``design`` block, the which-treatment-for-whom report
    when it has a ``multiarm`` block."""
    jobs = [("settings", {}), ("evaluate", {}), ("ccw", {}), ("probation", {}), ("trial_report", {}),
            ("probation_omop", {}),
            *[("casestudy", {"dataset": d}) for d in config["casestudy"]["datasets"]],
            ("yardstick", {"dataset": config["casestudy"]["yardstick"]["dataset"]}),
            *([("design_report", {})] if "design" in config else []),
            *([("multiarm_report", {})] if "multiarm" in config else [])]
    out: dict[str, list[str]] = {"figures_tables": [], "values": []}
    for stage, wildcards in jobs:
        paths = stage_outputs(stage, **wildcards)
        for name, spec in STAGES[stage][2].items():
            if spec.paper:
                out["values" if spec.paper == "values" else "figures_tables"].append(paths[name])
    return out


# what the paper's text quotes from the case study: {{< var casestudy_<dataset>.ate.<method>... >}},
# _generated/yardstick_<dataset>.png, {{< var yardstick.strength.s<strength>.<method>... >}}
_QUOTES = {
    "datasets": re.compile(r"casestudy_([A-Za-z0-9-]+)[._]"),
    "methods": re.compile(r"casestudy_[A-Za-z0-9-]+\.(?:ate|autoc)\.([A-Za-z0-9_-]+)\."),
    "yardstick_dataset": re.compile(r"yardstick_([A-Za-z0-9-]+)\."),
    "yardstick_methods": re.compile(r"yardstick\.strength\.s[0-9_]+\.([A-Za-z0-9_-]+)\."),
    "strengths": re.compile(r"yardstick\.strength\.s([0-9]+(?:_[0-9]+)?)\."),
}


def paper_quotes(paper_dir: str | Path = "paper") -> dict[str, set[str]]:
    """Case-study datasets, methods, yardstick dataset, methods and strengths that the paper's sources quote."""
    text = "\n".join(p.read_text() for p in sorted(Path(paper_dir).rglob("*.qmd")))
    found = {key: set(pattern.findall(text)) for key, pattern in _QUOTES.items()}
    found["strengths"] = {s.replace("_", ".") for s in found["strengths"]}
    for key in ("methods", "yardstick_methods"):
        found[key] -= {"naive-km"}  # added by the study itself
    return found


def check_paper_config(config: Mapping, paper_dir: str | Path = "paper") -> None:
    """Stop before any job when the paper quotes case-study results that the config does not produce (e.g. a
    config whose datasets are only the user's own), naming what is missing and how to build only the rest."""
    quotes = paper_quotes(paper_dir)
    case = config["casestudy"]
    given = {"datasets": set(case["datasets"]), "methods": set(case["methods"]),
             "yardstick_dataset": {case["yardstick"]["dataset"]}, "yardstick_methods": set(case["yardstick"]["methods"]),
             "strengths": {f"{s:g}" for s in case["yardstick"]["strengths"]}}
    keys = {"datasets": "casestudy.datasets", "methods": "casestudy.methods",
            "yardstick_dataset": "casestudy.yardstick.dataset", "yardstick_methods": "casestudy.yardstick.methods",
            "strengths": "casestudy.yardstick.strengths"}
    missing = [f"{keys[k]} lacks {sorted(quotes[k] - given[k])}" for k in keys if quotes[k] - given[k]]
    if missing:
        targets = " ".join(f"results/casestudy/{d}/values.yml" for d in sorted(given["datasets"]))
        raise ValueError(f"the paper ({paper_dir}/) quotes case-study results this config does not produce: "
                         f"{'; '.join(missing)}. Add them to the config, or build only your outputs: "
                         f"snakemake --cores all {targets}")


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding the Snakefile, searched upwards from ``start`` (default: the working directory).

    Notebooks run with the project root as working directory under Snakemake and with ``notebooks/`` in
    JupyterLab; resolving paths from the root lets both work with the same default parameters.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Snakefile").is_file():
            return folder
    raise FileNotFoundError(f"no Snakefile in {here} or any folder above it: run from inside the project")


def job_seed(base_seed: int, *keys: object) -> int:
    """A seed for one job, derived from the config seed and the job's wildcards.

    The same (base_seed, keys) always gives the same seed; different keys give independent streams
    (numpy SeedSequence spawned from a CRC32 of the keys).
    """
    key = zlib.crc32("/".join(map(str, keys)).encode())
    return int(np.random.SeedSequence([int(base_seed), key]).generate_state(1)[0])


def ensure_kernel() -> str:
    """Install (or repair) the project's Jupyter kernel in this Python environment and return its name.

    The kernelspec lives in ``sys.prefix`` and runs ``sys.executable``, so papermill runs the notebooks in the
    environment that runs Snakemake, never in a kernel a user happens to have under the same name.
    """
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def resolved():
        try:
            spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        except NoSuchKernel:
            return None
        return spec

    spec = resolved()
    if spec is None or Path(spec.argv[0]).resolve() != Path(sys.executable).resolve():
        install(kernel_name=KERNEL_NAME, display_name="Python (causalehr)", prefix=sys.prefix)
        spec = resolved()
    if Path(spec.argv[0]).resolve() != Path(sys.executable).resolve():
        raise RuntimeError(
            f"the Jupyter kernel {KERNEL_NAME!r} found at {spec.resource_dir} runs {spec.argv[0]}, not this "
            f"environment's {sys.executable}: remove that kernelspec (jupyter kernelspec remove {KERNEL_NAME})"
        )
    return KERNEL_NAME


def code_version(root: str | Path | None = None) -> str:
    """The commit of the project's code (``git describe --always --dirty``: a "-dirty" suffix when tracked files
    differ from it), or "unknown" outside a git checkout."""
    import subprocess

    try:
        folder = project_root(root)
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=10"], cwd=folder,
                             capture_output=True, text=True, check=True, timeout=30)
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip()
