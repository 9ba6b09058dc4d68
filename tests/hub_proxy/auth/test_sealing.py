"""Sealed session ids: what restores, and every way an id is refused without an exception."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from hub_proxy.auth.sealing import KEY_BYTES, SealedSessionIds, load_key
from hub_proxy.transport import SessionIds

KEY = bytes(range(KEY_BYTES))
OTHER_KEY = bytes(range(1, KEY_BYTES + 1))
CONTEXT = b"/mcp/a"
ALICE = "User:https://issuer.example:alice"
BOB = "User:https://issuer.example:bob"
DAY = 24 * 60 * 60
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ids(clock: FakeClock) -> SealedSessionIds:
    return SealedSessionIds(KEY, CONTEXT, clock=clock)


def test_it_is_a_transport_session_ids() -> None:
    implementation: SessionIds = SealedSessionIds(KEY, CONTEXT)
    assert implementation.restore(implementation.issue(ALICE), ALICE)


def test_an_id_restores_for_its_owner_and_is_header_safe(ids: SealedSessionIds) -> None:
    session_id = ids.issue(ALICE)
    assert ids.restore(session_id, ALICE)
    assert session_id.isascii()
    assert set(session_id) <= set(ALPHABET)
    assert len(session_id) < 100


def test_ids_are_unique_even_for_one_owner_in_one_second(ids: SealedSessionIds) -> None:
    assert len({ids.issue(ALICE) for _ in range(100)}) == 100


def test_instances_sharing_a_key_accept_each_others_ids(clock: FakeClock) -> None:
    first = SealedSessionIds(KEY, CONTEXT, clock=clock)
    second = SealedSessionIds(KEY, CONTEXT, clock=clock)
    assert second.restore(first.issue(ALICE), ALICE)
    assert first.restore(second.issue(BOB), BOB)


def test_another_owner_is_refused_and_logged_without_the_owners(
    ids: SealedSessionIds, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = ids.issue(ALICE)
    with caplog.at_level("WARNING", logger="hub_proxy.auth.sealing"):
        assert not ids.restore(session_id, BOB)
    assert "another owner" in caplog.text
    assert "alice" not in caplog.text
    assert session_id not in caplog.text
    assert not ids.restore(session_id, "")


def test_another_key_is_refused(clock: FakeClock, ids: SealedSessionIds) -> None:
    other = SealedSessionIds(OTHER_KEY, CONTEXT, clock=clock)
    assert not other.restore(ids.issue(ALICE), ALICE)


def test_another_endpoint_is_refused(clock: FakeClock, ids: SealedSessionIds) -> None:
    elsewhere = SealedSessionIds(KEY, b"/mcp/b", clock=clock)
    assert not elsewhere.restore(ids.issue(ALICE), ALICE)


def test_an_id_expires_after_the_max_age(clock: FakeClock, ids: SealedSessionIds) -> None:
    session_id = ids.issue(ALICE)
    clock.now += DAY - 1
    assert ids.restore(session_id, ALICE)
    clock.now += 1
    assert not ids.restore(session_id, ALICE)


def test_a_shorter_max_age_applies_to_ids_already_issued(
    clock: FakeClock, ids: SealedSessionIds
) -> None:
    session_id = ids.issue(ALICE)
    stricter = SealedSessionIds(KEY, CONTEXT, max_age_seconds=60, clock=clock)
    assert stricter.restore(session_id, ALICE)
    clock.now += 60
    assert not stricter.restore(session_id, ALICE)
    assert ids.restore(session_id, ALICE)


def test_the_issuers_expiry_holds_where_the_max_age_is_longer(clock: FakeClock) -> None:
    session_id = SealedSessionIds(KEY, CONTEXT, max_age_seconds=60, clock=clock).issue(ALICE)
    lenient = SealedSessionIds(KEY, CONTEXT, clock=clock)
    clock.now += 60
    assert not lenient.restore(session_id, ALICE)


def test_an_ended_id_is_refused_where_it_ended_only(
    clock: FakeClock, ids: SealedSessionIds
) -> None:
    session_id = ids.issue(ALICE)
    ids.ended(session_id)
    assert not ids.restore(session_id, ALICE)
    # The documented limit: other replicas are not told.
    assert SealedSessionIds(KEY, CONTEXT, clock=clock).restore(session_id, ALICE)


def test_the_ended_set_is_bounded_and_forgets_the_oldest_first(clock: FakeClock) -> None:
    ids = SealedSessionIds(KEY, CONTEXT, max_ended=2, clock=clock)
    first, second, third = ids.issue(ALICE), ids.issue(ALICE), ids.issue(ALICE)
    for session_id in (first, second, third):
        ids.ended(session_id)
    assert ids.restore(first, ALICE)
    assert not ids.restore(second, ALICE)
    assert not ids.restore(third, ALICE)


def test_ending_garbage_or_an_expired_id_is_ignored(
    clock: FakeClock, ids: SealedSessionIds
) -> None:
    ids.ended("garbage")
    session_id = ids.issue(ALICE)
    clock.now += DAY
    ids.ended(session_id)
    clock.now -= DAY
    assert ids.restore(session_id, ALICE)


def flip(session_id: str, byte: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(session_id + "=="))
    raw[byte] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "byte",
    [0, 1, 12, 13, 20, 44, 45, 60],
    ids=["version", "nonce", "nonce-end", "fingerprint", "claims", "claims-end", "tag", "tag-end"],
)
def test_a_tampered_id_is_refused(ids: SealedSessionIds, byte: int) -> None:
    assert not ids.restore(flip(ids.issue(ALICE), byte), ALICE)


def test_another_version_is_refused_even_when_sealed_with_the_right_key(
    ids: SealedSessionIds,
) -> None:
    # A version byte the instance does not speak, with a tag that would verify
    # if the version were not part of the associated data.
    raw = bytearray(base64.urlsafe_b64decode(ids.issue(ALICE) + "=="))
    raw[0] = 2
    assert not ids.restore(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), ALICE)


def respelled(session_id: str) -> str:
    """The same bytes spelled otherwise: the last character has spare bits."""
    return session_id[:-1] + ALPHABET[ALPHABET.index(session_id[-1]) ^ 1]


def in_standard_alphabet(session_id: str) -> str:
    return session_id.replace("-", "+").replace("_", "/")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1],
        lambda s: s[:40],
        lambda s: s + "A",
        lambda s: s + "==",
        lambda s: s[:-1] + "!",
        lambda s: s[:-1] + "é",
        lambda s: " " + s[1:],
        in_standard_alphabet,
        respelled,
    ],
    ids=[
        "truncated",
        "half",
        "extended",
        "padded",
        "bad-char",
        "non-ascii",
        "space",
        "standard-alphabet",
        "spare-bits",
    ],
)
def test_a_mangled_id_is_refused(ids: SealedSessionIds, mangle: Callable[[str], str]) -> None:
    # An id the mangling changes (the standard alphabet differs only in two characters).
    session_id = next(s for s in iter(lambda: ids.issue(ALICE), None) if mangle(s) != s)
    assert ids.restore(session_id, ALICE)
    assert not ids.restore(mangle(session_id), ALICE)


@pytest.mark.parametrize("garbage", ["", "x", "not base64 at all", "A" * 82, "\x00" * 82, "é" * 82])
def test_garbage_is_refused(ids: SealedSessionIds, garbage: str) -> None:
    assert not ids.restore(garbage, ALICE)


def test_a_key_of_another_length_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SealedSessionIds(b"short", CONTEXT)


def test_a_key_file_holds_raw_bytes_or_base64(tmp_path: Path) -> None:
    raw, text = tmp_path / "raw", tmp_path / "text"
    raw.write_bytes(KEY)
    text.write_text(base64.b64encode(KEY).decode() + "\n")
    assert load_key(raw) == load_key(text) == KEY


def test_a_key_file_of_another_size_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("too short")
    with pytest.raises(ValueError, match="32-byte key"):
        load_key(bad)


def test_without_a_key_file_each_call_draws_a_new_random_key() -> None:
    first, second = load_key(None), load_key(None)
    assert len(first) == len(second) == KEY_BYTES
    assert first != second
