"""The audit trail: a log line per decision (one per list), and a bounded counter."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from hub_proxy.auth.audit import BATCH_SECONDS, DENIED_NAMES_LOGGED, Audit
from hub_proxy.auth.policy import Decision, Item
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from mcphub_runtime.logs import JsonLineFormatter

ALICE = Principal("User", "alice", groups=frozenset({AUTHENTICATED, "dev"}), issuer="https://idp")
ECHO = Item("tool", "everything", ("echo", "say"))
ALLOWED = Decision(True, "team/grant", 0, "matching allow")
DENIED = Decision(False, "team/refuse", 2, "matching deny")
UNCOVERED = Decision(False, None, None, "no matching allow")

METRIC = "mcphub_access_decisions_total"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def audit(registry: CollectorRegistry) -> Audit:
    return Audit(registry)


def count(registry: CollectorRegistry, action: str, decision: str, policy: str) -> float:
    labels = {"action": action, "decision": decision, "policy": policy}
    return registry.get_sample_value(METRIC, labels) or 0.0


def audit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "hub_proxy.audit"]


def test_a_decision_is_logged_with_its_fields_and_counted(
    audit: Audit, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    before = count(registry, "call", "deny", "team/refuse")
    with caplog.at_level(logging.INFO, logger="hub_proxy.audit"):
        audit.record(ALICE, "call", ECHO, DENIED)
    assert count(registry, "call", "deny", "team/refuse") == before + 1
    [record] = audit_records(caplog)
    assert record.getMessage() == "access denied"
    line = json.loads(JsonLineFormatter().format(record))
    assert {key: line[key] for key in line if key not in ("time", "level", "logger", "event")} == {
        "principal": "User:https://idp:alice",
        "groups": sorted([AUTHENTICATED, "dev"]),
        "action": "call",
        "kind": "tool",
        "server": "everything",
        "item": "say",
        "allowed": False,
        "policy": "team/refuse",
        "rule": 2,
        "reason": "matching deny",
    }


def test_an_uncovered_denial_is_counted_under_policy_none(
    audit: Audit, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub_proxy.audit"):
        audit.record(ALICE, "call", ECHO, UNCOVERED)
        audit.record(ALICE, "call", ECHO, ALLOWED)
        audit.record(ALICE, "call", ECHO, ALLOWED)
    assert count(registry, "call", "deny", "none") == 1
    assert count(registry, "call", "allow", "team/grant") == 2
    assert [r.getMessage() for r in audit_records(caplog)] == ["access denied"] + [
        "access allowed"
    ] * 2
    assert audit_records(caplog)[0].__dict__["policy"] is None


def test_a_list_counts_every_decision_and_logs_one_summary(
    audit: Audit, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    tools = [Item("tool", f"s{n % 3}", (f"tool{n}",)) for n in range(50)]
    decisions = [ALLOWED if n < 10 else DENIED if n < 20 else UNCOVERED for n in range(50)]
    with caplog.at_level(logging.INFO, logger="hub_proxy.audit"):
        audit.record_list(ALICE, "tool", list(zip(tools, decisions, strict=True)))
    assert count(registry, "list", "allow", "team/grant") == 10
    assert count(registry, "list", "deny", "team/refuse") == 10
    assert count(registry, "list", "deny", "none") == 30
    [record] = audit_records(caplog)
    line = json.loads(JsonLineFormatter().format(record))
    assert line["event"] == "list filtered"
    assert line["principal"] == "User:https://idp:alice"
    assert line["action"] == "list"
    assert line["kind"] == "tool"
    assert line["servers"] == ["s0", "s1", "s2"]
    assert line["allowed_count"] == 10
    assert line["denied_count"] == 40
    assert line["denied_by"] == {"team/refuse": 10, "none": 30}
    assert len(line["denied_items"]) == DENIED_NAMES_LOGGED
    assert line["denied_items"][:2] == ["s1/tool10", "s2/tool11"]


def test_an_empty_list_is_logged_and_counts_nothing(
    audit: Audit, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub_proxy.audit"):
        audit.record_list(ALICE, "prompt", [])
    [record] = audit_records(caplog)
    assert record.__dict__["denied_count"] == 0
    assert registry.get_sample_value(METRIC, {"action": "list"}) is None


def test_counting_goes_on_while_the_audit_log_is_off(
    audit: Audit, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hub_proxy.audit"):
        audit.record(ALICE, "call", ECHO, ALLOWED)
        audit.record_list(ALICE, "tool", [(ECHO, DENIED)])
    assert audit_records(caplog) == []
    assert count(registry, "call", "allow", "team/grant") == 1
    assert count(registry, "list", "deny", "team/refuse") == 1


def test_the_counter_is_labelled_by_bounded_sets_only(
    audit: Audit, registry: CollectorRegistry
) -> None:
    audit.record(ALICE, "call", ECHO, ALLOWED)
    [family] = [m for m in registry.collect() if m.name == "mcphub_access_decisions"]
    assert {key for sample in family.samples for key in sample.labels} == {
        "action",
        "decision",
        "policy",
    }
    assert not any("alice" in str(sample) or "say" in str(sample) for sample in family.samples)


async def test_in_an_event_loop_lines_are_written_in_a_batch_a_moment_later(
    audit: Audit, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub_proxy.audit"):
        decided = time.time()
        audit.record(ALICE, "call", ECHO, DENIED)
        audit.record_list(ALICE, "tool", [(ECHO, ALLOWED)])
        # Counted at once; the lines wait for the batch.
        assert count(registry, "call", "deny", "team/refuse") == 1
        assert audit_records(caplog) == []
        await asyncio.sleep(BATCH_SECONDS * 5)
    denied, listed = audit_records(caplog)
    assert (denied.getMessage(), listed.getMessage()) == ("access denied", "list filtered")
    # Each line keeps the time of its decision, not of its writing.
    assert decided <= denied.created <= listed.created < decided + BATCH_SECONDS
    line = json.loads(JsonLineFormatter().format(denied))
    assert line["policy"] == "team/refuse"
    assert line["time"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(decided)))


async def test_flush_writes_the_batched_lines_at_once(
    audit: Audit, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub_proxy.audit"):
        audit.record(ALICE, "call", ECHO, ALLOWED)
        audit.flush()
        assert [r.getMessage() for r in audit_records(caplog)] == ["access allowed"]
        await asyncio.sleep(BATCH_SECONDS * 5)
    # The batch's timer finds nothing left to write.
    assert len(audit_records(caplog)) == 1
