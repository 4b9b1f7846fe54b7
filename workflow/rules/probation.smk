"""Data probation of a simulated AI extraction: agreement, acceptance, routing, replication, PPI, coverage studies."""

PROBATION = config["probation"]


rule probation:
    """Probation report of a simulated extraction (manual and AI vs reference) and the interval coverage studies."""
    input:
        notebook="notebooks/probation.ipynb",
    output:
        **stage_rule_outputs("probation"),
    log:
        notebook="results/logs/probation/probation.ipynb",
        stdout="results/logs/probation/probation.log",
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            output,
            n=PROBATION["n"],
            n_labelled=PROBATION["n_labelled"],
            n_boot=PROBATION["n_boot"],
            horizon=PROBATION["horizon"],
            covariates=PROBATION["covariates"],
            target_accuracy=PROBATION["target_accuracy"],
            alpha=PROBATION["alpha"],
            min_cell_size=config.get("min_cell_size", 10),
            coverage_reps=PROBATION["coverage"]["replications"],
            coverage_n=PROBATION["coverage"]["n"],
            coverage_n_labelled=PROBATION["coverage"]["n_labelled"],
            seed=job_seed(config["seed"], "probation"),
        ),
    shell:
        PAPERMILL
