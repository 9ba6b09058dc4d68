"""Running a plan with any of the three client implementations."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.clients.plans import Driven, Kind, Plan, Report
from tests.clients.sdk2 import driving_sdk2
from tests.testbed.install import node_dir, sdk1_client_venv
from tests.testbed.mcp_servers import node22

_HERE = Path(__file__).resolve().parent
_REPORT_SECONDS = 60.0


class _Script:
    """A plan run by another implementation's client, in a process of its own."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self._process = process
        self._log = log
        self._report: Report | None = None

    async def _event(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            await self._process.wait()
            raise AssertionError(
                f"the client exited ({self._process.returncode}) without a report:\n"
                + self._log.read_text(errors="replace")[-4000:]
            )
        event: dict[str, Any] = json.loads(line)
        return event

    async def reached(self, label: str) -> Report:
        event = await asyncio.wait_for(self._event(), _REPORT_SECONDS)
        assert (event.get("event"), event.get("label")) == ("waiting", label), event
        return Report(event["results"], event["notifications"], event["requests"])

    def go(self, given: str = "") -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(given.encode() + b"\n")

    async def report(self) -> Report:
        if self._report is None:
            event = await asyncio.wait_for(self._event(), _REPORT_SECONDS)
            assert event.get("event") == "report", event
            self._report = Report(event["results"], event["notifications"], event["requests"])
        return self._report

    async def stop(self) -> None:
        if self._process.returncode is None:
            self._process.kill()
        await self._process.wait()


def _argv(kind: Kind, plan: Plan) -> list[str]:
    if kind == "sdk1":
        return [str(sdk1_client_venv() / "bin" / "python"), str(_HERE / "sdk1_client.py")]
    return [str(node22()), str(_HERE / "ts_client.mjs")]


@asynccontextmanager
async def driving(kind: Kind, plan: Plan, log_dir: Path) -> AsyncIterator[Driven]:
    """Run ``plan`` with the client of ``kind``; stopped, if it still runs, on the way out."""
    if kind == "sdk2":
        async with driving_sdk2(plan) as driven:
            yield driven
        return
    if plan.transport == "modern":
        raise ValueError(f"the {kind} client does not speak MCP 2026-07-28")
    log = log_dir / f"{kind}-client.log"
    env = {**os.environ, "MCPHUB_NODE_MODULES": str(node_dir() / "node_modules")}
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *_argv(kind, plan),
            plan.to_json(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    script = _Script(process, log)
    try:
        yield script
    finally:
        await script.stop()
