"""Running the test bed's ``helm`` on the shipped chart."""

from __future__ import annotations

from tests.testbed.go_tools import HELM, run
from tests.testbed.kube_build import KUBERNETES_VERSION
from tests.testbed.manifests import MANIFESTS

CHART = MANIFESTS / "helm" / "mcphub"


def helm(command: str, *args: str) -> str:
    """``helm COMMAND``, for the Kubernetes release of the test bed (what a cluster would tell)."""
    return run(HELM, command, *args, f"--kube-version={KUBERNETES_VERSION}")
