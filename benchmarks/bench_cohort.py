"""Speed and peak memory of the synthetic OMOP writer and of the target-trial cohort builder (issue 15's targets on
2 cores: 1,000,000 patients with about 100 rows each written in under 10 minutes, the cohort built on DuckDB in
under 3 minutes and 8 GB; the Spark local-mode time at 100,000 patients).

Each step runs in a fresh Python process so that its peak resident memory is its own: ru_maxrss of the process and
its waited children; for Spark, plus the peak of the Java process (VmHWM). The cohort is the simulator's own design,
``config/trials/ehr_diabetes_grace.yaml`` (visits as candidate dates, 4 eligibility criteria, time zero, outcome,
competing death, censoring, 23 covariates from the records). The table (with the machine, the date and the load
average at the start of each step) is printed and written to ``--out``. Usage:

    .venv/bin/python benchmarks/bench_cohort.py                                  # n = 1,000,000; Spark at 100,000
    .venv/bin/python benchmarks/bench_cohort.py --n 100000 --spark-n 0 --out /tmp/cohort.csv
    .venv/bin/python benchmarks/bench_cohort.py --n 0 --spark-n 100000 --append             # add the Spark rows
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "config" / "trials" / "ehr_diabetes_grace.yaml"

CHILD = """
import json, os, resource, sys, time
from pathlib import Path
step, n, folder, spec = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
java_peak = 0.0
start, cpu = time.perf_counter(), time.process_time()
if step == "write":
    from causalehr.omop import write_synthetic_omop
    wh = write_synthetic_omop(n, 1, folder, design="grace_vs_never")
    extra = {"rows": sum(wh.n_rows.values())}
else:
    from causalehr.cohort import build_cohort, connect
    if step == "duckdb":
        cohort = build_cohort(spec, folder)
    else:
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "4")
                 .config("spark.driver.memory", "8g").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        startup = time.perf_counter() - start
        start = time.perf_counter()
        cohort = build_cohort(spec, connect(folder, spark=spark))
        java = spark.sparkContext._gateway.proc.pid  # spark-submit execs the JVM in this process
        status = Path(f"/proc/{java}/status")
        if status.exists():
            java_peak = [int(line.split()[1]) for line in status.read_text().splitlines()
                         if line.startswith("VmHWM")][0] / 1024**2
    extra = {"cohort_rows": len(cohort.analysis), "covariate_columns": len(cohort.covariates)}
    if step == "spark":
        extra["spark_startup_seconds"] = round(startup, 1)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024**2
print("RESULT " + json.dumps({"seconds": round(seconds, 1), "python_cpu_seconds": round(cpu, 1),
                              "peak_gb": round(peak + java_peak, 2), **extra}))
"""


def _load() -> float:
    return os.getloadavg()[0]


def run(step: str, n: int, folder: Path) -> dict:
    """Run one step in a fresh process; return its measurements and the 1-minute load average before it."""
    load = _load()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    proc = subprocess.run([sys.executable, "-c", CHILD, step, str(n), str(folder), str(SPEC)], env=env,
                          capture_output=True, text=True, cwd=HERE.parent)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"step {step} at n = {n} failed:\n{proc.stderr[-3000:]}")
    return {"step": step, "n_patients": n, "load_before": round(load, 2), **json.loads(lines[0][7:])}


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="patients written and built on DuckDB")
    parser.add_argument("--spark-n", type=int, default=100_000, help="patients built on Spark (0: no Spark)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the OMOP folders go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cohort.csv")
    parser.add_argument("--append", action="store_true", help="add the rows to those already in --out")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_cohort_"))
    rows, written = [], {}
    for n, steps in ((args.n, ("write", "duckdb")), (args.spark_n, ("write", "spark"))):  # n = 0: skipped
        if not n:
            continue
        folder = workdir / f"omop_{n}"
        for step in steps:
            if step == "write" and n in written:
                continue
            row = run(step, n, folder)
            written.setdefault(n, row.get("rows"))
            row["rows"] = written[n]
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    table.insert(0, "date", dt.date.today().isoformat())
    table["machine"] = (f"{platform.node()} {os.cpu_count()} cores "
                        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GB")
    if args.append and args.out.exists():
        table = pd.concat([pd.read_csv(args.out), table], ignore_index=True)
    print(table.to_string(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    return table


if __name__ == "__main__":
    main()
