r"""PromQL text built from monitoring specs: label values quoted so that no spec string can change a query.

PromQL reads a double-quoted string with Go's escapes (``\\``, ``\"``, ``\n``, ``\uXXXX``, ...) and rejects a raw
newline inside one ("Querying basics: string literals" in the Prometheus documentation). Every escape
:func:`json.dumps` writes (``\\ \" \b \f \n \r \t \uXXXX``) is one of Go's, so its literal of a valid Unicode string
is also a PromQL literal of the same string.
"""

from __future__ import annotations

import json

from abnb.errors import ParameterError

__all__ = ["promql_string"]


def promql_string(value: str) -> str:
    r"""The PromQL double-quoted string literal of ``value``, quotes included.

    Backslashes, double quotes and control characters (newline, tab, ...) are escaped; every other character stays
    as it is, so ``promql_string('a"b')`` is ``"a\"b"``. Decoding the literal with Go's ``strconv.Unquote`` (what
    Prometheus does) or with :func:`json.loads` gives ``value`` back.

    Raises:
        ParameterError: ``value`` is not a string, or holds a lone surrogate (no UTF-8 form, so Prometheus could
            not read it).
    """
    if not isinstance(value, str):
        raise ParameterError(f"a PromQL label value must be a string, got {type(value).__name__} {value!r}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ParameterError(
            f"the PromQL label value {value!r} holds a lone surrogate at position {error.start}; "
            "give text that is valid Unicode."
        ) from error
    return json.dumps(value, ensure_ascii=False)
