"""Real-data case study: strategy 1 on public clinical datasets (or a user's file) and the trial-as-yardstick check."""

CASESTUDY = config["casestudy"]
CASE_DATASETS = CASESTUDY["datasets"]
YARDSTICK = CASESTUDY["yardstick"]


wildcard_constraints:
    dataset="|".join(CASE_DATASETS),


rule casestudy:
    """Strategy 1 on one dataset: ATE by method beside the Kaplan-Meier contrast, CATE calibration, RATE, drivers."""
    input:
        notebook="notebooks/case_study.ipynb",
        data=case_data_file,
    output:
        **stage_rule_outputs("casestudy"),
    log:
        notebook="results/logs/casestudy/{dataset}.ipynb",
        stdout="results/logs/casestudy/{dataset}.log",
    benchmark:
        "results/benchmarks/casestudy/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: rule_threads("casestudy")
    params:
        parameters=lambda wc, output, threads: notebook_params(
            **case_parameters(output, wc.dataset, "analysis", "casestudy"), n_jobs=threads
        ),
    shell:
        PAPERMILL


rule casestudy_yardstick:
    """Trial as yardstick: naive and adjusted estimators on confounded subsamples of a randomised dataset."""
    input:
        notebook="notebooks/case_study.ipynb",
        data=case_data_file,
    output:
        **stage_rule_outputs("yardstick"),
    log:
        notebook="results/logs/casestudy/yardstick_{dataset}.ipynb",
        stdout="results/logs/casestudy/yardstick_{dataset}.log",
    benchmark:
        "results/benchmarks/casestudy/yardstick_{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: rule_threads("casestudy_yardstick", 2)
    params:
        parameters=lambda wc, output, threads: notebook_params(
            **case_parameters(output, wc.dataset, "yardstick", "yardstick"),
            yardstick={
                k: YARDSTICK[k] for k in ("methods", "confounders", "strengths", "n_subsamples", "keep_fraction")
            },
            n_jobs=threads,
        ),
    shell:
        PAPERMILL
