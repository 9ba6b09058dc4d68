"""Published names in a scope, and the upstream each one leads to.

A client sees names; an upstream knows its own.  This module is the one place
that maps between the two, both ways, so that what ``tools/list`` shows and
what ``tools/call`` accepts can never disagree: a call resolves a name against
the very table a listing is made from.

The table is computed from the upstreams' caches on demand rather than kept
up to date: it is a dictionary comprehension over a few hundred tools at most,
and deriving it every time means there is no second copy of the truth to go
stale when an upstream re-lists.

* **Tools**: the server's policy was applied when the upstream was listed;
  here a group member's filter is applied to the server's published name (the
  name an admin sees in ``status.tools``, which is also what the operator
  counts for a group), and the name is prefixed ``{server}__`` unless the
  scope is a lone server's.
* **Prompts**: the same prefixing; filters are tool filters and do not apply.
* **Resources**: URIs are global already and are kept as they are; a URI
  offered by two servers goes to the first of them in the scope, with a
  warning in the log.  Resource templates are kept as they are too; a URI
  that no server lists is routed to the first server with a template that
  matches it (:func:`server_for_uri`), or, in a lone server's scope, to that
  server -- which may well serve URIs it neither lists nor templates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub_proxy.catalog import SEPARATOR, Scope
from hub_proxy.upstreams import Upstreams
from mcphub_api.toolpolicy import passes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """Where a published item goes: which server, under which of its own names."""

    server: str
    upstream_name: str


@dataclass(frozen=True)
class Published:
    """One item in a scope: its definition as the client sees it, and its route."""

    route: Route
    definition: Mapping[str, Any]


def published_name(scope: Scope, server: str, name: str) -> str:
    return f"{server}{SEPARATOR}{name}" if scope.prefixed else name


def tools(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """The scope's tools by published name."""
    table: dict[str, Published] = {}
    for member in scope.members:
        for tool in upstreams[member.server].offer.tools:
            if not passes(tool.name, member.filter):
                continue
            name = published_name(scope, member.server, tool.name)
            definition = dict(tool.definition, name=name)
            table[name] = Published(Route(member.server, tool.upstream_name), definition)
    return table


def prompts(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """The scope's prompts by published name."""
    table: dict[str, Published] = {}
    for member in scope.members:
        for prompt in upstreams[member.server].offer.prompts:
            own = prompt.get("name")
            if not isinstance(own, str):
                continue
            name = published_name(scope, member.server, own)
            table[name] = Published(Route(member.server, own), dict(prompt, name=name))
    return table


def resources(scope: Scope, upstreams: Upstreams) -> dict[str, Published]:
    """The scope's resources by URI; the first server in the scope wins a shared URI."""
    table: dict[str, Published] = {}
    for member in scope.members:
        for resource in upstreams[member.server].offer.resources:
            uri = resource.get("uri")
            if not isinstance(uri, str):
                continue
            if uri in table:
                logger.warning(
                    "resource URI offered by two servers; the first one serves it",
                    extra={"uri": uri, "served_by": table[uri].route.server, "also": member.server},
                )
                continue
            table[uri] = Published(Route(member.server, uri), resource)
    return table


def resource_templates(scope: Scope, upstreams: Upstreams) -> list[Mapping[str, Any]]:
    """The scope's resource templates, as their servers list them."""
    return [
        template
        for member in scope.members
        for template in upstreams[member.server].offer.resourceTemplates
    ]


def server_for_uri(scope: Scope, upstreams: Upstreams, uri: str) -> str | None:
    """The server a resource URI goes to: who lists it, else whose template matches it."""
    listed = resources(scope, upstreams).get(uri)
    if listed is not None:
        return listed.route.server
    for member in scope.members:
        for template in upstreams[member.server].offer.resourceTemplates:
            pattern = template.get("uriTemplate")
            if isinstance(pattern, str) and (
                pattern == uri or _template_regex(pattern).fullmatch(uri)
            ):
                return member.server
    if len(scope.members) == 1:
        return scope.members[0].server
    return None


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
