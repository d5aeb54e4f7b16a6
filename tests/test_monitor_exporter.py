"""The Prometheus exporter: values equal the backtest's, failures keep them, scrapes are fast and escaped."""

from __future__ import annotations

import math
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest
from prometheus_client.parser import text_string_to_metric_families

import abnb
from abnb.monitor.backtest import Backtest, RuleBacktest
from abnb.monitor.dashboard import backtest
from abnb.monitor.exporter import Exporter, MetricsServer, ReplayExporter, replay_start, window_samples
from abnb.monitor.spec import MonitorSpec
from abnb.telemetry import ModelTelemetry

SPEC = MonitorSpec.default()


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def samples(exporter: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exposition parsed back: (sample name, labels) → value."""
    text = exporter.render().decode("utf-8")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return parsed[(name, frozenset({"monitor": SPEC.name, **labels}.items()))]


def opener(path: Path) -> Any:
    return lambda: abnb.connect(path, read_only=True)


@pytest.fixture(scope="module")
def bt(sample_db: Path) -> Backtest:
    with abnb.connect(sample_db, read_only=True) as con:
        return backtest(con, SPEC)


def expected(item: RuleBacktest, index: int) -> dict[str, float]:
    state = dict(item.replay.state)
    rule = item.rule
    out = {"value": float(item.series[rule.column].iloc[index]), "alarm": float(bool(state["alarm"][index]))}
    if rule.kind == "ewma":
        out |= {k: float(state[k][index]) for k in ("statistic", "lower", "upper")}
    elif rule.kind == "cusum":
        out |= {
            "statistic": max(state["upper_sum"][index], state["lower_sum"][index]),
            "lower": 0.0,
            "upper": float(state["limit"][index]),
        }
    else:
        out |= {"statistic": out["value"], "lower": math.nan, "upper": rule.threshold}
    return out


def check_window(parsed: dict[Any, float], item: RuleBacktest, index: int) -> None:
    want = expected(item, index)
    got_value = value(parsed, "abnb_monitor_value", series=item.rule.series, segment=item.segment, window=item.window)
    assert got_value == pytest.approx(want["value"], abs=1e-12, rel=0)
    labels = {"rule": item.rule.name, "segment": item.segment}
    assert value(parsed, "abnb_monitor_rule_alarm", **labels) == want["alarm"]
    for key in ("statistic", "lower", "upper"):
        got = value(parsed, f"abnb_monitor_rule_{key}", **labels)
        if math.isnan(want[key]):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(want[key], abs=1e-12, rel=0)
    if "ci_low" in item.series.columns:
        for bound in ("ci_low", "ci_high"):
            got = value(parsed, f"abnb_monitor_precision_{bound}", segment=item.segment, window=item.window)
            assert got == pytest.approx(float(item.series[bound].iloc[index]), abs=1e-12, rel=0)


def test_refresh_serves_the_last_window_of_every_rule(sample_db: Path, bt: Backtest) -> None:
    clock = Clock()
    exporter = Exporter(SPEC, opener(sample_db), clock=clock)
    started = time.perf_counter()
    assert exporter.refresh() is True
    refresh_seconds = time.perf_counter() - started
    parsed = samples(exporter)
    kinds = {item.rule.kind for item in bt.rules}
    assert kinds == {"threshold", "ewma", "cusum"}
    assert len({item.segment for item in bt.rules if item.rule.per_segment}) >= 2
    for item in bt.rules:
        check_window(parsed, item, -1)
    assert value(parsed, "abnb_monitor_up") == 1.0
    assert value(parsed, "abnb_monitor_last_success_timestamp_seconds") == clock.now
    assert value(parsed, "abnb_monitor_staleness_seconds") == 0.0
    assert value(parsed, "abnb_monitor_refresh_failures_total") == 0.0
    assert 0 < value(parsed, "abnb_monitor_refresh_duration_seconds") < 30
    # a scrape only formats the cached snapshot
    times = []
    for _ in range(20):
        started = time.perf_counter()
        exporter.render()
        times.append(time.perf_counter() - started)
    print(f"refresh {refresh_seconds * 1000:.0f} ms; render median {statistics.median(times) * 1000:.2f} ms")
    assert statistics.median(times) < 0.1


def test_refresh_serves_the_verdicts_on_the_latest_release(sample_db: Path) -> None:
    exporter = Exporter(SPEC, opener(sample_db), clock=Clock())
    assert exporter.refresh() is True
    parsed = samples(exporter)
    with abnb.connect(sample_db, read_only=True) as con:
        state = abnb.monitor.monitor_state(con, SPEC)
    assert state.release == "v3"
    assert len(state.release_jumps) == 6
    for row in state.release_jumps.itertuples():
        labels = {"model_version": row.model_version, "metric": row.metric, "segment": row.segment}
        assert value(parsed, "abnb_monitor_release_rollback", **labels) == float(row.rollback)
        assert value(parsed, "abnb_monitor_release_jump_estimate", **labels) == pytest.approx(row.estimate, abs=1e-12)
        assert value(parsed, "abnb_monitor_release_jump_pvalue", **labels) == pytest.approx(row.pvalue, abs=1e-12)
    for row in state.release_drift.itertuples():
        labels = {"model_version": row.model_version, "segment": row.segment}
        assert value(parsed, "abnb_monitor_release_score_psi", **labels) == pytest.approx(row.psi, abs=1e-12)
        assert value(parsed, "abnb_monitor_release_score_drift", **labels) == float(row.drift)
    served = [key for key in parsed if key[0].startswith("abnb_monitor_release_")]
    assert len(served) == 3 * len(state.release_jumps) + 2 * len(state.release_drift)


def test_window_samples_follow_the_contract(bt: Backtest) -> None:
    item = next(i for i in bt.rules if i.rule.kind == "cusum")
    names = [name for name, _, _ in window_samples(item, 0)]
    assert names == [
        "value",
        "precision_ci_low",
        "precision_ci_high",
        "rule_statistic",
        "rule_lower",
        "rule_upper",
        "rule_alarm",
    ]


@contextmanager
def locked() -> Iterator[Any]:
    raise duckdb.IOException('IO Error: Could not set lock on file "telemetry.duckdb": Conflicting lock is held')
    yield  # pragma: no cover


def failing_connects(sample_db: Path, tmp_path: Path) -> list[tuple[str, Any, ModelTelemetry | None]]:
    missing_table = ModelTelemetry.from_dict({"ops": {"table": "no_such_ops"}}, source="test")
    return [
        ("missing file", opener(tmp_path / "missing.duckdb"), None),
        ("locked", locked, None),
        ("missing table", opener(sample_db), missing_table),
    ]


def test_a_failed_refresh_keeps_the_last_good_values(
    sample_db: Path, tmp_path: Path, bt: Backtest, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    failures = failing_connects(sample_db, tmp_path)
    for step, (what, connect, schema) in enumerate(failures, start=1):
        good = Exporter(SPEC, opener(sample_db), clock=clock)
        assert good.refresh()
        before = samples(good)
        # the same exporter, now reading through a failing connection or schema
        good._connect, good._schema = connect, schema
        clock.now += 30.0 * step
        assert good.refresh() is False, what
        assert good.refresh() is False, what
        after = samples(good)
        assert value(after, "abnb_monitor_up") == 0.0
        assert value(after, "abnb_monitor_refresh_failures_total") == 2.0
        assert value(after, "abnb_monitor_staleness_seconds") == 30.0 * step
        clock.now += 5.0
        assert value(samples(good), "abnb_monitor_staleness_seconds") == 30.0 * step + 5.0
        data = {k: v for k, v in after.items() if k[0].startswith(("abnb_monitor_value", "abnb_monitor_rule_"))}
        assert data, what
        for key, number in data.items():
            assert (math.isnan(number) and math.isnan(before[key])) or number == before[key], (what, key)
        for item in bt.rules:
            check_window(after, item, -1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 * len(failures)
    assert all(line.startswith("abnb exporter model: refresh failed") for line in lines)
    assert "IOException" in lines[2]
    assert "Conflicting lock" in lines[2]


def test_a_refresh_that_never_succeeded_serves_health_only(tmp_path: Path) -> None:
    clock = Clock()
    exporter = Exporter(SPEC, opener(tmp_path / "missing.duckdb"), clock=clock)
    assert exporter.refresh() is False
    parsed = samples(exporter)
    assert value(parsed, "abnb_monitor_up") == 0.0
    assert value(parsed, "abnb_monitor_refresh_failures_total") == 1.0
    assert math.isnan(value(parsed, "abnb_monitor_staleness_seconds"))
    assert not [k for k in parsed if k[0] == "abnb_monitor_value"]


def test_a_writer_in_another_process_is_a_failed_refresh(sample_db: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    copy = tmp_path / "locked.duckdb"
    copy.write_bytes(sample_db.read_bytes())
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            str(copy),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        exporter = Exporter(SPEC, opener(copy), clock=Clock())
        assert exporter.refresh() is False
        assert exporter.failures == 1
        assert not exporter.up
    finally:
        writer.kill()
        writer.wait()


def test_the_server_answers_metrics_and_404s_elsewhere(sample_db: Path) -> None:
    exporter = Exporter(SPEC, opener(sample_db), clock=Clock())
    assert exporter.refresh()
    server = MetricsServer(exporter, host="127.0.0.1", port=0, refresh_seconds=3600).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = response.read()
        assert body == exporter.render()
        assert b'abnb_monitor_up{monitor="model"} 1.0' in body
        for path in ("/", "/metrics/x", "/favicon.ico"):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(server.url.replace("/metrics", path), timeout=5)
            assert error.value.code == 404
    finally:
        server.stop()


def test_the_server_refreshes_in_the_background(sample_db: Path) -> None:
    calls = []

    class Counting(Exporter):
        def refresh(self) -> bool:
            calls.append(time.perf_counter())
            return True

    server = MetricsServer(Counting(SPEC, opener(sample_db)), port=0, refresh_seconds=0.05).start()
    time.sleep(0.4)
    server.stop()
    assert 3 <= len(calls) <= 10


def test_replay_serves_window_start_plus_k(bt: Backtest) -> None:
    clock = Clock()
    fine = max(bt.rules, key=lambda item: len(item.series))
    start = len(fine.series) - 10
    exporter = ReplayExporter(SPEC, bt, start=start, step_seconds=2.0, clock=clock)
    for k in (0, 1, 4, 9, 15):
        clock.now = 1_000_000.0 + 2.0 * k + 0.5
        position = min(start + k, len(fine.series) - 1)
        assert exporter.position == position
        parsed = samples(exporter)
        check_window(parsed, fine, position)
        at = fine.series["window"].iloc[position]
        for item in bt.rules:
            index = int((item.series["window"] <= at).sum()) - 1
            check_window(parsed, item, index)
        assert value(parsed, "abnb_monitor_up") == 1.0
    when = fine.series["window"].iloc[start]
    assert replay_start(bt, when) == start
    assert replay_start(bt, str(when + (fine.series["window"].iloc[1] - fine.series["window"].iloc[0]) / 2)) == (
        start + 1
    )
    with pytest.raises(abnb.errors.ParameterError, match="after the last window"):
        replay_start(bt, "2100-01-01")
    with pytest.raises(abnb.errors.ParameterError, match="not an ISO datetime"):
        replay_start(bt, "yesterday-ish")
    with pytest.raises(abnb.errors.ParameterError, match="start must lie"):
        ReplayExporter(SPEC, bt, start=len(fine.series), clock=clock)


def test_hostile_label_values_are_escaped(bt: Backtest) -> None:
    hostile = 'a"b\\c\nd} x{'
    item = next(i for i in bt.rules if i.rule.per_segment)
    bad = Backtest(bt.spec, bt.end, bt.baseline_end, (replace(item, segment=hostile),))
    exporter = ReplayExporter(SPEC, bad, start=0, clock=Clock())
    text = exporter.render().decode("utf-8")
    assert 'segment="a\\"b\\\\c\\nd} x{"' in text
    assert "\nd}" not in text
    parsed = samples(exporter)
    assert value(parsed, "abnb_monitor_rule_alarm", rule=item.rule.name, segment=hostile) in (0.0, 1.0)


def test_the_serve_command_builds_the_exporter_it_serves(
    sample_db: Path, bt: Backtest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import abnb.monitor.exporter as module
    from abnb.cli import main

    served: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(module, "serve", lambda exporter, **options: served.append((exporter, options)))
    base = ["monitor", "serve", "--database", str(sample_db), "--port", "0"]
    result = CliRunner().invoke(main, [*base, "--refresh-seconds", "5"])
    assert result.exit_code == 0, result.output
    exporter, options = served[-1]
    assert isinstance(exporter, Exporter)
    assert options == {"host": "127.0.0.1", "port": 0, "refresh_seconds": 5.0}
    assert exporter.refresh()
    fine = max(bt.rules, key=lambda item: len(item.series))
    when = str(fine.series["window"].iloc[100])
    result = CliRunner().invoke(main, [*base, "--replay-from", when, "--step-seconds", "0.5"])
    assert result.exit_code == 0, result.output
    exporter, _ = served[-1]
    assert isinstance(exporter, ReplayExporter)
    assert (exporter.start, exporter.step_seconds) == (100, 0.5)
    late = CliRunner().invoke(main, [*base, "--replay-from", "2100-01-01"])
    assert late.exit_code == 1
    assert "after the last window" in late.output
