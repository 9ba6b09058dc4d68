"""The kustomize install: one served namespace, RBAC scoped to it, and a dev path that fits kind.

Rendered with the kubectl of the test bed, applied to the real control plane,
and the hub's rights asked of the API server itself (``kubectl auth can-i``
as the hub's ServiceAccount), so RBAC is judged by the authorizer that
enforces it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.testbed.kube import ControlPlane
from tests.testbed.manifests import (
    MANIFESTS,
    RBAC_KINDS,
    apply_documents,
    can_i_as,
    find,
    kustomize,
    overlay_serving,
)
from tests.testbed.paths import REPO_ROOT

HUB = "system:serviceaccount:mcphub-system:mcphub-hub"
PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
OWN_IMAGES = "ghcr.io/mcphub/"


def served_namespace_of(documents: list[dict[str, Any]]) -> dict[str, str]:
    """Every place the served namespace appears in an install, by what it is."""
    hub = find(documents, "Deployment", "mcphub-hub")
    (container,) = hub["spec"]["template"]["spec"]["containers"]
    source = next(e for e in container["env"] if e["name"] == "MCPHUB_NAMESPACE")
    ref = source["valueFrom"]["configMapKeyRef"]
    assert "--namespace=$(MCPHUB_NAMESPACE)" in container["args"]
    config = find(documents, "ConfigMap", ref["name"])
    assert config["metadata"]["namespace"] == hub["metadata"]["namespace"]
    return {
        "hub --namespace": config["data"][ref["key"]],
        "Role": find(documents, "Role", "mcphub-hub")["metadata"]["namespace"],
        "RoleBinding": find(documents, "RoleBinding", "mcphub-hub")["metadata"]["namespace"],
    }


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("default", "default"), ("dev", "default"), ("overlays/team-a", "team-a")],
)
def test_the_served_namespace_is_one_value_everywhere(
    control_plane: ControlPlane, folder: str, expected: str
) -> None:
    places = served_namespace_of(kustomize(control_plane, MANIFESTS / folder))
    assert places == dict.fromkeys(places, expected)


def test_an_overlay_changes_the_served_namespace_with_its_one_value(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    places = served_namespace_of(kustomize(control_plane, overlay_serving(tmp_path, "tenant-7")))
    assert places == dict.fromkeys(places, "tenant-7")


def can_i(plane: ControlPlane, *request: str) -> bool:
    return can_i_as(plane, HUB, *request)


def test_the_hub_reads_the_namespace_it_serves_and_nothing_else(
    crds_installed: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    rendered = kustomize(crds_installed, overlay_serving(tmp_path, namespace))
    apply_documents(crds_installed, [d for d in rendered if d["kind"] in RBAC_KINDS])
    other = f"t-{uuid.uuid4().hex[:8]}"
    allowed = {
        f"{verb} {what} -n {ns}": can_i(crds_installed, verb, what, "-n", ns)
        for verb in ("list", "watch", "create", "delete")
        for what in ("mcpservers.mcphub.dev", "mcpgroups.mcphub.dev", "secrets")
        for ns in (namespace, other)
    }
    assert {request for request, yes in allowed.items() if yes} == {
        f"{verb} {what} -n {namespace}"
        for verb in ("list", "watch")
        for what in ("mcpservers.mcphub.dev", "mcpgroups.mcphub.dev", "secrets")
    }
    assert not can_i(crds_installed, "list", "mcpservers.mcphub.dev", "--all-namespaces")
    assert can_i(crds_installed, "create", "tokenreviews.authentication.k8s.io")


def test_the_default_install_applies_and_the_dev_overlay_passes_admission(
    crds_installed: ControlPlane,
) -> None:
    applied = crds_installed.kubectl(
        "apply", "--server-side", "--force-conflicts", "-k", str(MANIFESTS / "default")
    )
    assert "deployment.apps/mcphub-hub serverside-applied" in applied
    assert "configmap/mcphub-hub serverside-applied" in applied
    crds_installed.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-k",
        str(MANIFESTS / "dev"),
    )


def test_the_dev_service_is_the_port_kind_publishes_and_tilt_links(
    control_plane: ControlPlane,
) -> None:
    service = find(kustomize(control_plane, MANIFESTS / "dev"), "Service", "mcphub")
    (port,) = service["spec"]["ports"]
    (node,) = yaml.safe_load((REPO_ROOT / "kind-config.yaml").read_text())["nodes"]
    (mapping,) = node["extraPortMappings"]
    assert service["spec"]["type"] == "NodePort"
    assert port["nodePort"] == mapping["containerPort"]
    assert f"http://127.0.0.1:{mapping['hostPort']}/mcp" in (REPO_ROOT / "Tiltfile").read_text()


def third_party_images(plane: ControlPlane) -> dict[str, str]:
    """Every image the shipped files name that the project does not build, by where it is."""
    images = {}
    for folder in ("default", "samples"):
        for doc in kustomize(plane, MANIFESTS / folder):
            spec = doc.get("spec", {})
            pod = spec.get("template", {}).get("spec", {})
            named = [c["image"] for c in pod.get("containers", [])]
            named += [spec["container"]["image"]] if "container" in spec else []
            for image in named:
                images[f"{folder}: {doc['kind']} {doc['metadata']['name']}"] = image
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for image in re.findall(r"^ARG \w+_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE):
        images["Dockerfile base"] = image
    return {where: image for where, image in images.items() if not image.startswith(OWN_IMAGES)}


def test_third_party_images_are_pinned_by_digest(control_plane: ControlPlane) -> None:
    images = third_party_images(control_plane)
    assert {"samples: MCPServer time", "Dockerfile base"} <= images.keys()
    assert {where: image for where, image in images.items() if not PINNED.search(image)} == {}
