from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from scipy import stats

import abnb.datasets.sample
from abnb.datasets.sample import GROUND_TRUTH, SampleSummary, generate
from abnb.datasets.schemas import SCHEMAS
from abnb.errors import ParameterError
from abnb.telemetry import check_table

SMALL = 20_000
LARGE = 200_000

CHECKSUMS = {
    "exposures": "SELECT count(*), sum(hash(experiment, unit, arm, ts, country, platform)) FROM exposures",
    "events": "SELECT count(*), sum(hash(unit, ts, event, value)) FROM events",
}

# Units whose exposures agree (the planted glitch units excluded) with their exposure time and arm.
CLEAN_UNITS = """
    SELECT unit, min(ts) AS exposed, min(arm) AS arm
    FROM exposures
    GROUP BY unit
    HAVING count(*) = 1
"""

PER_ARM = f"""
    WITH clean AS ({CLEAN_UNITS}),
    per_unit AS (
        SELECT
            c.unit,
            c.arm,
            count(e.unit) FILTER (WHERE e.event = 'purchase' AND e.ts >= c.exposed) AS post_purchases,
            coalesce(sum(e.value) FILTER (WHERE e.event = 'purchase' AND e.ts >= c.exposed), 0)
                AS post_revenue,
            count(e.unit) FILTER (WHERE e.event = 'session' AND e.ts >= c.exposed) AS post_sessions,
            count(e.unit) FILTER (WHERE e.event = 'page_view' AND e.ts >= c.exposed) AS post_page_views,
            count(e.unit) FILTER (WHERE e.event = 'purchase' AND e.ts < $start) AS pre_purchases,
            count(e.unit) FILTER (WHERE e.event = 'session' AND e.ts < $start) AS pre_sessions
        FROM clean AS c
        LEFT JOIN events AS e ON e.unit = c.unit
        GROUP BY c.unit, c.arm
    )
    SELECT
        arm,
        count(*) AS units,
        avg((post_purchases > 0)::INTEGER) AS conversion,
        avg(post_revenue) AS revenue,
        avg(post_sessions) AS sessions,
        avg(post_page_views) AS page_views,
        avg((pre_purchases > 0)::INTEGER) AS pre_conversion,
        avg(pre_sessions) AS pre_sessions,
        corr(pre_sessions, post_sessions) AS session_correlation
    FROM per_unit
    GROUP BY arm
"""


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def _checksums(path: Path) -> dict[str, tuple[Any, ...] | None]:
    with _open(path) as con:
        return {table: con.execute(sql).fetchone() for table, sql in CHECKSUMS.items()}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    return generate(tmp_path_factory.mktemp("small") / "telemetry.duckdb", users=SMALL, progress=False)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    started = time.perf_counter()
    summary = generate(tmp_path_factory.mktemp("large") / "telemetry.duckdb", users=LARGE, progress=False)
    print(
        f"\ngenerate(users={LARGE:,}): {time.perf_counter() - started:.2f} s, "
        f"{summary.rows['events']:,} events, {summary.path.stat().st_size / 2**20:.1f} MiB"
    )
    return summary


@pytest.fixture(scope="module")
def per_arm(large: SampleSummary) -> pd.DataFrame:
    with _open(large.path) as con:
        return con.execute(PER_ARM, {"start": GROUND_TRUTH.start}).df().set_index("arm")


def test_tables_match_the_schemas(small: SampleSummary) -> None:
    with _open(small.path) as con:
        for table, columns in SCHEMAS.items():
            assert check_table(con, table, [c for c, _ in columns]) == dict(columns)


def test_exposure_rows_are_users_plus_glitch_units(small: SampleSummary) -> None:
    assert small.users == SMALL
    assert small.rows["exposures"] == SMALL + small.glitch_units
    # Poisson(10) for 20 000 units at rate 0.0005: 1..25 covers all but ~1e-4 of seeds.
    assert 1 <= small.glitch_units <= 25
    with _open(small.path) as con:
        counts = con.execute("SELECT count(*), count(DISTINCT unit), min(unit), max(unit) FROM exposures")
        assert counts.fetchone() == (SMALL + small.glitch_units, SMALL, 1, SMALL)
        glitches = con.execute(
            """
            SELECT unit, count(*) AS n, count(DISTINCT arm) AS arms, max(ts) - min(ts) AS gap
            FROM exposures GROUP BY unit HAVING count(*) > 1
            """
        ).fetchall()
    assert len(glitches) == small.glitch_units
    assert {(n, arms, gap.total_seconds()) for _, n, arms, gap in glitches} == {(2, 2, 3600.0)}


def test_summary_row_counts_match_the_database(small: SampleSummary) -> None:
    checksums = _checksums(small.path)
    assert {table: value[0] for table, value in checksums.items() if value} == dict(small.rows)
    assert small.seed == 20261001
    assert small.to_frame()["rows"].tolist() == [small.rows["exposures"], small.rows["events"]]
    assert "events=" in repr(small)
    assert "<table" in small._repr_html_()


def test_same_seed_same_data_other_seed_other_data(small: SampleSummary, tmp_path: Path) -> None:
    again = generate(tmp_path / "again.duckdb", users=SMALL, progress=False)
    other = generate(tmp_path / "other.duckdb", users=SMALL, seed=7, progress=False)
    reference = _checksums(small.path)
    assert _checksums(again.path) == reference
    assert again.rows == small.rows
    different = _checksums(other.path)
    assert all(different[table] != reference[table] for table in CHECKSUMS)


def test_chunked_generation_is_deterministic(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.duckdb", users=7_000, chunk_size=1_000, progress=False)
    second = generate(tmp_path / "b.duckdb", users=7_000, chunk_size=1_000, progress=False)
    whole = generate(tmp_path / "c.duckdb", users=7_000, chunk_size=7_000, progress=False)
    assert _checksums(first.path) == _checksums(second.path)
    assert _checksums(first.path) != _checksums(whole.path)
    with _open(first.path) as con:
        assert con.execute("SELECT count(DISTINCT unit), max(unit) FROM exposures").fetchone() == (
            7_000,
            7_000,
        )


def test_arms_and_segments_follow_the_planned_shares(small: SampleSummary) -> None:
    truth = GROUND_TRUTH
    with _open(small.path) as con:
        clean = f"SELECT * FROM exposures WHERE unit IN (SELECT unit FROM ({CLEAN_UNITS}))"
        arms = dict(con.execute(f"SELECT arm, count(*) FROM ({clean}) GROUP BY arm").fetchall())
        countries = dict(con.execute(f"SELECT country, count(*) FROM ({clean}) GROUP BY country").fetchall())
        platforms = dict(con.execute(f"SELECT platform, count(*) FROM ({clean}) GROUP BY platform").fetchall())
        experiments = con.execute("SELECT DISTINCT experiment FROM exposures").fetchall()
    assert experiments == [("checkout_redesign",)]
    n = SMALL - small.glitch_units
    for observed, planned in (
        (arms, dict(zip(truth.arms, truth.weights, strict=True))),
        (countries, dict(truth.countries)),
        (platforms, dict(truth.platforms)),
    ):
        assert set(observed) == set(planned)
        counts = [observed[name] for name in planned]
        expected = [n * share for share in planned.values()]
        assert stats.chisquare(counts, expected).pvalue > 0.001


def test_exposure_times_fall_in_the_first_ten_days(small: SampleSummary) -> None:
    with _open(small.path) as con:
        low, high = con.execute(f"SELECT min(exposed), max(exposed) FROM ({CLEAN_UNITS})").fetchone() or ()
    last = GROUND_TRUTH.start + timedelta(days=GROUND_TRUTH.exposure_days)
    assert GROUND_TRUTH.start <= low < high < last


def test_events_lie_in_the_pre_period_or_after_first_exposure(small: SampleSummary) -> None:
    truth = GROUND_TRUTH
    with _open(small.path) as con:
        outside, orphans, total = con.execute(
            """
            WITH first AS (SELECT unit, min(ts) AS exposed FROM exposures GROUP BY unit)
            SELECT
                count(*) FILTER (WHERE NOT (
                    (e.ts >= $pre_start AND e.ts < $start) OR (e.ts >= f.exposed AND e.ts < $end)
                )),
                count(*) FILTER (WHERE f.unit IS NULL),
                count(*)
            FROM events AS e LEFT JOIN first AS f ON f.unit = e.unit
            """,
            {"pre_start": truth.pre_start, "start": truth.start, "end": truth.end},
        ).fetchone() or (None, None, None)
        pairs, sessions = con.execute(
            """
            SELECT
                (SELECT count(*) FROM events AS s JOIN events AS p
                   ON s.unit = p.unit AND s.ts = p.ts AND s.event = 'session' AND p.event = 'page_view'),
                (SELECT count(*) FROM events WHERE event = 'session')
            """
        ).fetchone() or (None, None)
        extremes = con.execute("SELECT event, min(value), max(value) FROM events GROUP BY event").fetchall()
    values = {row[0]: row[1:] for row in extremes}
    assert (outside, orphans) == (0, 0)
    assert total == small.rows["events"]
    # Every session has exactly one page_view row at the same ts.
    assert pairs == sessions
    assert sessions == pytest.approx(SMALL * (truth.pre_sessions_per_user + truth.post_sessions_per_user), rel=0.03)
    assert values["page_view"][0] >= 1
    assert float(values["page_view"][1]).is_integer()
    assert values["session"][0] > 0
    assert values["purchase"][0] > 0


def test_ground_truth_is_recovered(per_arm: pd.DataFrame, large: SampleSummary) -> None:
    control, treatment = per_arm.loc["control"], per_arm.loc["treatment"]
    assert control["units"] + treatment["units"] == LARGE - large.glitch_units
    # Goal metrics: control conversion 0.10, conversion and revenue lifts +10 %.
    assert control["conversion"] == pytest.approx(0.10, abs=0.004)
    assert treatment["conversion"] / control["conversion"] == pytest.approx(1.10, abs=0.06)
    assert treatment["revenue"] / control["revenue"] == pytest.approx(1.10, abs=0.10)
    assert control["revenue"] == pytest.approx(GROUND_TRUTH.control_revenue_per_user, rel=0.08)
    # Guardrails: no effect on sessions or page views.
    assert treatment["sessions"] / control["sessions"] == pytest.approx(1.00, abs=0.03)
    assert treatment["page_views"] / control["page_views"] == pytest.approx(1.00, abs=0.03)
    assert control["sessions"] == pytest.approx(GROUND_TRUTH.post_sessions_per_user, rel=0.03)
    # Pre-period: no treatment, and a covariate correlated with the outcome.
    assert treatment["pre_conversion"] / control["pre_conversion"] == pytest.approx(1.00, abs=0.06)
    assert control["pre_conversion"] == pytest.approx(0.10, abs=0.004)
    assert control["pre_sessions"] == pytest.approx(GROUND_TRUTH.pre_sessions_per_user, rel=0.03)
    assert min(control["session_correlation"], treatment["session_correlation"]) > 0.3


def test_glitch_count_is_about_the_planted_rate(large: SampleSummary) -> None:
    expected = GROUND_TRUTH.expected_glitch_units(LARGE)
    assert expected == pytest.approx(100)
    assert abs(large.glitch_units - expected) < 4 * expected**0.5


def test_failed_generate_leaves_the_existing_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "telemetry.duckdb"
    before = generate(path, users=2_000, progress=False)
    digest = _digest(path)
    calls: list[str] = []
    original = abnb.datasets.sample._insert

    def failing_insert(connection: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
        calls.append(table)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        original(connection, table, frame)

    monkeypatch.setattr(abnb.datasets.sample, "_insert", failing_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(path, users=5_000, chunk_size=1_000, seed=1, progress=False)
    assert calls == ["exposures", "events", "exposures"]
    assert _digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["telemetry.duckdb"]
    with _open(path) as con:
        assert con.execute("SELECT count(*) FROM exposures").fetchone() == (before.rows["exposures"],)


def test_failed_first_generate_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_insert(connection: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(abnb.datasets.sample, "_insert", failing_insert)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "data" / "telemetry.duckdb", users=100, progress=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_generate_creates_parents_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "telemetry.duckdb"
    first = generate(str(path), users=500, progress=False)
    assert first.path == path
    assert path.exists()
    second = generate(path, users=800, progress=False)
    assert second.rows["exposures"] == 800 + second.glitch_units
    with _open(path) as con:
        assert con.execute("SELECT count(*) FROM exposures").fetchone() == (second.rows["exposures"],)
    assert sorted(p.name for p in path.parent.iterdir()) == ["telemetry.duckdb"]


def test_progress_false_is_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(tmp_path / "quiet.duckdb", users=100, progress=False)
    assert capsys.readouterr() == ("", "")
    generate(tmp_path / "loud.duckdb", users=100, progress=True)
    assert "100/100" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argument", "value"), [("users", 0), ("chunk_size", 0), ("seed", -1), ("users", 2.5), ("users", True)]
)
def test_bad_parameters_are_rejected(tmp_path: Path, argument: str, value: object) -> None:
    with pytest.raises(ParameterError, match=argument):
        generate(tmp_path / "x.duckdb", progress=False, **{argument: value})  # type: ignore[arg-type]
    assert not (tmp_path / "x.duckdb").exists()


def test_generation_removes_the_temporaries_of_killed_runs_only(tmp_path: Path) -> None:
    import os
    import time

    from abnb.datasets.sample import STALE_SECONDS

    target = tmp_path / "t.duckdb"
    stale, fresh = tmp_path / ".t.duckdb.dead00000000.tmp", tmp_path / ".t.duckdb.live00000000.tmp"
    for leftover in (stale, fresh, tmp_path / ".t.duckdb.dead00000000.tmp.wal"):
        leftover.write_bytes(b"partial")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(tmp_path / ".t.duckdb.dead00000000.tmp.wal", (old, old))
    generate(target, users=200, progress=False)
    assert not stale.exists()
    assert not (tmp_path / ".t.duckdb.dead00000000.tmp.wal").exists()
    assert fresh.exists()  # may belong to a generation running right now
    assert target.exists()
