"""Shared fixtures: a small sample database generated once per test worker."""

from __future__ import annotations

import os
import shutil
import socket
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


def debian_tool(names: tuple[str, ...], package: str) -> str:
    """Path of a program from a Debian package; skips with the reason outside CI when it is missing, fails in CI."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is missing in CI: .ci/run should have installed Debian's {package} package")
    pytest.skip(f"{names[0]} is not installed (apt-get install {package}); CI installs it")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium (see :func:`debian_tool`)."""
    return debian_tool(("chromium", "chromium-browser"), "chromium")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool, from Debian's prometheus package (see :func:`debian_tool`)."""
    return debian_tool(("promtool",), "prometheus")
