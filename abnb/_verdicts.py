"""The verdict words of abnb's decisions: one ``Literal`` type per family, so mypy checks every verdict spelled.

- :data:`ExperimentVerdict`: an experiment's decision (``abnb.experiment.Decision.verdict``).
- :data:`MonitorVerdict`: the monitoring dashboard's ``decision.verdict`` (``MonitorSummary.summary()``).
- :data:`ReleaseVerdict`: the canary report's ``decision.verdict`` (ramps and blue/green switches); a ramp's steps
  decide :data:`RampDecision` and it ends in a :data:`RampOutcome`.
- :data:`JudgeVerdict`: the Kayenta judge's metric classification (``Judgement``); the run's score classes a run
  :data:`ScoreVerdict` (``CanaryScore``).

The words are the ones ``summary.json`` and the reports show; they never change with the types.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ExperimentVerdict",
    "JudgeVerdict",
    "MonitorVerdict",
    "RampDecision",
    "RampOutcome",
    "ReleaseVerdict",
    "ScoreVerdict",
]

ExperimentVerdict = Literal["ship", "harm", "continue", "invalid"]
MonitorVerdict = Literal["ok", "alert", "rollback"]
ReleaseVerdict = Literal["ship", "rollback"]
RampDecision = Literal["promote", "hold", "roll back"]
RampOutcome = Literal["promoted", "rolled back", "incomplete"]
JudgeVerdict = Literal["Pass", "High", "Low", "Nodata"]
ScoreVerdict = Literal["Pass", "Marginal", "Fail"]
