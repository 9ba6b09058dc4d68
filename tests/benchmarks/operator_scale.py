"""Benchmark: many MCPServers applied at once, until every one is Ready and Verified.

Run on demand (not part of the test suite):

    .venv/bin/python -m tests.benchmarks.operator_scale --servers 200

A real control plane, one real server-everything over streamable HTTP as the
upstream of every MCPServer (remote URL), and the operator as a real process
with its shipped RBAC.  It reports the wall time from the ``kubectl apply`` to
the moment all servers are Ready with ``Verified=True`` (so every one had its
own MCP handshake and tools/list), and the operator's peak resident memory
(``VmHWM``), and the API requests made meanwhile, by verb and resource, as the
API server counts them.  Targets: 500 servers under 60 s, under 200 MB with
1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.testbed.kube import ControlPlane, running_control_plane
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.operator_process import start_operator
from tests.testbed.paths import REPO_ROOT


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ready_and_verified(plane: ControlPlane, namespace: str) -> int:
    listed = json.loads(plane.kubectl("get", "mcps", "-n", namespace, "-o", "json", timeout=120))
    count = 0
    for item in listed["items"]:
        conditions = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
        count += conditions.get("Ready") == "True" and conditions.get("Verified") == "True"
    return count


def api_requests(plane: ControlPlane) -> Counter[str]:
    """The API server's count of requests so far, by verb and resource (its own metric)."""
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(plane.kubectl("get", "--raw", "/metrics")):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name != "apiserver_request_total":
                continue
            labels = sample.labels
            resource = "/".join(filter(None, (labels["resource"], labels.get("subresource"))))
            if resource:
                counts[f"{labels['verb']} {resource}"] += int(sample.value)
    return counts


def run(servers: int, deadline: float, keep: Path | None) -> dict[str, Any]:
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
                requests_before = api_requests(plane)
                cpu_before = cpu_seconds(operator.pid)
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
                # The benchmark's own polling (LIST mcpservers) and kubectl's apply are in
                # these counts too; the rest is the operator's (and kopf's).
                made = api_requests(plane) - requests_before
                return {
                    "servers": servers,
                    "ready_and_verified": done,
                    "apply_seconds": round(applied, 1),
                    "all_ready_seconds": round(elapsed, 1) if done == servers else float("inf"),
                    "operator_peak_rss_mb": round(peak_rss_mb(operator.pid), 1),
                    # CPU the operator used from the apply on: near the wall time, it is the
                    # bottleneck; far below, it waits (on the API server, on the servers).
                    "operator_cpu_seconds": round(cpu_seconds(operator.pid) - cpu_before, 1),
                    "api_requests": sum(made.values()),
                    "api_requests_by_kind": dict(made.most_common(12)),
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
