"""``postrender images --suspects``: strings that look like image references but are not image fields.

For offline installs: image discovery (``discovery.py``) takes image fields, container lists
and ``image`` keys, never ConfigMap data, annotations or arguments it does not know to be image
flags.  A chart can still make a cluster pull what those say (Knative's ``config-deployment``
ConfigMap names the queue-proxy image; an operator reads ``--default-image quay.io/...`` from
an argument postrender does not recognise).  This report lists every such string, with its
document, resource and path, so a user can add ``imageFields``/``podSpecPaths`` or dismiss it.

A *suspect* is a substring of any string value (keys are not searched) that parses as an image
reference and looks like one written on purpose:

* ``host/path[:tag][@digest]`` where ``host`` has a dot or a port or is ``localhost``, with a tag
  or digest, or on a well-known public registry (:data:`PUBLIC_REGISTRIES`) even without;
* or a Docker Hub ``namespace/name:tag`` whose tag is a version (``bitnami/redis:7.2.4``,
  ``v1.2``, ``latest``).

URLs (``https://quay.io/...``, ``oci://...``), label-like keys (``app.kubernetes.io/name``, no
tag) and single names (``nginx:1.27``, indistinguishable from ``host:port``) are not suspects.
CRDs (schemas) and Secrets (never printed) are not searched, nor are the values discovery
already takes as images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postrender.images.discovery import ImageTable
from postrender.images.reference import (
    DOMAIN_COMPONENT_PATTERN,
    PATH_COMPONENT_PATTERN,
    TAG_PATTERN,
    InvalidImageReference,
    parse,
)
from postrender.kinds import group_of, resources

# Registries whose name alone makes a reference a suspect, tag or not.
PUBLIC_REGISTRIES = ("docker.io", "index.docker.io", "registry-1.docker.io", "quay.io", "ghcr.io", "gcr.io",
                     "registry.k8s.io", "k8s.gcr.io", "public.ecr.aws", "mcr.microsoft.com", "nvcr.io",
                     "registry.gitlab.com", "docker.elastic.co", "cgr.dev", "registry.redhat.io",
                     "registry.access.redhat.com", "icr.io", "cr.l5d.io", "docker.redpanda.com")
# ... and registries by domain suffix (Artifact Registry, regional GCR, ACR, ECR).
PUBLIC_REGISTRY_SUFFIXES = (".gcr.io", ".pkg.dev", ".azurecr.io", ".amazonaws.com", ".icr.io")

_COMPONENT = PATH_COMPONENT_PATTERN
# A registry host as a suspect needs a dot (or is localhost): "name/x:1" is a Docker Hub path.
_HOST = rf"(?:(?:{DOMAIN_COMPONENT_PATTERN}\.)+{DOMAIN_COMPONENT_PATTERN}|localhost)(?::[0-9]+)?"
_TAG = TAG_PATTERN
_DIGEST = r"@sha(?:256:[0-9a-f]{64}|384:[0-9a-f]{96}|512:[0-9a-f]{128})"
# Not preceded by what continues a word, a path or a URL scheme; not followed by more of one.
_BEFORE = r"(?<![\w.@/:%~-])"
_AFTER = r"(?![\w/@~-]|\.[\w])"
QUALIFIED = re.compile(rf"{_BEFORE}(?P<ref>(?P<host>{_HOST})/{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:{_DIGEST})?){_AFTER}")
HUB = re.compile(rf"{_BEFORE}(?P<ref>{_COMPONENT}/{_COMPONENT}:(?:v?[0-9][A-Za-z0-9_.-]*|latest)(?:{_DIGEST})?){_AFTER}")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass
class Suspect:
    document: int
    source: str | None
    kind: str | None
    namespace: str | None
    name: str | None
    path: str
    line: int | None   # line inside a multi-line string value, 1-based
    reference: str


def _public(host: str) -> bool:
    host = host.split(":", 1)[0].lower()
    return host in PUBLIC_REGISTRIES or host.endswith(PUBLIC_REGISTRY_SUFFIXES)


def find_references(text: str) -> list[tuple[int, str]]:
    """(offset, reference) for every suspect in one string, in order."""
    found = []
    for match in QUALIFIED.finditer(text):
        ref = match.group("ref")
        try:
            image = parse(ref)
        except InvalidImageReference:
            continue
        if image.tag is not None or image.digest is not None or _public(match.group("host")):
            found.append((match.start("ref"), ref))
    taken = {offset for offset, _ in found}
    for match in HUB.finditer(text):
        offset = match.start("ref")
        if offset in taken or any(o <= offset < o + len(r) for o, r in found):
            continue
        try:
            parse(match.group("ref"))
        except InvalidImageReference:
            continue
        found.append((offset, match.group("ref")))
    return sorted(found)


def _key_path(prefix: str, key) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{key!r}]"


def _strings(node, path: str = ""):
    """(holder, key, path, value) for every string value under node, keys not included."""
    stack = [(node, path)]
    while stack:
        current, where = stack.pop()
        items = current.items() if isinstance(current, dict) else enumerate(current)
        children = []
        for key, value in items:
            if key == "managedFields" and (where == "metadata" or where.endswith(".metadata")):
                continue
            child = _key_path(where, key)
            if isinstance(value, str):
                yield current, key, child, value
            elif isinstance(value, (dict, list)):
                children.append((value, child))
        stack.extend(reversed(children))


def suspects(documents, table: ImageTable) -> list[Suspect]:
    out: list[Suspect] = []
    for doc in documents:
        if doc.void or doc.removed:
            continue
        for where, resource in resources(doc.obj):
            group, kind = group_of(resource.get("apiVersion")), resource.get("kind")
            if kind == "CustomResourceDefinition" or (group == "" and kind == "Secret"):
                continue
            whole, spans = set(), {}
            for loc in table.locations(resource):
                if loc.span is None:
                    whole.add((id(loc.holder), loc.key))
                else:
                    spans.setdefault((id(loc.holder), loc.key), []).append(loc.value)
            meta = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
            for holder, key, path, value in _strings(resource, where):
                if (id(holder), key) in whole:
                    continue
                known = spans.get((id(holder), key), ())
                for offset, ref in find_references(value):
                    if ref in known:
                        continue
                    line = value.count("\n", 0, offset) + 1 if "\n" in value else None
                    out.append(Suspect(doc.index + 1, doc.source, kind, meta.get("namespace"), meta.get("name"),
                                       path, line, ref))
    return out


def render_suspects(documents, config, fmt: str = "text") -> str:
    """The ``--suspects`` report: one line per suspect (text) or a JSON list."""
    import json

    found = suspects(documents, ImageTable.of(config))
    if fmt == "json":
        return json.dumps([s.__dict__ for s in found], indent=2) + "\n"
    lines = []
    for s in found:
        doc = f"document {s.document}" + (f" ({s.source})" if s.source else "")
        ns = f"{s.namespace}/" if isinstance(s.namespace, str) and s.namespace else ""
        line = f" (line {s.line} of the value)" if s.line else ""
        lines.append(f"{doc}: {s.kind}/{ns}{s.name}: {s.path}{line}: {s.reference}\n")
    return "".join(lines)
