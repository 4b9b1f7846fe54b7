"""Shared definitions: wildcards' values from the config, per-job seeds, the notebook runner."""

import json

from causalehr.workflow import ensure_kernel, job_seed

SETTINGS = config["simulation"]["settings"]
METHODS = config["methods"]
REPS = list(range(config["simulation"]["replications"]))


wildcard_constraints:
    setting="|".join(SETTINGS),
    method="|".join(METHODS),
    rep=r"\d+",


onstart:
    ensure_kernel()


def notebook_params(**params):
    """Parameters for papermill as one JSON string (papermill reads it as YAML); quote it with :q in shell."""
    return json.dumps(params, sort_keys=True)


# Runs a parameterised notebook with the project's kernel; the executed notebook is kept as the job's log.
PAPERMILL = (
    "papermill {input.notebook} {log.notebook} --kernel causalehr --cwd . --no-progress-bar "
    "--parameters_yaml {params.parameters:q} > {log.stdout} 2>&1"
)
