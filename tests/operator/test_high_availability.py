"""Two operator replicas with kopf peering: one reconciles, the other takes over when it dies.

Both are real processes with the shipped RBAC on the test control plane.  The
leader is killed with SIGKILL -- no goodbye, as when its node is lost -- and a
server applied right after must still become Ready, through the standby,
within the keep-alive lifetime plus a resync.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from mcphub_operator.config import DEFAULT_PEERING_LIFETIME
from tests.operator.manifests import remote_server
from tests.testbed.kube import ControlPlane
from tests.testbed.operator_process import OperatorProcess, start_operator
from tests.testbed.waiting import eventually

# Once the dead leader's keep-alive expired: the standby's watches start and list everything.
RESYNC_SECONDS = 30.0


def leading(operator: OperatorProcess) -> bool:
    return operator.metrics().get(("mcphub_operator_leader", ())) == 1


def reconciles(operator: OperatorProcess) -> float:
    return sum(
        value
        for (name, _), value in operator.metrics().items()
        if name == "mcphub_operator_reconcile_total"
    )


def test_the_standby_takes_over_when_the_leader_is_killed(
    crds_installed: ControlPlane, namespace: str, everything: str, tmp_path: Path
) -> None:
    peering = f"--peering=mcphub-test-{uuid.uuid4().hex[:8]}"
    first = start_operator(crds_installed, tmp_path / "first", peering)
    second = start_operator(crds_installed, tmp_path / "second", peering)
    try:
        eventually(
            lambda: (leading(first), leading(second)) == (True, False),
            timeout=60,
            what="the older replica to lead and the newer one to stand by",
        )
        crds_installed.apply(namespace, remote_server("before", everything))
        crds_installed.wait_ready(namespace, "mcpserver/before")
        # The pass is counted once it ends, after the status is written and its events posted.
        eventually(lambda: reconciles(first) > 0, timeout=10, what="the leader to count its pass")
        assert reconciles(second) == 0  # standing by: it never wrote a status

        first.kill()
        killed = time.monotonic()
        crds_installed.apply(namespace, remote_server("after", everything))
        crds_installed.wait_ready(
            namespace, "mcpserver/after", timeout=int(DEFAULT_PEERING_LIFETIME + RESYNC_SECONDS)
        )
        failover = time.monotonic() - killed
        # Its gauge follows the peering object every few seconds, kopf's pause at once.
        eventually(lambda: leading(second), timeout=10, what="the standby to report it leads")
        print(f"failover: the server applied after the kill was Ready in {failover:.1f} s")
    finally:
        first.stop()
        second.stop()
