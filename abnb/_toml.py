"""Reading the TOML files users write (experiment specs, flag files): every failure names the file and the fix."""

from __future__ import annotations

import re
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
        SpecError: The file is missing, a directory, not UTF-8, unreadable, or not valid TOML (with line and column).
    """
    try:
        text = path.read_text(encoding="utf-8")
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
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _LINE.search(message)
        where = f" at line {match.group(1)}, column {match.group(2)}" if match else ""
        reason = _LINE.sub("", message).strip()
        raise SpecError(f"{what} {path} is not valid TOML{where}: {reason}. Fix that line.") from error
