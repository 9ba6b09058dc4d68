"""The catalog: which servers run, and which scopes the hub serves, from API objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_proxy.catalog import Command, RemoteTarget, in_cluster, load_catalog
from mcphub_api import MCPGroup, MCPServer
from mcphub_api.errors import LoadError

SERVERS = """
apiVersion: mcphub.dev/v1alpha1
kind: MCPServer
metadata: {name: time, labels: {team: platform}}
spec:
  transport: stdio
  container: {image: x, command: [mcp-server-time], args: [--local-timezone=UTC]}
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPServer
metadata: {name: shared}
spec:
  transport: stdio
  container:
    image: x
    command: [server]
    env: [{name: A, value: "1"}]
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPServer
metadata: {name: github}
spec:
  remote:
    url: "https://example.com/mcp"
    headers:
      - {name: X-Team, value: platform}
      - {name: Authorization, valueFrom: {secretKeyRef: {name: github, key: token}}}
---
apiVersion: v1
kind: Secret
metadata: {name: github}
stringData: {token: Bearer s3cret}
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: shared}
spec:
  servers: [{name: time, tools: {include: ["get_*"]}}]
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: platform}
spec:
  selector: {matchLabels: {team: platform}}
"""


def test_scopes_for_everything_each_server_and_each_group(tmp_path: Path) -> None:
    (tmp_path / "objects.yaml").write_text(SERVERS)
    catalog = load_catalog(tmp_path)
    assert set(catalog.servers) == {"time", "shared", "github"}
    assert catalog.servers["time"].launch == Command(
        ("mcp-server-time", "--local-timezone=UTC"), {}
    )
    assert catalog.servers["shared"].launch == Command(("server",), {"A": "1"})
    assert catalog.scopes[""].path == "/mcp"
    assert catalog.scopes[""].prefixed
    assert not catalog.scopes["time"].prefixed
    assert catalog.scopes["platform"].servers == {"time"}
    assert catalog.servers["github"].launch == RemoteTarget(
        "https://example.com/mcp",
        "streamable-http",
        {"X-Team": "platform", "Authorization": "Bearer s3cret"},
    )
    assert catalog.unsupported == {}
    assert catalog.groups == {"shared", "platform"}


def test_a_group_is_also_served_at_the_path_the_operator_publishes(tmp_path: Path) -> None:
    (tmp_path / "objects.yaml").write_text(SERVERS)
    catalog = load_catalog(tmp_path)
    qualified = catalog.scopes["default/platform"]
    assert qualified.path == "/mcp/default/platform"
    assert qualified.members == catalog.scopes["platform"].members
    assert qualified.prefixed


def test_a_server_whose_secret_is_missing_is_not_run_and_says_which(tmp_path: Path) -> None:
    without_secret = SERVERS.replace("name: github}\nstringData", "name: other}\nstringData")
    (tmp_path / "objects.yaml").write_text(without_secret)
    catalog = load_catalog(tmp_path)
    assert "github" not in catalog.servers
    assert catalog.unsupported["github"] == (
        "header Authorization needs Secret github, which does not exist"
    )


def test_env_takes_secret_keys_and_config_maps_are_reported(tmp_path: Path) -> None:
    (tmp_path / "objects.yaml").write_text(
        """
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {TOKEN: dG9rZW4=}
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPServer
metadata: {name: tool}
spec:
  transport: stdio
  container:
    image: x
    command: [tool]
    envFrom: [{prefix: APP_, secretRef: {name: creds}}]
    env:
      - {name: ONE, valueFrom: {secretKeyRef: {name: creds, key: TOKEN}}}
      - {name: TWO, valueFrom: {configMapKeyRef: {name: settings, key: two}}}
"""
    )
    catalog = load_catalog(tmp_path)
    assert catalog.servers["tool"].launch == Command(
        ("tool",), {"APP_TOKEN": "token", "ONE": "token"}
    )
    assert any("not set: TWO" in warning for warning in catalog.warnings)


def test_a_group_wins_over_a_server_of_the_same_name_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "objects.yaml").write_text(SERVERS)
    catalog = load_catalog(tmp_path)
    shared = catalog.scopes["shared"]
    assert shared.prefixed
    assert shared.servers == {"time"}
    assert shared.members[0].filter is not None
    assert any("MCPGroup shared" in warning for warning in catalog.warnings)


def test_invalid_objects_are_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: mcphub.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: bad}\n"
        "spec: {transport: stdio, container: {image: x}}\n"
    )
    with pytest.raises(LoadError) as refused:
        load_catalog(tmp_path)
    assert "bad.yaml" in str(refused.value)
    assert "spec.container.command" in str(refused.value)


def in_namespace(name: str, *conditions: tuple[str, str, str, str], url: str = "") -> MCPServer:
    """A remote MCPServer ``name`` with a status: ``url``, and (type, status, reason, message)s."""
    status: dict[str, object] = {
        "conditions": [
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
            for kind, value, reason, message in conditions
        ]
    }
    if url:
        status["url"] = url
    return MCPServer.model_validate(
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": name, "namespace": "default", "labels": {"team": "a"}},
            "spec": {"remote": {"url": f"https://{name}.example/spec"}},
            "status": status if url or conditions else None,
        }
    )


def test_in_cluster_reaches_only_what_the_operator_verified_and_knows_the_rest() -> None:
    verified = ("Verified", "True", "HandshakeSucceeded", "x 1 speaks MCP; 3 tools")
    servers = [
        in_namespace("fresh"),
        in_namespace(
            "starting",
            ("Verified", "Unknown", "NotAvailable", "waiting for the server to be available"),
            ("Ready", "False", "PodsNotReady", "0/1 pods ready"),
            url="http://starting.svc/mcp",
        ),
        in_namespace(
            "failing",
            ("Verified", "False", "HandshakeFailed", "connection refused"),
            ("Ready", "False", "HandshakeFailed", "connection refused"),
            url="http://failing.svc/mcp",
        ),
        in_namespace("up", verified, url="http://up.svc/mcp"),
        # A verdict without the URL it was about is no verdict.
        in_namespace("unreached", verified),
    ]
    group = MCPGroup.model_validate(
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPGroup",
            "metadata": {"name": "team", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"team": "a"}}},
        }
    )
    catalog = in_cluster(servers, [group])
    assert set(catalog.servers) == {"up"}
    assert catalog.servers["up"].launch == RemoteTarget("http://up.svc/mcp", "streamable-http", {})
    assert catalog.unsupported == {
        "fresh": "waiting for the operator to reach it",
        "starting": "not verified by the operator (PodsNotReady): 0/1 pods ready",
        "failing": "not verified by the operator (HandshakeFailed): connection refused",
        "unreached": "waiting for the operator to reach it",
    }
    down = {"fresh", "starting", "failing", "unreached"}
    for key in ("", "team"):
        assert catalog.scopes[key].servers == {"up"}
        assert catalog.scopes[key].known == down | {"up"}
    # Each down server keeps its own endpoint, with nothing to reach behind it.
    assert {key: catalog.scopes[key].members for key in down} == dict.fromkeys(down, ())
    assert catalog.group_members["team"].keys() == down | {"up"}
