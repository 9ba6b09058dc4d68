"""A child that fails or hangs is reported with its output, never waited on forever."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.testbed.errors import TestbedError
from tests.testbed.processes import ManagedProcess, free_port, port_is_open


def test_child_that_exits_early_is_reported_with_its_exit_code_and_output(
    tmp_path: Path,
) -> None:
    child = ManagedProcess(
        "crasher",
        [sys.executable, "-c", "import sys; print('no config given'); sys.exit(3)"],
        log_dir=tmp_path,
    )
    with pytest.raises(TestbedError, match=r"crasher exited with code 3") as failure:
        child.wait_until(lambda: False, timeout=30, what="never")
    assert "no config given" in str(failure.value)


def test_child_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    child = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], log_dir=tmp_path
    )
    started = time.monotonic()
    with pytest.raises(TestbedError, match=r"sleeper did not become ready \(port\) within 1 s"):
        child.wait_until(lambda: False, timeout=1, what="port")
    assert time.monotonic() - started < 15
    assert child.exit_code() is not None


def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TestbedError, match="could not start ghost"):
        ManagedProcess("ghost", [tmp_path / "no-such-binary"], log_dir=tmp_path)


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    port = free_port()
    child = ManagedProcess(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, socket, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"s = socket.create_server(('127.0.0.1', {port}))\n"
            "time.sleep(600)\n",
        ],
        log_dir=tmp_path,
    )
    child.wait_until(lambda: port_is_open(port), timeout=30, what="listening")
    child.stop(grace=0.5)
    assert child.exit_code() is not None
    assert not port_is_open(port)
