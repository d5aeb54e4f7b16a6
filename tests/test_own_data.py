"""A team's own telemetry, brought every way abnb supports, gives the same numbers every way.

The dataset is unlike the sample on purpose: other table and column names (``assignments``/``orders``,
``user_id``, ``variant``, ``assigned_at`` ...), string units (``"u-00042"``), string arms (``"A"``/``"B"``),
time-zone-aware timestamps with several offsets, a DECIMAL amount, and a second experiment in the same table. The
project's zone is Europe/Berlin, so "through 2026-10-12" ends at midnight in Berlin.

Ways: a DuckDB file; Parquet and CSV files declared as ``[sources]`` (views); ``abnb data import``; pandas frames
(``analyze`` on a mapping) and Arrow frames (``abnb.connect(frames=...)``); TEMP tables; views; schema-qualified
tables. Spark reads the same Parquet files in ``tests/test_spark.py``. The numbers are also checked against an
independent computation (pandas per-unit values, scipy's Welch test, statsmodels' Wald z-test) to 1e-9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import abnb
from abnb.cli import main
from abnb.experiment import Experiment, ExperimentResult
from abnb.project import Project

ZONE = "Europe/Berlin"
AS_OF = "2026-10-12"  # data through that day, in Berlin
SPEC: dict[str, Any] = {
    "name": "checkout_v2",
    "description": "Express checkout for returning customers.",
    "arms": ["A", "B"],
    "control": "A",
    "start": "2026-10-01T00:00:00",
    "end": "2026-10-15T00:00:00",
    "segments": ["device"],
    "exposures": {
        "table": "assignments",
        "unit": "user_id",
        "arm": "variant",
        "ts": "assigned_at",
        "experiment_column": "test_name",
    },
    "metrics": [
        {
            "name": "purchase",
            "kind": "proportion",
            "sql": "SELECT customer AS unit, placed_at AS ts, 1 AS value FROM orders",
        },
        {
            "name": "revenue",
            "kind": "mean",
            "role": "guardrail",
            "sql": "SELECT customer AS unit, placed_at AS ts, amount_eur AS value FROM orders",
            "covariate_days": 7,
        },
    ],
}
NUMBERS = ["control_mean", "treatment_mean", "estimate", "ci_low", "ci_high", "pvalue", "rel_estimate", "rel_ci_low"]


@dataclass(frozen=True)
class OwnData:
    """The dataset as frames and as files."""

    assignments: pd.DataFrame
    orders: pd.DataFrame
    folder: Path

    @property
    def database(self) -> Path:
        return self.folder / "shop.duckdb"


def _frames(seed: int = 13, users: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-10-01", tz=ZONE)
    ids = np.array([f"u-{i:05d}" for i in range(users)])
    variant = np.where(rng.random(users) < 0.5, "A", "B")
    assigned = start + pd.to_timedelta(rng.uniform(0, 11 * 24, users), unit="h")
    offsets = ["UTC", ZONE, "America/New_York", "Asia/Tokyo"]  # the same instants written in several zones
    assignments = pd.DataFrame(
        {
            "user_id": ids,
            "variant": variant,
            "assigned_at": assigned,
            "test_name": "checkout_v2",
            "device": rng.choice(["ios", "android", "web"], users, p=[0.4, 0.4, 0.2]),
        }
    )
    other = assignments.sample(300, random_state=1).assign(test_name="search_ranking", variant="C")
    assignments = pd.concat([assignments, other], ignore_index=True)
    rows = []
    for uid, arm, at in zip(ids, variant, assigned, strict=True):
        p = 0.10 if arm == "A" else 0.13
        if rng.random() < p:
            for _ in range(1 + rng.poisson(0.3)):
                rows.append((uid, at + pd.Timedelta(hours=float(rng.uniform(0, 120))), rng.lognormal(3.5, 0.8)))
        if rng.random() < 0.08:  # a pre-period order: the covariate's data, never counted as an outcome
            rows.append((uid, at - pd.Timedelta(hours=float(rng.uniform(1, 150))), rng.lognormal(3.5, 0.8)))
    orders = pd.DataFrame(rows, columns=["customer", "placed_at", "amount_eur"])
    orders["amount_eur"] = orders["amount_eur"].round(2)
    orders["placed_at"] = [t.tz_convert(offsets[i % 4]) for i, t in enumerate(orders["placed_at"])]
    orders["placed_at"] = pd.to_datetime(orders["placed_at"].map(lambda t: t.isoformat()), format="ISO8601", utc=True)
    return assignments, orders


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> OwnData:
    folder = tmp_path_factory.mktemp("own")
    assignments, orders = _frames()
    data = OwnData(assignments, orders, folder)
    with duckdb.connect(str(data.database)) as raw:
        raw.execute("SET TimeZone = 'UTC'")
        raw.register("a", assignments)
        raw.register("o", orders)
        raw.execute("CREATE TABLE assignments AS SELECT * FROM a")
        raw.execute(
            "CREATE TABLE orders AS SELECT customer, placed_at, CAST(amount_eur AS DECIMAL(10, 2)) AS amount_eur FROM o"
        )
        (folder / "pq" / "orders").mkdir(parents=True)
        raw.execute(f"COPY assignments TO '{folder}/pq/assignments.parquet' (FORMAT parquet)")
        half = len(orders) // 2
        raw.execute(f"COPY (SELECT * FROM o LIMIT {half}) TO '{folder}/pq/orders/part-0.parquet' (FORMAT parquet)")
        raw.execute(f"COPY (SELECT * FROM o OFFSET {half}) TO '{folder}/pq/orders/part-1.parquet' (FORMAT parquet)")
    (folder / "csv").mkdir()
    csv_assignments = assignments.assign(assigned_at=assignments["assigned_at"].map(lambda t: t.isoformat()))
    csv_orders = orders.assign(
        placed_at=[t.tz_convert(["UTC", "Asia/Tokyo"][i % 2]).isoformat() for i, t in enumerate(orders["placed_at"])]
    )
    csv_assignments.to_csv(folder / "csv" / "assignments.csv", index=False)
    csv_orders.to_csv(folder / "csv" / "orders.csv", index=False)
    return data


def _project(root: Path, text: str) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "abnb.toml").write_text(f'schema_version = 1\ntimezone = "{ZONE}"\n[project]\nname = "shop"\n{text}')
    return Project.load(root)


def _spec(**changes: Any) -> Experiment:
    return Experiment.from_dict({**SPEC, **changes})


def _qualified() -> Experiment:
    metrics = [{**m, "sql": m["sql"].replace("FROM orders", "FROM analytics.orders")} for m in SPEC["metrics"]]
    return _spec(exposures={**SPEC["exposures"], "table": "analytics.assignments"}, metrics=metrics)


def _in_memory(setup: Callable[[duckdb.DuckDBPyConnection], None], spec: Experiment) -> ExperimentResult:
    own_tables = _frames()
    with abnb.connect(":memory:", timezone=ZONE) as con:
        con.raw.register("a_frame", own_tables[0])
        con.raw.register("o_frame", own_tables[1])
        setup(con.raw)
        return spec.analyze(con, as_of=AS_OF)


WAYS: dict[str, Callable[[OwnData, Path], ExperimentResult]] = {
    "duckdb_file": lambda own, tmp: _analyze(_project(tmp, f'[engine]\ndatabase = "{own.database}"\n')),
    "parquet_sources": lambda own, tmp: _analyze(
        _project(
            tmp,
            f'[sources]\nassignments = "{own.folder}/pq/assignments.parquet"\norders = "{own.folder}/pq/orders"\n',
        )
    ),
    "csv_sources": lambda own, tmp: _analyze(
        _project(
            tmp,
            f'[sources]\nassignments = "{own.folder}/csv/assignments.csv"\n'
            f'orders = {{ path = "{own.folder}/csv/orders.csv", format = "csv" }}\n',
        )
    ),
    "data_import": lambda own, tmp: _imported(own, tmp),
    "pandas_frames": lambda own, tmp: _pandas(own, tmp),
    "arrow_frames": lambda own, tmp: _arrow(own),
    "temp_tables": lambda own, tmp: _in_memory(
        lambda raw: raw.execute(
            "CREATE TEMP TABLE assignments AS SELECT * FROM a_frame; CREATE TEMP TABLE orders AS SELECT * FROM o_frame"
        ),
        _spec(),
    ),
    "views": lambda own, tmp: _in_memory(
        lambda raw: raw.execute(
            "CREATE TABLE raw_a AS SELECT * FROM a_frame; CREATE TABLE raw_o AS SELECT * FROM o_frame;"
            "CREATE VIEW assignments AS SELECT * FROM raw_a; CREATE VIEW orders AS SELECT * FROM raw_o"
        ),
        _spec(),
    ),
    "schema_qualified": lambda own, tmp: _in_memory(
        lambda raw: raw.execute(
            "CREATE SCHEMA analytics; CREATE TABLE analytics.assignments AS SELECT * FROM a_frame;"
            "CREATE TABLE analytics.orders AS SELECT * FROM o_frame"
        ),
        _qualified(),
    ),
}


def _analyze(project: Project) -> ExperimentResult:
    with project.connect() as con:
        assert con.timezone == ZONE
        return _spec().analyze(con, as_of=AS_OF)


def _imported(own: OwnData, tmp: Path) -> ExperimentResult:
    project = _project(tmp, '[engine]\ndatabase = "data/imported.duckdb"\n')
    (tmp / "data").mkdir()
    runner = CliRunner()
    for table in ("assignments", "orders"):
        result = runner.invoke(
            main, ["--project", str(tmp), "data", "import", str(own.folder / "csv" / f"{table}.csv"), "--table", table]
        )
        assert result.exit_code == 0, result.output
        assert f"into {table} of {tmp / 'data' / 'imported.duckdb'}" in result.output
    again = runner.invoke(
        main, ["--project", str(tmp), "data", "import", str(own.folder / "csv" / "orders.csv"), "--table", "orders"]
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "--replace" in again.output
    return _analyze(project)


def _pandas(own: OwnData, tmp: Path) -> ExperimentResult:
    """``analyze`` on a mapping of frames, run inside the project (its zone is the session's)."""
    _project(tmp, "")
    here = Path.cwd()
    os.chdir(tmp)
    try:
        return _spec().analyze({"assignments": own.assignments, "orders": own.orders}, as_of=AS_OF)
    finally:
        os.chdir(here)


def _arrow(own: OwnData) -> ExperimentResult:
    import pyarrow as pa

    frames = {"assignments": pa.Table.from_pandas(own.assignments), "orders": pa.Table.from_pandas(own.orders)}
    with abnb.connect(frames=frames, timezone=ZONE) as con:
        assert con.database == "in-memory DuckDB over assignments, orders"
        return _spec().analyze(con, as_of=AS_OF)


@pytest.fixture(scope="module")
def reference(own: OwnData, tmp_path_factory: pytest.TempPathFactory) -> ExperimentResult:
    return WAYS["duckdb_file"](own, tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize("way", [w for w in WAYS if w != "duckdb_file"])
def test_every_way_gives_the_same_numbers(way: str, own: OwnData, reference: ExperimentResult, tmp_path: Path) -> None:
    result = WAYS[way](own, tmp_path)
    assert result.units == reference.units
    assert result.label == reference.label
    expected, got = reference.to_frame(), result.to_frame()
    assert list(got["metric"]) == list(expected["metric"])
    for column in NUMBERS:
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-9, atol=1e-12, err_msg=f"{way}: {column}")
    assert result.segments_frame()["level"].tolist() == reference.segments_frame()["level"].tolist()


def test_the_numbers_match_an_independent_computation(own: OwnData, reference: ExperimentResult) -> None:
    """Per-unit values in pandas from the raw frames, then scipy's Welch test and statsmodels' Wald z-test."""
    from scipy import stats
    from statsmodels.stats.proportion import test_proportions_2indep

    cutoff = pd.Timestamp(AS_OF, tz=ZONE) + pd.Timedelta(days=1)
    exposed = own.assignments[own.assignments["test_name"] == "checkout_v2"]
    exposed = exposed[exposed["assigned_at"] < cutoff]
    orders = own.orders.merge(exposed[["user_id", "assigned_at"]], left_on="customer", right_on="user_id")
    after = orders[(orders["placed_at"] >= orders["assigned_at"]) & (orders["placed_at"] < cutoff)]
    revenue = exposed.set_index("user_id")["variant"].to_frame().join(after.groupby("customer")["amount_eur"].sum())
    revenue = revenue.fillna({"amount_eur": 0.0})
    a, b = (revenue.loc[revenue["variant"] == arm, "amount_eur"].to_numpy() for arm in ("A", "B"))
    assert reference.units == {"A": len(a), "B": len(b)}
    welch = stats.ttest_ind(b, a, equal_var=False)
    effect = reference.effect("revenue", "B").absolute
    assert effect.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert effect.pvalue == pytest.approx(welch.pvalue, rel=1e-6)
    bought_a, bought_b = int((a > 0).sum()), int((b > 0).sum())
    z = test_proportions_2indep(bought_b, len(b), bought_a, len(a), method="wald", compare="diff")
    purchase = reference.effect("purchase", "B").absolute
    assert purchase.estimate == pytest.approx(bought_b / len(b) - bought_a / len(a), rel=1e-9)
    assert purchase.pvalue == pytest.approx(z.pvalue, rel=1e-6)


def test_start_and_cutoff_are_wall_clock_times_of_the_project_zone(own: OwnData, tmp_path: Path) -> None:
    """Naive start and as_of are read in the project's zone: in Berlin and in UTC they are other instants."""
    project = _project(tmp_path, f'[engine]\ndatabase = "{own.database}"\n')
    with project.connect() as con:
        berlin = _spec().analyze(con, as_of="2026-10-05")
    with abnb.connect(own.database, timezone="UTC") as con:
        utc = _spec().analyze(con, as_of="2026-10-05")
    assert berlin.as_of == utc.as_of  # the same wall-clock cutoff, 2026-10-06 00:00, in two zones
    exposed = own.assignments[own.assignments["test_name"] == "checkout_v2"]
    for zone, result in ((ZONE, berlin), ("UTC", utc)):
        start, cutoff = pd.Timestamp("2026-10-01", tz=zone), pd.Timestamp("2026-10-06", tz=zone)
        window = exposed[(exposed["assigned_at"] >= start) & (exposed["assigned_at"] < cutoff)]
        assert result.units == window["variant"].value_counts().sort_index().to_dict(), zone
    assert berlin.units != utc.units


def test_an_as_of_with_an_offset_means_the_same_instant(own: OwnData, tmp_path: Path) -> None:
    project = _project(tmp_path, f'[engine]\ndatabase = "{own.database}"\n')
    with project.connect() as con:
        plain = _spec().analyze(con, as_of="2026-10-12T18:00:00")  # Berlin wall clock
        offset = _spec().analyze(con, as_of="2026-10-12T16:00:00+00:00")  # the same instant in UTC
    assert plain.as_of == offset.as_of
    assert plain.units == offset.units


SCRIPT = """
import json, sys, abnb
from abnb.experiment import Experiment
spec = Experiment.from_dict(json.loads(sys.argv[2]))
with abnb.connect(sys.argv[1], timezone=sys.argv[3]) as con:
    print(json.dumps(spec.analyze(con, as_of=sys.argv[4]).summary(), default=str))
"""


def test_the_process_time_zone_changes_nothing(own: OwnData) -> None:
    """The hostile pass's W1: TZ=America/Los_Angeles used to drop 3/4 of the units; the session zone is now set."""
    summaries = []
    for zone in ("UTC", "America/Los_Angeles", "Asia/Tokyo"):
        env = {**os.environ, "TZ": zone}
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(own.database), json.dumps(SPEC), ZONE, AS_OF],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        summaries.append(json.loads(run.stdout))
    first, *others = summaries
    for other in others:  # the same units and cutoff; the numbers equal up to the last bits of DuckDB's sums
        assert (other["units"], other["cutoff"]) == (first["units"], first["cutoff"])
        for mine, theirs in zip(other["effects"], first["effects"], strict=True):
            for column in NUMBERS:
                assert mine[column] == pytest.approx(theirs[column], rel=1e-9)


@pytest.fixture
def csv_project(own: OwnData, tmp_path: Path) -> Path:
    """A project made with `abnb init`, reading the CSV files as sources, with the own experiment's spec."""
    root = tmp_path / "shop"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    text = (root / "abnb.toml").read_text()
    text = text.replace('timezone = "UTC"', f'timezone = "{ZONE}"').replace(
        'database = "data/telemetry.duckdb"', "# no database: the sources are the data"
    )
    text = text.replace(
        "[sources]\n",
        f'[sources]\nassignments = "{own.folder}/csv/assignments.csv"\norders = "{own.folder}/csv/orders.csv"\n',
    )
    (root / "abnb.toml").write_text(text)
    (root / "experiments" / "checkout_redesign.toml").unlink()  # the sample's example; this team has its own
    (root / "experiments" / "checkout_v2.toml").write_text(_toml(SPEC))
    return root


def _toml(spec: dict[str, Any]) -> str:
    lines = []
    for key, value in spec.items():
        if key in ("exposures", "metrics"):
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    lines.append("[exposures]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in spec["exposures"].items()]
    for metric in spec["metrics"]:
        lines.append("[[metrics]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in metric.items()]
    return (
        "\n".join(lines)
        .replace('"2026-10-01T00:00:00"', "2026-10-01T00:00:00")
        .replace('"2026-10-15T00:00:00"', "2026-10-15T00:00:00")
        + "\n"
    )


def test_validate_then_fail_fast_on_own_data(csv_project: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["--project", str(csv_project), "validate", "--all"])
    assert ok.exit_code == 0, ok.output
    assert "checkout_v2: ok (in-memory DuckDB over assignments, orders;" in ok.output
    assert "data through 2026-10-14" in ok.output  # the last order is on the 14th (Berlin)
    late = runner.invoke(main, ["--project", str(csv_project), "validate", "checkout_v2", "--as-of", "2026-11-01"])
    assert late.exit_code == 1
    assert "past the last day with data, 2026-10-16" in late.output  # orders come up to 5 days after assignment
    spec = (csv_project / "experiments" / "checkout_v2.toml").read_text()
    (csv_project / "experiments" / "checkout_v2.toml").write_text(spec.replace('"device"', '"country"'))
    bad = runner.invoke(main, ["--project", str(csv_project), "validate", "checkout_v2"])
    assert bad.exit_code == 1
    assert "lacks column 'country'" in bad.output
    assert "drop segment 'country'" in bad.output


@pytest.mark.slow
def test_report_on_own_data_names_its_experiment(csv_project: Path, reference: ExperimentResult) -> None:
    """`abnb report` from the project folder: validated, rendered, and the same numbers as the Python API."""
    abnb_command = Path(sys.executable).with_name("abnb")
    run = subprocess.run(
        [str(abnb_command), "report", "checkout_v2", "--as-of", AS_OF],
        cwd=csv_project / "experiments",  # any folder inside the project
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("ABNB_DATABASE", "ABNB_PROJECT")},
    )
    assert run.returncode == 0, run.stderr
    html = Path(run.stdout.strip())
    assert html == csv_project / "reports" / "checkout_v2" / f"{AS_OF}.html"
    page = html.read_text()
    assert "<title>checkout_v2 — data through 2026-10-12</title>" in page
    assert "Express checkout for returning customers." in page
    summary = json.loads((html.parent / "summary.json").read_text())
    assert summary["schema_version"] == 1
    assert summary["units"] == reference.units
    expected = {(e["metric"], e["arm"]): e for e in reference.summary()["effects"]}
    for effect in summary["effects"]:
        for column in NUMBERS:
            assert effect[column] == pytest.approx(expected[effect["metric"], effect["arm"]][column], rel=1e-9)
    notebook = json.loads((html.parent / f"{AS_OF}.ipynb").read_text())
    assert notebook["metadata"]["abnb"]["version"] == abnb.__version__
    assert notebook["metadata"]["abnb"]["template"].endswith("abnb/notebooks/experiment_report.ipynb")
