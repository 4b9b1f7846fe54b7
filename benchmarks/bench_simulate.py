"""Speed and peak memory of the simulators.

Each (setting, n) runs in a fresh Python process so that its peak resident memory (ru_maxrss, including the
interpreter and imports) is its own. Usage:

    .venv/bin/python benchmarks/bench_simulate.py                      # all benchmark cases, n = 1,000,000
    .venv/bin/python benchmarks/bench_simulate.py --n 100000 --cases csf1 ehr_diabetes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

# case name -> (setting, parameters); the csf settings are run with 20 covariates
CASES = {
    "csf1": ("csf1", {"n_covariates": 20}),
    "csf2": ("csf2", {"n_covariates": 20}),
    "csf3": ("csf3", {"n_covariates": 20}),
    "csf4": ("csf4", {"n_covariates": 20}),
    "survlearners1": ("survlearners1", {}),
    "survlearners9": ("survlearners9", {}),
    "ehr_diabetes": ("ehr_diabetes", {}),
    "ehr_diabetes_tv": ("ehr_diabetes", {"time_varying_start": True, "start_model": "nonlinear"}),
}

CHILD = """
import json, resource, sys, time
from causalehr.simulate import simulate
setting, n, params = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
start = time.perf_counter()
cohort = simulate(setting, n=n, seed=1, **params)
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "n_covariates": len(cohort.covariates),
                  "censored": float(1 - cohort.data["event"].mean())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    print(f"{'case':<18}{'n':>10}{'p':>4}{'seconds':>10}{'peak MB':>10}{'censored':>10}")
    for n in args.n:
        for case in args.cases:
            setting, params = CASES[case]
            out = subprocess.run(
                [sys.executable, "-c", CHILD, setting, str(n), json.dumps(params)],
                check=True, capture_output=True, text=True,
            )
            r = json.loads(out.stdout)
            print(f"{case:<18}{n:>10}{r['n_covariates']:>4}{r['seconds']:>10.1f}{r['peak_mb']:>10.0f}"
                  f"{r['censored']:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
