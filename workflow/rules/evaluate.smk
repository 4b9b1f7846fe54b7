rule evaluate:
    """Compare every estimate with the truth: tidy metrics, the figures and tables the paper uses, and the
    values its text quotes."""
    input:
        notebook="notebooks/evaluate.ipynb",
        cate=expand(
            "results/estimate/{setting}/{method}/rep{rep}_cate.parquet", setting=SETTINGS, method=METHODS, rep=REPS
        ),
        ate=expand(
            "results/estimate/{setting}/{method}/rep{rep}_ate.parquet", setting=SETTINGS, method=METHODS, rep=REPS
        ),
        reference="benchmarks/results/csf_grf.csv",
    output:
        metrics="results/evaluate/metrics.parquet",
        figure=report(
            "results/evaluate/figures/cate_mse.png", caption="../report/cate_mse.rst", category="Simulation study"
        ),
        table="results/evaluate/tables/cate_mse.md",
        values="results/evaluate/values.yml",
        reference_table="results/evaluate/tables/csf_reference.md",
    params:
        parameters=lambda wc, input, output: notebook_params(
            cate_paths=list(input.cate),
            ate_paths=list(input.ate),
            metrics_path=output.metrics,
            figure_path=output.figure,
            table_path=output.table,
            values_path=output.values,
            reference_path=input.reference,
            reference_table_path=output.reference_table,
        ),
    log:
        notebook="results/logs/evaluate/evaluate.ipynb",
        stdout="results/logs/evaluate/evaluate.log",
    shell:
        PAPERMILL
