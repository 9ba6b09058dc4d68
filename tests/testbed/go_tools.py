"""Command-line tools the deploy tests run, compiled from Go modules at pinned versions.

This machine reaches the Go module proxy but no download site, so the tools
that check the shipped deployment files are built the way the control plane
is (:mod:`tests.testbed.kube_build`), each with ``go install MODULE/CMD@VERSION``:

* ``helm`` lints and renders the chart (``manifests/helm/mcphub``);
* ``glua`` is gopher-lua's interpreter, the Lua that Argo CD runs resource
  health checks in, so the shipped check runs here as it runs there;
* ``starlark`` is the Go Starlark interpreter Tilt embeds; it executes the
  Tiltfile against stand-ins of Tilt's functions (Tilt itself is not on the
  module proxy, see ``tests/manifests/tiltfile_stubs.star``);
* ``promtool`` checks and unit-tests the alert rules and parses the Grafana
  dashboard's queries (``manifests/monitoring``) with Prometheus' own parser.

Each lands in ``<cache>/go-tools/<name>-<version>/``; a build happens only
when the binary is missing (helm: about 12 minutes on two busy cores, cold;
promtool: 8.5; glua and starlark: seconds).
``MCPHUB_GO_TOOLS`` names a folder of prebuilt binaries instead, as
``MCPHUB_KUBE_ASSETS`` does for the control plane.

``python -m tests.testbed.install`` builds them with the rest of the test bed.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.errors import TestbedError
from tests.testbed.golang import go_env, run_go
from tests.testbed.paths import cache_dir

TOOLS_ENV = "MCPHUB_GO_TOOLS"


@dataclass(frozen=True)
class GoTool:
    """One binary: the main package to install and the module version to take it from."""

    name: str
    package: str
    version: str
    ldflags: str = "-s -w"
    tags: str = ""

    def folder(self) -> Path:
        return cache_dir() / "go-tools" / f"{self.name}-{self.version}"


HELM = GoTool(
    "helm",
    "helm.sh/helm/v3/cmd/helm",
    "v3.22.1",
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.1",
)
# The version Argo CD's own go.mod requires.
GLUA = GoTool("glua", "github.com/yuin/gopher-lua/cmd/glua", "v1.1.1")
STARLARK = GoTool("starlark", "go.starlark.net/cmd/starlark", "v0.0.0-20260908191801-89a6a09411d5")
# Prometheus 3.16's module version.  Without the service discoveries of every
# cloud (Prometheus' own build tag for that): promtool's rule commands never use
# them, and their SDKs made the build 33 minutes instead of 8.5.
PROMTOOL = GoTool(
    "promtool", "github.com/prometheus/prometheus/cmd/promtool", "v0.316.0", tags="remove_all_sd"
)
TOOLS = (HELM, GLUA, STARLARK, PROMTOOL)


def binary(tool: GoTool) -> Path:
    """The tool's executable, prebuilt or built here; a fix-it error when missing."""
    configured = os.environ.get(TOOLS_ENV)
    path = (Path(configured) if configured else tool.folder()) / tool.name
    if not os.access(path, os.X_OK):
        origin = f"{TOOLS_ENV}={configured}" if configured else f"the build cache {tool.folder()}"
        raise TestbedError(
            f"{tool.name} is missing from {origin}. Build it with "
            f"`python -m tests.testbed.install` (needs Go >= 1.26; minutes, once), "
            f"or set {TOOLS_ENV} to a folder holding {', '.join(t.name for t in TOOLS)}."
        )
    return path


def run(
    tool: GoTool, *args: str, cwd: Path | None = None, timeout: float = 120, stderr: bool = False
) -> str:
    """Run the tool; its stdout (or stderr, where Starlark prints), else a TestbedError."""
    done = subprocess.run(
        [str(binary(tool)), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise TestbedError(
            f"{tool.name} {' '.join(args)} failed (exit {done.returncode}):\n"
            f"{(done.stdout + done.stderr)[-4000:]}"
        )
    return done.stderr if stderr else done.stdout


def build(tool: GoTool) -> Path:
    folder = tool.folder()
    folder.mkdir(parents=True, exist_ok=True)
    print(f"building {tool.name} from {tool.package}@{tool.version}", flush=True)
    tags = ["-tags", tool.tags] if tool.tags else []
    run_go(
        ["install", "-trimpath", "-ldflags", tool.ldflags, *tags, f"{tool.package}@{tool.version}"],
        folder,
        env=go_env(GOBIN=str(folder)),
        fallback=f"set {TOOLS_ENV} to a folder of prebuilt {', '.join(t.name for t in TOOLS)}",
    )
    return folder / tool.name


def ensure_built() -> dict[str, float]:
    """Build whatever tool is missing; seconds spent per tool built."""
    spent: dict[str, float] = {}
    if os.environ.get(TOOLS_ENV):
        for tool in TOOLS:
            binary(tool)
        return spent
    for tool in TOOLS:
        if not os.access(tool.folder() / tool.name, os.X_OK):
            started = time.monotonic()
            build(tool)
            spent[tool.name] = round(time.monotonic() - started, 1)
    return spent
