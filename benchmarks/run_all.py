"""Run every benchmark (benchmarks/bench_*.py) one after the other, at the sizes the issues name; each prints its
own table of seconds and peak memory, which is also saved to benchmarks/out/<name>.txt.
Usage: python benchmarks/run_all.py [NAME ...]. The accuracy studies (bench_strategy1.py csf, bench_ccw.py
coverage / weights) take their own command, given in each script's docstring."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the speed/memory part of the scripts that also hold accuracy studies; the others run with their defaults
ARGUMENTS = {
    "bench_ccw": ["scale", "--n", "1000000", "--bootstrap", "0"],
    "bench_cohort": ["--n", "1000000", "--spark-n", "100000"],
    "bench_strategy1": ["speed", "--n", "1000000"],
}


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        unknown = sorted(set(names) - {s.stem for s in scripts})
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {unknown}; available: {[s.stem for s in scripts]}")
        scripts = [s for s in scripts if s.stem in names]
    (HERE / "out").mkdir(exist_ok=True)
    failed = []
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        command = [sys.executable, str(script), *ARGUMENTS.get(script.stem, [])]
        run = subprocess.run(command, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(run.stdout, flush=True)
        (HERE / "out" / f"{script.stem}.txt").write_text(run.stdout)
        if run.returncode:
            failed.append(script.stem)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
