"""The safe expression language of conditions and guards."""

from __future__ import annotations

from typing import Any

import pytest

from agentspec.ir.expr import ExprError, check_expr, compile_expr

DATA = {
    "priority": "high",
    "score": 7,
    "tags": ["a", "b"],
    "ticket": {"customer": {"tier": "gold"}, "items": [3, 4]},
    "ok": True,
    "none": None,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("priority == 'high'", True),
        ("score >= 7 and score < 10", True),
        ("3 < score <= 7", True),
        ("not ok or score > 100", False),
        ("'a' in tags and 'z' not in tags", True),
        ("ticket.customer.tier == 'gold'", True),
        ("ticket['items'][1] * 2 + 1", 9),
        ("len(tags) + len(ticket.items)", 4),
        ("lower('ABC') == 'abc'", True),
        ("score // 2 - score % 2 / 2", 2.5),
        ("'yes' if score > 5 else 'no'", "yes"),
        ("data.score == score", True),
        ("true and not false and null is None", True),
        ("[1, 2] == [1, 2] and {'k': 1}['k'] == 1", True),
        ("-score", -7),
        ("max(tags)", "b"),
    ],
)
def test_evaluates(source: str, expected: Any) -> None:
    assert compile_expr(source).evaluate(DATA) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", 'calling "__import__"'),
        ("ticket.__class__", 'the attribute "__class__"'),
        ("_secret", 'the name "_secret"'),
        ("score ** 99", "the operator **"),
        ("lambda: 1", "Lambda is not allowed"),
        ("tags[0:1]", "slicing is not allowed"),
        ("open('x')", 'calling "open"'),
        ("len(tags, key=1)", "keyword arguments"),
        ("[x for x in tags]", "ListComp is not allowed"),
        ("score = 1", "invalid expression"),
        ("(", "invalid expression"),
        ("", "empty expression"),
        ("x" * 3000, "longer than 2000"),
    ],
)
def test_refuses(source: str, message: str) -> None:
    with pytest.raises(ExprError, match=None) as caught:
        compile_expr(source)
    assert message in str(caught.value)
    assert check_expr(source) == str(caught.value)


def test_missing_fields_name_the_field_and_what_exists() -> None:
    expr = compile_expr("prio == 'high'")
    assert expr.names == frozenset({"prio"})
    with pytest.raises(ExprError) as caught:
        expr.evaluate(DATA)
    assert str(caught.value).startswith(
        'unknown field "prio" (the task data has: none, ok, priority'
    )
    with pytest.raises(ExprError, match='unknown field "ticket.customer.region"'):
        compile_expr("ticket.customer.region").evaluate(DATA)
    with pytest.raises(ExprError, match=r"unknown field \"tags\[5\]\""):
        compile_expr("tags[5]").evaluate(DATA)
    with pytest.raises(ExprError, match="the task data is list, not a mapping"):
        compile_expr("x").evaluate([1])


def test_runtime_type_errors_are_expression_errors() -> None:
    with pytest.raises(ExprError, match="'<' not supported"):
        compile_expr("priority < 3").evaluate(DATA)
    with pytest.raises(ExprError, match="division by zero"):
        compile_expr("score / 0").evaluate(DATA)
    with pytest.raises(ExprError, match=r"\* works on numbers only"):
        compile_expr("priority * 1000000").evaluate(DATA)
