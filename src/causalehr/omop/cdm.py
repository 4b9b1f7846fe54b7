"""The OMOP common data model tables, columns and standard concepts that the compendium reads and writes.

The one place that lists them: :mod:`causalehr.omop.synthetic` writes these columns and
:mod:`causalehr.cohort.build` reads them, and :func:`check_tables` checks a warehouse against them before any work.
Column names and types follow the OMOP CDM v5.4 (OHDSI, https://ohdsi.github.io/CommonDataModel/cdm54.html);
only the columns used here are listed (a warehouse may have more).

The concept ids below are OMOP standard concepts (SNOMED conditions, RxNorm ingredients, LOINC measurements,
OMOP visit/type/gender/unit concepts) as we know them; check them against the vocabulary of your warehouse
(ATHENA, https://athena.ohdsi.org) before use: a concept set that matches no row is reported with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# table -> {column: dtype}; "date" columns are calendar dates, "int64" ids and concept ids, "float64" values
TABLES: dict[str, dict[str, str]] = {
    "person": {"person_id": "int64", "gender_concept_id": "int64", "year_of_birth": "int64",
               "birth_datetime": "date", "care_site_id": "int64"},
    "observation_period": {"observation_period_id": "int64", "person_id": "int64",
                           "observation_period_start_date": "date", "observation_period_end_date": "date",
                           "period_type_concept_id": "int64"},
    "visit_occurrence": {"visit_occurrence_id": "int64", "person_id": "int64", "visit_concept_id": "int64",
                         "visit_start_date": "date", "visit_end_date": "date", "visit_type_concept_id": "int64",
                         "care_site_id": "int64"},
    "condition_occurrence": {"condition_occurrence_id": "int64", "person_id": "int64",
                             "condition_concept_id": "int64", "condition_start_date": "date",
                             "condition_type_concept_id": "int64", "visit_occurrence_id": "int64"},
    "drug_exposure": {"drug_exposure_id": "int64", "person_id": "int64", "drug_concept_id": "int64",
                      "drug_exposure_start_date": "date", "drug_exposure_end_date": "date",
                      "drug_type_concept_id": "int64", "days_supply": "int64"},
    "measurement": {"measurement_id": "int64", "person_id": "int64", "measurement_concept_id": "int64",
                    "measurement_date": "date", "measurement_type_concept_id": "int64",
                    "value_as_number": "float64", "unit_concept_id": "int64", "visit_occurrence_id": "int64"},
    "death": {"person_id": "int64", "death_date": "date", "death_type_concept_id": "int64"},
    "care_site": {"care_site_id": "int64", "care_site_name": "string"},
    "concept": {"concept_id": "int64", "concept_name": "string", "domain_id": "string",
                "vocabulary_id": "string", "concept_class_id": "string", "standard_concept": "string",
                "concept_code": "string"},
    "concept_ancestor": {"ancestor_concept_id": "int64", "descendant_concept_id": "int64",
                         "min_levels_of_separation": "int64", "max_levels_of_separation": "int64"},
}

# the tables a cohort is built from (concept and concept_ancestor are optional: without concept_ancestor,
# concept sets match their listed ids only)
REQUIRED_TABLES = ("person", "observation_period", "visit_occurrence", "condition_occurrence", "drug_exposure",
                   "measurement", "death")
OPTIONAL_TABLES = ("care_site", "concept", "concept_ancestor")

# domain of a concept set -> (table, concept column, start date column, end date column or None)
DOMAINS: dict[str, tuple[str, str, str, str | None]] = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date", None),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date", None),
    "visit": ("visit_occurrence", "visit_concept_id", "visit_start_date", "visit_end_date"),
}

# ---------------------------------------------------------------------------------------------------------------
# Standard concepts used by the synthetic warehouse and the example specifications (check against your vocabulary)
# name: (concept_id, concept_name, domain_id, vocabulary_id, concept_class_id)
CONCEPTS: dict[str, tuple[int, str, str, str, str]] = {
    # conditions (SNOMED)
    "type2_diabetes": (201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding"),
    "myocardial_infarction": (4329847, "Myocardial infarction", "Condition", "SNOMED", "Clinical Finding"),
    "stroke": (443454, "Cerebral infarction", "Condition", "SNOMED", "Clinical Finding"),
    "heart_failure": (316139, "Heart failure", "Condition", "SNOMED", "Clinical Finding"),
    "ckd": (46271022, "Chronic kidney disease", "Condition", "SNOMED", "Clinical Finding"),
    "end_stage_renal_disease": (193782, "End-stage renal disease", "Condition", "SNOMED", "Clinical Finding"),
    "hypertension": (320128, "Essential hypertension", "Condition", "SNOMED", "Clinical Finding"),
    "diabetic_retinopathy": (4174977, "Retinopathy due to diabetes mellitus", "Condition", "SNOMED",
                             "Clinical Finding"),
    "diabetic_neuropathy": (443730, "Disorder of nervous system due to type 2 diabetes mellitus", "Condition",
                            "SNOMED", "Clinical Finding"),
    "tobacco_dependence": (437264, "Tobacco dependence syndrome", "Condition", "SNOMED", "Clinical Finding"),
    # drugs (RxNorm ingredients)
    "metformin": (1503297, "metformin", "Drug", "RxNorm", "Ingredient"),
    "empagliflozin": (45774751, "empagliflozin", "Drug", "RxNorm", "Ingredient"),
    "dapagliflozin": (44785829, "dapagliflozin", "Drug", "RxNorm", "Ingredient"),
    "canagliflozin": (43526465, "canagliflozin", "Drug", "RxNorm", "Ingredient"),
    "sitagliptin": (1580747, "sitagliptin", "Drug", "RxNorm", "Ingredient"),
    "linagliptin": (40239216, "linagliptin", "Drug", "RxNorm", "Ingredient"),
    "saxagliptin": (40166035, "saxagliptin", "Drug", "RxNorm", "Ingredient"),
    "insulin_glargine": (1502905, "insulin glargine", "Drug", "RxNorm", "Ingredient"),
    "gliclazide": (19059796, "gliclazide", "Drug", "RxNorm", "Ingredient"),
    "glimepiride": (1597756, "glimepiride", "Drug", "RxNorm", "Ingredient"),
    "atorvastatin": (1545958, "atorvastatin", "Drug", "RxNorm", "Ingredient"),
    "rosuvastatin": (1510813, "rosuvastatin", "Drug", "RxNorm", "Ingredient"),
    "ramipril": (1334456, "ramipril", "Drug", "RxNorm", "Ingredient"),
    "losartan": (1367500, "losartan", "Drug", "RxNorm", "Ingredient"),
    # measurements (LOINC)
    "hba1c": (3004410, "Hemoglobin A1c/Hemoglobin.total in Blood", "Measurement", "LOINC", "Lab Test"),
    "egfr": (3049187, "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or "
                      "Blood by Creatinine-based formula (CKD-EPI)", "Measurement", "LOINC", "Lab Test"),
    "bmi": (3038553, "Body mass index (BMI) [Ratio]", "Measurement", "LOINC", "Clinical Observation"),
    "sbp": (3004249, "Systolic blood pressure", "Measurement", "LOINC", "Clinical Observation"),
    "ldl": (3028437, "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "Measurement",
            "LOINC", "Lab Test"),
}
CONCEPT_IDS: dict[str, int] = {name: row[0] for name, row in CONCEPTS.items()}

# OMOP concepts of the metadata columns
GENDER = {"male": 8507, "female": 8532}
VISIT = {"inpatient": 9201, "outpatient": 9202}
EHR_TYPE = 32817  # "EHR": type concept of every synthetic row
UNITS = {"percent": 8554, "kg/m2": 9531, "mmHg": 8876, "mL/min/1.73m2": 720870, "mmol/L": 8753}


def _column_names(table) -> list[str]:
    """Column names of a pandas DataFrame, a pyarrow table or an ibis table."""
    columns = getattr(table, "columns", None)
    if columns is None:
        columns = table.schema().names
    return list(columns)


def check_tables(tables: Mapping[str, object], required: Iterable[str] = REQUIRED_TABLES) -> None:
    """Check that ``tables`` (name -> table with ``columns`` or an ibis ``schema()``) holds the ``required`` OMOP
    tables with the columns of :data:`TABLES`; optional tables present are checked too.

    Raises ValueError naming the first missing table (with the tables found) or the missing column and the table it
    was expected in.
    """
    for name in required:
        if name not in tables:
            raise ValueError(f"OMOP table '{name}' not found; tables found: {sorted(tables)}")
    for name in [*required, *(t for t in OPTIONAL_TABLES if t in tables and t not in required)]:
        present = set(_column_names(tables[name]))
        missing = [c for c in TABLES[name] if c not in present]
        if missing:
            raise ValueError(f"column '{missing[0]}' not found in OMOP table '{name}'"
                             + (f" (also missing: {missing[1:]})" if len(missing) > 1 else "")
                             + f"; columns found: {sorted(present)}")
