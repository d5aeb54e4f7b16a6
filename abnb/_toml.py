"""Reading the TOML files users write (experiment specs, flag files): every failure names the file and the fix."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from abnb.errors import SpecError

_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse a UTF-8 TOML file.

    Args:
        path: The file.
        what: What the file is, for messages (``"experiment spec"``, ``"flag file"``).

    Raises:
        SpecError: The file is missing, a directory, not a regular file (a FIFO or a device, which would block or
            never end), not UTF-8, unreadable, not valid TOML (with line and column), or nested too deeply.
    """
    try:
        text = _read_regular(path).decode("utf-8")
    except FileNotFoundError as error:
        raise SpecError(f"{what} {path} does not exist.") from error
    except IsADirectoryError as error:
        raise SpecError(f"{what} {path} is a directory; pass the path of one .toml file.") from error
    except UnicodeDecodeError as error:
        raise SpecError(
            f"{what} {path} is not UTF-8 text (byte {error.start} cannot be decoded); TOML files must be UTF-8. "
            "Re-save it as UTF-8."
        ) from error
    except OSError as error:
        raise SpecError(f"{what} {path} cannot be read: {error.strerror or error}.") from error
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise SpecError(
            f"{what} {path} nests arrays or tables too deeply for the TOML reader; flatten it (a spec needs a few "
            "levels at most)."
        ) from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _LINE.search(message)
        where = f" at line {match.group(1)}, column {match.group(2)}" if match else ""
        reason = _LINE.sub("", message).strip()
        raise SpecError(f"{what} {path} is not valid TOML{where}: {reason}. Fix that line.") from error


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file (a symlink to one is fine).

    The file is opened without blocking and checked with ``fstat`` before it is read, so a FIFO named ``*.toml``
    (whose ``open`` would wait for a writer forever) or a device is refused instead of hanging the caller.

    Raises:
        OSError: The file cannot be opened or read, or it is not a regular file (``EINVAL``, saying what it is).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            raise OSError(22, f"it is {kind}, not a regular file; only regular .toml files are read", str(path))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)
