"""Benchmark: what an idle session costs the hub, and whether opening one slows as they pile up.

Run on demand (not part of the test suite); it prints its figures as JSON:

    .venv/bin/python -m tests.benchmarks.idle_sessions [--sessions 1000]

A real hub process (standalone, serving mcp-server-time as its one stdio
server, anonymous callers allowed everything) is sent raw streamable HTTP by
one client: for each session ``initialize``, ``notifications/initialized`` and
one ``tools/list`` -- what an SDK client does on connect -- and then nothing:
no GET stream, no DELETE, so that the session stays open and idle.

* **Memory per idle session.**  The hub's resident set (``VmRSS``) is read
  after a warm-up of sessions (so that allocator arenas, caches and the
  first-use imports are paid for), then after half and after all of the
  sessions; the cost is the slope between the two, in KB per session, which
  leaves out whatever a fixed amount the first half still paid.  Target:
  under 10 KB.
* **Opening time.**  The ``initialize`` latency of the first and of the last
  tenth of the sessions, and their ratio: when opening a session costs the
  same whatever is already open, the ratio stays near 1 (it grew with the
  number of sessions while every ``initialize`` looked at all of them for
  idle ones).

The hub runs with limits raised above the session count (when it has limits:
the benchmark also runs against checkouts that predate them).  Only loopback
traffic; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import aiohttp

from tests.benchmarks.hub_overhead import hub_process, ms, stdio_server
from tests.hub_proxy.bridge_process import INITIALIZE, JSON_AND_SSE, command_of
from tests.testbed.mcp_servers import time_stdio
from tests.testbed.paths import REPO_ROOT

TARGET_KB_PER_SESSION: Final = 10.0
READY_SECONDS: Final = 120.0
INITIALIZED: Final = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST: Final = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def limit_flags(sessions: int) -> list[str]:
    """Flags raising the hub's session limits above ``sessions``, where the hub has them."""
    helped = subprocess.run(
        [sys.executable, "-m", "hub_proxy", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=True,
    ).stdout
    if "--max-sessions-per-principal" not in helped:
        return []
    room = str(2 * sessions)
    return ["--max-sessions", room, "--max-sessions-per-principal", room]


async def open_idle_session(http: aiohttp.ClientSession, url: str) -> float:
    """Open one session the way an SDK client connects, leave it idle; initialize's latency."""
    headers = {"Accept": JSON_AND_SSE, "Content-Type": "application/json"}
    started = time.perf_counter()
    async with http.post(url, data=json.dumps(INITIALIZE), headers=headers) as answer:
        await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"initialize answered {answer.status}: {await answer.text()}")
        headers["Mcp-Session-Id"] = answer.headers["Mcp-Session-Id"]
    latency = time.perf_counter() - started
    headers["MCP-Protocol-Version"] = str(INITIALIZE["params"]["protocolVersion"])  # type: ignore[index]
    for message in (INITIALIZED, LIST):
        async with http.post(url, data=json.dumps(message), headers=headers) as answer:
            await answer.read()
            if answer.status not in (200, 202):
                raise RuntimeError(f"{message} answered {answer.status}")
    return latency


async def measure(url: str, pid: int, sessions: int, warmup: int) -> dict[str, Any]:
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for _ in range(warmup):
            await open_idle_session(http, url)
        await asyncio.sleep(1.0)
        before = rss_kb(pid)
        half = sessions // 2
        for n in range(sessions):
            latencies.append(await open_idle_session(http, url))
            if n + 1 == half:
                await asyncio.sleep(1.0)
                middle = rss_kb(pid)
        await asyncio.sleep(1.0)
        after = rss_kb(pid)
    tenth = max(1, sessions // 10)
    first, last = statistics.median(latencies[:tenth]), statistics.median(latencies[-tenth:])
    per_session = (after - middle) / (sessions - half)
    return {
        "sessions": sessions,
        "rss_kb": {"before": before, "half": middle, "after": after},
        "kb_per_idle_session": round(per_session, 2),
        "kb_per_idle_session_whole_run": round((after - before) / sessions, 2),
        "target_kb_per_session": TARGET_KB_PER_SESSION,
        "meets_target": per_session < TARGET_KB_PER_SESSION,
        "initialize_p50_ms": {"first_tenth": ms(first), "last_tenth": ms(last)},
        "initialize_last_over_first": round(last / first, 2),
    }


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    config = work / "config"
    config.mkdir()
    (config / "time.yaml").write_text(stdio_server("time", command_of(time_stdio())))
    flags = limit_flags(args.sessions + args.warmup)
    with hub_process(config, work, READY_SECONDS, flags) as (port, hub):
        url = f"http://127.0.0.1:{port}/mcp"
        return await measure(url, hub.pid, args.sessions, args.warmup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000, help="idle sessions to open")
    parser.add_argument("--warmup", type=int, default=100, help="sessions opened before measuring")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idle-sessions-") as work:
        figures = asyncio.run(run(args, Path(work)))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
