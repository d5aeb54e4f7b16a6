"""Feature flags: treatments, whitelist, ordered targeting rules, percentage rollouts, default rule, kill switch.

A flag is declared in TOML (the sample's: :func:`abnb.datasets.flag_file`) and evaluated for one user at a time::

    flags = Flags.from_toml("flags/checkout.toml")
    flags.treatment("u-1001", "one_click_checkout", {"country": "US"})   # -> "on" or "off"
    flags.enabled("u-1001", "one_click_checkout")                        # -> treatment == "on"

Evaluation order (the first step that applies decides):

1. ``killed = true`` serves ``default`` to everyone (the whitelist included): the kill switch.
2. ``[whitelist.users]`` (user id → treatment), then ``[whitelist.segments]`` (segment → treatment, in file order).
3. ``[[rules]]`` in order: the first rule whose ``if`` condition holds serves its treatment (``serve = "on"``) or
   a percentage ``split``; a user outside the rule's ``allocation`` gets ``default``.
4. ``[default_rule]`` (``serve`` or ``split``), or ``default`` when there is none.

Percentage rollouts are monotone. The bucket of a user is ``u = abnb.assign.uniform(user, salt)``, PlanOut's
``SHA-1("{salt}.{user}")`` scaled to ``[0, 1]``. Treatments occupy consecutive intervals of ``[0, 1)`` in the
flag's ``treatments`` order with ``"on"`` moved first, so ``"on"`` iff ``u < share_on``: raising ``share_on`` from
10 % to 25 % to 50 % only adds users to ``"on"``, never removes one (as long as the salt stays the same). The
traffic allocation uses its own salt ``"{salt}.allocation"`` and the same rule (``u' < allocation``), so it is
monotone too and independent of the split. This is the cumulative-weights scheme of LaunchDarkly and Split
(LaunchDarkly also hashes with PlanOut's SHA-1/15-hex-digit convention).

Conditions are a tiny language parsed without ``eval``::

    user in qa                       # segment membership (also: user not in qa)
    country == "US"                  # attribute equality (also !=); strings, numbers, true/false
    platform in ["ios", "android"]   # attribute in a list (also: not in)
    user == "u-42"                   # the user id itself
    user in beta_testers and (country == "US" or country == "CA")   # and, or, not, parentheses

An attribute missing from ``attributes`` makes its comparison false, whatever the operator.

Bounds (each violation is a :class:`~abnb.errors.SpecError` naming the limit): a condition has at most
:data:`MAX_CONDITION_LENGTH` characters, nests parentheses and ``not`` at most :data:`MAX_CONDITION_DEPTH` deep,
and writes numbers with at most :data:`MAX_NUMBER_DIGITS` digits; a flag file nests tables and arrays at most
:data:`MAX_FLAG_FILE_DEPTH` deep. The tokenizer is one compiled regular expression applied left to right, so
parsing takes time linear in the length of the condition.

References:
    Bakshy, Eckles & Bernstein (2014), "Designing and Deploying Online Field Experiments", WWW (the hash).
    Split "targeting rules, traffic allocation, default rule, kill switch" and LaunchDarkly "percentage
    rollouts" documentation (the evaluation order and the cumulative buckets).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abnb._toml import read_toml
from abnb.assign import MAX_NUMBER_DIGITS, uniform  # one digit limit for both small languages
from abnb.errors import ParameterError, SpecError

__all__ = [
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_LENGTH",
    "MAX_FLAG_FILE_DEPTH",
    "MAX_NUMBER_DIGITS",
    "Evaluation",
    "Flag",
    "Flags",
    "Rule",
    "parse_condition",
]

#: Longest ``if`` condition accepted, in characters (a real condition is a line or two).
MAX_CONDITION_LENGTH = 1_000_000
#: Deepest nesting of parentheses and ``not`` in a condition (the parser and the evaluator recurse on it).
MAX_CONDITION_DEPTH = 100
#: Deepest nesting of tables and arrays in a flag document (a flag file needs about five levels).
MAX_FLAG_FILE_DEPTH = 32

_FLAG_KEYS = {
    "key",
    "description",
    "treatments",
    "default",
    "killed",
    "salt",
    "whitelist",
    "rules",
    "default_rule",
    "segments",
}
_RULE_KEYS = {"if", "serve", "split", "salt", "allocation", "description"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*"|'[^']*')
      | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<op>==|!=|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)
_SPACE = re.compile(r"\s*")
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}


# --------------------------------------------------------------------------------------------------- conditions
@dataclass(frozen=True)
class _InSegment:
    segment: str
    negate: bool = False

    def holds(self, user: str, attributes: Mapping[str, object], segments: Mapping[str, frozenset[str]]) -> bool:
        try:
            members = segments[self.segment]
        except KeyError:
            known = sorted(str(name) for name in segments)
            raise ParameterError(
                f"condition 'user {'not ' if self.negate else ''}in {self.segment}' needs segment "
                f"{self.segment!r}, which is not in `segments` (known: {known}); pass "
                f"segments={{{self.segment!r}: [user ids]}}."
            ) from None
        except TypeError:
            raise ParameterError(
                f"`segments` must map segment names to user ids, e.g. {{{self.segment!r}: {{'u1', 'u2'}}}}; "
                f"got {type(segments).__name__}."
            ) from None
        return (user in members) != self.negate

    def segment_names(self) -> set[str]:
        return {self.segment}


@dataclass(frozen=True)
class _Compare:
    attribute: str  # "user" means the user id
    values: tuple[object, ...]
    negate: bool = False

    def holds(self, user: str, attributes: Mapping[str, object], segments: Mapping[str, frozenset[str]]) -> bool:
        if self.attribute == "user":
            value: object = user
            found = any(str(v) == user for v in self.values)
        else:
            if self.attribute not in attributes:
                return False
            value = attributes[self.attribute]
            found = any(_equal(value, v) for v in self.values)
        return found != self.negate

    def segment_names(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class _Not:
    inner: _Condition

    def holds(self, user: str, attributes: Mapping[str, object], segments: Mapping[str, frozenset[str]]) -> bool:
        return not self.inner.holds(user, attributes, segments)

    def segment_names(self) -> set[str]:
        return self.inner.segment_names()


@dataclass(frozen=True)
class _All:
    parts: tuple[_Condition, ...]
    any_: bool = False  # True: "or", False: "and"

    def holds(self, user: str, attributes: Mapping[str, object], segments: Mapping[str, frozenset[str]]) -> bool:
        results = (p.holds(user, attributes, segments) for p in self.parts)
        return any(results) if self.any_ else all(results)

    def segment_names(self) -> set[str]:
        return set().union(*(p.segment_names() for p in self.parts))


_Condition = _InSegment | _Compare | _Not | _All


def _equal(a: object, b: object) -> bool:
    """Attribute equality that does not confuse ``true`` with ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


class _Parser:
    """Recursive-descent parser of the condition language (see the module docstring)."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.tokens: list[tuple[str, object, int]] = []
        self.index = 0
        self.depth = 0
        if len(text) > MAX_CONDITION_LENGTH:
            raise SpecError(
                f"{where}: the condition is {len(text):,} characters long; the limit is MAX_CONDITION_LENGTH = "
                f"{MAX_CONDITION_LENGTH:,}. Put long lists of users in a segment ([segments]) and write 'user in name'."
            )
        # One compiled pattern applied left to right: linear in len(text) (no slicing or stripping of the rest).
        position = 0
        end = len(text.rstrip())
        while position < end:
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                column = _SPACE.match(text, position).end()  # type: ignore[union-attr]
                self._fail(f"unexpected character {text[column : column + 1]!r}", column)
            assert match is not None
            kind = match.lastgroup or ""
            raw = match.group(kind)
            start = match.start(kind)
            value: object = raw
            if kind == "string":
                value = raw[1:-1]
            elif kind == "number":
                digits = len(raw) - raw.count(".") - raw.count("-")
                if digits > MAX_NUMBER_DIGITS:
                    self._fail(
                        f"a number of {digits:,} digits; the limit is MAX_NUMBER_DIGITS = {MAX_NUMBER_DIGITS}. "
                        "Quote long identifiers as strings",
                        start,
                    )
                value = float(raw) if "." in raw else int(raw)
            elif kind == "name" and raw in ("true", "false"):
                kind, value = "literal", raw == "true"
            elif kind == "name" and raw in _KEYWORDS:
                kind = "keyword"
            self.tokens.append((kind, value, start))
            position = match.end()

    def _fail(self, message: str, position: int | None = None) -> None:
        if position is None:
            position = self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)
        shown = self.text if len(self.text) <= 200 else f"{self.text[:200]}… ({len(self.text):,} characters)"
        raise SpecError(
            f"{self.where}: condition {shown!r} is malformed at column {position + 1}: {message}. "
            'Write e.g. "user in qa", \'country == "US"\', \'platform in ["ios", "android"]\', joined by and/or/not.'
        )

    def _peek(self) -> tuple[str, object] | None:
        if self.index < len(self.tokens):
            kind, value, _ = self.tokens[self.index]
            return kind, value
        return None

    def _accept(self, kind: str, value: object = None) -> bool:
        token = self._peek()
        if token is not None and token[0] == kind and (value is None or token[1] == value):
            self.index += 1
            return True
        return False

    def _expect(self, kind: str, value: object, what: str) -> None:
        if not self._accept(kind, value):
            self._fail(f"expected {what}")

    def parse(self) -> _Condition:
        if not self.tokens:
            self._fail("the condition is empty", 0)
        condition = self._or()
        if self.index < len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.index][1]!r}")
        return condition

    def _or(self) -> _Condition:
        parts = [self._and()]
        while self._accept("keyword", "or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _All(tuple(parts), any_=True)

    def _and(self) -> _Condition:
        parts = [self._factor()]
        while self._accept("keyword", "and"):
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else _All(tuple(parts))

    def _enter(self) -> None:
        """One level deeper in parentheses or ``not``; refuses more than MAX_CONDITION_DEPTH before recursing."""
        self.depth += 1
        if self.depth > MAX_CONDITION_DEPTH:
            self._fail(
                f"parentheses and 'not' are nested more than MAX_CONDITION_DEPTH = {MAX_CONDITION_DEPTH} levels "
                "deep; flatten the condition (not not x is x; a or (b or c) is a or b or c)"
            )

    def _factor(self) -> _Condition:
        if self._accept("keyword", "not"):
            self._enter()
            negated = _Not(self._factor())
            self.depth -= 1
            return negated
        if self._accept("op", "("):
            self._enter()
            inner = self._or()
            self._expect("op", ")", "')'")
            self.depth -= 1
            return inner
        token = self._peek()
        if token is None or token[0] != "name":
            self._fail("expected an attribute name, 'user', 'not' or '('")
        assert token is not None
        name = str(token[1])
        self.index += 1
        if self._accept("op", "=="):
            return _Compare(name, (self._literal(),))
        if self._accept("op", "!="):
            return _Compare(name, (self._literal(),), negate=True)
        negate = self._accept("keyword", "not")
        self._expect("keyword", "in", "'==', '!=', 'in' or 'not in'")
        if self._accept("op", "["):
            values = [self._literal()]
            while self._accept("op", ","):
                values.append(self._literal())
            self._expect("op", "]", "',' or ']'")
            return _Compare(name, tuple(values), negate=negate)
        if name != "user":
            self._fail(f"only 'user' can be in a segment; write {name} in [...] to compare an attribute with a list")
        segment = self._peek()
        if segment is None or segment[0] != "name":
            self._fail("expected a segment name or a [list] after 'in'")
        assert segment is not None
        self.index += 1
        return _InSegment(str(segment[1]), negate=negate)

    def _literal(self) -> object:
        token = self._peek()
        if token is None or token[0] not in ("string", "number", "literal"):
            self._fail('expected a value: a "quoted string", a number, true or false')
        assert token is not None
        self.index += 1
        return token[1]


def parse_condition(text: str, *, where: str = "condition") -> _Condition:
    """Parse a targeting condition (grammar in the module docstring) into a safe, eval-free predicate.

    Args:
        text: The condition, e.g. ``'user in qa and country == "US"'``.
        where: Prefix of error messages (e.g. ``"flag 'x' rule 2"``).

    Returns:
        A predicate object with ``holds(user, attributes, segments)`` and ``segment_names()``.

    Raises:
        SpecError: The condition is malformed, or exceeds :data:`MAX_CONDITION_LENGTH`, :data:`MAX_CONDITION_DEPTH`
            or :data:`MAX_NUMBER_DIGITS`; the message gives the column and an example.
    """
    if not isinstance(text, str):
        raise SpecError(f'{where}: `if` must be a string such as "user in qa", got {text!r}.')
    return _Parser(text, where).parse()


# -------------------------------------------------------------------------------------------------- flag model
@dataclass(frozen=True)
class Evaluation:
    """Why a user got a treatment.

    Attributes:
        flag: The flag key.
        user: The user id (as a string, the form that is hashed).
        treatment: The treatment served.
        reason: ``"killed"``, ``"whitelist"``, ``"rule"``, ``"not_allocated"`` (matched a rule, outside its
            traffic allocation: served ``default``), ``"default_rule"`` or ``"default"`` (no default rule).
        rule: 0-based index of the rule that matched (for ``"rule"`` and ``"not_allocated"``), else ``None``.
        bucket: The user's bucket ``u`` in ``[0, 1]`` when a split decided, else ``None``.
        method: How the bucket is computed.
    """

    flag: str
    user: str
    treatment: str
    reason: str
    rule: int | None = None
    bucket: float | None = None
    method: str = "sha1-15hex(salt.user) cumulative from 'on'"

    def __repr__(self) -> str:
        where = f" {self.rule}" if self.rule is not None else ""
        return (
            f"Evaluation(flag={self.flag!r}, user={self.user!r}, treatment={self.treatment!r}, "
            f"reason='{self.reason}{where}')"
        )


@dataclass(frozen=True)
class Rule:
    """One targeting rule (``condition`` is ``None`` for the default rule).

    Attributes:
        condition: Parsed ``if`` condition.
        text: The ``if`` text as written.
        serve: Fixed treatment, or ``None`` when the rule splits.
        split: ``(treatment, percent)`` pairs in bucket order (``"on"`` first), or empty for ``serve`` rules.
        salt: Salt of the split hash.
        allocation: Percent of matching users the rule applies to (others get the flag's ``default``).
    """

    condition: _Condition | None
    text: str
    serve: str | None
    split: tuple[tuple[str, float], ...]
    salt: str
    allocation: float = 100.0

    def allocated(self, user: str) -> bool:
        """Whether the user falls in the rule's traffic allocation (``uniform(user, salt + ".allocation") < a``)."""
        return self.allocation >= 100.0 or uniform(user, f"{self.salt}.allocation") < self.allocation / 100.0

    def pick(self, user: str) -> tuple[str, float | None]:
        """The treatment of a user who matched and is allocated, with the bucket when a split decided."""
        if self.serve is not None:
            return self.serve, None
        bucket = uniform(user, self.salt)
        edge = 0.0
        for treatment, percent in self.split:
            edge += percent / 100.0
            if bucket < edge:
                return treatment, bucket
        last = [t for t, p in self.split if p > 0][-1]  # bucket == 1.0 exactly, or rounding at the top
        return last, bucket


@dataclass(frozen=True)
class Flag:
    """A feature flag (see the module docstring for the evaluation order and the TOML format).

    Attributes:
        key: The flag key.
        treatments: Allowed treatments.
        default: Treatment served when killed, outside an allocation, or without a default rule.
        killed: Kill switch.
        salt: Hash salt (defaults to ``key``).
        whitelist_users: User id → treatment.
        whitelist_segments: Segment → treatment, in precedence order.
        rules: Targeting rules in order.
        default_rule: Rule for everyone else, or ``None`` (serve ``default``).
        segments: Known segments: name → user ids (as strings).
        description: Free text.
    """

    key: str
    treatments: tuple[str, ...]
    default: str
    killed: bool = False
    salt: str = ""
    whitelist_users: Mapping[str, str] = field(default_factory=dict)
    whitelist_segments: tuple[tuple[str, str], ...] = ()
    rules: tuple[Rule, ...] = ()
    default_rule: Rule | None = None
    segments: Mapping[str, frozenset[str]] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, segments: Mapping[str, Iterable[object]] | None = None, source: str = ""
    ) -> Flag:
        """Build and validate a flag from a parsed TOML table.

        Args:
            data: The table (``key``, ``treatments``, ``default``, ``killed``, ``salt``, ``whitelist``, ``rules``,
                ``default_rule``, and optionally ``segments``).
            segments: Segments defined elsewhere (name → user ids); the table's own ``segments`` win.
            source: File name for error messages.

        Raises:
            SpecError: A missing or unknown field, an unknown treatment, split weights not summing to 100, an
                allocation outside [0, 100], an unknown segment, or a malformed condition.
        """
        key, where = _identify(data, source)
        allowed = _treatments(data.get("treatments", ["on", "off"]), where)
        default = _treatment(data.get("default"), "`default`", where, allowed)
        killed = data.get("killed", False)
        if not isinstance(killed, bool):
            raise SpecError(f"{where}: `killed` must be true or false, got {killed!r}.")
        salt = data.get("salt", key)
        if not isinstance(salt, str) or not salt:
            raise SpecError(f"{where}: `salt` must be a non-empty string (default: the key), got {salt!r}.")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise SpecError(f"{where}: `description` must be a string.")
        known = _known_segments(data.get("segments", {}), segments, where)
        users, listed = _whitelist(data.get("whitelist", {}), where, allowed, known)
        rules = _rules(data.get("rules", []), where, allowed, salt, known)
        default_rule = None
        if "default_rule" in data:
            default_rule = _rule(data["default_rule"], where, "default_rule", allowed, salt, conditional=False)
        return cls(
            key=key,
            treatments=allowed,
            default=default,
            killed=killed,
            salt=salt,
            whitelist_users=users,
            whitelist_segments=listed,
            rules=rules,
            default_rule=default_rule,
            segments=known,
            description=description,
        )

    def evaluate(
        self,
        user: object,
        attributes: Mapping[str, object] | None = None,
        segments: Mapping[str, Iterable[object]] | None = None,
    ) -> Evaluation:
        """Evaluate the flag for one user.

        Order: kill switch → whitelist users → whitelist segments → rules in order → default rule → ``default``.

        Args:
            user: The user id (hashed as ``str(user)``, so ``42`` and ``"42"`` are the same user).
            attributes: Attributes the rule conditions compare (``country``, ``platform``, ...).
            segments: Segment memberships that override or add to the flag's own for this call.

        Returns:
            The :class:`Evaluation` (treatment, reason, matching rule, bucket).
        """
        uid = str(user)
        attrs = attributes or {}
        known: Mapping[str, frozenset[str]] = self.segments
        if segments:
            known = {**self.segments, **{n: _members(m, f"segment {n!r} passed in") for n, m in segments.items()}}
        if self.killed:
            return Evaluation(self.key, uid, self.default, "killed")
        if uid in self.whitelist_users:
            return Evaluation(self.key, uid, self.whitelist_users[uid], "whitelist")
        for name, treatment in self.whitelist_segments:
            if uid in known[name]:
                return Evaluation(self.key, uid, treatment, "whitelist")
        for i, rule in enumerate(self.rules):
            assert rule.condition is not None
            if rule.condition.holds(uid, attrs, known):
                if not rule.allocated(uid):
                    return Evaluation(self.key, uid, self.default, "not_allocated", rule=i)
                treatment, bucket = rule.pick(uid)
                return Evaluation(self.key, uid, treatment, "rule", rule=i, bucket=bucket)
        if self.default_rule is None:
            return Evaluation(self.key, uid, self.default, "default")
        if not self.default_rule.allocated(uid):
            return Evaluation(self.key, uid, self.default, "not_allocated")
        treatment, bucket = self.default_rule.pick(uid)
        return Evaluation(self.key, uid, treatment, "default_rule", bucket=bucket)

    def __repr__(self) -> str:
        state = "killed" if self.killed else f"{len(self.rules)} rules"
        return f"Flag(key={self.key!r}, treatments={list(self.treatments)}, default={self.default!r}, {state})"


def _identify(data: object, source: str) -> tuple[str, str]:
    """The key of a flag table and its name in messages (``flag 'key' in source``), after the checks of its shape."""
    origin = f" in {source}" if source else ""
    if not isinstance(data, Mapping):
        raise SpecError(f"a flag{origin} must be a TOML table, got {data!r}.")
    _check_depth(data, f"a flag{origin}")
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise SpecError(f'a flag{origin} has no `key`; add key = "my_flag".')
    where = f"flag {key!r}{origin}"
    _refuse_unknown(data, _FLAG_KEYS, where)
    return key, where


def _refuse_unknown(table: Mapping[str, object], keys: set[str], where: str) -> None:
    """Refuse the fields of ``table`` that are not in ``keys``."""
    unknown = set(table) - keys
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(keys)}.")


def _treatments(treatments: object, where: str) -> tuple[str, ...]:
    """The flag's ``treatments``: two or more distinct non-empty names."""
    if (
        not isinstance(treatments, list)
        or len(treatments) < 2
        or not all(isinstance(t, str) and t for t in treatments)
        or len(set(treatments)) != len(treatments)
    ):
        raise SpecError(f'{where}: `treatments` must list two or more distinct names, e.g. ["on", "off"].')
    return tuple(treatments)


def _treatment(value: object, what: str, where: str, treatments: Sequence[str]) -> str:
    """``value`` if it is one of the flag's ``treatments``."""
    if not isinstance(value, str) or value not in treatments:
        raise SpecError(f"{where}: {what} {value!r} is not a treatment; use one of {list(treatments)}.")
    return value


def _known_segments(
    own: object, passed: Mapping[str, Iterable[object]] | None, where: str
) -> dict[str, frozenset[str]]:
    """The segments a flag may use: those passed in, overridden by the flag's own ``[segments]``."""
    known = {name: _members(members, f"segment {name!r} passed in") for name, members in (passed or {}).items()}
    if not isinstance(own, Mapping):
        raise SpecError(f"{where}: [segments] must map a segment name to a list of user ids.")
    for name, members in own.items():
        known[name] = _members(members, f"{where}: segment {name!r}")
    return known


def _check_segment(name: str, what: str, where: str, known: Mapping[str, frozenset[str]]) -> None:
    """Refuse a segment the flag does not know."""
    if name not in known:
        raise SpecError(
            f"{where}: {what} uses unknown segment {name!r}; define it under [segments] "
            f"({name} = [user ids]) or pass segments={{{name!r}: ...}}. Known: {sorted(known)}."
        )


def _whitelist(
    whitelist: object, where: str, treatments: Sequence[str], known: Mapping[str, frozenset[str]]
) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """The ``[whitelist]`` table: user id → treatment, and (segment, treatment) pairs in file order."""
    if not isinstance(whitelist, Mapping) or set(whitelist) - {"users", "segments"}:
        raise SpecError(
            f"{where}: [whitelist] holds two tables, [whitelist.users] (user id = treatment) and "
            f"[whitelist.segments] (segment = treatment); got {whitelist!r}."
        )
    users: dict[str, str] = {}
    for user, treatment in _table(whitelist.get("users", {}), f"{where}: [whitelist.users]").items():
        users[str(user)] = _treatment(treatment, f"whitelist user {user!r} treatment", where, treatments)
    listed: list[tuple[str, str]] = []
    for name, treatment in _table(whitelist.get("segments", {}), f"{where}: [whitelist.segments]").items():
        _check_segment(name, "[whitelist.segments]", where, known)
        listed.append((name, _treatment(treatment, f"whitelist segment {name!r} treatment", where, treatments)))
    return users, tuple(listed)


def _rules(
    raw_rules: object, where: str, treatments: Sequence[str], salt: str, known: Mapping[str, frozenset[str]]
) -> tuple[Rule, ...]:
    """The ``[[rules]]`` array, each rule's segments known."""
    if not isinstance(raw_rules, list):
        raise SpecError(f"{where}: `rules` must be an array of tables ([[rules]]).")
    rules = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(raw, where, f"rule {i}", treatments, salt, conditional=True)
        assert rule.condition is not None
        for name in sorted(rule.condition.segment_names()):
            _check_segment(name, f"rule {i} (if = {rule.text!r})", where, known)
        rules.append(rule)
    return tuple(rules)


def _check_depth(data: object, what: str) -> None:
    """Refuse a document whose tables and arrays nest deeper than MAX_FLAG_FILE_DEPTH (iterative, linear).

    Deeper values would make the messages that quote them (``repr``) or a recursive reader raise RecursionError.
    """
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Iterable[object] = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth > MAX_FLAG_FILE_DEPTH:
            raise SpecError(
                f"{what} nests tables and arrays more than MAX_FLAG_FILE_DEPTH = {MAX_FLAG_FILE_DEPTH} levels deep; "
                "a flag needs about five (flags → rules → split → value). Flatten it."
            )
        stack.extend(
            (child, depth + 1)
            for child in children
            if not isinstance(child, (str, int, float)) and isinstance(child, (Mapping, list, tuple))
        )


def _members(members: object, what: str) -> frozenset[str]:
    if isinstance(members, (str, bytes)) or not isinstance(members, Collection):
        raise SpecError(f"{what} must be a list of user ids, got {members!r}.")
    return frozenset(str(m) for m in members)


def _table(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{what} must be a table of name = treatment, got {value!r}.")
    return value


def _rule(
    raw: object,
    flag: str,
    label: str,
    treatments: Sequence[str],
    flag_salt: str,
    *,
    conditional: bool,
) -> Rule:
    where = f"{flag} {label}"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a table, got {raw!r}.")
    _refuse_unknown(raw, _RULE_KEYS if conditional else _RULE_KEYS - {"if"}, where)
    text = ""
    condition = None
    if conditional:
        if "if" not in raw:
            raise SpecError(
                f'{where} has no `if`; add e.g. if = "user in qa" (the default rule goes in [default_rule]).'
            )
        text = raw["if"]
        condition = parse_condition(text, where=where)
    if ("serve" in raw) == ("split" in raw):
        raise SpecError(f'{where} needs exactly one of serve = "on" or split = {{ on = 50, off = 50 }}.')
    salt = raw.get("salt", flag_salt)
    if not isinstance(salt, str) or not salt:
        raise SpecError(f"{where}: `salt` must be a non-empty string, got {salt!r}.")
    allocation = raw.get("allocation", 100)
    if isinstance(allocation, bool) or not isinstance(allocation, (int, float)) or not 0 <= allocation <= 100:
        raise SpecError(f"{where}: `allocation` is a percentage of traffic in [0, 100], got {allocation!r}.")
    if "serve" in raw:
        return Rule(condition, text, _treatment(raw["serve"], f"{label} serve", flag, treatments), (), salt, allocation)
    return Rule(condition, text, None, _split(raw["split"], flag, label, treatments), salt, allocation)


def _split(split: object, flag: str, label: str, treatments: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """A rule's ``split`` as (treatment, percent) pairs in bucket order: ``"on"`` first, then the flag's order."""
    where = f"{flag} {label}"
    if not isinstance(split, Mapping) or not split:
        raise SpecError(f"{where}: `split` must be a table of treatment = percent, e.g. {{ on = 50, off = 50 }}.")
    for treatment, percent in split.items():
        _treatment(treatment, f"{label} split treatment", flag, treatments)
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            # `not 0 <= p <= 100` also refuses nan, which every comparison fails (it would send everyone to the
            # last treatment) and inf.
            raise SpecError(
                f"{where}: split weight of {treatment!r} must be a percentage ≥ 0 and ≤ 100, got {percent!r}."
            )
    total = float(sum(split.values()))
    if abs(total - 100.0) > 1e-9:
        raise SpecError(
            f"{where}: split weights {dict(split)} sum to {total:g}, not 100; they are percentages, "
            "e.g. { on = 10, off = 90 }."
        )
    order = sorted(treatments, key=lambda t: (t != "on", treatments.index(t)))
    return tuple((t, float(split[t])) for t in order if t in split)


# ---------------------------------------------------------------------------------------------- flag collection
class Flags:
    """A set of feature flags sharing segments; what an application asks ``treatment``/``enabled`` of.

    A TOML source is either one flag (top-level ``key``, ``treatments``, ...) or several (``[[flags]]``), with
    optional shared ``[segments]``; a directory loads every ``*.toml`` in it.
    """

    def __init__(self, flags: Iterable[Flag]) -> None:
        """Collect flags; keys must be unique.

        Raises:
            SpecError: Two flags share a key.
        """
        self._flags: dict[str, Flag] = {}
        for flag in flags:
            if flag.key in self._flags:
                raise SpecError(f"flag {flag.key!r} is defined twice; rename one of them.")
            self._flags[flag.key] = flag

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, segments: Mapping[str, Iterable[object]] | None = None, source: str = ""
    ) -> Flags:
        """Build flags from a parsed TOML document (one flag, or ``[[flags]]`` plus shared ``[segments]``).

        Args:
            data: The document.
            segments: Segments defined outside the file (name → user ids); the file's ``[segments]`` win.
            source: File name for error messages.

        Raises:
            SpecError: Any validation error of :meth:`Flag.from_dict`, or a duplicate key.
        """
        _check_depth(data, f"flag file {source}" if source else "the flag document")
        if "flags" not in data:
            return cls([Flag.from_dict(data, segments=segments, source=source)])
        extra = set(data) - {"flags", "segments"}
        if extra:
            raise SpecError(f"flag file {source}: with [[flags]], top-level fields {sorted(extra)} go inside a flag.")
        shared: dict[str, Iterable[object]] = dict(segments or {})
        shared.update(_table(data.get("segments", {}), f"flag file {source}: [segments]"))  # type: ignore[arg-type]
        entries = data["flags"]
        if not isinstance(entries, list):
            raise SpecError(f"flag file {source}: `flags` must be an array of tables ([[flags]]).")
        return cls(Flag.from_dict(entry, segments=shared, source=source) for entry in entries)

    @classmethod
    def from_toml(cls, path: str | Path, *, segments: Mapping[str, Iterable[object]] | None = None) -> Flags:
        """Read flags from a TOML file, or from every ``*.toml`` file of a directory (sorted by name).

        Args:
            path: File or directory.
            segments: Segments defined outside the files (name → user ids).

        Raises:
            SpecError: Missing file, invalid TOML (with line and column), or an invalid flag.
        """
        path = Path(path)
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        flags: list[Flag] = []
        for file in files:
            try:
                data = read_toml(file, "flag file")
            except RecursionError:  # read_toml turns it into a SpecError; kept for any other reader
                raise SpecError(
                    f"flag file {file} nests arrays or tables too deeply to be read; the limit is "
                    f"MAX_FLAG_FILE_DEPTH = {MAX_FLAG_FILE_DEPTH} levels. Flatten it."
                ) from None
            flags.extend(cls.from_dict(data, segments=segments, source=str(file)).values())
        return cls(flags)

    def __getitem__(self, key: str) -> Flag:
        """The flag with this key.

        Raises:
            ParameterError: No such flag (the message lists the known keys).
        """
        try:
            return self._flags[key]
        except KeyError:
            raise ParameterError(f"no feature flag {key!r}; known flags: {sorted(self._flags)}.") from None

    def __contains__(self, key: object) -> bool:
        return key in self._flags

    def __len__(self) -> int:
        return len(self._flags)

    def keys(self) -> list[str]:
        """Flag keys in load order."""
        return list(self._flags)

    def values(self) -> list[Flag]:
        """Flags in load order."""
        return list(self._flags.values())

    def evaluate(
        self,
        user: object,
        key: str,
        attributes: Mapping[str, object] | None = None,
        segments: Mapping[str, Iterable[object]] | None = None,
    ) -> Evaluation:
        """Evaluate flag ``key`` for ``user``: treatment and reason (see :meth:`Flag.evaluate`)."""
        return self[key].evaluate(user, attributes, segments)

    def treatment(self, user: object, key: str, attributes: Mapping[str, object] | None = None) -> str:
        """The treatment flag ``key`` serves ``user`` (see :meth:`Flag.evaluate`)."""
        return self[key].evaluate(user, attributes).treatment

    def enabled(self, user: object, key: str, attributes: Mapping[str, object] | None = None) -> bool:
        """Whether flag ``key`` serves ``"on"`` to ``user``."""
        return self.treatment(user, key, attributes) == "on"

    def __repr__(self) -> str:
        return f"Flags({self.keys()})"
