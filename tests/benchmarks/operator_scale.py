"""Benchmark: many MCPServers applied at once, until every one is Ready and Verified.

Run on demand (not part of the test suite):

    .venv/bin/python -m tests.benchmarks.operator_scale --servers 200

A real control plane, one real server-everything over streamable HTTP as the
upstream of every MCPServer (remote URL), and the operator as a real process
with its shipped RBAC.  It reports the wall time from the ``kubectl apply`` to
the moment all servers are Ready with ``Verified=True`` (so every one had its
own MCP handshake and tools/list), and the operator's peak resident memory
(``VmHWM``).  Targets: under 60 s and under 200 MB for 200 servers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tests.testbed.kube import ControlPlane, running_control_plane
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.operator_process import start_operator
from tests.testbed.paths import REPO_ROOT


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ready_and_verified(plane: ControlPlane, namespace: str) -> int:
    listed = json.loads(plane.kubectl("get", "mcps", "-n", namespace, "-o", "json", timeout=120))
    count = 0
    for item in listed["items"]:
        conditions = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
        count += conditions.get("Ready") == "True" and conditions.get("Verified") == "True"
    return count


def run(servers: int, deadline: float, keep: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mcphub-bench-") as tmp:
        work = keep or Path(tmp)
        with (
            running_control_plane(work / "kube") as plane,
            running_everything_http(work / "everything") as url,
        ):
            plane.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "crds"))
            for plural in ("mcpservers", "mcpgroups", "accesspolicies"):
                plane.kubectl("wait", "--for=condition=Established", f"crd/{plural}.mcphub.dev")
            plane.kubectl("create", "namespace", "bench")
            operator = start_operator(
                plane, work / "operator", "--verify-interval=30", "--verify-timeout=10"
            )
            try:
                items = [
                    {
                        "apiVersion": "mcphub.dev/v1alpha1",
                        "kind": "MCPServer",
                        "metadata": {"name": f"server-{i:04d}"},
                        "spec": {"remote": {"url": url}},
                    }
                    for i in range(servers)
                ]
                started = time.monotonic()
                plane.kubectl(
                    "apply",
                    "--server-side",
                    "-n",
                    "bench",
                    "-f",
                    "-",
                    stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                    timeout=deadline,
                )
                applied = time.monotonic() - started
                done = 0
                while time.monotonic() - started < deadline:
                    done = ready_and_verified(plane, "bench")
                    if done == servers:
                        break
                    time.sleep(0.5)
                elapsed = time.monotonic() - started
                return {
                    "servers": servers,
                    "ready_and_verified": done,
                    "apply_seconds": round(applied, 1),
                    "all_ready_seconds": round(elapsed, 1) if done == servers else float("inf"),
                    "operator_peak_rss_mb": round(peak_rss_mb(operator.pid), 1),
                }
            finally:
                operator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--deadline", type=float, default=300.0, help="give up after seconds")
    parser.add_argument("--keep", type=Path, help="keep logs and state in this folder")
    args = parser.parse_args()
    print(json.dumps(run(args.servers, args.deadline, args.keep)))


if __name__ == "__main__":
    main()
