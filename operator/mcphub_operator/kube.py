"""The operator's only conversation with the Kubernetes API (besides kopf's own).

A deliberately small async client on aiohttp: server-side apply for owned
objects (so repeated applies are idempotent and fields owned by others are
left alone), merge patches for status, reads, deletes.  Credentials come from
kopf's own login (``kopf.login_via_client``: kubeconfig or in-cluster), so
the operator and its client always agree on who they are.

Transient failures -- 429 throttling, 5xx -- are retried with back-off.  A
409 conflict is different: it means the object changed since it was read, so
retrying the same request would be wrong; it surfaces as ConflictError and
the caller recomputes from a fresh read.  Every request is bounded by a
timeout and by a semaphore, so a slow API server slows the operator down
rather than piling up thousands of open requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import ssl
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

Manifest = dict[str, Any]

logger = logging.getLogger(__name__)
FIELD_MANAGER = "mcphub-operator"
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
_PLURALS = {"Deployment": "deployments", "Service": "services", "Secret": "secrets"}


class KubeError(Exception):
    """The API server refused a request for good."""

    def __init__(self, status: int, method: str, path: str, detail: str) -> None:
        self.status = status
        super().__init__(f"{method} {path} -> {status}: {detail}")


class ConflictError(KubeError):
    """409: the object changed since it was read; read it again and recompute."""


def resource_path(api_version: str, plural: str, namespace: str, name: str | None = None) -> str:
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def manifest_path(manifest: Manifest) -> str:
    metadata = manifest["metadata"]
    return resource_path(
        manifest["apiVersion"], _PLURALS[manifest["kind"]], metadata["namespace"], metadata["name"]
    )


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(info.ca_path) if info.ca_path else None,
        cadata=info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data,
    )
    if info.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if info.certificate_path and info.private_key_path:
        context.load_cert_chain(str(info.certificate_path), str(info.private_key_path))
    return context


class KubeClient:
    """Typed, retrying access to the few API operations the operator needs."""

    def __init__(
        self, session: aiohttp.ClientSession, server: str, *, concurrency: int, timeout: float
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._slots = asyncio.Semaphore(concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def connect(
        cls, info: kopf.ConnectionInfo, *, concurrency: int = 32, timeout: float = 30.0
    ) -> KubeClient:
        if info.certificate_data or info.private_key_data:
            raise KubeError(0, "LOGIN", info.server, "inline client certificates are not supported")
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=_ssl_context(info), limit=concurrency),
            headers=info.as_http_headers(),
        )
        return cls(session, info.server, concurrency=concurrency, timeout=timeout)

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
        for attempt, pause in enumerate((*BACKOFF_SECONDS, None)):
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
            await asyncio.sleep(pause * (1 + attempt / 10))
        raise AssertionError("unreachable: the last attempt always returns or raises")

    async def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply ``manifest`` as the operator's field manager, taking over conflicts."""
        applied = await self._request(
            "PATCH",
            manifest_path(manifest),
            body=manifest,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        )
        assert applied is not None  # noqa: S101 - only 404 returns None, and only when allowed
        return applied

    async def create(self, collection: str, manifest: Manifest) -> None:
        """Create ``manifest`` in ``collection`` unless an object of its name is there already."""
        # 409 AlreadyExists: someone made it first, which is all that was wanted.
        with contextlib.suppress(ConflictError):
            await self._request("POST", collection, body=manifest)

    async def get(self, path: str) -> Manifest | None:
        return await self._request("GET", path, missing_ok=True)

    async def delete(self, path: str) -> None:
        await self._request(
            "DELETE", path, body={"propagationPolicy": "Background"}, missing_ok=True
        )

    async def post_event(self, obj: Manifest, type_: str, reason: str, message: str) -> None:
        """Record an Event on ``obj``; losing one is better than failing a reconcile."""
        event = event_manifest(obj, type_, reason, message)
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


def _detail(text: str) -> str:
    try:
        return str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        return text[:500]


def event_manifest(obj: Manifest, type_: str, reason: str, message: str) -> Manifest:
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
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
