"""Lazy package attributes (PEP 562): a package lists what it exports and imports each piece on first use.

``import abnb`` (and ``abnb.rollout``, ``abnb.widgets``) stays fast: DuckDB, SQLGlot, scipy, pandas and altair load
only when a name that needs them is first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, names: Mapping[str, str], modules: Iterable[str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports an attribute on first use and keeps it in ``namespace``.

    Args:
        package: The package's dotted name (``"abnb.rollout"``).
        names: Attribute name → the module that defines it (dotted, absolute).
        modules: Submodules of ``package`` exported as attributes.
        namespace: The package's ``globals()``: a loaded attribute is stored there, so it is imported once.

    Returns:
        The function to assign to the package's ``__getattr__``.
    """
    table, submodules = dict(names), frozenset(modules)

    def load(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(table[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    return load
