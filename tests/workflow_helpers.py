"""Running the workflow from tests: a copy of the project in a temporary folder, Snakemake in a subprocess."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def project_copy(tmp_path: Path) -> Path:
    """The tracked project files copied into tmp_path, so a run never touches the checkout's results/."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    for name in files:
        scripts = name.startswith(("tests/", "benchmarks/")) and not name.startswith("benchmarks/results/")
        if (ROOT / name).is_file() and not scripts:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run Snakemake in workdir with this environment's executables and the copy's own package (its src/ first on
    PYTHONPATH, also for the notebooks' kernel); `.output` holds stdout and stderr together."""
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(Path.home()), "PYTHONPATH": str(Path(workdir) / "src")}
    run = subprocess.run([*SNAKEMAKE, *args], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env)
    run.output = run.stdout
    return run
