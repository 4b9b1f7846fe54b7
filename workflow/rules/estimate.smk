rule estimate:
    """Fit one method on one simulated training cohort; predict the CATE on the test cohort for each estimand."""
    input:
        notebook="notebooks/estimate.ipynb",
        data="results/simulate/{setting}/rep{rep}",
    output:
        cate="results/estimate/{setting}/{method}/rep{rep}_cate.parquet",
        ate="results/estimate/{setting}/{method}/rep{rep}_ate.parquet",
    params:
        parameters=lambda wc, input, output: notebook_params(
            data_dir=input.data,
            setting=wc.setting,
            replication=int(wc.rep),
            method=wc.method,
            method_spec=METHODS[wc.method],
            estimands=config["estimands"],
            seed=job_seed(config["seed"], "estimate", wc.setting, wc.method, wc.rep),
            cate_path=output.cate,
            ate_path=output.ate,
        ),
    log:
        notebook="results/logs/estimate/{setting}/{method}/rep{rep}.ipynb",
        stdout="results/logs/estimate/{setting}/{method}/rep{rep}.log",
    benchmark:
        "results/benchmarks/estimate/{setting}/{method}/rep{rep}.tsv"
    shell:
        PAPERMILL
