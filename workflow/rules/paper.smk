import glob


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
