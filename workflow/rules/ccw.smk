rule ccw:
    """Strategy 2: clone-censor-weight with logistic and boosted weights and the naive ever-versus-never comparison
    against the true strategy effects, over replications of the EHR diabetes cohort with a time-varying start."""
    input:
        notebook="notebooks/ccw.ipynb",
    output:
        replications="results/ccw/replications.parquet",
        curves=report("results/ccw/figures/ccw_curves.png", caption="../report/ccw_curves.rst", category="Strategy 2"),
        estimates=report(
            "results/ccw/figures/ccw_estimates.png", caption="../report/ccw_estimates.rst", category="Strategy 2"
        ),
        table="results/ccw/tables/ccw_performance.md",
        values="results/ccw/values.yml",
    params:
        parameters=lambda wc, output: notebook_params(
            replications=config["ccw"]["replications"],
            n=config["ccw"]["n"],
            seed=job_seed(config["seed"], "ccw"),
            simulation=config["ccw"]["simulation"],
            weights=config["ccw"]["weights"],
            grace=config["ccw"]["grace"],
            horizon=config["ccw"]["horizon"],
            horizon_surv=config["ccw"]["horizon_surv"],
            n_intervals=config["ccw"]["n_intervals"],
            replications_path=output.replications,
            curves_figure_path=output.curves,
            estimates_figure_path=output.estimates,
            table_path=output.table,
            values_path=output.values,
        ),
    log:
        notebook="results/logs/ccw/ccw.ipynb",
        stdout="results/logs/ccw/ccw.log",
    shell:
        PAPERMILL
