"""Data probation of a simulated AI extraction: agreement, acceptance, routing, replication, PPI, coverage studies."""

PROBATION = config["probation"]


rule probation:
    """Probation report of a simulated extraction (manual and AI vs reference) and the interval coverage studies."""
    input:
        notebook="notebooks/probation.ipynb",
    output:
        report=report("results/probation/report/report.html", caption="../report/probation_report.rst",
                      category="Data probation"),
        results_json="results/probation/report/results.json",
        report_tables=directory("results/probation/report/tables"),
        figure_agreement=report("results/probation/figures/probation_agreement.png",
                                caption="../report/probation_agreement.rst", category="Data probation"),
        figure_routing=report("results/probation/figures/probation_risk_coverage.png",
                              caption="../report/probation_risk_coverage.rst", category="Data probation"),
        figure_coverage=report("results/probation/figures/probation_coverage.png",
                               caption="../report/probation_coverage.rst", category="Data probation"),
        table_agreement="results/probation/tables/probation_agreement.md",
        table_acceptance="results/probation/tables/probation_acceptance.md",
        table_replication="results/probation/tables/probation_replication.md",
        table_ppi_coverage="results/probation/tables/probation_ppi_coverage.md",
        metric_coverage="results/probation/probation_metric_coverage.parquet",
        ppi_coverage="results/probation/probation_ppi_coverage.parquet",
        values="results/probation/probation_values.yml",
    params:
        parameters=lambda wc, output: notebook_params(
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
            report_dir="results/probation/report",
            figure_agreement_path=output.figure_agreement,
            figure_routing_path=output.figure_routing,
            figure_coverage_path=output.figure_coverage,
            table_agreement_path=output.table_agreement,
            table_acceptance_path=output.table_acceptance,
            table_replication_path=output.table_replication,
            table_ppi_coverage_path=output.table_ppi_coverage,
            metric_coverage_path=output.metric_coverage,
            ppi_coverage_path=output.ppi_coverage,
            values_path=output.values,
        ),
    log:
        notebook="results/logs/probation/probation.ipynb",
        stdout="results/logs/probation/probation.log",
    shell:
        PAPERMILL
