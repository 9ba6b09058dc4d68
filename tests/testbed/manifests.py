"""The shipped deployment files, rendered the way a cluster admin renders them.

Tests apply what ``kubectl apply -k`` would apply, never hand-picked files,
so a resource the kustomizations forget, or a value they fail to tie
together, fails a test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.testbed.kube import ControlPlane
from tests.testbed.paths import REPO_ROOT

MANIFESTS = REPO_ROOT / "manifests"
RBAC_KINDS = frozenset(
    {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
)


def kustomize(plane: ControlPlane, folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize FOLDER``, as documents."""
    return [doc for doc in yaml.safe_load_all(plane.kubectl("kustomize", str(folder))) if doc]


def overlay_serving(folder: Path, namespace: str) -> Path:
    """The example overlay (``manifests/overlays/team-a``) of this checkout, serving ``namespace``.

    Exactly the README's recipe for serving another namespace: the example's
    kustomization with its bases named from ``folder`` (kustomize refuses
    absolute paths), and its one value changed.
    """
    example = MANIFESTS / "overlays" / "team-a"
    kustomization = yaml.safe_load((example / "kustomization.yaml").read_text())
    folder.mkdir(parents=True, exist_ok=True)

    def from_folder(item: str) -> str:
        return os.path.relpath((example / item).resolve(), folder.resolve())

    kustomization["resources"] = [
        item if item.endswith(".yaml") else from_folder(item) for item in kustomization["resources"]
    ]
    kustomization["components"] = [from_folder(item) for item in kustomization["components"]]
    value = yaml.safe_load((example / "served-namespace.yaml").read_text())
    value["data"]["servedNamespace"] = namespace
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    (folder / "served-namespace.yaml").write_text(yaml.safe_dump(value))
    return folder


def apply_documents(plane: ControlPlane, documents: list[dict[str, Any]]) -> None:
    plane.kubectl(
        "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(documents, sort_keys=False)
    )


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = (d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)
    return found


def can_i_as(plane: ControlPlane, user: str, *request: str) -> bool:
    """What the API server's authorizer answers for ``user`` (exit 1 with "no" is an answer)."""
    kubectl = [str(plane.kubectl_binary), f"--kubeconfig={plane.kubeconfig}"]
    done = subprocess.run(
        [*kubectl, "auth", "can-i", f"--as={user}", *request],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answer = str(done.stdout).strip()
    assert answer in {"yes", "no"}, done.stderr
    return answer == "yes"
