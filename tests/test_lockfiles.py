"""The lock files: every dependency pinned, hashed, consistent, and installed as locked.

``requirements.lock`` (what the images and ``make run`` install) and
``requirements-dev.lock`` (plus the checks and the test bed) are made by
``make lock`` with uv; re-resolving needs a package index, so these tests
check offline what a stale or hand-edited lock would get wrong.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.testbed.paths import REPO_ROOT

RUN_LOCK = REPO_ROOT / "requirements.lock"
DEV_LOCK = REPO_ROOT / "requirements-dev.lock"
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


@dataclass(frozen=True)
class Pin:
    version: str
    marker: Marker | None
    hashes: int


def pins(lock: Path) -> dict[str, Pin]:
    """Each locked package by canonical name, with its marker and how many hashes it carries."""
    found: dict[str, Pin] = {}
    current: str | None = None
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match["name"])
            marker = Marker(match["marker"]) if match["marker"] else None
            found[current] = Pin(match["version"], marker, 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            pin = found[current]
            found[current] = Pin(pin.version, pin.marker, pin.hashes + 1)
        elif not line.startswith(" "):
            current = None
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    listed = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(spec) for spec in listed]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [(RUN_LOCK, declared()), (DEV_LOCK, declared() + declared("dev"))],
    ids=["run", "dev"],
)
def test_every_declared_dependency_is_locked_at_a_version_it_allows(
    lock: Path, requirements: list[Requirement]
) -> None:
    locked = {name: pin.version for name, pin in pins(lock).items()}
    versions = {str(req): locked.get(canonicalize_name(req.name)) for req in requirements}
    missing = [req for req, version in versions.items() if version is None]
    stale = [
        f"{req} (locked: {version})"
        for req, version in versions.items()
        if version is not None
        and not Requirement(req).specifier.contains(version, prereleases=True)
    ]
    assert (missing, stale) == ([], []), "pyproject.toml changed: run `make lock`"


@pytest.mark.parametrize("lock", [RUN_LOCK, DEV_LOCK], ids=["run", "dev"])
def test_every_pin_carries_hashes(lock: Path) -> None:
    locked = pins(lock)
    assert len(locked) > 20
    assert [name for name, pin in locked.items() if pin.hashes == 0] == []


def test_the_dev_lock_keeps_every_runtime_version() -> None:
    run, dev = pins(RUN_LOCK), pins(DEV_LOCK)
    assert {name: dev[name].version for name in run if name in dev} == {
        name: pin.version for name, pin in run.items()
    }


def test_the_environment_running_the_tests_was_installed_from_the_lock() -> None:
    wrong = {}
    for name, pin in pins(DEV_LOCK).items():
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        installed = importlib.metadata.version(name)
        if installed != pin.version:
            wrong[name] = (installed, pin.version)
    assert wrong == {}, "the virtual environment drifted from the lock: rerun make"
