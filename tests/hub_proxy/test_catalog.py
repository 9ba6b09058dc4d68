"""The catalog: which servers run, and which scopes the hub serves, from API objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_proxy.catalog import Command, RemoteTarget, load_catalog
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
