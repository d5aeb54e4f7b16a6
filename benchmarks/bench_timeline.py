"""Effect over time: one timeline query vs the plain analysis vs one analysis per cutoff day.

Run: ``.venv/bin/python benchmarks/bench_timeline.py [--users 1000000] [--repeat 3] [--data-dir DIR]``.

Data: the event-level benchmark set of ``abnb bench --events`` (:func:`abnb.bench.data.generate_events`: one exposure
per user spread over 14 days, 5 events per user within 14 days either side of it, ~4% purchases and the rest
sessions), analysed with its spec (:func:`abnb.bench.data.event_spec`: revenue, conversion, CUPED revenue; segments
country and platform) plus a guardrail counting sessions, so the big part of the events table is read too. Cutoff
days run from the first exposure day to ``AS_OF`` (2026-10-28): 28 days.

Methods (each repetition runs the fast ones in a rotated order; medians of ``--repeat``):

* ``analysis``: ``spec.analyze(con, as_of=AS_OF)``: the numbers of the last day only (with segments and every
  panel), the cost of one report;
* ``timeline``: ``abnb.timeline.cumulative(spec, con, as_of=AS_OF)``: every day's numbers of every metric;
* ``per_day``: ``spec.analyze(con, as_of=day)`` for each of the 28 days (run once: it is the slow way), also the
  reference the timeline's numbers are checked against (relative 1e-9, printed).

Peak RSS is the process's high-water mark during the call (``abnb.bench.memory.PeakRss``). Nothing is asserted
about speed; the table and the ratios are printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

import abnb
from abnb import timeline
from abnb.bench.data import AS_OF, event_spec, reuse_events
from abnb.bench.memory import PeakRss
from abnb.experiment import Experiment
from abnb.metrics import Metric, Sql

SESSIONS = Metric(
    "sessions",
    Sql("SELECT unit, ts, value FROM events WHERE event = 'session'"),
    role="guardrail",
    aggregate="count",
)


def _spec() -> Experiment:
    spec = event_spec()
    return dataclasses.replace(spec, metrics=(*spec.metrics, SESSIONS))


def _timed(call: Callable[[], Any]) -> tuple[float, int, Any]:
    """Seconds, peak RSS (bytes) and value of one call."""
    with PeakRss() as rss:
        start = time.perf_counter()
        value = call()
        seconds = time.perf_counter() - start
    return seconds, rss.peak, value


FIELDS = tuple(c for c in timeline.COLUMNS if c not in ("metric", "arm", "day", "note"))  # the numbers compared


def _differences(line: timeline.Timeline, results: dict[Any, abnb.ExperimentResult]) -> dict[str, tuple[float, Any]]:
    """Per field, the largest relative difference between the timeline and the per-day analyses, and its value."""
    worst: dict[str, tuple[float, Any]] = dict.fromkeys(FIELDS, (0.0, None))
    for point in line.points:
        effect = results[point.day].effect(point.metric, point.arm)
        sequence = effect.sequential
        relative = effect.relative
        expected = (
            effect.control.n,
            effect.treatment.n,
            relative.control_mean,
            relative.treatment_mean,
            relative.estimate,
            relative.ci_low,
            relative.ci_high,
            relative.pvalue,
            math.nan if sequence is None else sequence.ci_low,
            math.nan if sequence is None else sequence.ci_high,
        )
        got = point.row()
        for name, reference in zip(FIELDS, expected, strict=True):
            if math.isnan(reference) and math.isnan(got[name]):
                continue
            difference = abs(got[name] - reference) / max(abs(reference), 1e-300)
            if difference > worst[name][0]:
                worst[name] = (difference, reference)
    return worst


def run(database: Path, repeat: int) -> None:
    """Time the three methods on ``database`` and print the table."""
    spec = _spec()
    with abnb.connect(database) as con:
        spec.analyze(con, as_of=AS_OF)  # warm up: imports, compiled queries, the file's blocks in DuckDB's cache
        timeline.cumulative(spec, con, as_of=AS_OF)
        methods: dict[str, Callable[[], Any]] = {
            "analysis": lambda: spec.analyze(con, as_of=AS_OF),
            "timeline": lambda: timeline.cumulative(spec, con, as_of=AS_OF),
        }
        seconds: dict[str, list[float]] = {name: [] for name in methods}
        peaks: dict[str, int] = dict.fromkeys(methods, 0)
        values: dict[str, Any] = {}
        for k in range(repeat):
            names = list(methods)[k % 2 :] + list(methods)[: k % 2]
            for name in names:
                took, peak, values[name] = _timed(methods[name])
                seconds[name].append(took)
                peaks[name] = max(peaks[name], peak)
        line: timeline.Timeline = values["timeline"]
        fetched = line.rows_fetched

        def per_day() -> dict[Any, abnb.ExperimentResult]:
            return {day: spec.analyze(con, as_of=line.cutoff(day)) for day in line.days}

        took, peak, results = _timed(per_day)
        seconds["per_day"], peaks["per_day"] = [took], peak
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    days = len(line.days)
    print(f"\n{len(line.points)} points ({len(line.metrics)} metrics × {days} days); timeline fetched {fetched} rows")
    print("| method | what | median s | × analysis | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    what = {
        "analysis": "the last day (segments, every panel)",
        "timeline": f"every day ({days}), every metric",
        "per_day": f"{days} analyses, one per day",
    }
    for name in ("analysis", "timeline", "per_day"):
        print(
            f"| {name} | {what[name]} | {medians[name]:.3f} | {medians[name] / medians['analysis']:.2f} | "
            f"{peaks[name] / 2**20:,.0f} |"
        )
    print(
        f"\ntimeline / analysis = {medians['timeline'] / medians['analysis']:.2f}×; "
        f"per-day analyses / timeline = {medians['per_day'] / medians['timeline']:.1f}×"
    )
    print("largest relative difference, timeline vs the per-day analyses (field: difference at value):")
    for name, (difference, reference) in _differences(line, results).items():
        print(f"  {name}: {difference:.1e}" + ("" if reference is None else f" at {reference:.6g}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", default=None, help="Keep and reuse the generated DuckDB file here.")
    args = parser.parse_args()
    print(f"DuckDB {duckdb.__version__}, Python {platform.python_version()}, {platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data_dir) if args.data_dir else Path(tmp)
        database = reuse_events(folder, args.users)
        run(database, args.repeat)


if __name__ == "__main__":
    main()
