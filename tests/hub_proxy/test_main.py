"""The README's run command starts a hub that answers its health check."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from tests.testbed.processes import ManagedProcess, free_port, port_is_open


def test_hub_process_serves_healthz(tmp_path: Path) -> None:
    port = free_port()
    hub = ManagedProcess(
        "hub", [sys.executable, "-m", "hub_proxy", "--port", str(port)], log_dir=tmp_path
    )
    try:
        hub.wait_until(lambda: port_is_open(port), timeout=30, what="listening")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "ok"}
    finally:
        hub.stop()
