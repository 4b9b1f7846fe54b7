"""Trial as yardstick with more subsamples than the workflow runs, for tighter Monte Carlo standard errors.

Confounded subsamples of the randomised Rossi trial (causalehr.studies.casestudy.trial_yardstick): bias and coverage of
the naive Kaplan-Meier contrast and of the adjusted estimators against the trial's answer, per confounding
strength, with the methods and confounders of the config's ``casestudy.yardstick``; prints the table, seconds and
peak memory (this process and its worker processes). Usage:

    .venv/bin/python benchmarks/study_trial_yardstick.py --n-subsamples 200 --n-jobs 2
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from pathlib import Path

import yaml

from causalehr.studies.casestudy import load_case, trial_yardstick, yardstick_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-subsamples", type=int, default=200)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.3, 0.6, 0.8])
    parser.add_argument("--keep-fraction", type=float, default=0.5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    args = parser.parse_args()
    design = yaml.safe_load(args.config.read_text())["casestudy"]["yardstick"]
    warnings.simplefilter("ignore")  # positivity warnings of single subsamples
    start = time.perf_counter()
    case = load_case(design["dataset"])
    _, summary, trial = trial_yardstick(case, design["methods"], confounders=design["confounders"],
                                        strengths=args.strengths, n_subsamples=args.n_subsamples,
                                        keep_fraction=args.keep_fraction, seed=args.seed, n_jobs=args.n_jobs)
    seconds = time.perf_counter() - start
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"trial answer (KM RMST difference, {case.horizon:g} {case.time_unit}): {trial['estimate']:.3f} "
          f"({trial['lower']:.3f} to {trial['upper']:.3f}), SE {trial['se']:.3f}")
    print(yardstick_table(summary))
    cols = ["strength", "estimator", "bias", "bias_mcse", "empse", "model_se", "coverage", "coverage_mcse",
            "coverage_contrast", "coverage_contrast_mcse"]
    print(summary[cols].round(3).to_string(index=False))
    print(f"seconds: {seconds:.1f}; peak resident memory of one process: {peak / 1024:.0f} MB; "
          f"subsamples: {args.n_subsamples} x {len(args.strengths)} strengths")


if __name__ == "__main__":
    main()
