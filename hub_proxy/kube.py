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

Credentials come from the kubeconfig or the pod's ServiceAccount, read by
the ``kubernetes`` client's loader, so the hub authenticates exactly like
kubectl and the operator do.  The hub needs only ``list`` and ``watch`` on the
four kinds -- Secrets in its own namespace only (``manifests/hub``).

Secrets are watched whole, because an MCPServer may name any Secret of the
namespace; the hub keeps their parsed values, as the kubelet would hold them
for a pod that mounts them.

The one other call is :func:`review_token`: a ServiceAccount token presented
to the hub is checked by the API server that issued it (TokenReview), which
knows about revocation and bound-object deletion that no local JWT check can.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp
import pydantic
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from mcphub_api import API_VERSION, AccessPolicy, MCPGroup, MCPServer
from mcphub_api.secret import Secret

logger = logging.getLogger(__name__)
_Model = TypeVar("_Model", bound=pydantic.BaseModel)

# Changes come in bursts (an apply of a whole folder); one snapshot per burst.
SETTLE_SECONDS: Final = 0.2
BACKOFF_SECONDS: Final = (0.5, 1.0, 2.0, 5.0, 10.0)
WATCH_SECONDS: Final = 240


@dataclass(frozen=True)
class Snapshot:
    """Every valid object of the namespace, as of one moment."""

    servers: tuple[MCPServer, ...]
    groups: tuple[MCPGroup, ...]
    policies: tuple[AccessPolicy, ...]
    secrets: tuple[Secret, ...]


OnSnapshot = Callable[[Snapshot], Awaitable[None]]


@dataclass(frozen=True)
class Connection:
    server: str
    ssl_context: ssl.SSLContext
    headers: dict[str, str]

    def client(
        self, timeout: aiohttp.ClientTimeout = aiohttp.client.DEFAULT_TIMEOUT
    ) -> aiohttp.ClientSession:
        """An HTTP client session that talks to the API server as the hub."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl_context),
            headers=self.headers,
            timeout=timeout,
        )


def connection() -> Connection:
    """Credentials from the pod's ServiceAccount, or else the kubeconfig."""
    configuration = kube_client.Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)
    except kube_config.ConfigException:
        # Read KUBECONFIG now: the client's default is fixed when it is imported.
        kube_config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    token = (configuration.auth_settings().get("BearerToken") or {}).get("value")
    return Connection(
        server=configuration.host,
        ssl_context=context,
        headers={"Authorization": token} if token else {},
    )


# Where each watched kind lives in the API, by plural.
_API_PATHS: Final = {
    "mcpservers": f"apis/{API_VERSION}",
    "mcpgroups": f"apis/{API_VERSION}",
    "accesspolicies": f"apis/{API_VERSION}",
    "secrets": "api/v1",
}


class ClusterWatch:
    """Keeps a namespace's catalog objects in memory and reports snapshots."""

    def __init__(self, connection: Connection, namespace: str, on_snapshot: OnSnapshot) -> None:
        self._connection = connection
        self._namespace = namespace
        self._on_snapshot = on_snapshot
        self._objects: dict[str, dict[str, dict[str, Any]]] = {plural: {} for plural in _API_PATHS}
        self._changed = asyncio.Event()

    async def run(self) -> None:
        async with self._connection.client() as session, asyncio.TaskGroup() as tasks:
            for plural in self._objects:
                tasks.create_task(self._follow(session, plural))
            tasks.create_task(self._publish())

    def _path(self, plural: str) -> str:
        api = _API_PATHS[plural]
        return f"{self._connection.server}/{api}/namespaces/{self._namespace}/{plural}"

    async def _follow(self, session: aiohttp.ClientSession, plural: str) -> None:
        failures = 0
        while True:
            try:
                version = await self._list(session, plural)
                failures = 0
                await self._watch(session, plural, version)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                pause = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                logger.warning("watching %s failed (%s); again in %s s", plural, exc, pause)
                await asyncio.sleep(pause)

    async def _list(self, session: aiohttp.ClientSession, plural: str) -> str:
        async with session.get(self._path(plural)) as response:
            response.raise_for_status()
            listed = await response.json()
        self._objects[plural] = {item["metadata"]["name"]: item for item in listed["items"]}
        self._changed.set()
        return str(listed["metadata"]["resourceVersion"])

    async def _watch(self, session: aiohttp.ClientSession, plural: str, version: str) -> None:
        params = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        timeout = aiohttp.ClientTimeout(total=WATCH_SECONDS + 30)
        async with session.get(self._path(plural), params=params, timeout=timeout) as response:
            response.raise_for_status()
            async for line in response.content:
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    # Typically 410 Gone: the version is too old; list again.
                    raise ValueError(obj.get("message", "watch error"))
                if kind == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if kind == "DELETED":
                    self._objects[plural].pop(name, None)
                else:
                    self._objects[plural][name] = obj
                self._changed.set()

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
