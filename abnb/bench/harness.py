"""The benchmark harness: time every method interleaved, measure its peak RSS, check the numbers, report.

Every repetition runs each method once, in a rotated order (interleaved), so drift of the machine hits every
method alike; the result is the median per method. The peak resident set size (RSS) of the process during each
call is measured by :class:`~abnb.bench.memory.PeakRss`. After the timings, abnb's numbers are checked
(:mod:`abnb.bench.numbers`).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb.bench import data
from abnb.bench.memory import PeakRss, available_memory, total_memory
from abnb.bench.numbers import Numbers, abnb_numbers, compare_numbers, naive_numbers, peer_numbers, sums_numbers
from abnb.errors import ParameterError

if TYPE_CHECKING:
    from abnb.engine import Connection
    from abnb.experiment import Experiment

METHODS: tuple[str, ...] = ("floor", "floor_seg", "abnb", "naive", "peer")
USER_METHODS = METHODS
EVENT_METHODS: tuple[str, ...] = ("floor", "floor_seg", "abnb")
NAIVE_BYTES_PER_ROW = 200  # measured ~155 B/row peak for the DuckDB→pandas fetch plus the t-tests, rounded up
NAIVE_RAM_SHARE = 0.6
_MB = 1024 * 1024


@dataclass
class Measurement:
    """Wall times (seconds) and RSS (bytes) of one method over the repetitions."""

    seconds: list[float] = field(default_factory=list)
    peak_rss: int = 0
    baseline_rss: int = 0
    value: Any = None

    @property
    def median(self) -> float | None:
        """Median wall time, or ``None`` if the method did not run."""
        return statistics.median(self.seconds) if self.seconds else None

    def record(self, call: Callable[[], Any]) -> str:
        """Run ``call`` once: add its wall time, keep its peak and baseline RSS and its value.

        Returns:
            How the RSS was measured (:attr:`PeakRss.method`).
        """
        with PeakRss() as rss:
            start = time.perf_counter()
            value = call()
            seconds = time.perf_counter() - start
        self.seconds.append(seconds)
        self.peak_rss, self.baseline_rss = max(self.peak_rss, rss.peak), max(self.baseline_rss, rss.baseline)
        self.value = value
        return rss.method


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("abnb", "duckdb", "sqlglot", "numpy", "pandas", "scipy", "tea-tasting", "ibis-framework"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _resolve_methods(methods: Sequence[str] | None, events: bool) -> list[str]:
    allowed = EVENT_METHODS if events else USER_METHODS
    chosen = list(allowed) if not methods else [m for part in methods for m in part.split(",") if m]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ParameterError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
    return [m for m in METHODS if m in chosen]


@contextmanager
def _database(data_dir: str | os.PathLike[str] | None, name: str) -> Iterator[Path]:
    if data_dir is not None:
        yield Path(data_dir) / name
        return
    with tempfile.TemporaryDirectory(prefix="abnb-bench-") as tmp:
        yield Path(tmp) / name


def run(
    users: int,
    *,
    repeat: int = 5,
    methods: Sequence[str] | None = None,
    events: bool = False,
    events_per_user: int = data.EVENTS_PER_USER,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = data.SEED,
    log: Callable[[str], None] | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """Generate the data, time every method ``repeat`` times interleaved, check the numbers; return a JSON-safe dict.

    Args:
        users: Users (rows of ``users``; exposures at event level).
        repeat: Timed repetitions per method (after one untimed warm-up round of the fast methods).
        methods: Methods to run (default: all that apply to the level); entries may be comma-separated.
        events: Benchmark the event-level set instead of the user-level table.
        events_per_user: Events per user at event level.
        data_dir: Keep the generated DuckDB file here and reuse it on the next run (default: a temporary folder).
        seed: Seed of the data.
        log: Receives progress lines (e.g. ``print`` to stderr).
        engine: A PostgreSQL URL: the user-level table is copied there (``COPY``, replacing a ``users`` table of
            that database; the session needs write access) and ``floor``, ``floor_seg`` and ``abnb`` run on the
            server; ``naive`` and ``peer`` do not apply. ``None``: DuckDB.

    Returns:
        ``floor_s``, ``floor_seg_s``, ``abnb_s``, ``naive_s``, ``peer_s`` (medians, seconds; ``None`` when not run),
        ``peak_rss_mb`` and ``baseline_rss_mb`` per method, ratios, all timings, the checks, notes and the machine.

    Raises:
        ParameterError: ``users``, ``repeat`` or a method name is invalid.
    """
    from abnb.engine import connect

    chosen, notes, rows = _plan(users, repeat, methods, events, events_per_user)
    say = log or (lambda _line: None)
    if engine is not None:
        chosen, notes = _on_postgres(engine, chosen, notes, events)
    level = "events" if events else "users"
    name = f"{level}_{users}_{seed}" + (f"_{events_per_user}" if events else "") + ".duckdb"
    with _database(data_dir, name) as path:
        if path.exists():
            generate_s = None
            say(f"reusing {path}")
        else:
            generate_s = _write_data(path, users, events=events, events_per_user=events_per_user, seed=seed, say=say)
        database_mb = path.stat().st_size / _MB
        spec = data.event_spec() if events else data.user_spec()
        copy_s = None
        if engine is not None:
            from abnb.engine.postgres import copy_from_duckdb

            say(f"copying users into {engine} ...")
            started = time.perf_counter()
            copy_from_duckdb(path, engine, tables=["users"], replace=True)
            copy_s = time.perf_counter() - started
            say(f"copied in {copy_s:.1f} s")
        opened = connect(engine) if engine is not None else connect(path, external_access=True)
        with opened as con:  # DuckDB: trusted code, so ibis may set the session's time zone
            calls, peer_import_s = _methods(con, spec, chosen, events, notes)
            measurements, rss_method = _measure(calls, chosen, repeat, say)
            checks = _check(measurements, events)
            for line in checks["mismatches"]:
                say(f"MISMATCH {line}")
            for line in checks["peer_differences"]:
                say(f"peer differs: {line}")
            for got in measurements.values():
                got.value = None
    return {
        "users": users,
        "level": level,
        "events_per_user": events_per_user if events else None,
        **_timings(measurements, chosen, repeat),
        "rss_method": rss_method,
        "rows": rows,
        "generate_s": generate_s,
        "database_mb": round(database_mb, 1),
        "engine": "duckdb" if engine is None else "postgresql",
        "copy_s": copy_s,
        "peer_import_s": peer_import_s,
        "checks": checks,
        "notes": notes,
        **_machine(),
    }


def _plan(
    users: int, repeat: int, methods: Sequence[str] | None, events: bool, events_per_user: int
) -> tuple[list[str], list[str], int]:
    """The methods to run, notes on those left out, and the rows of the data set.

    A method is left out at event level (``naive``, ``peer``: user level only), and ``naive`` when it would not fit
    in memory.

    Raises:
        ParameterError: ``users``, ``repeat`` or a method name is invalid.
    """
    data.check_users(users)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ParameterError(f"repeat must be a positive whole number, got {repeat!r}.")
    chosen = _resolve_methods(methods, events)
    notes: list[str] = []
    if events:
        skipped = [m for m in chosen if m not in EVENT_METHODS]
        if skipped:
            notes.append(f"{', '.join(skipped)}: not run at event level (user-level table only).")
        chosen = [m for m in chosen if m in EVENT_METHODS]
    rows = users * (1 + events_per_user) if events else users
    if "naive" in chosen:
        need, have = rows * NAIVE_BYTES_PER_ROW, available_memory()
        if have is not None and need > NAIVE_RAM_SHARE * have:
            notes.append(
                f"naive: skipped, it would need about {need / 2**30:.1f} GiB, more than "
                f"{NAIVE_RAM_SHARE:.0%} of the {have / 2**30:.1f} GiB available."
            )
            chosen.remove("naive")
    return chosen, notes, rows


def _on_postgres(engine: str, chosen: list[str], notes: list[str], events: bool) -> tuple[list[str], list[str]]:
    """The methods that run on PostgreSQL (the floors and abnb, user level only), with notes on the rest.

    Raises:
        ParameterError: ``engine`` is not a PostgreSQL URL, or the event level was asked for.
    """
    from abnb.engine.postgres import is_postgres_url

    if not is_postgres_url(engine):
        raise ParameterError(f"engine must be a PostgreSQL URL (postgresql://user@host:5432/db), got {engine!r}.")
    if events:
        raise ParameterError("the event-level floor queries are DuckDB SQL; benchmark PostgreSQL at user level.")
    skipped = [m for m in chosen if m not in ("floor", "floor_seg", "abnb")]
    if skipped:
        notes = [*notes, f"{', '.join(skipped)}: DuckDB only (they read the table into pandas or through ibis)."]
    return [m for m in chosen if m in ("floor", "floor_seg", "abnb")], notes


def _write_data(
    path: Path, users: int, *, events: bool, events_per_user: int, seed: int, say: Callable[[str], None]
) -> float:
    """Write the data set of the level into ``path``; the seconds it took."""
    say(f"generating {'events' if events else 'users'} data for {users:,} users into {path} ...")
    if events:
        seconds = data.generate_events(path, users, events_per_user=events_per_user, seed=seed)
    else:
        seconds = data.generate_users(path, users, seed=seed)
    say(f"generated in {seconds:.1f} s ({path.stat().st_size / _MB:,.0f} MB)")
    return seconds


def _measure(
    calls: Mapping[str, Callable[[], Any]], chosen: list[str], repeat: int, say: Callable[[str], None]
) -> tuple[dict[str, Measurement], str]:
    """One untimed warm-up round of the fast methods, then ``repeat`` timed rounds in a rotated order.

    Returns:
        The measurements by method, and how the RSS was measured.
    """
    measurements = {m: Measurement() for m in chosen}
    rss_method = ""
    warm = [m for m in chosen if m != "naive"]
    say(f"warm-up: {', '.join(warm)}")
    for m in warm:
        calls[m]()
    for r in range(repeat):
        order = chosen[r % len(chosen) :] + chosen[: r % len(chosen)]
        for m in order:
            rss_method = measurements[m].record(calls[m])
        say(f"repetition {r + 1}/{repeat}: " + ", ".join(f"{m} {measurements[m].seconds[-1]:.3f} s" for m in order))
    return measurements, rss_method


def _timings(measurements: Mapping[str, Measurement], chosen: list[str], repeat: int) -> dict[str, Any]:
    """The median seconds of every method (``None`` when not run), the ratios to both floors, all times and RSS."""
    medians = {m: (measurements[m].median if m in measurements else None) for m in METHODS}
    floor, floor_seg = medians["floor"], medians["floor_seg"]
    return {
        **{f"{m}_s": medians[m] for m in METHODS},
        "repeat": repeat,
        "methods": chosen,
        "ratio_to_floor": {m: _ratio(medians[m], floor) for m in chosen},
        "ratio_to_floor_seg": {m: _ratio(medians[m], floor_seg) for m in chosen},
        "times_s": {m: measurements[m].seconds for m in chosen},
        "peak_rss_mb": {m: round(measurements[m].peak_rss / _MB, 1) for m in chosen},
        "baseline_rss_mb": {m: round(measurements[m].baseline_rss / _MB, 1) for m in chosen},
    }


def _machine() -> dict[str, Any]:
    """The package versions, CPU, memory and platform the benchmark ran on."""
    import abnb

    total = total_memory()
    return {
        "versions": _versions(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gb": None if total is None else round(total / 2**30, 1),
        "platform": platform.platform(),
        "abnb_version": getattr(abnb, "__version__", None),
    }


def _ratio(value: float | None, floor: float | None) -> float | None:
    return None if value is None or not floor else value / floor


def _methods(
    con: Connection, spec: Experiment, chosen: Sequence[str], events: bool, notes: list[str]
) -> tuple[dict[str, Callable[[], Any]], float | None]:
    """The callables to time, each returning what the results check needs."""
    raw = con.raw
    params = {"as_of": data.AS_OF} if events else {}
    floor_sql, floor_seg_sql = (
        (data.EVENT_FLOOR_SQL, data.EVENT_FLOOR_SEG_SQL) if events else (data.USER_FLOOR_SQL, data.USER_FLOOR_SEG_SQL)
    )
    calls: dict[str, Callable[[], Any]] = {
        "floor": lambda: raw.execute(floor_sql, params).fetchall(),
        "floor_seg": lambda: raw.execute(floor_seg_sql, params).fetchall(),
        "abnb": lambda: spec.analyze(con),
    }

    def naive() -> Numbers:
        frame = raw.execute("SELECT arm, revenue, converted, revenue_pre FROM users").df()
        return naive_numbers(frame)

    calls["naive"] = naive
    peer_import_s: float | None = None
    if "peer" in chosen:
        start = time.perf_counter()
        try:
            import ibis
            import tea_tasting as tt
        except ImportError:
            notes.append("peer: tea-tasting (or ibis-framework[duckdb]) is not installed: pip install 'abnb[bench]'.")
            calls["peer"] = lambda: None
        else:
            peer_import_s = time.perf_counter() - start
            backend = ibis.duckdb.from_connection(raw)  # the same DuckDB instance and file as the other methods
            experiment = tt.Experiment(
                revenue=tt.Mean("revenue"),
                conversion=tt.Proportion("converted", method="norm", equal_var=False),
                revenue_cuped=tt.Mean("revenue", covariate="revenue_pre"),
                variant="arm",
            )

            def peer() -> Any:
                with warnings.catch_warnings():  # ibis 12 calls a DuckDB method that DuckDB 2 deprecates
                    warnings.simplefilter("ignore", DeprecationWarning)
                    return experiment.analyze(backend.table("users"), control="control")

            calls["peer"] = peer
            notes.append(
                "peer: tea-tasting analyses overall only (no segment breakdown); compare it with `floor`. "
                f"Importing tea_tasting + ibis took {peer_import_s:.2f} s (not in the timings)."
            )
    return {m: calls[m] for m in chosen}, peer_import_s


def _check(measurements: Mapping[str, Measurement], events: bool) -> dict[str, Any]:
    """Check abnb's numbers against the reference (naive scipy, else scipy on the floor's sums)."""
    checks: dict[str, Any] = {"reference": None, "ok": None, "mismatches": [], "peer_differences": []}
    if "abnb" not in measurements:
        return checks
    numbers = abnb_numbers(measurements["abnb"].value)
    if "naive" in measurements:
        reference, checks["reference"] = measurements["naive"].value, "naive (pandas + scipy)"
    elif "floor" in measurements:
        reference, checks["reference"] = sums_numbers(measurements["floor"].value), "scipy on the floor's sums"
    else:
        return checks
    checks["mismatches"] = compare_numbers(numbers, reference)
    checks["ok"] = not checks["mismatches"]
    peer = measurements.get("peer")
    if peer is not None and peer.value is not None:
        checks["peer_differences"] = compare_numbers(peer_numbers(peer.value), reference, label="peer")
    return checks


def format_table(result: Mapping[str, Any]) -> str:
    """A markdown table of one run: method, median seconds, ratios to both floors, peak and baseline RSS."""
    lines = [
        f"{result['level']}: {result['users']:,} users, {result['rows']:,} rows, median of {result['repeat']}"
        + (f", on {result['engine']}" if result.get("engine", "duckdb") != "duckdb" else ""),
        "",
        "| method | median s | x floor | x floor_seg | peak RSS MB | RSS before MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in result["methods"]:
        seconds = result[f"{m}_s"]
        ratio, ratio_seg = result["ratio_to_floor"][m], result["ratio_to_floor_seg"][m]
        lines.append(
            f"| {m} | {_fmt(seconds, 3)} | {_fmt(ratio, 2)} | {_fmt(ratio_seg, 2)} | "
            f"{result['peak_rss_mb'][m]:,.0f} | {result['baseline_rss_mb'][m]:,.0f} |"
        )
    checks = result["checks"]
    if checks["ok"] is not None:
        lines.append("")
        lines.append(
            f"results check vs {checks['reference']}: "
            + ("abnb agrees to 1e-6" if checks["ok"] else f"{len(checks['mismatches'])} MISMATCH(ES)")
        )
        lines += [f"  {line}" for line in checks["mismatches"]]
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
