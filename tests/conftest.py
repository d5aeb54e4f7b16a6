"""Shared fixtures: a small sample database generated once per test worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import abnb
from abnb.sample import generate

SMALL_USERS = 20_000
SEED = 7


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000-user sample database (read it only; copy it to change it)."""
    path = tmp_path_factory.mktemp("db") / "telemetry.duckdb"
    generate(path, users=SMALL_USERS, seed=SEED, progress=False)
    return path


@pytest.fixture
def con(sample_db: Path) -> Iterator[abnb.Connection]:
    with abnb.connect(sample_db) as connection:
        yield connection


@pytest.fixture(scope="session")
def spec() -> abnb.Experiment:
    return abnb.load("checkout_redesign")
