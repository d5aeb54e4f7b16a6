"""The monitoring notebook's papermill parameters and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from abnb._parameters import string_parameters
from abnb.errors import ParameterError
from abnb.monitor._common import WINDOW_PATTERN, resolve_end
from abnb.monitor.spec import NAME_PATTERN

__all__ = ["MonitoringParameters", "validate_monitoring_parameters"]


@dataclass(frozen=True)
class MonitoringParameters:
    """The validated parameters of the monitoring notebook."""

    window: str | None
    monitor_spec: str | None
    as_of: str | None
    model_version: str | None
    database: str | None
    summary_path: str | None


def validate_monitoring_parameters(**values: Any) -> MonitoringParameters:
    """Validate the monitoring notebook's parameters (call it on the line after the ``parameters`` cell).

    Every parameter is a string (papermill's ``-p`` turns ``-p as_of 20261014`` into an integer: pass values
    with ``-r`` or through ``abnb monitor``). ``window`` is a positive DuckDB interval such as ``"1 day"`` or
    ``"6 hours"``, empty for the spec's (``1 day`` for abnb's default rules); ``monitor_spec`` a monitoring spec of
    the project's ``monitors/`` by name or a ``.toml`` path, empty for abnb's default rules (a spec sets its own
    window, so ``window`` must then stay empty); ``as_of`` an ISO date (data through that day) or datetime, empty for
    all data; ``model_version`` a release to focus on, empty for every release; ``database`` a DuckDB file, empty
    for the embedded sample; ``summary_path`` where to write ``summary.json``, empty for nowhere.

    Raises:
        ParameterError: A parameter is unknown, not a string, or malformed.
    """
    allowed = {"window", "monitor_spec", "as_of", "model_version", "database", "summary_path"}
    string_parameters(values, allowed, "monitoring", " or use `abnb monitor`")
    window = values.get("window", "").strip() or None
    if window is not None and not WINDOW_PATTERN.fullmatch(window):
        raise ParameterError(
            f"monitoring parameter window must look like '1 day', '6 hours' or '30 minutes', got {window!r}."
        )
    spec = values.get("monitor_spec", "").strip() or None
    if spec is not None and not (spec.endswith(".toml") or NAME_PATTERN.fullmatch(spec)):
        raise ParameterError(
            f"monitoring parameter monitor_spec must name a monitor of the project's monitors/ (letters, digits, _) "
            f"or be the path of a .toml file, got {spec!r}."
        )
    if spec is not None and window is not None:
        raise ParameterError(
            f"monitoring parameters window={window!r} and monitor_spec={spec!r}: the spec sets the window; change "
            "it in the spec's file, or leave window empty."
        )
    as_of = values.get("as_of", "").strip() or None
    if as_of is not None:
        resolve_end(as_of)
    version = values.get("model_version", "").strip() or None
    if version is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]+", version):
        raise ParameterError(f"monitoring parameter model_version must be a version name, got {version!r}.")
    return MonitoringParameters(
        window=window,
        monitor_spec=spec,
        as_of=as_of,
        model_version=version,
        database=values.get("database", "").strip() or None,
        summary_path=values.get("summary_path", "").strip() or None,
    )
