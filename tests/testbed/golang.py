"""Running the Go toolchain for the test bed: one environment, one error shape.

Everything the test bed compiles from Go modules (the control plane in
:mod:`tests.testbed.kube_build`, the command-line tools in
:mod:`tests.testbed.go_tools`, the test bed's own small Go programs through
:func:`build_program`) goes through :func:`run_go`, so every build
uses the local toolchain (``GOTOOLCHAIN=local``: nothing is downloaded besides
modules), static binaries (``CGO_ENABLED=0``) and Go's own module and build
caches, and fails with a message that says what to install or set.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.testbed.errors import TestbedError
from tests.testbed.paths import cache_dir

BUILD_TIMEOUT_SECONDS = 75 * 60


def go_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", **extra)
    return env


def run_go(
    args: list[str], cwd: Path, *, env: Mapping[str, str] | None = None, fallback: str
) -> str:
    """``go ARGS`` in ``cwd``; stdout, or a TestbedError naming ``fallback`` as the way out."""
    go = shutil.which("go")
    if go is None:
        raise TestbedError(
            "The Go toolchain (`go`, version 1.26 or newer) is not on PATH; the test bed "
            f"compiles some of its parts from Go modules. Install Go, or {fallback}."
        )
    try:
        done = subprocess.run(
            [go, *args],
            cwd=cwd,
            env=dict(env) if env is not None else go_env(),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(
            f"`go {' '.join(args)}` did not finish within {BUILD_TIMEOUT_SECONDS} s"
        ) from exc
    if done.returncode != 0:
        raise TestbedError(
            f"`go {' '.join(args)}` failed in {cwd} (exit {done.returncode}):\n"
            f"{done.stderr[-4000:]}"
        )
    return done.stdout


def build_program(
    source: Path,
    name: str,
    *,
    flags: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    fallback: str,
) -> Path:
    """The program of ``source`` (``go.mod``, ``go.sum``, ``main.go``) built as ``name``.

    Built into the cache under a fingerprint of those three files, so a change
    of any of them builds anew and anything else finds the binary already there.
    """
    digest = hashlib.sha256()
    for file in ("go.mod", "go.sum", "main.go"):
        digest.update((source / file).read_bytes())
    binary = cache_dir() / source.name / digest.hexdigest()[:16] / name
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        run_go(
            ["build", "-trimpath", *flags, "-o", str(binary), "."],
            source,
            env=env,
            fallback=fallback,
        )
    return binary
