"""Build the Kubernetes control plane from Go modules at a pinned release.

The tests run against a real ``kube-apiserver``, ``etcd`` and
``kube-controller-manager`` (and use a ``kubectl`` of the same release), but
this machine can reach no download site, only the Go module proxy.  So the
binaries are compiled from the published modules.

``k8s.io/kubernetes`` cannot be built as a plain dependency: its ``go.mod``
requires the ``k8s.io/*`` staging modules at ``v0.0.0`` and points them at
``./staging/...`` with ``replace`` directives, which Go ignores outside the
main module.  The fix is a tiny wrapper module whose own ``replace`` block maps
each staging module to its published twin, ``v0.<minor>.<patch>``.  The block
is generated from the very ``go.mod`` that ``go mod download -json`` returns,
so a version bump needs no hand edits.  etcd has the same shape (its server
module replaces its siblings with ``../api`` and friends) and gets the same
treatment, mapped to the server's own version.

The result lands in ``<cache>/kube/<release>/bin``; a build happens only when a
binary is missing.  ``MCPHUB_KUBE_ASSETS`` names a folder of prebuilt binaries
instead, for users who have them (as envtest's ``KUBEBUILDER_ASSETS`` does).

Run ``python -m tests.testbed.kube_build`` to build ahead of time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.errors import TestbedError
from tests.testbed.paths import cache_dir

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
ASSETS_ENV = "MCPHUB_KUBE_ASSETS"
BUILD_TIMEOUT_SECONDS = 75 * 60

_LOCAL_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.\.?/\S*)\s*$")


@dataclass(frozen=True)
class GoTarget:
    """One wrapper module: the root module to require and the commands to build."""

    name: str
    module: str
    version: str
    staging_version: str
    commands: dict[str, str]  # binary name -> main package
    ldflags: str = "-s -w"


def _kubernetes_target() -> GoTarget:
    major, minor, patch = KUBERNETES_VERSION.lstrip("v").split(".")
    version_pkg = "k8s.io/component-base/version"
    stamp = " ".join(
        f"-X {version_pkg}.{key}={value}"
        for key, value in (
            ("gitVersion", KUBERNETES_VERSION),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    )
    return GoTarget(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=KUBERNETES_VERSION,
        staging_version=f"v0.{minor}.{patch}",
        commands={
            cmd: f"k8s.io/kubernetes/cmd/{cmd}"
            for cmd in ("kube-apiserver", "kube-controller-manager", "kubectl")
        },
        ldflags=f"-s -w {stamp}",
    )


def _etcd_target() -> GoTarget:
    return GoTarget(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=ETCD_VERSION,
        staging_version=ETCD_VERSION,
        commands={"etcd": "go.etcd.io/etcd/server/v3"},
    )


def release_dir() -> Path:
    return cache_dir() / "kube" / f"{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}"


def assets_dir() -> Path:
    """The folder that holds the four binaries, prebuilt or built here."""
    configured = os.environ.get(ASSETS_ENV)
    return Path(configured).resolve() if configured else release_dir() / "bin"


def missing_binaries(folder: Path) -> list[str]:
    return [name for name in BINARIES if not os.access(folder / name, os.X_OK)]


def require_assets() -> Path:
    """Return the binaries' folder or explain exactly how to get them."""
    folder = assets_dir()
    missing = missing_binaries(folder)
    if missing:
        origin = (
            f"{ASSETS_ENV}={folder}" if os.environ.get(ASSETS_ENV) else f"the build cache {folder}"
        )
        raise TestbedError(
            f"Kubernetes binaries missing from {origin}: {', '.join(missing)}. "
            "Build them with `python -m tests.testbed.kube_build` (needs Go >= 1.26; "
            f"tens of minutes once per machine), or set {ASSETS_ENV} to a folder "
            f"holding {', '.join(BINARIES)}."
        )
    return folder


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod")
    return env


def go(args: list[str], cwd: Path) -> str:
    go = shutil.which("go")
    if go is None:
        raise TestbedError(
            "The Go toolchain (`go`, version 1.26 or newer) is not on PATH; it is "
            "needed once to build the Kubernetes control plane for the tests. "
            f"Install Go, or set {ASSETS_ENV} to a folder of prebuilt binaries "
            f"({', '.join(BINARIES)})."
        )
    try:
        done = subprocess.run(
            [go, *args],
            cwd=cwd,
            env=_go_env(),
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


def staging_replacements(go_mod: str, staging_version: str) -> dict[str, str]:
    """Map every module that ``go_mod`` replaces with a local path to a version.

    Only path replacements matter: they name sibling modules that exist on the
    proxy under the same release.  Placeholders such as etcd's
    ``./FORBIDDEN_DEPENDENCY`` are guards, not dependencies, and are dropped.
    """
    replacements: dict[str, str] = {}
    in_block = False
    for line in go_mod.splitlines():
        stripped = line.split("//", 1)[0].strip()
        if stripped == "replace (":
            in_block = True
            continue
        if in_block and stripped == ")":
            in_block = False
            continue
        if not (in_block or stripped.startswith("replace ")):
            continue
        match = _LOCAL_REPLACE.match(stripped)
        if match and "FORBIDDEN" not in match.group(2):
            replacements[match.group(1)] = staging_version
    return replacements


def _wrapper_go_mod(target: GoTarget, replacements: dict[str, str]) -> str:
    lines = [
        f"module mcphub.dev/testbed/build-{target.name}",
        "",
        "go 1.26",
        "",
        f"require {target.module} {target.version}",
        "",
        "replace (",
        *(f"\t{mod} => {mod} {ver}" for mod, ver in sorted(replacements.items())),
        ")",
        "",
    ]
    return "\n".join(lines)


def build_target(target: GoTarget, bin_dir: Path) -> None:
    work = release_dir() / f"src-{target.name}"
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(go(["mod", "download", "-json", f"{target.module}@{target.version}"], work))
    go_mod = Path(info["GoMod"]).read_text()
    replacements = staging_replacements(go_mod, target.staging_version)
    (work / "go.mod").write_text(_wrapper_go_mod(target, replacements))
    (work / "go.sum").touch()
    bin_dir.mkdir(parents=True, exist_ok=True)
    for binary, package in target.commands.items():
        output = bin_dir / binary
        print(f"building {binary} from {target.module}@{target.version}", flush=True)
        go(
            [
                "build",
                "-trimpath",
                "-tags",
                "selinux,notest",
                "-ldflags",
                target.ldflags,
                "-o",
                str(output),
                package,
            ],
            work,
        )


def ensure_built() -> Path:
    """Build whatever binary is missing; return the binaries' folder."""
    if os.environ.get(ASSETS_ENV):
        return require_assets()
    bin_dir = release_dir() / "bin"
    missing = set(missing_binaries(bin_dir))
    for target in (_etcd_target(), _kubernetes_target()):
        if missing & target.commands.keys():
            build_target(target, bin_dir)
    return require_assets()


def main() -> int:
    try:
        folder = ensure_built()
    except TestbedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"control plane binaries ready in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
