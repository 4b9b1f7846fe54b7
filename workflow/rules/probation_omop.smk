"""Estimand-based probation on synthetic OMOP versions (issue 21): metric and estimand verdicts side by side."""

PROBATION_OMOP = config["probation_omop"]


rule probation_omop:
    """Manual and AI versions of a synthetic OMOP warehouse judged by their metrics and by the bias they induce in
    the planned analyses; the committed coverage study of the prediction-powered ATE as a table."""
    input:
        notebook="notebooks/probation_omop.ipynb",
        ppi_coverage="benchmarks/results/ppi_ate_coverage.csv",
    output:
        **stage_rule_outputs("probation_omop"),
    log:
        notebook="results/logs/probation_omop/probation_omop.ipynb",
        stdout="results/logs/probation_omop/probation_omop.log",
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, input, output: notebook_params(
            output,
            n=PROBATION_OMOP["n"],
            n_labelled=PROBATION_OMOP["n_labelled"],
            n_boot=PROBATION_OMOP["n_boot"],
            alpha=PROBATION_OMOP["alpha"],
            min_overlap=PROBATION_OMOP["min_overlap"],
            use=PROBATION_OMOP["use"],
            analyses=PROBATION_OMOP["analyses"],
            min_cell_size=config.get("min_cell_size", 10),
            ppi_coverage=input.ppi_coverage,
            seed=job_seed(config["seed"], "probation_omop"),
        ),
    shell:
        PAPERMILL
