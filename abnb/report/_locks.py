"""The report folders' locks: one run at a time writes a report folder, one at a time rebuilds the index.

Both are POSIX ``flock`` locks on small files of abnb's own (a pid and a newline), opened without following a link.
The kernel drops a lock when its holder exits, even on ``SIGKILL``, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from abnb import _io
from abnb.errors import ReportError, ReportLockedError

LOCK_FILE = ".lock"
INDEX_LOCK_FILE = ".index.lock"
_LOCK_MAX_BYTES = 64  # an abnb lock file holds a pid and a newline, nothing more


def _fcntl() -> Any:
    """The POSIX ``fcntl`` module, or a clear error where there is none (abnb's report locks need Linux or macOS)."""
    try:
        import fcntl
    except ImportError as error:  # Windows
        raise ReportError(
            "publishing a report locks its folder with POSIX file locks (fcntl), which this platform lacks; abnb's "
            "report commands run on Linux and macOS (on Windows, use WSL)."
        ) from error
    return fcntl


def open_lock(path: Path) -> int:
    """Open (creating it if needed) the persistent lock file ``path`` without following a symbolic link.

    The lock is not opened with ``O_EXCL``: a run killed by ``SIGKILL`` leaves it behind, and the next run must be
    able to take it. What is refused is anything that is not abnb's own small regular file: a symbolic link
    (``O_NOFOLLOW``), a hard link to another file, a directory or device, or a file with more than a pid in it.
    Whatever is refused is left exactly as it was (never truncated).

    Raises:
        ReportError: ``path`` cannot be opened, or is not a lock file abnb could have written.
    """
    try:
        fd = _io.open_no_follow(path, os.O_RDWR | os.O_CREAT)
    except OSError as error:
        if error.errno == errno.ELOOP or path.is_symlink():
            raise ReportError(
                f"{path} is a symbolic link: abnb never follows links for its lock files, so it neither opens nor "
                "truncates what the link points to. Remove the link (abnb did not make it) and run again."
            ) from None
        raise _io.write_error(error, path) from error
    problem = _not_a_lock(os.fstat(fd))
    if problem:
        os.close(fd)
        raise ReportError(
            f"{path} {problem}: it is not an abnb lock file, so this run leaves it untouched and stops. Move it "
            "away (it may be someone's data) and run again."
        )
    return fd


def _not_a_lock(info: os.stat_result) -> str:
    """Why an open file is not a lock file abnb could have written, or ``""`` when it is one."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links (it is another file's data too)"
    if info.st_size > _LOCK_MAX_BYTES:
        return f"holds {info.st_size} bytes, more than the pid abnb writes there"
    return ""


@contextmanager
def report_lock(folder: Path) -> Iterator[None]:
    """Hold ``<folder>/.lock`` (``fcntl.flock``, exclusive) while one run stages and publishes into ``folder``.

    Non-blocking: a second run for the same folder fails at once with :class:`ReportLockedError` naming the pid
    written in the lock file. The file is opened by :func:`open_lock` (never through a link).
    """
    path = folder / LOCK_FILE
    fd = open_lock(path)
    try:
        try:
            fcntl = _fcntl()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReportLockedError(
                f"another run ({_holder(fd)}) is writing {folder}: this run stops without touching it. That run "
                "publishes the report when it finishes; run again afterwards if you need a newer one "
                f"(the lock {path} is released when that process exits)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _holder(fd: int) -> str:
    """Who holds a lock: the pid written in it and that process's kind, or ``pid unknown``."""
    from abnb.engine import process_kind

    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
    if not holder.isdigit():
        return "pid unknown"
    kind = process_kind(int(holder)).replace(f" (pid {holder})", "").replace(f", pid {holder}", "")
    return f"pid {holder}" if kind == f"process {holder}" else f"pid {holder}, {kind}"


@contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """Hold ``<root>/.index.lock`` (blocking) while the index is rebuilt, so two runs cannot lose each other's row."""
    root.mkdir(parents=True, exist_ok=True)
    fd = open_lock(root / INDEX_LOCK_FILE)
    try:
        fcntl = _fcntl()
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
