"""Benchmark: the latency the hub's hop adds with tracing off, and with tracing on at 100%.

Run on demand (not part of the test suite); it prints its figures as JSON:

    .venv/bin/python -m tests.benchmarks.tracing_overhead [--quick]

One upstream -- server-everything behind the stdio bridge, untraced -- and
three routes to it, measured in the same run with the same client, the routes
interleaved call by call (as :mod:`tests.benchmarks.hub_overhead` does):

* ``direct``: the bridge itself;
* ``hub_tracing_off``: a hub with no ``OTEL_*`` settings, the bridge as its
  remote server;
* ``hub_tracing_on``: a second hub on the same folder, exporting every span
  (``OTEL_TRACES_SAMPLER=always_on``) over OTLP/HTTP to the test bed's
  OpenTelemetry Collector, with the SDK's default batching.

Each hub's added latency is its p50 minus the direct p50; the figure asked for
is the ratio of the two added latencies (on / off), beside the absolute
difference per call.  The Collector's count of the "on" hub's spans shows
that tracing was on (two spans per call: the request and its upstream call).

Only loopback traffic; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import anyio

from tests.benchmarks.hub_overhead import (
    PHASE_SECONDS,
    START_SECONDS,
    hub_process,
    interleaved_latency,
    remote_server,
)
from tests.hub_proxy.bridge_process import command_of, running_bridge
from tests.testbed.mcp_servers import everything_stdio
from tests.testbed.otel_collector import Span, running_collector

HUB_SERVICE: Final = "mcphub-hub"


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    everything = command_of(everything_stdio())
    with contextlib.ExitStack() as stack:
        collector = stack.enter_context(running_collector(work / "otelcol"))
        bridge = stack.enter_context(running_bridge(work / "bridge", command=everything))
        urls = {"direct": bridge.url}
        for route, env in (
            ("hub_tracing_off", None),
            ("hub_tracing_on", {**collector.env(), "OTEL_TRACES_SAMPLER": "always_on"}),
        ):
            config = work / f"{route}-config"
            config.mkdir(parents=True)
            (config / "everything.yaml").write_text(remote_server("everything", bridge.url))
            port, _ = stack.enter_context(hub_process(config, work / route, START_SECONDS, env=env))
            urls[route] = f"http://127.0.0.1:{port}/mcp/everything"
        with anyio.fail_after(PHASE_SECONDS):
            latency = await interleaved_latency(urls, args.calls, args.warmup)
        del latency["_raw"]
        # The on hub's spans, once its exporter's last batch (every 5 s) arrived.
        spans = await _spans_arriving(collector.spans, 2 * (args.calls + args.warmup))
    added = {
        route: round(latency[route]["p50_ms"] - latency["direct"]["p50_ms"], 3)
        for route in ("hub_tracing_off", "hub_tracing_on")
    }
    return {
        "compared": "hub -> MCPServer spec.remote -> bridge -> everything (stdio), tracing off "
        "and on (always_on, OTLP/HTTP to a real Collector)  vs  the bridge called directly",
        "sequential_calls_per_route": args.calls,
        "warmup_calls": args.warmup,
        **latency,
        "added_p50_ms_tracing_off": added["hub_tracing_off"],
        "added_p50_ms_tracing_on": added["hub_tracing_on"],
        "tracing_on_minus_off_p50_ms": round(added["hub_tracing_on"] - added["hub_tracing_off"], 3),
        "added_latency_ratio_on_to_off": round(
            added["hub_tracing_on"] / added["hub_tracing_off"], 2
        )
        if added["hub_tracing_off"] > 0
        else None,
        "spans_received_from_the_on_hub": spans,
    }


async def _spans_arriving(read: Callable[[], list[Span]], expected: int) -> int:
    """How many of the hub's spans the Collector holds, waiting up to 15 s for ``expected``."""
    count = 0
    for _ in range(150):
        count = sum(1 for span in read() if span.service == HUB_SERVICE)
        if count >= expected:
            break
        await asyncio.sleep(0.1)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per route")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="keep logs and configs in this folder")
    parser.add_argument("--quick", action="store_true", help="300 calls per route")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.warmup = 300, 50
    with tempfile.TemporaryDirectory(prefix="mcphub-tracing-bench-") as tmp:
        work = args.keep or Path(tmp)
        result = asyncio.run(measure(args, work))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
