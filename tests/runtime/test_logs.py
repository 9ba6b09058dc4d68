"""One log format for the three programs: JSON lines by default, text on request."""

from __future__ import annotations

import json
import logging

from mcphub_runtime.logs import JsonLineFormatter, TextFormatter

KOPF_REFERENCE = {"kind": "MCPServer", "namespace": "team", "name": "time", "uid": "u"}


def record(**extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "kopf.objects", "levelname": "INFO", "msg": "done"})
    made.__dict__.update(extra)
    return made


def test_a_json_line_carries_the_event_its_fields_and_kopfs_object_but_not_kopfs_internals() -> (
    None
):
    line = json.loads(
        JsonLineFormatter().format(
            record(server="time", k8s_ref=KOPF_REFERENCE, k8s_skip=False, settings=object())
        )
    )
    assert line["event"] == "done"
    assert line["level"] == "info"
    assert line["logger"] == "kopf.objects"
    assert line["server"] == "time"
    assert line["object"] == KOPF_REFERENCE
    assert "k8s_skip" not in line
    assert "settings" not in line


def test_a_text_line_names_the_object_and_appends_the_fields() -> None:
    line = TextFormatter().format(record(server="time", k8s_ref=KOPF_REFERENCE))
    assert line.endswith('INFO kopf.objects [team/time] done server="time"')
