"""Routing: which agent answers a message, and which session it belongs to.

Pure functions over the package's :class:`~agentspec.ir.models.Binding` resources, shared by
the WebSocket gateway and the webhook adapters.

A binding *matches* a message when every match field it sets (``peer``, ``guild``, ``team``,
``account``, ``channel``) equals the message's. Among the matching bindings the most specific
wins, compared by

1. the highest-precedence field it sets: peer > guild > team > account > channel;
2. then the number of fields it sets (more is more specific);
3. then its name, so the choice never depends on declaration order.

When nothing matches, the ``default`` binding takes the message. A default binding that also
sets match fields competes as a normal route too. A non-default binding that sets no match
field (which :func:`agentspec.ir.check_package` rejects) never matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agentspec.exceptions import UsageError
from agentspec.ir.models import BINDING_MATCH_FIELDS, Binding

DEFAULT_PEER = "main"
"""The peer of a message that names none (a direct, single-conversation channel)."""


def matches(binding: Binding, message: Mapping[str, str | None]) -> bool:
    """Whether ``binding`` sets at least one match field and every one equals the message's."""
    wanted = binding.match
    return bool(wanted) and all(message.get(key) == value for key, value in wanted.items())


def specificity(binding: Binding) -> tuple[int, int, str]:
    """Sort key of a matching binding: smaller is more specific (see the module docstring)."""
    wanted = binding.match
    highest = min(
        (BINDING_MATCH_FIELDS.index(key) for key in wanted), default=len(BINDING_MATCH_FIELDS)
    )
    return highest, -len(wanted), binding.name


def resolve(
    bindings: Mapping[str, Binding] | Iterable[Binding],
    channel: str,
    account: str,
    peer: str = DEFAULT_PEER,
    guild: str | None = None,
    team: str | None = None,
) -> Binding:
    """The binding that routes a message from ``channel``/``account``/``peer``.

    Args:
        bindings: the package's bindings (``package.bindings``) or any iterable of them.
        channel, account, peer, guild, team: where the message comes from.

    Raises:
        UsageError: ``no agent configured for <channel>:<account>:<peer>`` when no binding
            matches and there is no default binding.
    """
    candidates: list[Binding] = list(
        bindings.values() if isinstance(bindings, Mapping) else bindings
    )
    message = {
        "channel": channel,
        "account": account,
        "peer": peer,
        "guild": guild,
        "team": team,
    }
    matching = [binding for binding in candidates if matches(binding, message)]
    if matching:
        return min(matching, key=specificity)
    defaults = sorted((b for b in candidates if b.default), key=lambda b: b.name)
    if defaults:
        return defaults[0]
    raise UsageError(f"no agent configured for {channel}:{account}:{peer}")


def session_key(agent: str, channel: str, account: str, peer: str = DEFAULT_PEER) -> str:
    """The session id of a conversation: ``{agent}:{channel}:{account}:{peer}``."""
    return f"{agent}:{channel}:{account}:{peer}"
