"""The logs of every mcphub program: ``--log-level``, ``--log-format``, one JSON line format.

In a cluster, logs end up in whatever collects them, and one object per line,
the event's details as fields rather than prose, is what collectors index
without a parsing rule; it still reads fine in ``kubectl logs``.  So the hub,
the bridge and the operator write the same JSON lines by default::

    {"time": "2026-01-01T10:00:00.123+00:00", "level": "info", "logger": "...",
     "event": "what happened", ...fields given with ``extra=``...}

and ``--log-format text`` gives people at a terminal one plain line instead.
kopf logs each object's events with the object's reference attached; the
JSON line carries it as ``object`` (as kopf's own JSON format does), a text
line as a ``[namespace/name]`` prefix (as kopf's text format does).

The formatter is the hub's hot path's: the hub logs an audit line for every
call it authorizes, so it builds its encoder once and formats the time's
seconds once a second.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from typing import Any, Final, Literal

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# What kopf puts on its records besides the object's reference: internals, not events.
_KOPF_INTERNAL: Final = frozenset({"k8s_skip", "settings"})
_KOPF_REFERENCE: Final = "k8s_ref"
_SKIPPED: Final = _STANDARD | _KOPF_INTERNAL | {_KOPF_REFERENCE}

LEVELS: Final = ("debug", "info", "warning", "error")
Format = Literal["json", "text"]
FORMATS: Final[tuple[Format, ...]] = ("json", "text")

# ``json.dumps`` with any non-default option builds a new encoder per call.
_ENCODE: Final = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the record carries besides the standard attributes: ``extra=`` and kopf's object."""
    fields = {key: value for key, value in vars(record).items() if key not in _SKIPPED}
    reference = getattr(record, _KOPF_REFERENCE, None)
    if reference is not None:
        fields["object"] = reference
    return fields


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
        entry.update(_fields(record))
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


class TextFormatter(logging.Formatter):
    """One line for people: time, level, logger, ``[namespace/name]``, event, then fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        reference = fields.pop("object", None)
        if isinstance(reference, dict):
            where = "/".join(
                str(part) for part in (reference.get("namespace"), reference.get("name")) if part
            )
            head, _, rest = line.partition(f"{record.name} ")
            line = f"{head}{record.name} [{where}] {rest}"
        extras = " ".join(f"{key}={_ENCODE(value)}" for key, value in fields.items())
        return f"{line} {extras}" if extras else line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format``, the same in every program."""
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info",
        help="least severe level logged (default: info)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="json",
        help="json: one JSON object per line, for log collectors (default); text: for people",
    )


def configure(level: str = "info", log_format: Format = "json") -> None:
    """Log to stderr at ``level`` in ``log_format``, replacing any earlier set-up."""
    # None of these is written out, and each costs every record something: the
    # caller's frame is found by walking the stack, the process id is a system
    # call.  The hub logs an audit line for every call it authorizes, so this
    # is a third of that line's cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
