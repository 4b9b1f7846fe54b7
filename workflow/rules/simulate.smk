rule simulate:
    """Draw one replication of a simulation setting: a training cohort and a held-out test cohort, each with
    its ground truth."""
    input:
        notebook="notebooks/simulate.ipynb",
    output:
        directory("results/simulate/{setting}/rep{rep}"),
    params:
        parameters=lambda wc, output: notebook_params(
            simulator=SETTINGS[wc.setting]["simulator"],
            n=SETTINGS[wc.setting]["n"],
            n_test=config["simulation"]["n_test"],
            simulator_params=SETTINGS[wc.setting].get("params", {}),
            seed=job_seed(config["seed"], "simulate", wc.setting, wc.rep),
            out_dir=output[0],
        ),
    log:
        notebook="results/logs/simulate/{setting}/rep{rep}.ipynb",
        stdout="results/logs/simulate/{setting}/rep{rep}.log",
    benchmark:
        "results/benchmarks/simulate/{setting}/rep{rep}.tsv"
    shell:
        PAPERMILL
