"""Benchmark: how long the dashboard's overview takes to render in the browser, at scale.

The hub serves 200 remote MCP servers with 25 tools each (5,000 tools, all
from one process, see :mod:`tests.benchmarks.many_tools_server`); Debian's
Chromium, driven as in the browser tests, loads ``/ui/`` again and again,
and the browser's own Navigation Timing says how long each load took: from
the request's start to the end of the ``load`` event (the server renders
every row, the browser lays them out and runs the script).  A live update
(the script fetching and swapping the server table) is timed in the page as
well.  Target: the overview under 1 s.  Figures are printed, not asserted.

    .venv/bin/python -m tests.benchmarks.dashboard_render [--servers 200 --tools 25 --loads 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from selenium.webdriver.common.by import By

from tests.benchmarks.hub_overhead import remote_server, running_hub
from tests.hub_proxy.dashboard.browser import running_browser, wait_for
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open

TARGET_SECONDS: Final = 1.0
START_SECONDS: Final = 30.0

NAVIGATION = """
const [entry] = performance.getEntriesByType('navigation');
return {
  response_ms: entry.responseEnd - entry.startTime,
  dom_content_loaded_ms: entry.domContentLoadedEventEnd - entry.startTime,
  load_ms: entry.loadEventEnd - entry.startTime,
  transfer_bytes: entry.transferSize,
};
"""
LIVE_UPDATE = """
const done = arguments[arguments.length - 1];
const region = document.getElementById('servers');
const started = performance.now();
fetch(region.dataset.fragment, {credentials: 'same-origin'}).then(r => r.text()).then(html => {
  const nodes = new DOMParser().parseFromString(html, 'text/html').body.childNodes;
  region.replaceChildren(...nodes);
  const rows = region.querySelectorAll('tr[data-server]').length;
  requestAnimationFrame(() => done([performance.now() - started, rows]));
});
"""


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "max_ms": round(ordered[-1], 1),
        "min_ms": round(ordered[0], 1),
    }


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    port = free_port()
    upstream = ManagedProcess(
        "many-tools",
        [
            sys.executable,
            "-m",
            "tests.benchmarks.many_tools_server",
            "--port",
            str(port),
            "--servers",
            str(args.servers),
            "--tools",
            str(args.tools),
        ],
        log_dir=work,
        cwd=REPO_ROOT,
    )
    try:
        upstream.wait_until(lambda: port_is_open(port), timeout=START_SECONDS, what="listening")
        config = work / "config"
        config.mkdir()
        for number in range(args.servers):
            url = f"http://127.0.0.1:{port}/s{number}"
            (config / f"s{number}.yaml").write_text(remote_server(f"server-{number:03d}", url))
        started = time.perf_counter()
        with (
            running_hub(config, work, args.ready_seconds) as hub_port,
            running_browser(work / "profile") as browser,
        ):
            ready = time.perf_counter() - started
            url = f"http://127.0.0.1:{hub_port}/ui/"
            browser.get(url)  # the first visit only gets the cookie
            rows = wait_for(
                browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-server]"), "rows"
            )
            tools = browser.execute_script(
                "return [...document.querySelectorAll('tr[data-server] td:nth-child(4)')]"
                ".reduce((sum, cell) => sum + Number(cell.textContent), 0)"
            )
            loads = []
            for _ in range(args.loads):
                browser.get(url)
                wait_for(
                    browser,
                    lambda d: d.execute_script(
                        "return performance.getEntriesByType('navigation')[0].loadEventEnd > 0"
                    ),
                    "the load event",
                )
                loads.append(browser.execute_script(NAVIGATION))
            updates = [browser.execute_async_script(LIVE_UPDATE) for _ in range(args.loads)]
            assert all(rows == args.servers for _, rows in updates), updates
    finally:
        upstream.stop()
    load_ms = [load["load_ms"] for load in loads]
    return {
        "servers_shown": len(rows),
        "tools_counted": tools,
        "hub_ready_after_s": round(ready, 1),
        "overview_load": summary(load_ms),
        "overview_response": summary([load["response_ms"] for load in loads]),
        "overview_dom_content_loaded": summary([load["dom_content_loaded_ms"] for load in loads]),
        "overview_bytes": loads[-1]["transfer_bytes"],
        "live_update": summary([elapsed for elapsed, _ in updates]),
        "target_ms": TARGET_SECONDS * 1000,
        "meets_target": statistics.median(load_ms) < TARGET_SECONDS * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--tools", type=int, default=25, help="tools per server")
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--ready-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcphub-dashboard-bench-") as tmp:
        print(json.dumps(measure(args, Path(tmp)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
