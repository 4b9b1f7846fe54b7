"""Target-trial cohorts from OMOP CDM records: the specification (:mod:`.spec`), the cohort logic written once as
ibis expressions (:mod:`.build`) and the publishable tables (:mod:`.tables`)."""

from causalehr.cohort.build import Cohort, NoEligiblePatientError, build_cohort, connect
from causalehr.cohort.spec import SPEC_SCHEMA, TrialSpec, load_spec

__all__ = ["SPEC_SCHEMA", "Cohort", "NoEligiblePatientError", "TrialSpec", "build_cohort", "connect", "load_spec"]
