"""The same trial specification gives the same cohort on Spark (ibis's PySpark backend, a local Spark session) as on
DuckDB, row for row: the analysis table, the attrition table and the data dictionary.

Java comes from the machine, or from Debian's openjdk-17-jre-headless installed here when missing (needs root and
apt-get, as tests/slurm/start_local_slurm.sh does for SLURM). The Spark session runs in local mode on 2 cores with a
non-UTC session time zone, so that any day arithmetic going through timestamps would show.
"""

import os
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from causalehr.cohort import build_cohort, connect
from causalehr.omop import write_synthetic_omop


def _java() -> None:
    if shutil.which("java"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Spark needs Java: no java on the PATH, and installing Debian's openjdk-17-jre-headless needs "
                    "root and apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "openjdk-17-jre-headless"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@pytest.fixture(scope="module")
def spark():
    _java()
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("causalehr-test")
               .config("spark.sql.shuffle.partitions", "2").config("spark.default.parallelism", "2")
               .config("spark.sql.adaptive.enabled", "false").config("spark.sql.codegen.wholeStage", "false")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "America/New_York").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_builds_the_same_cohort_as_duckdb(spark, tmp_path):
    wh = write_synthetic_omop(2000, 5, tmp_path / "omop", design="active_comparator", n_ineligible=10)
    spec = yaml.safe_load(open("config/trials/sglt2_vs_dpp4.yaml"))
    spec["censoring"]["per_protocol"] = True  # every feature kind: history, window, last value, visits, switches
    duck = build_cohort(spec, wh.path)
    con = connect(wh.path, spark=spark)
    assert con.name == "pyspark"
    assert {"person", "drug_exposure", "measurement"} <= set(connect(spark).list_tables())
    sparked = build_cohort(spec, con)
    pd.testing.assert_frame_equal(sparked.analysis, duck.analysis)
    pd.testing.assert_frame_equal(sparked.attrition, duck.attrition)
    pd.testing.assert_frame_equal(sparked.dictionary, duck.dictionary)
    assert set(duck.analysis["treatment"]) == {0, 1} and len(duck.analysis) > 500
    assert duck.analysis["hba1c"].notna().any() and (duck.analysis["n_visits"] > 0).any()


def test_spark_needs_a_spark_session(tmp_path):
    with pytest.raises(ValueError, match=r"^spark must be a pyspark.sql.SparkSession, got str$"):
        connect(tmp_path, spark="local[2]")
