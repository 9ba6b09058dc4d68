"""Turn the pydantic models into Kubernetes structural OpenAPI v3 schemas.

Pydantic already speaks JSON Schema; the API server wants a stricter dialect.
A *structural* schema has a type on every node, no ``$ref``, no ``anyOf``
mixing types, and no ``additionalProperties`` beside ``properties``.  So
this module inlines references, unwraps ``Optional`` (an unset field is simply
absent on the wire), drops titles and ``null`` defaults, and keeps the
Kubernetes extensions (``x-kubernetes-*``) that the models declare through
``json_schema_extra``.

A field's own docstring wins over the docstring of its type, because it says
what the value means *here*.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]

_DROPPED_KEYS = frozenset({"title", "$defs"})


def structural_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of ``model``'s wire form (camelCase, defaults included)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Schema] = raw.get("$defs", {})
    return _convert(raw, definitions)


def _resolve(node: Schema, definitions: dict[str, Schema]) -> Schema:
    """Inline ``$ref`` and unwrap ``anyOf [X, null]``, keeping the outer keys."""
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        outer = {key: value for key, value in node.items() if key != "$ref"}
        return _resolve({**target, **outer}, definitions)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        outer = {key: value for key, value in node.items() if key != "anyOf"}
        if len(variants) == 1:
            return _resolve({**variants[0], **outer}, definitions)
        if outer.get("x-kubernetes-int-or-string"):
            return outer
        raise ValueError(f"cannot express anyOf {node['anyOf']} in a structural schema")
    return node


def _convert(node: Schema, definitions: dict[str, Schema]) -> Schema:
    node = _resolve(node, definitions)
    converted: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "properties":
            converted[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key == "items":
            converted[key] = _convert(value, definitions)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                converted[key] = _convert(value, definitions)
            # `true` (free-form) and `false` (closed) have no structural form:
            # free-form objects say x-kubernetes-preserve-unknown-fields, and
            # closed objects are closed because unknown fields are pruned.
        else:
            converted[key] = value
    if converted.get("x-kubernetes-preserve-unknown-fields"):
        converted["type"] = "object"
    return converted


def walk(schema: Schema, path: str = "") -> list[tuple[str, Schema]]:
    """Every node of a converted schema with its dotted path (``[]`` for list items)."""
    nodes = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes.extend(walk(sub, f"{path}.{name}" if path else name))
    if "items" in schema:
        nodes.extend(walk(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        nodes.extend(walk(schema["additionalProperties"], f"{path}{{}}"))
    return nodes
