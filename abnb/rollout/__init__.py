"""Releasing safely: shadow comparisons, the canary judge and ramp, blue/green switches.

| module | concept |
| --- | --- |
| ``canary`` | Kayenta-compatible judge (Mann–Whitney shift CI; Pass/High/Low/Nodata), scores, ramp plans |
| ``shadow`` | both models score the same requests: agreement, flips, score shifts, paired accuracy, labelling sampler |
| ``bluegreen`` | all traffic switched at once: before/after comparison, rollback decision and time |
| ``replays`` | every release's ramp replayed, with a clean release and other step lengths: the canary report |
"""

from __future__ import annotations

from abnb._lazy import lazy_attributes

_NAMES = {
    "mann_whitney": "canary",
    "judge": "canary",
    "score": "canary",
    "RampPlan": "canary",
    "replay_ramp": "canary",
    "compare_shadow": "shadow",
    "mcnemar": "shadow",
    "disagreements_to_label": "shadow",
    "compare_switch": "bluegreen",
    "replay_releases": "replays",
}
_MODULES = ("canary", "shadow", "bluegreen", "replays")

__all__ = [*sorted(_NAMES), *_MODULES]


__getattr__ = lazy_attributes("abnb.rollout", {k: f"abnb.rollout.{v}" for k, v in _NAMES.items()}, _MODULES, globals())
