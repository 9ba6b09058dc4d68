"""What the hub is configured to serve: servers, groups, and the scopes they make.

The catalog is the hub's reading of the API objects, reduced to the facts the
rest of the hub acts on, as frozen values.  Standalone, it comes from a folder
of the same YAML a cluster would take, loaded by :mod:`mcphub_api.loader`, so a
file that starts a hub is a file ``kubectl apply`` accepts; in a cluster it
comes from a watch of the namespace.  Either way nothing downstream of this
module touches a pydantic model except the tool policy and filters, which
:mod:`mcphub_api.toolpolicy` interprets for the operator and the hub alike.

A **scope** is what one MCP endpoint shows: ``/mcp`` shows every server,
``/mcp/{group}`` a group's members (each narrowed by its filter), and
``/mcp/{server}`` one server alone.  A group is also served at
``/mcp/{namespace}/{group}``, the path the operator publishes in
``MCPGroup.status.endpoint``: it names the group unambiguously however many
namespaces a hub serves, and it cannot collide with a server's or a group's
short path, since names are DNS labels, without "/".  Names in the first two are prefixed with
the server's name, because two servers may well both have a ``search`` tool;
the lone-server scope keeps the server's own names, so that it is
indistinguishable from the server itself (the conformance suite runs against
it).  A prefixed name depends only on the server and the tool, never on what
else is in the scope: a client that remembered ``time__get_current_time``
finds it again after a group gains a member.

Standalone runs in-cluster servers as local child processes, so only a
server with a ``spec.container.command`` can run (the image is ignored: the
command must be installed on the machine).  A ``spec.remote`` server is reached
at its URL with its headers.  Values from Secrets come from the Secrets the
catalog holds -- the namespace's in a cluster, the folder's standalone -- and a
server whose header names a Secret or key that does not exist is not run, with
the reason, rather than run without its credentials: the operator reports the
same problem on the MCPServer, and an upstream answering 401 to every call
would be harder to diagnose.  ConfigMaps are not read standalone; an
environment variable from one is left out with a warning.  What cannot run is
listed in :attr:`Catalog.unsupported` with the reason, and stays in the scopes
it would be in as an absent member (:attr:`Scope.absent`; its own
``/mcp/{server}`` included): a server the hub does not reach is a known one
that is down, and a caller who may see it is told so and why, never that its
tool does not exist (see :mod:`hub_proxy.unavailable`).  In a cluster that is
also every server the operator has not verified (:func:`in_cluster`).

The catalog also carries what access control needs: the AccessPolicies in
force, the Secrets holding API keys' hashes (labelled ``mcphub.dev/api-key``),
and which scopes are groups, so that a policy naming a group covers exactly
what that group shows.  And it keeps the MCPServer and MCPGroup objects it was
read from (:attr:`Catalog.definitions`; in a cluster with the status the
operator verified), for the dashboard to show as they are.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from mcphub_api import AccessPolicy, MCPGroup, MCPServer
from mcphub_api.loader import load_folder
from mcphub_api.mcpgroup import ToolFilter
from mcphub_api.mcpserver import Remote, ToolPolicy
from mcphub_api.meta import SecretKeySelector
from mcphub_api.secret import Secret

# Server names are DNS labels, which cannot contain "_": splitting a prefixed
# name at the first "__" is therefore never ambiguous.
SEPARATOR: Final = "__"
API_KEY_LABEL: Final = "mcphub.dev/api-key"
DESCRIPTION_ANNOTATION: Final = "mcphub.dev/description"


@dataclass(frozen=True)
class Command:
    """A stdio server the hub runs as its own child."""

    argv: tuple[str, ...]
    env: Mapping[str, str]


@dataclass(frozen=True)
class RemoteTarget:
    """A server the hub reaches over HTTP."""

    url: str
    transport: Literal["streamable-http", "sse"]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class ServerEntry:
    """One MCPServer the hub serves, and how it reaches it."""

    name: str
    launch: Command | RemoteTarget
    policy: ToolPolicy | None
    # ``sessionMode: perClient``: every downstream session gets an upstream of its own.
    per_client: bool = False
    # What the server is for, from its ``mcphub.dev/description`` annotation: tool search reads it.
    description: str = ""


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
    # Servers the scope would serve that the hub does not reach now (why is in
    # Catalog.unsupported): a call of theirs is told which server is down.
    absent: tuple[Member, ...] = ()

    @property
    def servers(self) -> frozenset[str]:
        """The members the hub reaches: every one has an upstream."""
        return frozenset(member.server for member in self.members)

    @property
    def known(self) -> frozenset[str]:
        """The members, reached or not: whoever sees one of them knows the scope."""
        return self.servers | {member.server for member in self.absent}


@dataclass(frozen=True)
class SmartSettings:
    """A group's ``spec.smartRouting``, when enabled: /mcp/$smart/{group} serves it."""

    default_limit: int = 10
    max_limit: int = 50
    min_score: float = 0.0


@dataclass(frozen=True)
class Catalog:
    """The servers to run, the scopes to serve, and what had to be left out and why."""

    servers: Mapping[str, ServerEntry]
    scopes: Mapping[str, Scope]
    unsupported: Mapping[str, str]
    warnings: tuple[str, ...]
    policies: tuple[AccessPolicy, ...] = ()
    # Secrets labelled as holding an API key's hash.
    api_keys: tuple[Secret, ...] = ()
    # The keys of :attr:`scopes` that are groups (a group may shadow a server's scope).
    groups: frozenset[str] = frozenset()
    # The objects read, by kind and name, as written (unsupported servers included).
    definitions: Mapping[tuple[str, str], MCPServer | MCPGroup] = dataclasses.field(
        default_factory=dict
    )
    # Groups with smart routing enabled, with its settings.
    smart: Mapping[str, SmartSettings] = dataclasses.field(default_factory=dict)

    # Cached: every session compares it when the catalog is replaced, and the
    # catalog, frozen, never changes under the cache.
    @functools.cached_property
    def group_members(self) -> Mapping[str, Mapping[str, ToolFilter | None]]:
        """Each group's members with their filters, as access policies see groups.

        Absent members too: a grant of the group lets its grantee know of a
        member while it is down, as a grant of the server does, so that the
        server does not flicker between known and unknown with its health.
        """
        return {
            name: {
                member.server: member.filter
                for member in (*self.scopes[name].members, *self.scopes[name].absent)
            }
            for name in self.groups
        }

    # Cached: the streamable endpoint asks on every 2026-07-28 request.
    @functools.cached_property
    def per_client_members(self) -> Mapping[str, tuple[str, ...]]:
        """Each scope's ``sessionMode: perClient`` servers, by name; scopes with none left out."""
        found = {
            key: tuple(sorted(name for name in scope.servers if self.servers[name].per_client))
            for key, scope in self.scopes.items()
        }
        return {key: names for key, names in found.items() if names}


def load_catalog(folder: Path) -> Catalog:
    """Read and validate ``folder``; raises :class:`mcphub_api.errors.LoadError`."""
    loaded = load_folder(folder)
    return build_catalog(
        servers=[r for r in loaded if isinstance(r, MCPServer)],
        groups=[r for r in loaded if isinstance(r, MCPGroup)],
        policies=[r for r in loaded if isinstance(r, AccessPolicy)],
        secrets=[r for r in loaded if isinstance(r, Secret)],
    )


def build_catalog(
    servers: Sequence[MCPServer],
    groups: Sequence[MCPGroup],
    policies: Sequence[AccessPolicy] = (),
    secrets: Sequence[Secret] = (),
    *,
    held: Mapping[str, str] | None = None,
) -> Catalog:
    """The catalog of these objects; ``held``: servers not to reach (yet), with why."""
    by_name = {secret.metadata.name: secret for secret in secrets}
    entries: dict[str, ServerEntry] = {}
    unsupported: dict[str, str] = {}
    warnings: list[str] = []
    for server in sorted(servers, key=lambda s: s.metadata.name):
        name = server.metadata.name
        entry = (held or {}).get(name) or _runnable(server, by_name, warnings)
        if isinstance(entry, str):
            unsupported[name] = entry
        else:
            entries[name] = entry
    scopes: dict[str, Scope] = {
        "": Scope(
            "/mcp",
            tuple(Member(name) for name in entries),
            prefixed=True,
            absent=tuple(Member(name) for name in unsupported),
        )
    }
    for name in entries:
        scopes[name] = Scope(f"/mcp/{name}", (Member(name),), prefixed=False)
    for name in unsupported:
        scopes[name] = Scope(f"/mcp/{name}", (), prefixed=False, absent=(Member(name),))
    labels = {s.metadata.name: dict(s.metadata.labels or {}) for s in servers}
    for group in sorted(groups, key=lambda g: g.metadata.name):
        name = group.metadata.name
        if name in scopes:
            warnings.append(
                f"/mcp/{name} serves MCPGroup {name}, not the MCPServer of the same name"
            )
        scope = scopes[name] = _group_scope(group, entries, unsupported, labels, warnings)
        qualified = f"{group.metadata.namespace}/{name}"
        scopes[qualified] = dataclasses.replace(scope, path=f"/mcp/{qualified}")
    return Catalog(
        entries,
        scopes,
        unsupported,
        tuple(warnings),
        policies=tuple(sorted(policies, key=lambda p: p.metadata.name)),
        api_keys=tuple(s for s in secrets if API_KEY_LABEL in s.metadata.labels),
        groups=frozenset(group.metadata.name for group in groups),
        definitions=_definitions(servers, groups),
        smart={
            group.metadata.name: SmartSettings(
                routing.default_limit, routing.max_limit, routing.min_score
            )
            for group in groups
            if (routing := group.spec.smart_routing) is not None and routing.enabled
        },
    )


def _definitions(
    servers: Sequence[MCPServer], groups: Sequence[MCPGroup]
) -> dict[tuple[str, str], MCPServer | MCPGroup]:
    found: dict[tuple[str, str], MCPServer | MCPGroup] = {}
    for server in servers:
        found["MCPServer", server.metadata.name] = server
    for group in groups:
        found["MCPGroup", group.metadata.name] = group
    return found


def in_cluster(
    servers: Sequence[MCPServer],
    groups: Sequence[MCPGroup],
    policies: Sequence[AccessPolicy] = (),
    secrets: Sequence[Secret] = (),
) -> Catalog:
    """The catalog of a namespace: each server reached where, and once, the operator verified it.

    In a cluster the hub runs nothing itself: a container server (a stdio one
    behind its bridge, which speaks streamable HTTP) is reached at the Service
    URL in ``status.url``, a remote server at its own.

    The hub reaches a server only while its status has a ``url`` and
    ``Verified=True``: the operator writes both in one status, so that is the
    URL it just held an MCP handshake and ``tools/list`` with.  Anything else
    is a URL nobody checked -- pods still starting, a remote that answers
    nothing, a Secret missing -- and dialling it anyway cost every replica a
    reconnect loop and a log line per attempt.  A server that becomes verified
    is reached with the next snapshot; one that loses it is let go.  A verdict
    of an older generation still counts until the operator's next pass
    replaces it (a pass writes the new verdict within seconds): dropping the
    server at every spec edit would cancel its calls and take its tools from
    every client for that long.  A server not reached stays known: it is in
    :attr:`Catalog.unsupported` with the operator's own words (its ``Ready``
    condition, the most specific) and an absent member of its scopes, so that
    a caller who may see it is told which server is down and why.
    """
    # Each server as the hub reads it: at its status.url once verified, else as it is.
    read: list[MCPServer] = []
    held: dict[str, str] = {}
    for server in servers:
        url = server.status.url if server.status else None
        if not url:
            held[server.metadata.name] = "waiting for the operator to reach it"
        elif (why := _unverified(server)) is not None:
            held[server.metadata.name] = why
        read.append(_at(server, url) if url and server.metadata.name not in held else server)
    catalog = build_catalog(read, groups, policies, secrets, held=held)
    # As the operator sees them: container and status, not the remotes made of them.
    return dataclasses.replace(catalog, definitions=_definitions(servers, groups))


def _at(server: MCPServer, url: str) -> MCPServer:
    """The server as a remote at ``url``, its ``status.url``."""
    remote = Remote(url=url, headers=server.spec.remote.headers if server.spec.remote else None)
    transport = "sse" if server.spec.transport == "sse" else "streamable-http"
    spec = server.spec.model_copy(
        update={"container": None, "remote": remote, "transport": transport}
    )
    return server.model_copy(update={"spec": spec})


def _unverified(server: MCPServer) -> str | None:
    """Why the operator's conditions do not let the hub reach ``server``; None if they do."""
    conditions = {c.type: c for c in (server.status.conditions if server.status else None) or ()}
    verified = conditions.get("Verified")
    if verified is not None and verified.status == "True":
        return None
    ready = conditions.get("Ready") or verified
    if ready is None:
        return "waiting for the operator to verify it"
    detail = f": {ready.message}" if ready.message else ""
    return f"not verified by the operator ({ready.reason}){detail}"


def _runnable(
    server: MCPServer, secrets: Mapping[str, Secret], warnings: list[str]
) -> ServerEntry | str:
    """The server as the hub can reach it, or why it cannot."""
    name = server.metadata.name
    try:
        launch = (
            _remote(server, secrets) if server.spec.remote else _command(server, secrets, warnings)
        )
    except _MissingSecretError as missing:
        return str(missing)
    if isinstance(launch, str):
        return launch
    return ServerEntry(
        name=name,
        launch=launch,
        policy=server.spec.tools,
        per_client=server.spec.session_mode == "perClient",
        description=(server.metadata.annotations or {}).get(DESCRIPTION_ANNOTATION, ""),
    )


class _MissingSecretError(Exception):
    """A server needs a Secret key the catalog does not hold."""


def _secret_value(secrets: Mapping[str, Secret], ref: SecretKeySelector, needed_for: str) -> str:
    secret = secrets.get(ref.name)
    if secret is None:
        raise _MissingSecretError(f"{needed_for} needs Secret {ref.name}, which does not exist")
    value = secret.value(ref.key)
    if value is None:
        raise _MissingSecretError(
            f"{needed_for} needs key {ref.key} of Secret {ref.name}, which has no such "
            "UTF-8 text key"
        )
    return value


def _remote(server: MCPServer, secrets: Mapping[str, Secret]) -> RemoteTarget | str:
    remote = server.spec.remote
    assert remote is not None  # noqa: S101 - the caller checked
    transport = server.spec.transport
    if transport == "stdio":
        # Admission refuses this; a folder is validated the same way, but say why anyway.
        return "a remote server must use streamable-http or sse"
    headers: dict[str, str] = {}
    for header in remote.headers or []:
        if header.value_from is None:
            # Admission guarantees one of value and valueFrom.
            headers[header.name] = header.value or ""
        else:
            ref = header.value_from.secret_key_ref
            headers[header.name] = _secret_value(secrets, ref, f"header {header.name}")
    return RemoteTarget(remote.url, transport, headers)


def _command(
    server: MCPServer, secrets: Mapping[str, Secret], warnings: list[str]
) -> Command | str:
    name = server.metadata.name
    container = server.spec.container
    if container is None or not container.command:
        return "the standalone hub runs only servers with spec.container.command or spec.remote"
    if server.spec.transport != "stdio":
        warnings.append(
            f"MCPServer {name}: transport {server.spec.transport} ignored; "
            "standalone runs spec.container.command as a stdio server"
        )
    env: dict[str, str] = {}
    from_config_maps: list[str] = []
    for env_from in container.env_from or []:
        if env_from.secret_ref is None:
            from_config_maps.append("envFrom")
            continue
        secret = secrets.get(env_from.secret_ref.name)
        if secret is None:
            raise _MissingSecretError(
                f"envFrom needs Secret {env_from.secret_ref.name}, which does not exist"
            )
        env.update(
            (f"{env_from.prefix or ''}{key}", raw.decode(errors="replace"))
            for key, raw in secret.values().items()
        )
    for variable in container.env or []:
        source = variable.value_from
        if source is None:
            env[variable.name] = variable.value or ""
        elif source.secret_key_ref is not None:
            env[variable.name] = _secret_value(
                secrets, source.secret_key_ref, f"env {variable.name}"
            )
        else:
            from_config_maps.append(variable.name)
    if from_config_maps:
        warnings.append(
            f"MCPServer {name}: ConfigMaps are not read standalone; "
            f"not set: {', '.join(from_config_maps)}"
        )
    return Command(argv=(*container.command, *(container.args or [])), env=env)


def _group_scope(
    group: MCPGroup,
    entries: Mapping[str, ServerEntry],
    unsupported: Mapping[str, str],
    labels: Mapping[str, Mapping[str, str]],
    warnings: list[str],
) -> Scope:
    """Named members (with their filters) first, then the ones the selector adds.

    Members the hub does not reach are the scope's absent ones, in the same order.
    """
    name = group.metadata.name
    members: dict[str, Member] = {}
    for named in group.spec.servers or []:
        if named.name in entries or named.name in unsupported:
            members[named.name] = Member(named.name, named.tools)
        else:
            warnings.append(f"MCPGroup {name}: member {named.name} does not exist")
    if group.spec.selector is not None:
        for server_name in (*entries, *unsupported):
            if server_name not in members and group.spec.selector.matches(labels[server_name]):
                members[server_name] = Member(server_name)
    return Scope(
        f"/mcp/{name}",
        tuple(member for member in members.values() if member.server in entries),
        prefixed=True,
        absent=tuple(member for member in members.values() if member.server in unsupported),
    )
