"""The operator as a real process, with the identity its Deployment gives it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from tests.testbed.kube import ControlPlane
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.scraping import Samples, samples

OPERATOR_VERIFY_INTERVAL = 2.0


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

    def __init__(
        self,
        plane: ControlPlane,
        log_dir: Path,
        extra: tuple[str, ...],
        env: Mapping[str, str] | None = None,
    ) -> None:
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
            env={**(env or {}), "KUBECONFIG": str(operator_kubeconfig(plane, log_dir))},
            log_dir=log_dir,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self) -> Samples:
        """Every sample at its /metrics, by name and sorted labels."""
        return samples(self.url("/metrics"))


def start_operator(
    plane: ControlPlane, log_dir: Path, *extra: str, env: Mapping[str, str] | None = None
) -> OperatorProcess:
    """The operator as a real process, as its container runs it, until its /healthz answers.

    ``env`` adds to its environment (``OTEL_*``, ...).
    """
    operator = OperatorProcess(plane, log_dir, extra, env)
    operator.wait_until(
        lambda: port_is_open(operator.port), timeout=60, what="/healthz and /metrics open"
    )
    return operator
