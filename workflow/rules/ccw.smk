rule ccw:
    """Strategy 2: clone-censor-weight with logistic and boosted weights and the naive ever-versus-never comparison
    against the true strategy effects, over replications of the EHR diabetes cohort with a time-varying start."""
    input:
        notebook="notebooks/ccw.ipynb",
    output:
        **stage_rule_outputs("ccw"),
    log:
        notebook="results/logs/ccw/ccw.ipynb",
        stdout="results/logs/ccw/ccw.log",
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            output,
            seed=job_seed(config["seed"], "ccw"),
            **{
                key: config["ccw"][key]
                for key in (
                    "replications",
                    "n",
                    "simulation",
                    "weights",
                    "grace",
                    "horizon",
                    "horizon_surv",
                    "n_intervals",
                )
            },
            competing=config["ccw"].get("competing"),
        ),
    shell:
        PAPERMILL
