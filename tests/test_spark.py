"""The experiment analysis on Apache Spark (pyspark, local mode and a standalone cluster) equals DuckDB's to 1e-9.

One module-scoped local session (about 5 s to start) and a 3,000-user sample exported to Parquet; the Spark tests
share an xdist group so a single worker owns the JVM. The standalone test starts a master and one worker on loopback
with pyspark's own ``bin/spark-class`` and runs its driver in a fresh Python process (one SparkContext a process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import abnb
from abnb.aggregate import aggregate, build_query, for_dialect
from abnb.datasets.sample import generate
from abnb.engine import SparkConnection, connect, connect_spark, export_parquet
from abnb.errors import SchemaError, SpecError
from abnb.telemetry import check_table
from tests.conftest import assert_same_results, free_port

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

pyspark = pytest.importorskip("pyspark", reason="the Spark engine needs pyspark: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("a local Spark session needs Java 17 (java on PATH)", allow_module_level=True)

USERS = 3_000
REL = 1e-9


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("abnb-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "telemetry.duckdb"
    generate(path, users=USERS, seed=11, progress=False)
    return path


@pytest.fixture(scope="module")
def parquet_dir(small_db: Path) -> Path:
    out = small_db.parent / "parquet"
    export_parquet(small_db, out, tables=["exposures", "events"])
    return out


@pytest.fixture(scope="module")
def spark_con(spark: Any, parquet_dir: Path) -> SparkConnection:
    connection = connect(spark, parquet=parquet_dir)
    assert isinstance(connection, SparkConnection)
    return connection


@pytest.fixture(scope="module")
def both(small_db: Path, spark_con: SparkConnection) -> tuple[abnb.ExperimentResult, abnb.ExperimentResult]:
    spec = abnb.load("checkout_redesign")
    with abnb.connect(small_db) as duck:
        expected = spec.analyze(duck)
    return expected, spec.analyze(spark_con)


def test_connect_accepts_a_spark_session(spark: Any, spark_con: SparkConnection) -> None:
    assert isinstance(abnb.connect(spark), SparkConnection)
    assert abnb.engine.as_connection(spark).dialect == "spark"
    assert spark_con.database == "local[1]"
    assert {"events", "exposures"} <= set(spark_con.tables())
    with abnb.connect("spark") as active:  # the spec "spark" picks up the active session
        assert active.raw is spark
    assert not spark.sparkContext._jsc.sc().isStopped()  # closing the adapter leaves the session running


def test_spark_analysis_equals_duckdb(both: tuple[abnb.ExperimentResult, abnb.ExperimentResult]) -> None:
    expected, actual = both
    assert actual.units == expected.units
    assert sum(actual.units.values()) > 2_900
    assert len(expected.segments) >= 6  # countries and platforms
    for name in ("units", "excluded_units", "overall", "segments", "effects", "srm", "warnings", "as_of"):
        assert_same_results(getattr(expected, name), getattr(actual, name), name)
    assert actual.decision.verdict == expected.decision.verdict


def test_spark_fetches_only_aggregate_rows(
    both: tuple[abnb.ExperimentResult, abnb.ExperimentResult], spark_con: SparkConnection
) -> None:
    expected, actual = both
    assert actual.rows_fetched == expected.rows_fetched  # the same few arm x segment rows
    assert actual.rows_fetched < 40
    assert spark_con.rows_fetched < 50


def test_spark_sql_binds_values_as_parameters(spark_con: SparkConnection) -> None:
    spec = abnb.load("checkout_redesign")
    query = build_query(spec.exposures, spec.metrics, spec.segments, has_start=True)
    sql = spark_con.render(query)
    assert "checkout_redesign" not in sql
    assert "2026-10" not in sql
    for name in ("as_of", "start", "experiment", "lookback_0", "shift_m1_y"):
        assert f":{name}" in sql
    assert "$" not in sql
    assert "MAKE_DT_INTERVAL(CAST(:lookback_0 AS INT))" in sql
    assert "TO_DAYS" not in sql.upper()
    assert "GROUPING SETS" in sql


def test_naive_datetimes_keep_wall_clock_time_in_any_session_zone(
    spark: Any, spark_con: SparkConnection, small_db: Path
) -> None:
    from sqlglot import exp

    cutoff = datetime(2026, 10, 8, 6, 30)
    tree = (
        exp.select(exp.Count(this=exp.Star()).as_("n"))
        .from_("exposures")
        .where(exp.LT(this=exp.column("ts"), expression=exp.Placeholder(this="cutoff")))
    )
    with abnb.connect(small_db) as duck:
        (expected,) = duck.execute("SELECT count(*) FROM exposures WHERE ts < $c", {"c": cutoff}).fetchone() or (0,)
    try:
        for zone in ("Asia/Tokyo", "America/New_York", "UTC"):
            spark.conf.set("spark.sql.session.timeZone", zone)
            ((n,),) = spark_con.run(tree, {"cutoff": cutoff}).rows
            assert n == expected, zone
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert 0 < expected < USERS * 1.1


def test_spark_schema_errors_name_the_table_and_column(spark_con: SparkConnection) -> None:
    with pytest.raises(SchemaError, match=r"table 'purchases' does not exist \(tables present: .*events"):
        check_table(spark_con, "purchases", ["unit"])
    with pytest.raises(SchemaError, match=r"lacks column 'segment'"):
        check_table(spark_con, "exposures", ["unit", "segment"])
    assert check_table(spark_con, "events") == {
        "unit": "BIGINT",
        "ts": "TIMESTAMP",
        "event": "VARCHAR",
        "value": "DOUBLE",
    }
    bad = abnb.Metric("bad", abnb.Sql("SELECT unit, ts, event AS value FROM events"), kind="mean")
    with pytest.raises(SchemaError, match="must be numeric"):
        abnb.aggregate.check_metric(spark_con, bad)
    missing = abnb.Metric("gone", abnb.Sql("SELECT unit, ts, value FROM clicks"), kind="mean")
    with pytest.raises(SchemaError, match=r"gone.*clicks"):
        abnb.aggregate.check_metric(spark_con, missing)
    with pytest.raises(SpecError, match="parsed by Spark"):
        spark_con._execute("SELEC 1", {})


def test_spark_distributions_sample_the_same_units(spark_con: SparkConnection, small_db: Path) -> None:
    spec = abnb.load("checkout_redesign")
    with abnb.connect(small_db) as duck:
        expected = spec.distributions(duck, "revenue", limit=500)
    actual = spec.distributions(spark_con, "revenue", limit=500)
    assert len(actual) == 1
    assert_same_results(expected, actual, "distributions")


def test_own_schema_on_spark_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    """The own-schema dataset of tests/test_own_data.py (string units and arms, TIMESTAMPTZ with several offsets),
    as Parquet sources on Spark in the project's zone, gives DuckDB's numbers."""
    import duckdb

    from tests.test_own_data import AS_OF, NUMBERS, SPEC, ZONE, _frames

    assignments, orders = _frames()
    with duckdb.connect() as raw:
        raw.register("a", assignments)
        raw.register("o", orders)
        raw.execute(f"COPY a TO '{tmp_path}/assignments.parquet' (FORMAT parquet)")
        raw.execute(f"COPY o TO '{tmp_path}/orders.parquet' (FORMAT parquet)")
    spec = abnb.Experiment.from_dict(SPEC)
    with abnb.connect(parquet=tmp_path, timezone=ZONE) as duck:
        expected = spec.analyze(duck, as_of=AS_OF)
    spark.conf.set("spark.sql.session.timeZone", ZONE)  # abnb sets it on the sessions it builds
    try:
        con = connect_spark(spark, parquet=tmp_path, timezone=ZONE)
        got = spec.analyze(con, as_of=AS_OF)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert got.units == expected.units
    for column in NUMBERS:
        assert list(got.to_frame()[column]) == pytest.approx(list(expected.to_frame()[column]), rel=REL), column


@pytest.fixture(scope="module")
def raw_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capping/window dataset of tests/test_aggregate.py as Parquet files (microsecond timestamps)."""
    import duckdb

    from tests.test_aggregate import raw_frames

    out = tmp_path_factory.mktemp("raw_parquet")
    with duckdb.connect() as raw:
        for name, frame in raw_frames().items():
            raw.register("frame", frame)
            casts = "REPLACE (CAST(ts AS TIMESTAMP) AS ts)" if "ts" in frame.columns else ""
            raw.execute(f"COPY (SELECT * {casts} FROM frame) TO '{out}/{name}.parquet' (FORMAT parquet)")
            raw.unregister("frame")
    return out


def test_caps_windows_and_joint_moments_on_spark_equal_duckdb(spark: Any, raw_parquet: Path) -> None:
    """Quantile and fixed caps, conversion windows, covariates of other SQL and ratio CUPED sums: Spark = DuckDB."""
    from tests.test_aggregate import CAPPED_METRICS, RAW_AS_OF, RAW_SOURCE

    with abnb.connect(parquet=raw_parquet) as duck:
        expected = aggregate(duck, RAW_SOURCE, CAPPED_METRICS, ("country",), as_of=RAW_AS_OF)
    con = connect_spark(spark, parquet=raw_parquet)
    actual = aggregate(con, RAW_SOURCE, CAPPED_METRICS, ("country",), as_of=RAW_AS_OF)
    assert expected.caps["revenue"]["y"] > 0
    for name in ("units", "excluded_units", "overall", "segments", "joint", "joint_segments", "caps"):
        assert_same_results(getattr(expected, name), getattr(actual, name), name)
    assert actual.rows_fetched == expected.rows_fetched


def test_spark_sql_of_caps_and_windows(spark_con: SparkConnection) -> None:
    from tests.test_aggregate import CAPPED_METRICS, RAW_SOURCE

    query = for_dialect(build_query(RAW_SOURCE, CAPPED_METRICS, ("country",)), "spark")
    sql = spark_con.render(query)
    assert sql.count("PERCENTILE(") == 5  # exact, linear interpolation (not PERCENTILE_APPROX)
    assert "PERCENTILE_APPROX" not in sql
    assert "DATE_ADD(MICROSECOND, CAST(:window_0 AS BIGINT)" in sql
    for name in ("cap_1", "cap_quantile_0", "lookback_0_0", "window_3"):
        assert f":{name}" in sql
    assert "$" not in sql


# The driver of the standalone-cluster test: a fresh Python process (one SparkContext per process; the module's
# local session may be running in the test process). Arguments: master URL, Parquet folder, output file.
CLUSTER_DRIVER = """
import sys
from pyspark import cloudpickle
from pyspark.sql import SparkSession
import abnb

master, parquet, out = sys.argv[1:4]
session = (
    SparkSession.builder.master(master)
    .appName("abnb-cluster-test")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.driver.memory", "512m")
    .config("spark.executor.memory", "512m")
    .config("spark.executor.cores", "1")
    .config("spark.cores.max", "1")
    .config("spark.sql.shuffle.partitions", "2")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)
session.sparkContext.setLogLevel("ERROR")
try:
    con = abnb.connect(session, parquet=parquet)
    result = abnb.load("checkout_redesign").analyze(con)
    executors = session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # without the driver
    payload = {"result": result, "database": con.database, "executors": executors}
    with open(out, "wb") as file:
        file.write(cloudpickle.dumps(payload))  # cloudpickle: the effects hold interval closures
finally:
    session.stop()
"""
CLUSTER_START_SECONDS = 90
CLUSTER_DRIVER_SECONDS = 150


@dataclasses.dataclass(frozen=True)
class StandaloneCluster:
    """A Spark standalone master and one worker on loopback, with the files their logs go to."""

    master: str
    web_ui: str
    home: Path
    env: dict[str, str]

    def status(self) -> dict[str, Any]:
        """The master's state as its web UI serves it (``/json/``: workers, running and completed applications)."""
        with urllib.request.urlopen(f"{self.web_ui}/json/", timeout=5) as answer:
            state: dict[str, Any] = json.loads(answer.read())
        return state

    def logs(self, chars: int = 3000) -> str:
        """The tail of every log: master, worker, executors (under the worker's work folder) and the test's driver."""
        files = sorted(self.home.glob("*.log")) + sorted((self.home / "work").glob("*/*/std*"))
        return "\n".join(
            f"--- {path.relative_to(self.home)}:\n{path.read_text(errors='replace')[-chars:]}" for path in files
        )


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started (a worker's executors), by group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[StandaloneCluster]:
    """Start a standalone master and a 1-core, 1 GB worker from pyspark's own ``bin/spark-class``; stop both after."""
    spark_home = Path(pyspark.__file__).parent
    port, web_port, worker_web_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(tmp_path / "local"),
        "SPARK_CONF_DIR": str(tmp_path / "conf"),  # empty: no spark-defaults.conf of the machine
        "PYSPARK_PYTHON": sys.executable,
    }
    (tmp_path / "conf").mkdir()
    master = f"spark://127.0.0.1:{port}"
    cluster = StandaloneCluster(master, f"http://127.0.0.1:{web_port}", tmp_path, env)
    spark_class = str(spark_home / "bin" / "spark-class")
    commands = {
        "master": [
            *(spark_class, "org.apache.spark.deploy.master.Master"),
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web_port)),
        ],
        "worker": [
            *(spark_class, "org.apache.spark.deploy.worker.Worker", master),
            *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g", "--webui-port", str(worker_web_port)),
            *("--work-dir", str(tmp_path / "work")),
        ],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with (tmp_path / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                )
        deadline = time.monotonic() + CLUSTER_START_SECONDS
        workers = 0
        while workers < 1:
            if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                pytest.fail(f"no worker registered with {master} in {CLUSTER_START_SECONDS} s:\n{cluster.logs()}")
            time.sleep(0.5)
            with contextlib.suppress(OSError, ValueError):
                workers = int(cluster.status().get("aliveworkers", 0))
        yield cluster
    finally:
        for process in reversed(processes):
            _stop_group(process)


def test_spark_standalone_cluster_analysis_equals_duckdb(
    small_db: Path, parquet_dir: Path, spark_cluster: StandaloneCluster, tmp_path: Path
) -> None:
    """The analysis run by executors of a standalone cluster (not local mode) gives DuckDB's numbers to 1e-9."""
    out = tmp_path / "result.pickle"
    with (tmp_path / "driver.log").open("wb") as log:
        driver = subprocess.Popen(
            [sys.executable, "-c", CLUSTER_DRIVER, spark_cluster.master, str(parquet_dir), str(out)],
            cwd=Path(__file__).resolve().parents[1],
            env=spark_cluster.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = driver.wait(timeout=CLUSTER_DRIVER_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_group(driver)
    assert code == 0, f"the cluster's driver ended with {code}:\n{spark_cluster.logs()}"
    payload = pickle.loads(out.read_bytes())  # written just now by the driver above
    actual: abnb.ExperimentResult = payload["result"]
    assert payload["database"] == spark_cluster.master
    assert payload["executors"] == 1
    apps = spark_cluster.status()["completedapps"]
    assert [(app["name"], app["state"], app["cores"]) for app in apps] == [("abnb-cluster-test", "FINISHED", 1)]
    spec = abnb.load("checkout_redesign")
    with abnb.connect(small_db) as duck:
        expected = spec.analyze(duck)
    assert actual.units == expected.units
    assert sum(actual.units.values()) > 2_900
    for name in ("units", "excluded_units", "overall", "segments", "effects", "srm", "warnings", "as_of"):
        assert_same_results(getattr(expected, name), getattr(actual, name), name)
    assert actual.rows_fetched == expected.rows_fetched
    assert actual.decision.verdict == expected.decision.verdict
