"""The experiment explorer (``abnb.widgets.explore``): first load, then the latency of each kind of update.

Run: ``.venv/bin/python benchmarks/bench_explore.py [--users 1000000] [--updates 12] [--data-dir DIR]``.

Data: the event-level benchmark set of ``abnb bench --events`` (:func:`abnb.bench.data.generate_events`, 5 events per
user) with its spec (:func:`abnb.bench.data.event_spec`: revenue, conversion, CUPED revenue; segments country and
platform), as ``benchmarks/bench_timeline.py`` uses it.

Measured (wall-clock seconds; the explorer opens a read-only connection per fetch and closes it):

* ``load``: ``Explorer(spec, database)``: the analysis and the timeline (one connection);
* ``first view``: the app's first update (compute and three SVG charts);
* per kind of update (metric, segment, confidence level, relative interval): ``App.seconds`` of each ``app.set``
  (compute, render, SVG), the median and the largest, with the explorer's chart cache as in use ("warm") and cleared
  before each update ("cold": every chart the update shows is drawn again); the queries the updates ran;
* ``new day``: an update to a day not fetched yet (one analysis at that cutoff).

Nothing is asserted; the target is < 200 ms per update.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from abnb.bench.data import event_spec, reuse_events
from abnb.widgets.explorer import OVERALL, Explorer


def _changes(explorer: Explorer, kind: str, count: int) -> list[dict[str, Any]]:
    """``count`` successive control changes of one kind, each to a value differing from the one before."""
    choices = explorer.choices
    if kind == "metric":
        values: list[Any] = list(itertools.islice(itertools.cycle(choices.metrics[1:] + choices.metrics[:1]), count))
    elif kind == "segment":
        values = list(itertools.islice(itertools.cycle([*choices.segments[1:], OVERALL]), count))
    elif kind == "confidence_level":
        values = [round(0.80 + 0.015 * k, 3) for k in range(count)]
    else:
        values = list(itertools.islice(itertools.cycle(["delta", "log", "fieller", "analysis"]), count))
    return [{kind: value} for value in values]


def _updates(explorer: Explorer, kind: str, count: int, *, cold: bool) -> list[float]:
    app = explorer.app()
    seconds = []
    for change in _changes(explorer, kind, count):
        if cold:
            explorer._fetched.charts.clear()  # the bench measures the drawing the cache saves
        app.set(**change)
        seconds.append(app.seconds)
    return seconds


def run(database: Path, count: int) -> None:
    """Load an explorer over ``database`` and time its updates; print the table."""
    spec = event_spec()
    start = time.perf_counter()
    explorer = Explorer(spec, database)
    load = time.perf_counter() - start
    load_queries = explorer.queries_run
    app = explorer.app()
    print(f"\nload (analysis + timeline, {load_queries} queries): {load:.3f} s; first view: {app.seconds:.3f} s")
    print(f"days {explorer.choices.days[0]}..{explorer.choices.days[-1]}, segments {len(explorer.choices.segments)}")
    print("| update | median ms (warm) | max ms (warm) | median ms (cold) | max ms (cold) | queries |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    every = []
    for kind in ("metric", "segment", "confidence_level", "relative_ci"):
        before = explorer.queries_run
        warm = _updates(explorer, kind, count, cold=False)
        cold = _updates(explorer, kind, count, cold=True)
        every += warm
        print(
            f"| {kind} | {statistics.median(warm) * 1000:.1f} | {max(warm) * 1000:.1f} | "
            f"{statistics.median(cold) * 1000:.1f} | {max(cold) * 1000:.1f} | {explorer.queries_run - before} |"
        )
    print(f"median of every update (warm): {statistics.median(every) * 1000:.1f} ms")
    before = explorer.queries_run
    app.set(day=explorer.choices.days[len(explorer.choices.days) // 2])
    print(f"new day (one analysis, {explorer.queries_run - before} queries): {app.seconds:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=12, help="Updates of each kind.")
    parser.add_argument("--data-dir", default=None, help="Keep and reuse the generated DuckDB file here.")
    args = parser.parse_args()
    print(f"DuckDB {duckdb.__version__}, Python {platform.python_version()}, {platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data_dir) if args.data_dir else Path(tmp)
        database = reuse_events(folder, args.users)
        print(f"{args.users:,} users")
        run(database, args.updates)


if __name__ == "__main__":
    main()
