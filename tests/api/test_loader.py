"""The standalone loader refuses what admission refuses, and says where and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mcphub_api import MCPServer
from mcphub_api.errors import InvalidObjectError, LoadError
from mcphub_api.loader import load_documents, load_folder, parse_object
from mcphub_api.secret import Secret
from tests.api.invalid_objects import INVALID, Invalid
from tests.testbed.paths import REPO_ROOT

SAMPLES = REPO_ROOT / "manifests" / "samples"


def test_every_sample_loads() -> None:
    loaded = load_folder(SAMPLES)
    assert sorted((r.kind, r.metadata.name) for r in loaded) == [
        ("AccessPolicy", "ci-bot"),
        ("AccessPolicy", "developers"),
        ("MCPGroup", "assistant"),
        ("MCPGroup", "platform"),
        ("MCPServer", "everything"),
        ("MCPServer", "github"),
        ("MCPServer", "time"),
    ]


def test_defaults_are_applied_as_the_api_server_would() -> None:
    server = parse_object(
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": "time"},
            "spec": {"container": {"image": "mcp/time"}},
        }
    )
    assert isinstance(server, MCPServer)
    assert server.to_wire()["spec"] == {
        "transport": "streamable-http",
        "container": {"image": "mcp/time", "port": 8080, "path": "/mcp", "replicas": 1},
        "sessionMode": "shared",
    }
    assert server.metadata.namespace == "default"


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_object_is_refused_naming_the_field(case: Invalid) -> None:
    with pytest.raises(InvalidObjectError) as refused:
        parse_object(case.document, "bad.yaml, document 1")
    paths = [error.path for error in refused.value.errors]
    assert case.path in paths, str(refused.value)
    if case.message:
        assert case.message in str(refused.value)


def test_errors_name_file_document_object_and_field(tmp_path: Path) -> None:
    good = {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPGroup",
        "metadata": {"name": "ok", "namespace": "team-a"},
        "spec": {"servers": [{"name": "time"}]},
    }
    bad = {**good, "metadata": {"name": "broken", "namespace": "team-a"}, "spec": {}}
    (tmp_path / "groups.yaml").write_text(yaml.safe_dump_all([good, bad]))
    with pytest.raises(LoadError) as failure:
        load_folder(tmp_path)
    assert failure.value.problems == [
        f"{tmp_path / 'groups.yaml'}, document 2 (MCPGroup team-a/broken): spec: Invalid value: "
        "a group needs members: list spec.servers, set spec.selector, or both"
    ]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (tmp_path / "c.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {token: not base64!}\n"
    )
    with pytest.raises(LoadError) as failure:
        load_folder(tmp_path)
    first, second, third = failure.value.problems
    assert first.startswith(f"{tmp_path / 'a.yaml'}: not valid YAML")
    assert "apiVersion: must be mcphub.dev/v1alpha1 (or v1 for a Secret), got 'v1'" in second
    assert "data.token is not base64; put plain text under stringData instead" in third


def test_a_secret_is_read_with_string_data_over_data(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, labels: {a: b}}\n"
        "data: {one: MQ==, two: Mg==}\nstringData: {two: zwei}\n"
    )
    (secret,) = load_folder(tmp_path)
    assert isinstance(secret, Secret)
    assert secret.metadata.labels == {"a": "b"}
    assert secret.values() == {"one": b"1", "two": b"zwei"}


def test_the_same_object_twice_is_refused(tmp_path: Path) -> None:
    text = (SAMPLES / "mcpserver-time-stdio.yaml").read_text()
    (tmp_path / "one.yaml").write_text(text)
    (tmp_path / "two.yaml").write_text(text)
    with pytest.raises(LoadError, match="MCPServer default/time is defined more than once"):
        load_folder(tmp_path)


def test_multi_document_text_yields_every_object() -> None:
    text = "\n---\n".join(
        (SAMPLES / name).read_text()
        for name in ("mcpserver-time-stdio.yaml", "mcpgroup-platform-by-label.yaml")
    )
    assert [r.kind for r in load_documents(text, "inline")] == ["MCPServer", "MCPGroup"]
