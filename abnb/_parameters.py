"""Checks of a notebook's ``parameters`` cell shared by every report kind (experiment, monitoring, canary).

Papermill's ``-p`` guesses types (``-p experiment 007`` becomes the integer 7), so every parameter is a string and
anything else is refused with the fix. Papermill only warns about a parameter the notebook does not declare
(``-p asof 2026-10-10`` for ``as_of``) and the run would go on with the default; a validator given the kernel's
namespace (``namespace=globals()``) refuses such a name instead (:func:`unknown_names`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abnb.errors import ParameterError

__all__ = ["NAMESPACE", "string_parameters", "unknown_names"]

NAMESPACE = "namespace"  # the validators' keyword for the kernel's namespace; never a parameter's name

# What IPython puts in a kernel's namespace besides private names; papermill injects only the given parameters
# (its builtin ``pm`` dict formats output paths and never reaches the kernel).
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
# The values papermill can inject: -p, -r, -y and -f give strings, numbers, booleans, None, lists and dicts.
_PARAMETER_VALUES = (str, int, float, bool, list, dict, type(None))


def string_parameters(values: dict[str, Any], allowed: set[str], kind: str, hint: str = "") -> None:
    """Refuse unknown notebook parameters and values that are not strings (papermill's ``-p`` makes numbers).

    Args:
        values: The parameters as given; ``namespace``, when present, is the notebook kernel's namespace
            (``globals()``), checked by :func:`unknown_names`, and not a parameter.
        allowed: Their known names.
        kind: What they parameterise, for the messages (``"monitoring"``, ``"canary"``).
        hint: Appended to the advice to pass a raw string, e.g. ``" or use `abnb monitor`"``.

    Raises:
        ParameterError: A parameter is unknown (given, or set in the kernel's namespace) or not a string.
    """
    given = {name: value for name, value in values.items() if name != NAMESPACE}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ParameterError(f"unknown {kind} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}.")
    if NAMESPACE in values:
        _refuse_unknown_names(values[NAMESPACE], allowed, kind)
    for name, value in given.items():
        if not isinstance(value, str):
            raise ParameterError(
                f"{kind} parameter {name} must be a string, got {type(value).__name__} {value!r}; "
                f"pass it as a raw string (papermill -r {name} VALUE){hint}."
            )


def unknown_names(namespace: Mapping[str, object], allowed: set[str]) -> list[str]:
    """The names in a notebook kernel's namespace that look injected by papermill but are not parameters.

    A name counts when it is public (no leading ``_``), not one of IPython's (``In``, ``Out``, ``get_ipython``,
    ``exit``, ``quit``, ``open``) and bound to a value papermill can inject (a string, number, boolean, None, list
    or dict): modules, functions, classes and results the notebook imported or computed are not parameters.

    A namespace whose current cell already ran in this kernel (IPython's ``In`` history holds its source twice) is
    a re-run in a live kernel, "Run All" after the notebook's later cells defined their names: it is not checked.
    Papermill executes each cell of a fresh kernel once, so its runs are always checked.
    """
    if _is_rerun(namespace):
        return []
    return sorted(
        name
        for name, value in namespace.items()
        if name not in allowed
        and not name.startswith("_")
        and name not in _KERNEL_NAMES
        and name != NAMESPACE
        and isinstance(value, _PARAMETER_VALUES)
    )


def _is_rerun(namespace: Mapping[str, object]) -> bool:
    """The kernel's current cell (the last entry of IPython's ``In``) ran before in this kernel."""
    history = namespace.get("In")
    if not isinstance(history, list) or not history:
        return False
    return history[-1] in history[:-1]


def _refuse_unknown_names(namespace: object, allowed: set[str], kind: str) -> None:
    """Raise :class:`ParameterError` naming what the kernel's namespace defines beyond the ``allowed`` parameters."""
    if not isinstance(namespace, Mapping):
        raise ParameterError(
            f"{kind} parameter check: namespace must be the notebook kernel's globals(), got "
            f"{type(namespace).__name__}; call the validator with namespace=globals()."
        )
    unknown = unknown_names(namespace, allowed)
    if unknown:
        raise ParameterError(
            f"unknown {kind} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}. "
            "The notebook's kernel defines them but its parameters cell does not (papermill only warns about a "
            "name it does not declare, and the run would use the default): correct the name passed with "
            "papermill -p/-r (in a live kernel, delete that variable or restart the kernel)."
        )
