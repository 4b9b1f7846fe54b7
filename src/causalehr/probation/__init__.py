"""Data probation of AI-extracted data against manual abstraction and a reference (gold) standard.

Inputs and their format: :mod:`causalehr.probation.spec`; simulator with known error mechanisms:
:func:`simulate_extraction`; agreement metrics: :func:`agreement`; Kahn checks: :func:`run_quality_checks`;
acceptance by intended use: :func:`acceptance`; confidence-based routing: :func:`selective_prediction`;
prediction-powered inference: :func:`ppi_mean`, :func:`ppi_bootstrap`; replication of the end analysis:
:func:`replicate_analysis`; error propagation: :func:`error_propagation`; report: :func:`run_probation`,
:func:`probation_report`; command line: ``python -m causalehr.probation``.
"""

from .acceptance import acceptance, default_acceptance_rules
from .agreement import agreement, correctness, gwet_ac1, heterogeneity, kappa
from .io import load_probation, read_table
from .ppi import km_survival_at, ppi_bootstrap, ppi_mean
from .propagation import cate_estimator, corrupt, error_propagation
from .quality import default_rules, rethreshold, run_quality_checks, to_dqd_json, worst_status
from .replicate import analysis_estimates, cate_quantities, cohort_from_source, replicate_analysis
from .report import probation_report, run_probation
from .selective import aurc, risk_coverage, routing_cost, selective_prediction, threshold_for_accuracy
from .spec import ProbationData, long_to_wide, validate_source, validate_spec
from .suppress import suppress_small_cells
from .synthetic import default_errors, default_spec, simulate_extraction

__all__ = [
    "ProbationData", "acceptance", "agreement", "analysis_estimates", "aurc", "cate_estimator", "cate_quantities",
    "cohort_from_source", "correctness", "corrupt", "default_acceptance_rules", "default_errors", "default_rules",
    "default_spec", "error_propagation", "gwet_ac1", "heterogeneity", "kappa", "km_survival_at", "load_probation",
    "long_to_wide", "ppi_bootstrap", "ppi_mean", "probation_report", "read_table", "replicate_analysis",
    "rethreshold", "risk_coverage", "routing_cost", "run_probation", "run_quality_checks", "selective_prediction",
    "simulate_extraction", "suppress_small_cells", "threshold_for_accuracy", "to_dqd_json", "validate_source",
    "validate_spec", "worst_status",
]
