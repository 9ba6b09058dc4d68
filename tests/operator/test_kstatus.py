"""The operator's status, judged by kstatus itself, as Flux and cli-utils judge it.

Each case puts an object of each kind into a state the operator really
reaches on the test control plane, then asks the real kstatus package
(``tests.testbed.kstatus``) what a GitOps tool waiting on it would conclude:
Current (done), InProgress (wait) or Failed (waiting will not help).
"""

from __future__ import annotations

import json
from typing import Any

from tests.testbed import kstatus
from tests.testbed.kube import ControlPlane
from tests.testbed.processes import ManagedProcess, free_port
from tests.testbed.waiting import eventually

API = "mcphub.dev/v1alpha1"


def apply(plane: ControlPlane, namespace: str, kind: str, name: str, spec: Any) -> None:
    document = {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}
    plane.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(document))


def judged(
    plane: ControlPlane, namespace: str, kind: str, name: str, expected: str
) -> kstatus.Result:
    """kstatus' verdict once it is ``expected`` (the operator converges in its own time)."""

    def verdict() -> kstatus.Result:
        found = json.loads(plane.kubectl("get", "-n", namespace, kind, name, "-o", "json"))
        result = kstatus.compute(found)
        # Raising counts as "not yet", and the last verdict is quoted if it never comes.
        assert result.status == expected, result
        return result

    return eventually(verdict, timeout=45, what=f"kstatus to call {kind} {name} {expected}")


def test_a_verified_server_and_its_group_and_policy_are_current(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    apply(crds_installed, namespace, "MCPServer", "time", {"remote": {"url": everything}})
    apply(crds_installed, namespace, "MCPGroup", "solo", {"servers": [{"name": "time"}]})
    apply(
        crds_installed,
        namespace,
        "AccessPolicy",
        "all",
        {
            "subjects": [{"kind": "Group", "name": "a"}],
            "rules": [{"groups": ["solo"], "actions": ["list"]}],
        },
    )
    judged(crds_installed, namespace, "mcpserver", "time", "Current")
    judged(crds_installed, namespace, "mcpgroup", "solo", "Current")
    judged(crds_installed, namespace, "accesspolicy", "all", "Current")


def test_a_server_that_does_not_answer_is_failed_and_so_is_its_group(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str
) -> None:
    silent = f"http://127.0.0.1:{free_port()}/mcp"
    apply(crds_installed, namespace, "MCPServer", "silent", {"remote": {"url": silent}})
    apply(crds_installed, namespace, "MCPGroup", "quiet", {"servers": [{"name": "silent"}]})
    server = judged(crds_installed, namespace, "mcpserver", "silent", "Failed")
    assert f"cannot connect to {silent}" in server.message
    group = judged(crds_installed, namespace, "mcpgroup", "quiet", "Failed")
    assert "'silent' (Unreachable)" in group.message


def test_a_missing_secret_or_target_is_failed_naming_it(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    header = {"name": "Authorization", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}
    apply(
        crds_installed,
        namespace,
        "MCPServer",
        "locked",
        {"remote": {"url": everything, "headers": [header]}},
    )
    apply(
        crds_installed,
        namespace,
        "AccessPolicy",
        "typo",
        {
            "subjects": [{"kind": "Group", "name": "a"}],
            "rules": [{"servers": ["tiem"], "actions": ["list"]}],
        },
    )
    server = judged(crds_installed, namespace, "mcpserver", "locked", "Failed")
    assert "Secret 'nope'" in server.message
    policy = judged(crds_installed, namespace, "accesspolicy", "typo", "Failed")
    assert "'tiem'" in policy.message


def test_a_server_whose_pods_are_starting_is_in_progress_and_so_is_its_group(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str
) -> None:
    # The test bed has no kubelet: the pods never start, as on a cluster still pulling images.
    container = {"image": "example.com/server:1", "port": 8080}
    spec = {"transport": "streamable-http", "container": container}
    apply(crds_installed, namespace, "MCPServer", "starting", spec)
    apply(crds_installed, namespace, "MCPGroup", "waiting", {"servers": [{"name": "starting"}]})
    server = judged(crds_installed, namespace, "mcpserver", "starting", "InProgress")
    assert "pods ready" in server.message
    judged(crds_installed, namespace, "mcpgroup", "waiting", "InProgress")
    # Scaled to zero, nothing will ever serve it: waiting does not help.
    apply(
        crds_installed,
        namespace,
        "MCPServer",
        "starting",
        {**spec, "container": {**container, "replicas": 0}},
    )
    judged(crds_installed, namespace, "mcpserver", "starting", "Failed")
    judged(crds_installed, namespace, "mcpgroup", "waiting", "Failed")
