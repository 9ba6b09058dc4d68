"""The one Kubernetes API client of mcphub: the operator's writes, the hub's list and watch.

A deliberately small async client on aiohttp, for the few operations the two
programs need: server-side apply for owned objects (so repeated applies are
idempotent and fields owned by others are left alone), merge patches for
status, reads, creates, deletes, Events, and list-then-watch.  kopf keeps its
own client for its watches; everything else the operator and the hub say to
the API server goes through here.

Why not a maintained async client: ``kubernetes_asyncio`` 36.1, measured
against this module on the test control plane in one run
(``tests/benchmarks/kube_client.py``, 300 MCPServers, 16 requests in flight):
reading each took 1.03 s against 0.92 s, merge-patching each status 3.07 s
against 2.67 s, listing them 0.03 s against 0.05 s, and importing it adds
63 MB of memory against 45 MB (most of that the ``kubernetes`` package's
loader, which kopf imports anyway).  Worse still for the operator: kopf
imports ``kubernetes_asyncio`` whenever it is installed, and the operator's
memory after its imports grew from 91 MB to 124 MB.  These few operations need no
generated models: the operator's 500-server apply makes under 3,000 requests,
the hub a list and a watch per kind.

Credentials come from the pod's ServiceAccount, else the kubeconfig (read by
the ``kubernetes`` package's loader, as kubectl and kopf read them), so the
operator, its kopf and the hub always agree on who they are.

Transient failures -- 429 throttling, 5xx, a dropped connection -- are retried
by the jittered :data:`mcphub_runtime.retry.API` policy.  A 409 conflict is
different: it means the object changed since it was read, so retrying the
same request would be wrong; it surfaces as :class:`ConflictError` and the
caller recomputes from a fresh read.  Every request is bounded by a timeout
and by a semaphore, so a slow API server slows a program down rather than
piling up thousands of open requests.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from mcphub_runtime import retry

Manifest = dict[str, Any]

logger = logging.getLogger(__name__)
RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
RETRIES: Final = 5
_PLURALS: Final = {"Deployment": "deployments", "Service": "services", "Secret": "secrets"}


class KubeError(Exception):
    """The API server refused a request for good."""

    def __init__(self, status: int, method: str, path: str, detail: str) -> None:
        self.status = status
        super().__init__(f"{method} {path} -> {status}: {detail}")


class ConflictError(KubeError):
    """409: the object changed since it was read (or, on create, exists); read it again."""


class WatchExpiredError(KubeError):
    """410 Gone in a watch: the version is too old to resume from; list again."""


@dataclass(frozen=True)
class Connection:
    """Where the API server is and who to be there."""

    server: str
    ssl_context: ssl.SSLContext
    headers: dict[str, str]

    def client(
        self,
        timeout: aiohttp.ClientTimeout = aiohttp.client.DEFAULT_TIMEOUT,
        *,
        limit: int = 100,
    ) -> aiohttp.ClientSession:
        """An HTTP client session that talks to the API server as this program."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl_context, limit=limit),
            headers=self.headers,
            timeout=timeout,
        )


def connection() -> Connection:
    """Credentials from the pod's ServiceAccount, or else the kubeconfig.

    Raises ``kubernetes.config.ConfigException`` when there are neither.
    """
    configuration = kube_client.Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)
    except kube_config.ConfigException:
        # Read KUBECONFIG now: the client's default is fixed when it is imported.
        kube_config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    token = (configuration.auth_settings().get("BearerToken") or {}).get("value")
    return Connection(
        server=configuration.host.rstrip("/"),
        ssl_context=context,
        headers={"Authorization": token} if token else {},
    )


def resource_path(api_version: str, plural: str, namespace: str, name: str | None = None) -> str:
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def manifest_path(manifest: Manifest) -> str:
    metadata = manifest["metadata"]
    return resource_path(
        manifest["apiVersion"], _PLURALS[manifest["kind"]], metadata["namespace"], metadata["name"]
    )


class KubeClient:
    """Typed, retrying access to the few API operations mcphub needs."""

    def __init__(
        self, connection: Connection, agent: str, *, concurrency: int = 32, timeout: float = 30.0
    ) -> None:
        """``agent`` names the program: the field manager of its applies, the source of Events."""
        self._agent = agent
        self._server = connection.server
        self._session = connection.client(limit=concurrency)
        self._slots = asyncio.Semaphore(concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def close(self) -> None:
        await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Manifest | None:
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        for pause in (*retry.API.attempts(RETRIES), None):
            async with (
                self._slots,
                self._session.request(
                    method,
                    self._server + path,
                    data=data,
                    headers=headers,
                    params=params,
                    timeout=self._timeout,
                ) as response,
            ):
                text = await response.text()
                if response.status < 300:
                    return json.loads(text) if text else {}
                if response.status == 404 and missing_ok:
                    return None
                if response.status == 409:
                    raise ConflictError(response.status, method, path, _detail(text))
                if response.status not in RETRIED_STATUSES or pause is None:
                    raise KubeError(response.status, method, path, _detail(text))
            await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    async def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply ``manifest`` as this agent, taking over conflicts."""
        applied = await self._request(
            "PATCH",
            manifest_path(manifest),
            body=manifest,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": self._agent, "force": "true"},
        )
        assert applied is not None  # noqa: S101 - only 404 returns None, and only when allowed
        return applied

    async def get(self, path: str) -> Manifest | None:
        return await self._request("GET", path, missing_ok=True)

    async def create(self, collection: str, manifest: Manifest) -> bool:
        """Create ``manifest`` in ``collection`` unless an object of its name is there already.

        Whether this call made it: a plain POST never overwrites, so racing
        creators agree on whichever object the API took first.
        """
        # 409 AlreadyExists: someone made it first, which is all that was wanted.
        try:
            await self._request("POST", collection, body=manifest)
        except ConflictError:
            return False
        return True

    async def delete(self, path: str) -> None:
        await self._request(
            "DELETE", path, body={"propagationPolicy": "Background"}, missing_ok=True
        )

    async def post_event(self, obj: Manifest, type_: str, reason: str, message: str) -> None:
        """Record an Event on ``obj``; losing one is better than failing a reconcile."""
        event = event_manifest(obj, type_, reason, message, self._agent)
        path = resource_path("v1", "events", event["metadata"]["namespace"])
        try:
            await self._request("POST", path, body=event)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("could not record event %s on %s: %s", reason, path, exc)

    async def patch_status(self, path: str, status: Manifest, resource_version: str) -> None:
        """Merge-patch the status of the object at ``path`` if it is still at ``resource_version``.

        The precondition turns a concurrent change into a ConflictError instead
        of a silent overwrite of a status computed from newer facts.
        """
        await self._request(
            "PATCH",
            f"{path}/status",
            body={"metadata": {"resourceVersion": resource_version}, "status": status},
            content_type="application/merge-patch+json",
            missing_ok=True,
        )

    async def list(self, collection: str) -> tuple[list[Manifest], str]:
        """Every object of ``collection``, and the resourceVersion to watch from."""
        listed = await self._request("GET", collection)
        assert listed is not None  # noqa: S101 - only 404 returns None, and only when allowed
        return list(listed.get("items") or []), str(listed["metadata"]["resourceVersion"])

    async def watch(
        self, collection: str, version: str, *, seconds: int
    ) -> AsyncIterator[tuple[str, Manifest]]:
        """Changes to ``collection`` after ``version``: (ADDED|MODIFIED|DELETED, object).

        Ends when the API server closes the stream (after about ``seconds``);
        raises :class:`WatchExpiredError` when ``version`` is too old, and
        ``aiohttp.ClientError`` or ``TimeoutError`` when the stream breaks.  A
        watch is one long request: it holds no slot of the request semaphore.
        """
        params = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        timeout = aiohttp.ClientTimeout(total=seconds + 30)
        async with self._session.get(
            self._server + collection, params=params, timeout=timeout
        ) as response:
            if response.status >= 300:
                raise KubeError(
                    response.status, "WATCH", collection, _detail(await response.text())
                )
            async for line in response.content:
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    raise WatchExpiredError(
                        int(obj.get("code", 410)), "WATCH", collection, obj.get("message", "")
                    )
                if kind != "BOOKMARK":
                    yield kind, obj


def _detail(text: str) -> str:
    try:
        return str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        return text[:500]


def event_manifest(
    obj: Manifest, type_: str, reason: str, message: str, component: str
) -> Manifest:
    """A core/v1 Event about ``obj``, as ``kubectl describe`` shows them."""
    metadata = obj["metadata"]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": metadata["namespace"],
        },
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid", ""),
            "resourceVersion": metadata.get("resourceVersion", ""),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
