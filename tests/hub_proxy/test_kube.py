"""The hub's cluster watch sees MCPServers and MCPGroups come and go, on a real API server."""

from __future__ import annotations

import asyncio
import json

import pytest

from hub_proxy.kube import ClusterWatch, Snapshot, connection
from tests.testbed.kube import ControlPlane

SERVER = {
    "apiVersion": "mcphub.dev/v1alpha1",
    "kind": "MCPServer",
    "metadata": {"name": "time"},
    "spec": {"remote": {"url": "http://127.0.0.1:9/mcp"}},
}
GROUP = {
    "apiVersion": "mcphub.dev/v1alpha1",
    "kind": "MCPGroup",
    "metadata": {"name": "all"},
    "spec": {"servers": [{"name": "time"}]},
}


def names(snapshot: Snapshot) -> tuple[list[str], list[str]]:
    return (
        [s.metadata.name for s in snapshot.servers],
        [g.metadata.name for g in snapshot.groups],
    )


async def test_watch_reports_snapshots_as_objects_are_applied_and_deleted(
    crds_installed: ControlPlane, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(crds_installed.kubeconfig))
    seen: asyncio.Queue[tuple[list[str], list[str]]] = asyncio.Queue()

    async def record(snapshot: Snapshot) -> None:
        await seen.put(names(snapshot))

    async def next_matching(expected: tuple[list[str], list[str]]) -> None:
        async with asyncio.timeout(30):
            while await seen.get() != expected:
                pass

    watch = asyncio.create_task(ClusterWatch(connection(), namespace, record).run())
    try:
        await next_matching(([], []))
        for document in (SERVER, GROUP):
            await asyncio.to_thread(
                crds_installed.kubectl,
                "apply",
                "--server-side",
                "-n",
                namespace,
                "-f",
                "-",
                stdin=json.dumps(document),
            )
        await next_matching((["time"], ["all"]))
        await asyncio.to_thread(crds_installed.kubectl, "delete", "-n", namespace, "mcps", "time")
        await next_matching(([], ["all"]))
    finally:
        watch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watch
