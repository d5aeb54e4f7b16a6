"""Deterministic assignment: PlanOut-compatible hashing, random operators, namespaces, layers and GrowthBook hashing.

Every draw is a pure function of ``(unit, salt)``: the same user gets the same arm on every request, on every
machine, with no state to store. The hash is PlanOut's (Bakshy, Eckles & Bernstein, "Designing and Deploying
Online Field Experiments", WWW 2014): the first 15 hexadecimal digits of ``SHA-1("{salt}.{unit}")`` read as an
integer, so values computed here match PlanOut's reference implementation bit for bit.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from abnb.errors import ParameterError, SpecError

T = TypeVar("T")

__all__ = [
    "LONG_SCALE",
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


def _unit_text(unit: object) -> str:
    """Render a unit (or a sequence of units, joined by ``"."``) as PlanOut does with ``str``."""
    if isinstance(unit, (list, tuple)):
        return ".".join(str(u) for u in unit)
    return str(unit)


def hash_unit(unit: object | Sequence[object], salt: str) -> int:
    """Hash a unit with a salt into an integer in ``[0, 16**15 - 1]``.

    ``h = int(SHA1(f"{salt}.{unit}").hexdigest()[:15], 16)``; a list or tuple of units is joined with ``"."``
    first (PlanOut's convention for multi-unit parameters, e.g. ``[userid, itemid]``).

    Args:
        unit: The randomisation unit (user id, cookie, ...), or a list/tuple of units.
        salt: The salt, normally ``"{experiment_salt}.{parameter_salt}"`` (see :func:`salt_for`).

    Returns:
        A 60-bit non-negative integer.

    References:
        Bakshy, Eckles & Bernstein (2014), PlanOut ``RandomUnitOp.getHash``.
    """
    text = f"{salt}.{_unit_text(unit)}"
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:15], 16)


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
    out = np.empty(len(units), dtype=np.float64)
    sha1 = hashlib.sha1
    for i, unit in enumerate(units):
        out[i] = int(sha1(prefix + _unit_text(unit).encode("utf-8")).hexdigest()[:15], 16) / LONG_SCALE
    return out


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

    Args:
        low: Smallest value.
        high: Largest value (``>= low``).
        unit: The randomisation unit, or a list/tuple of units.
        salt: ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        The integer.

    Raises:
        ParameterError: If ``high < low`` or a bound is not an integer.
    """
    if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, int) or not isinstance(high, int):
        raise ParameterError(f"low and high must be integers, got {low!r} and {high!r}")
    if high < low:
        raise ParameterError(f"high ({high}) must be >= low ({low})")
    return low + hash_unit(unit, salt) % (high - low + 1)


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


def _script_error(node: ast.AST, message: str) -> SpecError:
    line = getattr(node, "lineno", "?")
    return SpecError(f"assignment script, line {line}: {message}")


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
    def __init__(self, inputs: dict[str, object], params: dict[str, object], experiment_salt: str) -> None:
        self.inputs = inputs
        self.params = params
        self.experiment_salt = experiment_salt

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
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id, node)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(e, parameter) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            value = self.eval(node.operand, parameter)
            if isinstance(node.op, ast.Not):
                return not value
            if isinstance(node.op, ast.USub):
                return -value
            return +value
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for v in node.values:
                    result = self.eval(v, parameter)
                    if not result:
                        return result
                return result
            result = False
            for v in node.values:
                result = self.eval(v, parameter)
                if result:
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self.eval(node.left, parameter)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator, parameter)
                try:
                    ok = _COMPARE[type(op)](left, right)
                except TypeError as exc:
                    raise _script_error(node, f"cannot compare {left!r} with {right!r}") from exc
                if not ok:
                    return False
                left = right
            return True
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left, parameter), self.eval(node.right, parameter)
            try:
                return _ARITH[type(node.op)](left, right)
            except (TypeError, ZeroDivisionError) as exc:
                raise _script_error(node, f"arithmetic failed: {exc}") from exc
        if isinstance(node, ast.IfExp):
            return self.eval(node.body if self.eval(node.test, parameter) else node.orelse, parameter)
        assert isinstance(node, ast.Call)
        return self.call(node, parameter)

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
                salt = str(self.eval(kw.value, parameter))
            else:
                args[key] = self.eval(kw.value, parameter)
        if salt is None:
            raise _script_error(node, f"{name}() outside an assignment needs salt=")
        full_salt = salt_for(self.experiment_salt, salt)
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
        except ParameterError as exc:
            raise _script_error(node, f"{name}(): {exc}") from exc


def _validate_expr(node: ast.expr) -> None:
    """Reject every expression outside the whitelist; raises SpecError naming the line."""
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise _script_error(node, f"unsupported literal {node.value!r}")
    elif isinstance(node, ast.Name):
        if not isinstance(node.ctx, ast.Load):
            raise _script_error(node, "unsupported use of a name")
    elif isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _validate_expr(e)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            raise _script_error(node, "only 'not', unary '-' and '+' are supported")
        _validate_expr(node.operand)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _validate_expr(v)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise _script_error(node, "only ==, !=, <, <=, >, >=, in, not in are supported")
        _validate_expr(node.left)
        for c in node.comparators:
            _validate_expr(c)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise _script_error(node, "only +, -, *, /, % are supported")
        _validate_expr(node.left)
        _validate_expr(node.right)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _validate_expr(part)
    elif isinstance(node, ast.Call):
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
    else:
        raise _script_error(node, f"unsupported expression ({type(node).__name__})")


def _validate_body(body: Sequence[ast.stmt], names: list[str]) -> None:
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                raise _script_error(stmt, "assign to exactly one plain name, e.g. button_color = ...")
            _validate_expr(stmt.value)
            if stmt.targets[0].id not in names:
                names.append(stmt.targets[0].id)
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

    Args:
        text: The script.

    Returns:
        A :class:`Script`.

    Raises:
        SpecError: Naming the line, for a syntax error or any construct outside the whitelist.
    """
    if not isinstance(text, str):
        raise SpecError(f"assignment script must be a string, got {type(text).__name__}")
    try:
        tree = ast.parse(textwrap.dedent(text), mode="exec")
    except SyntaxError as exc:
        raise SpecError(f"assignment script, line {exc.lineno}: syntax error: {exc.msg}") from exc
    names: list[str] = []
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
