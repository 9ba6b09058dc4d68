"""One reconcile pass of an ``MCPServer``: converge the workload, then verify over MCP.

The pass is level-based: it reads the spec, applies the whole desired
Deployment and Service (or removes them when the server became remote),
looks at what the cluster reports, probes the server over MCP and returns
the complete status it should have.  Running it twice in a row changes
nothing the second time, which is what makes restarts, duplicate events and
timers safe.

Conditions (all kstatus-friendly):

* ``Available`` -- something is there to talk to: a ready pod, or a remote URL.
* ``Verified``  -- an MCP handshake and ``tools/list`` succeeded just now.
* ``Degraded``  -- it was available but does not answer, or a reference is broken.
* ``Ready``     -- Available and Verified: what ``kubectl wait`` and GitOps tools watch.
* ``Reconciling`` / ``Stalled`` -- kstatus' view (see ``conditions``): Reconciling
  while pods start; Stalled when a Secret is missing, the Deployment exceeded its
  progress deadline, or the server does not answer MCP (re-verified on a timer,
  so it clears by itself) or is scaled to zero (nothing will serve it until the
  spec changes); neither once Ready.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcphub_api import MCPServer
from mcphub_api.mcpserver import Container, Remote
from mcphub_operator.core import workloads
from mcphub_operator.core.conditions import (
    Observed,
    Progress,
    Transition,
    condition_of,
    progress,
    settle,
)
from mcphub_operator.core.verification import Inventory, VerificationError

Manifest = dict[str, Any]
# The Deployment controller's reason when pods did not come up within the deadline.
STUCK_ROLLOUT = "ProgressDeadlineExceeded"


class Cluster(Protocol):
    """What a reconcile pass may do to the cluster (``mcphub_runtime.kube`` implements it)."""

    async def apply(self, manifest: Manifest) -> Manifest: ...

    async def get(self, path: str) -> Manifest | None: ...

    async def delete(self, path: str) -> None: ...


class Verifier(Protocol):
    def __call__(
        self,
        url: str,
        *,
        transport: str,
        headers: Mapping[str, str],
        policy: Any,
        time_limit: float,
    ) -> Awaitable[Inventory]: ...


@dataclass(frozen=True)
class Settings:
    bridge_image: str
    verify_timeout: float


@dataclass(frozen=True)
class Outcome:
    """The status a pass computed, and the condition changes worth an Event."""

    status: Manifest
    transitions: list[Transition] = field(default_factory=list)


class MissingReferenceError(Exception):
    """A Secret or key that the spec names is not there."""


def _paths(server: MCPServer) -> tuple[str, str]:
    namespace, name = server.metadata.namespace, server.metadata.name
    return (
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        f"/api/v1/namespaces/{namespace}/services/{name}",
    )


def _secret_refs(server: MCPServer) -> Iterator[tuple[str, str, str]]:
    """(field, secret name, key or '') for every Secret the spec references."""
    remote, container = server.spec.remote, server.spec.container
    for index, header in enumerate(remote.headers or [] if remote else []):
        if header.value_from:
            ref = header.value_from.secret_key_ref
            yield f"spec.remote.headers[{index}]", ref.name, ref.key
    for index, variable in enumerate(container.env or [] if container else []):
        if variable.value_from and variable.value_from.secret_key_ref:
            ref = variable.value_from.secret_key_ref
            yield f"spec.container.env[{index}]", ref.name, ref.key
    for index, source in enumerate(container.env_from or [] if container else []):
        if source.secret_ref:
            yield f"spec.container.envFrom[{index}]", source.secret_ref.name, ""


async def _secret_value(cluster: Cluster, namespace: str, name: str, key: str, where: str) -> str:
    secret = await cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    if secret is None:
        raise MissingReferenceError(
            f"Secret {name!r} named by {where} does not exist in {namespace}"
        )
    if not key:
        return ""
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        raise MissingReferenceError(f"Secret {name!r} named by {where} has no key {key!r}")
    return base64.b64decode(encoded).decode()


async def _check_secrets(cluster: Cluster, server: MCPServer) -> None:
    for where, name, key in _secret_refs(server):
        await _secret_value(cluster, server.metadata.namespace, name, key, where)


async def _remote_headers(cluster: Cluster, server: MCPServer, remote: Remote) -> dict[str, str]:
    headers: dict[str, str] = {}
    for index, header in enumerate(remote.headers or []):
        if header.value is not None:
            headers[header.name] = header.value
        elif header.value_from:
            ref = header.value_from.secret_key_ref
            where = f"spec.remote.headers[{index}]"
            namespace = server.metadata.namespace
            headers[header.name] = await _secret_value(cluster, namespace, ref.name, ref.key, where)
    return headers


def _deployment_availability(deployment: Manifest | None, container: Container) -> Observed:
    if container.replicas == 0:
        return Observed("Available", "False", "ScaledToZero", "spec.container.replicas is 0")
    status = (deployment or {}).get("status", {})
    ready = status.get("availableReplicas", 0)
    if ready >= 1:
        return Observed(
            "Available", "True", "PodsReady", f"{ready}/{container.replicas} pods ready"
        )
    progressing = condition_of(status.get("conditions"), "Progressing")
    if progressing.get("reason") == STUCK_ROLLOUT:
        message = progressing.get("message") or "the Deployment exceeded its progress deadline"
        return Observed("Available", "False", STUCK_ROLLOUT, message)
    return Observed(
        "Available", "False", "PodsNotReady", f"0/{container.replicas} pods ready; waiting for them"
    )


async def _converge_workload(
    cluster: Cluster, server: MCPServer, settings: Settings
) -> tuple[str | None, Observed]:
    deployment_path, service_path = _paths(server)
    container = server.spec.container
    if container is None:
        # A server that moved from a container to a remote URL keeps no pods.
        await cluster.delete(deployment_path)
        await cluster.delete(service_path)
        remote = server.spec.remote
        url = remote.url if remote else None
        return url, Observed("Available", "True", "Remote", "the server runs outside the cluster")
    applied = await cluster.apply(workloads.deployment(server, settings.bridge_image))
    await cluster.apply(workloads.service(server))
    return workloads.service_url(server, container), _deployment_availability(applied, container)


def _verified(inventory: Inventory) -> Observed:
    info = inventory.server_info
    return Observed(
        "Verified",
        "True",
        "HandshakeSucceeded",
        f"{info.name} {info.version} speaks MCP {info.protocol_version}; "
        f"{len(inventory.tools)} tools",
    )


async def reconcile(
    server: MCPServer,
    previous_status: Manifest | None,
    *,
    cluster: Cluster,
    verifier: Verifier,
    settings: Settings,
    now: Callable[[], datetime.datetime],
) -> Outcome:
    """One level-based pass over ``server``; returns the status to write."""
    status: Manifest = {
        key: value
        for key, value in (previous_status or {}).items()
        if key in {"serverInfo", "tools", "toolCount"}
    }
    observed: list[Observed] = []
    try:
        await _check_secrets(cluster, server)
    except MissingReferenceError as exc:
        broken: str | None = str(exc)
    else:
        broken = None
    url, available = await _converge_workload(cluster, server, settings)
    status["url"] = url
    observed.append(available)
    if broken:
        observed += [
            Observed("Verified", "Unknown", "SecretNotFound", broken),
            Observed("Degraded", "True", "SecretNotFound", broken),
            Observed("Ready", "False", "SecretNotFound", broken),
            *progress("Failed", "SecretNotFound", broken),
        ]
    elif available.status != "True" or url is None:
        observed += [
            Observed(
                "Verified", "Unknown", "NotAvailable", "waiting for the server to be available"
            ),
            Observed("Degraded", "False", "NotAvailable", available.message),
            Observed("Ready", "False", available.reason, available.message),
            *progress(_unavailable_progress(available), available.reason, available.message),
        ]
    else:
        observed += await _verify(
            server, url, status=status, cluster=cluster, verifier=verifier, settings=settings
        )
    common, transitions = settle(
        previous_status, observed, generation=server.metadata.generation, now=now()
    )
    return Outcome(status={**status, **common}, transitions=transitions)


def _unavailable_progress(available: Observed) -> Progress:
    # Pods on their way up get there by themselves; nothing else does.
    return "InProgress" if available.reason == "PodsNotReady" else "Failed"


async def _verify(
    server: MCPServer,
    url: str,
    *,
    status: Manifest,
    cluster: Cluster,
    verifier: Verifier,
    settings: Settings,
) -> list[Observed]:
    remote = server.spec.remote
    headers = await _remote_headers(cluster, server, remote) if remote else {}
    try:
        inventory = await verifier(
            url,
            transport="streamable-http"
            if server.spec.transport == "stdio"
            else server.spec.transport,
            headers=headers,
            policy=server.spec.tools,
            time_limit=settings.verify_timeout,
        )
    except VerificationError as exc:
        return [
            Observed("Verified", "False", exc.reason, str(exc)),
            Observed("Degraded", "True", exc.reason, str(exc)),
            Observed("Ready", "False", exc.reason, str(exc)),
            *progress("Failed", exc.reason, str(exc)),
        ]
    status["serverInfo"] = inventory.server_info.to_wire()
    status["tools"] = [tool.to_wire() for tool in inventory.tools]
    status["toolCount"] = len(inventory.tools)
    verified = _verified(inventory)
    return [
        verified,
        Observed("Degraded", "False", "HandshakeSucceeded", "the server answers over MCP"),
        Observed("Ready", "True", "Verified", verified.message),
        *progress("Current", "Verified", verified.message),
    ]
