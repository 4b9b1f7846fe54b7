rule settings:
    """Describe each simulation setting of the config: Kaplan-Meier curves by arm, true CATE, censoring."""
    input:
        notebook="notebooks/settings.ipynb",
    output:
        figure=report("results/settings/figures/settings.png", caption="../report/settings.rst", category="Settings"),
        table="results/settings/tables/settings.md",
        values="results/settings/values.yml",
    params:
        parameters=lambda wc, output: notebook_params(
            settings=SETTINGS,
            seed=job_seed(config["seed"], "settings"),
            figure_path=output.figure,
            table_path=output.table,
            values_path=output.values,
        ),
    log:
        notebook="results/logs/settings/settings.ipynb",
        stdout="results/logs/settings/settings.log",
    shell:
        PAPERMILL
