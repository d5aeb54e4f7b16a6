"""Scale benchmark: abnb vs the floor query, naive pandas/scipy and tea-tasting at 1M, 10M, 50M users + events.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_scale.py [--sizes 1000000,10000000] [--repeat 5]``.
Each size runs in a fresh subprocess (``abnb bench --users N --json``), so the peak RSS of one size is not that of
the previous one; inside it the methods are interleaved and the medians reported (see ``abnb/bench/``). Prints a
markdown table and writes ``benchmarks/results/scale.json``. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("floor", "floor_seg", "abnb", "naive", "peer")
CLI = "from abnb.cli import main; main()"


def import_seconds(repeat: int = 5) -> list[float]:
    """Seconds of ``import abnb`` in a fresh interpreter, ``repeat`` times."""
    code = "import time; t = time.perf_counter(); import abnb; print(time.perf_counter() - t)"
    return [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeat)
    ]


def run_size(users: int, repeat: int, *, events: bool, data_dir: str | None, methods: str | None) -> dict[str, Any]:
    """One ``abnb bench`` subprocess; its progress goes to our stderr, its last stdout line is the JSON."""
    command = [sys.executable, "-c", CLI, "bench", "--users", str(users), "--repeat", str(repeat), "--json"]
    if events:
        command.append("--events")
    if data_dir:
        command += ["--data-dir", data_dir]
    if methods:
        command += ["--methods", methods]
    label = f"{'events' if events else 'users'} {users:,}"
    print(f"== {label}: {' '.join(command[3:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def _cell(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    """One markdown table: size, method, median seconds, ratios to both floors, peak and baseline RSS."""
    lines = [
        "| data | method | median s | × floor | × floor_seg | peak RSS MB | RSS before MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows = f"{r['rows'] / 1e6:g}M rows" if r["level"] == "events" else ""
        data = f"{r['users'] / 1e6:g}M users" + (f" × {r['events_per_user']} events ({rows})" if rows else "")
        for m in METHODS:
            if m not in r["methods"]:
                continue
            lines.append(
                f"| {data} | {m} | {_cell(r[f'{m}_s'], 3)} | {_cell(r['ratio_to_floor'][m], 2)} | "
                f"{_cell(r['ratio_to_floor_seg'][m], 2)} | {r['peak_rss_mb'][m]:,.0f} | "
                f"{r['baseline_rss_mb'][m]:,.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000,50000000", help="User-level sizes, comma-separated.")
    parser.add_argument("--events-users", type=int, default=10_000_000, help="Users of the events set (0: skip).")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--methods", default=None, help="Passed to abnb bench (default: all).")
    parser.add_argument("--data-dir", default=None, help="Keep and reuse the generated DuckDB files here.")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "scale.json")
    args = parser.parse_args()

    imports = import_seconds()
    results = [
        run_size(int(size), args.repeat, events=False, data_dir=args.data_dir, methods=args.methods)
        for size in args.sizes.split(",")
        if size
    ]
    if args.events_users:
        results.append(run_size(args.events_users, args.repeat, events=True, data_dir=args.data_dir, methods=None))
    first = results[0] if results else {}
    summary = {
        "import_abnb_s": statistics.median(imports),
        "import_abnb_runs_s": imports,
        "machine": {
            "cpu_model": first.get("cpu_model"),
            "cpu_count": first.get("cpu_count"),
            "ram_gb": first.get("ram_gb"),
            "platform": first.get("platform", platform.platform()),
            "versions": first.get("versions"),
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(table(results))
    print()
    print(f"import abnb: median {statistics.median(imports) * 1000:.0f} ms of {len(imports)}")
    for r in results:
        checks = r["checks"]
        label = f"{r['level']} {r['users']:,}"
        if checks["ok"] is not None:
            verdict = "abnb agrees to 1e-6" if checks["ok"] else "MISMATCH: " + "; ".join(checks["mismatches"])
            print(f"{label}: results check vs {checks['reference']}: {verdict}")
        for note in r["notes"]:
            print(f"{label}: {note}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
