"""Config schema as data, one generic validator (yamllint/cfgv style).

Each rule module declares its options as :class:`Field` data.  ``check`` rejects unknown keys,
wrong types and bad choices with a message that names the path (``rules[2].images[0].newTag``);
the config loader adds file:line:col.  ``json_schema`` turns the same data into the JSON Schema
printed by ``postrender schema``, so the two cannot disagree about what the data says:

- strings the loader renders as Jinja templates (every string in a rule's options, except the
  module's ``RAW_KEYS``, and in ``target``) may be a template wherever a string goes, also where
  the rendered value must be one of ``choices`` or match ``pattern``;
- an optional field may be ``null`` (the loader reads it as its default);
- ``min_items``, ``pattern`` and ``variants`` (the shapes an ``any`` field may take) are
  constraints the rule's ``build`` enforces too; they are here so that the schema has them and
  so that a rule switched off by ``when:`` is still checked by ``postrender validate``
  (``check(..., static=True)``, which accepts a template where a value would be checked later).
"""

from __future__ import annotations

import re

from postrender.records import FrozenRecord


class SchemaError(Exception):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


class Field(FrozenRecord):
    """One option of the config: its type (str | bool | int | list | map | any | str_or_int |
    str_or_list) and constraints.

    items: for a list, a Field, or a dict of Fields for lists of mappings.  fields: for a map,
    the known keys (None = free-form mapping).  pattern: for a str, a regex the whole value
    matches (Python and ECMA 262 alike); pattern_doc says what it means, for messages ("a Secret
    name").  min_items: a list has at least this many items.  variants: for any, the Fields one
    of which the value must satisfy.  extra_keys: a map with fields allows other keys too.
    """

    __slots__ = ("type", "required", "default", "choices", "items", "fields", "doc", "pattern", "pattern_doc",
                 "min_items", "variants", "extra_keys")
    _fields = __slots__

    def __init__(self, type: str, required: bool = False, default=None, choices: tuple = (), items=None,
                 fields: dict | None = None, doc: str = "", pattern: str | None = None, pattern_doc: str = "",
                 min_items: int = 0, variants: tuple = (), extra_keys: bool = False):
        self.type = type
        self.required = required
        self.default = default
        self.choices = choices
        self.items = items
        self.fields = fields
        self.doc = doc
        self.pattern = pattern
        self.pattern_doc = pattern_doc
        self.min_items = min_items
        self.variants = variants
        self.extra_keys = extra_keys


# What makes a string a Jinja template (config/templating.is_template), as a search pattern.
TEMPLATE_PATTERN = r"\{\{|\{%|\{#"
_TEMPLATE = re.compile(TEMPLATE_PATTERN)


def is_template(value) -> bool:
    return isinstance(value, str) and bool(_TEMPLATE.search(value))


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


def check_fields(value, fields: dict, path: tuple, static: bool = False, exactly_one: tuple = (),
                 extra_keys: bool = False, raw_keys=frozenset()) -> dict:
    """Validate a mapping against known fields; returns it with defaults filled in.

    ``exactly_one``: keys of which exactly one must be given (not null); ``extra_keys``: keys
    not in fields are allowed (and kept); ``raw_keys`` (with ``static``): fields whose strings
    are not templates, so a template there is checked like any other string."""
    if not isinstance(value, dict):
        raise SchemaError(path, f"must be a mapping with keys {', '.join(fields)}")
    out = {}
    for key in value:
        if key not in fields:
            if not extra_keys:
                raise SchemaError(path + (key,), f"unknown option {key!r}; valid options: {', '.join(fields)}")
            out[key] = value[key]
    for key, spec in fields.items():
        if key in value:
            out[key] = check(value[key], spec, path + (key,), static, templated=key not in raw_keys)
        elif spec.required:
            raise SchemaError(path, f"missing required option {key!r}")
        else:
            out[key] = spec.default
    if exactly_one:
        given = [k for k in exactly_one if value.get(k) is not None]
        if len(given) != 1:
            raise SchemaError(path, f"needs exactly one of {', '.join(exactly_one)}"
                              + (f", found {', '.join(given)}" if given else ""))
    return out


def check(value, spec: Field, path: tuple, static: bool = False, templated: bool = True):
    """Validate value against spec.  ``static``: the value is not rendered yet (a rule that
    ``when:`` switched off): a template string stands for any string (where ``templated``), and
    ``pattern``, ``min_items`` and ``variants``, which the rule's ``build`` checks after
    rendering with its own messages, are checked here."""
    if value is None and not spec.required and (spec.type != "any" or spec.variants):
        return spec.default
    if static and spec.variants:
        matching = [v for v in spec.variants if _type_ok(v.type, value)]
        if len(matching) != 1:
            kinds = " or ".join(_TYPE_NAMES.get(v.type, v.type) for v in spec.variants)
            raise SchemaError(path, f"must be {kinds}")
        return check(value, matching[0], path, static, templated)
    if not _type_ok(spec.type, value):
        got = "null" if value is None else type(value).__name__
        raise SchemaError(path, f"must be {_TYPE_NAMES.get(spec.type, spec.type)}, not {got}")
    if static and templated and is_template(value):
        return value
    if spec.choices and value not in spec.choices:
        raise SchemaError(path, f"must be one of {', '.join(map(str, spec.choices))}, not {value!r}")
    if static and spec.pattern and isinstance(value, str) and not re.fullmatch(spec.pattern, value):
        raise SchemaError(path, f"{value!r} is not {spec.pattern_doc or 'valid'}")
    if static and spec.min_items and isinstance(value, list) and len(value) < spec.min_items:
        raise SchemaError(path, f"needs at least {spec.min_items} item(s)")
    if spec.type == "list" and spec.items is not None:
        if isinstance(spec.items, dict):
            return [check_fields(v, spec.items, path + (i,), static, raw_keys=() if templated else spec.items)
                    for i, v in enumerate(value)]
        return [check(v, spec.items, path + (i,), static, templated) for i, v in enumerate(value)]
    if spec.type == "map" and spec.fields is not None:
        return check_fields(value, spec.fields, path, static, extra_keys=spec.extra_keys,
                            raw_keys=() if templated else spec.fields)
    return value


# ---- JSON Schema ----------------------------------------------------------------------------

_TEMPLATE_STRING = {"type": "string", "pattern": TEMPLATE_PATTERN, "description": "a Jinja template"}


def json_schema_fields(fields: dict, templated: bool = False, exactly_one: tuple = (),
                       raw_keys=frozenset(), extra_keys: bool = False) -> dict:
    """The JSON Schema of a mapping of Fields (``raw_keys``: fields not rendered as templates)."""
    out = {
        "type": "object",
        "additionalProperties": extra_keys,
        "properties": {k: json_schema(v, templated and k not in raw_keys) for k, v in fields.items()},
        "required": [k for k, v in fields.items() if v.required],
    }
    if exactly_one:
        out["oneOf"] = [{"required": [k], "properties": {k: {"not": {"type": "null"}}}} for k in exactly_one]
    return out


def json_schema(spec, templated: bool = False) -> dict:
    """The JSON Schema of a Field (or a mapping of Fields).  ``templated``: its strings are
    rendered as Jinja templates before they are checked (rule options, ``target``)."""
    if isinstance(spec, dict):
        return json_schema_fields(spec, templated)
    out = _value_schema(spec, templated)
    if not spec.required and (spec.type != "any" or spec.variants):
        out = _nullable(out)
    if spec.doc:
        out = {"description": spec.doc, **out}
    return out


def _value_schema(spec: Field, templated: bool) -> dict:
    if spec.variants:
        return {"anyOf": [_value_schema(v, templated) for v in spec.variants]}
    t = spec.type
    if t == "str":
        out: dict = {"type": "string"}
        if spec.choices:
            out = {"enum": list(spec.choices)}
        elif spec.pattern:
            out["pattern"] = f"^(?:{spec.pattern})$"
        if templated and (spec.choices or spec.pattern):
            out = {"anyOf": [out, _TEMPLATE_STRING]}
        return out
    if t == "bool":
        return {"type": "boolean"}
    if t == "int":
        return {"type": "integer"}
    if t == "str_or_int":
        return {"type": ["string", "integer"]}
    if t == "str_or_list":
        return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    if t == "list":
        out = {"type": "array"}
        if spec.items is not None:
            out["items"] = json_schema(spec.items, templated) if isinstance(spec.items, dict) \
                else _value_schema(spec.items, templated)
        if spec.min_items:
            out["minItems"] = spec.min_items
        return out
    if t == "map":
        if spec.fields is not None:
            return json_schema_fields(spec.fields, templated, extra_keys=spec.extra_keys)
        return {"type": "object"}
    if t == "any":
        return {}
    raise AssertionError(t)


def _nullable(schema: dict) -> dict:
    """The same schema, also allowing null (an optional field the loader reads as its default)."""
    if set(schema) == {"enum"}:
        return {"enum": schema["enum"] + [None]}
    t = schema.get("type")
    # Keywords about objects, arrays or strings ignore a null; oneOf/anyOf would not.
    if t is not None and "oneOf" not in schema and "anyOf" not in schema:
        return {**schema, "type": (t if isinstance(t, list) else [t]) + ["null"]}
    return {"anyOf": [schema, {"type": "null"}]}
