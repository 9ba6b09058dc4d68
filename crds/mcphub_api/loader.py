"""Read MCPServer, MCPGroup and AccessPolicy objects from YAML, validated like admission.

The standalone hub has no API server to refuse a bad object, so this module
does what admission would: it checks the schema (through the same pydantic
models the CRDs are generated from) and then evaluates the CRDs' own CEL
rules, read from the generated schema and run by a CEL interpreter, with the
defaults applied first as the API server does.  One rule text, two
evaluators: a file that loads here is a file ``kubectl apply`` accepts.

Errors name the file, the document, the object and the field, and every
problem of every document is reported at once.

``v1`` Secrets are read too (see :mod:`mcphub_api.secret`): a standalone
folder holds the Secrets its objects refer to, as a namespace would.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cel
import pydantic
import yaml

from mcphub_api.crd import KINDS, openapi_schema
from mcphub_api.errors import FieldError, InvalidObjectError, LoadError
from mcphub_api.meta import API_VERSION, Resource
from mcphub_api.schema import Schema
from mcphub_api.secret import Secret

# What a folder may hold: the API's kinds, and the Secrets they refer to.
Loaded = Resource | Secret

_BY_KIND: dict[str, type[Resource]] = {kind.info.kind: kind for kind in KINDS}

# Kubernetes escapes property names that CEL cannot spell (see the CRD docs on
# "Escaping"); the rules in the schema use the escaped forms.
_CEL_RESERVED = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
        "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
        "void", "while",
    }
)  # fmt: skip


def _cel_name(name: str) -> str:
    if name in _CEL_RESERVED:
        return f"__{name}__"
    return (
        name.replace("__", "__underscores__")
        .replace(".", "__dot__")
        .replace("-", "__dash__")
        .replace("/", "__slash__")
    )


def _cel_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {_cel_name(key): _cel_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cel_value(item) for item in value]
    return value


@functools.cache
def _compiled(rule: str) -> Any:
    return cel.compile(rule)


@functools.cache
def _schema_of(kind: str) -> Schema:
    return openapi_schema(_BY_KIND[kind])


def _pydantic_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _pydantic_message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "Required value"
    return str(error["msg"])


def _schema_errors(error: pydantic.ValidationError) -> list[FieldError]:
    return [
        FieldError(_pydantic_path(item["loc"]), _pydantic_message(item)) for item in error.errors()
    ]


def _rule_errors(schema: Schema, value: Any, path: str) -> Iterator[FieldError]:
    """Evaluate every CEL rule and list-map key constraint under ``schema`` on ``value``."""
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            holds = _compiled(rule["rule"]).execute({"self": _cel_value(value)})
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            holds, note = False, f" (rule could not be evaluated: {exc})"
        else:
            note = ""
        if holds is not True:
            field = path + rule.get("fieldPath", "")
            yield FieldError(field.lstrip("."), f"Invalid value: {rule['message']}{note}")
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _rule_errors(sub, value[name], f"{path}.{name}")
    elif isinstance(value, list) and "items" in schema:
        yield from _duplicate_keys(schema, value, path)
        for index, item in enumerate(value):
            yield from _rule_errors(schema["items"], item, f"{path}[{index}]")


def _duplicate_keys(schema: Schema, items: list[Any], path: str) -> Iterator[FieldError]:
    """Refuse repeated keys in a list-type map, in the API server's words."""
    if schema.get("x-kubernetes-list-type") != "map":
        return
    keys = schema["x-kubernetes-list-map-keys"]
    seen: set[tuple[Any, ...]] = set()
    for item in items:
        key = tuple(item.get(name) for name in keys)
        if key in seen:
            shown = ",".join(
                f"{name}={json.dumps(value)}" for name, value in zip(keys, key, strict=True)
            )
            yield FieldError(path.lstrip("."), f"duplicate entries for key [{shown}]")
        seen.add(key)


def _describe(document: Any) -> str:
    if not isinstance(document, dict):
        return "object"
    metadata = document.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    namespace = metadata.get("namespace", "default") if isinstance(metadata, dict) else "default"
    return f"{document.get('kind', '?')} {namespace}/{name}"


def parse_object(document: Any, where: str = "object") -> Loaded:
    """Validate one object like admission would; raise InvalidObjectError if refused."""
    where = f"{where} ({_describe(document)})"
    if not isinstance(document, dict):
        raise InvalidObjectError(where, [FieldError("", "expected a mapping (a YAML object)")])
    if (document.get("apiVersion"), document.get("kind")) == ("v1", "Secret"):
        try:
            return Secret.model_validate(document)
        except pydantic.ValidationError as exc:
            raise InvalidObjectError(where, _schema_errors(exc)) from None
    if document.get("apiVersion") != API_VERSION:
        raise InvalidObjectError(
            where,
            [
                FieldError(
                    "apiVersion",
                    f"must be {API_VERSION} (or v1 for a Secret), "
                    f"got {document.get('apiVersion')!r}",
                )
            ],
        )
    resource = _BY_KIND.get(document.get("kind", ""))
    if resource is None:
        known = ", ".join(_BY_KIND)
        raise InvalidObjectError(where, [FieldError("kind", f"must be one of {known}")])
    try:
        parsed = resource.model_validate(document)
    except pydantic.ValidationError as exc:
        raise InvalidObjectError(where, _schema_errors(exc)) from None
    wire = parsed.to_wire()
    wire["metadata"] = {"name": parsed.metadata.name, "namespace": parsed.metadata.namespace}
    errors = list(_rule_errors(_schema_of(resource.info.kind), wire, ""))
    if errors:
        raise InvalidObjectError(where, errors)
    return parsed


def load_documents(text: str, source: str) -> list[Loaded]:
    """Every object of a multi-document YAML text; all problems raised together."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise LoadError([f"{source}: not valid YAML: {exc}"]) from None
    loaded: list[Loaded] = []
    problems: list[str] = []
    for index, document in enumerate(documents, start=1):
        try:
            loaded.append(parse_object(document, f"{source}, document {index}"))
        except InvalidObjectError as exc:
            problems.append(str(exc))
    if problems:
        raise LoadError(problems)
    return loaded


def yaml_files(folder: Path) -> list[Path]:
    """YAML files under ``folder``, except kustomize's own configuration files."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix in {".yaml", ".yml"}
        and path.is_file()
        and path.name not in {"kustomization.yaml", "kustomization.yml"}
    )


def load_folder(folder: Path, changes: Mapping[Path, str | None] | None = None) -> list[Loaded]:
    """Every object in every YAML file under ``folder``, with duplicates refused.

    ``changes`` are files as they would be after a write (their new text, or
    None for a file removed), so that a change can be validated with the whole
    folder before it is written.
    """
    if not folder.is_dir():
        raise LoadError([f"{folder}: not a folder of YAML files"])
    changes = changes or {}
    loaded: list[Loaded] = []
    problems: list[str] = []
    for path in sorted({*yaml_files(folder), *changes}):
        text = changes[path] if path in changes else path.read_text()
        if text is None:
            continue
        try:
            loaded.extend(load_documents(text, str(path)))
        except LoadError as exc:
            problems.extend(exc.problems)
    seen: set[tuple[str, str, str]] = set()
    for resource in loaded:
        key = (resource.kind, resource.metadata.namespace, resource.metadata.name)
        if key in seen:
            problems.append(f"{key[0]} {key[1]}/{key[2]} is defined more than once")
        seen.add(key)
    if problems:
        raise LoadError(problems)
    return loaded
