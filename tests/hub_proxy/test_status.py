"""What the hub says about itself: readiness, the authenticated status, and its metrics.

One hub serves a healthy server (mcp-server-time) and one that exits as soon
as it starts, to API keys of two principals: one granted time, one granted
nothing.  Readiness must not depend on the dead server, the probe must name
nothing, and each principal's status shows only what it may see.
"""

from __future__ import annotations

import asyncio
import re
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.hub_proxy.bridge_process import command_of
from tests.hub_proxy.test_access_control import key_secret
from tests.hub_proxy.test_standalone_hub import START_SECONDS, Hub, server_yaml, start_hub
from tests.testbed.mcp_servers import time_stdio
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.waiting import eventually

ALICE_KEY: Final = "mcphub_alice-key-0123456789-0123456789-0123456"
BOB_KEY: Final = "mcphub_bob-key-0123456789-0123456789-012345678"
BROKEN: Final = [sys.executable, "-c", "raise SystemExit(3)"]

POLICY: Final = """
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: alice}
spec:
  subjects: [{kind: APIKey, name: alice}]
  rules: [{servers: [time, broken], actions: [list, call]}]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: bob}
spec:
  subjects: [{kind: APIKey, name: bob}]
  rules:
    - {effect: allow, servers: [time], actions: [list, call]}
    - {effect: deny, servers: [time], actions: [list]}
"""


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    (folder / "broken.yaml").write_text(server_yaml("broken", BROKEN))
    (folder / "policy.yaml").write_text(POLICY)
    (folder / "keys.yaml").write_text(
        key_secret("alice", "default", ALICE_KEY) + "---\n" + key_secret("bob", "default", BOB_KEY)
    )
    return folder


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("status")
    started = start_hub(
        tmp, write_config, args=["--metrics-port", str(metrics_port)], open_access=False
    )
    try:
        yield started
    finally:
        started.process.stop()


def scrape(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
        return text


def sample(metrics: str, name: str, server: str) -> float | None:
    found = re.search(rf'^{name}\{{server="{server}"\}} (\S+)$', metrics, re.MULTILINE)
    return float(found[1]) if found else None


async def test_a_dead_server_leaves_the_hub_ready_and_the_probe_names_nothing(hub: Hub) -> None:
    # start_hub waited for /readyz 200: the broken server did not hold it back.
    code, body = await asyncio.to_thread(hub.readyz)
    assert (code, body) == (200, {"ready": True})


async def test_status_needs_credentials_and_shows_what_the_caller_may_see(hub: Hub) -> None:
    code, body = await asyncio.to_thread(hub.status)
    assert code == 401, body
    code, alice = await asyncio.to_thread(hub.status, {"X-API-Key": ALICE_KEY})
    assert code == 200, alice
    assert set(alice["servers"]) == {"time", "broken"}
    assert alice["servers"]["time"]["ready"] is True
    assert alice["servers"]["broken"]["ready"] is False
    assert alice["servers"]["broken"]["reason"] != "ready"
    # bob may list nothing of time (a deny of everything wins): it is unknown to him.
    code, bob = await asyncio.to_thread(hub.status, {"X-API-Key": BOB_KEY})
    assert code == 200, bob
    assert bob["servers"] == {}


async def test_metrics_count_each_upstream_on_their_own_port(hub: Hub, metrics_port: int) -> None:
    def broken_restarted() -> str:
        metrics = scrape(metrics_port)
        restarts = sample(metrics, "mcphub_upstream_restarts_total", "broken")
        return metrics if restarts is not None and restarts >= 1 else ""

    metrics = await asyncio.to_thread(
        eventually, broken_restarted, timeout=30, what="broken's restarts counted"
    )
    assert sample(metrics, "mcphub_upstream_up", "time") == 1.0
    assert sample(metrics, "mcphub_upstream_up", "broken") == 0.0
    # Not beside the MCP endpoints, where clients reach the hub.
    code, _ = await asyncio.to_thread(hub.get, "/metrics")
    assert code == 404


def test_a_probe_answered_not_ready_is_not_logged_as_a_refusal(tmp_path: Path) -> None:
    """The kubelet asks every few seconds while a server starts: no refusal to log."""

    def hanging(folder: Path) -> Path:
        folder.mkdir(parents=True)
        never_answers = [sys.executable, "-c", "import time; time.sleep(600)"]
        (folder / "slow.yaml").write_text(server_yaml("slow", never_answers))
        return folder

    config = hanging(tmp_path / "config")
    port = free_port()
    argv = [sys.executable, "-m", "hub_proxy", "--config", str(config), "--port", str(port)]
    process = ManagedProcess("hub", argv, log_dir=tmp_path, cwd=REPO_ROOT)
    try:
        process.wait_until(lambda: port_is_open(port), timeout=START_SECONDS, what="listening")
        hub = Hub(process, port)
        # Until the server initializes, or its first minute is over, the hub is not ready.
        assert hub.readyz()[0] == 503
        assert hub.get("/no-such-route")[0] == 404
    finally:
        process.stop()
    log = process.log_path.read_text(errors="replace")
    refusals = [line for line in log.splitlines() if '"event": "request refused"' in line]
    assert [line for line in refusals if "/no-such-route" in line]
    assert not [line for line in refusals if "/readyz" in line]
