"""The hub's session key: made by the operator when missing, never overwritten.

Real control plane, the operator's own ServiceAccount bound to the shipped
RBAC (``manifests/rbac``): the key is created with exactly the rights a
cluster admin grants, and those rights stop at the operator's namespace.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub_proxy.auth.sealing import load_key
from mcphub_operator import config, session_key
from mcphub_runtime.kube import KubeClient, KubeError
from tests.testbed.kube import ControlPlane
from tests.testbed.operator_process import operator_kubeconfig, start_operator
from tests.testbed.paths import REPO_ROOT
from tests.testbed.waiting import eventually

OPERATOR_NAMESPACE = "mcphub-system"


def secret(plane: ControlPlane, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        plane.kubectl("get", "secret", name, "-n", OPERATOR_NAMESPACE, "-o", "json")
    )
    return found


def mounted_key(plane: ControlPlane, name: str, folder: Path) -> bytes:
    """The key as the hub loads it from the Secret mounted as a file."""
    path = folder / "key"
    path.write_bytes(base64.b64decode(secret(plane, name)["data"]["key"]))
    return load_key(path)


@pytest.fixture
async def operator_client(
    crds_installed: ControlPlane, tmp_path: Path
) -> AsyncIterator[KubeClient]:
    """The operator's own client, authenticated as its ServiceAccount."""
    kubeconfig = yaml.safe_load(operator_kubeconfig(crds_installed, tmp_path).read_text())
    token = kubeconfig["users"][0]["user"]["token"]
    client = KubeClient(crds_installed.token_connection(token), "mcphub-operator")
    yield client
    await client.close()


async def test_a_missing_key_is_created_and_loads_as_the_hubs_key(
    crds_installed: ControlPlane, operator_client: KubeClient, tmp_path: Path
) -> None:
    name = f"key-{uuid.uuid4().hex[:8]}"
    assert await session_key.ensure(operator_client, OPERATOR_NAMESPACE, name)
    assert len(mounted_key(crds_installed, name, tmp_path)) == session_key.KEY_BYTES


async def test_an_existing_key_is_never_replaced(
    crds_installed: ControlPlane, operator_client: KubeClient, tmp_path: Path
) -> None:
    name = f"key-{uuid.uuid4().hex[:8]}"
    mine = base64.b64encode(bytes(range(32))).decode()
    crds_installed.kubectl(
        "create", "secret", "generic", name, "-n", OPERATOR_NAMESPACE, f"--from-literal=key={mine}"
    )
    assert not await session_key.ensure(operator_client, OPERATOR_NAMESPACE, name)
    assert mounted_key(crds_installed, name, tmp_path) == bytes(range(32))


async def test_replicas_racing_at_start_agree_on_one_key(
    crds_installed: ControlPlane, operator_client: KubeClient, tmp_path: Path
) -> None:
    name = f"key-{uuid.uuid4().hex[:8]}"
    created = await asyncio.gather(
        *(session_key.ensure(operator_client, OPERATOR_NAMESPACE, name) for _ in range(6))
    )
    assert sorted(created) == [False] * 5 + [True]
    first = mounted_key(crds_installed, name, tmp_path)
    assert not await session_key.ensure(operator_client, OPERATOR_NAMESPACE, name)
    assert mounted_key(crds_installed, name, tmp_path) == first


async def test_the_operator_may_create_secrets_in_its_own_namespace_only(
    operator_client: KubeClient, namespace: str
) -> None:
    with pytest.raises(KubeError) as refused:
        await session_key.ensure(operator_client, namespace, "mcphub-session-key")
    assert refused.value.status == 403


def _deployment(path: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "manifests" / path).read_text())
    return document


def test_the_secret_the_operator_creates_is_the_one_the_hub_mounts() -> None:
    operator = _deployment("operator/deployment.yaml")
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    hub = _deployment("hub/deployment.yaml")
    mounted = {v["name"]: v.get("secret") for v in hub["spec"]["template"]["spec"]["volumes"]}
    assert env["MCPHUB_SESSION_KEY_SECRET"]["value"] == mounted["session-key"]["secretName"]
    assert hub["metadata"]["namespace"] == operator["metadata"]["namespace"]


def test_the_secret_defaults_to_the_operators_own_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mcphub-system")
    monkeypatch.setenv("MCPHUB_SESSION_KEY_SECRET", "mcphub-session-key")
    assert config.parse([]).session_key_secret == ("mcphub-system", "mcphub-session-key")
    assert config.parse(["--session-key-secret", "ns/k"]).session_key_secret == ("ns", "k")
    monkeypatch.delenv("POD_NAMESPACE")
    with pytest.raises(SystemExit):
        config.parse(["--session-key-secret", "k"])


def test_the_operator_process_creates_the_key_at_start(
    crds_installed: ControlPlane, tmp_path: Path
) -> None:
    name = f"key-{uuid.uuid4().hex[:8]}"
    operator = start_operator(
        crds_installed, tmp_path, f"--session-key-secret={OPERATOR_NAMESPACE}/{name}"
    )
    try:
        eventually(lambda: secret(crds_installed, name), timeout=30, what=f"Secret {name}")
    finally:
        operator.stop()
    assert len(mounted_key(crds_installed, name, tmp_path)) == session_key.KEY_BYTES
