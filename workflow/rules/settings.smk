rule settings:
    """Describe each simulation setting of the config: Kaplan-Meier curves by arm, true CATE, censoring."""
    input:
        notebook="notebooks/settings.ipynb",
    output:
        **stage_rule_outputs("settings"),
    log:
        notebook="results/logs/settings/settings.ipynb",
        stdout="results/logs/settings/settings.log",
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            output, settings=SETTINGS, seed=job_seed(config["seed"], "settings")
        ),
    shell:
        PAPERMILL
