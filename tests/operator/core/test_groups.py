"""A group's readiness follows its members', with reasons that name them."""

from __future__ import annotations

import datetime
from typing import Any

from mcphub_api import MCPGroup
from mcphub_operator.core.conditions import Progress
from mcphub_operator.core.groups import ServerSnapshot, resolve

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def group(spec: dict[str, Any]) -> MCPGroup:
    return MCPGroup.model_validate(
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPGroup",
            "metadata": {"name": "g", "namespace": "ns", "generation": 3},
            "spec": spec,
        }
    )


def server(
    name: str, *, ready: bool, why: str = "Verified", progress: Progress = "Current"
) -> ServerSnapshot:
    return ServerSnapshot(
        name=name, labels={"team": "a"}, tools=("t",), ready=ready, why=why, progress=progress
    )


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_a_group_whose_selector_matches_nothing_is_not_ready_and_stalled() -> None:
    status, _ = resolve(group({"selector": {"matchLabels": {"team": "b"}}}), [], None, NOW)
    found = conditions(status)
    assert found["Ready"] == ("False", "NoMembers")
    assert found["Stalled"] == ("True", "NoMembers")
    assert found["Reconciling"][0] == "False"
    assert status["observedGeneration"] == 3


def test_a_group_with_no_member_ready_says_which_and_why() -> None:
    members = [
        server("a", ready=False, why="Unreachable", progress="Failed"),
        server("b", ready=False, why="PodsNotReady", progress="InProgress"),
    ]
    status, _ = resolve(group({"servers": [{"name": "a"}, {"name": "b"}]}), members, None, NOW)
    found = conditions(status)
    assert found["Ready"] == ("False", "NoMemberReady")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (
        ready["message"] == "0 of 2 members Ready; not Ready: 'a' (Unreachable), 'b' (PodsNotReady)"
    )
    # One member is still on its way up: waiting may help.
    assert found["Reconciling"] == ("True", "NoMemberReady")
    assert found["Stalled"][0] == "False"


def test_a_group_with_a_member_that_will_not_come_up_is_stalled() -> None:
    members = [server("a", ready=True), server("b", ready=False, why="Timeout", progress="Failed")]
    status, _ = resolve(group({"selector": {"matchLabels": {"team": "a"}}}), members, None, NOW)
    found = conditions(status)
    assert found["Ready"] == ("False", "MembersNotReady")
    assert found["MembersReady"] == ("False", "MembersNotReady")
    assert found["Stalled"] == ("True", "MembersNotReady")


def test_a_group_is_ready_when_every_member_is() -> None:
    members = [server("a", ready=True), server("b", ready=True)]
    status, _ = resolve(group({"selector": {"matchLabels": {"team": "a"}}}), members, None, NOW)
    found = conditions(status)
    assert found["Ready"] == ("True", "AllMembersReady")
    assert found["Reconciling"][0] == found["Stalled"][0] == "False"
    assert status["endpoint"] == "/mcp/ns/g"


def test_a_missing_member_is_named_and_stalls_the_group() -> None:
    status, _ = resolve(group({"servers": [{"name": "gone"}]}), [], None, NOW)
    found = conditions(status)
    assert found["MembersResolved"] == ("False", "MemberNotFound")
    assert found["Ready"] == ("False", "MemberNotFound")
    assert found["Stalled"] == ("True", "MemberNotFound")
