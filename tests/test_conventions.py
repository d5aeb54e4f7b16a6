"""One vocabulary for public results (docs/architecture.md, "One vocabulary for results").

Walks every public dataclass of the statistics and domain modules and checks the conventions a reader relies on:
frozen results; ``alpha`` (never ``credible_level``/``confidence``) as the level of an analysis; intervals as
``estimate``/``ci_low``/``ci_high`` (sub-results, never ``precision_ci_low``); ``statistic`` always a float; every
``*Result`` shown the same way in a notebook (``to_frame``, ``_repr_html_``).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import typing

import pytest

MODULES = (
    "abnb.stats",
    "abnb.experiment",
    "abnb.feedback",
    "abnb.quality",
    "abnb.monitor",
    "abnb.rollout.canary",
    "abnb.rollout.shadow",
    "abnb.rollout.bluegreen",
    "abnb.rollout.replays",
    "abnb.audit",
    "abnb.chaos",
    "abnb.counts",
    "abnb.incremental",
    "abnb.timeline",
    "abnb.validate",
)


def _public_dataclasses() -> dict[str, type]:
    found: dict[str, type] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attribute in getattr(module, "__all__", ()):
            value = getattr(module, attribute)
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


CLASSES = _public_dataclasses()


def test_the_walk_finds_the_results() -> None:
    names = {cls.__name__ for cls in CLASSES.values()}
    assert {"Effect", "ExperimentResult", "BootstrapResult", "BayesResult", "ShiftResult", "Judgement"} <= names
    assert len(CLASSES) >= 60


@pytest.mark.parametrize("cls", CLASSES.values(), ids=list(CLASSES))
def test_public_dataclasses_are_frozen_and_speak_one_vocabulary(cls: type) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert not [f for f in fields if re.fullmatch(r".+_ci_(low|high)", f)], "use a sub-result with ci_low/ci_high"
    assert not fields & {"credible_level", "confidence", "confidence_level"}, "a level is `alpha`"
    if "ci_low" in fields or "ci_high" in fields:
        assert {"ci_low", "ci_high"} <= fields
    if "statistic" in fields:
        assert typing.get_type_hints(cls)["statistic"] in (float, float | None), "statistic is the test statistic"


RESULTS = {key: cls for key, cls in CLASSES.items() if cls.__name__.endswith("Result")}


@pytest.mark.parametrize("cls", RESULTS.values(), ids=list(RESULTS))
def test_every_result_is_shown_the_same_way(cls: type) -> None:
    for method in ("to_frame", "_repr_html_"):
        assert callable(getattr(cls, method, None)), f"{cls.__name__} has no {method}"
