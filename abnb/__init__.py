"""abnb: assess software and ML quality in production, from a notebook.

The public names load lazily (PEP 562), so ``import abnb`` stays fast: DuckDB, SQLGlot, scipy, pandas, altair and
papermill are imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from abnb.errors import (
    AbnbError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    DataError,
    EngineError,
    ParameterError,
    ProjectError,
    ReportError,
    ReportLockedError,
    SchemaError,
    SpecError,
)

if TYPE_CHECKING:
    from abnb import (
        aggregate,
        assign,
        audit,
        bench,
        chaos,
        charts,
        counts,
        datasets,
        engine,
        experiment,
        feedback,
        flags,
        incremental,
        metrics,
        monitor,
        project,
        quality,
        report,
        rollout,
        stats,
        telemetry,
        validate,
        widgets,
    )
    from abnb.engine import Connection, SparkConnection, connect
    from abnb.experiment import Experiment, ExperimentResult, load
    from abnb.metrics import Metric
    from abnb.project import Project, find_project
    from abnb.telemetry import ModelTelemetry

__version__ = "0.1.0"

_NAMES = {
    "connect": "abnb.engine",
    "Connection": "abnb.engine",
    "SparkConnection": "abnb.engine",
    "Experiment": "abnb.experiment",
    "ExperimentResult": "abnb.experiment",
    "load": "abnb.experiment",
    "Metric": "abnb.metrics",
    "ModelTelemetry": "abnb.telemetry",
    "Project": "abnb.project",
    "find_project": "abnb.project",
}
_MODULES = {
    "aggregate",
    "assign",
    "audit",
    "bench",
    "chaos",
    "charts",
    "counts",
    "datasets",
    "engine",
    "experiment",
    "feedback",
    "flags",
    "incremental",
    "metrics",
    "monitor",
    "project",
    "report",
    "rollout",
    "quality",
    "stats",
    "telemetry",
    "validate",
    "widgets",
}

__all__ = [
    "AbnbError",
    "Connection",
    "DataError",
    "DatabaseLockedError",
    "DatabaseNotFoundError",
    "EngineError",
    "Experiment",
    "ExperimentResult",
    "Metric",
    "ModelTelemetry",
    "ParameterError",
    "Project",
    "ProjectError",
    "ReportError",
    "ReportLockedError",
    "SchemaError",
    "SparkConnection",
    "SpecError",
    "aggregate",
    "assign",
    "audit",
    "bench",
    "chaos",
    "charts",
    "connect",
    "counts",
    "datasets",
    "engine",
    "experiment",
    "feedback",
    "find_project",
    "flags",
    "incremental",
    "load",
    "metrics",
    "monitor",
    "project",
    "quality",
    "report",
    "rollout",
    "stats",
    "telemetry",
    "validate",
    "widgets",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"abnb.{name}")
    else:
        raise AttributeError(f"module 'abnb' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
