"""Durable, atomic file writes: the one place abnb writes the files it publishes (reports, summaries, the index).

A file is written under a new name of its own (``O_EXCL | O_NOFOLLOW``, never a planted one), flushed to disk and
renamed over the target; a failure removes the temporary file, leaves the target as it was and becomes a
:class:`abnb.errors.ReportError` that names the file (and says "disk full" when the disk is).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from abnb.errors import ReportError

__all__ = ["fsync_dir", "open_no_follow", "write_atomic", "write_error", "write_new"]

# never through a symbolic link (ELOOP), never blocked by a FIFO planted in a file's place, not inherited by children
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags, mode)`` that never follows a symbolic link, never blocks and is closed on ``exec``.

    Raises:
        OSError: As ``os.open``; ``ELOOP`` when ``path`` is a symbolic link.
    """
    return os.open(path, flags | _NO_FOLLOW, mode)


def write_new(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to a new file ``path`` and flush it to disk (``fsync``); the one place abnb writes files.

    The file must not exist yet (``O_EXCL``): a name planted in its place, a symbolic link above all, is never
    opened, followed or truncated (``FileExistsError``). ``mode`` is set on the new file whatever the umask.
    """
    try:
        fd = open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with open(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        if error.filename is None:  # write() and fsync() do not name the file
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_error(error: OSError, path: Path) -> ReportError:
    """A :class:`ReportError` naming the file that could not be written, and "disk full" when the disk is."""
    where = error.filename or path
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ReportError(
            f"disk full while writing {where} ({error.strerror or error}): free space on that file system or "
            "choose another output folder, then run again. Nothing half-written was published; the previous "
            "report is left in place."
        )
    return ReportError(
        f"writing {where} failed: {error.strerror or error}. Nothing half-written was published; the previous "
        "report is left in place."
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename.

    Raises:
        ReportError: The write failed (the message names ``path``, and says "disk full" for ``ENOSPC``); the
            temporary file is removed and ``path`` is left as it was.
    """
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            raise ReportError(
                f"{path} is a symbolic link: abnb replaces its files only when they are plain files and never "
                "writes through a link. Remove the link (it is not abnb's) and run again."
            )
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        write_new(tmp, text)  # O_EXCL: a new file of our own, never a planted one
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise write_error(error, path) from error
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
