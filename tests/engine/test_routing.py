"""Routing by bindings: specificity peer > guild > team > account > channel > default."""

from __future__ import annotations

import itertools
import random

import pytest

from agentspec.engine.routing import DEFAULT_PEER, matches, resolve, session_key, specificity
from agentspec.exceptions import UsageError
from agentspec.ir import Binding
from agentspec.ir.models import BINDING_MATCH_FIELDS

MESSAGE = {"channel": "slack", "account": "acme", "peer": "alice", "guild": "eng", "team": "core"}


def b(name: str, agent: str = "", *, default: bool = False, **match: str) -> Binding:
    return Binding(name=name, agent=agent or name, default=default, **match)


def test_a_binding_matches_when_every_field_it_sets_is_equal() -> None:
    assert matches(b("x", channel="slack"), MESSAGE)
    assert matches(b("x", channel="slack", peer="alice", team="core"), MESSAGE)
    assert not matches(b("x", channel="slack", peer="bob"), MESSAGE)
    assert not matches(b("x", guild="eng"), {**MESSAGE, "guild": None})


def test_a_binding_without_match_fields_never_matches() -> None:
    assert not matches(b("x"), MESSAGE)
    assert not matches(b("x", default=True), MESSAGE)


@pytest.mark.parametrize(("winner", "loser"), list(itertools.combinations(BINDING_MATCH_FIELDS, 2)))
def test_each_field_outranks_the_less_specific_ones(winner: str, loser: str) -> None:
    bindings = [b("more", **{winner: MESSAGE[winner]}), b("less", **{loser: MESSAGE[loser]})]
    for order in (bindings, bindings[::-1]):
        assert resolve(order, **MESSAGE).name == "more"


def test_the_full_precedence_order() -> None:
    bindings = {f: b(f, **{f: MESSAGE[f]}) for f in BINDING_MATCH_FIELDS}
    bindings["fallback"] = b("fallback", default=True)
    for field in BINDING_MATCH_FIELDS:
        assert resolve(bindings, **MESSAGE).name == field
        del bindings[field]
    assert resolve(bindings, **MESSAGE).name == "fallback"


def test_the_highest_field_counts_before_the_number_of_fields() -> None:
    many = b("many", channel="slack", account="acme", team="core", guild="eng")
    peer = b("peer", peer="alice")
    assert resolve([many, peer], **MESSAGE).name == "peer"


def test_more_fields_win_among_equal_highest_fields() -> None:
    one = b("one", peer="alice")
    two = b("two", peer="alice", channel="slack")
    three = b("three", peer="alice", channel="slack", account="acme")
    assert resolve([one, two, three], **MESSAGE).name == "three"
    assert resolve([one, two], **MESSAGE).name == "two"


def test_ties_are_broken_by_name_not_declaration_order() -> None:
    first, second = b("a-route", "x", channel="slack"), b("b-route", "y", channel="slack")
    assert resolve([second, first], **MESSAGE).name == "a-route"
    assert resolve([first, second], **MESSAGE).name == "a-route"


def test_the_result_does_not_depend_on_the_order_of_bindings() -> None:
    pool = [
        b("c", channel="slack"),
        b("ca", channel="slack", account="acme"),
        b("t", team="core"),
        b("g", guild="eng", channel="slack"),
        b("p-other", peer="bob"),
        b("d", default=True),
    ]
    rng = random.Random(7)
    for _ in range(50):
        rng.shuffle(pool)
        assert resolve(pool, **MESSAGE).name == "g"


def test_a_mismatching_field_disqualifies_a_more_specific_binding() -> None:
    bindings = [b("bob", peer="bob", channel="slack"), b("chan", channel="slack")]
    assert resolve(bindings, **MESSAGE).name == "chan"
    other_channel = [b("alice-on-discord", peer="alice", channel="discord"), b("d", default=True)]
    assert resolve(other_channel, **MESSAGE).name == "d"


def test_guild_and_team_only_match_when_given() -> None:
    bindings = [b("guild", guild="eng"), b("team", team="core"), b("chan", channel="slack")]
    assert resolve(bindings, "slack", "acme").name == "chan"
    assert resolve(bindings, "slack", "acme", team="core").name == "team"
    assert resolve(bindings, "slack", "acme", guild="eng", team="core").name == "guild"


def test_peer_defaults_to_main() -> None:
    bindings = [b("main", peer="main"), b("d", default=True)]
    assert DEFAULT_PEER == "main"
    assert resolve(bindings, "cli", "me").name == "main"
    assert resolve(bindings, "cli", "me", "someone").name == "d"


def test_the_default_takes_what_nothing_matches() -> None:
    bindings = {"d": b("d", default=True), "x": b("x", channel="discord")}
    assert resolve(bindings, "slack", "acme").name == "d"
    assert resolve(bindings, "discord", "acme").name == "x"


def test_a_default_with_match_fields_is_also_a_normal_route() -> None:
    default = b("d", default=True, channel="slack")
    other = b("acct", account="acme")
    assert resolve([default, other], "slack", "acme").name == "acct"
    assert resolve([default, other], "slack", "other").name == "d"
    assert resolve([default, other], "telegram", "other").name == "d"


def test_no_match_and_no_default_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^no agent configured for slack:acme:alice$"):
        resolve([b("x", channel="discord")], "slack", "acme", "alice")
    with pytest.raises(UsageError, match=r"^no agent configured for cli:me:main$"):
        resolve({}, "cli", "me")


def test_a_non_default_binding_without_fields_is_ignored() -> None:
    with pytest.raises(UsageError):
        resolve([b("empty")], "slack", "acme")


def test_specificity_key() -> None:
    assert specificity(b("x", peer="p")) == (0, -1, "x")
    assert specificity(b("x", channel="c", account="a")) == (3, -2, "x")
    assert specificity(b("x", default=True)) == (len(BINDING_MATCH_FIELDS), 0, "x")


def test_binding_match_lists_the_fields_set_most_specific_first() -> None:
    binding = b("x", channel="c", peer="p", team="t")
    assert list(binding.match) == ["peer", "team", "channel"]


def test_session_key() -> None:
    assert session_key("helper", "slack", "acme", "alice") == "helper:slack:acme:alice"
    assert session_key("helper", "cli", "me") == "helper:cli:me:main"
