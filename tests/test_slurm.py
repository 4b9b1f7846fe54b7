"""The SLURM profile, for real: a tiny sweep submitted to a single-node SLURM started on this machine gives the
same results as the local run."""

import os
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, project_copy, snakemake

pytestmark = pytest.mark.workflow

TARGETS = ["results/evaluate/metrics.parquet", "results/evaluate/values.yml"]


@pytest.fixture(scope="module")
def local_slurm():
    if os.geteuid() != 0 or not shutil.which("apt-get") and not shutil.which("slurmctld"):
        pytest.skip("starting a local SLURM needs root and Debian's slurmctld/slurmd/munge (or apt-get)")
    subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "start_local_slurm.sh")], check=True)


def tiny_sweep(project):
    config = yaml.safe_load((project / "config" / "quick.yaml").read_text())
    config["simulation"].update(replications=2, n_test=300)
    config["simulation"]["settings"] = {"csf1": {"simulator": "csf1", "n": 600}}
    config["methods"] = {"aipcw-dr": config["methods"]["aipcw-dr"]}  # one learner: the jobs, not the learners, are tested
    (project / "config" / "tiny.yaml").write_text(yaml.safe_dump(config))
    return "config/tiny.yaml"


def test_slurm_profile_gives_the_same_results_as_the_local_run(local_slurm, tmp_path):
    local, cluster = project_copy(tmp_path / "local"), project_copy(tmp_path / "slurm")
    run = snakemake(local, *TARGETS, "--cores", "2", "--configfile", tiny_sweep(local))
    assert run.returncode == 0, run.output[-3000:]
    run = snakemake(
        cluster, *TARGETS, "--profile", "profiles/slurm", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1", "--configfile", tiny_sweep(cluster),
    )
    assert run.returncode == 0, run.output[-3000:]
    assert "has been submitted with SLURM jobid" in run.output
    metrics = [pd.read_parquet(p / TARGETS[0]).drop(columns="fit_seconds") for p in (local, cluster)]
    pd.testing.assert_frame_equal(*metrics)
    assert (local / TARGETS[1]).read_text() == (cluster / TARGETS[1]).read_text()
