"""The write path: MCPServer documents validated, then written without losing a byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_proxy.dashboard.config_folder import (
    ConfigFolder,
    ServerForm,
    WriteError,
    server_document,
    to_yaml,
    validated,
)

SERVER = """\
apiVersion: mcphub.dev/v1alpha1
kind: MCPServer
metadata: {name: NAME}
spec:
  transport: stdio
  container: {image: x, command: [mcp-server-time]}
"""
GROUP = """\
# The group, kept as written.
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: g}
spec: {servers: [{name: a}]}
"""


def server(name: str) -> str:
    return SERVER.replace("NAME", name)


@pytest.fixture
def folder(tmp_path: Path) -> ConfigFolder:
    (tmp_path / "a.yaml").write_text(server("a"))
    (tmp_path / "shared.yaml").write_text(GROUP + "---\n" + server("b") + "---\n" + server("c"))
    return ConfigFolder(tmp_path)


def files(config: ConfigFolder) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(config.folder.iterdir())}


def test_a_form_makes_an_mcpserver_admission_accepts() -> None:
    form = ServerForm("t", "command", "stdio", command="mcp-server-time --local-timezone=UTC")
    document = server_document(form)
    assert document["spec"]["container"] == {
        "image": "unused-standalone",
        "command": ["mcp-server-time"],
        "args": ["--local-timezone=UTC"],
    }
    assert validated(document).metadata.name == "t"
    remote = server_document(ServerForm("r", "remote", "stdio", url="http://127.0.0.1:1/mcp"))
    # The CRD's CEL rule, as admission runs it: a remote server cannot be stdio.
    with pytest.raises(WriteError, match="remote"):
        validated(remote)


def test_adding_writes_a_new_file_and_never_overwrites(folder: ConfigFolder) -> None:
    path = folder.add(server("new"))
    assert path.name == "new.yaml"
    assert path.read_text() == server("new")
    before = files(folder)
    with pytest.raises(WriteError, match="already defined"):
        folder.add(server("new"))
    # Defined in another file under another file name: refused too.
    with pytest.raises(WriteError, match="already defined"):
        folder.add(server("b"))
    assert files(folder) == before


def test_an_invalid_change_writes_nothing(folder: ConfigFolder) -> None:
    before = files(folder)
    with pytest.raises(WriteError, match=r"spec.transport"):
        folder.add(server("bad").replace("stdio", "carrier-pigeon"))
    located = folder.locate("b")
    assert located is not None
    with pytest.raises(WriteError):
        folder.replace("b", "kind: [", located.digest)
    assert files(folder) == before


def test_editing_one_document_keeps_the_others_byte_for_byte(folder: ConfigFolder) -> None:
    located = folder.locate("b")
    assert located is not None
    edited = server("b").replace("image: x", "image: y")
    folder.replace("b", edited, located.digest)
    text = (folder.folder / "shared.yaml").read_text()
    assert text.startswith(GROUP + "---\n")
    assert text.endswith("---\n" + server("c"))
    assert "image: y" in text
    assert [p.name for p in folder.folder.iterdir() if p.name.startswith(".")] == []


def test_a_file_changed_since_it_was_shown_is_not_overwritten(folder: ConfigFolder) -> None:
    located = folder.locate("a")
    assert located is not None
    (folder.folder / "a.yaml").write_text(server("a") + "# edited by hand\n")
    with pytest.raises(WriteError, match="changed since"):
        folder.replace("a", server("a"), located.digest)
    with pytest.raises(WriteError, match="changed since"):
        folder.remove("a", located.digest)
    assert (folder.folder / "a.yaml").read_text().endswith("# edited by hand\n")


def test_removing_cuts_the_document_and_a_file_left_empty(folder: ConfigFolder) -> None:
    located = folder.locate("c")
    assert located is not None
    folder.remove("c", located.digest)
    assert folder.locate("c") is None
    assert folder.locate("b") is not None
    assert (folder.folder / "shared.yaml").read_text().startswith(GROUP)
    alone = folder.locate("a")
    assert alone is not None
    folder.remove("a", alone.digest)
    assert not (folder.folder / "a.yaml").exists()


def test_a_change_valid_alone_but_not_with_the_folder_is_refused(folder: ConfigFolder) -> None:
    located = folder.locate("b")
    assert located is not None
    before = files(folder)
    # Renamed to a name a.yaml already defines: the loader refuses the folder as a whole.
    with pytest.raises(WriteError, match="defined more than once"):
        folder.replace("b", server("a"), located.digest)
    with pytest.raises(WriteError, match="no file"):
        folder.remove("ghost", located.digest)
    assert files(folder) == before
    assert to_yaml({"kind": "MCPServer", "a": 1}) == "kind: MCPServer\na: 1\n"
