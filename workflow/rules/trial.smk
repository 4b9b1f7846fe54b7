"""Records to trial: an OMOP warehouse (synthetic, with known truth, or the user's), the target-trial cohort of each
specification, strategies 1 and 2 on it against the truth, and the paper's tables, figure and values."""


wildcard_constraints:
    trial="|".join(TRIAL["trials"]),


rule trial_cohort:
    """The warehouse (synthetic: written with its truth) and the cohort's patient-level tables in the private folder;
    attrition, Table 1 and follow-up (small cells suppressed) under results/."""
    input:
        notebook="notebooks/trial.ipynb",
        spec=trial_spec,
        source=trial_source(),
    output:
        **stage_rule_outputs("trial_cohort"),
    log:
        notebook="results/logs/trial/cohort_{trial}_rep{rep}.ipynb",
        stdout="results/logs/trial/cohort_{trial}_rep{rep}.log",
    benchmark:
        "results/benchmarks/trial/cohort_{trial}_rep{rep}.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            **trial_parameters(output, "cohort", trial=wc.trial, rep=int(wc.rep))
        ),
    shell:
        PAPERMILL


rule trial_estimate:
    """Strategy 1 (active comparator) or strategy 2 (grace period) on the cohort, against the truth."""
    input:
        notebook="notebooks/trial.ipynb",
        records=rules.trial_cohort.output.records,
    output:
        **stage_rule_outputs("trial_estimate"),
    log:
        notebook="results/logs/trial/estimate_{trial}_rep{rep}.ipynb",
        stdout="results/logs/trial/estimate_{trial}_rep{rep}.log",
    benchmark:
        "results/benchmarks/trial/estimate_{trial}_rep{rep}.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, input, output: notebook_params(
            **trial_parameters(output, "estimate", trial=wc.trial, rep=int(wc.rep), records=input.records)
        ),
    shell:
        PAPERMILL


rule trial_report:
    """Performance over the replications, the attrition table, Table 1, the estimates against the truth."""
    input:
        notebook="notebooks/trial.ipynb",
        aggregates=trial_report_files,
    output:
        **stage_rule_outputs("trial_report"),
    log:
        notebook="results/logs/trial/report.ipynb",
        stdout="results/logs/trial/report.log",
    benchmark:
        "results/benchmarks/trial/report.tsv"
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, output: notebook_params(
            **trial_parameters(
                output,
                "report",
                inputs=trial_report_inputs(),
                settings={
                    "n": TRIAL["warehouse"].get("synthetic", {}).get("n"),
                    "min_cell_size": config.get("min_cell_size", 10),
                },
            )
        ),
    shell:
        PAPERMILL
