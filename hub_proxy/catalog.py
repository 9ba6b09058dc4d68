"""What the hub is configured to serve: servers, groups, and the scopes they make.

The catalog is the hub's reading of the API objects, reduced to the facts the
rest of the hub acts on, as frozen values.  Standalone, it comes from a folder
of the same YAML a cluster would take, loaded by :mod:`mcphub_api.loader`, so a
file that starts a hub is a file ``kubectl apply`` accepts; in cluster it will
come from a watch.  Either way nothing downstream of this module touches a
pydantic model except the tool policy and filters, which
:mod:`mcphub_api.toolpolicy` interprets for the operator and the hub alike.

A **scope** is what one MCP endpoint shows: ``/mcp`` shows every server,
``/mcp/{group}`` a group's members (each narrowed by its filter), and
``/mcp/{server}`` one server alone.  Names in the first two are prefixed with
the server's name, because two servers may well both have a ``search`` tool;
the lone-server scope keeps the server's own names, so that it is
indistinguishable from the server itself (the conformance suite runs against
it).  A prefixed name depends only on the server and the tool, never on what
else is in the scope: a client that remembered ``time__get_current_time``
finds it again after a group gains a member.

Standalone runs in-cluster servers as local child processes, so only a
server with a ``spec.container.command`` can run (the image is ignored: the
command must be installed on the machine).  A ``spec.remote`` server is reached
at its URL with its literal headers; a header from a Secret cannot be read
standalone, so it is left out with a warning rather than the server refused:
many servers answer ``initialize`` and ``tools/list`` without credentials.  What
cannot run is listed in :attr:`Catalog.unsupported` with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from mcphub_api import MCPGroup, MCPServer
from mcphub_api.loader import load_folder
from mcphub_api.mcpgroup import ToolFilter
from mcphub_api.mcpserver import Remote, ToolPolicy

# Server names are DNS labels, which cannot contain "_": splitting a prefixed
# name at the first "__" is therefore never ambiguous.
SEPARATOR: Final = "__"


@dataclass(frozen=True)
class Command:
    """A stdio server the hub runs as its own child."""

    argv: tuple[str, ...]
    # Literal values only: standalone has no Secrets or ConfigMaps to read.
    env: Mapping[str, str]


@dataclass(frozen=True)
class RemoteTarget:
    """A server the hub reaches over HTTP."""

    url: str
    transport: Literal["streamable-http", "sse"]
    # Literal values only, as for :attr:`Command.env`.
    headers: Mapping[str, str]


@dataclass(frozen=True)
class ServerEntry:
    """One MCPServer the hub serves, and how it reaches it."""

    name: str
    launch: Command | RemoteTarget
    policy: ToolPolicy | None
    # ``sessionMode: perClient``: every downstream session gets an upstream of its own.
    per_client: bool = False


@dataclass(frozen=True)
class Member:
    """A server as part of a scope, with the group's filter on its published tools."""

    server: str
    filter: ToolFilter | None = None


@dataclass(frozen=True)
class Scope:
    """What one endpoint serves."""

    path: str
    members: tuple[Member, ...]
    # False only for a lone server's endpoint: its tools keep their own names.
    prefixed: bool

    @property
    def servers(self) -> frozenset[str]:
        return frozenset(member.server for member in self.members)


@dataclass(frozen=True)
class Catalog:
    """The servers to run, the scopes to serve, and what had to be left out and why."""

    servers: Mapping[str, ServerEntry]
    scopes: Mapping[str, Scope]
    unsupported: Mapping[str, str]
    warnings: tuple[str, ...]


def load_catalog(folder: Path) -> Catalog:
    """Read and validate ``folder``; raises :class:`mcphub_api.errors.LoadError`."""
    resources = load_folder(folder)
    servers = [r for r in resources if isinstance(r, MCPServer)]
    groups = [r for r in resources if isinstance(r, MCPGroup)]
    return build_catalog(servers, groups)


def build_catalog(servers: list[MCPServer], groups: list[MCPGroup]) -> Catalog:
    entries: dict[str, ServerEntry] = {}
    unsupported: dict[str, str] = {}
    warnings: list[str] = []
    for server in sorted(servers, key=lambda s: s.metadata.name):
        entry = _runnable(server, warnings)
        if isinstance(entry, str):
            unsupported[server.metadata.name] = entry
        else:
            entries[entry.name] = entry
    scopes: dict[str, Scope] = {
        "": Scope("/mcp", tuple(Member(name) for name in entries), prefixed=True)
    }
    for name in entries:
        scopes[name] = Scope(f"/mcp/{name}", (Member(name),), prefixed=False)
    labels = {s.metadata.name: dict(s.metadata.labels or {}) for s in servers}
    for group in sorted(groups, key=lambda g: g.metadata.name):
        name = group.metadata.name
        if name in scopes:
            warnings.append(
                f"/mcp/{name} serves MCPGroup {name}, not the MCPServer of the same name"
            )
        scopes[name] = _group_scope(group, entries, labels, warnings)
    return Catalog(entries, scopes, unsupported, tuple(warnings))


def in_cluster(servers: Sequence[MCPServer], groups: Sequence[MCPGroup]) -> Catalog:
    """The catalog of a namespace, each server reached where the operator verified it.

    In a cluster the hub runs nothing itself: a container server (a stdio one
    behind its bridge, which speaks streamable HTTP) is reached at the Service
    URL in ``status.url``, a remote server at its own.  A server the operator
    has not given a URL yet is listed as unsupported until it has one.
    """
    reachable: list[MCPServer] = []
    waiting: dict[str, str] = {}
    for server in servers:
        url = server.status.url if server.status else None
        if not url:
            waiting[server.metadata.name] = "no status.url yet: the operator has not reached it"
            continue
        remote = Remote(url=url, headers=server.spec.remote.headers if server.spec.remote else None)
        transport = "sse" if server.spec.transport == "sse" else "streamable-http"
        spec = server.spec.model_copy(
            update={"container": None, "remote": remote, "transport": transport}
        )
        reachable.append(server.model_copy(update={"spec": spec}))
    catalog = build_catalog(reachable, list(groups))
    return dataclasses.replace(catalog, unsupported={**catalog.unsupported, **waiting})


def _runnable(server: MCPServer, warnings: list[str]) -> ServerEntry | str:
    """The server as the hub can reach it, or why it cannot."""
    name = server.metadata.name
    launch = _remote(server, warnings) if server.spec.remote else _command(server, warnings)
    if isinstance(launch, str):
        return launch
    return ServerEntry(
        name=name,
        launch=launch,
        policy=server.spec.tools,
        per_client=server.spec.session_mode == "perClient",
    )


def _remote(server: MCPServer, warnings: list[str]) -> RemoteTarget | str:
    remote = server.spec.remote
    assert remote is not None  # noqa: S101 - the caller checked
    transport = server.spec.transport
    if transport == "stdio":
        # Admission refuses this; a folder is validated the same way, but say why anyway.
        return "a remote server must use streamable-http or sse"
    skipped = [h.name for h in remote.headers or [] if h.value is None]
    if skipped:
        warnings.append(
            f"MCPServer {server.metadata.name}: headers from Secrets are not available "
            f"standalone; not sent: {', '.join(skipped)}"
        )
    headers = {h.name: h.value for h in remote.headers or [] if h.value is not None}
    return RemoteTarget(remote.url, transport, headers)


def _command(server: MCPServer, warnings: list[str]) -> Command | str:
    name = server.metadata.name
    container = server.spec.container
    if container is None or not container.command:
        return "the standalone hub runs only servers with spec.container.command or spec.remote"
    if server.spec.transport != "stdio":
        warnings.append(
            f"MCPServer {name}: transport {server.spec.transport} ignored; "
            "standalone runs spec.container.command as a stdio server"
        )
    skipped_env = [e.name for e in container.env or [] if e.value is None]
    if skipped_env or container.env_from:
        warnings.append(
            f"MCPServer {name}: env from Secrets or ConfigMaps is not available "
            f"standalone; not set: {', '.join(skipped_env) or 'envFrom'}"
        )
    return Command(
        argv=(*container.command, *(container.args or [])),
        env={e.name: e.value for e in container.env or [] if e.value is not None},
    )


def _group_scope(
    group: MCPGroup,
    entries: Mapping[str, ServerEntry],
    labels: Mapping[str, Mapping[str, str]],
    warnings: list[str],
) -> Scope:
    """Named members (with their filters) first, then the ones the selector adds."""
    name = group.metadata.name
    members: dict[str, Member] = {}
    for named in group.spec.servers or []:
        if named.name in entries:
            members[named.name] = Member(named.name, named.tools)
        else:
            warnings.append(f"MCPGroup {name}: member {named.name} is not running")
    if group.spec.selector is not None:
        for server_name in entries:
            if server_name not in members and group.spec.selector.matches(labels[server_name]):
                members[server_name] = Member(server_name)
    return Scope(f"/mcp/{name}", tuple(members.values()), prefixed=True)
