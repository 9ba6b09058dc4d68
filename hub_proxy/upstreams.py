"""The servers the hub runs, and what each of them offers right now.

Every configured stdio server is one child process behind one bridge
:class:`~hub_proxy.bridge.multiplexer.Multiplexer` -- the same code the
operator's sidecar runs -- so the hub inherits its supervision for free:
restarts with back-off, a child that dies with the hub (its own process group
and ``PR_SET_PDEATHSIG``), id and progress-token remapping, and answers for
whatever a dead child owed.  The hub never opens a new upstream session per
call: every downstream session talks to the upstream through a multiplexer
session of its own, and all of them share the one child.

What the hub shows clients comes from a cache, not from a round trip per
``tools/list``: each upstream is listed once it is up, through a session the
hub itself owns, and listed again when it says ``notifications/*/list_changed``
(the multiplexer also says so after a restart).  The server's tool policy is
applied here, once per listing, with :func:`mcphub_api.toolpolicy.publish`,
the function the operator uses for ``status.tools``: what kubectl shows is what
a client gets.  After a listing that changed something, the hub's listeners
are told which server and which kind, so that the connected sessions that can
see that server get their own ``list_changed``.

Environment values are passed by running the command through ``env``: the
multiplexer's :class:`~hub_proxy.bridge.channel.SpawnChannel` takes an argv
only, and ``env NAME=VALUE command`` execs the command with them added to the
hub's own environment, so the child's pid is still the server's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from hub_proxy.bridge.channel import SpawnChannel
from hub_proxy.bridge.multiplexer import Multiplexer, Timeouts
from hub_proxy.catalog import ServerEntry
from hub_proxy.transport import Peer, Session, jsonrpc
from mcphub_api.toolpolicy import publish


@dataclass(frozen=True)
class Listing:
    """One list the hub caches: how to ask for it and which list_changed makes it stale."""

    method: str
    # The field of the result that holds the items (and of :class:`Offer` that caches them).
    field: str
    # ``notifications/{kind}/list_changed`` makes it stale.
    kind: str


LISTINGS: Final = (
    Listing("tools/list", "tools", "tools"),
    Listing("prompts/list", "prompts", "prompts"),
    Listing("resources/list", "resources", "resources"),
    Listing("resources/templates/list", "resourceTemplates", "resources"),
)
KINDS: Final = frozenset(listing.kind for listing in LISTINGS)
METHOD_NOT_FOUND: Final = -32601
_RETRY_SECONDS: Final = 2.0
_ENV_COMMAND: Final = "env"

logger = logging.getLogger(__name__)


class ChangeListener(Protocol):
    """Told that what ``server`` offers of ``kind`` (tools, prompts, resources) changed."""

    def __call__(self, server: str, kind: str) -> None: ...


@dataclass(frozen=True)
class Tool:
    """One tool as the server publishes it, after its tool policy."""

    name: str
    upstream_name: str
    # The tool's JSON as clients see it from this server alone (published name).
    definition: Mapping[str, Any]


@dataclass(frozen=True)
class Offer:
    """Everything one upstream offers, as last listed."""

    tools: tuple[Tool, ...] = ()
    prompts: tuple[Mapping[str, Any], ...] = ()
    resources: tuple[Mapping[str, Any], ...] = ()
    resourceTemplates: tuple[Mapping[str, Any], ...] = ()  # noqa: N815 - MCP's field name


@dataclass(frozen=True)
class UpstreamStatus:
    """What /readyz says about one upstream."""

    ready: bool
    reason: str
    pid: int | None
    restarts: int
    tools: int


class ListError(Exception):
    """An upstream did not answer a list request."""


def command_line(entry: ServerEntry) -> list[str]:
    """The argv to spawn, with the literal environment values put in by ``env``."""
    if not entry.env:
        return list(entry.argv)
    env = shutil.which(_ENV_COMMAND) or "/usr/bin/env"
    return [env, *(f"{name}={value}" for name, value in entry.env.items()), *entry.argv]


class _HubPeer:
    """The hub's own session with an upstream: it lists, and hears list_changed.

    The multiplexer sends server-to-client requests to the session whose
    request is in flight; when that is this one (a listing), there is no
    client to ask, and the upstream gets an error.
    """

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    @property
    def session_id(self) -> str:
        return f"mcphub-catalog-{self._upstream.name}"

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        prefix, _, rest = method.removeprefix("notifications/").partition("/")
        if rest == "list_changed" and prefix in KINDS:
            self._upstream.mark_stale(prefix)

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        # The multiplexer replaces the id with the server's own before answering.
        return jsonrpc.Error(0, jsonrpc.INTERNAL_ERROR, f"the hub cannot answer {method} itself")


class Upstream:
    """One running server: its multiplexer and its cached offer."""

    def __init__(self, entry: ServerEntry, on_change: ChangeListener, timeouts: Timeouts) -> None:
        self.entry = entry
        self.multiplexer = Multiplexer(SpawnChannel(command_line(entry)), timeouts)
        self.offer = Offer()
        self._on_change = on_change
        self._stale: set[Listing] = set(LISTINGS)
        self._wake = asyncio.Event()
        self._wake.set()
        self._listed = False
        self._ids = itertools.count(1)
        self._session = self.multiplexer.open_session(_HubPeer(self))

    @property
    def name(self) -> str:
        return self.entry.name

    def open_session(self, peer: Peer) -> Session:
        """A multiplexer session for one downstream client, answering through ``peer``."""
        return self.multiplexer.open_session(peer)

    @property
    def status(self) -> UpstreamStatus:
        status = self.multiplexer.status
        ready = status.ready and self._listed
        reason = status.reason if not status.ready else ("ready" if ready else "listing tools")
        return UpstreamStatus(ready, reason, status.pid, status.restarts, len(self.offer.tools))

    def mark_stale(self, kind: str) -> None:
        self._stale.update(listing for listing in LISTINGS if listing.kind == kind)
        self._wake.set()

    async def run(self) -> None:
        """Supervise the child and keep the cache current until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.multiplexer.run())
            tasks.create_task(self._keep_listed())

    async def _keep_listed(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            stale, self._stale = self._stale, set()
            # In LISTINGS order: tools first, since readiness waits for them.
            for listing in (listing for listing in LISTINGS if listing in stale):
                try:
                    items = await self._list(listing)
                except ListError as exc:
                    logger.warning(
                        "listing an upstream failed; retrying",
                        extra={"server": self.name, "method": listing.method, "why": str(exc)},
                    )
                    self._stale.add(listing)
                    continue
                if self._store(listing, items):
                    self._on_change(self.name, listing.kind)
                if listing.field == "tools":
                    self._listed = True
            if self._stale:
                await asyncio.sleep(_RETRY_SECONDS)
                self._wake.set()

    def _store(self, listing: Listing, items: tuple[Mapping[str, Any], ...]) -> bool:
        """Put a listing in the cache; whether anything changed."""
        before = self.offer
        match listing.field:
            case "tools":
                self.offer = dataclasses.replace(before, tools=self._published(items))
                tools = len(self.offer.tools)
                logger.info("tools listed", extra={"server": self.name, "tools": tools})
            case "prompts":
                self.offer = dataclasses.replace(before, prompts=items)
            case "resources":
                self.offer = dataclasses.replace(before, resources=items)
            case _:
                self.offer = dataclasses.replace(before, resourceTemplates=items)
        return self.offer != before

    def _published(self, listed: tuple[Mapping[str, Any], ...]) -> tuple[Tool, ...]:
        tools = []
        for item in listed:
            name = item.get("name")
            if not isinstance(name, str):
                continue
            published = publish(
                name, str(item.get("description") or ""), item.get("title"), self.entry.policy
            )
            if published is None:
                continue
            definition = dict(item, name=published.name, description=published.description)
            if published.title is not None:
                definition["title"] = published.title
            tools.append(Tool(published.name, name, definition))
        return tuple(tools)

    async def _list(self, listing: Listing) -> tuple[Mapping[str, Any], ...]:
        """Every page of a listing; empty when the server has no such feature."""
        items: list[Mapping[str, Any]] = []
        cursor: object = None
        while True:
            params = {"cursor": cursor} if cursor else None
            request = jsonrpc.Request(f"hub-{next(self._ids)}", listing.method, params)
            answer = await self._session.handle_request(request)
            if isinstance(answer, jsonrpc.Error):
                if answer.code == METHOD_NOT_FOUND and listing.field != "tools":
                    return ()
                raise ListError(f"{listing.method}: {answer.message} ({answer.code})")
            page = answer.result.get(listing.field)
            if isinstance(page, list):
                items.extend(item for item in page if isinstance(item, Mapping))
            cursor = answer.result.get("nextCursor")
            if not cursor:
                return tuple(items)


class Upstreams:
    """All running servers, by name, and who wants to hear of their changes."""

    def __init__(self, servers: Mapping[str, ServerEntry], timeouts: Timeouts | None = None):
        self._listeners: set[ChangeListener] = set()
        self._by_name = {
            name: Upstream(entry, self._changed, timeouts or Timeouts())
            for name, entry in servers.items()
        }

    def __getitem__(self, name: str) -> Upstream:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def all(self) -> tuple[Upstream, ...]:
        return tuple(self._by_name.values())

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: ChangeListener) -> None:
        self._listeners.discard(listener)

    async def run(self) -> None:
        """Run every upstream until cancelled (which stops every child)."""
        async with asyncio.TaskGroup() as tasks:
            for upstream in self._by_name.values():
                tasks.create_task(upstream.run())

    def _changed(self, server: str, kind: str) -> None:
        for listener in list(self._listeners):
            listener(server, kind)
