"""A Prometheus exporter of a monitoring spec: abnb's backtest of the latest windows, served as gauges.

:class:`Exporter` refreshes on a schedule: it opens a read-only connection for that refresh only, runs
:func:`abnb.monitor.dashboard.backtest` (aggregate queries only) and keeps the last window of every rule and segment
as an immutable snapshot. A scrape (:meth:`Exporter.render`) only formats that snapshot, so it never queries the
database; a failed refresh keeps the last good values and says so with ``abnb_monitor_up 0``, the failure counter
and the staleness (computed at scrape time). The series and their labels are those of abnb's contract
(issue 18): ``abnb_monitor_value``, ``abnb_monitor_rule_{statistic,lower,upper,alarm}``, the
precision's CI bounds, the verdicts on the latest release (``abnb_monitor_release_{rollback,jump_estimate,
jump_pvalue,score_psi,score_drift}``) and the exporter's own health. The label-free series (score PSI, CBPE
expected precision) are served through ``abnb_monitor_value`` when a rule of the spec watches them.

:class:`ReplayExporter` serves a past backtest instead, one window per ``step_seconds`` of wall time, so a real
Prometheus can be shown the history around an outage in seconds. :class:`MetricsServer` (and :func:`serve`) answer
``GET /metrics`` over HTTP on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.registry import Collector

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from prometheus_client.metrics_core import Metric

    from abnb.engine import Connection
    from abnb.monitor.backtest import Backtest, RuleBacktest
    from abnb.monitor.dashboard import MonitorState
    from abnb.monitor.spec import MonitorSpec
    from abnb.telemetry import ModelTelemetry

__all__ = [
    "Exporter",
    "MetricsServer",
    "ReplayExporter",
    "release_samples",
    "replay_start",
    "serve",
    "snapshot",
    "window_samples",
]

PREFIX = "abnb_monitor_"
_JUMP_LABELS = ("model_version", "metric", "segment")
_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "value": ("Value of a series in the last complete window of its length.", ("series", "segment", "window")),
    "precision_ci_low": ("Lower bound of the Hajek precision's CI in the same window.", ("segment", "window")),
    "precision_ci_high": ("Upper bound of the Hajek precision's CI in the same window.", ("segment", "window")),
    "rule_statistic": ("A rule's statistic at the last window (value, EWMA z, or max CUSUM sum).", ("rule", "segment")),
    "rule_lower": ("A rule's lower limit at the last window (NaN: none).", ("rule", "segment")),
    "rule_upper": ("A rule's upper limit at the last window.", ("rule", "segment")),
    "rule_alarm": ("1 when abnb's replay of the rule is in alarm at the last window, else 0.", ("rule", "segment")),
    "release_rollback": (
        "1 when the latest release degraded the metric significantly (abnb's release-jump verdict), else 0.",
        ("model_version", "metric", "segment"),
    ),
    "release_jump_estimate": ("After − before mean of the metric's windows at the latest release.", _JUMP_LABELS),
    "release_jump_pvalue": ("Two-sided Welch p-value of no jump at the latest release.", _JUMP_LABELS),
    "release_score_psi": ("PSI of the scores after vs before the latest release.", ("model_version", "segment")),
    "release_score_drift": (
        "1 when the latest release's score drift is significant (BH-adjusted chi2 p <= alpha and PSI >= 0.1).",
        ("model_version", "segment"),
    ),
}
"""The data families (without the ``abnb_monitor_`` prefix): help text and labels after ``monitor``."""

Sample = tuple[str, tuple[str, ...], float]
"""One gauge sample: family (unprefixed), label values after ``monitor`` (in ``_FAMILIES`` order), value."""


class _Renders(Protocol):
    """What :class:`MetricsServer` serves: an exporter that refreshes and renders."""

    def refresh(self) -> bool: ...

    def render(self) -> bytes: ...


@dataclass(frozen=True)
class _Health:
    """The exporter's own state, replaced as a whole after each refresh."""

    up: bool = False
    last_success: float = math.nan
    duration: float = math.nan
    failures: int = 0


def window_samples(item: RuleBacktest, index: int) -> list[Sample]:
    """The samples of one rule and segment at window ``index`` (negative counts from the end).

    Args:
        item: One rule's backtest in one segment.
        index: The window, a position in ``item.series`` (and its replay).

    Returns:
        The series value (and the precision CI bounds where the frame has them), the rule's statistic, limits and
        alarm, as the contract of the exporter defines them.
    """
    rule, series, state = item.rule, item.series, dict(item.replay.state)
    value = float(series[rule.column].iloc[index])
    samples: list[Sample] = [("value", (rule.series, item.segment, item.window), value)]
    for bound in ("ci_low", "ci_high"):
        if bound in series.columns:
            samples.append((f"precision_{bound}", (item.segment, item.window), float(series[bound].iloc[index])))
    if rule.kind == "ewma":
        statistic, lower, upper = (float(state[key][index]) for key in ("statistic", "lower", "upper"))
    elif rule.kind == "cusum":
        statistic = max(float(state["upper_sum"][index]), float(state["lower_sum"][index]))
        lower, upper = 0.0, float(state["limit"][index])
    else:
        statistic, lower, upper = float(state["value"][index]), math.nan, float(rule.threshold)
    labels = (rule.name, item.segment)
    samples += [
        ("rule_statistic", labels, statistic),
        ("rule_lower", labels, lower),
        ("rule_upper", labels, upper),
        ("rule_alarm", labels, 1.0 if state["alarm"][index] else 0.0),
    ]
    return samples


def _unique(samples: list[Sample]) -> tuple[Sample, ...]:
    """The samples with one per family and labels (rules watching the same series share its value)."""
    seen: dict[tuple[str, tuple[str, ...]], Sample] = {}
    for sample in samples:
        seen.setdefault(sample[:2], sample)
    return tuple(seen.values())


def snapshot(bt: Backtest, indices: Callable[[RuleBacktest], int] | None = None) -> tuple[Sample, ...]:
    """The samples of every rule and segment of a backtest, at its last window or at ``indices(item)``.

    A rule for which ``indices`` gives a negative position (no window yet) is left out.
    """
    samples: list[Sample] = []
    for item in bt.rules:
        index = -1 if indices is None else indices(item)
        if indices is not None and index < 0:
            continue
        samples += window_samples(item, index)
    return _unique(samples)


def release_samples(state: MonitorState) -> list[Sample]:
    """The verdicts on the latest release, as samples (none without a release).

    Per metric and segment the jump, its p-value and the rollback flag; per segment the score PSI and the drift flag.
    """
    samples: list[Sample] = []
    for jump in state.release_jumps.to_dict("records"):
        labels = (str(jump["model_version"]), str(jump["metric"]), str(jump["segment"]))
        samples += [
            ("release_rollback", labels, 1.0 if jump["rollback"] else 0.0),
            ("release_jump_estimate", labels, float(jump["estimate"])),
            ("release_jump_pvalue", labels, float(jump["pvalue"])),
        ]
    for drift in state.release_drift.to_dict("records"):
        where = (str(drift["model_version"]), str(drift["segment"]))
        samples += [
            ("release_score_psi", where, float(drift["psi"])),
            ("release_score_drift", where, float(drift["drift"])),
        ]
    return samples


class _Collector(Collector):
    """Yields the metric families of an exporter's current samples and health (for a private registry)."""

    def __init__(self, source: _Source) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        """Nothing: the families depend on the snapshot, so registering never collects."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families, built from one read of the samples and of the health."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        monitor = self._source.spec.name
        samples, health = self._source.current()
        for family, (text, labels) in _FAMILIES.items():
            gauge = GaugeMetricFamily(PREFIX + family, text, labels=["monitor", *labels])
            for name, values, value in samples:
                if name == family:
                    gauge.add_metric([monitor, *values], value)
            yield gauge
        now = self._source.clock()
        staleness = now - health.last_success if math.isfinite(health.last_success) else math.nan
        for family, text, value in (
            ("up", "1 when the last refresh succeeded, 0 when it failed (values kept).", float(health.up)),
            ("last_success_timestamp_seconds", "Unix time of the last successful refresh.", health.last_success),
            ("staleness_seconds", "Seconds since the last successful refresh, at scrape time.", staleness),
            ("refresh_duration_seconds", "Duration of the last refresh in seconds.", health.duration),
        ):
            gauge = GaugeMetricFamily(PREFIX + family, text, labels=["monitor"])
            gauge.add_metric([monitor], value)
            yield gauge
        counter = CounterMetricFamily(PREFIX + "refresh_failures", "Failed refreshes.", labels=["monitor"])
        counter.add_metric([monitor], float(health.failures))
        yield counter


class _Source:
    """What the collector reads: a spec, a clock, and the current samples with the health."""

    spec: MonitorSpec
    clock: Callable[[], float]

    def __init__(self, spec: MonitorSpec, clock: Callable[[], float]) -> None:
        from prometheus_client import CollectorRegistry

        self.spec = spec
        self.clock = clock
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(self))

    def current(self) -> tuple[tuple[Sample, ...], _Health]:
        """The samples and the health to serve now."""
        raise NotImplementedError

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of the current samples; never queries the database."""
        from prometheus_client import generate_latest

        return generate_latest(self._registry)


class Exporter(_Source):
    """The latest window of every rule of a spec, refreshed from the database, served from memory.

    Args:
        spec: The monitoring spec (its ``name`` is the ``monitor`` label).
        connect: Opens a read-only connection, as a context manager, e.g.
            ``lambda: abnb.connect(path, read_only=True)``; called once per refresh and closed right after.
        schema: The telemetry's table and column names (default: the sample's); the spec's ``[model]`` applies over
            it.
        clock: Unix time now (injected by tests).
    """

    def __init__(
        self,
        spec: MonitorSpec,
        connect: Callable[[], AbstractContextManager[Connection]],
        *,
        schema: ModelTelemetry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(spec, clock)
        self._connect = connect
        self._schema = schema
        self._samples: tuple[Sample, ...] = ()
        self._health = _Health()
        self._lock = threading.Lock()

    def current(self) -> tuple[tuple[Sample, ...], _Health]:
        """The snapshot of the last good refresh and the health (both immutable, replaced whole)."""
        return self._samples, self._health

    @property
    def up(self) -> bool:
        """Whether the last refresh succeeded."""
        return self._health.up

    @property
    def failures(self) -> int:
        """Failed refreshes so far."""
        return self._health.failures

    def refresh(self) -> bool:
        """Backtest the spec on a fresh read-only connection and keep the last window of every rule.

        Never raises: on any failure (a missing or locked database, a failing query, a bad spec) the previous
        snapshot stays, ``up`` turns 0, the failure counter grows and one line goes to stderr.

        Returns:
            Whether the refresh succeeded.
        """
        from abnb.monitor.dashboard import monitor_state

        with self._lock:
            started = time.perf_counter()
            try:
                with self._connect() as con:
                    state = monitor_state(con, self.spec, schema=self._schema)
                samples = snapshot(state.backtest) + tuple(release_samples(state))
            except Exception as error:  # every failure is reported by the up gauge, never raised into the server
                old = self._health
                self._health = _Health(False, old.last_success, time.perf_counter() - started, old.failures + 1)
                detail = str(error).splitlines()[0] if str(error) else ""
                print(
                    f"abnb exporter {self.spec.name}: refresh failed, serving the last good values: "
                    f"{type(error).__name__}: {detail}",
                    file=sys.stderr,
                    flush=True,
                )
                return False
            self._samples = samples
            self._health = _Health(True, self.clock(), time.perf_counter() - started, self._health.failures)
            return True


class ReplayExporter(_Source):
    """A past backtest served window by window: window ``start + k`` after ``k`` steps of ``step_seconds``.

    Rules on different window lengths stay in step: the timeline is that of the rule with the most windows (the
    shortest), and every other rule shows its last window starting at or before that timeline's current window.
    After the last window the replay stays there.

    Args:
        spec: The monitoring spec.
        backtest: Its backtest over the history to replay.
        start: Position of the first window served on the timeline.
        step_seconds: Wall-clock seconds per window.
        clock: Unix time now (injected by tests).

    Raises:
        ParameterError: ``start`` outside the timeline, ``step_seconds`` not positive, or an empty backtest.
    """

    def __init__(
        self,
        spec: MonitorSpec,
        backtest: Backtest,
        *,
        start: int,
        step_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from abnb.errors import ParameterError

        super().__init__(spec, clock)
        if not backtest.rules:
            raise ParameterError("the backtest has no rule to replay; check the spec's rules and the data's span.")
        self._timeline = _timeline(backtest)
        if not 0 <= start < len(self._timeline):
            raise ParameterError(f"start must lie in 0..{len(self._timeline) - 1} (a window position), got {start}.")
        if not step_seconds > 0:
            raise ParameterError(f"step_seconds must be positive, got {step_seconds}.")
        self._times = {id(item): _times(item) for item in backtest.rules}
        self.backtest, self.start, self.step_seconds = backtest, start, float(step_seconds)
        self._began = clock()
        self._cache: tuple[int, tuple[Sample, ...]] = (-1, ())

    @property
    def position(self) -> int:
        """The timeline's window served now: ``start + k``, at most the last."""
        steps = max(0, math.floor((self.clock() - self._began) / self.step_seconds))
        return min(self.start + steps, len(self._timeline) - 1)

    def current(self) -> tuple[tuple[Sample, ...], _Health]:
        """The samples of the current window (computed once per window), and a healthy state."""
        import numpy as np

        position = self.position
        if self._cache[0] != position:
            at = self._timeline[position]

            def index(item: RuleBacktest) -> int:
                return int(np.searchsorted(self._times[id(item)], at, side="right")) - 1

            self._cache = (position, snapshot(self.backtest, index))
        return self._cache[1], _Health(True, self.clock(), 0.0, 0)

    def refresh(self) -> bool:
        """Nothing to refresh: the replay's values come from the backtest and the clock."""
        return True


def _times(item: RuleBacktest) -> NDArray[np.datetime64]:
    import numpy as np
    import pandas as pd

    return np.asarray(pd.to_datetime(item.series["window"]).to_numpy(dtype="datetime64[ns]"))


def _timeline(bt: Backtest) -> NDArray[np.datetime64]:
    """The window starts of the rule with the most windows."""
    return _times(max(bt.rules, key=lambda item: len(item.series)))


def replay_start(backtest: Backtest, when: datetime | str) -> int:
    """The position on the replay's timeline of the first window starting at or after ``when``.

    Raises:
        ParameterError: ``when`` is not a datetime, or is after the last window.
    """
    import numpy as np
    import pandas as pd

    from abnb.errors import ParameterError

    timeline = _timeline(backtest)
    try:
        at = pd.Timestamp(when)
    except ValueError as error:
        raise ParameterError(
            f"replay from {when!r}: not an ISO datetime such as 2026-03-14T09:30 ({error})."
        ) from error
    if at.tzinfo is not None:
        at = at.tz_convert("UTC").tz_localize(None)
    position = int(np.searchsorted(timeline, at.to_datetime64(), side="left"))
    if position >= len(timeline):
        raise ParameterError(
            f"replay from {when}: after the last window ({pd.Timestamp(timeline[-1])}); give an earlier time."
        )
    return position


class _Handler(BaseHTTPRequestHandler):
    """``GET /metrics``: the exporter's cached exposition; 404 elsewhere."""

    exporter: _Renders

    def _answer(self) -> None:
        """Answer a scrape."""
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "only /metrics is served")
            return
        body = self.exporter.render()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep scrapes out of stderr."""


class MetricsServer:
    """An HTTP server of ``/metrics`` and a thread refreshing the exporter every ``refresh_seconds``.

    Args:
        exporter: An :class:`Exporter` or :class:`ReplayExporter`.
        host: Address to bind (127.0.0.1: this machine only).
        port: TCP port; 0 picks a free one (see :attr:`port`).
        refresh_seconds: Seconds between refreshes (the first comes after one interval: refresh before starting).
    """

    def __init__(
        self, exporter: _Renders, *, host: str = "127.0.0.1", port: int = 9464, refresh_seconds: float = 60.0
    ) -> None:
        from abnb.errors import ParameterError

        if not refresh_seconds > 0:
            raise ParameterError(f"refresh_seconds must be positive, got {refresh_seconds}.")
        handler = type("Handler", (_Handler,), {"exporter": exporter, "do_GET": _Handler._answer})  # GET → _answer
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._exporter, self._interval, self._host = exporter, float(refresh_seconds), host
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The URL of the metrics."""
        return f"http://{self._host}:{self.port}/metrics"

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._exporter.refresh()

    def start(self) -> MetricsServer:
        """Serve and refresh in background threads."""
        for target in (self._server.serve_forever, self._refresh_loop):
            thread = threading.Thread(target=target, name=f"abnb-exporter-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and refreshing, and close the socket."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def serve(exporter: _Renders, *, host: str = "127.0.0.1", port: int = 9464, refresh_seconds: float = 60.0) -> None:
    """Refresh once, then serve ``/metrics`` and refresh every ``refresh_seconds`` until interrupted (Ctrl-C)."""
    exporter.refresh()
    server = MetricsServer(exporter, host=host, port=port, refresh_seconds=refresh_seconds).start()
    print(f"serving {server.url}", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
