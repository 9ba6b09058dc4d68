"""A tool's input schema as form fields, and posted fields back as the tool's arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import MultiDict

from hub_proxy.dashboard.schema_form import (
    MAX_DEPTH,
    MAX_FIELDS,
    RAW_FIELD,
    Field,
    FormError,
    arguments,
    form_fields,
)
from tests.hub_proxy.dashboard.raw_server import SHAPE_SCHEMA


def by_key(fields: tuple[Field, ...]) -> dict[str, Field]:
    return {field.key: field for field in fields}


def posted(fields: tuple[Field, ...], values: dict[str, str]) -> MultiDict[str]:
    """A form posting ``values`` by property path (``where.city``)."""
    names: dict[str, str] = {}

    def walk(found: tuple[Field, ...], prefix: str) -> None:
        for field in found:
            names[prefix + field.key] = field.name
            walk(field.children, f"{prefix}{field.key}.")

    walk(fields, "")
    return MultiDict({names[path]: value for path, value in values.items()})


def test_every_shape_becomes_its_field() -> None:
    fields = by_key(form_fields(SHAPE_SCHEMA))
    kinds = {key: field.kind for key, field in fields.items()}
    assert kinds == {
        "text": "string",
        "count": "integer",
        "ratio": "number",
        "loud": "boolean",
        "colour": "enum",
        "tags": "lines",
        "where": "object",
        "extra": "json",
    }
    assert (fields["text"].label, fields["text"].required) == ("Some text", True)
    assert fields["ratio"].default == "0.5"
    assert [shown for _, shown in fields["colour"].choices] == ["red", "green", "blue"]
    city, floor = fields["where"].children
    # Required within an optional object: said, but not enforced by the browser.
    assert (city.key, city.required, city.enforced) == ("city", True, False)
    assert floor.kind == "integer"
    assert fields["count"].enforced


def test_posted_fields_become_typed_arguments() -> None:
    fields = form_fields(SHAPE_SCHEMA)
    form = posted(
        fields,
        {
            "text": "hi",
            "count": "3",
            "ratio": "",
            "loud": "false",
            "colour": json.dumps("green"),
            "tags": "a\n\n b \n",
            "where.city": "",
            "where.floor": "",
            "extra": '[{"k": 1}]',
        },
    )
    assert arguments(fields, form) == {
        "text": "hi",
        "count": 3,
        "loud": False,
        "colour": "green",
        "tags": ["a", "b"],
        "extra": [{"k": 1}],
    }


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"text": "x", "count": "three"}, "count: 'three' is not an integer"),
        ({"text": "x", "count": "1", "ratio": "inf"}, "not a finite number"),
        ({"text": "x", "count": "1", "extra": "[1,"}, "extra: not valid JSON"),
    ],
)
def test_a_value_not_of_its_type_is_refused_naming_the_field(
    values: dict[str, str], complaint: str
) -> None:
    fields = form_fields(SHAPE_SCHEMA)
    with pytest.raises(FormError, match=complaint):
        arguments(fields, posted(fields, values))


def test_raw_json_replaces_the_fields_and_must_be_an_object() -> None:
    fields = form_fields(SHAPE_SCHEMA)
    assert arguments(fields, MultiDict({RAW_FIELD: '{"text": "raw"}'})) == {"text": "raw"}
    with pytest.raises(FormError, match="must be an object"):
        arguments(fields, MultiDict({RAW_FIELD: "[1]"}))


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def test_hostile_schemas_stay_bounded() -> None:
    deep = form_fields(nested(50))
    depth = 0
    field = deep[0]
    while field.children:
        field, depth = field.children[0], depth + 1
    assert depth == MAX_DEPTH
    assert field.kind == "json"
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5000)}}
    assert len(form_fields(wide)) == MAX_FIELDS
    odd = form_fields({"type": "object", "properties": {"a": "not a schema", "b": {"$ref": "#"}}})
    assert [field.kind for field in odd] == ["json", "json"]
    assert form_fields({"properties": []}) == ()
