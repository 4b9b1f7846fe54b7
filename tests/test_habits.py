"""The project's habits hold: ruff's lint rules, snakefmt's format of the rules, and Snakemake's own linter."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("command", [
    (str(BIN / "ruff"), "check", "--no-cache", "."),
    (str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"),
], ids=["ruff", "snakefmt"])
def test_code_passes_the_linters(command):
    result = run(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_finds_nothing():
    result = run(sys.executable, "-m", "snakemake", "--lint")
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr
