"""Trying a tool from the dashboard: a call through the hub, as the signed-in principal.

The call goes exactly where an MCP client's would: a
:class:`~hub_proxy.session.HubSession` of the ``/mcp`` scope, made by the same
session factory the endpoint uses, answering one ``tools/call`` with
:data:`~hub_proxy.access.CALLER` set to the visitor's principal.  So the
AccessPolicies decide the call, the audit records it, the activity shows it,
and the upstream sees an ordinary call on its shared (or, ``perClient``, its
own) session -- the dashboard has no second way in.

The session's client is this module's :class:`_Peer`: progress and log
notifications related to the call are handed to the page as they come; a
server-to-client request (sampling, elicitation, roots) is answered with an
error, because a web page trying a tool has no model or person behind it to
ask -- the result says so.

The answer is turned into :class:`Block` values for the template, never into
markup here: text, images and audio (as ``data:`` URLs, only for the media
types browsers render without script, and only when the base64 is valid),
embedded resources, resource links (shown, not linked: an upstream's URI may
be ``javascript:``), structured content, and errors.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from hub_proxy.access import CALLER
from hub_proxy.auth.principal import Principal
from hub_proxy.transport import Session, SessionFactory, jsonrpc

METHOD_NOT_FOUND: Final = -32601
IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
AUDIO_TYPES: Final = frozenset(
    {"audio/wav", "audio/x-wav", "audio/mpeg", "audio/ogg", "audio/webm"}
)
MAX_MEDIA_BYTES: Final = 8 * 1024 * 1024
MAX_TEXT_CHARS: Final = 200_000
_ids = itertools.count(1)

ProgressListener = Callable[[str, Mapping[str, Any]], None]
"""Told each notification about the call: its method and params."""


class _Peer:
    """The dashboard as the session's client: passes notifications on, answers no requests."""

    def __init__(self, listener: ProgressListener) -> None:
        self._session_id = f"dashboard-{next(_ids)}"
        self._listener = listener

    @property
    def session_id(self) -> str:
        return self._session_id

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        if method in ("notifications/progress", "notifications/message"):
            self._listener(method, params or {})

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        return jsonrpc.Error(
            0,
            METHOD_NOT_FOUND,
            f"the dashboard cannot answer {method}: try this tool from an MCP client that can",
        )


async def call_tool(
    sessions: SessionFactory,
    principal: Principal,
    hub_name: str,
    arguments: Mapping[str, Any],
    listener: ProgressListener,
) -> jsonrpc.Response:
    """Call the tool named ``hub_name`` at ``/mcp`` as ``principal``; the hub's answer."""
    session: Session = sessions(_Peer(listener))
    token = CALLER.set(principal)
    try:
        request = jsonrpc.Request(
            1,
            "tools/call",
            {"name": hub_name, "arguments": dict(arguments), "_meta": {"progressToken": 1}},
        )
        return await session.handle_request(request)
    finally:
        CALLER.reset(token)
        await session.close()


BlockKind = Literal["text", "image", "audio", "resource", "link", "json", "error", "unknown"]


@dataclass(frozen=True)
class Block:
    """One piece of a result, ready for the template (which escapes every string)."""

    kind: BlockKind
    text: str = ""
    # image/audio: a data: URL of an allowed media type.
    source: str = ""
    mime_type: str = ""
    uri: str = ""
    name: str = ""


@dataclass(frozen=True)
class Outcome:
    """A call's answer as the page shows it."""

    failed: bool
    summary: str
    blocks: tuple[Block, ...]


def outcome(answer: jsonrpc.Response) -> Outcome:
    if isinstance(answer, jsonrpc.Error):
        detail = "" if answer.data is None else _json_text(answer.data)
        blocks: tuple[Block, ...] = (Block("error", answer.message[:MAX_TEXT_CHARS]),)
        if detail:
            blocks += (Block("json", detail),)
        return Outcome(
            True, f"the hub refused or could not make the call (error {answer.code})", blocks
        )
    result = answer.result
    content = result.get("content")
    blocks = tuple(_block(item) for item in content) if isinstance(content, list) else ()
    structured = result.get("structuredContent")
    if structured is not None:
        blocks += (Block("json", _json_text(structured), name="structured content"),)
    failed = result.get("isError") is True
    summary = "the tool reported an error" if failed else "the tool answered"
    return Outcome(failed, summary, blocks)


def _block(item: Any) -> Block:
    if not isinstance(item, Mapping):
        return Block("unknown", _json_text(item))
    kind = item.get("type")
    if kind == "text":
        return Block("text", _str(item.get("text")))
    if kind in ("image", "audio"):
        return _media(kind, item)
    if kind == "resource":
        resource = item.get("resource")
        resource = resource if isinstance(resource, Mapping) else {}
        text = resource.get("text")
        shown = (
            _str(text)
            if isinstance(text, str)
            else f"({len(_str(resource.get('blob')))} characters of base64)"
        )
        return Block(
            "resource",
            shown,
            mime_type=_str(resource.get("mimeType")),
            uri=_str(resource.get("uri")),
        )
    if kind == "resource_link":
        return Block(
            "link",
            _str(item.get("description")),
            mime_type=_str(item.get("mimeType")),
            uri=_str(item.get("uri")),
            name=_str(item.get("name")),
        )
    return Block("unknown", _json_text(item))


def _media(kind: Literal["image", "audio"], item: Mapping[str, Any]) -> Block:
    mime = _str(item.get("mimeType")).lower()
    data = item.get("data")
    allowed = IMAGE_TYPES if kind == "image" else AUDIO_TYPES
    if mime not in allowed or not isinstance(data, str) or len(data) > MAX_MEDIA_BYTES * 4 // 3:
        return Block("unknown", f"{kind} of type {mime or 'unknown'} (not shown)")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return Block("unknown", f"{kind} whose data is not valid base64 (not shown)")
    return Block(kind, source=f"data:{mime};base64,{data}", mime_type=mime)


def _str(value: Any) -> str:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) else ""


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)[:MAX_TEXT_CHARS]
