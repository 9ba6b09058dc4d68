"""The operator as a real process, with the identity its Deployment gives it."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.testbed.kube import ControlPlane
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open

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


def start_operator(plane: ControlPlane, log_dir: Path, *extra: str) -> ManagedProcess:
    """The operator as a real process, as its container runs it, until its liveness answers."""
    port = free_port()
    operator = ManagedProcess(
        "operator",
        [
            sys.executable,
            "-m",
            "mcphub_operator",
            f"--verify-interval={OPERATOR_VERIFY_INTERVAL}",
            "--verify-timeout=3",
            f"--liveness=http://127.0.0.1:{port}/healthz",
            *extra,
        ],
        env={"KUBECONFIG": str(operator_kubeconfig(plane, log_dir))},
        log_dir=log_dir,
    )
    operator.wait_until(lambda: port_is_open(port), timeout=60, what="liveness endpoint open")
    return operator
