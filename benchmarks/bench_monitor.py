"""A refresh of ``abnb monitor serve`` at scale: the spec's backtest vs one scan of the predictions, and a scrape.

Run: ``.venv/bin/python benchmarks/bench_monitor.py [--copies 100] [--repeat 3] [--data-dir DIR]``.

Data: the sample's model telemetry (``abnb data generate``: 100,000 predictions over 28 days, the ops, labels and
releases tables) with its ``predictions`` repeated ``--copies`` times (request ids shifted by 10⁹ per copy; the same
times, segments, scores and latencies), so 100 copies are 10,000,000 prediction rows; labels stay the sample's (they
join by request id to the first copy), as production labels are a small sample.

Methods (medians of ``--repeat``):

* ``scan``: ``SELECT count(*), avg(latency_ms) FROM predictions`` — one pass over the rows, the floor;
* ``backtest``: :func:`abnb.monitor.backtest` of the default spec (the error-rate, latency and precision series,
  their rules replayed) on a fresh read-only connection;
* ``refresh``: :meth:`abnb.monitor.exporter.Exporter.refresh` (connect, :func:`abnb.monitor.monitor_state`: the
  backtest and the latest release's jump and drift verdicts, snapshot, close), what one exporter refresh runs;
* ``... label-free``: the same for a spec of two label-free rules (score PSI per day and segment, a CUSUM of the
  CBPE precision), which read one score-histogram query per window × segment × bin;
* ``scrape``: :meth:`~abnb.monitor.exporter.Exporter.render` from the cached snapshot (median of 200).

Peak RSS is the process's high-water mark during the call. Nothing is asserted; the table is printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

import abnb
from abnb.bench.memory import PeakRss
from abnb.datasets.sample import generate
from abnb.monitor import MonitorRule, MonitorSpec, backtest
from abnb.monitor.exporter import Exporter


def _database(folder: Path, copies: int) -> Path:
    """The sample with its predictions repeated ``copies`` times (made once per folder and size)."""
    path = folder / f"monitor_{copies}.duckdb"
    if path.exists():
        return path
    base = folder / "monitor_base.duckdb"
    if not base.exists():
        generate(base, users=2_000, requests=100_000, seed=20261001, progress=False)
    partial = path.with_suffix(".partial")
    shutil.copy(base, partial)
    with duckdb.connect(str(partial)) as con:
        con.execute(
            "INSERT INTO predictions SELECT p.* REPLACE (p.request_id + c.copy * 1000000000 AS request_id) "
            "FROM predictions p, range(1, ?) c(copy)",
            [copies],
        )
    partial.rename(path)
    return path


def _timed(call: Callable[[], Any]) -> tuple[float, int]:
    with PeakRss() as rss:
        start = time.perf_counter()
        call()
        seconds = time.perf_counter() - start
    return seconds, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "abnb-bench-monitor")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    path = _database(args.data_dir, args.copies)
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM predictions").fetchone()[0]  # type: ignore[index]
    label_free = MonitorSpec(
        "label_free",
        (
            MonitorRule("ScoreDrift", "score_psi", "threshold", threshold=0.1),
            MonitorRule("ExpectedPrecisionShift", "expected_precision", "cusum"),
        ),
    )

    def connect() -> abnb.Connection:
        return abnb.connect(path, read_only=True)

    specs = {"": MonitorSpec.default(), " label-free": label_free}
    exporters = {name: Exporter(spec, connect) for name, spec in specs.items()}

    def scan() -> None:
        with duckdb.connect(str(path), read_only=True) as con:
            con.execute("SELECT count(*), avg(latency_ms) FROM predictions").fetchall()

    def replay(spec: MonitorSpec) -> Callable[[], None]:
        def run() -> None:
            with connect() as con:
                backtest(con, spec)

        return run

    results: dict[str, list[tuple[float, int]]] = {"scan": []}
    for _ in range(args.repeat):
        results["scan"].append(_timed(scan))
        for name, spec in specs.items():
            results.setdefault(f"backtest{name}", []).append(_timed(replay(spec)))
            results.setdefault(f"refresh{name}", []).append(_timed(exporters[name].refresh))
    renders = []
    for _ in range(200):
        start = time.perf_counter()
        exporters[""].render()
        renders.append(time.perf_counter() - start)
    print(f"predictions: {rows:,} rows ({args.copies} copies of the sample); medians of {args.repeat}")
    print("| method | seconds | x scan | peak RSS MB |")
    print("| --- | ---: | ---: | ---: |")
    floor = statistics.median(s for s, _ in results["scan"])
    for name, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        peak = max(r for _, r in runs) / 2**20
        print(f"| {name} | {seconds:.3f} | {seconds / floor:.1f} | {peak:.0f} |")
    print(f"| scrape (render, median of 200) | {statistics.median(renders) * 1000:.2f} ms | | |")


if __name__ == "__main__":
    main()
