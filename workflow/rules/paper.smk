import glob


rule paper:
    """Render the manuscript and the thesis from paper/ and the results it reads (quarto if installed, else pandoc + typst)."""
    input:
        sources=["paper/manuscript.qmd", "paper/_quarto-thesis.yml", "paper/references.bib"],
        sections=glob.glob("paper/sections/*.qmd") + glob.glob("paper/thesis-*.qmd"),
        figures_tables=[
            rules.settings.output.figure,
            rules.settings.output.table,
            rules.evaluate.output.figure,
            rules.evaluate.output.table,
            rules.evaluate.output.reference_table,
            rules.ccw.output.curves,
            rules.ccw.output.estimates,
            rules.ccw.output.table,
            rules.probation.output.figure_agreement,
            rules.probation.output.figure_routing,
            rules.probation.output.figure_coverage,
            rules.probation.output.table_agreement,
            rules.probation.output.table_acceptance,
            rules.probation.output.table_replication,
            rules.probation.output.table_ppi_coverage,
        ],
        casestudy=[
            *expand("results/casestudy/{d}/figures/casestudy_{d}.png", d=["gbsg2", "rossi"]),
            *expand("results/casestudy/{d}/tables/casestudy_{d}_ate.md", d=["gbsg2", "rossi"]),
            "results/casestudy/yardstick/rossi/figures/yardstick_rossi.png",
            "results/casestudy/yardstick/rossi/tables/yardstick_rossi.md",
        ],
        values=[
            rules.settings.output.values,
            rules.evaluate.output.values,
            rules.ccw.output.values,
            rules.probation.output.values,
            *expand("results/casestudy/{d}/values.yml", d=["gbsg2", "rossi"]),
            "results/casestudy/yardstick/rossi/values.yml",
        ],
    output:
        expand("results/paper/{document}.{fmt}", document=["manuscript", "thesis"], fmt=config["paper"]["formats"]),
    params:
        formats=",".join(config["paper"]["formats"]),
        renderer=config["paper"]["renderer"],
    log:
        "results/logs/paper/manuscript.log",
    shell:
        "python -m causalehr.paper --paper-dir paper --inputs {input.figures_tables} {input.casestudy} --values {input.values} "
        "--thesis --out-dir results/paper --to {params.formats} --renderer {params.renderer} > {log} 2>&1"
