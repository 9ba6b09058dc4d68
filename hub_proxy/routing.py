"""Published names in a scope, and the upstream each one leads to.

A client sees names; an upstream knows its own.  This module is the one place
that maps between the two, both ways, so that what ``tools/list`` shows and
what ``tools/call`` accepts can never disagree: a call resolves a name against
the very table a listing is made from.

The tables are derived from the upstreams' caches rather than kept up to
date by hand, so there is no second copy of the truth to go stale when an
upstream re-lists.  Derived, but not on every request: a ``tools/call`` looks
its name up in the table, and building the table -- a dictionary of every
tool in the scope, each definition copied under its published name -- cost
more than the rest of the hub's own work on the call.  So each table is kept
with what it was made from, the scope and every member's :class:`Offer`, and
made again when one of them is another object: an upstream replaces its offer
whenever a listing changes something, and a replaced catalog brings new scopes.

* **Tools**: the server's policy was applied when the upstream was listed;
  here a group member's filter is applied to the server's published name (the
  name an admin sees in ``status.tools``, which is also what the operator
  counts for a group), and the name is prefixed ``{server}__`` unless the
  scope is a lone server's.
* **Prompts**: the same prefixing; filters are tool filters and do not apply.
* **Resources**: URIs are global already and are listed as the servers list
  them, but known -- looked up, and matched by policies -- by their
  canonical form (:mod:`hub_proxy.canonical`), the only form a client's URI
  is ever compared in; a URI offered by two servers goes to the first of
  them in the scope, with a warning in the log.  Resource templates are kept
  as they are; a URI that no server lists is routed to the first server with
  a template that matches it, or, in a lone server's scope, to that server
  -- which may well serve URIs it neither lists nor templates
  (:func:`route_for_uri`).  What goes upstream is the server's own spelling
  of a URI it listed, else the canonical form: never the client's.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub_proxy.auth.policy import Item
from hub_proxy.canonical import InvalidNameError, canonical_uri
from hub_proxy.catalog import SEPARATOR, Scope
from hub_proxy.upstreams import Offer, Upstreams
from mcphub_api.toolpolicy import passes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """Where a published item goes: which server, under which of its own names."""

    server: str
    upstream_name: str


@dataclass(frozen=True)
class Published:
    """One item in a scope: its definition as the client sees it, its route, and what it is.

    ``item`` is the item as access policies know it: by server and by the
    names the server gives it, never by the scope's prefixed name.
    """

    route: Route
    definition: Mapping[str, Any]
    item: Item


def published_name(scope: Scope, server: str, name: str) -> str:
    return f"{server}{SEPARATOR}{name}" if scope.prefixed else name


_TableMaker = Callable[[Scope, Upstreams], dict[str, Published]]
# What a table was made from: the scope, and the offer of each of its members.
_Source = tuple[Scope, tuple[Offer, ...]]
_Made = tuple[_Source, dict[str, Published]]
# Per set of upstreams (a test process runs several hubs), by table and scope path.
_made: Final[weakref.WeakKeyDictionary[Upstreams, dict[tuple[str, str], _Made]]] = (
    weakref.WeakKeyDictionary()
)


def _kept(kind: str, make: _TableMaker, scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """``make``'s table for the scope, made again only when the scope or an offer changed.

    The table is shared by every caller until then: callers read it, never change it.
    """
    source = (scope, tuple(upstreams[member.server].offer for member in scope.members))
    tables = _made.setdefault(upstreams, {})
    made = tables.get((kind, scope.path))
    # Cheap while nothing changed: tuples compare their items by identity first,
    # and an offer or a scope is replaced, never changed in place.
    if made is not None and made[0] == source:
        return made[1]
    table = make(scope, upstreams)
    tables[kind, scope.path] = (source, table)
    return table


def tools(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """The scope's tools by published name (shared: do not change it)."""
    return _kept("tools", _tools, scope, upstreams)


def prompts(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """The scope's prompts by published name (shared: do not change it)."""
    return _kept("prompts", _prompts, scope, upstreams)


def resources(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """The scope's resources by canonical URI; the first server in the scope wins a shared one.

    Shared: do not change it.
    """
    return _kept("resources", _resources, scope, upstreams)


def _tools(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    table: dict[str, Published] = {}
    for member in scope.members:
        for tool in upstreams[member.server].offer.tools:
            if not passes(tool.name, member.filter):
                continue
            name = published_name(scope, member.server, tool.name)
            definition = dict(tool.definition, name=name)
            # The upstream's own name, then the alias the server publishes it as.
            names = dict.fromkeys((tool.upstream_name, tool.name))
            table[name] = Published(
                Route(member.server, tool.upstream_name),
                definition,
                Item("tool", member.server, tuple(names)),
            )
    return table


def _prompts(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    table: dict[str, Published] = {}
    for member in scope.members:
        for prompt in upstreams[member.server].offer.prompts:
            own = prompt.get("name")
            if not isinstance(own, str):
                continue
            name = published_name(scope, member.server, own)
            table[name] = Published(
                Route(member.server, own),
                dict(prompt, name=name),
                Item("prompt", member.server, (own,)),
            )
    return table


def _resources(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    table: dict[str, Published] = {}
    for member in scope.members:
        for resource in upstreams[member.server].offer.resources:
            uri = resource.get("uri")
            if not isinstance(uri, str):
                continue
            try:
                known = canonical_uri(uri)
            except InvalidNameError:
                # Listed as it is; no client's URI is ever compared in this form.
                known = uri
            if known in table:
                logger.warning(
                    "resource URI offered by two servers; the first one serves it",
                    extra={
                        "uri": uri,
                        "served_by": table[known].route.server,
                        "also": member.server,
                    },
                )
                continue
            table[known] = Published(
                Route(member.server, uri), resource, Item("resource", member.server, (known,))
            )
    return table


def resource_templates(scope: Scope, upstreams: Upstreams) -> list[Published]:
    """The scope's resource templates, as their servers list them; known by ``uriTemplate``."""
    return [
        Published(
            Route(member.server, pattern), template, Item("resource", member.server, (pattern,))
        )
        for member in scope.members
        for template in upstreams[member.server].offer.resourceTemplates
        if isinstance(pattern := template.get("uriTemplate"), str)
    ]


def route_for_uri(scope: Scope, upstreams: Upstreams, canonical: str) -> Route | None:
    """Where a canonical resource URI goes: who lists it, else whose template matches it.

    The route's ``upstream_name`` is the URI to forward: the server's own
    spelling if it listed the resource, else ``canonical`` itself.
    """
    listed = resources(scope, upstreams).get(canonical)
    if listed is not None:
        return listed.route
    for template in resource_templates(scope, upstreams):
        if _template_regex(template.route.upstream_name).fullmatch(canonical):
            return Route(template.route.server, canonical)
    if len(scope.members) == 1:
        return Route(scope.members[0].server, canonical)
    return None


def template(scope: Scope, upstreams: Upstreams, uri_template: str) -> Published | None:
    """The scope's resource template spelled exactly ``uri_template`` (a completion's ref)."""
    return next(
        (t for t in resource_templates(scope, upstreams) if t.route.upstream_name == uri_template),
        None,
    )


def _template_regex(template: str) -> re.Pattern[str]:
    """An RFC 6570 template as a regular expression, loosely: ``{x}`` stops at "/", ``{+x}`` not.

    Loose on purpose: it only has to pick the server among a scope's few
    templates, and the server itself checks the URI.
    """
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile(
        "".join(
            (".*" if part[1:2] in "+#" else "[^/]*")
            if part.startswith("{") and part.endswith("}")
            else re.escape(part)
            for part in parts
        )
    )
