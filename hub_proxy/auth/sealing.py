"""Session ids that any hub replica can check on its own: sealed with a shared key.

Hub replicas sit behind a plain Kubernetes Service, so the next request of a
session may reach a replica that has never seen it.  Sharing session state
between replicas would need a store every request waits on; instead, the
session id itself carries what a replica must know to carry the session on,
sealed so that only the replicas can have made it:

* *who it belongs to*, as a fingerprint of the owner (the principal's stable
  key, see :class:`~hub_proxy.auth.principal.Principal`): the first 16 bytes
  of its SHA-256.  Not the owner itself -- an owner may be long, and may be
  personal, and an id shows up in proxies' logs;
* *when it was issued* and *when it expires*, in whole seconds.

These are encrypted and authenticated with AES-256-GCM
(``version || nonce || ciphertext+tag``, base64url without padding).  The tag
is what makes the scheme work: an id is accepted only if it was sealed under
this key, for this endpoint, unchanged -- a forged, truncated or altered id
fails as a whole, and nothing about it has to be looked up.  Encryption on
top keeps the fingerprint from linking sessions of one owner for whoever sees
the ids.  The nonce is 96 random bits per id; random nonces stay safe far
beyond any hub's number of sessions under one key (NIST's bound is 2**32).

The endpoint is the *associated data* (with the version byte): an id from
``/mcp/a`` does not open ``/mcp/b``, whose scope may hold other tools.  The
key comes from a mounted Secret shared by all replicas; a subkey is derived
from it with HKDF once, at construction, so the Secret's bytes are never used
directly and could key something else under another label.  Without a
configured key, each process draws its own: ids then restore nowhere else,
which is right for a single replica only (the hub warns).

Refusal is total and silent: tampered, truncated, wrong-version, wrong-key,
wrong-endpoint, expired, ended, other-owner ids and plain garbage all make
:meth:`SealedSessionIds.restore` return ``False`` -- the transport answers 404,
and the MCP specification has the client initialize a new session.  Only an
owner mismatch on an otherwise good id is logged, because that is someone
holding another's session id.

An id expires at the sooner of two moments: the expiry its issuer sealed in,
and the issue time plus this replica's own maximum age, so that shortening
the maximum age in a rolling update applies to ids already handed out.

Limits, by design of a stateless scheme:

* A DELETE ends the session on the replica that served it, which remembers
  the id (until it expires; a bounded number, oldest forgotten first) and
  refuses a replay.  The other replicas are not told: one of them may still
  restore the id, for its owner only, until it expires.
* Rotating the key ends every session: old ids fail the tag, and clients
  re-initialize.  There is one key at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES: Final = 32
DEFAULT_MAX_AGE_SECONDS: Final = 24 * 60 * 60
DEFAULT_MAX_ENDED: Final = 100_000

_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_FINGERPRINT_BYTES: Final = 16
# Owner fingerprint, issued-at and expires-at, in seconds since the epoch.
_CLAIMS: Final = struct.Struct(f">{_FINGERPRINT_BYTES}sQQ")
_SEALED_BYTES: Final = len(_VERSION) + _NONCE_BYTES + _CLAIMS.size + _TAG_BYTES
# Base64 without padding: every genuine id has exactly this many characters.
_ID_CHARS: Final = (_SEALED_BYTES * 4 + 2) // 3
# HKDF's label: the subkey serves session ids, format version 1, and nothing else.
_PURPOSE: Final = b"mcphub/session-ids/v1"
_LOGGED_ID_CHARS: Final = 8

logger = logging.getLogger(__name__)


class Clock(Protocol):
    """Seconds since the epoch, as :func:`time.time` tells them."""

    def __call__(self) -> float: ...


@dataclass(frozen=True)
class _Claims:
    """What a genuine, unexpired id says."""

    nonce: bytes
    fingerprint: bytes
    expires_at: int


class SealedSessionIds:
    """:class:`~hub_proxy.transport.SessionIds` every replica holding ``key`` can restore.

    ``context`` names the endpoint (its path, say): ids issued for one context
    are refused under any other.
    """

    def __init__(
        self,
        key: bytes,
        context: bytes,
        *,
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
        max_ended: int = DEFAULT_MAX_ENDED,
        clock: Clock = time.time,
    ) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a session key has {KEY_BYTES} bytes, not {len(key)}")
        subkey = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_PURPOSE)
        self._cipher = AESGCM(subkey.derive(key))
        self._associated = _VERSION + context
        self._max_age = max_age_seconds
        self._max_ended = max_ended
        self._clock = clock
        # Nonces of ended ids, with their expiry, in the order they ended.
        self._ended: dict[bytes, int] = {}

    def issue(self, owner: str) -> str:
        issued_at = int(self._clock())
        claims = _CLAIMS.pack(_fingerprint(owner), issued_at, issued_at + self._max_age)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = _VERSION + nonce + self._cipher.encrypt(nonce, claims, self._associated)
        return _encode(sealed)

    def restore(self, session_id: str, owner: str) -> bool:
        claims = self._open(session_id)
        if claims is None or claims.nonce in self._ended:
            return False
        requester = _fingerprint(owner)
        if hmac.compare_digest(claims.fingerprint, requester):
            return True
        # Hex prefixes of the fingerprints equal the transport's owner digests in its logs.
        logger.warning(
            "session id refused: it was issued to another owner",
            extra={
                "session": session_id[:_LOGGED_ID_CHARS],
                "owner": claims.fingerprint[:6].hex(),
                "requester": requester[:6].hex(),
            },
        )
        return False

    def ended(self, session_id: str) -> None:
        claims = self._open(session_id)
        if claims is None:
            # Expired or not genuine: it restores nowhere anyway.
            return
        now = self._clock()
        # Ids end roughly in the order they expire, so the expired ones are at
        # the front; when full, the oldest is forgotten before its time.
        while self._ended:
            oldest, expires_at = next(iter(self._ended.items()))
            if expires_at > now and len(self._ended) < self._max_ended:
                break
            del self._ended[oldest]
        self._ended[claims.nonce] = claims.expires_at

    def _open(self, session_id: str) -> _Claims | None:
        """The claims of a genuine id sealed here that has not expired, else ``None``."""
        sealed = _decode(session_id)
        if sealed is None or sealed[:1] != _VERSION:
            return None
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            plain = self._cipher.decrypt(nonce, sealed[1 + _NONCE_BYTES :], self._associated)
        except InvalidTag:
            return None
        fingerprint, issued_at, expires_at = _CLAIMS.unpack(plain)
        if self._clock() >= min(expires_at, issued_at + self._max_age):
            return None
        return _Claims(nonce, fingerprint, expires_at)


def load_key(path: Path | None) -> bytes:
    """The sealing key from a file (a mounted Secret), or a random one for this process alone.

    The file holds the 32 bytes themselves, or their base64 text (what
    ``openssl rand -base64 32`` prints), so either way of making the Secret works.
    """
    if path is None:
        return secrets.token_bytes(KEY_BYTES)
    data = path.read_bytes()
    if len(data) == KEY_BYTES:
        return data
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} must hold a {KEY_BYTES}-byte key, raw or in base64")
    return key


def _fingerprint(owner: str) -> bytes:
    return hashlib.sha256(owner.encode(errors="surrogatepass")).digest()[:_FINGERPRINT_BYTES]


def _encode(sealed: bytes) -> str:
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def _decode(session_id: str) -> bytes | None:
    """The bytes of an id spelled as :func:`_encode` spells them, else ``None``."""
    if len(session_id) != _ID_CHARS:
        return None
    try:
        sealed = base64.urlsafe_b64decode(session_id + "=" * (-_ID_CHARS % 4))
    except ValueError:  # binascii.Error, or characters beyond ASCII
        return None
    # The decoder skips stray characters and ignores spare bits: only the one
    # canonical spelling of an id counts, so a replay cannot be respelled.
    return sealed if _encode(sealed) == session_id else None
