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


def test_estimator_packages_never_import_the_studies():
    import ast

    package = ROOT / "src" / "causalehr"
    offenders = []
    for path in package.rglob("*.py"):
        if path.is_relative_to(package / "studies"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n.startswith("causalehr.studies")]
    assert offenders == []
