"""Checks of the numbers, arrays and options the statistics take, shared by the modules of :mod:`abnb.stats`."""

from __future__ import annotations

import math
import sys
from numbers import Integral, Real
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from abnb.errors import AbnbError, DataError, ParameterError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FLOAT_MAX",
    "as_count",
    "as_finite",
    "check_choice",
    "check_units",
    "finite_array",
    "finite_number",
    "float_vector",
    "integer_digits",
]

#: Largest finite float; a Python int above it cannot become the float the statistics work in.
FLOAT_MAX = sys.float_info.max

_Choice = TypeVar("_Choice", bound=str)


def integer_digits(value: int) -> int:
    """Number of decimal digits of ``value`` (estimated from its bit length when it is too long to print)."""
    return len(str(abs(value))) if value.bit_length() < 10_000 else int(value.bit_length() * math.log10(2)) + 1


def _beyond_float_range(value: int, name: str) -> ParameterError:
    """The error for an integer whose magnitude exceeds the float range (the value itself may be too long to print)."""
    return ParameterError(
        f"{name} is an integer of {integer_digits(value)} digits, beyond the float range (magnitude at most about "
        f"{FLOAT_MAX:.4g}) the statistics are computed in; pass a value within that range."
    )


def as_count(value: object, name: str) -> int:
    """Return ``value`` as a Python ``int`` if it is a whole number, else raise ``ParameterError``."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a whole number, got the boolean {value!r}.")
    if isinstance(value, Integral):
        count = int(value)
        if abs(count) > FLOAT_MAX:
            raise _beyond_float_range(count, name)
        return count
    if isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        return int(float(value))
    raise ParameterError(f"{name} must be a whole number, got {value!r}.")


def as_finite(value: object, name: str) -> float:
    """Return ``value`` as a finite Python ``float``, else raise ``ParameterError``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(f"{name} must be a real number, got {value!r}.")
    if isinstance(value, Integral) and abs(int(value)) > FLOAT_MAX:
        raise _beyond_float_range(int(value), name)
    result = float(value)
    if not math.isfinite(result):
        raise ParameterError(f"{name} must be finite, got {result!r}; check the aggregate for NaN or overflow.")
    return result


def finite_number(value: object, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool), else raise ``ParameterError``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ParameterError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def float_vector(
    values: object, name: str, error: type[AbnbError] = DataError, *, per: str = ""
) -> NDArray[np.float64]:
    """``values`` as a 1-D float64 array; ``error`` naming ``name`` if they are not numbers or not one-dimensional.

    ``per`` is said after "one-dimensional" in the message, e.g. ``" (one value per unit)"``.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise error(f"{name} must be numbers; could not convert them to floats ({exc}).") from exc
    if array.ndim != 1:
        raise error(f"{name} must be one-dimensional{per}, got shape {array.shape}.")
    return array


def finite_array(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Convert ``values`` to a 1-D float array, raising ``DataError`` on non-numeric or non-finite entries."""
    array = float_vector(values, name, per=" (one value per unit)")
    bad = ~np.isfinite(array)
    if bad.any():
        n_nan = int(np.isnan(array).sum())
        n_inf = int(bad.sum()) - n_nan
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name} contain {n_nan} NaN and {n_inf} infinite value(s) (first at position {first}); "
            "drop or impute them before computing moments."
        )
    return array


def check_choice(name: str, value: object, choices: tuple[_Choice, ...]) -> _Choice:
    """The entry of ``choices`` that the string ``value`` equals; otherwise ``ParameterError`` naming ``name``."""
    if isinstance(value, str):
        for known in choices:
            if value == known:
                return known
    raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")


def check_units(name: str, n: int, *, minimum: int = 2, purpose: str = "a two-arm test") -> None:
    """Raise ``ParameterError`` unless the arm ``name`` has at least ``minimum`` units for ``purpose``."""
    if n < minimum:
        raise ParameterError(f"{name} has n={n} unit(s); {purpose} needs at least {minimum} per arm.")
