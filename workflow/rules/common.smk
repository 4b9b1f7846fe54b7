"""Shared definitions: wildcards' values from the config, per-job seeds, the output contract, the notebook runner."""

import json

from causalehr.registry import check_config, setting_estimands, setting_methods
from causalehr.studies.casestudy import check_casestudy_config
from causalehr.workflow import STAGES, check_paper_config, ensure_kernel, job_seed, paper_inputs, stage_outputs

check_config(config)  # names the schema cannot check (methods, models, simulators), before any work
check_casestudy_config(config["casestudy"])  # datasets, the yardstick's randomised dataset and its confounders

SETTINGS = config["simulation"]["settings"]
METHODS = config["methods"]
REPS = list(range(config["simulation"]["replications"]))


wildcard_constraints:
    setting="|".join(SETTINGS),
    method="|".join(METHODS),
    rep=r"\d+",


onstart:
    ensure_kernel()


def stage_rule_outputs(stage):
    """A stage's outputs as declared in its rule, from causalehr.workflow.STAGES; folders marked as such, figures
    with their caption in the Snakemake report."""
    _, category, specs = STAGES[stage]
    outputs = {}
    for name, path in stage_outputs(stage, private=config["trial"]["private"]).items():
        spec = specs[name]
        if spec.directory:
            outputs[name] = directory(path)
        elif spec.caption:
            outputs[name] = report(path, caption=f"../report/{spec.caption}.rst", category=category)
        else:
            outputs[name] = path
    return outputs


def rule_threads(rule, default=1):
    """Threads of one job of ``rule``: the config's `threads` key, else ``default``."""
    return config.get("threads", {}).get(rule, default)


def notebook_params(output=None, **params):
    """Parameters for papermill as one JSON string (papermill reads it as YAML; quote it with :q in shell); the
    rule's outputs go to the notebook as the one parameter `outputs` (name -> path)."""
    if output is not None:
        params["outputs"] = dict(output.items())
    return json.dumps(params, sort_keys=True)


# Runs a parameterised notebook with the project's kernel; the executed notebook is kept as the job's log.
PAPERMILL = (
    "papermill {input.notebook} {log.notebook} --kernel causalehr --cwd . --no-progress-bar "
    "--parameters_yaml {params.parameters:q} > {log.stdout} 2>&1"
)


# Case study (casestudy.smk)
def case_parameters(output, dataset, part, seed_key):
    """Notebook parameters shared by both parts: the dataset (built-in, or a user file with its columns)."""
    spec = config["casestudy"]["datasets"][dataset]
    keys = (
        "covariates",
        "treatment",
        "time",
        "event",
        "time_unit",
        "id",
        "categorical",
        "treated",
        "encoding",
        "randomised",
    )
    columns = {k: spec[k] for k in keys if k in spec}
    return dict(
        output=output,
        dataset=dataset,
        data_path=spec.get("path"),
        horizon=spec.get("horizon"),
        **columns,
        methods=spec.get("methods", config["casestudy"]["methods"]),
        seed=job_seed(config["seed"], seed_key, dataset),
        n_folds=config["casestudy"]["n_folds"],
        n_groups=config["casestudy"]["n_groups"],
        n_bootstrap=config["casestudy"]["n_bootstrap"],
        min_cell_size=config.get("min_cell_size", 10),
        part=part,
    )


def case_data_file(wildcards):
    path = config["casestudy"]["datasets"][wildcards.dataset].get("path")
    return [path] if path else []


# Paper (paper.smk)
PAPER_INPUTS = paper_inputs(config)  # figures, tables and values of the stages the config runs


def paper_input(kind):
    """An input function of the paper rule: stops when the DAG needs the paper (before any job) if the paper
    quotes case-study results the config does not produce (causalehr.workflow.check_paper_config)."""

    def files(wildcards):
        check_paper_config(config)
        return PAPER_INPUTS[kind]

    return files


# Records to trial (trial.smk)
TRIAL = config["trial"]
TRIAL_PRIVATE = TRIAL["private"]


def trial_spec(wildcards):
    """The specification file of a trial."""
    return TRIAL["trials"][wildcards.trial]


def trial_source():
    """The user's warehouse as an input of the cohort rule (none for a synthetic warehouse)."""
    source = TRIAL["warehouse"].get("source")
    return [source] if source else []


def trial_parameters(output, part, **params):
    """Notebook parameters shared by the three parts: the trials, the warehouse, the methods, the base seed."""
    warehouse = TRIAL["warehouse"]
    return dict(
        output=output,
        part=part,
        trials=TRIAL["trials"],
        synthetic=warehouse.get("synthetic"),
        source=warehouse.get("source"),
        seed=config["seed"],
        methods=TRIAL["methods"],
        weights=TRIAL["weights"],
        n_intervals=TRIAL["n_intervals"],
        min_cell_size=config.get("min_cell_size", 10),
        **params,
    )


def trial_report_inputs():
    """The aggregates of every trial and replication: trial -> per replication {output name -> path}."""
    return {
        trial: [
            {
                **stage_outputs("trial_cohort", private=TRIAL_PRIVATE, trial=trial, rep=rep),
                **stage_outputs("trial_estimate", trial=trial, rep=rep),
            }
            for rep in range(TRIAL["replications"])
        ]
        for trial in TRIAL["trials"]
    }


def trial_report_files(wildcards):
    """The published aggregates the report reads (not the private records)."""
    return [
        path
        for files in trial_report_inputs().values()
        for rep in files
        for name, path in rep.items()
        if name != "records"
    ]


# Design matters (design.smk)
DESIGN = config.get("design", {})


def design_parameters(output, part, **params):
    """Notebook parameters shared by both parts: trials, designs, warehouses, estimators, the base seed."""
    return dict(
        output=output,
        part=part,
        trials=DESIGN["trials"],
        designs=DESIGN["designs"],
        n=DESIGN["n"],
        warehouses=DESIGN["warehouses"],
        seed=config["seed"],
        methods=DESIGN["methods"],
        weights=DESIGN["weights"],
        n_intervals=DESIGN["n_intervals"],
        **params,
    )


def design_estimates():
    """The estimates of every replication."""
    return [stage_outputs("design_replication", rep=rep)["estimates"] for rep in range(DESIGN["replications"])]


def design_strength_estimates():
    """The estimates of every replication of the strength grid."""
    return [stage_outputs("design_strength", rep=rep)["estimates"] for rep in range(DESIGN["strength"]["replications"])]


def design_report_outputs():
    """The design-matters report's outputs (none without a `design` block in the config)."""
    return list(stage_outputs("design_report").values()) if DESIGN else []


# Which treatment for whom (multiarm.smk)
MULTIARM = config.get("multiarm", {})


def multiarm_parameters(output, part, **params):
    """Notebook parameters shared by both parts: the cohort, the estimator, the rule, the intervals, the base seed."""
    keys = ("n", "horizon", "reference", "simulation", "estimator", "rule", "conformal")
    return dict(
        output=output,
        part=part,
        seed=config["seed"],
        min_cell_size=config.get("min_cell_size", 10),
        **{k: MULTIARM[k] for k in keys},
        **params,
    )


def multiarm_inputs():
    """The outputs of every replication: one {output name -> path} per replication."""
    return [stage_outputs("multiarm_replication", rep=rep) for rep in range(MULTIARM["replications"])]


def multiarm_replications():
    """The files of every replication (the report's inputs)."""
    return [path for rep in multiarm_inputs() for path in rep.values()]


def multiarm_report_outputs():
    """The which-treatment-for-whom report's outputs (none without a `multiarm` block in the config)."""
    return list(stage_outputs("multiarm_report").values()) if MULTIARM else []
