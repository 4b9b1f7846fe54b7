"""Which treatment for whom: several drug classes, a treatment rule and intervals for one patient on simulators with
known truth (one job per replication), then the accuracy, value, regret, markers and coverage of the paper."""


rule multiarm_replication:
    """One replication: MultiArmCATE and its rule on a drug-class cohort, ConformalITE intervals, against the truth."""
    input:
        notebook="notebooks/multiarm.ipynb",
    output:
        **stage_rule_outputs("multiarm_replication"),
    log:
        notebook="results/logs/multiarm/replication_rep{rep}.ipynb",
        stdout="results/logs/multiarm/replication_rep{rep}.log",
    benchmark:
        "results/benchmarks/multiarm/replication_rep{rep}.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(**multiarm_parameters(output, "replication", rep=int(wc.rep))),
    shell:
        PAPERMILL


rule multiarm_report:
    """Bias and coverage per contrast, the rule's value and regret, markers, conformal coverage (Monte Carlo SEs)."""
    input:
        notebook="notebooks/multiarm.ipynb",
        replications=multiarm_replications(),
    output:
        **stage_rule_outputs("multiarm_report"),
    log:
        notebook="results/logs/multiarm/report.ipynb",
        stdout="results/logs/multiarm/report.log",
    benchmark:
        "results/benchmarks/multiarm/report.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, input, output: notebook_params(
            **multiarm_parameters(output, "report", inputs=multiarm_inputs())
        ),
    shell:
        PAPERMILL
