"""The hub's only conversation with the Kubernetes API: its catalog, and TokenReviews.

In a cluster the hub serves what the API says: the MCPServers and MCPGroups
of the namespace it serves, reached at the ``status.url`` the operator
verified, under the namespace's AccessPolicies, with the namespace's Secrets
for remote servers' headers and API keys' hashes.  This module lists and
watches those four kinds (list, then watch from
the list's resourceVersion; a 410 Gone or a dropped stream means list again,
after a back-off) and hands the rest of the hub a complete snapshot after
every burst of changes -- the same shape the standalone folder produces, so
everything downstream is one code path.

Requests go through :mod:`mcphub_runtime.kube`, the client the operator uses
too, with credentials from the kubeconfig or the pod's ServiceAccount, so the
hub authenticates exactly like kubectl and the operator do.  The hub needs
only ``list`` and ``watch`` on the four kinds -- Secrets in its own namespace
only (``manifests/hub``).

Secrets are watched whole, because an MCPServer may name any Secret of the
namespace; the hub keeps their parsed values, as the kubelet would hold them
for a pod that mounts them.

The one other call is :func:`review_token`: a ServiceAccount token presented
to the hub is checked by the API server that issued it (TokenReview), which
knows about revocation and bound-object deletion that no local JWT check can.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp
import pydantic

from mcphub_api import API_VERSION, AccessPolicy, MCPGroup, MCPServer
from mcphub_api.secret import Secret
from mcphub_runtime import retry
from mcphub_runtime.kube import Connection, KubeClient, KubeError, connection, resource_path

# The connection is the shared client's; the hub's callers take it from here.
__all__ = ["ClusterWatch", "Connection", "Snapshot", "TokenReviews", "connection"]

logger = logging.getLogger(__name__)
_Model = TypeVar("_Model", bound=pydantic.BaseModel)

# Changes come in bursts (an apply of a whole folder); one snapshot per burst.
SETTLE_SECONDS: Final = 0.2
WATCH_SECONDS: Final = 240
AGENT: Final = "mcphub-hub"


@dataclass(frozen=True)
class Snapshot:
    """Every valid object of the namespace, as of one moment."""

    servers: tuple[MCPServer, ...]
    groups: tuple[MCPGroup, ...]
    policies: tuple[AccessPolicy, ...]
    secrets: tuple[Secret, ...]


OnSnapshot = Callable[[Snapshot], Awaitable[None]]


# Where each watched kind lives in the API, by plural.
_API_VERSIONS: Final = {
    "mcpservers": API_VERSION,
    "mcpgroups": API_VERSION,
    "accesspolicies": API_VERSION,
    "secrets": "v1",
}


class ClusterWatch:
    """Keeps a namespace's catalog objects in memory and reports snapshots."""

    def __init__(self, connection: Connection, namespace: str, on_snapshot: OnSnapshot) -> None:
        self._connection = connection
        self._namespace = namespace
        self._on_snapshot = on_snapshot
        self._objects: dict[str, dict[str, dict[str, Any]]] = {
            plural: {} for plural in _API_VERSIONS
        }
        self._changed = asyncio.Event()

    async def run(self) -> None:
        client = KubeClient(self._connection, AGENT, concurrency=len(self._objects))
        try:
            async with asyncio.TaskGroup() as tasks:
                for plural in self._objects:
                    tasks.create_task(self._follow(client, plural))
                tasks.create_task(self._publish())
        finally:
            await client.close()

    async def _follow(self, client: KubeClient, plural: str) -> None:
        collection = resource_path(_API_VERSIONS[plural], plural, self._namespace)
        failures = 0
        while True:
            try:
                items, version = await client.list(collection)
                self._objects[plural] = {item["metadata"]["name"]: item for item in items}
                self._changed.set()
                failures = 0
                async for kind, obj in client.watch(collection, version, seconds=WATCH_SECONDS):
                    name = obj["metadata"]["name"]
                    if kind == "DELETED":
                        self._objects[plural].pop(name, None)
                    else:
                        self._objects[plural][name] = obj
                    self._changed.set()
            except (KubeError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # A 410 Gone (the version is too old) or a dropped stream: list again.
                failures += 1
                pause = retry.RECONNECT.delay(failures)
                logger.warning("watching %s failed (%s); again in %.1f s", plural, exc, pause)
                await asyncio.sleep(pause)

    async def _publish(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(SETTLE_SECONDS)
            self._changed.clear()
            await self._on_snapshot(
                Snapshot(
                    servers=tuple(self._parsed(MCPServer, "mcpservers")),
                    groups=tuple(self._parsed(MCPGroup, "mcpgroups")),
                    policies=tuple(self._parsed(AccessPolicy, "accesspolicies")),
                    secrets=tuple(self._parsed(Secret, "secrets")),
                )
            )

    def _parsed(self, model: type[_Model], plural: str) -> list[_Model]:
        parsed: list[_Model] = []
        for name, obj in sorted(self._objects[plural].items()):
            try:
                parsed.append(model.model_validate(obj))
            except pydantic.ValidationError as exc:
                # Without the input: it may be a Secret's data.
                problems = [
                    f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
                    for error in exc.errors(include_input=False)
                ]
                logger.warning("skipping %s %s: %s", plural, name, "; ".join(problems))
        return parsed


# A TokenReview is answered from the API server's memory; seconds mean it is in trouble.
REVIEW_SECONDS: Final = 10.0


class TokenReviews:
    """Asks the API server whether tokens are valid, over one kept-alive connection.

    A :class:`hub_proxy.auth.tokenreview.ReviewToken`.  One client session for
    all reviews, made on the first: a session per review cost the hub and the
    API server a TCP and TLS handshake for every new token, which a caller
    sending made-up tokens could repeat at will.  The hub's ServiceAccount
    needs ``create`` on ``tokenreviews.authentication.k8s.io``.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._url = f"{connection.server}/apis/authentication.k8s.io/v1/tokenreviews"
        self._http: aiohttp.ClientSession | None = None

    async def __call__(self, token: str, audiences: Sequence[str]) -> dict[str, Any]:
        """The TokenReview's status for ``token`` and ``audiences``.

        Raises :class:`aiohttp.ClientError` or :class:`TimeoutError` when the
        API server does not answer with a review.
        """
        if self._http is None:
            self._http = self._connection.client(aiohttp.ClientTimeout(total=REVIEW_SECONDS))
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": list(audiences)},
        }
        async with self._http.post(self._url, json=review) as response:
            response.raise_for_status()
            answer = await response.json()
        status = answer.get("status") if isinstance(answer, dict) else None
        return status if isinstance(status, dict) else {}

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
