"""Where session ids come from, and whether one this process never saw is still good.

A streamable HTTP session lives in the memory of the process that opened it:
its running requests, its GET streams, its backlog.  One hub replica behind a
plain Kubernetes Service cannot count on the next request of a session
reaching the same replica, so a replica that is handed a session id it does
not hold must be able to tell, on its own, whether the id is genuine, still
valid, and presented by the one it was issued to -- and if so, carry the
session on.  That decision is all this module's :class:`SessionIds` is about;
what a session *is* stays in the transport.

The question is asked with the requester's owner (see
:data:`hub_proxy.transport.base.OWNER`) rather than answered with the id's
owner, so an implementation may keep no more than a fingerprint of the owner
in the id and never has to reveal whose it is.

:class:`RandomSessionIds` is the default and today's behaviour: unguessable
random ids, valid only in the process holding the session.  That is right for
the stdio bridge (one process, one child) and for a single hub replica.  The
hub's multi-replica implementation, ids sealed with an authenticated cipher
under a key every replica shares, is
:class:`hub_proxy.auth.sealing.SealedSessionIds`: it lives with auth because
what it guards is an identity, and the transport must not depend on it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol


class SessionIds(Protocol):
    """Issues session ids, and vouches for ids issued by another process."""

    def issue(self, owner: str) -> str:
        """A new session id for a session ``owner`` opens; printable ASCII, header-safe."""

    def restore(self, session_id: str, owner: str) -> bool:
        """Whether ``owner`` may carry on with ``session_id``, a session this process lacks.

        Only asked about ids the process does not hold: a held session's owner
        is checked by the transport with a string compare.  Anything not
        positively valid -- garbage included -- is ``False``, never an exception.
        """

    def ended(self, session_id: str) -> None:
        """The client ended the session (DELETE): a replay of the id must not restore it."""


@dataclass(frozen=True)
class RandomSessionIds:
    """Random ids, good only where they were issued: sessions never move between processes."""

    def issue(self, owner: str) -> str:
        return secrets.token_urlsafe(32)

    def restore(self, session_id: str, owner: str) -> bool:
        return False

    def ended(self, session_id: str) -> None:
        # Nothing to remember: ids restore nowhere, so there is no replay to refuse.
        return
