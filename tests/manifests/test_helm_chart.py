"""The Helm chart: lint, render, and apply to the real control plane.

``helm`` is built from Go modules by the test bed.  The chart must give the
same install as the kustomize base (names, RBAC rules, containers), so the
two paths cannot drift apart; its other values are rendered, applied for
real in fresh namespaces, and the rights they grant asked of the API server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcphub_operator import session_key
from mcphub_runtime.kube import KubeClient, KubeError
from tests.manifests.helm import CHART, helm
from tests.testbed.errors import TestbedError
from tests.testbed.kube import ControlPlane
from tests.testbed.manifests import MANIFESTS, can_i_as, find, kustomize
from tests.testbed.paths import REPO_ROOT

DIGEST = "sha256:" + "ab" * 32
# Containers' fields that make the install what it is (labels, pull policy and
# annotations may differ between the chart and the kustomize base).
CONTAINER_FIELDS = (
    "name", "args", "env", "ports", "readinessProbe", "livenessProbe", "resources",
    "securityContext", "volumeMounts",
)  # fmt: skip
POD_FIELDS = ("serviceAccountName", "securityContext", "volumes")


def values_file(folder: Path, values: dict[str, Any]) -> Path:
    path = folder / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def helm_template(
    folder: Path, release: str = "mcphub", namespace: str = "mcphub-system", **values: Any
) -> list[dict[str, Any]]:
    rendered = helm(
        "template", release, str(CHART), "--namespace", namespace,
        "--values", str(values_file(folder, values)),
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def other_values(release_namespace: str, served: str) -> dict[str, Any]:
    """Every value away from its default that an admin may plausibly set."""
    return {
        "commonLabels": {"team": "platform"},
        "crds": {"keep": False},
        "operator": {
            "image": {"digest": DIGEST},
            "watchNamespaces": [served],
            "verifyInterval": 5,
            "extraArgs": ["--workers=8"],
            "extraEnv": [{"name": "MCPHUB_API_CONCURRENCY", "value": "8"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
        },
        "hub": {
            "servedNamespace": served,
            "image": {"repository": "registry.example/mcphub", "tag": "0.2.0"},
            "replicas": 3,
            "tokenReview": {"enabled": False, "audience": "agents"},
            "publicUrl": "https://mcp.example.com",
            "service": {"type": "NodePort", "nodePort": None, "annotations": {"a": "b"}},
            "extraArgs": ["--oidc-issuer=https://issuer.example"],
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        },
        "sessionKey": {"secretName": "hub-key"},
    }


def test_lint_passes_for_default_and_other_values(tmp_path: Path) -> None:
    helm("lint", "--strict", str(CHART))
    values = values_file(tmp_path, other_values("mcphub-system", "team-a"))
    helm("lint", "--strict", str(CHART), "--values", str(values))


def test_the_charts_crds_are_the_generated_ones() -> None:
    generated = {p.name: p.read_bytes() for p in (REPO_ROOT / "crds").glob("mcphub.dev_*.yaml")}
    shipped = {p.name: p.read_bytes() for p in (CHART / "files" / "crds").glob("*.yaml")}
    assert shipped == generated, "run `make crds`: it copies the CRDs into the chart"


@pytest.mark.parametrize(
    ("shipped", "copy"),
    [
        ("monitoring/prometheusrule.yaml", "monitoring/prometheusrule.yaml"),
        ("monitoring/dashboards/mcphub.json", "monitoring/mcphub.json"),
        ("rbac/peering.yaml", "rbac/peering.yaml"),
    ],
)
def test_the_charts_copies_are_what_kustomize_ships(shipped: str, copy: str) -> None:
    """Helm reads no file outside its chart, so it renders copies of these."""
    copied = (CHART / "files" / copy).read_bytes()
    assert copied == (MANIFESTS / shipped).read_bytes(), "run `make chart-files`"


def _identity(doc: dict[str, Any]) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def _deployment_essence(doc: dict[str, Any]) -> Any:
    pod = doc["spec"]["template"]["spec"]
    containers = [{f: c.get(f) for f in CONTAINER_FIELDS} for c in pod["containers"]]
    return doc["spec"]["replicas"], containers, {f: pod.get(f) for f in POD_FIELDS}


# What an object does, without the labels and annotations that say who made it.
_ESSENCE: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Role": lambda doc: doc["rules"],
    "ClusterRole": lambda doc: doc["rules"],
    "RoleBinding": lambda doc: (doc["roleRef"], doc["subjects"]),
    "ClusterRoleBinding": lambda doc: (doc["roleRef"], doc["subjects"]),
    "ConfigMap": lambda doc: doc["data"],
    "Service": lambda doc: (doc["spec"]["ports"], doc["spec"].get("type", "ClusterIP")),
    "Deployment": _deployment_essence,
    "CustomResourceDefinition": lambda doc: doc["spec"],
    "ServiceAccount": lambda doc: None,
}


def test_the_default_chart_is_the_kustomize_install(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    chart = {_identity(d): d for d in helm_template(tmp_path)}
    base = {
        _identity(d): d
        for d in kustomize(control_plane, MANIFESTS / "default")
        if d["kind"] != "Namespace"  # helm install --create-namespace, or GitOps, makes it
    }
    assert sorted(chart) == sorted(base)
    differing = [key for key in base if _ESSENCE[key[0]](chart[key]) != _ESSENCE[key[0]](base[key])]
    assert differing == []
    (crd,) = (d for key, d in chart.items() if key[2] == "mcpservers.mcphub.dev")
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_the_default_chart_passes_admission(crds_installed: ControlPlane) -> None:
    rendered = helm("template", "mcphub", str(CHART), "--namespace", "mcphub-system")
    # What `helm install --create-namespace` does first.
    crds_installed.kubectl(
        "apply", "--server-side", "-f", str(MANIFESTS / "operator" / "namespace.yaml")
    )
    crds_installed.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-",
        stdin=rendered,
    )  # fmt: skip


@pytest.fixture
def release(crds_installed: ControlPlane) -> Iterator[tuple[str, str, str]]:
    """A release name, its namespace and the namespace it serves, all fresh."""
    suffix = uuid.uuid4().hex[:6]
    names = (f"r-{suffix}", f"rel-{suffix}", f"served-{suffix}")
    for namespace in names[1:]:
        crds_installed.kubectl("create", "namespace", namespace)
    yield names
    for namespace in names[1:]:
        crds_installed.kubectl("delete", "namespace", namespace, "--wait=false")
    crds_installed.kubectl(
        "delete", "clusterrole,clusterrolebinding", "-l", f"app.kubernetes.io/instance={names[0]}"
    )


async def test_other_values_render_apply_and_grant_what_they_say(
    crds_installed: ControlPlane, release: tuple[str, str, str], tmp_path: Path
) -> None:
    name, namespace, served = release
    docs = helm_template(tmp_path, name, namespace, **other_values(namespace, served))
    operator = find(docs, "Deployment", f"{name}-mcphub-operator")
    hub = find(docs, "Deployment", f"{name}-mcphub-hub")
    (operator_container,) = operator["spec"]["template"]["spec"]["containers"]
    (hub_container,) = hub["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in operator_container["env"]}
    assert operator_container["image"] == f"ghcr.io/mcphub/mcphub-operator@{DIGEST}"
    assert env["MCPHUB_BRIDGE_IMAGE"] == hub_container["image"] == "registry.example/mcphub:0.2.0"
    assert env["MCPHUB_SESSION_KEY_SECRET"] == "hub-key"
    assert {"name": "session-key", "secret": {"secretName": "hub-key"}} in hub["spec"]["template"][
        "spec"
    ]["volumes"]
    assert "--namespace=" + served in operator_container["args"]
    assert "--token-review" not in hub_container["args"]
    assert not [d for d in docs if d["metadata"]["name"].endswith("tokenreview")]
    assert find(docs, "Role", f"{name}-mcphub-hub")["metadata"]["namespace"] == served
    assert all(d["metadata"]["labels"]["team"] == "platform" for d in docs)

    crds_installed.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs)
    )
    hub_account = f"system:serviceaccount:{namespace}:{name}-mcphub-hub"
    assert can_i_as(crds_installed, hub_account, "list", "mcpservers.mcphub.dev", "-n", served)
    assert not can_i_as(crds_installed, hub_account, "list", "secrets", "-n", namespace)
    assert not can_i_as(crds_installed, hub_account, "create", "tokenreviews.authentication.k8s.io")

    # The chart's operator identity makes the key where the hub mounts it, and nowhere else.
    token = crds_installed.kubectl(
        "create", "token", f"{name}-mcphub-operator", "-n", namespace
    ).strip()
    client = KubeClient(crds_installed.token_connection(token), "mcphub-operator")
    try:
        assert await session_key.ensure(client, namespace, "hub-key")
        with pytest.raises(KubeError):
            await session_key.ensure(client, served, "hub-key")
    finally:
        await client.close()


def test_bringing_your_own_key_renders_no_right_to_create_it(tmp_path: Path) -> None:
    docs = helm_template(tmp_path, sessionKey={"createdByOperator": False, "secretName": "mine"})
    (container,) = find(docs, "Deployment", "mcphub-operator")["spec"]["template"]["spec"][
        "containers"
    ]
    assert "MCPHUB_SESSION_KEY_SECRET" not in {e["name"] for e in container["env"]}
    assert not [d for d in docs if d["kind"] == "Role" and "session-key" in d["metadata"]["name"]]


def test_without_peering_one_standalone_operator_and_nothing_of_kopf_peering(
    tmp_path: Path,
) -> None:
    docs = helm_template(tmp_path, operator={"peering": {"enabled": False}, "replicas": 1})
    operator = find(docs, "Deployment", "mcphub-operator")
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert (operator["spec"]["replicas"], operator["spec"]["strategy"]) == (1, {"type": "Recreate"})
    assert "MCPHUB_PEERING" not in {e["name"] for e in container["env"]}
    assert not [d for d in docs if "peering" in d["metadata"]["name"]]
    # With peering on, the CRDs follow crds.install like the project's own.
    kinds = {d["kind"] for d in helm_template(tmp_path, crds={"install": False})}
    assert "CustomResourceDefinition" not in kinds
    assert "ClusterRole" in kinds


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"hub": {"servedNamespce": "x"}}, "servedNamespce"),
        ({"hub": {"servedNamespace": "Not_A_Namespace"}}, "servedNamespace"),
        ({"operator": {"image": {"digest": "latest"}}}, "digest"),
        ({"monitoring": {"serviceMonitor": {"enabled": True}}}, "serviceMonitor"),
        # Two standalone operators would both handle every object.
        ({"operator": {"peering": {"enabled": False}}}, "replicas"),
        ({"monitoring": {"podMonitors": {"interval": "often"}}}, "interval"),
    ],
)
def test_the_schema_refuses_values_the_chart_cannot_honour(
    tmp_path: Path, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(TestbedError) as refused:
        helm_template(tmp_path, **values)
    assert complaint in str(refused.value)
