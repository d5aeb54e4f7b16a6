"""Hostile pass (issue 15): time zones, offsets, timestamp types and invisibly different arm names.

Cases W1, C9, D3 and D4 of docs/reliability.md ("hostile pass" section). Each asserts the numbers of an independent
computation or a message that names the table, column or arm and the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats as sps

from abnb.errors import DataError, SchemaError
from abnb.experiment import Experiment
from abnb.metrics import Metric, Sql

REVENUE = Metric("revenue", Sql("SELECT unit, ts, value FROM events"))

ANALYZE = """
import json, sys
import abnb
from abnb.experiment import Experiment
from abnb.metrics import Metric, Sql
spec = Experiment(name="t", metrics=(Metric("revenue", Sql("SELECT unit, ts, value FROM events")),),
                  start="2026-10-01", end="2026-10-20")
with abnb.connect(sys.argv[1]) as con:
    effect = spec.analyze(con, as_of=sys.argv[2]).effect("revenue")
print(json.dumps([effect.control.n, effect.treatment.n, effect.absolute.pvalue]))
"""


def _tz_database(path: Path) -> None:
    """400 units exposed from 02:00 UTC on 1 October, one minute apart; every event at 20:00 UTC on 14 October."""
    raw = duckdb.connect(str(path))
    raw.execute("CREATE TABLE exposures (experiment VARCHAR, unit BIGINT, arm VARCHAR, ts TIMESTAMPTZ)")
    raw.execute("CREATE TABLE events (unit BIGINT, ts TIMESTAMPTZ, event VARCHAR, value DOUBLE)")
    raw.execute(
        "INSERT INTO exposures SELECT 't', i, CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treatment' END, "
        "TIMESTAMPTZ '2026-10-01 02:00:00+00' + i * INTERVAL 1 MINUTE FROM range(400) r(i)"
    )
    raw.execute(
        "INSERT INTO events SELECT i, TIMESTAMPTZ '2026-10-14 20:00:00+00', 'e', (i % 2) + (i % 7) * 0.1 "
        "FROM range(400) r(i)"
    )
    raw.close()


def _reference() -> float:
    values = np.array([(i % 2) + (i % 7) * 0.1 for i in range(400)])
    return float(sps.ttest_ind(values[1::2], values[0::2], equal_var=False).pvalue)


def _assert_same_under_zones(folder: Path, zones: tuple[str, ...], script: str, database: str) -> None:
    """``script DATABASE 2026-10-14 STORE`` prints the same counts and p under every ``TZ``: 200/200 units and
    Welch's p of scipy (each zone gets a store of its own)."""
    seen = set()
    for zone in zones:
        out = subprocess.run(
            [sys.executable, "-c", script, database, "2026-10-14", str(folder / f"{zone.replace('/', '_')}.store")],
            capture_output=True, text=True, env={**os.environ, "TZ": zone}, cwd=folder, check=True,
        )  # fmt: skip
        seen.add(out.stdout.strip())
    assert len(seen) == 1
    n_control, n_treatment, pvalue = json.loads(seen.pop())
    assert (n_control, n_treatment) == (200, 200)
    assert pvalue == pytest.approx(_reference(), rel=1e-9)


def test_w1_timestamptz_results_do_not_depend_on_the_process_time_zone(tmp_path: Path) -> None:
    """Before: 200/200 units under TZ=UTC, 50/50 under Los Angeles, an error under Tokyo (the session took the
    host's zone). Now the session's zone is the project's (UTC here), whatever TZ the process has."""
    database = tmp_path / "tz.duckdb"
    _tz_database(database)
    _assert_same_under_zones(
        tmp_path, ("UTC", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"), ANALYZE, str(database)
    )


INCREMENTAL = """
import json, sys
from abnb import incremental
from abnb.experiment import Experiment
from abnb.metrics import Metric, Sql
spec = Experiment(name="t", metrics=(Metric("revenue", Sql("SELECT unit, ts, value FROM events")),),
                  start="2026-10-01", end="2026-10-20")
effect = incremental.analyze(spec, sys.argv[3], database=sys.argv[1], as_of=sys.argv[2]).effect("revenue")
print(json.dumps([effect.control.n, effect.treatment.n, effect.absolute.pvalue]))
"""


def test_w1_the_incremental_store_does_not_depend_on_the_process_time_zone(tmp_path: Path) -> None:
    """The store's session took the host's zone too (found after the hostile pass): under TZ=Asia/Tokyo the
    cutoff fell 9 hours earlier. Now it has the project's zone; one store per TZ, same numbers as the full scan."""
    database = tmp_path / "tz.duckdb"
    _tz_database(database)
    _assert_same_under_zones(tmp_path, ("UTC", "America/Los_Angeles", "Asia/Tokyo"), INCREMENTAL, str(database))


def test_w1_a_start_with_an_offset_is_the_same_instant_in_any_project_zone(tmp_path: Path) -> None:
    """A spec's start with an offset was turned into UTC wall-clock time and then read in the project's zone
    (Tokyo: nine hours early, so every unit counted). Now it is converted to the connection's zone: 05:20+00 is
    14:20 in Tokyo, and both spellings keep units 200–399, exposed from 05:20 UTC on."""
    import abnb

    database = tmp_path / "tz.duckdb"
    _tz_database(database)

    def units(start: str) -> tuple[int, int]:
        spec = Experiment(name="t", metrics=(REVENUE,), start=start, end="2026-10-20")
        with abnb.connect(database, timezone="Asia/Tokyo") as con:
            effect = spec.analyze(con, as_of="2026-10-16").effect("revenue")
        return effect.control.n, effect.treatment.n

    assert units("2026-10-01T02:00:00+00:00") == units("2026-10-01T11:00:00") == (200, 200)
    assert units("2026-10-01T05:20:00+00:00") == units("2026-10-01T14:20:00") == (100, 100)  # from unit 200 on
    assert Experiment(name="t", metrics=(REVENUE,), start="2026-10-01T05:20:00+00:00").window("Asia/Tokyo")[0] == (
        datetime(2026, 10, 1, 14, 20)
    )


def test_c9_an_as_of_with_an_offset_is_the_same_instant(tmp_path: Path) -> None:
    """Before: "can't compare offset-naive and offset-aware datetimes" in cell 3. Now 2026-10-15T01:00+02:00 is
    23:00 UTC on the 14th: the events at 20:00 UTC are in, exactly as with the naive day."""
    database = tmp_path / "tz.duckdb"
    _tz_database(database)
    results = {
        as_of: subprocess.run(
            [sys.executable, "-c", ANALYZE, str(database), as_of],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        ).stdout.strip()
        for as_of in ("2026-10-14", "2026-10-15T01:00:00+02:00")
    }
    first, second = results.values()
    assert json.loads(first)[:2] == json.loads(second)[:2] == [200, 200]


@pytest.mark.parametrize(("column_type", "value"), [("VARCHAR", "'2026-10-02 00:00:00'"), ("BIGINT", "1790000000")])
def test_d3_a_ts_column_that_is_not_a_time_names_table_column_and_fix(column_type: str, value: str) -> None:
    raw = duckdb.connect()
    raw.execute(f"CREATE TABLE exposures (experiment VARCHAR, unit BIGINT, arm VARCHAR, ts {column_type})")
    raw.execute("CREATE TABLE events (unit BIGINT, ts TIMESTAMP, event VARCHAR, value DOUBLE)")
    raw.execute(
        "INSERT INTO exposures SELECT 't', i, CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treatment' END, "
        f"{value} FROM range(20) r(i)"
    )
    spec = Experiment(name="t", metrics=(REVENUE,), start="2026-10-01", end="2026-10-10")
    with pytest.raises(SchemaError) as caught:
        spec.analyze(raw, as_of="2026-10-05")
    message = str(caught.value)
    assert "column 'ts' of exposures table 'exposures'" in message
    assert f"has type {column_type}" in message
    assert "to_timestamp(ts) AS ts" in message
    assert '[exposures] ts = "<column>"' in message


@pytest.mark.parametrize(
    ("logged_control", "logged_treatment", "shown"),
    [
        ("contrôle", "treatment ", "'treatment' is logged as 'treatment '"),
        ("contrôle", "Treatment", "'treatment' is logged as 'Treatment'"),
        ("contro\u0302le", "treatment", "'contrôle' is logged as 'contro\u0302le'"),
    ],
    ids=["trailing-space", "case", "nfd"],
)
def test_d4_invisibly_different_arm_names_are_quoted_and_named(
    logged_control: str, logged_treatment: str, shown: str
) -> None:
    """Before: "arms found: contrôle, treatment ." — both spellings looked alike. Now every name is quoted and the
    near miss is named."""
    raw = duckdb.connect()
    raw.execute("CREATE TABLE exposures (experiment VARCHAR, unit BIGINT, arm VARCHAR, ts TIMESTAMP)")
    raw.execute("CREATE TABLE events (unit BIGINT, ts TIMESTAMP, event VARCHAR, value DOUBLE)")
    raw.execute(
        "INSERT INTO exposures SELECT 't', i, CASE WHEN i % 2 = 0 THEN ? ELSE ? END, TIMESTAMP '2026-10-02' "
        "FROM range(20) r(i)",
        [logged_control, logged_treatment],
    )
    spec = Experiment(
        name="t",
        arms=("contrôle", "treatment"),
        control="contrôle",
        metrics=(REVENUE,),
        start="2026-10-01",
        end="2026-10-10",
    )
    with pytest.raises(DataError) as caught:
        spec.analyze(raw, as_of="2026-10-05")
    message = str(caught.value)
    assert shown in message
    assert repr(logged_treatment) in message
    assert repr(logged_control) in message
    assert "case, spaces or Unicode normalisation" in message
