import glob

PAPER_INPUTS = paper_inputs(config)  # figures, tables and values of the stages the config runs


def paper_input(kind):
    """An input function of the paper rule: stops when the DAG needs the paper (before any job) if the paper
    quotes case-study results the config does not produce (causalehr.workflow.check_paper_config)."""

    def files(wildcards):
        check_paper_config(config)
        return PAPER_INPUTS[kind]

    return files


rule paper:
    """Render the manuscript and the thesis from paper/ and the results it reads (quarto if installed, else pandoc + typst)."""
    input:
        sources=["paper/manuscript.qmd", "paper/_quarto-thesis.yml", "paper/references.bib"],
        sections=glob.glob("paper/sections/*.qmd") + glob.glob("paper/thesis-*.qmd"),
        figures_tables=paper_input("figures_tables"),
        values=paper_input("values"),
    output:
        expand("results/paper/{document}.{fmt}", document=["manuscript", "thesis"], fmt=config["paper"]["formats"]),
    log:
        "results/logs/paper/manuscript.log",
    conda:
        "../../environment.yml"
    params:
        formats=",".join(config["paper"]["formats"]),
        renderer=config["paper"]["renderer"],
    shell:
        "python -m causalehr.paper --paper-dir paper --inputs {input.figures_tables} --values {input.values} "
        "--thesis --out-dir results/paper --to {params.formats} --renderer {params.renderer} > {log} 2>&1"
