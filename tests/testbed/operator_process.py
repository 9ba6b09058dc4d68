"""The operator as a real process, with the identity its Deployment gives it."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.testbed.kube import ControlPlane
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open

OPERATOR_VERIFY_INTERVAL = 2.0
# A metric sample's name and labels (sorted pairs), and its value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def operator_kubeconfig(plane: ControlPlane, folder: Path) -> Path:
    """Credentials of the operator's own ServiceAccount, bound to the shipped RBAC.

    Every operator test runs with exactly the permissions a cluster admin
    grants from ``manifests/rbac``, so a missing rule fails a test here.
    """
    folder.mkdir(parents=True, exist_ok=True)
    plane.kubectl(
        "apply", "--server-side", "-f", str(REPO_ROOT / "manifests/operator/namespace.yaml")
    )
    plane.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "manifests/rbac"))
    token = plane.kubectl(
        "create", "token", "mcphub-operator", "-n", "mcphub-system", "--duration=24h"
    ).strip()
    return plane.token_kubeconfig(token, folder / "operator.kubeconfig")


class OperatorProcess(ManagedProcess):
    """The operator process, and the port of its /healthz and /metrics."""

    def __init__(self, plane: ControlPlane, log_dir: Path, extra: tuple[str, ...]) -> None:
        self.port = free_port()
        super().__init__(
            "operator",
            [
                sys.executable,
                "-m",
                "mcphub_operator",
                f"--verify-interval={OPERATOR_VERIFY_INTERVAL}",
                "--verify-timeout=3",
                f"--port={self.port}",
                *extra,
            ],
            env={"KUBECONFIG": str(operator_kubeconfig(plane, log_dir))},
            log_dir=log_dir,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self) -> Samples:
        """Every sample at its /metrics, by name and sorted labels."""
        with urllib.request.urlopen(self.url("/metrics"), timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def start_operator(plane: ControlPlane, log_dir: Path, *extra: str) -> OperatorProcess:
    """The operator as a real process, as its container runs it, until its /healthz answers."""
    operator = OperatorProcess(plane, log_dir, extra)
    operator.wait_until(
        lambda: port_is_open(operator.port), timeout=60, what="/healthz and /metrics open"
    )
    return operator
