"""What a JSON cell's inside must be, from its schema property, as a msgspec type.

A JSON-in-CSV cell (or a JSON export's value) is an object or an array, but its schema may
say more: tags are arrays of strings, `persona_identifiers` objects whose `id` is a string.
A cell of the right kind with the wrong inside (`[1, 2]` for tags) would break the SCHEMA
message the tap sent, so it is kept raw in `unparsed_cells` instead, like any cell that does
not parse. msgspec checks a decoded value (`msgspec.convert`) or a whole column's text (a
typed decode) against the type built here, without a Python check per item.

Only what the schema says is checked: an object's listed properties (others pass), its
`additionalProperties` schema when it lists none, an array's `items`. JSON Schema's
`integer` is msgspec's `int` here, so `1.0` is not taken for an integer.
"""

from __future__ import annotations

import functools
import typing as t

import msgspec


def shape_of(prop: dict) -> t.Any | None:
    """The msgspec type values of `prop` (an object or array property) must match, or None
    where being an object or an array is all the schema asks."""
    shape = _shape(prop)
    if shape in (t.Any, dict[str, t.Any], list[t.Any], dict[str, t.Any] | None, list[t.Any] | None):
        return None
    try:
        msgspec.json.Decoder(shape)  # msgspec refuses some unions (two kinds of object)
    except TypeError:
        return None
    return shape


def _shape(schema: t.Any) -> t.Any:
    if not isinstance(schema, dict):
        return t.Any  # `true`, or no schema at all
    if "anyOf" in schema:
        options = [_shape(option) for option in schema["anyOf"]]
    else:
        declared = schema.get("type")
        if declared is None:
            return t.Any
        kinds = [declared] if isinstance(declared, str) else list(declared)
        options = [_kind(kind, schema) for kind in dict.fromkeys(kinds)]
    if t.Any in options or not options:
        return t.Any
    return functools.reduce(lambda union, option: union | option, options)


def _kind(kind: str, schema: dict) -> t.Any:
    if kind == "object":
        return _object(schema)
    if kind == "array":
        return list[_shape(schema.get("items", True))]
    return {
        "string": str,
        "integer": int,
        "number": float,  # msgspec's float takes integers too, as JSON Schema's number does
        "boolean": bool,
        "null": None,
    }.get(kind, t.Any)


def _object(schema: dict) -> t.Any:
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    if not properties:
        if extra is False:
            return msgspec.defstruct("Empty", [], forbid_unknown_fields=True)
        return dict[str, _shape(extra)]
    # A struct checks the listed keys, by their JSON names, and lets any other key pass.
    fields = [
        (f"field_{number}", _shape(sub), msgspec.field(default=msgspec.UNSET, name=name))
        for number, (name, sub) in enumerate(properties.items())
    ]
    return msgspec.defstruct("Listed", fields, forbid_unknown_fields=extra is False)
