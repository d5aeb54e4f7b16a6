"""Blue/green switch comparison on the sample telemetry (planted truth in abnb.datasets.models.MODEL_TRUTH)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

import abnb
from abnb.datasets.sample import generate
from abnb.engine import Connection
from abnb.errors import DataError, ParameterError
from abnb.rollout.bluegreen import compare_switch


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    # The model telemetry of data/telemetry.duckdb: 100,000 requests, seed 20261001 (about 1 s to generate).
    path = tmp_path_factory.mktemp("bluegreen") / "db.duckdb"
    generate(path, users=2_000, requests=100_000, seed=20261001, progress=False)
    with abnb.connect(path) as connection:
        yield connection


def test_v2_switch_rolls_back_on_the_de_precision_drop(con: Connection) -> None:
    # MODEL_TRUTH: v2 drops precision in "de" from 0.90 to 0.70; nothing else changes.
    switch = compare_switch(con, "v2")
    frame = switch.to_frame().set_index("metric")
    assert switch.previous_version == "v1"
    assert switch.switch == datetime(2026, 10, 10)
    assert switch.rollback
    assert list(frame.index[frame["rollback"]]) == ["precision:de"]
    assert frame.loc["precision:de", "after_mean"] < frame.loc["precision:de", "before_mean"] - 0.1
    # decided after 3 days of 6-hour precision windows (window closing 2026-10-13 06:00)
    assert switch.detection_hours == 78.0


def test_v3_switch_rolls_back_on_latency(con: Connection) -> None:
    # MODEL_TRUTH: v3's median latency creeps up 3 %/day from the switch; error rate unchanged.
    switch = compare_switch(con, "v3")
    frame = switch.to_frame().set_index("metric")
    assert switch.rollback
    assert list(frame.index[frame["rollback"]]) == ["latency_p95"]
    assert not frame.loc["error_rate", "rollback"]
    assert switch.detection_hours == 40.0
    assert switch.summary()["rollback"] is True


def test_clean_switch_keeps_green(con: Connection) -> None:
    # A "switch" inside v1 (no change at all): no metric degrades at alpha 0.01.
    switch = compare_switch(con, "v1", switch="2026-10-05")
    assert not switch.rollback
    assert switch.detected_at is None


def test_errors(con: Connection) -> None:
    with pytest.raises(DataError):
        compare_switch(con, "v9")
    with pytest.raises(ParameterError):
        compare_switch(con, "v2", hours_before=0)
