"""Resource policies hold whatever a client makes of a URI (issue 11, item 4).

A hub process serves server-everything, whose resources are
``demo://resource/static/document/<file>`` (listed) and
``demo://resource/dynamic/{text,blob}/{id}`` (templates), to three API keys:
``no-dynamic`` may do anything but read ``demo://resource/dynamic/*``,
``static-only`` may read only ``demo://resource/static/document/*``, and
``reader`` may read everything.  Every spelling an upstream's URL parser
turns into a denied resource -- dot segments plain and percent-encoded, an
upper-case scheme or host, an empty port, whitespace and control characters
-- is tried through ``/mcp/everything`` and ``/mcp``, on ``resources/read``,
``resources/subscribe`` and ``resources/unsubscribe``, and must get an
error, never the resource; the audit must record the canonical URI it
decided on.  Requests are raw JSON-RPC over HTTP: an SDK client would
normalize some of these URIs itself before the hub ever saw them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from hub_proxy.auth.apikeys import hash_key
from tests.hub_proxy.bridge_process import command_of
from tests.hub_proxy.raw_http import Header, open_session, rpc
from tests.hub_proxy.test_standalone_hub import Hub, server_yaml, start_hub
from tests.testbed.mcp_servers import everything_stdio
from tests.testbed.waiting import eventually

KEYS: Final = {
    "no-dynamic": "mcphub_no-dynamic-key-0123456789-0123456789-01",
    "static-only": "mcphub_static-only-key-0123456789-0123456789-0",
    "reader": "mcphub_reader-key-0123456789-0123456789-0123456",
}
POLICIES: Final = """
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: no-dynamic}
spec:
  subjects: [{kind: APIKey, name: no-dynamic}]
  rules:
    - {servers: [everything], actions: [list, call, read, get]}
    - effect: deny
      servers: [everything]
      resources: ["demo://resource/dynamic/*"]
      actions: [list, read]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: static-only}
spec:
  subjects: [{kind: APIKey, name: static-only}]
  rules:
    - servers: [everything]
      resources: ["demo://resource/static/document/*"]
      actions: [list, read]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: reader}
spec:
  subjects: [{kind: APIKey, name: reader}]
  rules: [{servers: [everything], actions: [list, read, get]}]
"""
DENIED: Final = "demo://resource/dynamic/text/1"
TEMPLATE: Final = "demo://resource/dynamic/text/{resourceId}"
# A template spelled otherwise is no template: a URI, canonical, braces encoded.
TEMPLATE_AS_URI: Final = "demo://resource/dynamic/text/%7BresourceId%7D"
# Each a spelling of DENIED to a WHATWG URL parser (the one the TypeScript SDK
# reads URIs with), or something the hub must refuse outright.
BYPASSES: Final = {
    "dot-dot": "demo://resource/x/../dynamic/text/1",
    "encoded dot-dot": "demo://resource/x/%2e%2e/dynamic/text/1",
    "upper-case encoded dot-dot": "demo://resource/x/%2E%2E/dynamic/text/1",
    "dot": "demo://resource/./dynamic/text/1",
    "upper-case scheme": "DEMO://resource/dynamic/text/1",
    "upper-case host": "demo://RESOURCE/dynamic/text/1",
    "empty port": "demo://resource:/dynamic/text/1",
    "encoded letter": "demo://resource/%64ynamic/text/1",
    "tab": "demo://resource/dyn\tamic/text/1",
    "newline": "demo://resource/dynamic/\ntext/1",
    "carriage return": "demo://resource/dynamic/text/1\r",
    "leading space": " demo://resource/dynamic/text/1",
    "trailing space": "demo://resource/dynamic/text/1 ",
    "nul": "demo://resource/dynamic/text/1\x00",
    "leading nul": "\x00demo://resource/dynamic/text/1",
}
ESCAPES: Final = {
    "dot-dot out of the allowed folder": "demo://resource/static/document/../../dynamic/text/1",
    "encoded dot-dot out of it": "demo://resource/static/document/%2e%2e/%2E%2E/dynamic/text/1",
    "dot-dot after a dot": "demo://resource/static/document/./../../dynamic/text/1",
}
PATHS: Final = ("/mcp/everything", "/mcp")
METHODS: Final = ("resources/read", "resources/subscribe", "resources/unsubscribe")
INVALID_PARAMS: Final = -32602


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "everything.yaml").write_text(
        server_yaml("everything", command_of(everything_stdio()))
    )
    (folder / "policies.yaml").write_text(POLICIES)
    (folder / "keys.yaml").write_text(
        "---\n".join(
            "apiVersion: v1\nkind: Secret\n"
            f"metadata: {{name: {name}, namespace: default, "
            "labels: {mcphub.dev/api-key: 'true'}}\n"
            f"stringData: {{sha256: {hash_key(key)}}}\n"
            for name, key in KEYS.items()
        )
    )
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    started = start_hub(tmp_path_factory.mktemp("resource-uris"), write_config, open_access=False)
    try:
        yield started
    finally:
        started.process.stop()


def as_key(name: str) -> list[Header]:
    return [("X-API-Key", KEYS[name])]


def ask(hub: Hub, path: str, key: str, method: str, params: dict[str, Any]) -> Any:
    headers = as_key(key)
    session = open_session(hub.port, path, headers)
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = rpc(hub.port, path, message, headers, session=session)
    assert answer.status == 200, (answer.status, answer.body[:300])
    return answer.last


def refused(answer: Any) -> str:
    """The message of the -32602 error ``answer`` must be."""
    assert "result" not in answer, answer
    assert answer["error"]["code"] == INVALID_PARAMS, answer
    message: str = answer["error"]["message"]
    return message


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("spelling", list(BYPASSES))
def test_no_spelling_of_a_denied_uri_gets_past_the_deny(
    hub: Hub, path: str, method: str, spelling: str
) -> None:
    message = refused(ask(hub, path, "no-dynamic", method, {"uri": BYPASSES[spelling]}))
    # Denied and invisible: answered as a resource that does not exist, by its canonical URI.
    assert message in (f"Unknown resource: {DENIED}",) or message.startswith(
        "invalid resource URI"
    ), message


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("spelling", list(ESCAPES))
def test_no_spelling_escapes_an_allow_glob(hub: Hub, path: str, method: str, spelling: str) -> None:
    message = refused(ask(hub, path, "static-only", method, {"uri": ESCAPES[spelling]}))
    assert message == f"Unknown resource: {DENIED}", message


@pytest.mark.parametrize("spelling", ["nul", "tab", "leading space"])
def test_invisible_characters_are_refused_saying_which(hub: Hub, spelling: str) -> None:
    uri = BYPASSES[spelling]
    message = refused(ask(hub, "/mcp/everything", "reader", "resources/read", {"uri": uri}))
    assert message.startswith("invalid resource URI"), message
    assert f"U+{ord(next(c for c in uri if not c.isprintable() or c == ' ')):04X}" in message


def test_the_canonical_uri_is_what_the_upstream_gets(hub: Hub) -> None:
    # %31 is "1": the upstream parses no percent-encoding, so only the canonical
    # form names resource 1 to it, and it answers with the URI it was given.
    answer = ask(
        hub,
        "/mcp/everything",
        "reader",
        "resources/read",
        {"uri": "DEMO://Resource/x/../dynamic/text/%31"},
    )
    assert answer["result"]["contents"][0]["uri"] == DENIED, answer
    allowed = ask(
        hub,
        "/mcp",
        "static-only",
        "resources/read",
        {"uri": "demo://resource/static/document/./%61rchitecture.md"},
    )
    assert allowed["result"]["contents"][0]["uri"] == (
        "demo://resource/static/document/architecture.md"
    )


def test_completions_follow_the_canonical_uri(hub: Hub) -> None:
    template = TEMPLATE
    argument = {"name": "resourceId", "value": "5"}
    for ref_uri in (template, "demo://resource/x/../dynamic/text/{resourceId}"):
        ref = {"type": "ref/resource", "uri": ref_uri}
        completed = ask(
            hub,
            "/mcp/everything",
            "no-dynamic",
            "completion/complete",
            {"ref": ref, "argument": argument},
        )
        assert completed["result"]["completion"]["values"] == [], (ref_uri, completed)
    ref = {"type": "ref/resource", "uri": template}
    completed = ask(
        hub, "/mcp/everything", "reader", "completion/complete", {"ref": ref, "argument": argument}
    )
    assert completed["result"]["completion"]["values"] == ["5"]


def test_the_audit_records_the_canonical_uri_denied(hub: Hub) -> None:
    ask(hub, "/mcp/everything", "no-dynamic", "resources/read", {"uri": BYPASSES["dot-dot"]})

    def audited() -> list[dict[str, Any]]:
        lines = hub.process.log_path.read_text().splitlines()
        return [
            json.loads(line)
            for line in lines
            if '"logger": "hub_proxy.audit"' in line and '"resource"' in line
        ]

    def denied() -> list[dict[str, Any]]:
        return [line for line in audited() if line.get("item") == DENIED and not line["allowed"]]

    eventually(lambda: bool(denied()), timeout=10, what="the denial in the audit log")
    no_dynamic = [line for line in audited() if "no-dynamic" in line["principal"]]
    # Never "allowed" for a dynamic resource, and never a client's spelling.
    for line in no_dynamic:
        if line.get("action") == "read":
            assert not (line["item"].startswith("demo://resource/dynamic") and line["allowed"])
            assert line["item"] in (DENIED, TEMPLATE, TEMPLATE_AS_URI), line
