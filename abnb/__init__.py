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
        engine,
        experiment,
        feedback,
        flags,
        incremental,
        metrics,
        monitor,
        quality,
        report,
        rollout,
        sample,
        sample_concurrent,
        sample_models,
        stats,
        telemetry,
        widgets,
    )
    from abnb.engine import Connection, SparkConnection, connect
    from abnb.experiment import Experiment, ExperimentResult, load
    from abnb.metrics import Metric

__version__ = "0.1.0"

_NAMES = {
    "connect": "abnb.engine",
    "Connection": "abnb.engine",
    "SparkConnection": "abnb.engine",
    "Experiment": "abnb.experiment",
    "ExperimentResult": "abnb.experiment",
    "load": "abnb.experiment",
    "Metric": "abnb.metrics",
}
_MODULES = {
    "aggregate",
    "assign",
    "audit",
    "bench",
    "chaos",
    "charts",
    "counts",
    "engine",
    "experiment",
    "feedback",
    "flags",
    "incremental",
    "metrics",
    "monitor",
    "report",
    "rollout",
    "quality",
    "sample",
    "sample_concurrent",
    "sample_models",
    "stats",
    "telemetry",
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
    "ParameterError",
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
    "engine",
    "experiment",
    "feedback",
    "flags",
    "incremental",
    "load",
    "metrics",
    "monitor",
    "quality",
    "report",
    "rollout",
    "sample",
    "sample_concurrent",
    "sample_models",
    "stats",
    "telemetry",
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
