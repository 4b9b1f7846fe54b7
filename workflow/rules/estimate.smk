rule estimate:
    """Fit one method on one simulated training cohort; predict the CATE on the test cohort for each estimand."""
    input:
        **stage_outputs("simulate"),
        notebook="notebooks/estimate.ipynb",
    output:
        **stage_rule_outputs("estimate"),
    log:
        notebook="results/logs/estimate/{setting}/{method}/rep{rep}.ipynb",
        stdout="results/logs/estimate/{setting}/{method}/rep{rep}.log",
    benchmark:
        "results/benchmarks/estimate/{setting}/{method}/rep{rep}.tsv"
    conda:
        "../../environment.yml"
    threads: rule_threads("estimate")
    params:
        parameters=lambda wc, input, output, threads: notebook_params(
            output,
            train_dir=input.train,
            test_dir=input.test,
            setting=wc.setting,
            replication=int(wc.rep),
            method=wc.method,
            method_spec=METHODS[wc.method],
            estimands=setting_estimands(SETTINGS[wc.setting], config["estimands"]),
            seed=job_seed(config["seed"], "estimate", wc.setting, wc.method, wc.rep),
            n_jobs=threads,
        ),
    shell:
        PAPERMILL
