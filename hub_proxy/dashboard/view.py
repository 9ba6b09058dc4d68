"""The hub as one visitor may see it: servers, their offers, groups, and who can do what.

Everything here is read from the hub's own objects at the moment of the
request -- the catalog in force, the upstreams' cached offers through
:mod:`hub_proxy.routing` (the very tables ``/mcp`` lists and calls from), and
the access control's evaluator -- so the dashboard cannot disagree with the
MCP endpoint about what exists or who may see it.

What a visitor sees is what they may *list*, decided item by item by the
hub's evaluator: a server appears when at least one of its tools, prompts or
resources is listed for them, and is absent, not greyed out, otherwise (a
greyed-out name would tell them it exists).  Administrators (see
:mod:`hub_proxy.dashboard.settings`) see everything.  These reads are not
audited as MCP list requests: they are pages, rendered again on every live
update, and the acts with consequences -- a tool tried from the dashboard --
go through the hub's session and are audited there.

"Who can" asks the evaluator about a principal made from a subject: a User
with its groups, any member of a Group, an API key or a ServiceAccount of a
namespace, each with the groups the hub's authenticators give such a
principal (``system:authenticated``, and a ServiceAccount's
``system:serviceaccounts`` groups, as TokenReview reports them).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from hub_proxy import routing
from hub_proxy.access import AccessControl
from hub_proxy.activity import Activity, ServerStats
from hub_proxy.auth.policy import Action, Decision, Item, ItemKind
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from hub_proxy.catalog import Catalog, Command, Scope
from hub_proxy.dashboard.changes import Changes, ServerEvent
from hub_proxy.dashboard.signin import Visitor
from hub_proxy.live import LiveCatalog
from hub_proxy.upstreams import Upstreams, UpstreamStatus
from mcphub_api import MCPGroup, MCPServer
from mcphub_api.meta import Condition

State = Literal["ready", "degraded", "starting", "down", "not served"]
SubjectKind = Literal["User", "Group", "APIKey", "ServiceAccount"]
SUBJECT_KINDS: Final[tuple[SubjectKind, ...]] = ("User", "Group", "APIKey", "ServiceAccount")
# The act that uses each kind of item, beside listing it.
_USE: Final[Mapping[ItemKind, Action]] = {"tool": "call", "prompt": "get", "resource": "read"}


@dataclass(frozen=True)
class Offered:
    """One tool, prompt, resource or resource template of a server."""

    kind: Literal["tool", "prompt", "resource", "template"]
    server: str
    # A tool's or prompt's published name, a resource's URI, a template's uriTemplate.
    name: str
    # The name at ``/mcp`` (prefixed with the server's name), for tools and prompts.
    hub_name: str
    definition: Mapping[str, Any]
    item: Item

    @property
    def title(self) -> str | None:
        title = self.definition.get("title")
        return title if isinstance(title, str) else None

    @property
    def description(self) -> str:
        description = self.definition.get("description")
        return description if isinstance(description, str) else ""

    @property
    def input_schema(self) -> Mapping[str, Any]:
        schema = self.definition.get("inputSchema")
        return schema if isinstance(schema, Mapping) else {}


@dataclass(frozen=True)
class ServerView:
    """One server as a visitor sees it."""

    name: str
    state: State
    reason: str
    transport: str
    offered: tuple[Offered, ...]
    stats: ServerStats
    last_change: float | None
    groups: tuple[str, ...]
    status: UpstreamStatus | None
    definition: MCPServer | None

    def of_kind(self, kind: str) -> tuple[Offered, ...]:
        return tuple(offer for offer in self.offered if offer.kind == kind)

    @property
    def tool_count(self) -> int:
        return len(self.of_kind("tool"))

    @property
    def conditions(self) -> tuple[Condition, ...]:
        status = self.definition.status if self.definition is not None else None
        return tuple(status.conditions or ()) if status is not None else ()


@dataclass(frozen=True)
class GroupView:
    name: str
    path: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """What a subject may do with one item, and which policy says so."""

    offered: Offered
    listed: Decision
    use: Action
    used: Decision


class HubView:
    """Reads the hub for the dashboard's pages."""

    def __init__(
        self,
        live: LiveCatalog,
        upstreams: Upstreams,
        access: AccessControl,
        changes: Changes,
        *,
        in_cluster: bool,
    ) -> None:
        self._live = live
        self._upstreams = upstreams
        self._access = access
        self.changes = changes
        self.in_cluster = in_cluster

    @property
    def catalog(self) -> Catalog:
        return self._live.current

    @property
    def activity(self) -> Activity:
        return self._access.activity

    def shown(self, visitor: Visitor) -> Callable[[Item], bool]:
        """Whether the visitor sees an item: administrators all, others what they may list."""
        if visitor.admin:
            return lambda _item: True
        evaluator, principal = self._access.evaluator, visitor.principal
        return lambda item: evaluator.allows(principal, "list", item)

    def offered(self) -> list[Offered]:
        """Every item of every server the hub serves, as ``/mcp`` publishes it."""
        scope = self.catalog.scopes.get("")
        if scope is None:
            return []
        return list(_offered(scope, self._upstreams))

    def offered_tools(self) -> list[Offered]:
        return [offer for offer in self.offered() if offer.kind == "tool"]

    def servers(self, visitor: Visitor) -> list[ServerView]:
        """The servers the visitor sees, by name, each with the items the visitor sees."""
        shown = self.shown(visitor)
        by_server: dict[str, list[Offered]] = collections.defaultdict(list)
        for offer in self.offered():
            if shown(offer.item):
                by_server[offer.server].append(offer)
        catalog = self.catalog
        names = set(catalog.servers) | (set(catalog.unsupported) if visitor.admin else set())
        views = [
            self._server(name, tuple(by_server.get(name, ())))
            for name in sorted(names)
            if visitor.admin or by_server.get(name)
        ]
        return views

    def server(self, visitor: Visitor, name: str) -> ServerView | None:
        """One server, if the visitor sees it."""
        for view in self.servers(visitor):
            if view.name == name:
                return view
        return None

    def groups(self, visitor: Visitor, servers: Iterable[ServerView]) -> list[GroupView]:
        """The groups, each with the members the visitor sees; empty ones left out."""
        seen = {server.name for server in servers}
        catalog = self.catalog
        views = []
        for name in sorted(catalog.groups):
            scope = catalog.scopes[name]
            members = tuple(m.server for m in scope.members if m.server in seen)
            if members or visitor.admin:
                views.append(GroupView(name, scope.path, members))
        return views

    def definition(self, kind: str, name: str) -> MCPServer | MCPGroup | None:
        return self.catalog.definitions.get((kind, name))

    def who_can(self, principal: Principal) -> list[Verdict]:
        """What ``principal`` may list and use of everything the hub serves, by the hub's rules."""
        evaluator = self._access.evaluator
        verdicts = []
        for offer in self.offered():
            use = _USE[offer.item.kind]
            verdicts.append(
                Verdict(
                    offer,
                    evaluator.decide(principal, "list", offer.item),
                    use,
                    evaluator.decide(principal, use, offer.item),
                )
            )
        return verdicts

    def _server(self, name: str, offered: tuple[Offered, ...]) -> ServerView:
        catalog = self.catalog
        entry = catalog.servers.get(name)
        status = self._upstreams[name].status if name in self._upstreams else None
        definition = catalog.definitions.get(("MCPServer", name))
        state, reason = _state(status, catalog.unsupported.get(name), definition)
        transport: str = definition.spec.transport if isinstance(definition, MCPServer) else ""
        if entry is not None:
            launch = entry.launch
            transport = (
                "stdio (child of the hub)" if isinstance(launch, Command) else launch.transport
            )
        groups = tuple(
            group for group in sorted(catalog.groups) if name in catalog.scopes[group].servers
        )
        return ServerView(
            name,
            state,
            reason,
            transport,
            offered,
            self._access.activity.stats(name),
            self.changes.last_change.get(name),
            groups,
            status,
            definition if isinstance(definition, MCPServer) else None,
        )

    def history(self, name: str) -> tuple[ServerEvent, ...]:
        return self.changes.history(name)


def _state(
    status: UpstreamStatus | None,
    unsupported: str | None,
    definition: MCPServer | MCPGroup | None,
) -> tuple[State, str]:
    if unsupported is not None or status is None:
        return "not served", unsupported or "not running"
    if not status.ready:
        # Never up yet, and never failed: still on its way.
        return ("starting" if status.restarts == 0 else "down"), status.reason
    conditions = (
        definition.status.conditions
        if isinstance(definition, MCPServer) and definition.status is not None
        else None
    )
    for condition in conditions or ():
        if condition.type == "Degraded" and condition.status == "True":
            return "degraded", condition.message or condition.reason
    return "ready", "ready"


def _offered(scope: Scope, upstreams: Upstreams) -> Iterable[Offered]:
    for name, published in routing.tools(scope, upstreams).items():
        own = published.item.published
        yield Offered(
            "tool", published.route.server, own, name, published.definition, published.item
        )
    for name, published in routing.prompts(scope, upstreams).items():
        own = published.route.upstream_name
        yield Offered(
            "prompt", published.route.server, own, name, published.definition, published.item
        )
    for uri, published in routing.resources(scope, upstreams).items():
        yield Offered(
            "resource", published.route.server, uri, uri, published.definition, published.item
        )
    for published in routing.resource_templates(scope, upstreams):
        pattern = published.route.upstream_name
        yield Offered(
            "template",
            published.route.server,
            pattern,
            pattern,
            published.definition,
            published.item,
        )


def subject_principal(
    kind: SubjectKind, name: str, namespace: str | None, groups: Sequence[str]
) -> Principal:
    """The principal a subject stands for, with the groups the hub would give it."""
    extra = frozenset(group for group in groups if group and not group.startswith("system:"))
    if kind == "User":
        return Principal("User", name, groups=extra | {AUTHENTICATED}, issuer="who-can")
    if kind == "Group":
        # No user name: a member of the group is anyone, so only the group's grants apply.
        return Principal("User", "", groups=frozenset({name, AUTHENTICATED}), issuer="who-can")
    if kind == "APIKey":
        return Principal("APIKey", name, namespace, frozenset({AUTHENTICATED}), "who-can")
    accounts = {"system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED}
    return Principal("ServiceAccount", name, namespace, frozenset(accounts), "who-can")
