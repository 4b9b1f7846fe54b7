ESTIMATES = [
    stage_outputs("estimate", setting=s, method=m, rep=r)
    for s in SETTINGS
    for m in setting_methods(SETTINGS[s], METHODS)
    for r in REPS
]


rule evaluate:
    """Compare every estimate with the truth: tidy metrics, the figures and tables the paper uses, and the
    values its text quotes; with the committed head-to-head with grf's causal survival forest and the committed
    competing-risks comparison with riskRegression and coverage study, and the committed benchmark of method "auto"."""
    input:
        notebook="notebooks/evaluate.ipynb",
        cate=[e["cate"] for e in ESTIMATES],
        ate=[e["ate"] for e in ESTIMATES],
        reference="benchmarks/results/csf_grf.csv",
        competing_peer="benchmarks/results/competing_peer.csv",
        competing_coverage="benchmarks/results/competing_coverage.csv",
        selection="benchmarks/results/select.csv",
    output:
        **stage_rule_outputs("evaluate"),
    log:
        notebook="results/logs/evaluate/evaluate.ipynb",
        stdout="results/logs/evaluate/evaluate.log",
    conda:
        "../../environment.yml"
    params:
        parameters=lambda wc, input, output: notebook_params(
            output,
            cate_paths=list(input.cate),
            ate_paths=list(input.ate),
            reference_path=input.reference,
            competing_peer_path=input.competing_peer,
            competing_coverage_path=input.competing_coverage,
            selection_path=input.selection,
        ),
    shell:
        PAPERMILL
