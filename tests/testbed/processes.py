"""Child processes of the test bed: started bounded, stopped for sure.

Every server the tests start goes through :class:`ManagedProcess`, which

* logs the child's output to a file, so a failure can quote its last lines;
* asks the kernel to kill the child when the test runner dies
  (``PR_SET_PDEATHSIG``), so even a ``kill -9`` of pytest leaves no orphan;
* waits for readiness with a deadline and reports a child that exited early;
* stops with SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.testbed.errors import TestbedError

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_CHARS = 3000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ManagedProcess:
    """One long-running child with its own log file and process group."""

    def __init__(
        self,
        name: str,
        args: Sequence[str | Path],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = [str(arg) for arg in args]
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        try:
            self._popen = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - the child calls only prctl
            )
        except OSError as exc:
            self._log.close()
            raise TestbedError(f"could not start {name} ({self.args[0]}): {exc}") from exc

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exit_code(self) -> int | None:
        return self._popen.poll()

    def log_tail(self) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return text[-_LOG_TAIL_CHARS:]

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll ``ready`` until true; fail fast if the child exits, slow if it hangs."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.exit_code()
            if code is not None:
                raise TestbedError(
                    f"{self.name} exited with code {code} before {what}; "
                    f"last output ({self.log_path}):\n{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                message = (
                    f"{self.name} did not become ready ({what}) within {timeout:.0f} s; "
                    f"last output ({self.log_path}):\n{self.log_tail()}"
                )
                self.stop()
                raise TestbedError(message)
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> None:
        if self._popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._popen.wait(timeout=grace)
        self._log.close()

    def kill(self) -> None:
        """SIGKILL at once, as a node failure or an OOM kill would."""
        self._signal_group(signal.SIGKILL)
        self._popen.wait(timeout=30)
        self._log.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
