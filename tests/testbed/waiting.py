"""Waiting for the cluster to converge, with a deadline and a useful failure.

The test bed's modules are also imported by ``make run`` (which installs the
MCP servers with the runtime dependencies only), so nothing here imports
pytest: a timeout is an :class:`AssertionError`, which pytest reports as the
test's failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """What was awaited did not happen in time."""


def eventually(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy; fail the test after ``timeout`` s.

    Exceptions from ``check`` count as "not yet"; the last one is quoted on failure.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() > deadline:
            message = f"timed out after {timeout} s waiting for {what}; last: {last!r}"
            raise WaitTimeoutError(message)
        time.sleep(every)
