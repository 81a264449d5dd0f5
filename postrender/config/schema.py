"""Config schema as data, one generic validator (yamllint/cfgv style).

Each rule module declares its options as :class:`Field` data.  ``check`` rejects unknown keys,
wrong types and bad choices with a message that names the path (``rules[2].images[0].newTag``);
the config loader adds file:line:col.  ``json_schema`` turns the same data into the JSON Schema
printed by ``postrender schema``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SchemaError(Exception):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Field:
    type: str                      # str | bool | int | list | map | any | str_or_int | str_or_list
    required: bool = False
    default: Any = None
    choices: tuple = ()
    items: Any = None              # list: a Field, or a dict of Fields for lists of mappings
    fields: dict | None = None     # map: known keys (None = free-form mapping)
    doc: str = ""


def path_text(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_TYPE_NAMES = {
    "str": "a string", "bool": "true or false", "int": "a whole number", "list": "a list",
    "map": "a mapping", "str_or_int": "a string or a number", "str_or_list": "a string or a list of strings",
}


def _type_ok(kind: str, value) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "map":
        return isinstance(value, dict)
    if kind == "str_or_int":
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if kind == "str_or_list":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    raise AssertionError(kind)


def check_fields(value, fields: dict, path: tuple) -> dict:
    """Validate a mapping against known fields; returns it with defaults filled in."""
    if not isinstance(value, dict):
        raise SchemaError(path, f"must be a mapping with keys {', '.join(fields)}")
    for key in value:
        if key not in fields:
            raise SchemaError(path + (key,), f"unknown option {key!r}; valid options: {', '.join(fields)}")
    out = {}
    for key, spec in fields.items():
        if key in value:
            out[key] = check(value[key], spec, path + (key,))
        elif spec.required:
            raise SchemaError(path, f"missing required option {key!r}")
        else:
            out[key] = spec.default
    return out


def check(value, spec: Field, path: tuple):
    if value is None and not spec.required and spec.type != "any":
        return spec.default
    if not _type_ok(spec.type, value):
        got = "null" if value is None else type(value).__name__
        raise SchemaError(path, f"must be {_TYPE_NAMES.get(spec.type, spec.type)}, not {got}")
    if spec.choices and value not in spec.choices:
        raise SchemaError(path, f"must be one of {', '.join(map(str, spec.choices))}, not {value!r}")
    if spec.type == "list" and spec.items is not None:
        if isinstance(spec.items, dict):
            return [check_fields(v, spec.items, path + (i,)) for i, v in enumerate(value)]
        return [check(v, spec.items, path + (i,)) for i, v in enumerate(value)]
    if spec.type == "map" and spec.fields is not None:
        return check_fields(value, spec.fields, path)
    return value


def json_schema(spec) -> dict:
    if isinstance(spec, dict):
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: json_schema(v) for k, v in spec.items()},
            "required": [k for k, v in spec.items() if v.required],
        }
    out: dict = {}
    if spec.doc:
        out["description"] = spec.doc
    t = spec.type
    if t == "str":
        out["type"] = "string"
    elif t == "bool":
        out["type"] = "boolean"
    elif t == "int":
        out["type"] = "integer"
    elif t == "str_or_int":
        out["type"] = ["string", "integer"]
    elif t == "str_or_list":
        out["anyOf"] = [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    elif t == "list":
        out["type"] = "array"
        if spec.items is not None:
            out["items"] = json_schema(spec.items)
    elif t == "map":
        if spec.fields is not None:
            out.update(json_schema(spec.fields))
        else:
            out["type"] = "object"
    if spec.choices:
        out["enum"] = list(spec.choices)
    return out

