"""The hub's session key: created by the operator when it is missing, never committed.

Every hub replica seals session ids with one shared 32-byte key, mounted from
the Secret ``mcphub-session-key`` (see :mod:`hub_proxy.auth.sealing`).  A key
in the manifests would be a key in git, and a Secret that nothing creates
leaves the hub's pod waiting in ContainerCreating forever.  So the operator
makes it at start-up, in its own namespace (``--session-key-secret``).

Why the operator and not the hub, nor the Helm chart:

* the hub is the component that faces clients; it keeps read-only rights on
  the API, and a compromised hub cannot create Secrets;
* a chart that generates the key with ``lookup`` makes a new one at every
  ``helm template``, which is how Argo CD renders charts: the key would rotate
  at every sync.  One mechanism serves kustomize, Helm and GitOps alike.

The key is created with a plain POST, never an apply: an existing Secret --
made by an earlier start, by another replica racing this one, or by an admin
who brings their own key -- answers 409 AlreadyExists and is left untouched.
So the operator needs only ``create`` on Secrets of its own namespace (RBAC
cannot narrow ``create`` to one name: the name is in the body, not the URL).

The operator does not wait for the key before reconciling: it serves the hub,
not itself.  A failed attempt is logged and retried with back-off until the
Secret exists.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import secrets
from typing import Any, Final

import aiohttp
import kopf

from mcphub_runtime import retry
from mcphub_runtime.kube import KubeClient, KubeError, Manifest, resource_path

logger = logging.getLogger(__name__)

KEY_BYTES: Final = 32
DATA_KEY: Final = "key"


def secret_manifest(namespace: str, name: str, key: bytes) -> Manifest:
    """The Secret as the hub mounts it: the key's base64 text under ``key``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/part-of": "mcphub",
                "app.kubernetes.io/managed-by": "mcphub-operator",
            },
            "annotations": {
                "mcphub.dev/purpose": "seals the hub's session ids; shared by every hub replica. "
                "Delete it and restart the operator to rotate (open sessions end)."
            },
        },
        "data": {DATA_KEY: base64.b64encode(base64.b64encode(key)).decode("ascii")},
    }


async def ensure(kube: KubeClient, namespace: str, name: str) -> bool:
    """Create the Secret with a fresh random key unless it exists; whether this call made it."""
    manifest = secret_manifest(namespace, name, secrets.token_bytes(KEY_BYTES))
    if not await kube.create(resource_path("v1", "secrets", namespace), manifest):
        return False
    logger.info("created the hub's session key in Secret %s/%s", namespace, name)
    return True


async def ensure_until_done(kube: KubeClient, namespace: str, name: str) -> None:
    """:func:`ensure`, retried with jittered back-off until the API answers."""
    for failures in itertools.count(1):
        try:
            await ensure(kube, namespace, name)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            pause = retry.RECONNECT.delay(failures)
            logger.error(
                "could not create the hub's session key Secret %s/%s (%s); the hub's pods "
                "wait for it. Grant the operator `create` on secrets in %s. Retrying in %.0f s",
                namespace, name, exc, namespace, pause,
            )  # fmt: skip
            await asyncio.sleep(pause)
        else:
            return


def register(registry: kopf.OperatorRegistry, namespace: str, name: str) -> None:
    """Make the key at start-up, beside (not before) the operator's own work."""

    @kopf.on.startup(registry=registry)
    async def session_key(memo: Any, **_: Any) -> None:
        # After the lifecycle start-up handler, which connected memo.kube.
        memo.session_key_task = asyncio.create_task(ensure_until_done(memo.kube, namespace, name))

    @kopf.on.cleanup(registry=registry)
    async def stop_session_key(memo: Any, **_: Any) -> None:
        memo.session_key_task.cancel()
