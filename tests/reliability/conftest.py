"""Settings for the reliability tests: hypothesis runs fast and the same way on every machine.

The ``ci`` profile (loaded here, for this folder) draws 100 examples per property from a fixed seed
(``derandomize=True``), keeps no example database on disk and has no per-example deadline (a shared CI core can
stall). Set ``HYPOTHESIS_PROFILE=dev`` for a longer, randomised local search.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.reliability.fake_publication import fake_papermill, fake_publish

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=(HealthCheck.too_slow,),
)
settings.register_profile("dev", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A reports folder with one published fake run ``"old"``; the fake papermill is then set to run ``"new"``."""
    root = tmp_path / "reports"
    fake_papermill(monkeypatch, "old")
    fake_publish(root)
    fake_papermill(monkeypatch, "new")
    return root
