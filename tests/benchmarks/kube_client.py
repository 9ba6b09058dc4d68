"""Benchmark: mcphub's own Kubernetes client against ``kubernetes_asyncio``, same run.

Run on demand (needs ``pip install kubernetes_asyncio``, which mcphub does not
depend on):

    .venv/bin/python -m tests.benchmarks.kube_client --objects 300

A real control plane holds ``--objects`` MCPServers; each client then reads
every one of them (16 requests in flight, as the operator's pass does), lists
them all, and merge-patches every status, and the run reports the wall time
of each and the ratio of the library's to ours.  Each client also runs in a
fresh interpreter to report its import time and the memory it adds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcphub_runtime.kube import KubeClient, connection, resource_path
from tests.testbed.kube import ControlPlane, running_control_plane
from tests.testbed.paths import REPO_ROOT

GROUP, VERSION, PLURAL, NAMESPACE = "mcphub.dev", "v1alpha1", "mcpservers", "bench"
IN_FLIGHT = 16

_FOOTPRINT = """
import time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss()
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
print(round(elapsed * 1000), round((rss() - before) / 1024, 1))
"""


def footprint(module: str) -> dict[str, float]:
    """Import time (ms) and resident memory added (MB) by importing ``module``, fresh."""
    done = subprocess.run(
        [sys.executable, "-c", _FOOTPRINT.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    milliseconds, megabytes = done.stdout.split()
    return {"import_ms": float(milliseconds), "import_rss_mb": float(megabytes)}


async def bounded(calls: list[Callable[[], Awaitable[Any]]]) -> float:
    """Seconds to run ``calls`` with ``IN_FLIGHT`` of them at a time."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with slots:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one(call) for call in calls))
    return time.perf_counter() - started


async def ours(plane: ControlPlane, names: list[str]) -> dict[str, float]:
    os.environ["KUBECONFIG"] = str(plane.kubeconfig)
    client = KubeClient(connection(), "bench", concurrency=IN_FLIGHT)
    api = f"{GROUP}/{VERSION}"
    try:
        paths = [resource_path(api, PLURAL, NAMESPACE, name) for name in names]
        read = await bounded([functools.partial(client.get, path) for path in paths])
        started = time.perf_counter()
        await client.list(resource_path(api, PLURAL, NAMESPACE))
        listed = time.perf_counter() - started
        objects = [await client.get(path) for path in paths]
        patched = await bounded(
            [
                functools.partial(
                    client.patch_status,
                    path,
                    {"toolCount": 1},
                    (obj or {})["metadata"]["resourceVersion"],
                )
                for path, obj in zip(paths, objects, strict=True)
            ]
        )
    finally:
        await client.close()
    return {"get_s": read, "list_s": listed, "patch_status_s": patched}


async def library(plane: ControlPlane, names: list[str]) -> dict[str, float]:
    from kubernetes_asyncio import client, config  # noqa: PLC0415 - not a dependency

    await config.load_kube_config(config_file=str(plane.kubeconfig))
    async with client.ApiClient() as session:
        api = client.CustomObjectsApi(session)
        read = await bounded(
            [
                functools.partial(
                    api.get_namespaced_custom_object, GROUP, VERSION, NAMESPACE, PLURAL, name
                )
                for name in names
            ]
        )
        started = time.perf_counter()
        await api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
        listed = time.perf_counter() - started
        patched = await bounded(
            [
                functools.partial(
                    api.patch_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    name,
                    {"status": {"toolCount": 2}},
                    _content_type="application/merge-patch+json",
                )
                for name in names
            ]
        )
    return {"get_s": read, "list_s": listed, "patch_status_s": patched}


def run(objects: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="mcphub-bench-") as tmp,
        running_control_plane(Path(tmp) / "kube") as plane,
    ):
        plane.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "crds"))
        plane.kubectl("wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}")
        plane.kubectl("create", "namespace", NAMESPACE)
        names = [f"server-{i:04d}" for i in range(objects)]
        items = [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MCPServer",
                "metadata": {"name": name},
                "spec": {"remote": {"url": "http://127.0.0.1:9/mcp"}},
            }
            for name in names
        ]
        plane.kubectl(
            "apply", "--server-side", "-n", NAMESPACE, "-f", "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
            timeout=300,
        )  # fmt: skip
        # Twice each, alternating, the first round as a warm-up.
        for _ in range(2):
            mine = asyncio.run(ours(plane, names))
            theirs = asyncio.run(library(plane, names))
    report: dict[str, Any] = {"objects": objects}
    for key in mine:
        report[key] = {
            "mcphub": round(mine[key], 3),
            "kubernetes_asyncio": round(theirs[key], 3),
            "ratio": round(theirs[key] / mine[key], 2),
        }
    report["footprint"] = {
        "mcphub": footprint("mcphub_runtime.kube"),
        "kubernetes_asyncio": footprint("kubernetes_asyncio.client"),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(run(args.objects)))


if __name__ == "__main__":
    main()
