"""Foundation benchmark: import time, one analysis vs the raw aggregate scan (the floor), and a report render.

Run: ``.venv/bin/python benchmarks/bench_foundation.py [--users N] [--repeat R]``. Everything is measured in one
process run, interleaved, and reported as medians and ratios; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import abnb
from abnb.datasets.sample import generate

FLOOR_SQL = """
WITH a AS (
    SELECT unit, min(ts) AS t0, CASE WHEN count(DISTINCT arm) = 1 THEN min(arm) END AS arm
    FROM exposures WHERE experiment = 'checkout_redesign' GROUP BY unit
), p AS (
    SELECT a.unit, count(*) FILTER (WHERE e.event = 'purchase') AS purchases,
           sum(e.value) FILTER (WHERE e.event = 'purchase') AS revenue,
           count(*) FILTER (WHERE e.event = 'session') AS sessions,
           sum(e.value) FILTER (WHERE e.event = 'page_view') AS pages
    FROM a JOIN events e ON e.unit = a.unit AND e.ts >= a.t0 GROUP BY a.unit
)
SELECT a.arm, count(*), sum(coalesce(revenue, 0)), sum(coalesce(revenue, 0) ^ 2),
       sum(CASE WHEN purchases > 0 THEN 1 ELSE 0 END), sum(coalesce(sessions, 0)), sum(coalesce(sessions, 0) ^ 2),
       sum(coalesce(pages, 0)), sum(coalesce(pages, 0) ^ 2)
FROM a LEFT JOIN p USING (unit) GROUP BY a.arm
"""


def _median_seconds(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    imports = [
        float(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import time; t = time.perf_counter(); import abnb; print(time.perf_counter() - t)",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(args.repeat)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        start = time.perf_counter()
        summary = generate(db, users=args.users, progress=False)
        generate_s = time.perf_counter() - start
        spec = abnb.load("checkout_redesign")
        floor, analysis = [], []
        with abnb.connect(db) as con:
            for _ in range(args.repeat):  # interleaved
                floor.append(_median_seconds(lambda: con.raw.execute(FLOOR_SQL).fetchall(), 1))
                analysis.append(_median_seconds(lambda: spec.analyze(con), 1))
        render_s = _median_seconds(
            lambda: abnb.report.render(spec, database=db, output_dir=Path(tmp) / "reports"), max(1, args.repeat // 2)
        )
    floor_s, abnb_s = statistics.median(floor), statistics.median(analysis)
    print(f"users: {args.users:,} (events: {summary.rows['events']:,}); generate: {generate_s:.2f} s")
    print(f"import abnb: median {statistics.median(imports) * 1000:.0f} ms")
    print(f"floor (hand-written DuckDB scan): {floor_s * 1000:.1f} ms")
    print(
        f"abnb Experiment.analyze ({len(spec.metrics)} metrics, {len(spec.segments)} segment columns, covariates, "
        f"all panels): {abnb_s * 1000:.1f} ms "
        f"({abnb_s / floor_s:.2f}x floor)"
    )
    print(f"report render (papermill + nbconvert, kernel start included): {render_s:.2f} s")


if __name__ == "__main__":
    main()
