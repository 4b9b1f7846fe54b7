"""The output contract between rules and notebooks, the paper's inputs derived from the config, figure provenance."""

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml

from causalehr.paper import assemble, figure_provenance
from causalehr.studies.common import save_figure
from causalehr.workflow import STAGES, code_version, notebook_outputs, paper_inputs, stage_outputs

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_stage_outputs_fill_the_given_wildcards_and_keep_the_others():
    paths = stage_outputs("estimate", setting="csf1", rep=3)
    assert paths == {"cate": "results/estimate/csf1/{method}/rep3/cate.parquet",
                     "ate": "results/estimate/csf1/{method}/rep3/ate.parquet"}
    assert stage_outputs("casestudy", "out", dataset="mine")["figure"] == "out/casestudy/mine/figures/casestudy_mine.png"
    with pytest.raises(ValueError, match=r"unknown stage 'estimation'; known: \['casestudy', 'ccw', "):
        stage_outputs("estimation")


def test_private_outputs_go_to_the_private_folder_and_nothing_private_to_the_paper():
    paths = stage_outputs("trial_cohort", private="secret", trial="grace", rep=0)
    assert paths == {"records": "secret/trial/grace/rep0/records", "attrition": "results/trial/grace/rep0/attrition.csv",
                     "table_one": "results/trial/grace/rep0/table_one.csv",
                     "follow_up": "results/trial/grace/rep0/follow_up.csv"}
    private = [(stage, name) for stage, (_, _, outputs) in STAGES.items() for name, out in outputs.items()
               if out.private]
    assert private == [("trial_cohort", "records")]
    assert all(not out.paper for _, _, outputs in STAGES.values() for out in outputs.values() if out.private)


def test_notebook_outputs_default_under_results_notebooks_and_check_the_names(tmp_path, monkeypatch):
    (tmp_path / "Snakefile").write_text("")
    monkeypatch.chdir(tmp_path)
    paths = notebook_outputs("simulate", setting="csf1", rep=0)
    assert paths["train"] == tmp_path / "results/notebooks/simulate/csf1/rep0/train" and paths["train"].is_dir()
    records = notebook_outputs("trial_cohort", trial="grace", rep=1)["records"]
    assert records == tmp_path / "private/notebooks/trial/grace/rep1/records" and records.is_dir()
    given = {"figure": "a/f.png", "table": "a/t.md", "values": "a/v.yml"}
    assert notebook_outputs("settings", given)["table"] == tmp_path / "a/t.md"
    with pytest.raises(ValueError, match=r"outputs of stage 'settings' must be \['figure', 'table', 'values'\], "
                                         r"got \['figure', 'table'\]"):
        notebook_outputs("settings", {"figure": "f.png", "table": "t.md"})


def test_paper_inputs_follow_the_config_datasets():
    inputs = paper_inputs(CONFIG)
    assert "results/casestudy/gbsg2/figures/casestudy_gbsg2.png" in inputs["figures_tables"]
    assert "results/casestudy/yardstick/rossi/values.yml" in inputs["values"]
    assert all(not p.endswith(".parquet") for p in inputs["figures_tables"])
    config = {**CONFIG, "casestudy": {**CONFIG["casestudy"], "datasets": {"mine": {"horizon": 1.0}}}}
    inputs = paper_inputs(config)
    assert "results/casestudy/mine/tables/casestudy_mine_ate.md" in inputs["figures_tables"]
    assert not any("gbsg2" in p for p in inputs["figures_tables"] + inputs["values"])
    n_paper = sum(out.paper is not None for s in ("settings", "evaluate", "ccw", "probation", "casestudy",
                                                  "yardstick", "trial_report", "probation_omop",
                                                  "design_report", "multiarm_report")
                  for out in STAGES[s][2].values())
    assert len(inputs["figures_tables"]) + len(inputs["values"]) == n_paper


def test_a_saved_figure_names_its_notebook_and_commit_in_the_paper(tmp_path):
    fig, _ = plt.subplots()
    save_figure(fig, tmp_path / "cate_mse.png", source="notebooks/evaluate.ipynb")
    plt.close(fig)
    assert figure_provenance(tmp_path / "cate_mse.png") == {"notebook": "notebooks/evaluate.ipynb",
                                                            "commit": code_version()}
    (tmp_path / "v.yml").write_text("a: 1\n")
    assemble(tmp_path / "paper", [tmp_path / "cate_mse.png"], [tmp_path / "v.yml"])
    variables = yaml.safe_load((tmp_path / "paper" / "_variables.yml").read_text())
    assert variables == {"a": 1, "figures": {"cate_mse": {"notebook": "notebooks/evaluate.ipynb",
                                                          "commit": code_version()}}}


def test_code_version_is_the_checkout_commit():
    import subprocess

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert head.startswith(code_version(ROOT).removesuffix("-dirty")[:10])
