"""Checks of a notebook's ``parameters`` cell shared by every report kind (experiment, monitoring, canary).

Papermill's ``-p`` guesses types (``-p experiment 007`` becomes the integer 7), so every parameter is a string and
anything else is refused with the fix.
"""

from __future__ import annotations

from typing import Any

from abnb.errors import ParameterError

__all__ = ["string_parameters"]


def string_parameters(values: dict[str, Any], allowed: set[str], kind: str, hint: str = "") -> None:
    """Refuse unknown notebook parameters and values that are not strings (papermill's ``-p`` makes numbers).

    Args:
        values: The parameters as given.
        allowed: Their known names.
        kind: What they parameterise, for the messages (``"monitoring"``, ``"canary"``).
        hint: Appended to the advice to pass a raw string, e.g. ``" or use `abnb monitor`"``.

    Raises:
        ParameterError: A parameter is unknown or not a string.
    """
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ParameterError(f"unknown {kind} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}.")
    for name, value in values.items():
        if not isinstance(value, str):
            raise ParameterError(
                f"{kind} parameter {name} must be a string, got {type(value).__name__} {value!r}; "
                f"pass it as a raw string (papermill -r {name} VALUE){hint}."
            )
