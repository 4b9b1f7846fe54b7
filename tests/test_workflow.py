"""The workflow: config validation, a missing input, and a smoke run of the quick config end to end."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_privacy import check_published_tables
from workflow_helpers import ROOT, project_copy, snakemake


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return project_copy(tmp_path_factory.mktemp("project"))


def write_config(project: Path, name: str, change) -> Path:
    config = yaml.safe_load((project / "config" / "quick.yaml").read_text())
    change(config)
    path = project / "config" / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_bad_config_value_stops_before_any_work_naming_key_and_allowed_values(project):
    path = write_config(project, "bad_renderer.yaml", lambda c: c["paper"].update(renderer="word"))
    run = snakemake(project, "-n", "--configfile", str(path))
    assert run.returncode != 0
    assert "'word' is not one of ['auto', 'quarto', 'fallback']" in run.output
    assert "renderer" in run.output
    assert not (project / "results").exists()


def test_bad_config_type_names_the_key(project):
    path = write_config(project, "bad_reps.yaml", lambda c: c["simulation"].update(replications="two"))
    run = snakemake(project, "-n", "--configfile", str(path))
    assert run.returncode != 0
    assert "'two' is not of type 'integer'" in run.output
    assert "replications" in run.output


def test_missing_input_names_the_file_and_the_rule(tmp_path):
    project = project_copy(tmp_path)
    (project / "notebooks" / "evaluate.ipynb").unlink()
    run = snakemake(project, "-n", "--configfile", "config/quick.yaml")
    assert run.returncode != 0
    assert "Missing input files for rule evaluate" in run.output
    assert "notebooks/evaluate.ipynb" in run.output


def test_dry_run_of_the_default_config_plans_every_stage(project):
    run = snakemake(project, "-n")
    assert run.returncode == 0, run.output
    for rule in ("simulate", "estimate", "evaluate", "paper", "all"):
        assert f"rule {rule}:" in run.output


def test_default_profile_applies(project):
    run = snakemake(project, "-n", "--configfile", "config/quick.yaml")
    assert run.returncode == 0, run.output
    assert "Using workflow specific profile profiles/default for setting default command line arguments." in run.output


def test_threads_from_the_config_reach_the_notebooks(project):
    path = write_config(project, "threads.yaml", lambda c: c.update(threads={"estimate": 2, "casestudy": 2}))
    run = snakemake(project, "results/casestudy/rossi/values.yml", "results/estimate/csf1/ipcw-dr/rep0/ate.parquet",
                    "-n", "-p", "--configfile", str(path))
    assert run.returncode == 0, run.output
    assert run.output.count('"n_jobs": 2') == 2, run.output  # the estimate job and the case-study job


def test_paper_quoting_absent_datasets_stops_before_any_job(project):
    mine = {"path": "data/mine.csv", "covariates": ["age", "prio", "wexp"], "treatment": "fin", "time": "week",
            "event": "arrest", "horizon": 50, "randomised": True}
    path = write_config(project, "only_mine.yaml", lambda c: c["casestudy"].update(
        datasets={"mine": mine}, yardstick={**c["casestudy"]["yardstick"], "dataset": "mine"}))
    (project / "data").mkdir(exist_ok=True)
    (project / "data" / "mine.csv").write_text("week,arrest,fin,age,prio,wexp\n")
    run = snakemake(project, "-n", "--configfile", str(path))
    assert run.returncode != 0
    assert ("quotes case-study results this config does not produce: casestudy.datasets lacks ['gbsg2', 'rossi']; "
            "casestudy.yardstick.dataset lacks ['rossi']") in run.output
    assert not (project / "results").exists()
    only = snakemake(project, "results/casestudy/mine/values.yml", "-n", "--configfile", str(path))
    assert only.returncode == 0, only.output


@pytest.mark.workflow
def test_failed_notebook_shows_its_error_in_the_terminal(tmp_path):
    project = project_copy(tmp_path)
    (project / "data").mkdir()
    pd.DataFrame({"week": [1, 2], "arrest": [1, 0], "fin": [0, 1], "age": [20, 30]}).to_csv(
        project / "data" / "mine.csv", index=False)
    mine = {"path": "data/mine.csv", "covariates": ["age"], "treatment": "fin", "time": "weeks", "event": "arrest",
            "horizon": 50}
    path = write_config(project, "mine.yaml", lambda c: c["casestudy"]["datasets"].update(mine=mine))
    run = snakemake(project, "results/casestudy/mine/values.yml", "--cores", "1", "--configfile", str(path))
    assert run.returncode != 0
    assert "ValueError: missing column(s) ['weeks']; available columns: ['week', 'arrest', 'fin', 'age']" in run.output


@pytest.mark.workflow
def test_quick_config_runs_end_to_end(project):
    run = snakemake(project, "--cores", "2", "--configfile", "config/quick.yaml")
    assert run.returncode == 0, run.output[-5000:]
    results = project / "results"
    html = (results / "paper" / "manuscript.html").read_text()
    pdf = (results / "paper" / "manuscript.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert "Figure 1" in html and "Table 1" in html
    assert "Cui et al." in html  # a citation resolved by citeproc
    assert "@fig-" not in html and "??" not in html
    thesis = (results / "paper" / "thesis.html").read_text()
    assert "Figure 2.1" in thesis and "@fig-" not in thesis  # per-chapter numbering of the shared sections
    assert (results / "paper" / "thesis.pdf").read_bytes().startswith(b"%PDF")
    # the number the paper quotes is the one recomputed from the estimates
    cate = pd.concat(pd.read_parquet(p) for p in (results / "estimate" / "csf1" / "ipcw-dr").glob("rep*/cate.parquet"))
    cate = cate[cate["estimand"] == "rmst"]
    values = yaml.safe_load((results / "evaluate" / "values.yml").read_text())["evaluate"]
    mse_x100 = 100 * ((cate["estimate"] - cate["truth"]) ** 2).groupby(cate["replication"]).mean().mean()
    assert values["mse"]["csf1"]["ipcw-dr"]["rmst"] == f"{mse_x100:.3g}"
    assert f"{mse_x100:.3g}" in html
    # executed notebooks are kept as logs
    assert (results / "logs" / "estimate" / "csf1" / "ipcw-dr" / "rep0.ipynb").is_file()
    # privacy by subtraction (issue 20, item 1): nothing small or blanked can be read back from a published table
    found = check_published_tables(results)
    assert len(found) >= 4 and all(v == [] for v in found.values()), found
    check_trial_outputs(project, html)
    check_multiarm_outputs(project, html)


def check_trial_outputs(project: Path, html: str) -> None:
    """Records to trial: the paper quotes the estimates, patient-level tables exist only in the private folder, and
    no file under results/ has a person_id column or as many rows as a cohort has patients."""
    config = yaml.safe_load((project / "config" / "quick.yaml").read_text())["trial"]
    private, trial = project / config["private"] / "trial", project / "results" / "trial"
    n_patients = []
    for name in config["trials"]:
        for rep in range(config["replications"]):
            records = private / name / f"rep{rep}" / "records"
            analysis = pd.read_parquet(records / "cohort" / "analysis.parquet")
            assert len(analysis) == config["warehouse"]["synthetic"]["n"]  # the simulator's patients, all eligible
            assert (records / "omop" / "person.parquet").is_file() and (records / "truth" / "effects.parquet").is_file()
            n_patients.append(len(analysis))
    for path in (project / "results").rglob("*"):
        assert path.suffix != ".parquet" or "trial" not in path.parts, path
        if path.suffix == ".csv" and "trial" in path.parts:
            table = pd.read_csv(path)
            assert "person_id" not in table.columns and len(table) < min(n_patients), path
        if path.suffix in (".md", ".yml", ".csv", ".html", ".ipynb") and path.is_file():
            assert "person_id" not in path.read_text() or "logs" in path.parts, path
    for path in (project / "paper" / "_generated").glob("trial_*.md"):
        assert "person_id" not in path.read_text(), path
    for name in ("figures/trial_estimates.png", "tables/trial_attrition.md", "tables/trial_table_one.md",
                 "tables/trial_estimates.md", "summary.csv"):
        assert (trial / name).is_file(), name
    # the mean estimate the paper quotes is the one recomputed from the per-warehouse estimates
    estimates = pd.concat(pd.read_csv(trial / "active" / f"rep{rep}" / "estimates.csv")
                          for rep in range(config["replications"]))
    mean = estimates.loc[estimates["method"] == "aipcw-dr", "estimate"].mean()
    values = yaml.safe_load((trial / "values.yml").read_text())["trial"]
    assert values["active"]["aipcw-dr"]["mean"] == f"{mean:.3g}"
    text = " ".join(html.split())  # pandoc wraps long lines
    assert "From health records to an emulated target trial" in text and f"{mean:.3g}" in text


def check_multiarm_outputs(project: Path, html: str) -> None:
    """Which treatment for whom: the regret and the conformal coverage the paper quotes are those recomputed from
    the replications, and the rule is drawn."""
    config = yaml.safe_load((project / "config" / "quick.yaml").read_text())["multiarm"]
    folder = project / "results" / "multiarm"
    policies = pd.concat(pd.read_csv(folder / f"rep{rep}" / "policies.csv") for rep in range(config["replications"]))
    conformal = pd.concat(pd.read_csv(folder / f"rep{rep}" / "conformal.csv") for rep in range(config["replications"]))
    regret = policies.loc[policies["policy"] == "rule", "regret"].mean()
    coverage = conformal.loc[conformal["level"] == 0.9, "effect_coverage"].mean()
    values = yaml.safe_load((folder / "values.yml").read_text())["multiarm"]
    assert (values["rule"]["regret"], values["conformal"]["l90"]["effect_coverage"]) == (f"{regret:.3g}",
                                                                                          f"{coverage:.3g}")
    text = " ".join(html.split())
    assert "Which treatment for whom" in text and f"{regret:.3g}" in text and f"{coverage:.3g}" in text
    assert (folder / "figures" / "multiarm_rule.png").is_file()


@pytest.mark.workflow
@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_notebook_runs_top_to_bottom_with_default_parameters(project, notebook):
    """As in JupyterLab: working directory notebooks/, no parameters injected."""
    import papermill

    from causalehr.workflow import ensure_kernel

    out = project / "results" / "logs" / "defaults" / notebook
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        project / "notebooks" / notebook, out, kernel_name=ensure_kernel(), cwd=project / "notebooks",
        progress_bar=False,
    )
    assert out.is_file()


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_committed_stripped_with_a_parameters_cell(notebook):
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [c for c in code if c.outputs or c.execution_count] == []
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    assert nb.metadata["kernelspec"]["name"] == "causalehr"
