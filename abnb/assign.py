"""Deterministic assignment: PlanOut-compatible hashing, random operators, namespaces, layers and GrowthBook hashing.

Every draw is a pure function of ``(unit, salt)``: the same user gets the same arm on every request, on every
machine, with no state to store. The hash is PlanOut's (Bakshy, Eckles & Bernstein, "Designing and Deploying
Online Field Experiments", WWW 2014): the first 15 hexadecimal digits of ``SHA-1("{salt}.{unit}")`` read as an
integer, so values computed here match PlanOut's reference implementation bit for bit.

The assignment script (:func:`parse_script`) is bounded so that a hostile script fails fast with a
:class:`~abnb.errors.SpecError` naming the line and the limit instead of exhausting memory or CPU:
:data:`MAX_SCRIPT_LENGTH` characters of source, :data:`MAX_SCRIPT_DEPTH` levels of nesting (checked on the tokens
before :func:`ast.parse` builds anything), numbers of at most :data:`MAX_NUMBER_DIGITS` digits (literals and
integer results), strings and lists of at most :data:`MAX_VALUE_SIZE` characters or items (checked before ``*``,
``+`` and ``%`` build them), and :data:`MAX_RUN_WORK` units of work per run.
"""

from __future__ import annotations

import ast
import hashlib
import io
import itertools
import keyword
import math
import operator
import re
import textwrap
import tokenize
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from abnb.errors import ParameterError, SpecError

T = TypeVar("T")

__all__ = [
    "LONG_SCALE",
    "MAX_NUMBER_DIGITS",
    "MAX_RUN_WORK",
    "MAX_SCRIPT_DEPTH",
    "MAX_SCRIPT_LENGTH",
    "MAX_VALUE_SIZE",
    "Layer",
    "LayerExperiment",
    "Namespace",
    "Script",
    "bernoulli_trial",
    "bucket_ranges",
    "choose_variation",
    "fnv1a32",
    "growthbook_hash",
    "hash_unit",
    "in_namespace",
    "in_range",
    "parse_script",
    "random_float",
    "random_integer",
    "salt_for",
    "sample",
    "uniform",
    "uniform_choice",
    "uniform_many",
    "weighted_choice",
]

#: Largest value of :func:`hash_unit` (``16**15 - 1``); PlanOut's ``LONG_SCALE``.
LONG_SCALE = 0xFFFFFFFFFFFFFFF

#: Longest assignment script :func:`parse_script` accepts, in characters.
MAX_SCRIPT_LENGTH = 100_000
#: Deepest nesting in a script: brackets plus operators within one expression, and ``if``/``elif`` blocks.
MAX_SCRIPT_DEPTH = 100
#: Most digits of a number literal in a script; integer results must also stay below ``10**MAX_NUMBER_DIGITS``.
MAX_NUMBER_DIGITS = 100
#: Largest string or list a script may build: characters, or list items counting nested items and characters.
MAX_VALUE_SIZE = 100_000
#: Most work of one :meth:`Script.assign` run: characters and items built or compared, plus 50 per hash.
MAX_RUN_WORK = 10_000_000

_INT_LIMIT = 10**MAX_NUMBER_DIGITS
_INT_LIMIT_BITS = _INT_LIMIT.bit_length()
_HASH_WORK = 50  # one SHA-1 of a short text costs about as much as copying 50 list items


def _unit_text(unit: object) -> str:
    """Render a unit (or a sequence of units, joined by ``"."``) as PlanOut does with ``str``."""
    try:
        if isinstance(unit, (list, tuple)):
            return ".".join(str(u) for u in unit)
        return str(unit)
    except ValueError as exc:  # an int of more than sys.get_int_max_str_digits() digits
        raise ParameterError(
            f"the unit cannot be written as text to be hashed ({exc}); pass such a long id as a string"
        ) from None


def hash_unit(unit: object | Sequence[object], salt: str) -> int:
    """Hash a unit with a salt into an integer in ``[0, 16**15 - 1]``.

    ``h = int(SHA1(f"{salt}.{unit}").hexdigest()[:15], 16)``; a list or tuple of units is joined with ``"."``
    first (PlanOut's convention for multi-unit parameters, e.g. ``[userid, itemid]``).

    Args:
        unit: The randomisation unit (user id, cookie, ...), or a list/tuple of units.
        salt: The salt, normally ``"{experiment_salt}.{parameter_salt}"`` (see :func:`salt_for`).

    Returns:
        A 60-bit non-negative integer.

    Raises:
        ParameterError: The unit is an integer too long for ``str`` (more than 4300 digits by default).

    References:
        Bakshy, Eckles & Bernstein (2014), PlanOut ``RandomUnitOp.getHash``.
    """
    return _planout_hash(f"{salt}.".encode(), unit)


def _planout_hash(prefix: bytes, unit: object | Sequence[object]) -> int:
    """The first 15 hexadecimal digits of ``SHA-1(prefix + unit text)`` as an integer: the one PlanOut hash."""
    return int(hashlib.sha1(prefix + _unit_text(unit).encode("utf-8")).hexdigest()[:15], 16)


def uniform(unit: object | Sequence[object], salt: str, low: float = 0.0, high: float = 1.0) -> float:
    """Deterministic uniform draw in ``[low, high]``.

    ``u = low + hash_unit(unit, salt) / (16**15 - 1) * (high - low)`` (PlanOut's ``getUniform``).

    Args:
        unit: The randomisation unit or a list/tuple of units.
        salt: The salt.
        low: Lower end of the interval.
        high: Upper end of the interval.

    Returns:
        A float in ``[low, high]``.
    """
    return low + (high - low) * (hash_unit(unit, salt) / LONG_SCALE)


def uniform_many(units: Sequence[object], salt: str) -> npt.NDArray[np.float64]:
    """Vectorised :func:`uniform` on ``[0, 1]`` for many units with one salt.

    Args:
        units: The units (each may itself be a list/tuple of units).
        salt: The salt shared by every draw.

    Returns:
        A float64 array, ``out[i] == uniform(units[i], salt)``.
    """
    prefix = f"{salt}.".encode()
    return np.fromiter((_planout_hash(prefix, unit) / LONG_SCALE for unit in units), dtype=np.float64, count=len(units))


# ---------------------------------------------------------------------------------------------------------------------
# PlanOut-compatible random operators
# ---------------------------------------------------------------------------------------------------------------------


def salt_for(experiment: str, parameter: str) -> str:
    """Full salt of a parameter: ``"{experiment_salt}.{parameter_salt}"`` (PlanOut's convention).

    Args:
        experiment: The experiment salt (by default the experiment name).
        parameter: The parameter salt (by default the parameter name).

    Returns:
        The salt to pass to the operators.
    """
    return f"{experiment}.{parameter}"


def _check_choices(choices: Sequence[T], name: str = "choices") -> None:
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
        raise ParameterError(f"{name} must be a list of values, got {type(choices).__name__}")
    if len(choices) == 0:
        raise ParameterError(f"{name} must not be empty; pass at least one value to choose from, e.g. ['a', 'b']")


def _real(value: object, what: str) -> float:
    """``value`` as a float if it is a real number (not a bool, not a string), else ``ParameterError``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(f"{what} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def uniform_choice(choices: Sequence[T], *, unit: object, salt: str) -> T:
    """Pick one of ``choices`` with equal probability.

    ``choices[hash_unit(unit, salt) % len(choices)]`` (PlanOut ``UniformChoice``).

    Args:
        choices: The values to choose from (non-empty).
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        The chosen value.

    Raises:
        ParameterError: If ``choices`` is empty or not a sequence.

    References:
        Bakshy, Eckles & Bernstein (2014), PlanOut.
    """
    _check_choices(choices)
    return choices[hash_unit(unit, salt) % len(choices)]


def weighted_choice(choices: Sequence[T], weights: Sequence[float], *, unit: object, salt: str) -> T:
    """Pick one of ``choices`` with probability proportional to ``weights``.

    With cumulative weights ``W_i = w_1 + ... + w_i`` and ``s = uniform(unit, salt, 0, W_k)``, the result is the
    first ``choices[i]`` with ``s <= W_i`` (PlanOut ``WeightedChoice``; ``<=`` rather than ``<`` reproduces PlanOut
    bit for bit — the two differ only when ``s`` hits a cumulative weight exactly). A choice may be repeated; its
    weights add up.

    Args:
        choices: The values to choose from.
        weights: Non-negative weights, one per choice, with a positive sum.
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        The chosen value.

    Raises:
        ParameterError: If ``weights`` is not a sequence of numbers, lengths differ, a weight is negative or not
            finite, or all weights are zero.
    """
    _check_choices(choices)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
        raise ParameterError(f"weights must be a list of numbers, one per choice, got {type(weights).__name__}")
    if len(weights) != len(choices):
        raise ParameterError(f"weights has {len(weights)} entries but choices has {len(choices)}; give one weight each")
    cumulative: list[float] = []
    total = 0.0
    for i, w in enumerate(weights):
        wf = _real(w, f"weights[{i}]")
        if not math.isfinite(wf) or wf < 0:
            raise ParameterError(f"weights must be finite and non-negative, got weights[{i}] = {w!r}")
        total += wf
        cumulative.append(total)
    if total <= 0:
        raise ParameterError("weights must have a positive sum (all are 0); give at least one choice a weight > 0")
    stop = uniform(unit, salt, 0.0, total)
    for choice, cum in zip(choices, cumulative, strict=True):
        if stop <= cum:
            return choice
    return choices[-1]  # pragma: no cover - unreachable: stop <= total == cumulative[-1]


def bernoulli_trial(p: float, *, unit: object, salt: str) -> int:
    """Return 1 with probability ``p``, else 0.

    ``1 if uniform(unit, salt) <= p else 0`` (PlanOut ``BernoulliTrial``). For a fixed unit and salt the result is
    monotone in ``p``: a unit that draws 1 at ``p`` also draws 1 at every ``p' > p``, so ramping a rollout never
    moves a unit out of treatment.

    Args:
        p: Probability of 1, in ``[0, 1]``.
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        0 or 1.

    Raises:
        ParameterError: If ``p`` is not a number (a bool or a string is refused) or is outside ``[0, 1]``.
    """
    pf = _real(p, "p (the probability of 1)")
    if not 0.0 <= pf <= 1.0:
        raise ParameterError(f"p must be between 0 and 1 (a probability, e.g. 0.1 for 10%), got {p!r}")
    return 1 if uniform(unit, salt) <= pf else 0


def random_integer(low: int, high: int, *, unit: object, salt: str) -> int:
    """Uniform integer in ``[low, high]`` (both ends included).

    ``low + hash_unit(unit, salt) % (high - low + 1)`` (PlanOut ``RandomInteger`` with ``min=low, max=high``).
    The hash has 60 bits, so a range of more than ``2**60`` values would never reach its upper part; such a range
    is refused (PlanOut returns the biased value silently).

    Args:
        low: Smallest value.
        high: Largest value (``>= low``).
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        The integer.

    Raises:
        ParameterError: If ``high < low``, a bound is not an integer, or the range has more than ``2**60`` values.
    """
    if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, int) or not isinstance(high, int):
        raise ParameterError(f"low and high must be integers, got {low!r} and {high!r}")
    if high < low:
        raise ParameterError(f"high ({_show_int(high)}) must be >= low ({_show_int(low)})")
    if high - low > LONG_SCALE:
        raise ParameterError(
            f"the range [{_show_int(low)}, {_show_int(high)}] has {_show_int(high - low + 1)} values, more than "
            "the 2**60 the 60-bit hash can reach (LONG_SCALE + 1), so values above low + 2**60 would never be "
            "drawn; use a range of at most 2**60 values"
        )
    return low + hash_unit(unit, salt) % (high - low + 1)


def _show_int(value: int) -> str:
    """An integer for a message: exact when short, ``±2**k`` when it has more than 60 digits."""
    if value.bit_length() <= 200:
        return str(value)
    return f"{'-' if value < 0 else ''}about 2**{value.bit_length() - 1}"


def random_float(low: float, high: float, *, unit: object, salt: str) -> float:
    """Uniform float in ``[low, high]`` (PlanOut ``RandomFloat``): ``uniform(unit, salt, low, high)``.

    Args:
        low: Lower end.
        high: Upper end.
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        The float.
    """
    return uniform(unit, salt, float(low), float(high))


def sample(choices: Sequence[T], k: int | None = None, *, unit: object, salt: str) -> list[T]:
    """Draw ``k`` of ``choices`` without replacement, in a deterministic random order.

    PlanOut's ``Sample``: a Fisher–Yates shuffle from the last position down, where step ``i`` (``n-1 … 1``) swaps
    position ``i`` with ``j = hash_unit([*unit, i], salt) % (i + 1)`` — the step index is appended to the unit —
    and the first ``k`` elements of the shuffled list are returned.

    Args:
        choices: The population (may be empty only when ``k`` is 0 or None).
        k: Number of draws (default: all, i.e. a permutation).
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        A new list of ``k`` elements.

    Raises:
        ParameterError: If ``k`` is negative or larger than ``len(choices)``.
    """
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
        raise ParameterError(f"choices must be a list of values, got {type(choices).__name__}")
    items = list(choices)
    n = len(items)
    draws = n if k is None else k
    if isinstance(draws, bool) or not isinstance(draws, int) or not 0 <= draws <= n:
        raise ParameterError(f"k must be an integer between 0 and {n} (the number of choices), got {k!r}")
    base = list(unit) if isinstance(unit, (list, tuple)) else [unit]
    for i in range(n - 1, 0, -1):
        j = hash_unit([*base, i], salt) % (i + 1)
        items[i], items[j] = items[j], items[i]
    return items[:draws]


# ---------------------------------------------------------------------------------------------------------------------
# A small, safe PlanOut-like script
# ---------------------------------------------------------------------------------------------------------------------

_SCRIPT_OPERATORS: dict[str, tuple[str, ...]] = {
    # operator name -> positional parameter names (``unit`` and ``salt`` are keyword-only)
    "uniform_choice": ("choices",),
    "weighted_choice": ("choices", "weights"),
    "bernoulli_trial": ("p",),
    "random_integer": ("low", "high"),
    "random_float": ("low", "high"),
    "sample": ("choices", "k"),
}
_ALIASES = {"min": "low", "max": "high", "draws": "k"}  # PlanOut's argument names
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
    ast.In: lambda a, b: bool(a in b),
    ast.NotIn: lambda a, b: bool(a not in b),
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
}


def _script_error(where: ast.AST | int, message: str) -> SpecError:
    """A SpecError naming the line of ``where`` (a node or a line number)."""
    line = getattr(where, "lineno", "?") if isinstance(where, ast.AST) else where
    return SpecError(f"assignment script, line {line}: {message}")


def _limit_error(where: ast.AST | int, what: str, limit: str, value: int, fix: str) -> SpecError:
    """A SpecError for a script that exceeds one of the documented bounds: the line, the limit and the fix."""
    return _script_error(where, f"{what}; the limit is {limit} = {value:,}. {fix}")


def _depth_error(where: ast.AST | int, what: str, fix: str = "Flatten the list.") -> SpecError:
    """:func:`_limit_error` for MAX_SCRIPT_DEPTH."""
    return _limit_error(where, what, "MAX_SCRIPT_DEPTH", MAX_SCRIPT_DEPTH, fix)


def _digits_error(where: ast.AST | int, what: str, fix: str) -> SpecError:
    """:func:`_limit_error` for MAX_NUMBER_DIGITS."""
    return _limit_error(where, what, "MAX_NUMBER_DIGITS", MAX_NUMBER_DIGITS, fix)


_LONG_IDS = "Write long ids as strings."
_SMALL_INTEGERS = "Integers in a script must stay below 10**MAX_NUMBER_DIGITS in magnitude."


def _too_long_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an integer (not a bool) of magnitude ``10**MAX_NUMBER_DIGITS`` or more."""
    return isinstance(value, int) and not isinstance(value, bool) and not -_INT_LIMIT < value < _INT_LIMIT


def _digit_count(value: int) -> int:
    """About the number of decimal digits of ``value``, from its bit length (no conversion to text)."""
    return value.bit_length() * 3 // 10 + 1


_NOT_DEPTH_OPS = frozenset({",", "=", ":", ";", "(", ")", "[", "]", "{", "}", "->"})
_DEPTH_KEYWORDS = frozenset({"and", "or", "not", "if", "else", "in", "is", "lambda", "await", "yield", "from"})


def _prescan(text: str) -> None:
    """Refuse a script that exceeds a bound before :func:`ast.parse` builds (and recurses over) its tree.

    One pass over the tokens (linear): number literals longer than MAX_NUMBER_DIGITS; expression nesting deeper
    than MAX_SCRIPT_DEPTH, counted as the open brackets plus every operator token since the last comma of each
    open bracket (an upper bound of the depth of the tree, so ``[-1, -2, ...]`` is shallow and ``- - - 1`` is
    not; ``.`` and a bracket right after a name or a closing bracket, as in ``a.b``, ``f()()`` or ``a[0][0]``, count
    as operators); and ``if``/``elif`` blocks nested deeper than MAX_SCRIPT_DEPTH (each ``elif`` is an ``if`` nested
    in the previous ``else``). F-strings, which the language does not have and whose insides Python parses
    separately, are refused here. A tokenizing error stops the scan; ast.parse then reports the syntax error.
    """
    scan = _Prescan()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            scan.feed(token.type, token.string, token.start[0])
    except (tokenize.TokenError, SyntaxError):
        return


class _Prescan:
    """The state of :func:`_prescan` between tokens: open brackets, if/elif chains and indentation."""

    def __init__(self) -> None:
        self.frames = [0]  # operators in the current comma-separated part of each open bracket ([0]: no bracket)
        self.elifs = [0]  # elif count of the current if-chain at each indentation level
        self.indent = 0
        self.start_of_statement = True
        self.operand_before = False  # the previous token ends an operand: a bracket now opens a call or a subscript

    def feed(self, kind: int, string: str, line: int) -> None:
        """Take one token; raises SpecError when it exceeds a bound."""
        if self.layout(kind):
            return
        if self.start_of_statement:
            self.statement(string, line)
        trailer = self.operand_before
        self.operand_before = (
            kind in (tokenize.NUMBER, tokenize.STRING)
            or (kind == tokenize.NAME and not keyword.iskeyword(string))
            or (kind == tokenize.OP and string in ")]}")
        )
        if kind == tokenize.STRING and "f" in string[: string.find(string[-1])].lower():
            raise _script_error(line, "unsupported expression (f-string); build strings with + or %")
        if kind == tokenize.NUMBER:
            digits = sum(ch.isalnum() for ch in string)
            if digits > MAX_NUMBER_DIGITS:
                raise _digits_error(line, f"a number literal of {digits:,} digits", _LONG_IDS)
        else:
            self.nest(kind, string, line, trailer)

    def layout(self, kind: int) -> bool:
        """Follow line ends and indentation; whether the token was one of those (or a comment)."""
        if kind == tokenize.NEWLINE:
            self.frames, self.start_of_statement, self.operand_before = [0], True, False
        elif kind == tokenize.INDENT:
            self.indent += 1
            self.elifs.append(0)
        elif kind == tokenize.DEDENT:
            self.indent -= 1
            del self.elifs[self.indent + 1 :]
        return kind in (tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)

    def statement(self, string: str, line: int) -> None:
        """The first token of a statement: count the ``elif`` chains and indentation it is nested in."""
        self.start_of_statement = False
        if string == "elif":
            self.elifs[self.indent] += 1
        elif string != "else":
            self.elifs[self.indent] = 0
        depth = self.indent + sum(self.elifs)
        if depth > MAX_SCRIPT_DEPTH:
            raise _depth_error(
                line,
                f"an if/elif block is nested {depth} levels deep",
                "Use fewer elif branches (e.g. uniform_choice or a list lookup) or less indentation.",
            )

    def nest(self, kind: int, string: str, line: int, trailer: bool) -> None:
        """Count the brackets and operators of an expression (see :func:`_prescan`)."""
        is_op = kind == tokenize.OP
        if is_op and string in "([{":
            self.frames[-1] += trailer  # f(...) and a[...] nest the call or subscript around what came before
            self.frames.append(0)
        elif is_op and string in ")]}":
            if len(self.frames) > 1:
                self.frames.pop()
            return
        elif is_op and string == ",":
            self.frames[-1] = 0
            return
        elif is_op and string == ";" and len(self.frames) == 1:
            self.frames, self.start_of_statement = [0], True
            return
        elif (is_op and string not in _NOT_DEPTH_OPS) or (kind == tokenize.NAME and string in _DEPTH_KEYWORDS):
            self.frames[-1] += 1
        else:
            return
        depth = len(self.frames) - 1 + sum(self.frames)
        if depth > MAX_SCRIPT_DEPTH:
            raise _depth_error(
                line,
                f"an expression (brackets and operators) is nested {depth} levels deep",
                "Split the expression over several assignments (y = ...; x = y + 1).",
            )


_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)


@dataclass(frozen=True)
class Script:
    """A parsed assignment script; build it with :func:`parse_script`.

    Attributes:
        source: The script text.
        parameters: Names of the parameters the script can assign, in order of first appearance.
    """

    source: str
    parameters: tuple[str, ...]
    _body: tuple[ast.stmt, ...] = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Script(parameters={list(self.parameters)!r})"

    def assign(self, unit_values: Mapping[str, object], *, experiment_salt: str) -> dict[str, object]:
        """Run the script for one unit and return the parameters it assigned.

        Each random operator on the right of ``name = ...`` hashes with salt ``"{experiment_salt}.{name}"``
        (or ``"{experiment_salt}.{salt}"`` when the call gives ``salt=``), exactly as PlanOut's interpreter does.

        Args:
            unit_values: Inputs of the unit (``{"userid": 42, "country": "US"}``); the script reads them by name.
            experiment_salt: The experiment salt (by default the experiment name).

        Returns:
            ``{parameter: value}`` for the parameters assigned on the branch the unit took.

        Raises:
            SpecError: Naming the line, when the script reads an unknown variable or an operator fails.
        """
        params: dict[str, object] = {}
        _Runner(dict(unit_values), params, experiment_salt).run(self._body)
        return params


class _Runner:
    """Walks a validated script for one unit, within MAX_VALUE_SIZE per value and MAX_RUN_WORK per run."""

    def __init__(self, inputs: dict[str, object], params: dict[str, object], experiment_salt: str) -> None:
        self.inputs = inputs
        self.params = params
        self.experiment_salt = experiment_salt
        self.work = 0
        # id(list) -> (the list, size, depth): lists are measured once (they are never mutated during a run);
        # the list is kept so that its id cannot be reused.
        self._measured: dict[int, tuple[object, int, int]] = {}

    # ------------------------------------------------------------------------------------------------- bounds
    def charge(self, amount: int, node: ast.AST) -> None:
        self.work += amount
        if self.work > MAX_RUN_WORK:
            raise _limit_error(
                node,
                f"one run of the script did more than {MAX_RUN_WORK:,} units of work (characters and list items "
                "built, compared or hashed; 50 per hash)",
                "MAX_RUN_WORK",
                MAX_RUN_WORK,
                "An assignment script chooses parameters; keep its values small.",
            )

    def measure(self, value: object, node: ast.AST, level: int = 0) -> tuple[int, int]:
        """``(size, depth)`` of a value: characters of a string; items plus the sizes of the items of a list."""
        if isinstance(value, str):
            return len(value), 0
        if not isinstance(value, (list, tuple)):
            return 0, 0
        known = self._measured.get(id(value))
        if known is not None and known[0] is value:
            return known[1], known[2]
        if level >= MAX_SCRIPT_DEPTH:
            raise _depth_error(node, f"a list is nested more than {MAX_SCRIPT_DEPTH} levels deep")
        size, depth = len(value), 0
        for item in value:
            item_size, item_depth = self.measure(item, node, level + 1)
            size += item_size
            depth = max(depth, item_depth)
        return self.remember(value, size, depth + 1)

    def remember(self, value: object, size: int, depth: int) -> tuple[int, int]:
        if isinstance(value, (list, tuple)):
            self._measured[id(value)] = (value, size, depth)
        return size, depth

    def check_size(self, size: int, node: ast.AST, what: str) -> None:
        if size > MAX_VALUE_SIZE:
            raise _limit_error(
                node,
                f"{what} would have {size:,} characters or list items",
                "MAX_VALUE_SIZE",
                MAX_VALUE_SIZE,
                "An assignment script chooses parameters; build smaller strings and lists.",
            )

    def check_int(self, value: object, node: ast.AST) -> None:
        if _too_long_int(value):
            raise _digits_error(node, f"an integer result of about {_digit_count(value):,} digits", _SMALL_INTEGERS)

    # ---------------------------------------------------------------------------------------------- walking
    def lookup(self, name: str, node: ast.AST) -> object:
        if name in self.params:
            return self.params[name]
        if name in self.inputs:
            return self.inputs[name]
        raise _script_error(node, f"unknown variable {name!r}; pass it in unit_values or assign it first")

    def run(self, body: Sequence[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                target = stmt.targets[0]
                assert isinstance(target, ast.Name)
                self.params[target.id] = self.eval(stmt.value, target.id)
            elif isinstance(stmt, ast.If):
                self.run(stmt.body if self.eval(stmt.test, None) else stmt.orelse)

    def eval(self, node: ast.expr, parameter: str | None) -> Any:
        """The value of a validated expression (``parameter``: the name assigned, the default salt of a call)."""
        return _EVAL[type(node)](self, node, parameter)

    def eval_constant(self, node: ast.Constant, parameter: str | None) -> Any:
        return node.value

    def eval_name(self, node: ast.Name, parameter: str | None) -> Any:
        return self.lookup(node.id, node)

    def eval_list(self, node: ast.List | ast.Tuple, parameter: str | None) -> Any:
        """A list display (a tuple becomes a list), within MAX_VALUE_SIZE and MAX_SCRIPT_DEPTH."""
        items = [self.eval(e, parameter) for e in node.elts]
        size, depth = self.measure(items, node)
        self.check_size(size, node, "this list")
        if depth > MAX_SCRIPT_DEPTH:
            raise _depth_error(node, f"this list is nested {depth} levels deep")
        return items

    def eval_unary(self, node: ast.UnaryOp, parameter: str | None) -> Any:
        value = self.eval(node.operand, parameter)
        if isinstance(node.op, ast.Not):
            return not value
        try:
            return -value if isinstance(node.op, ast.USub) else +value
        except TypeError as exc:
            raise _script_error(node, f"arithmetic failed: {exc}") from exc

    def eval_bool(self, node: ast.BoolOp, parameter: str | None) -> Any:
        """``and``/``or`` as in Python: the deciding operand, evaluating no further."""
        stop_at = not isinstance(node.op, ast.And)  # 'and' stops at the first falsy value, 'or' at the first truthy
        result: Any = not stop_at
        for v in node.values:
            result = self.eval(v, parameter)
            if bool(result) == stop_at:
                return result
        return result

    def eval_compare(self, node: ast.Compare, parameter: str | None) -> Any:
        """A chain of comparisons, charging the sizes of the compared values as work."""
        left = self.eval(node.left, parameter)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator, parameter)
            self.charge(self.measure(left, node)[0] + self.measure(right, node)[0], node)
            try:
                ok = _COMPARE[type(op)](left, right)
            except (TypeError, ValueError) as exc:
                raise _script_error(node, f"cannot compare {left!r:.80} with {right!r:.80}") from exc
            if not ok:
                return False
            left = right
        return True

    def eval_binary(self, node: ast.BinOp, parameter: str | None) -> Any:
        """``+ - * / %`` through :meth:`arithmetic`; Python's errors become SpecErrors naming the line."""
        left, right = self.eval(node.left, parameter), self.eval(node.right, parameter)
        try:
            return self.arithmetic(node, left, right)
        except (TypeError, ZeroDivisionError, OverflowError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise _script_error(node, f"arithmetic failed: {exc}") from exc

    def eval_if(self, node: ast.IfExp, parameter: str | None) -> Any:
        return self.eval(node.body if self.eval(node.test, parameter) else node.orelse, parameter)

    def arithmetic(self, node: ast.BinOp, left: Any, right: Any) -> Any:
        """``left op right``, refusing results beyond MAX_VALUE_SIZE or 10**MAX_NUMBER_DIGITS before building them."""
        op = type(node.op)
        sequences = (str, list, tuple)
        if op is ast.Mult and (isinstance(left, sequences) or isinstance(right, sequences)):
            sequence, times = (left, right) if isinstance(left, sequences) else (right, left)
            try:
                count = operator.index(times)
            except TypeError:
                return _ARITH[op](left, right)  # raises the TypeError of Python, e.g. 'a' * 'b'
            size, depth = self.measure(sequence, node)
            built = size * max(count, 0)
            self.check_size(built, node, f"{type(sequence).__name__} * {_show_int(count)}")
            self.charge(built, node)
            result = sequence * count
            self.remember(result, built, depth)
            return result
        if op is ast.Add and (
            (isinstance(left, str) and isinstance(right, str))
            or (isinstance(left, list) and isinstance(right, list))
            or (isinstance(left, tuple) and isinstance(right, tuple))
        ):
            (left_size, left_depth), (right_size, right_depth) = self.measure(left, node), self.measure(right, node)
            built = left_size + right_size
            self.check_size(built, node, "this concatenation")
            self.charge(built, node)
            result = _ARITH[op](left, right)
            self.remember(result, built, max(left_depth, right_depth))
            return result
        if op is ast.Mod and isinstance(left, str):
            self.check_size(self.format_bound(left, right, node), node, "this %-formatting")
            text = left % right
            self.check_size(len(text), node, "this %-formatting")
            self.charge(len(text), node)
            return text
        if (
            op is ast.Mult
            and isinstance(left, int)
            and isinstance(right, int)
            and left
            and right
            and left.bit_length() + right.bit_length() - 2 >= _INT_LIMIT_BITS
        ):
            # |left * right| >= 2**(bits - 2) >= 10**MAX_NUMBER_DIGITS: refuse without multiplying
            raise _digits_error(
                node,
                f"an integer product of about {(left.bit_length() + right.bit_length()) * 3 // 10:,} digits",
                _SMALL_INTEGERS,
            )
        result = _ARITH[op](left, right)
        self.check_int(result, node)
        return result

    def format_bound(self, template: str, argument: object, node: ast.AST) -> int:
        """An upper bound of ``len(template % argument)``, from the widths and precisions of the conversions."""

        def text_bound(value: object) -> int:
            if isinstance(value, str):
                return 10 * len(value) + 2  # ascii() writes a character as up to 10 (\U0001f600)
            if isinstance(value, bool) or value is None:
                return 5
            if isinstance(value, int):
                return value.bit_length() * 3 // 10 + 3
            if isinstance(value, float):
                return 330  # '%f' % 1e308 has 316 characters
            if isinstance(value, (list, tuple)):
                return 40 * (self.measure(value, node)[0] + 1)
            return len(repr(value)) + 2

        numbers = [v for v in argument if isinstance(v, int)] if isinstance(argument, tuple) else []
        star = max((abs(v) for v in numbers), default=0)
        whole = text_bound(argument)
        bound = len(template)
        for match in _FORMAT_SPEC.finditer(template):
            width, precision = match.group(1) or "", match.group(2) or ""
            for part in (width, precision):
                bound += star if part == "*" else int(part) if 0 < len(part) <= 12 else 10**12 if part else 0
            bound += whole
            if bound > MAX_VALUE_SIZE:
                break
        return bound

    def unit_of(self, node: ast.expr, parameter: str | None) -> object:
        # unit="userid" names an input; unit=["userid", "itemid"] names several; any other expression is a value.
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.lookup(node.value, node)
        if isinstance(node, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
        ):
            return [self.lookup(str(e.value), e) for e in node.elts if isinstance(e, ast.Constant)]
        return self.eval(node, parameter)

    def call(self, node: ast.Call, parameter: str | None) -> Any:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        positional = _SCRIPT_OPERATORS[name]
        args: dict[str, Any] = {}
        for pname, arg in zip(positional, node.args, strict=False):
            args[pname] = self.eval(arg, parameter)
        unit: object = None
        salt = parameter
        for kw in node.keywords:
            key = _ALIASES.get(kw.arg or "", kw.arg or "")
            if key == "unit":
                unit = self.unit_of(kw.value, parameter)
            elif key == "salt":
                salt_value = self.eval(kw.value, parameter)
                self.charge(self.measure(salt_value, kw.value)[0], kw.value)
                salt = str(salt_value)
            else:
                args[key] = self.eval(kw.value, parameter)
        if salt is None:
            raise _script_error(node, f"{name}() outside an assignment needs salt=")
        full_salt = salt_for(self.experiment_salt, salt)
        self.charge(self.operator_work(name, args, unit, full_salt, node), node)
        try:
            if name == "uniform_choice":
                return uniform_choice(args["choices"], unit=unit, salt=full_salt)
            if name == "weighted_choice":
                return weighted_choice(args["choices"], args["weights"], unit=unit, salt=full_salt)
            if name == "bernoulli_trial":
                return bernoulli_trial(args["p"], unit=unit, salt=full_salt)
            if name == "random_integer":
                return random_integer(args["low"], args["high"], unit=unit, salt=full_salt)
            if name == "random_float":
                return random_float(args["low"], args["high"], unit=unit, salt=full_salt)
            return sample(args["choices"], args.get("k"), unit=unit, salt=full_salt)
        except (ParameterError, TypeError, ValueError, OverflowError) as exc:
            raise _script_error(node, f"{name}(): {exc}") from exc

    def operator_work(self, name: str, args: dict[str, Any], unit: object, salt: str, node: ast.AST) -> int:
        """Work of one operator call: the hashed text and the choices it reads, 50 units per hash."""
        choices = args.get("choices")
        count = len(choices) if isinstance(choices, (list, tuple)) else 1
        hashes = max(count - 1, 1) if name == "sample" else 1
        text = self.measure(unit, node)[0] + len(salt) + 1
        return (
            hashes * (_HASH_WORK + text) + self.measure(choices, node)[0] + self.measure(args.get("weights"), node)[0]
        )


_EVAL: dict[type[ast.AST], Callable[[_Runner, Any, str | None], Any]] = {
    ast.Constant: _Runner.eval_constant,
    ast.Name: _Runner.eval_name,
    ast.List: _Runner.eval_list,
    ast.Tuple: _Runner.eval_list,
    ast.UnaryOp: _Runner.eval_unary,
    ast.BoolOp: _Runner.eval_bool,
    ast.Compare: _Runner.eval_compare,
    ast.BinOp: _Runner.eval_binary,
    ast.IfExp: _Runner.eval_if,
    ast.Call: _Runner.call,
}


def _validate_expr(node: ast.expr) -> None:
    """Reject every expression outside the whitelist; raises SpecError naming the line."""
    check = _VALIDATE.get(type(node))
    if check is None:
        raise _script_error(node, f"unsupported expression ({type(node).__name__})")
    check(node)


def _validate_constant(node: ast.Constant) -> None:
    """A str, int, float, bool or None literal; integers below ``10**MAX_NUMBER_DIGITS``."""
    if not isinstance(node.value, (str, int, float, bool, type(None))):
        raise _script_error(node, f"unsupported literal {node.value!r:.80}")
    if _too_long_int(node.value):
        raise _digits_error(node, f"an integer literal of about {_digit_count(node.value):,} digits", _LONG_IDS)


def _validate_name(node: ast.Name) -> None:
    if not isinstance(node.ctx, ast.Load):
        raise _script_error(node, "unsupported use of a name")


def _validate_list(node: ast.List | ast.Tuple) -> None:
    for e in node.elts:
        _validate_expr(e)


def _validate_unary(node: ast.UnaryOp) -> None:
    if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        raise _script_error(node, "only 'not', unary '-' and '+' are supported")
    _validate_expr(node.operand)


def _validate_bool(node: ast.BoolOp) -> None:
    for v in node.values:
        _validate_expr(v)


def _validate_compare(node: ast.Compare) -> None:
    if not all(type(op) in _COMPARE for op in node.ops):
        raise _script_error(node, "only ==, !=, <, <=, >, >=, in, not in are supported")
    _validate_expr(node.left)
    for c in node.comparators:
        _validate_expr(c)


def _validate_binary(node: ast.BinOp) -> None:
    if type(node.op) not in _ARITH:
        raise _script_error(node, "only +, -, *, /, % are supported")
    _validate_expr(node.left)
    _validate_expr(node.right)


def _validate_if(node: ast.IfExp) -> None:
    for part in (node.test, node.body, node.orelse):
        _validate_expr(part)


def _validate_call(node: ast.Call) -> None:
    """A call of one of the operators, with known arguments, each given once, and ``unit=``."""
    if not isinstance(node.func, ast.Name) or node.func.id not in _SCRIPT_OPERATORS:
        known = ", ".join(sorted(_SCRIPT_OPERATORS))
        raise _script_error(node, f"unknown function; the operators are {known}")
    name = node.func.id
    positional = _SCRIPT_OPERATORS[name]
    if len(node.args) > len(positional):
        raise _script_error(node, f"{name}() takes at most {len(positional)} positional arguments")
    given = set(positional[: len(node.args)])
    for kw in node.keywords:
        if kw.arg is None:
            raise _script_error(node, "'**' arguments are not supported")
        key = _ALIASES.get(kw.arg, kw.arg)
        if key not in (*positional, "unit", "salt") or key in given:
            raise _script_error(node, f"{name}() got an unexpected or repeated argument {kw.arg!r}")
        given.add(key)
        _validate_expr(kw.value)
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise _script_error(node, "'*' arguments are not supported")
        _validate_expr(a)
    required = set(positional) - ({"k"} if name == "sample" else set())
    missing = sorted(required - given)
    if missing:
        raise _script_error(node, f"{name}() is missing {', '.join(missing)}")
    if "unit" not in given:
        raise _script_error(node, f'{name}() needs unit=, e.g. unit="userid"')


_VALIDATE: dict[type[ast.AST], Callable[[Any], None]] = {
    ast.Constant: _validate_constant,
    ast.Name: _validate_name,
    ast.List: _validate_list,
    ast.Tuple: _validate_list,
    ast.UnaryOp: _validate_unary,
    ast.BoolOp: _validate_bool,
    ast.Compare: _validate_compare,
    ast.BinOp: _validate_binary,
    ast.IfExp: _validate_if,
    ast.Call: _validate_call,
}


def _validate_body(body: Sequence[ast.stmt], names: dict[str, None]) -> None:
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                raise _script_error(stmt, "assign to exactly one plain name, e.g. button_color = ...")
            _validate_expr(stmt.value)
            names.setdefault(stmt.targets[0].id, None)  # a dict keeps the order of first appearance
        elif isinstance(stmt, ast.If):
            _validate_expr(stmt.test)
            _validate_body(stmt.body, names)
            _validate_body(stmt.orelse, names)
        elif isinstance(stmt, ast.Pass):
            continue
        else:
            raise _script_error(stmt, f"unsupported statement ({type(stmt).__name__}); use assignments and if/else")


def parse_script(text: str) -> Script:
    """Parse an assignment script (a safe subset of Python syntax; nothing is ever ``eval``-ed).

    Syntax, one statement a line, blocks by indentation as in Python::

        button_color = uniform_choice(["#3c539a", "#5f9647", "#b33316"], unit="cookieid")
        button_text = weighted_choice(["Sign up", "Join now"], [0.8, 0.2], unit="cookieid")
        if country == "US":
            p = bernoulli_trial(p=0.2, unit="userid")
        else:
            p = bernoulli_trial(p=0.05, unit="userid")

    Allowed: ``name = expression``, ``if``/``elif``/``else``, ``pass``; literals (str, int, float, bool,
    ``None``), lists, names (inputs of the unit or parameters assigned above), ``and``/``or``/``not``,
    comparisons (``== != < <= > >= in not in``), ``+ - * / %``, ``x if c else y``, and calls of the operators
    ``uniform_choice(choices)``, ``weighted_choice(choices, weights)``, ``bernoulli_trial(p)``,
    ``random_integer(low, high)`` (alias ``min``/``max``), ``random_float(low, high)`` and
    ``sample(choices, k)`` (alias ``draws``). Every call needs ``unit=``: a string names an input
    (``unit="userid"``), a list of strings names several (``unit=["userid", "itemid"]``), any other expression is
    used as the unit's value. ``salt="..."`` overrides the parameter salt, which defaults to the assigned name.
    The source is parsed by :mod:`ast` and walked by a small interpreter that accepts only the node types above.

    Bounds (each one a :class:`~abnb.errors.SpecError` naming the line and the limit): at most
    :data:`MAX_SCRIPT_LENGTH` characters; nesting of at most :data:`MAX_SCRIPT_DEPTH` (brackets plus operators in
    one expression, and ``if``/``elif`` blocks), checked on the tokens before :func:`ast.parse` runs; number
    literals of at most :data:`MAX_NUMBER_DIGITS` digits. When the script runs, integer results stay below
    ``10**MAX_NUMBER_DIGITS``, a string or list built by ``*``, ``+``, ``%`` or a list display has at most
    :data:`MAX_VALUE_SIZE` characters or items (checked before it is built), and one run does at most
    :data:`MAX_RUN_WORK` units of work.

    Args:
        text: The script.

    Returns:
        A :class:`Script`.

    Raises:
        SpecError: Naming the line, for a syntax error, any construct outside the whitelist, or a bound exceeded.
    """
    if not isinstance(text, str):
        raise SpecError(f"assignment script must be a string, got {type(text).__name__}")
    if len(text) > MAX_SCRIPT_LENGTH:
        raise SpecError(
            f"assignment script is {len(text):,} characters long; the limit is MAX_SCRIPT_LENGTH = "
            f"{MAX_SCRIPT_LENGTH:,}. An assignment script chooses parameters; move data (long lists) to the inputs."
        )
    source = textwrap.dedent(text)
    _prescan(source)
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for 1if: not the caller's concern
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise SpecError(f"assignment script, line {exc.lineno or '?'}: syntax error: {exc.msg}") from exc
    except ValueError as exc:  # e.g. a NUL character (Python 3.11)
        raise SpecError(f"assignment script: syntax error: {exc}") from exc
    except RecursionError:  # not reached after _prescan; kept as a last guard
        raise SpecError(
            f"assignment script is nested too deeply to be parsed; the limit is MAX_SCRIPT_DEPTH = {MAX_SCRIPT_DEPTH}."
        ) from None
    names: dict[str, None] = {}
    _validate_body(tree.body, names)
    return Script(source=text, parameters=tuple(names), _body=tuple(tree.body))


# ---------------------------------------------------------------------------------------------------------------------
# Namespaces (PlanOut SimpleNamespace) and layers (Tang et al. 2010)
# ---------------------------------------------------------------------------------------------------------------------


class Namespace:
    """Mutually exclusive experiments on segments of one primary unit (PlanOut ``SimpleNamespace`` semantics).

    The primary unit is hashed into one of ``num_segments`` segments::

        segment = random_integer(0, num_segments - 1, unit=unit, salt=f"{name}.segment")

    and :meth:`add_experiment` gives an experiment ``segments`` segments drawn from those still free::

        sample(sorted(available), segments, unit=experiment_name, salt=f"{name}.sampled_segments")

    These are the salts PlanOut's ``SimpleNamespace`` produces (its ``Assignment(name)`` with parameters
    ``segment`` and ``sampled_segments``). One difference: PlanOut's Python ``get_segment`` draws
    ``RandomInteger(min=0, max=num_segments)``, i.e. ``num_segments + 1`` values (facebookarchive/planout #41);
    here the range is ``0 … num_segments - 1`` as in PlanOut.js. Inside the namespace an experiment's own
    salt is ``"{namespace}.{experiment}"`` (:meth:`experiment_salt`). Allocation depends on the order of
    :meth:`add_experiment`/:meth:`remove_experiment` calls, so replay them in the same order.

    Args:
        name: Namespace name (its salt).
        primary_unit: Name of the unit the segments hash (e.g. ``"userid"``), used by :meth:`assign`.
        num_segments: Number of segments (e.g. 100 or 10 000).
        default: Name returned for units whose segment no experiment owns (None by default).

    Raises:
        ParameterError: If ``num_segments`` is not a positive integer.

    References:
        Bakshy, Eckles & Bernstein (2014), PlanOut, "Namespaces".
    """

    def __init__(self, name: str, primary_unit: str, num_segments: int, default: str | None = None) -> None:
        if isinstance(num_segments, bool) or not isinstance(num_segments, int) or num_segments < 1:
            raise ParameterError(f"num_segments must be a positive integer, got {num_segments!r}")
        self.name = str(name)
        self.primary_unit = primary_unit
        self.num_segments = num_segments
        self.default = default
        self._available: set[int] = set(range(num_segments))
        self._allocation: dict[int, str] = {}
        self._experiments: dict[str, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"Namespace(name={self.name!r}, primary_unit={self.primary_unit!r}, num_segments={self.num_segments}, "
            f"experiments={list(self._experiments)!r}, free_segments={len(self._available)})"
        )

    @property
    def experiments(self) -> dict[str, tuple[int, ...]]:
        """``{experiment: segments}`` of the experiments currently in the namespace."""
        return dict(self._experiments)

    @property
    def available_segments(self) -> tuple[int, ...]:
        """Segments no experiment owns, sorted."""
        return tuple(sorted(self._available))

    def add_experiment(self, name: str, segments: int) -> tuple[int, ...]:
        """Allocate ``segments`` free segments to experiment ``name``.

        Args:
            name: Experiment name (unique within the namespace).
            segments: Number of segments to give it.

        Returns:
            The allocated segments, in draw order.

        Raises:
            SpecError: If the name is taken or fewer than ``segments`` segments are free.
        """
        if name in self._experiments:
            raise SpecError(f"namespace {self.name!r} already has an experiment called {name!r}")
        if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
            raise ParameterError(f"segments must be a positive integer, got {segments!r}")
        if segments > len(self._available):
            raise SpecError(
                f"namespace {self.name!r}: experiment {name!r} asks for {segments} segments, "
                f"only {len(self._available)} are free; remove an experiment or ask for fewer"
            )
        drawn = sample(sorted(self._available), segments, unit=name, salt=f"{self.name}.sampled_segments")
        for seg in drawn:
            self._available.discard(seg)
            self._allocation[seg] = name
        self._experiments[name] = tuple(drawn)
        return tuple(drawn)

    def remove_experiment(self, name: str) -> None:
        """Free the segments of experiment ``name``.

        Raises:
            SpecError: If there is no such experiment.
        """
        if name not in self._experiments:
            raise SpecError(f"namespace {self.name!r} has no experiment called {name!r}")
        for seg in self._experiments.pop(name):
            del self._allocation[seg]
            self._available.add(seg)

    def segment_of(self, unit: object) -> int:
        """Segment of a unit: ``random_integer(0, num_segments - 1, unit=unit, salt=f"{name}.segment")``."""
        return random_integer(0, self.num_segments - 1, unit=unit, salt=f"{self.name}.segment")

    def experiment_for(self, unit: object) -> str | None:
        """Experiment that owns the unit's segment, or :attr:`default`."""
        return self._allocation.get(self.segment_of(unit), self.default)

    def experiment_salt(self, experiment: str) -> str:
        """Experiment salt inside the namespace: ``"{namespace}.{experiment}"`` (PlanOut)."""
        return f"{self.name}.{experiment}"

    def assign(self, unit_values: Mapping[str, object]) -> str | None:
        """:meth:`experiment_for` of ``unit_values[primary_unit]``.

        Raises:
            SpecError: If the primary unit is missing from ``unit_values``.
        """
        if self.primary_unit not in unit_values:
            raise SpecError(f"namespace {self.name!r} needs the primary unit {self.primary_unit!r} in unit_values")
        return self.experiment_for(unit_values[self.primary_unit])


@dataclass(frozen=True)
class LayerExperiment:
    """An experiment's share of a layer: buckets ``start <= b < end``.

    Attributes:
        name: Experiment name.
        start: First bucket (inclusive).
        end: Last bucket (exclusive).
    """

    name: str
    start: int
    end: int


class Layer:
    """A layer of mutually exclusive experiments (Tang, Agarwal, O'Brien & Meyer, KDD 2010).

    A unit falls in bucket ``b = hash_unit(unit, f"layer.{layer_id}") % num_buckets``; the experiment whose range
    holds ``b`` gets the unit. Ranges may not overlap, so experiments within a layer are mutually exclusive.
    Because the layer id is part of the hashed string, bucket numbers in different layers are independent, so
    experiments in different layers overlap in proportion to their sizes (a full factorial across layers).

    Args:
        layer_id: Layer identifier (enters the hash).
        experiments: ``{name: (start, end)}`` or a sequence of ``(name, start, end)``; buckets ``start <= b < end``.
        num_buckets: Number of buckets (the paper's examples use 1000).

    Raises:
        SpecError: If a range is empty, out of ``[0, num_buckets]``, or overlaps another.

    References:
        Tang, D., Agarwal, A., O'Brien, D., Meyer, M. (2010). Overlapping Experiment Infrastructure: More, Better,
        Faster Experimentation. KDD.
    """

    def __init__(
        self,
        layer_id: str,
        experiments: Mapping[str, tuple[int, int]] | Sequence[tuple[str, int, int]],
        num_buckets: int = 1000,
    ) -> None:
        if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets < 1:
            raise ParameterError(f"num_buckets must be a positive integer, got {num_buckets!r}")
        self.layer_id = str(layer_id)
        self.num_buckets = num_buckets
        items = (
            [(n, int(r[0]), int(r[1])) for n, r in experiments.items()]
            if isinstance(experiments, Mapping)
            else [(str(n), int(s), int(e)) for n, s, e in experiments]
        )
        ranges = sorted((LayerExperiment(n, s, e) for n, s, e in items), key=lambda x: x.start)
        for r in ranges:
            if not 0 <= r.start < r.end <= num_buckets:
                raise SpecError(
                    f"layer {self.layer_id!r}: experiment {r.name!r} has buckets [{r.start}, {r.end}); "
                    f"need 0 <= start < end <= {num_buckets}"
                )
        for a, b in itertools.pairwise(ranges):
            if b.start < a.end:
                raise SpecError(
                    f"layer {self.layer_id!r}: experiments {a.name!r} and {b.name!r} overlap "
                    f"(buckets {b.start}..{a.end - 1}); experiments in one layer must be mutually exclusive"
                )
        names = [r.name for r in ranges]
        if len(set(names)) != len(names):
            raise SpecError(f"layer {self.layer_id!r}: experiment names must be unique")
        self.experiments: tuple[LayerExperiment, ...] = tuple(ranges)
        self._owner = np.full(num_buckets, -1, dtype=np.int64)
        for i, r in enumerate(ranges):
            self._owner[r.start : r.end] = i

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.name}=[{r.start},{r.end})" for r in self.experiments)
        return f"Layer(layer_id={self.layer_id!r}, num_buckets={self.num_buckets}, experiments={{{parts}}})"

    @property
    def salt(self) -> str:
        """The layer's salt, ``"layer.{layer_id}"``."""
        return f"layer.{self.layer_id}"

    def bucket_of(self, unit: object) -> int:
        """Bucket of a unit: ``hash_unit(unit, "layer.{layer_id}") % num_buckets``."""
        return hash_unit(unit, self.salt) % self.num_buckets

    def experiment_for(self, unit: object) -> str | None:
        """The experiment of this layer that owns the unit, or None."""
        owner = int(self._owner[self.bucket_of(unit)])
        return None if owner < 0 else self.experiments[owner].name

    def experiments_for(self, units: Sequence[object]) -> list[str | None]:
        """:meth:`experiment_for` of many units."""
        return [self.experiment_for(u) for u in units]


# ---------------------------------------------------------------------------------------------------------------------
# GrowthBook SDK hashing (re-derive GrowthBook assignments from logs)
# ---------------------------------------------------------------------------------------------------------------------

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a hash of a string.

    ``h = 2166136261; for each character c: h = ((h XOR ord(c)) * 16777619) mod 2**32``. Characters are taken as
    code points, as GrowthBook's Python SDK does (the JavaScript SDK uses UTF-16 code units; the two agree on
    every character of the Basic Multilingual Plane).

    Args:
        text: The string.

    Returns:
        An integer in ``[0, 2**32)``.

    References:
        Fowler, Noll & Vo, FNV hash; GrowthBook SDK specification.
    """
    h = _FNV_OFFSET
    for ch in text:
        h = ((h ^ ord(ch)) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def growthbook_hash(seed: str, value: str, version: int = 2) -> float:
    """GrowthBook's bucketing hash, a number in ``[0, 1)``.

    * version 1: ``(fnv1a32(value + seed) % 1000) / 1000``
    * version 2: ``(fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000``

    Args:
        seed: The seed (GrowthBook defaults it to the experiment or feature key).
        value: The hash attribute's value (user id, device id, ...).
        version: Hash version, 1 or 2.

    Returns:
        The bucket position.

    Raises:
        ParameterError: For another version (GrowthBook SDKs then skip the user).
    """
    if version == 1:
        return (fnv1a32(f"{value}{seed}") % 1000) / 1000
    if version == 2:
        return (fnv1a32(str(fnv1a32(f"{seed}{value}"))) % 10000) / 10000
    raise ParameterError(f"GrowthBook hash version must be 1 or 2, got {version!r}")


def in_range(n: float, bucket_range: tuple[float, float] | Sequence[float]) -> bool:
    """``start <= n < end`` for ``bucket_range = (start, end)`` (GrowthBook ``inRange``)."""
    start, end = bucket_range[0], bucket_range[1]
    return start <= n < end


def bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """Bucket ranges of an experiment's variations on the ``[0, 1)`` hash line (GrowthBook ``getBucketRanges``).

    Coverage is clipped to ``[0, 1]``. Weights default to equal; they also fall back to equal when their number
    differs from ``num_variations`` or their sum is outside ``[0.99, 1.01]``. Variation ``i`` gets
    ``[c_i, c_i + coverage * w_i)`` with ``c_i = w_1 + ... + w_{i-1}``, so lowering coverage shrinks every range
    from its right end and raising it again never moves a user to another variation.

    Args:
        num_variations: Number of variations.
        coverage: Share of users included, in ``[0, 1]``.
        weights: Traffic split, summing to 1.

    Returns:
        One ``(start, end)`` per variation.
    """
    n = int(num_variations)
    if n <= 0:
        return []
    cov = min(1.0, max(0.0, float(coverage)))
    equal = [1.0 / n] * n
    w = [float(x) for x in weights] if weights is not None else equal
    if len(w) != n or not 0.99 <= sum(w) <= 1.01:
        w = equal
    ranges: list[tuple[float, float]] = []
    cumulative = 0.0
    for wi in w:
        ranges.append((cumulative, cumulative + cov * wi))
        cumulative += wi
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float] | Sequence[float]]) -> int:
    """Index of the first range that holds ``n``, or -1 if none does (GrowthBook ``chooseVariation``)."""
    for i, r in enumerate(ranges):
        if in_range(n, r):
            return i
    return -1


def in_namespace(user_id: str, namespace: tuple[str, float, float] | Sequence[object]) -> bool:
    """Whether a user is in a GrowthBook namespace range ``(namespace_id, start, end)``.

    ``n = growthbook_hash("__" + namespace_id, user_id, 1)`` and the user is in when ``start <= n < end``.

    Args:
        user_id: The hash attribute's value.
        namespace: ``(namespace_id, start, end)``.

    Returns:
        True when the user falls in the range.
    """
    ns_id, start, end = namespace[0], namespace[1], namespace[2]
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        raise ParameterError(f"namespace must be (id, start, end) with numeric bounds, got {namespace!r}")
    n = growthbook_hash(f"__{ns_id}", str(user_id), 1)
    return in_range(n, (float(start), float(end)))
