"""API keys: long random secrets whose hashes live in Kubernetes Secrets.

An API key is for a caller that cannot take part in OAuth -- a script, a CI
job, an agent on a laptop.  The hub never holds a key itself, only its
SHA-256 in a Secret labelled ``mcphub.dev/api-key``: reading the cluster's
Secrets (or the standalone folder) reveals no key, and the key cannot be
recovered from its hash because it is 256 random bits, far beyond guessing
(which is also why a plain hash, not a slow password hash, is enough).  The
Secret's name and namespace are the key's identity, so an AccessPolicy names a
key as it names anything else in Kubernetes, and RBAC on Secrets decides who
may mint or revoke one.  Keys are minted by ``python -m hub_proxy.auth.apikeys
NAME``, which prints the key once and the Secret to apply.

Revoking a key is an annotation, ``mcphub.dev/revoked: "true"``, rather than a
deletion, so that the audit log can say "revoked" instead of "unknown" when the
key turns up again.  Deleting the Secret works too.

A presented key is hashed and compared with every stored hash by
:func:`hmac.compare_digest`, all of them every time, with no lookup keyed by
the key: how long the answer takes depends on how many keys there are, not on
which one (if any) was presented or how close a guess came.  Secrets come and
go while the hub runs, so the store is replaced whole from each snapshot of
them (:meth:`APIKeys.replace`); a Secret that cannot be read as a key is
skipped with a warning that says what to fix, and never stops the others.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import re
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import yaml

from hub_proxy.auth.errors import InvalidCredentialsError, MalformedCredentialsError
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from hub_proxy.catalog import API_KEY_LABEL
from mcphub_api.meta import DNS_LABEL, DNS_SUBDOMAIN
from mcphub_api.secret import Secret

logger = logging.getLogger(__name__)

REVOKED_ANNOTATION: Final = "mcphub.dev/revoked"
HASH_KEY: Final = "sha256"
KEY_PREFIX: Final = "mcphub_"
# 256 random bits, as token_urlsafe encodes 32 bytes.
KEY_BYTES: Final = 32
ISSUER: Final = "api-key"

_HEX_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_REFUSED: Final = "the API key is not accepted here"


@dataclass(frozen=True)
class StoredKey:
    """One key's hash, whose it is, and whether it still counts."""

    digest: bytes
    principal: Principal
    revoked: bool


def mint_key() -> str:
    """A new API key; the prefix lets secret scanners and people recognise it."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    """What a Secret stores for ``key``: the lowercase hex SHA-256 of its UTF-8 bytes."""
    return _digest(key).hex()


def _digest(key: str) -> bytes:
    # surrogatepass: a header the client mis-encoded hashes to something, never an exception.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def secret_manifest(name: str, namespace: str, key: str) -> dict[str, Any]:
    """The Secret that makes ``key`` known to the hub as ``namespace/name``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {API_KEY_LABEL: "true"},
        },
        "type": "Opaque",
        "stringData": {HASH_KEY: hash_key(key)},
    }


def stored_key(secret: Secret) -> StoredKey:
    """Read one labelled Secret; a ValueError says what is wrong with it and how to fix it."""
    meta = secret.metadata
    where = f"Secret {meta.namespace}/{meta.name} (labelled {API_KEY_LABEL})"
    value = secret.value(HASH_KEY)
    if value is None:
        raise ValueError(
            f"{where} has no {HASH_KEY}; set stringData.{HASH_KEY} to the lowercase hex "
            f"SHA-256 of the key (python -m hub_proxy.auth.apikeys {meta.name} makes both)"
        )
    hex_digest = value.strip()
    # Never echo the value: someone may have stored the key itself there.
    if not _HEX_SHA256.fullmatch(hex_digest):
        raise ValueError(
            f"{where}: {HASH_KEY} is not 64 lowercase hex digits; it must be the SHA-256 of "
            "the key, never the key itself"
        )
    revoked = meta.annotations.get(REVOKED_ANNOTATION)
    if revoked not in (None, "true", "false"):
        # Someone meant something by it; failing closed is the safe reading.
        logger.warning(
            '%s: annotation %s is %r, which is taken as revoked; set it to "true" or "false"',
            where,
            REVOKED_ANNOTATION,
            revoked,
        )
    return StoredKey(
        digest=bytes.fromhex(hex_digest),
        principal=Principal(
            "APIKey",
            meta.name,
            meta.namespace,
            groups=frozenset({AUTHENTICATED}),
            issuer=ISSUER,
        ),
        revoked=revoked not in (None, "false"),
    )


class APIKeys:
    """The keys in force: replaced whole as the Secrets holding them change."""

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self._keys: tuple[StoredKey, ...] = ()
        self.replace(secrets)

    def __len__(self) -> int:
        return len(self._keys)

    def replace(self, secrets: Iterable[Secret]) -> None:
        """Use these Secrets' keys from now on; Secrets without the label are ignored.

        Takes the Secrets of a catalog snapshot (a namespace's, or a folder's);
        raw objects become :class:`~mcphub_api.secret.Secret` by ``model_validate``.
        """
        keys: list[StoredKey] = []
        seen: set[bytes] = set()
        for secret in secrets:
            if API_KEY_LABEL not in secret.metadata.labels:
                continue
            try:
                key = stored_key(secret)
            except ValueError as exc:
                logger.warning("skipping an API key: %s", exc)
                continue
            if key.digest in seen:
                logger.warning(
                    "skipping API key Secret %s/%s: another Secret holds the same hash; "
                    "mint a new key for it",
                    key.principal.namespace,
                    key.principal.name,
                )
                continue
            seen.add(key.digest)
            keys.append(key)
        self._keys = tuple(keys)

    def accepted(self) -> frozenset[tuple[bytes, Principal]]:
        """The key hashes accepted now, each with whose key it is: revoked ones left out."""
        return frozenset((key.digest, key.principal) for key in self._keys if not key.revoked)

    def authenticate(self, key: str) -> Principal:
        """Whose key this is; refused if unknown or revoked."""
        if not key:
            raise MalformedCredentialsError("the API key is empty")
        digest = _digest(key)
        found: StoredKey | None = None
        for stored in self._keys:
            # Every hash is compared, in constant time, whatever matched before.
            if hmac.compare_digest(stored.digest, digest):
                found = stored
        if found is None:
            raise InvalidCredentialsError("unknown API key", _REFUSED)
        if found.revoked:
            raise InvalidCredentialsError(f"{found.principal} is revoked", _REFUSED)
        return found.principal


def main(argv: list[str] | None = None) -> int:
    """Mint a key: the key once on stderr, the Secret to apply on stdout (pipe it to kubectl)."""
    parser = argparse.ArgumentParser(
        prog="python -m hub_proxy.auth.apikeys",
        description="Mint an API key for the hub: prints the key once (stderr) and the Secret "
        "holding its hash (stdout), e.g. ... | kubectl apply -f -",
    )
    parser.add_argument("name", help="the key's name: the Secret's name, which policies name")
    parser.add_argument("--namespace", "-n", default="default", help="the Secret's namespace")
    args = parser.parse_args(argv)
    if len(args.name) > 253 or not re.fullmatch(DNS_SUBDOMAIN, args.name):
        parser.error(
            f"{args.name!r} cannot name a Secret: use lowercase letters, digits, '-' and '.'"
        )
    if not re.fullmatch(DNS_LABEL, args.namespace):
        parser.error(
            f"{args.namespace!r} cannot name a namespace: use at most 63 lowercase letters, "
            "digits and '-', starting with a letter"
        )
    key = mint_key()
    print(
        f"API key {args.namespace}/{args.name} (shown only now; keep it secret):\n{key}",
        file=sys.stderr,
    )
    print(yaml.safe_dump(secret_manifest(args.name, args.namespace, key), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
