"""MCPGroup membership and AccessPolicy references, resolved live by the operator."""

from __future__ import annotations

import json
from typing import Any

from tests.testbed.kube import ControlPlane
from tests.testbed.processes import ManagedProcess, free_port
from tests.testbed.waiting import eventually

API = "mcphub.dev/v1alpha1"


def apply(
    plane: ControlPlane,
    namespace: str,
    kind: str,
    name: str,
    spec: dict[str, Any],
    *,
    labels: dict[str, str] | None = None,
) -> None:
    document = {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }
    plane.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(document))


def status(plane: ControlPlane, namespace: str, kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        plane.kubectl("get", "-n", namespace, kind, name, "-o", "json")
    ).get("status", {})
    return found


def condition(found: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in found.get("conditions", []) if c["type"] == kind), {})


def remote(url: str) -> dict[str, Any]:
    return {"remote": {"url": url}}


def test_group_reports_a_missing_member_until_it_exists(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    apply(
        crds_installed,
        namespace,
        "MCPGroup",
        "assistant",
        {"servers": [{"name": "time"}, {"name": "echoes", "tools": {"include": ["echo"]}}]},
    )
    apply(crds_installed, namespace, "MCPServer", "echoes", remote(everything))

    expected = f"MCPServer 'time' named in spec.servers does not exist in {namespace}"

    def missing_time() -> dict[str, Any]:
        found = condition(
            status(crds_installed, namespace, "mcpgroup", "assistant"), "MembersResolved"
        )
        return found if found.get("message") == expected else {}

    members = eventually(missing_time, timeout=30, what="MembersResolved=False naming 'time'")
    assert (members["status"], members["reason"]) == ("False", "MemberNotFound")

    apply(crds_installed, namespace, "MCPServer", "time", remote(everything))
    crds_installed.wait_ready(namespace, "mcpserver/time", "mcpserver/echoes", "mcpgroup/assistant")

    def counted() -> dict[str, Any]:
        found = status(crds_installed, namespace, "mcpgroup", "assistant")
        time_tools = status(crds_installed, namespace, "mcpserver", "time")["toolCount"]
        return found if found.get("toolCount") == time_tools + 1 else {}

    group = eventually(counted, timeout=30, what="the group's tool count to include both members")
    assert group["servers"] == ["echoes", "time"]
    assert group["serverCount"] == 2
    assert group["endpoint"] == f"/mcp/{namespace}/assistant"


def test_group_is_ready_only_with_members_all_ready_and_says_why_not(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    apply(
        crds_installed,
        namespace,
        "MCPGroup",
        "platform",
        {"selector": {"matchLabels": {"team": "platform"}}},
    )

    def ready_reason(expected: str) -> dict[str, Any]:
        found = condition(status(crds_installed, namespace, "mcpgroup", "platform"), "Ready")
        return found if found.get("reason") == expected else {}

    empty = eventually(lambda: ready_reason("NoMembers"), timeout=30, what="Ready=False NoMembers")
    assert empty["status"] == "False"
    assert (
        empty["message"] == f"no MCPServer in {namespace} is a member: spec.selector matches none"
    )

    silent = f"http://127.0.0.1:{free_port()}/mcp"
    apply(
        crds_installed, namespace, "MCPServer", "alpha", remote(silent), labels={"team": "platform"}
    )
    # First 'alpha' (NotObservedYet), until the operator has tried it.
    expected = "0 of 1 members Ready; not Ready: 'alpha' (Unreachable)"
    eventually(
        lambda: ready_reason("NoMemberReady").get("message") == expected,
        timeout=30,
        what="Ready=False NoMemberReady naming why 'alpha' is not Ready",
    )

    apply(
        crds_installed,
        namespace,
        "MCPServer",
        "alpha",
        remote(everything),
        labels={"team": "platform"},
    )
    crds_installed.wait_ready(namespace, "mcpserver/alpha", "mcpgroup/platform")
    assert ready_reason("AllMembersReady")["message"] == "all 1 members are Ready"


def test_group_by_selector_follows_label_changes_live(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    for name in ("alpha", "beta"):
        apply(
            crds_installed,
            namespace,
            "MCPServer",
            name,
            remote(everything),
            labels={"team": "platform" if name == "alpha" else "data"},
        )
    apply(
        crds_installed,
        namespace,
        "MCPGroup",
        "platform",
        {"selector": {"matchLabels": {"team": "platform"}}},
    )

    def servers_are(expected: list[str]) -> bool:
        return bool(
            status(crds_installed, namespace, "mcpgroup", "platform").get("servers") == expected
        )

    eventually(lambda: servers_are(["alpha"]), timeout=30, what="the group to select alpha")
    crds_installed.kubectl(
        "label", "-n", namespace, "mcpserver", "beta", "team=platform", "--overwrite"
    )
    eventually(lambda: servers_are(["alpha", "beta"]), timeout=30, what="beta to join")
    crds_installed.kubectl("label", "-n", namespace, "mcpserver", "alpha", "team-")
    eventually(lambda: servers_are(["beta"]), timeout=30, what="alpha to leave")
    crds_installed.kubectl("delete", "-n", namespace, "mcpserver", "beta")
    eventually(lambda: servers_are([]), timeout=30, what="a deleted server to leave")


def test_policy_naming_a_missing_group_is_reported_until_the_group_exists(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    apply(crds_installed, namespace, "MCPServer", "time", remote(everything))
    apply(
        crds_installed,
        namespace,
        "AccessPolicy",
        "developers",
        {
            "subjects": [
                {"kind": "Group", "name": "developers"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "ci"},
            ],
            "rules": [
                {"groups": ["assistant"], "actions": ["list", "call"]},
                {"effect": "deny", "servers": ["t*"], "tools": ["delete_*"], "actions": ["call"]},
            ],
        },
    )

    def unresolved() -> dict[str, Any]:
        found = condition(
            status(crds_installed, namespace, "accesspolicy", "developers"), "ReferencesResolved"
        )
        return found if found.get("status") == "False" else {}

    references = eventually(unresolved, timeout=30, what="ReferencesResolved=False")
    assert references["message"] == (
        f"rule 1 names MCPGroup 'assistant', which does not exist in {namespace}"
    )

    apply(crds_installed, namespace, "MCPGroup", "assistant", {"servers": [{"name": "time"}]})
    crds_installed.wait_ready(namespace, "accesspolicy/developers")
    resolved = status(crds_installed, namespace, "accesspolicy", "developers")
    assert (resolved["subjectCount"], resolved["ruleCount"]) == (2, 2)
    assert (resolved["serverCount"], resolved["groupCount"]) == (1, 1)
    reasons = crds_installed.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=developers",
        "-o",
        "jsonpath={.items[*].reason}",
    ).split()
    assert reasons.count("TargetNotFound") >= 1
    assert "AllTargetsFound" in reasons or "ReferencesResolved" in reasons


def test_printer_columns_show_group_state(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    apply(crds_installed, namespace, "MCPServer", "time", remote(everything))
    apply(crds_installed, namespace, "MCPGroup", "solo", {"servers": [{"name": "time"}]})
    crds_installed.wait_ready(namespace, "mcpserver/time", "mcpgroup/solo")

    def row() -> list[str]:
        lines = crds_installed.kubectl("get", "mcpg", "-n", namespace).splitlines()
        cells = lines[1].split()
        return cells if cells[2] != "0" else []

    cells = eventually(row, timeout=30, what="the group's tool count in kubectl get")
    assert cells[0] == "solo"
    assert cells[1] == "1"
    assert cells[3] == "True"
    assert cells[4] == f"/mcp/{namespace}/solo"
