"""The compendium's workflow: config -> simulate -> estimate -> evaluate -> figures/tables -> paper.

Run `snakemake -n` for the plan, `snakemake --cores all` for the paper's experiments, and
`snakemake --cores all --configfile config/quick.yaml` for a small run. See README.md.
"""

from snakemake.utils import min_version, validate

min_version("9.0")

# A config given with --configfile replaces the default one instead of being merged into it.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/settings.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ccw.smk"
include: "workflow/rules/casestudy.smk"
include: "workflow/rules/probation.smk"
include: "workflow/rules/probation_omop.smk"
include: "workflow/rules/trial.smk"


if DESIGN:  # the design-matters study runs when the config has a `design` block

    include: "workflow/rules/design.smk"


if MULTIARM:  # which treatment for whom runs when the config has a `multiarm` block

    include: "workflow/rules/multiarm.smk"


include: "workflow/rules/paper.smk"


rule all:
    input:
        rules.paper.output,
        rules.trial_report.output,
        design_report_outputs(),
        multiarm_report_outputs(),
