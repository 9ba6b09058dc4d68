"""Who leads among replicas: kopf's rule, read from the peering object's keep-alives."""

from __future__ import annotations

import datetime
import time

from mcphub_operator.peering import Peering, leads

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def keepalive(priority: int, seconds_ago: float, lifetime: int = 15) -> dict[str, object]:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


ME = Peering("mcphub", "me", priority=-100, lifetime=15, namespaces=())


def test_an_older_replica_alive_outranks_a_newer_one() -> None:
    assert not leads({"me": keepalive(-100, 0), "old": keepalive(-50, 5)}, ME, NOW)
    assert leads({"me": keepalive(-100, 0), "new": keepalive(-200, 5)}, ME, NOW)


def test_a_peer_whose_keepalive_expired_counts_for_nothing() -> None:
    assert leads({"old": keepalive(-50, 16)}, ME, NOW)


def test_equal_priorities_pause_both_as_kopf_does_and_junk_is_ignored() -> None:
    assert not leads({"twin": keepalive(-100, 1)}, ME, NOW)
    assert leads({"junk": {"priority": "high"}, "other": "x"}, ME, NOW)


def test_a_newer_replica_ranks_below_an_older_one() -> None:
    older = Peering.joining("mcphub", 15, ())
    time.sleep(0.001)  # started a moment later (within one microsecond, chance decides)
    newer = Peering.joining("mcphub", 15, ())
    assert newer.priority < older.priority
    assert newer.paths() == ["/apis/kopf.dev/v1/clusterkopfpeerings/mcphub"]
    namespaced = Peering.joining("mcphub", 15, ("a", "b"))
    assert [m["metadata"] for m in namespaced.manifests()] == [
        {"name": "mcphub", "namespace": "a"},
        {"name": "mcphub", "namespace": "b"},
    ]
