"""The config's JSON Schema and the starter config, both derived from the rule registry."""

from __future__ import annotations

from postrender.config.loader import API_VERSION, EXPECT_PATTERN, KIND, TARGET_SPEC, TOP_FIELDS
from postrender.config.schema import json_schema, json_schema_fields


def config_json_schema() -> dict:
    """The JSON Schema of a config: what ``postrender validate`` checks that a schema can say.

    Generated from the same Field data the loader checks with (config/schema.py): rule options
    and ``target`` accept a Jinja template wherever they take a string, an optional field may
    be null, and each rule entry has exactly one rule key.  What only validate can know: Jinja
    syntax and undefined variables, what a template renders to, the regexes and selectors of a
    target, template files, a registry mirror cycle, and the 255-character limit on image names.
    """
    from postrender.rules import REGISTRY

    rule_variants = []
    for name, module in REGISTRY.items():
        options = module.OPTIONS
        if isinstance(options, dict):
            options_schema = json_schema_fields(options, templated=True,
                                                exactly_one=getattr(module, "EXACTLY_ONE_OF", ()),
                                                raw_keys=getattr(module, "RAW_KEYS", frozenset()))
        else:
            options_schema = json_schema(options, templated=True)
        rule_variants.append({
            "type": "object",
            "description": (module.__doc__ or "").strip().splitlines()[0],
            "properties": {
                name: options_schema,
                "target": json_schema(TARGET_SPEC, templated=True),
                "when": {"type": ["string", "boolean", "null"],
                         "description": "Jinja expression over the variables; false skips the rule"},
                "expect": {"anyOf": [{"type": "integer", "minimum": 0},
                                     {"type": "string", "pattern": f"^{EXPECT_PATTERN}$"},
                                     {"type": "null"}],
                           "description": "how many resources must match: 1, '>=1', '<3'"},
            },
            "required": [name],
            "additionalProperties": False,
        })
    top = {k: v for k, v in TOP_FIELDS.items() if k != "rules"}
    schema = json_schema_fields(top)
    schema["properties"]["rules"] = {"type": ["array", "null"], "items": {"oneOf": rule_variants},
                                     "description": TOP_FIELDS["rules"].doc}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "postrender config", **schema}


def starter_config() -> str:
    from postrender.rules import REGISTRY

    parts = [
        "# postrender config: rules applied in order to every rendered manifest stream.",
        "# Reference: README.md; JSON Schema for editors: `postrender schema`.",
        f"apiVersion: {API_VERSION}",
        f"kind: {KIND}",
        "metadata:",
        "  name: postrender   # kustomize needs a name when this file is a plugin config",
        "vars:                # defaults; override with --values, POSTRENDER_VAR_<NAME>, --set",
        "  policy: IfNotPresent",
        "rules:",
    ]
    for name, module in REGISTRY.items():
        example = getattr(module, "EXAMPLE", None)
        if example:
            parts.append(example.rstrip("\n"))
    return "\n".join(parts) + "\n"
