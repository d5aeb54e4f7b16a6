"""abnb: assess software and ML quality in production, from a notebook.

The public names load lazily (PEP 562), so ``import abnb`` stays fast: DuckDB, SQLGlot, scipy, pandas, altair and
papermill are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abnb._lazy import lazy_attributes
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
        timeline,
        validate,
        widgets,
    )
    from abnb.engine import Connection, SparkConnection, connect
    from abnb.experiment import Experiment, ExperimentResult, Plan, load
    from abnb.metrics import Column, Metric, Sql
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
    "Plan": "abnb.experiment",
    "Metric": "abnb.metrics",
    "Sql": "abnb.metrics",
    "Column": "abnb.metrics",
    "ModelTelemetry": "abnb.telemetry",
    "Project": "abnb.project",
    "find_project": "abnb.project",
}
__all__ = [
    "AbnbError",
    "Column",
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
    "Plan",
    "Project",
    "ProjectError",
    "ReportError",
    "ReportLockedError",
    "SchemaError",
    "SparkConnection",
    "SpecError",
    "Sql",
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
    "timeline",
    "validate",
    "widgets",
]
_MODULES = {name for name in __all__ if name.islower() and name not in _NAMES}  # the submodules, loaded on use


__getattr__ = lazy_attributes("abnb", _NAMES, _MODULES, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
