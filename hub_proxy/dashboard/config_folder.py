"""The dashboard's write path: MCPServer YAML from a form, validated, and written to the folder.

Configuration has one source of truth per deployment.  In a cluster it is the
API, fed by GitOps, so the dashboard writes nothing there: it builds the YAML
(from :func:`server_document`), validates it with the very models and CEL
rules admission applies (:func:`mcphub_api.loader.parse_object`), and shows
it to be copied into the repository.  Standalone, the folder *is* the
configuration, and with ``--ui-write`` an administrator may add, edit and
remove servers in it through :class:`ConfigFolder`; the hub's folder watch
then applies the change like any edit made by hand.

A write must never cost the folder anything:

* it is validated first, document and folder together -- the changed file as
  it would be, read by the same loader with every other file (duplicates
  included) -- so a refused change writes nothing, and the hub, which would
  refuse it anyway, never holds a folder it cannot load;
* it replaces a file atomically (a temporary file in the same folder, flushed
  to disk, then renamed over it), so a crash leaves the old file or the new
  one, never half of one; a new file is linked into place only if no file of
  that name exists, so adding never overwrites;
* an edit or removal names the file's content hash as it was shown, and is
  refused if the file changed since (someone edited it by hand meanwhile);
* a file holding other documents keeps them byte for byte: only the span of
  the server's own document is replaced (or cut), located by the YAML
  parser's marks; a file left with nothing in it is removed.

Temporary files start with ``.`` and end in ``.tmp``, which the loader and
the watch ignore.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from mcphub_api import MCPServer
from mcphub_api.errors import InvalidObjectError, LoadError
from mcphub_api.loader import load_folder, parse_object, yaml_files

TRANSPORTS: Final = ("stdio", "streamable-http", "sse")
SESSION_MODES: Final = ("shared", "perClient")
_NAME: Final = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class WriteError(Exception):
    """A change refused; ``problems`` say what to fix, each on its own."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerForm:
    """What the new-server form asks."""

    name: str
    runs: str  # "command" or "remote"
    transport: str
    command: str = ""
    image: str = ""
    url: str = ""
    session_mode: str = "shared"
    include: str = ""
    exclude: str = ""

    @classmethod
    def from_post(cls, form: Mapping[str, Any]) -> ServerForm:
        def text(key: str, default: str = "") -> str:
            value = form.get(key)
            return value.strip() if isinstance(value, str) else default

        return cls(
            name=text("name"),
            runs=text("runs", "command"),
            transport=text("transport", "stdio"),
            command=text("command"),
            image=text("image"),
            url=text("url"),
            session_mode=text("sessionMode", "shared"),
            include=text("include"),
            exclude=text("exclude"),
        )


def server_document(form: ServerForm) -> dict[str, Any]:
    """The MCPServer the form describes, as a plain document (validated separately)."""
    spec: dict[str, Any] = {"transport": form.transport}
    if form.runs == "remote":
        spec["remote"] = {"url": form.url}
    else:
        try:
            argv = shlex.split(form.command)
        except ValueError as exc:
            raise WriteError([f"command: {exc} (quote arguments as a shell would)"]) from None
        container: dict[str, Any] = {"image": form.image or "unused-standalone"}
        if argv:
            container["command"] = argv[:1]
            if argv[1:]:
                container["args"] = argv[1:]
        spec["container"] = container
    if form.session_mode != "shared":
        spec["sessionMode"] = form.session_mode
    tools = {
        key: patterns
        for key, patterns in (("include", form.include.split()), ("exclude", form.exclude.split()))
        if patterns
    }
    if tools:
        spec["tools"] = tools
    return {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": form.name},
        "spec": spec,
    }


def validated(document: Any, where: str = "the form") -> MCPServer:
    """The document as an MCPServer, if admission would take it; else the problems."""
    try:
        parsed = parse_object(document, where)
    except InvalidObjectError as exc:
        raise WriteError([str(error) for error in exc.errors] or [str(exc)]) from None
    if not isinstance(parsed, MCPServer):
        raise WriteError([f"{where} is a {parsed.kind}; only MCPServers are written here"])
    return parsed


def to_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


def parse_yaml(text: str) -> Any:
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise WriteError([f"not valid YAML: {exc}"]) from None
    if len(documents) != 1:
        raise WriteError([f"expected one MCPServer document, found {len(documents)}"])
    return documents[0]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Located:
    """Where a server is defined: the file, its text, and the span of the server's document."""

    path: Path
    text: str
    start: int
    end: int

    @property
    def document(self) -> str:
        return self.text[self.start : self.end]

    @property
    def digest(self) -> str:
        return digest(self.text)


class ConfigFolder:
    """Adds, replaces and removes MCPServer documents in a standalone hub's folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def locate(self, name: str) -> Located | None:
        """The file and span that define MCPServer ``name``, if any file does."""
        for path in yaml_files(self.folder):
            text = path.read_text()
            for start, end, document in _documents(text):
                if (
                    isinstance(document, dict)
                    and document.get("kind") == "MCPServer"
                    and isinstance(metadata := document.get("metadata"), dict)
                    and metadata.get("name") == name
                ):
                    return Located(path, text, start, end)
        return None

    def add(self, yaml_text: str) -> Path:
        """Write a new server to ``{name}.yaml``; refused if invalid or the name is taken."""
        server = validated(parse_yaml(yaml_text))
        name = server.metadata.name
        if not _NAME.match(name):
            raise WriteError([f"metadata.name {name!r} cannot name a file here"])
        path = self.folder / f"{name}.yaml"
        if path.exists() or self.locate(name) is not None:
            raise WriteError([f"MCPServer {name} is already defined (or {path.name} exists)"])
        text = yaml_text if yaml_text.endswith("\n") else yaml_text + "\n"
        self._check({path: text})
        _write_new(path, text)
        return path

    def replace(self, name: str, yaml_text: str, shown_digest: str) -> Path:
        """Replace the document of server ``name`` with ``yaml_text``, in its own file."""
        validated(parse_yaml(yaml_text))
        located = self._current(name, shown_digest)
        # The document's span ends with its line break when another document follows.
        body = yaml_text.rstrip("\n") + ("\n" if located.document.endswith("\n") else "")
        text = located.text[: located.start] + body + located.text[located.end :]
        if not text.endswith("\n"):
            text += "\n"
        self._check({located.path: text})
        _write_over(located.path, text)
        return located.path

    def remove(self, name: str, shown_digest: str) -> Path:
        """Cut the document of server ``name`` from its file; remove a file left empty."""
        located = self._current(name, shown_digest)
        rest = located.text[: located.start] + located.text[located.end :]
        left = [doc for _, _, doc in _documents(rest) if doc is not None]
        new_text = rest if left else None
        self._check({located.path: new_text})
        if new_text is None:
            located.path.unlink()
        else:
            _write_over(located.path, new_text)
        return located.path

    def _current(self, name: str, shown_digest: str) -> Located:
        located = self.locate(name)
        if located is None:
            raise WriteError([f"no file in the folder defines MCPServer {name} any more"])
        if located.digest != shown_digest:
            raise WriteError(
                [f"{located.path.name} changed since it was shown; reload to see it as it is now"]
            )
        return located

    def _check(self, changes: Mapping[Path, str | None]) -> None:
        try:
            load_folder(self.folder, changes)
        except LoadError as exc:
            raise WriteError(exc.problems) from None


def _documents(text: str) -> list[tuple[int, int, Any]]:
    """Each document's node span in ``text`` (characters), with its value."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    spans = []
    for node in nodes:
        value = yaml.safe_load(text[node.start_mark.index : node.end_mark.index])
        spans.append((node.start_mark.index, node.end_mark.index, value))
    return spans


def _temporary(path: Path, text: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    return Path(name)


def _write_over(path: Path, text: str) -> None:
    temporary = _temporary(path, text)
    try:
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    _sync_folder(path.parent)


def _write_new(path: Path, text: str) -> None:
    temporary = _temporary(path, text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise WriteError([f"{path.name} appeared meanwhile; nothing was written"]) from None
    finally:
        temporary.unlink()
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # The rename itself is durable only once the folder's entry is on disk.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
