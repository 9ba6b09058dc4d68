"""The bridge's logs: one JSON object per line on stderr.

A sidecar's stderr ends up in whatever the cluster collects logs with, next to
the server's own stderr (which the bridge passes through untouched).  One
object per event, with the event's details as fields rather than prose, is
what those collectors index without a parsing rule, and still reads fine in
``kubectl logs``.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Final

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# ``json.dumps`` with any non-default option builds a new encoder per call.
_ENCODE: Final = json.JSONEncoder(default=str, ensure_ascii=False).encode


class JsonLineFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        # The time up to the second changes once a second, not once a line.
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return _ENCODE(entry)

    def _time(self, created: float) -> str:
        """``created`` in ISO 8601, UTC, to the millisecond."""
        second = int(created)
        if second != self._second:
            moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
            self._second, self._second_text = second, moment.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


def configure(level: int = logging.INFO) -> None:
    # None of these is written out, and each costs every record something: the
    # caller's frame is found by walking the stack, the process id is a system
    # call.  The hub logs an audit line for every call it authorizes, so this
    # is a third of that line's cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
