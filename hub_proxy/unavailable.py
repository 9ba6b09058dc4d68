"""Which known server a name that resolves to nothing belongs to, and why that server is down.

A scope's tables (:mod:`hub_proxy.routing`) hold what its servers offer
right now, so a server that is not up offers nothing there: one that
crash-loops before it was ever listed, one the hub does not reach at all
(standalone, a missing Secret; in a cluster, one the operator has not
verified: see :func:`hub_proxy.catalog.in_cluster`).  A call of one of its
tools would miss the table and be told "Unknown tool", which sends a client
looking for a typo while the fault is a server, and behind ``/mcp`` does not
even say which one.  So a miss, and only a miss -- a known name is routed as
it always was -- is looked at once more here: the name is attributed to a
server of the scope (``{server}__`` in a prefixed scope, the one server of a
lone server's scope), and if that server is known and down, the answer is the
error an upstream that is down gives (``SERVER_UNAVAILABLE``), naming it and
saying why: in a cluster the operator's condition for one it does not reach,
else the hub's own supervisor's reason.

Nothing here decides who may be told: the session does, and tells only a
caller who may see the server (:meth:`hub_proxy.access.AccessControl.sees`).
Anyone else gets the unknown-name answer, exactly, so that probing names
teaches nothing, not even that a server is down.  A server that is up and
listed does not own a name it does not list: that name is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub_proxy.catalog import SEPARATOR, Catalog, Scope
from hub_proxy.upstreams import Upstreams


@dataclass(frozen=True)
class Unavailable:
    """A known server that is down, and why."""

    server: str
    why: str

    @property
    def message(self) -> str:
        """What a client is told, for any of the server's items."""
        return message(self.server, self.why)


def message(server: str, why: str) -> str:
    """The error message of a request that ``server``, down because ``why``, cannot answer."""
    return f"MCP server {server} is unavailable: {why}"


def server_of(scope: Scope, name: str | None) -> str | None:
    """The server of ``scope`` a published name would be of; ``None`` (no name) for a URI.

    A URI carries no server's name, so only a lone server's scope attributes it.
    """
    if scope.prefixed:
        server, separator, _ = (name or "").partition(SEPARATOR)
        if not separator:
            return None
    elif len(scope.known) == 1:
        (server,) = scope.known
    else:
        return None
    return server if server in scope.known else None


def unavailable(
    catalog: Catalog, scope: Scope, upstreams: Upstreams, name: str | None
) -> Unavailable | None:
    """The server of ``scope`` a name missing from its tables would be of, if it is down."""
    server = server_of(scope, name)
    if server is None:
        return None
    why = catalog.unsupported.get(server)
    if why is None and server in upstreams:
        status = upstreams[server].status
        why = None if status.ready else status.reason
    return Unavailable(server, why) if why is not None else None
