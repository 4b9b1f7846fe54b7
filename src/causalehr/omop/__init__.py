"""OMOP common data model: the tables and concepts used (:mod:`.cdm`) and a synthetic warehouse with known truth
(:mod:`.synthetic`)."""

from causalehr.omop.cdm import CONCEPT_IDS, TABLES, check_tables
from causalehr.omop.synthetic import SyntheticWarehouse, write_synthetic_omop

__all__ = ["CONCEPT_IDS", "TABLES", "SyntheticWarehouse", "check_tables", "write_synthetic_omop"]
