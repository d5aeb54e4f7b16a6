"""Shared fixtures: a small sample database generated once per test worker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import abnb
from abnb.datasets.sample import generate

SMALL_USERS = 20_000
SEED = 7


@pytest.fixture(autouse=True)
def _project_environment() -> Iterator[None]:
    """Restore $ABNB_PROJECT and $ABNB_DATABASE after each test (`abnb --project` sets the first for its kernels)."""
    saved = {name: os.environ.get(name) for name in ("ABNB_PROJECT", "ABNB_DATABASE")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


# Debian chromium as root, headless, on a machine whose only network is loopback.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium; skips with the reason outside CI when it is missing, fails in CI."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run should have installed Debian's chromium")
        pytest.skip("Debian chromium is not installed (apt-get install chromium); CI installs it")
    return path
