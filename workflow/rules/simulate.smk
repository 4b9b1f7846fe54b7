rule simulate:
    """Draw one replication of a simulation setting: a training cohort and a held-out test cohort, each with
    its ground truth."""
    input:
        notebook="notebooks/simulate.ipynb",
    output:
        **stage_rule_outputs("simulate"),
    log:
        notebook="results/logs/simulate/{setting}/rep{rep}.ipynb",
        stdout="results/logs/simulate/{setting}/rep{rep}.log",
    benchmark:
        "results/benchmarks/simulate/{setting}/rep{rep}.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            output,
            setting=SETTINGS[wc.setting],
            n_test=config["simulation"]["n_test"],
            seed=job_seed(config["seed"], "simulate", wc.setting, wc.rep),
        ),
    shell:
        PAPERMILL
