"""A form from a tool's input schema, and the tool's arguments from that form, server-side.

The form is made and read here, from the same schema walk, so it needs no
script: the browser shows fields (with ``required``, number steps and enum
choices it enforces itself) and posts them back, and :func:`arguments`
turns the posted strings into JSON values of the schema's types.

What becomes what:

* ``string``: a text field; ``number`` and ``integer``: number fields;
  ``boolean``: a checkbox when required, else a choice of unset, true and
  false (an unchecked box cannot say "leave it out"); ``enum``: a choice of
  its values;
* ``object`` with ``properties``: a fieldset of its properties, recursively;
* ``array`` of strings, numbers or integers: a text area, one item per line;
* anything else -- arrays of objects, ``anyOf``, ``$ref``, schemas nested
  deeper than :data:`MAX_DEPTH` or with more than :data:`MAX_FIELDS` fields
  in all -- a JSON text area for that value.

Optional fields left empty are left out of the arguments; an object all of
whose optional fields are empty is left out too.  A value that does not read
as its type is a :class:`FormError` naming the field and what was wrong, shown
above the form; the upstream still validates the arguments against its
schema, and its answer is shown as the result.

The schema is the upstream's, so it is untrusted: its names, titles and
descriptions are only ever rendered by the autoescaping templates, field
names are derived from positions, not from property names, and its size is
bounded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from multidict import MultiMapping

MAX_DEPTH: Final = 6
MAX_FIELDS: Final = 200
RAW_FIELD: Final = "raw-json"
_SCALARS: Final = frozenset({"string", "number", "integer"})

FieldKind = Literal["string", "number", "integer", "boolean", "enum", "lines", "object", "json"]


class FormError(ValueError):
    """A posted value that is not of its field's type."""


@dataclass(frozen=True)
class Field:
    """One field of the form; ``name`` is its form name, ``key`` its property name."""

    name: str
    key: str
    label: str
    kind: FieldKind
    required: bool
    description: str = ""
    # As the field shows it: a string, "true"/"false", an enum value's JSON, a JSON text.
    default: str = ""
    # An enum's values, JSON-encoded, and how each is shown.
    choices: tuple[tuple[str, str], ...] = ()
    # ``lines``: the type of each line.
    item_type: str = ""
    children: tuple[Field, ...] = ()
    # Required, and so is every object around it: only then may the browser insist on it
    # (a required field of an optional object is required only if the object is given).
    enforced: bool = False


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_FIELDS


def form_fields(schema: Mapping[str, Any]) -> tuple[Field, ...]:
    """The fields of a tool's ``inputSchema`` (an object schema)."""
    budget = _Budget()
    return _properties(schema, "arg", 0, budget, enforced=True)


def _properties(
    schema: Mapping[str, Any], prefix: str, depth: int, budget: _Budget, *, enforced: bool
) -> tuple[Field, ...]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = schema.get("required")
    needed = (
        {name for name in required if isinstance(name, str)}
        if isinstance(required, list)
        else set()
    )
    fields = []
    for index, (key, sub) in enumerate(properties.items()):
        if budget.left <= 0:
            break
        budget.left -= 1
        field_schema = sub if isinstance(sub, Mapping) else {}
        fields.append(
            _field(
                str(key),
                field_schema,
                f"{prefix}.{index}",
                required=key in needed,
                enforced=enforced and key in needed,
                depth=depth,
                budget=budget,
            )
        )
    return tuple(fields)


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str) and k != "null"]
        return kinds[0] if len(kinds) == 1 else ""
    return kind if isinstance(kind, str) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _field(
    key: str,
    schema: Mapping[str, Any],
    name: str,
    *,
    required: bool,
    enforced: bool,
    depth: int,
    budget: _Budget,
) -> Field:
    label = _text(schema.get("title")) or key
    description = _text(schema.get("description"))
    default = schema.get("default")
    # A JSON text area, unless the schema says something more specific.
    field = Field(name, key, label, "json", required, description, enforced=enforced)
    kind = _type_of(schema)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        choices = tuple((json.dumps(value), _shown(value)) for value in enum[:MAX_FIELDS])
        shown_default = json.dumps(default) if default is not None else ""
        return replace(field, kind="enum", choices=choices, default=shown_default)
    if kind in _SCALARS and not _composite(schema):
        shown = "" if default is None or isinstance(default, (dict, list)) else str(default)
        return replace(field, kind=kind, default=shown)  # type: ignore[arg-type]
    if kind == "boolean":
        shown = _shown(default) if isinstance(default, bool) else ""
        return replace(field, kind="boolean", default=shown)
    if kind == "array":
        items = schema.get("items")
        item_type = _type_of(items) if isinstance(items, Mapping) else ""
        if item_type in _SCALARS and isinstance(items, Mapping) and "enum" not in items:
            shown = "\n".join(str(v) for v in default) if isinstance(default, list) else ""
            return replace(field, kind="lines", item_type=item_type, default=shown)
    if (
        kind == "object"
        and isinstance(schema.get("properties"), Mapping)
        and depth < MAX_DEPTH
        and not _composite(schema)
    ):
        children = _properties(schema, name, depth + 1, budget, enforced=enforced)
        return replace(field, kind="object", children=children)
    return replace(field, default=json.dumps(default, indent=2) if default is not None else "")


def _composite(schema: Mapping[str, Any]) -> bool:
    return any(key in schema for key in ("anyOf", "oneOf", "allOf", "$ref"))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def arguments(fields: tuple[Field, ...], form: MultiMapping[Any]) -> dict[str, Any]:
    """The tool's arguments from a posted form (or its raw JSON, when given)."""
    raw = form.get(RAW_FIELD)
    if isinstance(raw, str) and raw.strip():
        value = _json(raw, "the JSON arguments")
        if not isinstance(value, dict):
            raise FormError('the JSON arguments must be an object, such as {"name": "value"}')
        return value
    return _object(fields, form)


def _object(fields: tuple[Field, ...], form: MultiMapping[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in fields:
        value = _value(field, form)
        if value is not _ABSENT:
            values[field.key] = value
    return values


class _Absent:
    pass


_ABSENT: Final = _Absent()


def _value(field: Field, form: MultiMapping[Any]) -> Any:  # noqa: PLR0911 - one per kind
    if field.kind == "object":
        value = _object(field.children, form)
        return value if value or field.required else _ABSENT
    if field.kind == "boolean" and field.required:
        return form.get(field.name) == "true"
    posted = form.get(field.name)
    text = posted if isinstance(posted, str) else ""
    if not text.strip() and not (field.kind == "string" and field.enforced):
        return _ABSENT
    match field.kind:
        case "string":
            return text
        case "number" | "integer":
            return _number(text, field)
        case "boolean":
            return text == "true"
        case "enum":
            return _json(text, field.label)
        case "lines":
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if field.item_type == "string":
                return lines
            return [_number(line, field, field.item_type) for line in lines]
        case _:
            return _json(text, field.label)


def _number(text: str, field: Field, kind: str | None = None) -> int | float:
    kind = kind or field.kind
    try:
        if kind == "integer":
            return int(text.strip())
        number = float(text.strip())
    except ValueError:
        wanted = "an integer" if kind == "integer" else "a number"
        raise FormError(f"{field.label}: {text.strip()[:40]!r} is not {wanted}") from None
    if not math.isfinite(number):
        raise FormError(f"{field.label}: {text.strip()[:40]!r} is not a finite number")
    return (
        int(number)
        if number.is_integer() and "." not in text and "e" not in text.lower()
        else number
    )


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FormError(f"{what}: not valid JSON ({exc})") from None
