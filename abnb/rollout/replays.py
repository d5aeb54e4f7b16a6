"""Every release's canary ramp replayed on history, with a clean release and other step lengths: the report's tables.

:func:`replay_releases` runs :func:`abnb.rollout.canary.replay_ramp` for each release, for a clean "release" (the
version before the first one ramped against itself, before that release) and for the same ramps with other step
lengths; :class:`ReleaseReplays` gives the tables the report shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from abnb.errors import ParameterError
from abnb.rollout.canary import RampPlan, RampReplay, replay_ramp

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from abnb.engine import Connection
    from abnb.telemetry import ModelTelemetry

__all__ = ["ReleaseReplays", "replay_releases"]


@dataclass(frozen=True)
class ReleaseReplays:
    """The ramp replays of several releases, of a clean release, and of the same ramps with other step lengths.

    Attributes:
        replays: One ramp replay per release, in the order asked.
        clean: The version serving before the first release ramped against itself, before that release: what a
            release that changes nothing gets.
        speeds: ``(step_hours, replays of every release with steps of that length)`` pairs.
    """

    replays: tuple[RampReplay, ...]
    clean: RampReplay
    speeds: tuple[tuple[float, tuple[RampReplay, ...]], ...]

    @property
    def ramps(self) -> tuple[RampReplay, ...]:
        """The releases' replays, then the clean one."""
        return (*self.replays, self.clean)

    def outcomes(self) -> pd.DataFrame:
        """One row per ramp (:attr:`ramps`): release, start, outcome, hours, exposure and failed metrics."""
        import pandas as pd

        frame = pd.DataFrame(
            [{"release": f"{r.canary_version} (vs {r.baseline_version})", **r.summary()} for r in self.ramps]
        )
        return frame[["release", "start", "outcome", "hours", "exposure", "failed_metrics"]]

    def failing(self) -> pd.DataFrame:
        """The judgements of the releases' ramps that are not Pass, with the ``release`` they belong to."""
        import pandas as pd

        judged = pd.concat([r.judgement_frame().assign(release=r.canary_version) for r in self.replays])
        return judged[judged["classification"] != "Pass"]

    def speed_table(self) -> pd.DataFrame:
        """One row per step length and release: ``step_hours``, release, outcome, hours, exposure, failed metrics."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "step_hours": hours,
                    "release": r.canary_version,
                    "outcome": r.outcome,
                    "hours": r.hours,
                    "exposure": r.exposure,
                    "failed": ", ".join(r.failed_metrics),
                }
                for hours, ramps in self.speeds
                for r in ramps
            ]
        )

    def headline(self) -> str:
        """Each release's outcome in a few words, e.g. ``"v2: ramp promoted after 120 h; v3: ramp rolled back ..."``."""
        return "; ".join(f"{r.canary_version}: ramp {r.outcome} after {r.hours:g} h" for r in self.replays)


def replay_releases(
    connection: Connection | duckdb.DuckDBPyConnection,
    versions: Sequence[str],
    *,
    plan: RampPlan | None = None,
    step_hours: Sequence[float] = (6.0, 12.0, 24.0),
    schema: ModelTelemetry | None = None,
) -> ReleaseReplays:
    """Replay the ramp ``plan`` for each release, for a clean release, and with each of ``step_hours``.

    The clean release is the baseline version of the first release ramped against itself, starting
    ``plan.promote_hours`` before that release (so its ramp ends at the release). The speeds replay every release
    with the plan's steps judged over ``step_hours`` each.

    Args:
        connection: A connection from :func:`abnb.connect` or a raw DuckDB connection.
        versions: The releases to replay (``model_version``), e.g. ``schema.release_versions(con)``.
        plan: The ramp plan (default :class:`~abnb.rollout.canary.RampPlan`).
        step_hours: Step lengths of the faster (or slower) ramps.
        schema: Names of the model-telemetry tables and columns (default: the sample's).

    Returns:
        The replays and the tables of the canary report.

    Raises:
        ParameterError: ``versions`` is empty.
        DataError: As :func:`~abnb.rollout.canary.replay_ramp`.
    """
    if not versions:
        raise ParameterError("versions is empty; name at least one release to replay.")
    plan = plan or RampPlan()
    replays = tuple(replay_ramp(connection, v, plan=plan, schema=schema) for v in versions)
    first = replays[0]
    clean = replay_ramp(
        connection,
        first.baseline_version,
        plan=plan,
        start=first.start - timedelta(hours=plan.promote_hours),
        baseline_version=first.baseline_version,
        schema=schema,
    )
    speeds = tuple(
        (
            float(hours),
            tuple(replay_ramp(connection, v, plan=replace(plan, step_hours=hours), schema=schema) for v in versions),
        )
        for hours in step_hours
    )
    return ReleaseReplays(replays=replays, clean=clean, speeds=speeds)
