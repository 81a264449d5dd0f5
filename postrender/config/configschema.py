"""The config's JSON Schema and the starter config, both derived from the rule registry."""

from __future__ import annotations

from postrender.config.loader import API_VERSION, KIND, TARGET_SPEC, TOP_FIELDS
from postrender.config.schema import json_schema


def config_json_schema() -> dict:
    from postrender.rules import REGISTRY

    rule_variants = []
    for name, module in REGISTRY.items():
        rule_variants.append({
            "type": "object",
            "description": (module.__doc__ or "").strip().splitlines()[0],
            "properties": {
                name: json_schema(module.OPTIONS),
                "target": json_schema(TARGET_SPEC),
                "when": {"type": ["string", "boolean"], "description": "Jinja expression; false skips the rule"},
                "expect": {"type": ["integer", "string"], "description": "matched-resource count: 1 or '>=1'"},
            },
            "required": [name],
            "additionalProperties": False,
        })
    top = {k: v for k, v in TOP_FIELDS.items() if k != "rules"}
    schema = json_schema(top)
    schema["properties"]["rules"] = {"type": "array", "items": {"oneOf": rule_variants}}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "postrender config"
    return schema


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
