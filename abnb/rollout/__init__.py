"""Releasing safely: shadow comparisons, the canary judge and ramp, blue/green switches.

| module | concept |
| --- | --- |
| ``canary`` | Kayenta-compatible judge (Mann–Whitney shift CI; Pass/High/Low/Nodata), scores, ramp plans |
| ``shadow`` | both models score the same requests: agreement, flips, score shifts, paired accuracy, labelling sampler |
| ``bluegreen`` | all traffic switched at once: before/after comparison, rollback decision and time |
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "mann_whitney": "canary",
    "judge": "canary",
    "score": "canary",
    "RampPlan": "canary",
    "replay_ramp": "canary",
    "compare": "shadow",
    "mcnemar": "shadow",
    "disagreements_to_label": "shadow",
    "compare_switch": "bluegreen",
}
_MODULES = ("canary", "shadow", "bluegreen")

__all__ = [*sorted(_NAMES), *_MODULES]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f"abnb.rollout.{_NAMES[name]}"), name)
    elif name in _MODULES:
        value = importlib.import_module(f"abnb.rollout.{name}")
    else:
        raise AttributeError(f"module 'abnb.rollout' has no attribute {name!r}")
    globals()[name] = value
    return value
