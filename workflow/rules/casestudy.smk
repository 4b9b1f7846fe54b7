"""Real-data case study: strategy 1 on public clinical datasets (or a user's file) and the trial-as-yardstick check."""

from causalehr.casestudy import output_paths

CASESTUDY = config["casestudy"]
CASE_DATASETS = CASESTUDY["datasets"]
YARDSTICK = CASESTUDY["yardstick"]


wildcard_constraints:
    dataset="|".join(CASE_DATASETS),


def case_parameters(dataset, part, out_dir, seed_key):
    """Notebook parameters shared by both parts: the dataset (built-in, or a user file with its columns)."""
    spec = CASE_DATASETS[dataset]
    columns = {k: spec[k] for k in ("covariates", "treatment", "time", "event", "time_unit") if k in spec}
    return dict(
        dataset=dataset,
        data_path=spec.get("path"),
        horizon=spec.get("horizon"),
        **columns,
        methods=CASESTUDY["methods"],
        seed=job_seed(config["seed"], seed_key, dataset),
        n_folds=CASESTUDY["n_folds"],
        n_groups=CASESTUDY["n_groups"],
        n_bootstrap=CASESTUDY["n_bootstrap"],
        min_cell_size=config.get("min_cell_size", 10),
        part=part,
        out_dir=out_dir,
    )


def case_data_file(wildcards):
    path = CASE_DATASETS[wildcards.dataset].get("path")
    return [path] if path else []


rule casestudy:
    """Strategy 1 on one dataset: ATE by method beside the Kaplan-Meier contrast, CATE calibration, RATE, drivers."""
    input:
        notebook="notebooks/case_study.ipynb",
        data=case_data_file,
    output:
        **output_paths("results/casestudy/{dataset}", "{dataset}", "analysis"),
    params:
        parameters=lambda wc: notebook_params(
            **case_parameters(wc.dataset, "analysis", f"results/casestudy/{wc.dataset}", "casestudy")
        ),
    log:
        notebook="results/logs/casestudy/{dataset}.ipynb",
        stdout="results/logs/casestudy/{dataset}.log",
    benchmark:
        "results/benchmarks/casestudy/{dataset}.tsv"
    shell:
        PAPERMILL


rule casestudy_yardstick:
    """Trial as yardstick: naive and adjusted estimators on confounded subsamples of a randomised dataset."""
    input:
        notebook="notebooks/case_study.ipynb",
        data=case_data_file,
    output:
        **output_paths("results/casestudy/yardstick/{dataset}", "{dataset}", "yardstick"),
    params:
        parameters=lambda wc, threads: notebook_params(
            **case_parameters(wc.dataset, "yardstick", f"results/casestudy/yardstick/{wc.dataset}", "yardstick"),
            yardstick={k: YARDSTICK[k] for k in ("methods", "confounders", "strengths", "n_subsamples",
                                                 "keep_fraction")},
            n_jobs=threads,
        ),
    threads: 2
    log:
        notebook="results/logs/casestudy/yardstick_{dataset}.ipynb",
        stdout="results/logs/casestudy/yardstick_{dataset}.log",
    benchmark:
        "results/benchmarks/casestudy/yardstick_{dataset}.tsv"
    shell:
        PAPERMILL
