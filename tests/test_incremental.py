"""Incremental store: daily refreshes give the full analysis' numbers and read only the new window."""

from __future__ import annotations

import dataclasses
import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

import abnb
import abnb.incremental as incremental
from abnb.datasets.sample import generate
from abnb.errors import EngineError, ParameterError, SpecError
from abnb.experiment import ExperimentResult
from abnb.incremental import Store
from abnb.stats import Moments, RatioMoments

TOL = 1e-9


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample at 5,000 users: exposures 2026-10-01 … 10-10, events 2026-09-17 … 10-14."""
    path = tmp_path_factory.mktemp("incremental") / "t.duckdb"
    generate(path, users=5000, progress=False)
    return path


@pytest.fixture(scope="module")
def spec() -> abnb.Experiment:
    return abnb.load("checkout_redesign")


def _close(a: float | None, b: float | None, what: str) -> None:
    if a is None or b is None:
        assert a is None, what
        assert b is None, what
        return
    if math.isnan(a) or math.isnan(b):
        assert math.isnan(a), what
        assert math.isnan(b), what
        return
    assert a == pytest.approx(b, rel=TOL, abs=TOL), what


def _same_stats(a: Moments | RatioMoments, b: Moments | RatioMoments, what: str) -> None:
    assert type(a) is type(b), what
    assert a.n == b.n, what
    if isinstance(a, RatioMoments) and isinstance(b, RatioMoments):
        for name in ("y_sum", "y_sum_sq", "d_sum", "d_sum_sq", "yd_sum"):
            _close(getattr(a, name), getattr(b, name), f"{what} {name}")
        return
    assert isinstance(a, Moments)
    assert isinstance(b, Moments)
    names = ["mean"] + (["variance"] if a.n > 1 else [])
    if a.x_sum is not None and a.n > 1:
        names += ["x_mean", "x_variance", "covariance"]
    for name in names:
        _close(getattr(a, name), getattr(b, name), f"{what} {name}")


def assert_same_result(got: ExperimentResult, expected: ExperimentResult) -> None:
    """Every effect number (estimates, SEs, p-values, CIs of all panels) and every Moments, segments included."""
    assert got.experiment is expected.experiment or got.experiment == expected.experiment
    assert got.as_of == expected.as_of
    assert got.label == expected.label
    assert got.units == expected.units
    assert got.excluded_units == expected.excluded_units
    _close(got.srm.pvalue, expected.srm.pvalue, "srm")
    frame, want = got.to_frame(), expected.to_frame()
    assert list(frame.columns) == list(want.columns)
    assert len(frame) == len(want) == len(expected.effects)
    for column in want.columns:
        if pd.api.types.is_numeric_dtype(want[column]) and not pd.api.types.is_bool_dtype(want[column]):
            np.testing.assert_allclose(
                frame[column].to_numpy(float), want[column].to_numpy(float), rtol=TOL, atol=TOL, err_msg=column
            )
        else:
            assert frame[column].tolist() == want[column].tolist(), column
    for mine, theirs in zip(got.effects, expected.effects, strict=True):
        assert mine.metric == theirs.metric
        for panel in ("absolute", "relative"):
            for field in ("estimate", "se", "pvalue", "ci_low", "ci_high"):
                _close(getattr(getattr(mine, panel), field), getattr(getattr(theirs, panel), field), panel + field)
        _close(mine.pvalue_adjusted, theirs.pvalue_adjusted, "pvalue_adjusted")
    assert got.overall.keys() == expected.overall.keys()
    for metric, arms in expected.overall.items():
        for arm, stats in arms.items():
            _same_stats(got.overall[metric][arm], stats, f"{metric} {arm}")
    assert got.segments.keys() == expected.segments.keys()
    for key, metrics in expected.segments.items():
        for metric, arms in metrics.items():
            assert got.segments[key][metric].keys() == arms.keys()
            for arm, stats in arms.items():
                _same_stats(got.segments[key][metric][arm], stats, f"{key} {metric} {arm}")


def _full(spec: abnb.Experiment, database: Path, as_of: Any) -> ExperimentResult:
    with abnb.connect(database) as con:
        return spec.analyze(con, as_of=as_of)


def test_daily_refreshes_equal_the_full_analysis(telemetry: Path, spec: abnb.Experiment, tmp_path: Path) -> None:
    days = [f"2026-10-{d:02d}" for d in range(2, 15)]  # 13 daily reports; the store is built on the first
    with Store(tmp_path / "store.duckdb") as store:
        for i, day in enumerate(days):
            got = incremental.analyze(spec, store, database=telemetry, as_of=day)
            stats = store.last_refresh
            assert stats is not None
            assert stats.mode == ("full" if i == 0 else "incremental")
            if i:
                assert stats.window_start == datetime.fromisoformat(days[i - 1]) + timedelta(days=1)
            assert stats.window_end == datetime.fromisoformat(day) + timedelta(days=1)
            assert_same_result(got, _full(spec, telemetry, day))
        assert got.experiment is spec  # the report reads the original spec and metrics
        assert got.excluded_units >= 1  # the planted glitch units stay in the store with arm NULL
        assert store.units(spec.name) == sum(got.units.values()) + got.excluded_units
        # The same day again reads nothing.
        again = incremental.analyze(spec, store, database=telemetry, as_of=days[-1])
        assert store.last_refresh is not None
        assert store.last_refresh.mode == "current"
        assert_same_result(again, got)


def test_a_refresh_reads_only_the_window(telemetry: Path, spec: abnb.Experiment, tmp_path: Path) -> None:
    """Delete every telemetry row before the watermark: the next refresh still gives the full analysis.

    Without covariates nothing before the watermark is needed; with a 14-day covariate only the 14 days before it
    (the lookback of units first exposed in the window) are.
    """
    for covariates in (False, True):
        spec_ = spec
        if not covariates:
            metrics = tuple(
                dataclasses.replace(m, source=dataclasses.replace(m.source, covariate_days=None)) for m in spec.metrics
            )
            spec_ = dataclasses.replace(spec, metrics=metrics)
        database = tmp_path / f"copy_{covariates}.duckdb"
        shutil.copy(telemetry, database)
        with Store(tmp_path / f"store_{covariates}.duckdb") as store:
            incremental.refresh(spec_, store, database=database, as_of="2026-10-05")
            watermark = datetime(2026, 10, 6)
            lookback = timedelta(days=14) if covariates else timedelta(0)
            with duckdb.connect(str(database)) as writer:
                dropped_exposures = writer.execute("DELETE FROM exposures WHERE ts < $w", {"w": watermark}).fetchone()
                dropped_events = writer.execute(
                    "DELETE FROM events WHERE ts < $w", {"w": watermark - lookback}
                ).fetchone()
            assert dropped_exposures is not None
            assert dropped_exposures[0] > 2000
            assert dropped_events is not None
            assert dropped_events[0] > (5000 if covariates else 20000)
            got = incremental.analyze(spec_, store, database=database, as_of="2026-10-09")
            stats = store.last_refresh
            assert stats is not None
            assert stats.mode == "incremental"
            assert stats.window_start == watermark
            assert stats.units_added > 0
            assert_same_result(got, _full(spec_, telemetry, "2026-10-09"))


def test_as_of_cannot_go_back(telemetry: Path, spec: abnb.Experiment, tmp_path: Path) -> None:
    with Store(tmp_path / "store.duckdb") as store:
        incremental.refresh(spec, store, database=telemetry, as_of="2026-10-08")
        with pytest.raises(ParameterError, match=r"before the watermark .* full=True"):
            incremental.refresh(spec, store, database=telemetry, as_of="2026-10-07")
        mark = store.watermark(spec.name)
        assert mark is not None
        assert mark["as_of"] == datetime(2026, 10, 9)
        got = incremental.analyze(spec, store, database=telemetry, as_of="2026-10-07", full=True)
        assert store.last_refresh is not None
        assert store.last_refresh.reason == "full=True"
        assert_same_result(got, _full(spec, telemetry, "2026-10-07"))


def test_a_changed_spec_rebuilds_the_store(telemetry: Path, spec: abnb.Experiment, tmp_path: Path) -> None:
    with Store(tmp_path / "store.duckdb") as store:
        incremental.refresh(spec, store, database=telemetry, as_of="2026-10-05")
        # Alpha acts on the statistics only: the store stays and is extended.
        looser = dataclasses.replace(spec, alpha=0.1)
        got = incremental.analyze(looser, store, database=telemetry, as_of="2026-10-06")
        assert store.last_refresh is not None
        assert store.last_refresh.mode == "incremental"
        assert_same_result(got, _full(looser, telemetry, "2026-10-06"))
        # A shorter covariate window and one segment fewer change what is stored: rebuilt from all history.
        metrics = tuple(
            dataclasses.replace(m, source=dataclasses.replace(m.source, covariate_days=7)) if m.covariate_days else m
            for m in spec.metrics
        )
        changed = dataclasses.replace(spec, metrics=metrics, segments=("country",))
        got = incremental.analyze(changed, store, database=telemetry, as_of="2026-10-07")
        stats = store.last_refresh
        assert stats is not None
        assert stats.mode == "full"
        assert stats.reason == "spec or telemetry database changed"
        assert_same_result(got, _full(changed, telemetry, "2026-10-07"))
        # Then incremental again.
        got = incremental.analyze(changed, store, database=telemetry, as_of="2026-10-09")
        assert store.last_refresh is not None
        assert store.last_refresh.mode == "incremental"
        assert_same_result(got, _full(changed, telemetry, "2026-10-09"))


def _snapshot(store: Store, experiment: str) -> list[tuple[Any, ...]]:
    table = incremental.units_table(experiment)
    return store.connection.raw.execute(f'SELECT * FROM "{table}" ORDER BY unit').fetchall()


def test_an_interrupted_refresh_leaves_the_previous_state(
    telemetry: Path, spec: abnb.Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path / "store.duckdb") as store:
        incremental.refresh(spec, store, database=telemetry, as_of="2026-10-05")
        before, mark = _snapshot(store, spec.name), store.watermark(spec.name)
        real = incremental._update_metric
        calls = []

        def failing(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            if len(calls) == 3:  # after the new units and two metrics were written
                import sqlglot

                return sqlglot.parse_one("SELECT CAST('not a number' AS DOUBLE)")
            return real(*args, **kwargs)

        monkeypatch.setattr(incremental, "_update_metric", failing)
        with pytest.raises(EngineError, match="not a number"):
            incremental.refresh(spec, store, database=telemetry, as_of="2026-10-08")
        monkeypatch.undo()
        assert _snapshot(store, spec.name) == before
        assert store.watermark(spec.name) == mark
        attached = store.connection.raw.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        assert ("abnb_telemetry",) not in attached  # detached again: the telemetry file is not held
        got = incremental.analyze(spec, store, database=telemetry, as_of="2026-10-08")
        assert store.last_refresh is not None
        assert store.last_refresh.mode == "incremental"
        assert_same_result(got, _full(spec, telemetry, "2026-10-08"))


def _synthetic(path: Path) -> None:
    """Small telemetry with the awkward cases: a second arm a day later, NULL units, exposures before the start,
    negative values under ``max``, covariate lookbacks across the watermark and units without any metric row."""
    rng = np.random.default_rng(11)
    start = datetime(2026, 3, 10)
    n = 600
    units = np.arange(n)
    first = [start + timedelta(hours=float(h)) for h in rng.uniform(-24, 24 * 6, n)]
    arms = rng.choice(["a", "b", "c"], n)
    rows = [
        ("exp", int(u), str(arm), t, str(rng.choice(["x", "y"])), None if u % 7 else "null-segment")
        for u, arm, t in zip(units, arms, first, strict=True)
    ]
    for u in units[::50]:  # seen in another arm a day later (or the same arm: still one arm)
        other = "a" if u % 100 else str(arms[u])
        rows.append(("exp", int(u), other, first[u] + timedelta(days=1, hours=3), "z", "late"))
    rows.append(("exp", None, "a", start + timedelta(days=1), "x", None))  # no unit: ignored
    rows.append(("other", 5, "c", start + timedelta(days=1), "x", None))  # another experiment
    exposures = pd.DataFrame(rows, columns=["experiment", "unit", "arm", "ts", "country", "tier"])
    m = 6000
    events = pd.DataFrame(
        {
            "unit": rng.integers(0, n + 20, m),
            "ts": [start + timedelta(hours=float(h)) for h in rng.uniform(-24 * 12, 24 * 9, m)],
            "event": rng.choice(["score", "visit", "buy"], m),
            "value": np.round(rng.normal(0.5, 2.0, m), 3),  # negative maxima too
        }
    )
    with duckdb.connect(str(path)) as con:
        con.register("x", exposures)
        con.execute("CREATE TABLE exposures AS SELECT * FROM x")
        con.register("y", events)
        con.execute("CREATE TABLE events AS SELECT * FROM y")


def test_awkward_cases_match_hour_by_hour(tmp_path: Path) -> None:
    database = tmp_path / "synthetic.duckdb"
    _synthetic(database)
    metrics = (
        abnb.Metric("best", abnb.Sql("SELECT unit, ts, value FROM events WHERE event = 'score'"), aggregate="max"),
        abnb.Metric(
            "visits",
            abnb.Sql("SELECT unit, ts, value FROM events WHERE event = 'visit'", covariate_days=3),
            aggregate="count",
        ),
        abnb.Metric("spend", abnb.Sql("SELECT unit, ts, value FROM events WHERE event = 'buy'", covariate_days=2)),
        abnb.Metric(
            "bought",
            abnb.Sql("SELECT unit, ts, value FROM events WHERE event = 'buy'", covariate_days=1),
            kind="proportion",
            role="guardrail",
        ),
        abnb.Metric(
            "per_visit",
            abnb.Sql(
                "SELECT unit, ts, value FROM events WHERE event = 'buy'",
                denominator="SELECT unit, ts, value FROM events WHERE event = 'visit'",
                denominator_aggregate="count",
            ),
            kind="ratio",
            role="secondary",
        ),
    )
    spec = abnb.Experiment(
        "exp", metrics, arms=("a", "b", "c"), control="a", segments=("country", "tier"), start=datetime(2026, 3, 10)
    )
    cutoffs = [datetime(2026, 3, 11, 5), datetime(2026, 3, 11, 17)] + [
        datetime(2026, 3, 12) + timedelta(hours=13 * k) for k in range(12)
    ]
    reexposed = 0
    with Store(tmp_path / "store.duckdb") as store:
        for cutoff in cutoffs:
            got = incremental.analyze(spec, store, database=database, as_of=cutoff)
            assert store.last_refresh is not None
            reexposed += store.last_refresh.units_reexposed
            assert_same_result(got, _full(spec, database, cutoff))
        best = store.connection.raw.execute('SELECT min(y_0), count(y_0), count(*) FROM "units_exp"').fetchone()
        assert best is not None
        assert best[0] < 0
        assert 0 < best[1] < best[2]
    assert reexposed > 0  # second exposures did land in a later window than the first
    assert got.excluded_units > 0


def test_refusals(telemetry: Path, spec: abnb.Experiment, tmp_path: Path) -> None:
    unit_level = incremental.unit_spec(spec)
    with Store(tmp_path / "store.duckdb") as store:
        with pytest.raises(SpecError, match="unit-level"):
            incremental.refresh(unit_level, store, database=telemetry, as_of="2026-10-05")
        clash = dataclasses.replace(spec, segments=("country", "y_1"))
        with pytest.raises(SpecError, match="clash"):
            incremental.refresh(clash, store, database=telemetry, as_of="2026-10-05")
        with pytest.raises(abnb.errors.DatabaseNotFoundError, match="does not exist"):
            incremental.refresh(spec, store, database=tmp_path / "missing.duckdb", as_of="2026-10-05")
        assert store.watermark(spec.name) is None


def test_the_default_store_sits_beside_the_telemetry(
    telemetry: Path, spec: abnb.Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABNB_STORE", raising=False)
    database = tmp_path / "t.duckdb"
    shutil.copy(telemetry, database)
    assert incremental.default_store(database) == tmp_path / "t.store.duckdb"
    got = incremental.analyze(spec, database=database, as_of="2026-10-06")
    assert (tmp_path / "t.store.duckdb").exists()
    assert_same_result(got, _full(spec, telemetry, "2026-10-06"))
    monkeypatch.setenv("ABNB_STORE", str(tmp_path / "elsewhere.duckdb"))
    assert incremental.default_store(database) == tmp_path / "elsewhere.duckdb"
