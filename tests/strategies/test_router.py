"""router: classify into one delegate, hand over as a child run, invalid labels."""

from __future__ import annotations

from typing import Any

from agentspec.engine.strategies.router import parse_label
from tests.engine.helpers import package, runtime
from tests.strategies.helpers import check_log, data_of, structure

ROUTES = [
    {"agent": "billing", "condition": "the message is about invoices"},
    {"agent": "tech", "condition": "something is broken"},
]


def _agents(router_script: list[dict[str, Any]], **options: Any) -> dict[str, dict[str, Any]]:
    router: dict[str, Any] = {"script": router_script, "strategy": "router", "delegates": ROUTES}
    if options:
        router["strategy_options"] = options
    return {
        "triage": router,
        "billing": {"script": [{"text": "billing: {{input}}"}]},
        "tech": {"script": [{"text": "tech: {{input}}"}]},
    }


async def test_routes_to_the_chosen_agent_as_a_child_run() -> None:
    script = [
        {"text": "Billing.", "expect": {"contains": "- billing: the message is about invoices"}}
    ]
    async with runtime(package(_agents(script))) as rt:
        result = await rt.run("triage", "my invoice is wrong")
        events = await rt.get_events(result.run_id)
        (finished,) = data_of(events, "route.finished")
        child = await rt.get_run(finished["child_run_id"])
        child_events = await rt.get_events(finished["child_run_id"])
    assert result.output == "billing: my invoice is wrong"
    assert structure(events, ("route.", "model.response")) == [
        "model.response",
        "route.chosen",
        "route.finished",
    ]
    assert data_of(events, "route.chosen") == [
        {"label": "billing", "agent": "billing", "attempt": 1}
    ]
    assert finished["status"] == "completed" and finished["output"] == result.output
    assert child is not None and child.parent_run_id == result.run_id and child.agent == "billing"
    assert child.input == "my invoice is wrong"
    assert child_events[0].data["parent_run_id"] == result.run_id
    check_log(events, result)


async def test_invalid_label_is_retried_then_accepted() -> None:
    script = [
        {"text": "sales"},
        {"text": '{"agent": "tech"}', "expect": {"contains": "one of these names: billing, tech"}},
    ]
    async with runtime(package(_agents(script))) as rt:
        result = await rt.run("triage", "it is broken")
        events = await rt.get_events(result.run_id)
    assert result.output == "tech: it is broken"
    (rejected,) = data_of(events, "route.rejected")
    assert rejected["answer"] == "sales" and rejected["retrying"] is True
    assert "'sales' is not one of the routes" in rejected["error"]
    assert data_of(events, "route.chosen")[0]["attempt"] == 2
    check_log(events, result)


async def test_no_valid_label_fails_clearly_after_retries() -> None:
    script = [{"text": "sales"}, {"text": "marketing"}]
    async with runtime(package(_agents(script, format_retries=1))) as rt:
        result = await rt.run("triage", "hello", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    assert result.status == "failed"
    assert "chose no valid route after 2 attempt(s)" in result.error_message
    assert "valid routes: billing, tech" in result.error_message
    assert not data_of(events, "route.chosen")
    check_log(events, result)


async def test_failed_route_fails_the_router_with_the_childs_error() -> None:
    agents = _agents([{"text": "tech"}])
    agents["tech"] = {"script": [{"error": {"code": "auth", "message": "bad key"}}]}
    async with runtime(package(agents)) as rt:
        result = await rt.run("triage", "it is broken", raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    assert result.status == "failed" and result.error == "unauthorized"
    assert "route 'tech' failed" in result.error_message and "bad key" in result.error_message
    assert data_of(events, "route.finished")[0]["status"] == "failed"
    check_log(events, result)


def test_parse_label() -> None:
    labels = ["billing", "tech-support"]
    assert parse_label(" `Tech-Support`. ", labels) == "tech-support"
    assert parse_label('{"route": "billing"}', labels) == "billing"
    try:
        parse_label("both billing and tech", labels)
    except ValueError as exc:
        assert "not one of the routes" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("accepted an invalid label")
