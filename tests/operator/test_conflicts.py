"""Two writers racing on the same statuses: conflicts are retried, no update is lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.operator_process import start_operator
from tests.testbed.waiting import eventually

SERVERS = 12


@pytest.fixture
def everything(tmp_path: Path) -> Iterator[str]:
    with running_everything_http(tmp_path / "everything") as url:
        yield url


def servers(url: str, include: list[str] | None) -> str:
    tools = {"tools": {"include": include}} if include else {}
    items = [
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": f"racer-{i:02d}"},
            "spec": {"remote": {"url": url}, **tools},
        }
        for i in range(SERVERS)
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def test_two_operators_racing_on_statuses_converge_on_the_newest_spec(
    crds_installed: ControlPlane, namespace: str, tmp_path: Path, everything: str
) -> None:
    # Two standalone operators at once is what an overlapping rollout looks like.
    first = start_operator(crds_installed, tmp_path / "first")
    second = start_operator(crds_installed, tmp_path / "second")
    try:
        crds_installed.kubectl(
            "apply",
            "--server-side",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=servers(everything, None),
            timeout=120,
        )
        crds_installed.wait_ready(namespace, "mcps", "--all", timeout=60)
        crds_installed.kubectl(
            "apply",
            "--server-side",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=servers(everything, ["echo"]),
            timeout=120,
        )

        def converged() -> bool:
            listed = json.loads(
                crds_installed.kubectl("get", "mcps", "-n", namespace, "-o", "json")
            )
            return all(
                item["status"].get("observedGeneration") == item["metadata"]["generation"] == 2
                and [tool["name"] for tool in item["status"].get("tools", [])] == ["echo"]
                for item in listed["items"]
            )

        eventually(converged, timeout=60, what="every status to describe generation 2")
    finally:
        first.stop()
        second.stop()
    conflicts = sum(
        (folder / "operator.log").read_text().count("changed meanwhile (409)")
        for folder in (tmp_path / "first", tmp_path / "second")
    )
    print(f"status conflicts recomputed by the two operators: {conflicts}")
