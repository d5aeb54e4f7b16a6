from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import abnb
from abnb.bench import (
    AS_OF,
    EVENT_FLOOR_SEG_SQL,
    EVENT_FLOOR_SQL,
    USER_FLOOR_SEG_SQL,
    USER_FLOOR_SQL,
    PeakRss,
    abnb_numbers,
    compare_numbers,
    event_spec,
    generate_events,
    generate_users,
    naive_numbers,
    sums_numbers,
    user_spec,
)
from abnb.cli import main

KEYS = {"floor_s", "floor_seg_s", "abnb_s", "naive_s", "peer_s", "peak_rss_mb", "users", "repeat"}


@pytest.fixture(scope="module")
def users_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "users.duckdb"
    generate_users(path, 20_000)
    return path


def test_cli_json_has_the_keys_positive_times_and_abnb_agrees_with_scipy() -> None:
    result = CliRunner().invoke(main, ["bench", "--users", "20000", "--repeat", "2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])  # the last stdout line is the JSON object
    assert out.keys() >= KEYS
    assert out["users"] == 20_000
    assert out["repeat"] == 2
    for method in ("floor", "floor_seg", "abnb", "naive"):
        assert out[f"{method}_s"] > 0
        assert len(out["times_s"][method]) == 2
        assert out["peak_rss_mb"][method] >= out["baseline_rss_mb"][method] > 0
    assert out["ratio_to_floor"]["floor"] == 1.0
    if out["peer_s"] is None:  # tea-tasting not installed: said in a note
        assert any("tea-tasting" in note for note in out["notes"])
    else:
        assert out["peer_s"] > 0
    assert out["checks"]["reference"] == "naive (pandas + scipy)"
    assert out["checks"]["ok"] is True, out["checks"]["mismatches"]
    assert "| abnb |" in result.stdout


def test_abnb_equals_naive_scipy_to_1e6(users_db: Path) -> None:
    with abnb.connect(users_db) as con:
        result = user_spec().analyze(con)
        frame = con.raw.execute("SELECT arm, revenue, converted, revenue_pre FROM users").df()
        sums = con.raw.execute(USER_FLOOR_SQL).fetchall()
    mine, naive = abnb_numbers(result), naive_numbers(frame)
    # the data carry a real but modest effect at this size: p-values well inside (0, 1), so 1e-6 is a real test
    assert 1e-8 < naive["conversion"]["pvalue"] < 0.5
    assert 1e-8 < naive["revenue"]["pvalue"] < 0.5
    assert 0.08 < naive["conversion"]["control_mean"] < 0.12
    assert compare_numbers(mine, naive) == []
    assert compare_numbers(mine, sums_numbers(sums)) == []  # the floor's sums give the same answer
    assert set(naive["revenue_cuped"]) >= {"cuped_estimate", "cuped_pvalue"}
    assert naive["revenue_cuped"]["cuped_pvalue"] < naive["revenue"]["pvalue"]  # the covariate helps
    # a perturbed number is caught
    naive["revenue"]["pvalue"] *= 1 + 1e-5
    assert compare_numbers(mine, naive) == [
        f"abnb revenue.pvalue = {mine['revenue']['pvalue']!r}, reference {naive['revenue']['pvalue']!r}"
    ]


def test_floor_seg_rolls_up_to_floor(users_db: Path) -> None:
    with abnb.connect(users_db) as con:
        floor = {row[0]: row[1:] for row in con.raw.execute(USER_FLOOR_SQL).fetchall()}
        cells = con.raw.execute(USER_FLOOR_SEG_SQL).fetchall()
    assert len(cells) == 2 * 6 * 3  # arms x countries x platforms
    for arm, sums in floor.items():
        rolled = np.sum([row[3:] for row in cells if row[0] == arm], axis=0)
        np.testing.assert_allclose(rolled, np.array(sums, dtype=float), rtol=1e-9)
    assert sum(int(s[0]) for s in floor.values()) == 20_000


def test_generation_is_deterministic(tmp_path: Path) -> None:
    sums = []
    for name in ("a", "b"):
        generate_users(tmp_path / f"{name}.duckdb", 2_000, seed=7)
        with abnb.connect(tmp_path / f"{name}.duckdb") as con:
            sums.append(con.raw.execute(USER_FLOOR_SQL + " ORDER BY arm").fetchall())
    generate_users(tmp_path / "c.duckdb", 2_000, seed=8)
    with abnb.connect(tmp_path / "c.duckdb") as con:
        other = con.raw.execute(USER_FLOOR_SQL + " ORDER BY arm").fetchall()
    assert sums[0] == sums[1]
    assert other != sums[0]


def test_event_level_abnb_equals_scipy_on_the_floor_sums(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    generate_events(path, 5_000, events_per_user=5)
    with abnb.connect(path) as con:
        (events,) = con.raw.execute("SELECT count(*) FROM events").fetchone() or (0,)
        (pre,) = con.raw.execute(
            "SELECT count(*) FROM events e JOIN exposures x USING (unit) WHERE e.ts < x.ts"
        ).fetchone() or (0,)
        result = event_spec().analyze(con)
        rows = con.raw.execute(EVENT_FLOOR_SQL, {"as_of": AS_OF}).fetchall()
        cells = con.raw.execute(EVENT_FLOOR_SEG_SQL, {"as_of": AS_OF}).fetchall()
    assert events == 25_000
    assert 0.4 < pre / events < 0.6  # about half the events precede exposure: they feed the covariate
    reference = sums_numbers(rows)
    assert compare_numbers(abnb_numbers(result), reference) == []
    assert "cuped_pvalue" in reference["revenue_cuped"]
    assert sum(row[3] for row in cells) == 5_000


def test_peak_rss_sees_an_allocation() -> None:
    with PeakRss() as rss:
        block = np.ones(64 * 1024 * 1024 // 8)  # 64 MB, touched
        block += 1
        del block
    assert rss.method
    assert rss.peak - rss.baseline > 40 * 1024 * 1024


def test_unknown_method_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["bench", "--users", "1000", "--methods", "floor,fastest"])
    assert result.exit_code == 1
    assert "ParameterError: unknown method(s) fastest" in result.output
