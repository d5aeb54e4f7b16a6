"""Tests of abnb.flags: evaluation order, monotone ramps, conditions and validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from abnb.assign import uniform, uniform_many
from abnb.datasets import flag_file
from abnb.errors import ParameterError, SpecError
from abnb.flags import Flag, Flags, parse_condition

SAMPLE = flag_file("one_click_checkout")
USERS = [f"user-{i}" for i in range(200_000)]  # the issue asks for a 200k-user rollout


def issue_flag(**overrides: object) -> dict[str, object]:
    """The example of issue 6: qa -> on; beta_testers -> 50/50; everyone else -> off."""
    data: dict[str, object] = {
        "key": "one_click_checkout",
        "treatments": ["on", "off"],
        "default": "off",
        "segments": {"qa": ["qa-1", "qa-2"], "beta_testers": [f"beta-{i}" for i in range(2000)]},
        "rules": [
            {"if": "user in qa", "serve": "on"},
            {"if": "user in beta_testers", "split": {"on": 50, "off": 50}},
        ],
        "default_rule": {"serve": "off"},
    }
    data.update(overrides)
    return data


def ramp_flag(on: float, allocation: float = 100) -> Flag:
    return Flag.from_dict(
        {
            "key": "ramp",
            "treatments": ["on", "off"],
            "default": "off",
            "default_rule": {"split": {"on": on, "off": 100 - on}, "allocation": allocation},
        }
    )


# ---------------------------------------------------------------------------------------------- the issue's example
def test_issue_example_qa_on_beta_split_default_off() -> None:
    flags = Flags.from_dict(issue_flag())
    assert flags.treatment("qa-1", "one_click_checkout") == "on"
    assert flags.enabled("qa-2", "one_click_checkout")
    evaluation = flags.evaluate("qa-1", "one_click_checkout")
    assert (evaluation.reason, evaluation.rule, evaluation.bucket) == ("rule", 0, None)
    beta = [flags.evaluate(f"beta-{i}", "one_click_checkout") for i in range(2000)]
    assert {e.reason for e in beta} == {"rule"}
    assert {e.rule for e in beta} == {1}
    share = sum(e.treatment == "on" for e in beta) / 2000
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / 2000)
    # the bucket is PlanOut's uniform of the flag salt (default = key) and "on" iff bucket < 0.5
    for e in beta[:50]:
        assert e.bucket == uniform(e.user, "one_click_checkout")
        assert (e.treatment == "on") == (e.bucket < 0.5)
    others = [flags.evaluate(f"someone-{i}", "one_click_checkout") for i in range(500)]
    assert {(e.treatment, e.reason) for e in others} == {("off", "default_rule")}


def test_kill_switch_serves_default_to_everyone() -> None:
    flags = Flags.from_dict(issue_flag(killed=True, whitelist={"users": {"vip": "on"}}))
    for user in ["qa-1", "beta-1", "beta-2", "vip", "nobody"]:
        evaluation = flags.evaluate(user, "one_click_checkout")
        assert (evaluation.treatment, evaluation.reason) == ("off", "killed")
    assert not flags.enabled("qa-1", "one_click_checkout")


def test_no_default_rule_serves_default() -> None:
    data = issue_flag()
    del data["default_rule"]
    evaluation = Flags.from_dict(data).evaluate("nobody", "one_click_checkout")
    assert (evaluation.treatment, evaluation.reason) == ("off", "default")


def test_sample_file() -> None:
    flags = Flags.from_toml(SAMPLE)
    assert flags.keys() == ["one_click_checkout"]
    key = "one_click_checkout"
    assert flags.treatment("qa-alice", key) == "on"
    assert flags.evaluate("u-1001", key).rule == 1
    assert flags.evaluate("u-1003", key).reason == "whitelist"  # user whitelist beats the beta rule
    assert flags.treatment("u-1003", key) == "off"
    assert flags.evaluate("s-7", key).treatment == "on"  # segment whitelist
    assert flags.evaluate("u-9", key, {"country": "US", "platform": "ios"}).rule == 2
    assert flags.evaluate("u-9", key, {"country": "FR", "platform": "ios"}).reason == "default_rule"
    assert Flags.from_toml(SAMPLE.parent).keys() == ["one_click_checkout"]  # a directory loads every *.toml


# ---------------------------------------------------------------------------------------------------- whitelist
def test_whitelist_precedence() -> None:
    flags = Flags.from_dict(
        issue_flag(
            segments={"qa": ["qa-1", "qa-2"], "beta_testers": ["beta-1"], "staff": ["qa-2", "emp-1"], "x": ["emp-1"]},
            whitelist={"users": {"qa-1": "off", "emp-1": "off"}, "segments": {"staff": "on", "x": "off"}},
        )
    )
    key = "one_click_checkout"
    assert flags.evaluate("qa-1", key).treatment == "off"  # user whitelist beats rule 0 (qa -> on)
    assert flags.evaluate("qa-1", key).reason == "whitelist"
    assert flags.treatment("emp-1", key) == "off"  # user whitelist beats the segment whitelist
    assert flags.treatment("qa-2", key) == "on"
    assert flags.evaluate("qa-2", key).reason == "whitelist"
    # whitelist segments in file order: staff (on) before x (off)
    flags2 = Flags.from_dict(issue_flag(segments={"qa": [], "beta_testers": [], "s": ["u"], "t": ["u"]}))
    assert flags2.treatment("u", key) == "off"
    ordered = Flags.from_dict(
        issue_flag(
            segments={"qa": [], "beta_testers": [], "s": ["u"], "t": ["u"]},
            whitelist={"segments": {"t": "on", "s": "off"}},
        )
    )
    assert ordered.treatment("u", key) == "on"


# ------------------------------------------------------------------------------------------------- monotone ramps
def test_ramp_100k_users_is_monotone_and_shares_within_binomial_error() -> None:
    previous: set[str] = set()
    n = len(USERS)
    for on in [10, 25, 50, 100]:
        flag = ramp_flag(on)
        current = {u for u in USERS if flag.evaluate(u).treatment == "on"}
        assert previous <= current, f"{len(previous - current)} users left 'on' at {on}%"
        p = on / 100
        assert abs(len(current) / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12
        previous = current
    assert len(previous) == n


def test_ramp_equals_threshold_on_planout_uniform() -> None:
    buckets = uniform_many(USERS[:20_000], "ramp")
    flag = ramp_flag(25)
    on = np.array([flag.evaluate(u).treatment == "on" for u in USERS[:20_000]])
    np.testing.assert_array_equal(on, buckets < 0.25)


def test_allocation_is_monotone_and_independent_of_split() -> None:
    n = 40_000
    users = USERS[:n]
    previous: set[str] = set()
    for allocation in [20, 60, 100]:
        flag = ramp_flag(50, allocation)
        evaluations = [flag.evaluate(u) for u in users]
        allocated = {e.user for e in evaluations if e.reason == "default_rule"}
        assert {e.reason for e in evaluations} <= {"default_rule", "not_allocated"}
        assert all(e.treatment == "off" for e in evaluations if e.reason == "not_allocated")
        assert previous <= allocated
        a = allocation / 100
        assert abs(len(allocated) / n - a) <= 4 * math.sqrt(a * (1 - a) / n) + 1e-12
        # within the allocation the split is still 50/50 (allocation uses its own salt "{salt}.allocation")
        on = sum(e.treatment == "on" for e in evaluations if e.reason == "default_rule")
        assert abs(on / len(allocated) - 0.5) <= 4 * math.sqrt(0.25 / len(allocated))
        previous = allocated
    assert len(previous) == n


def test_rule_allocation_serves_default_outside() -> None:
    flag = Flag.from_dict(
        issue_flag(rules=[{"if": "user in beta_testers", "split": {"on": 100, "off": 0}, "allocation": 30}])
    )
    evaluations = [flag.evaluate(f"beta-{i}") for i in range(2000)]
    inside = [e for e in evaluations if e.reason == "rule"]
    outside = [e for e in evaluations if e.reason == "not_allocated"]
    assert len(inside) + len(outside) == 2000
    assert {e.rule for e in outside} == {0}
    assert {e.treatment for e in inside} == {"on"}
    assert {e.treatment for e in outside} == {"off"}
    assert abs(len(inside) / 2000 - 0.3) < 4 * math.sqrt(0.21 / 2000)
    for e in evaluations[:100]:
        assert (e.reason == "rule") == (uniform(e.user, "one_click_checkout.allocation") < 0.3)


def test_multi_treatment_split_puts_on_first_in_treatment_order() -> None:
    def flag(split: dict[str, float]) -> Flag:
        return Flag.from_dict(
            {"key": "k", "treatments": ["off", "blue", "on"], "default": "off", "default_rule": {"split": split}}
        )

    a = flag({"off": 60, "blue": 30, "on": 10})
    b = flag({"on": 10, "blue": 30, "off": 60})  # order in the table does not matter
    for user in USERS[:3000]:
        u = uniform(user, "k")
        expected = "on" if u < 0.1 else "off" if u < 0.7 else "blue"  # on first, then treatments order
        assert a.evaluate(user).treatment == expected == b.evaluate(user).treatment


def test_rule_salt_changes_buckets_and_determinism() -> None:
    base = Flag.from_dict(issue_flag())
    salted = Flag.from_dict(
        issue_flag(rules=[{"if": "user in beta_testers", "split": {"on": 50, "off": 50}, "salt": "other"}])
    )
    users = [f"beta-{i}" for i in range(2000)]
    first = [base.evaluate(u).treatment for u in users]
    again = Flag.from_dict(issue_flag())
    assert first == [again.evaluate(u).treatment for u in users]  # deterministic
    assert salted.evaluate("beta-1").bucket == uniform("beta-1", "other")
    agree = sum(x == salted.evaluate(u).treatment for x, u in zip(first, users, strict=True)) / 2000
    assert abs(agree - 0.5) < 0.06  # an independent salt reshuffles
    numeric = Flag.from_dict(issue_flag(segments={"qa": [42], "beta_testers": []}))
    assert numeric.evaluate(42).treatment == numeric.evaluate("42").treatment == "on"  # ids hash as str


# ----------------------------------------------------------------------------------------------------- conditions
@pytest.mark.parametrize(
    ("text", "attributes", "expected"),
    [
        ('country == "US"', {"country": "US"}, True),
        ("country == 'US'", {"country": "CA"}, False),
        ('country != "US"', {"country": "CA"}, True),
        ('country != "US"', {}, False),  # a missing attribute makes every comparison false
        ('country == "US"', {}, False),
        ('platform in ["ios", "android"]', {"platform": "android"}, True),
        ('platform not in ["ios", "android"]', {"platform": "web"}, True),
        ("age == 30", {"age": 30}, True),
        ("score == 0.5", {"score": 0.5}, True),
        ("paying == true", {"paying": True}, True),
        ("paying == true", {"paying": 1}, False),
        ("user in qa", {}, True),
        ("user not in qa", {}, False),
        ('user == "u1"', {}, True),
        ('user in ["u2", "u1"]', {}, True),
        ('not user in qa or country == "US"', {"country": "US"}, True),
        ('user in qa and (country == "US" or country == "CA")', {"country": "CA"}, True),
        ('user in qa and country == "US" or country == "CA"', {"country": "FR"}, False),
        ('user in empty or country == "FR" and paying == true', {"country": "FR", "paying": False}, False),
    ],
)
def test_conditions(text: str, attributes: dict[str, object], expected: bool) -> None:
    condition = parse_condition(text)
    segments = {"qa": frozenset({"u1"}), "empty": frozenset()}
    assert condition.holds("u1", attributes, segments) is expected


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ('country = "US"', 9),
        ("", 1),
        ('country == "US" and', 20),
        ("country in qa", 12),
        ("(user in qa", 12),
        ("country == US", 12),
        ('platform in ["ios" "android"]', 20),
        ("user in qa; drop table", 11),
        ('__import__("os")', 11),
    ],
)
def test_malformed_conditions(text: str, column: int) -> None:
    with pytest.raises(SpecError, match=f"flag 'f' rule 0: condition .* is malformed at column {column}:"):
        parse_condition(text, where="flag 'f' rule 0")


def test_rules_use_attributes() -> None:
    flags = Flags.from_dict(
        issue_flag(rules=[{"if": 'country == "US" and platform in ["ios"]', "serve": "on"}], segments={})
    )
    assert flags.enabled("a", "one_click_checkout", {"country": "US", "platform": "ios"})
    assert not flags.enabled("a", "one_click_checkout", {"country": "US", "platform": "web"})
    assert not flags.enabled("a", "one_click_checkout")


# ------------------------------------------------------------------------------------------------------- segments
def test_segments_passed_in_and_at_evaluation() -> None:
    data = issue_flag()
    del data["segments"]
    flags = Flags.from_dict(data, segments={"qa": ["q"], "beta_testers": []})
    assert flags.treatment("q", "one_click_checkout") == "on"
    flag = flags["one_click_checkout"]
    assert flag.evaluate("z", segments={"qa": ["z"]}).treatment == "on"  # overrides membership for one call
    assert flag.evaluate("q", segments={"qa": []}).reason == "default_rule"
    file_wins = Flags.from_dict(issue_flag(), segments={"qa": ["q"]})
    assert file_wins.treatment("q", "one_click_checkout") == "off"


def test_many_flags_in_one_document_share_segments() -> None:
    flags = Flags.from_dict(
        {
            "segments": {"qa": ["q"]},
            "flags": [
                {"key": "a", "default": "off", "rules": [{"if": "user in qa", "serve": "on"}]},
                {"key": "b", "treatments": ["red", "blue"], "default": "red", "default_rule": {"serve": "blue"}},
            ],
        }
    )
    assert len(flags) == 2
    assert "a" in flags
    assert flags.keys() == ["a", "b"]
    assert flags.enabled("q", "a")
    assert not flags.enabled("x", "a")
    assert flags.treatment("x", "b") == "blue"
    with pytest.raises(ParameterError, match=r"no feature flag 'c'; known flags: \['a', 'b'\]"):
        flags.treatment("x", "c")


# ----------------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"key": None}, r"has no `key`"),
        ({"treatments": ["on"]}, r"`treatments` must list two or more distinct names"),
        ({"treatments": ["on", "on"]}, r"two or more distinct"),
        ({"default": "maybe"}, r"flag 'one_click_checkout': `default` 'maybe' is not a treatment; use one of"),
        ({"killed": "yes"}, r"`killed` must be true or false"),
        ({"salt": ""}, r"`salt` must be a non-empty string"),
        ({"kiled": True}, r"unknown field\(s\) \['kiled'\]"),
        ({"segments": {"qa": "qa-1"}}, r"segment 'qa' must be a list of user ids"),
        ({"whitelist": {"u1": "on"}}, r"\[whitelist\] holds two tables"),
        ({"whitelist": {"users": {"u1": "maybe"}}}, r"whitelist user 'u1' treatment 'maybe' is not a treatment"),
        ({"whitelist": {"segments": {"nope": "on"}}}, r"\[whitelist.segments\] uses unknown segment 'nope'"),
        ({"rules": {"if": "user in qa"}}, r"`rules` must be an array of tables"),
        ({"rules": [{"serve": "on"}]}, r"rule 0 has no `if`"),
        ({"rules": [{"if": "user in qa"}]}, r"rule 0 needs exactly one of serve"),
        ({"rules": [{"if": "user in qa", "serve": "on", "split": {"on": 100}}]}, r"exactly one of serve"),
        ({"rules": [{"if": "user in qa", "serve": "yes"}]}, r"rule 0 serve 'yes' is not a treatment"),
        ({"rules": [{"if": "user in qa", "serve": "on", "weight": 1}]}, r"rule 0: unknown field\(s\) \['weight'\]"),
        (
            {"rules": [{"if": "user in qa", "serve": "on"}, {"if": "user in testers", "serve": "on"}]},
            r"rule 1 \(if = 'user in testers'\) uses unknown segment 'testers'; define it under \[segments\]",
        ),
        ({"rules": [{"if": "user in", "serve": "on"}]}, r"rule 0: condition 'user in' is malformed"),
        ({"rules": [{"if": 3, "serve": "on"}]}, r"rule 0: `if` must be a string"),
        (
            {"rules": [{"if": "user in qa", "split": {"on": 60, "off": 50}}]},
            r"rule 0: split weights \{'on': 60, 'off': 50\} sum to 110, not 100",
        ),
        ({"rules": [{"if": "user in qa", "split": {"on": 0.5, "off": 0.5}}]}, r"sum to 1, not 100"),
        ({"rules": [{"if": "user in qa", "split": {"on": 50, "x": 50}}]}, r"rule 0 split treatment 'x' is not"),
        ({"rules": [{"if": "user in qa", "split": {"on": 150, "off": -50}}]}, r"must be a percentage ≥ 0"),
        ({"rules": [{"if": "user in qa", "split": {}}]}, r"`split` must be a table of treatment = percent"),
        ({"rules": [{"if": "user in qa", "serve": "on", "allocation": 120}]}, r"`allocation` is a percentage"),
        ({"rules": [{"if": "user in qa", "serve": "on", "salt": 3}]}, r"rule 0: `salt` must be a non-empty"),
        ({"default_rule": {"if": "user in qa", "serve": "on"}}, r"default_rule: unknown field\(s\) \['if'\]"),
        ({"default_rule": {"split": {"on": 10, "off": 80}}}, r"default_rule: split weights .* sum to 90"),
    ],
)
def test_validation_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Flag.from_dict(issue_flag(**overrides))


def test_duplicate_keys_and_bad_documents() -> None:
    with pytest.raises(SpecError, match="flag 'one_click_checkout' is defined twice"):
        Flags.from_dict({"flags": [issue_flag(), issue_flag()]})
    with pytest.raises(SpecError, match=r"top-level fields \['key'\] go inside a flag"):
        Flags.from_dict({"flags": [], "key": "x"})
    with pytest.raises(SpecError, match=r"must be a TOML table"):
        Flags.from_dict({"flags": ["x"]})


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('key = "broken"\ntreatments = ["on", "off"]\ndefault "off"\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken.toml is not valid TOML at line 3, column 9: .*Fix that line"):
        Flags.from_toml(path)
    with pytest.raises(SpecError, match=r"does not exist"):
        Flags.from_toml(tmp_path / "missing.toml")


def test_invalid_flag_in_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('key = "f"\ndefault = "off"\n[[rules]]\nif = "user in qa"\nserve = "on"\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"flag 'f' in .*f.toml: rule 0 \(if = 'user in qa'\) uses unknown segment"):
        Flags.from_toml(path)
    assert Flags.from_toml(path, segments={"qa": ["a"]}).enabled("a", "f")


def test_repr() -> None:
    flags = Flags.from_dict(issue_flag())
    assert repr(flags) == "Flags(['one_click_checkout'])"
    assert repr(flags.evaluate("qa-1", "one_click_checkout")) == (
        "Evaluation(flag='one_click_checkout', user='qa-1', treatment='on', reason='rule 0')"
    )
