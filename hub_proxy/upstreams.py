"""The servers the hub runs, and what each of them offers right now.

Every configured stdio server is one child process behind one
:class:`~hub_proxy.upstream.multiplexer.Multiplexer` -- the same code the
operator's bridge sidecar runs -- so the hub inherits its supervision for
free: restarts with back-off, a child that dies with the hub (its own process
group and ``PR_SET_PDEATHSIG``), id and progress-token remapping, answers for
whatever a dead child owed, and each message of the child's delivered to the
one session it belongs to (see :mod:`hub_proxy.upstream.router`).  The hub
never opens a new upstream session per call: every downstream session talks
to the upstream through a multiplexer session of its own, and all of them
share the one child.

What the hub shows clients comes from a cache, not from a round trip per
``tools/list``: each upstream is listed once it is up (and not before: a
crash-looping server fails requests at once), through a session the hub
itself owns, and listed again when it says ``notifications/*/list_changed``
(the multiplexer also says so after a restart).  The server's tool policy is
applied here, once per listing, with :func:`mcphub_api.toolpolicy.publish`,
the function the operator uses for ``status.tools``: what kubectl shows is what
a client gets.  After a listing that changed something, the hub's listeners
are told which server and which kind, so that the connected sessions that can
see that server get their own ``list_changed``.

``sessionMode: perClient`` keeps the one multiplexer for the hub's own
listing, and gives every downstream session that uses the server a multiplexer
of its own -- its own child, or its own upstream HTTP session -- started on
first use and stopped when the session closes or the server is removed.  What
the server offers is still listed once: per-client state is for calls.

A remote server is the same multiplexer over a
:class:`~hub_proxy.upstream.remote.RemoteChannel`, whose lifetimes are upstream HTTP
sessions; its downstream sessions also retry, once, a request lost to an
expired upstream session (see :mod:`hub_proxy.upstream.remote`).

Environment values are passed by running the command through ``env``: the
multiplexer's :class:`~hub_proxy.upstream.stdio.SpawnChannel` takes an argv
only, and ``env NAME=VALUE command`` execs the command with them added to the
hub's own environment, so the child's pid is still the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from hub_proxy.canonical import InvalidNameError, check_name
from hub_proxy.catalog import Command, ServerEntry
from hub_proxy.transport import Peer, Session, jsonrpc
from hub_proxy.upstream.base import Channel
from hub_proxy.upstream.multiplexer import Multiplexer
from hub_proxy.upstream.remote import RemoteChannel, retrying_expired
from hub_proxy.upstream.stdio import SpawnChannel
from hub_proxy.upstream.supervisor import Timeouts
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
    # perClient: the children of the downstream sessions, where the server is a child.
    client_pids: tuple[int, ...] = ()


class ListError(Exception):
    """An upstream did not answer a list request."""


def command_line(command: Command) -> list[str]:
    """The argv to spawn, with the literal environment values put in by ``env``."""
    if not command.env:
        return list(command.argv)
    env = shutil.which(_ENV_COMMAND) or "/usr/bin/env"
    return [env, *(f"{name}={value}" for name, value in command.env.items()), *command.argv]


def channel_of(entry: ServerEntry) -> Channel:
    """How the multiplexer reaches the server: a child of the hub's, or a URL."""
    if isinstance(entry.launch, Command):
        return SpawnChannel(command_line(entry.launch))
    return RemoteChannel(entry.launch)


class _HubPeer:
    """The hub's own session with an upstream: it lists, and hears list_changed.

    Being a session of the multiplexer's, it also keeps a shared upstream
    from ever having one only client: what the router gives "the only
    session" is then nobody's, and roots are never asked of a client (see
    :mod:`hub_proxy.upstream.router`).  A request that does reach it (the
    hub's listing was the only request in flight) is answered here: no roots,
    and an error for anything else, since no client is there to ask.
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
        if method == "roots/list":
            return jsonrpc.Result(0, {"roots": []})
        return jsonrpc.Error(0, jsonrpc.INTERNAL_ERROR, f"the hub cannot answer {method} itself")


class Upstream:
    """One running server: its multiplexer and its cached offer."""

    def __init__(self, entry: ServerEntry, on_change: ChangeListener, timeouts: Timeouts) -> None:
        self.entry = entry
        self.multiplexer = Multiplexer(channel_of(entry), timeouts)
        self.offer = Offer()
        self._timeouts = timeouts
        # perClient: each downstream session's own multiplexer, and the task running it.
        self._own: dict[Multiplexer, asyncio.Task[None]] = {}
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
        if not self.entry.per_client:
            return self._wrapped(self.multiplexer.open_session(peer))
        own = Multiplexer(channel_of(self.entry), self._timeouts)
        self._own[own] = asyncio.create_task(own.run())
        return _OwnSession(self._wrapped(own.open_session(peer)), lambda: self._stop_own(own))

    def _wrapped(self, session: Session) -> Session:
        return session if isinstance(self.entry.launch, Command) else retrying_expired(session)

    async def _stop_own(self, own: Multiplexer) -> None:
        task = self._own.pop(own, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def status(self) -> UpstreamStatus:
        status = self.multiplexer.status
        ready = status.ready and self._listed
        reason = status.reason if not status.ready else ("ready" if ready else "listing tools")
        client_pids = tuple(pid for own in self._own if (pid := own.status.pid) is not None)
        tools = len(self.offer.tools)
        return UpstreamStatus(ready, reason, status.pid, status.restarts, tools, client_pids)

    def mark_stale(self, kind: str) -> None:
        self._stale.update(listing for listing in LISTINGS if listing.kind == kind)
        self._wake.set()

    async def run(self) -> None:
        """Supervise the child and keep the cache current until cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.multiplexer.run())
                tasks.create_task(self._keep_listed())
        finally:
            # A removed server takes the per-client children of open sessions along.
            await asyncio.gather(*(self._stop_own(own) for own in list(self._own)))

    async def _keep_listed(self) -> None:
        while True:
            await self._wake.wait()
            # A crash-looping upstream fails requests at once: list it once it is back.
            await self.multiplexer.until_ready()
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
                self.offer = dataclasses.replace(before, prompts=self._callable(items, "prompt"))
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
            if published is None or not self._may_publish(published.name, "tool"):
                continue
            definition = dict(item, name=published.name, description=published.description)
            if published.title is not None:
                definition["title"] = published.title
            tools.append(Tool(published.name, name, definition))
        return tuple(tools)

    def _callable(
        self, listed: tuple[Mapping[str, Any], ...], what: str
    ) -> tuple[Mapping[str, Any], ...]:
        return tuple(
            item
            for item in listed
            if isinstance(name := item.get("name"), str) and self._may_publish(name, what)
        )

    def _may_publish(self, name: str, what: str) -> bool:
        """Whether clients could call ``name``: the hub refuses names it would not publish.

        A name with whitespace, control or invisible characters is refused from
        clients (:func:`~hub_proxy.canonical.check_name`), so listing it would
        offer something no call can reach; it is left out, and said so.
        """
        try:
            check_name(name, what)
        except InvalidNameError as exc:
            logger.warning(
                "upstream item not published: its name cannot be called",
                extra={"server": self.name, "item": ascii(name)[:200], "why": str(exc)},
            )
            return False
        return True

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


class _OwnSession:
    """A downstream session's own upstream: closing the session stops it."""

    def __init__(self, inner: Session, stop: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._stop = stop

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        return await self._inner.handle_request(request)

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        await self._inner.handle_notification(notification)

    async def close(self) -> None:
        await self._inner.close()
        await self._stop()


class Upstreams:
    """All running servers, by name, and who wants to hear of their changes.

    The set changes while the hub runs (:meth:`apply`): a server that is gone
    or whose entry changed is stopped -- cancelling its task stops its child,
    process group and all -- and a new or changed one is started.
    """

    def __init__(self, servers: Mapping[str, ServerEntry], timeouts: Timeouts | None = None):
        self._timeouts = timeouts or Timeouts()
        self._listeners: set[ChangeListener] = set()
        self._by_name: dict[str, Upstream] = {}
        self._running: dict[Upstream, asyncio.Task[None]] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self.apply(servers)

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

    def apply(self, servers: Mapping[str, ServerEntry]) -> None:
        """Run exactly ``servers``: stop the ones gone or changed, start the new ones."""
        for name, upstream in list(self._by_name.items()):
            if servers.get(name) != upstream.entry:
                del self._by_name[name]
                task = self._running.pop(upstream, None)
                if task is not None:
                    task.cancel()
                logger.info("upstream stopped", extra={"server": name})
        for name, entry in servers.items():
            if name not in self._by_name:
                upstream = Upstream(entry, self._changed, self._timeouts)
                self._by_name[name] = upstream
                self._start(upstream)

    async def run(self) -> None:
        """Run every upstream, as :meth:`apply` changes them, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                for upstream in self._by_name.values():
                    self._start(upstream)
                # Until cancelled, which cancels (and so stops) every upstream.
                await asyncio.get_running_loop().create_future()
            finally:
                self._tasks = None

    def _start(self, upstream: Upstream) -> None:
        # Before run(), the upstream starts with the others when run() does.
        if self._tasks is not None:
            self._running[upstream] = self._tasks.create_task(upstream.run())

    def _changed(self, server: str, kind: str) -> None:
        for listener in list(self._listeners):
            listener(server, kind)
