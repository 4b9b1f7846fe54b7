"""Design matters: the correct target-trial design and each design error on synthetic OMOP warehouses with known
truth (one job per replication), then the bias table, figure and values of the paper."""


rule design_replication:
    """One replication: its warehouses (temporary), the cohort of each design, the estimators against the truth."""
    input:
        notebook="notebooks/design.ipynb",
        specs=list(DESIGN["trials"].values()),
    output:
        **stage_rule_outputs("design_replication"),
    log:
        notebook="results/logs/design/replication_rep{rep}.ipynb",
        stdout="results/logs/design/replication_rep{rep}.log",
    benchmark:
        "results/benchmarks/design/replication_rep{rep}.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(**design_parameters(output, "replication", rep=int(wc.rep))),
    shell:
        PAPERMILL


rule design_strength:
    """One replication of the bias against the strength of each error's knob (temporary warehouses)."""
    input:
        notebook="notebooks/design.ipynb",
        specs=list(DESIGN["trials"].values()),
    output:
        **stage_rule_outputs("design_strength"),
    log:
        notebook="results/logs/design/strength_rep{rep}.ipynb",
        stdout="results/logs/design/strength_rep{rep}.log",
    benchmark:
        "results/benchmarks/design/strength_rep{rep}.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            **design_parameters(output, "strength", rep=int(wc.rep), strength=DESIGN["strength"])
        ),
    shell:
        PAPERMILL


rule design_report:
    """Bias, RMSE, coverage and CATE MSE with Monte Carlo SEs over the replications; figure, table, values."""
    input:
        notebook="notebooks/design.ipynb",
        estimates=design_estimates(),
        strength=design_strength_estimates(),
    output:
        **stage_rule_outputs("design_report"),
    log:
        notebook="results/logs/design/report.ipynb",
        stdout="results/logs/design/report.log",
    benchmark:
        "results/benchmarks/design/report.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, input, output: notebook_params(
            **design_parameters(
                output,
                "report",
                inputs=list(input.estimates),
                strength_inputs=list(input.strength),
                strength=DESIGN["strength"],
                settings={"n": DESIGN["n"]},
            )
        ),
    shell:
        PAPERMILL
