"""images: kustomize's ``images:`` list (newName, newTag, digest, tagSuffix), same semantics.

Copy a kustomization's ``images:`` block as it is:

    - images:
        - name: nginx                       # matches nginx, nginx:1.0, nginx@sha256:...
          newName: registry.example.com/nginx
          newTag: "1.27"                    # quote tags: 1.10 unquoted is a number
        - name: quay.io/jetstack/cert-manager-controller
          digest: sha256:...                # replaces the tag and any digest

Or, to match normalised names (postrender's improvement over kustomize, where ``name: nginx``
matches neither ``docker.io/nginx`` nor ``docker.io/library/nginx``):

    - images:
        normalize: true
        entries:
          - name: nginx                     # also docker.io/library/nginx:1.0
            newTag: "1.27"

Behaviour follows kustomize 5.7 value by value (``images.apply_kustomize_image`` lists it):
``name`` matches with or without a tag and a ``@sha256:`` digest; ``newTag`` drops the old tag and
digest; ``digest`` drops the old tag; both set give ``name:tag@digest``; ``tagSuffix`` (only when
neither is set) appends to the old tag.  Entries apply one after another in list order.

A value kustomize accepts although it is not a valid reference (a short or non-hex digest
``nginx@sha256:xyz``, a template tag ``my-image:{GENERATED_TAG}``) is rewritten as kustomize 5.7
rewrites it when an entry's ``name`` matches it, with a warning; other invalid references are
reported and left unchanged.  Like kustomize (whose default image field specs say
``create: true``), the rule turns a null ``containers:``, ``initContainers:`` or ``volumes:``
under ``spec`` or ``spec.template.spec`` into an empty list.

Deviations from kustomize, on purpose: each entry is applied once (kustomize 5.7.1 applies
``tagSuffix`` twice to most containers: ``nginx:1.0-fips-fips``); every image location is
rewritten (kustomize only touches ``containers``/``initContainers``, not ephemeral containers,
image volumes, ``Prometheus.spec.image``, other ``image`` keys or images inside
``args``/``env``); invalid references kustomize would not rewrite either are reported as
warnings and left unchanged; a ``newName`` that carries the old digest into another repository
path is warned about.
"""

from __future__ import annotations

import re

from postrender.errors import ConfigError
from postrender.images.reference import ImageEntry, apply_kustomize_image, is_reference
from postrender.images.discovery import ImageRule, ImageTable, check_reference, image_locations, warn_if_digest_moved
from postrender.config.schema import Field, SchemaError, check, check_fields, path_text
from postrender.kinds import stream_resources
from postrender.rules.base import Rule, RunContext, resource_name

NAME = "images"
ENTRY = {
    "name": Field("str", required=True, doc="image name to match (kustomize: a regex, with or without tag/digest)"),
    "newName": Field("str", doc="replaces the name"),
    "newTag": Field("str", doc="replaces the tag (and drops a digest); quote it"),
    "digest": Field("str", doc="sha256:...; replaces the tag and digest"),
    "tagSuffix": Field("str", doc="appended to the existing tag when neither newTag nor digest is set"),
}
ENTRIES = Field("list", items=ENTRY, min_items=1)
MAPPING = {
    "entries": Field("list", required=True, items=ENTRY, min_items=1, doc="kustomize images: entries"),
    "normalize": Field("bool", default=False, doc="match normalised names (busybox = docker.io/library/busybox)"),
}
# A list (kustomize's shape) or a mapping {entries, normalize}: checked in build().
OPTIONS = Field("any", required=True, variants=(ENTRIES, Field("map", fields=MAPPING)),
                doc="a kustomize images: list, or {entries: [...], normalize: true}")


class Images(ImageRule, Rule):
    name = NAME
    per_document = True

    def __init__(self, entries: list[ImageEntry], normalize: bool, table: ImageTable):
        self.entries = entries
        self.normalize = normalize
        self.table = table

    def rewrite(self, value: str) -> tuple[str | None, bool]:
        """(the new value or None when unchanged, whether an entry that applied set a digest)."""
        new, pinned = value, False
        for entry in self.entries:
            out = apply_kustomize_image(new, entry, self.normalize)
            if out is not None:
                new, pinned = out, pinned or bool(entry.digest)
        return (None if new == value else new), pinned

    def apply(self, documents, ctx: RunContext):
        _empty_null_lists(self, documents, ctx)
        for doc, resource, loc in image_locations(self, documents, self.table):
            old = loc.value
            if not is_reference(old):
                new, pinned = self.rewrite(old) if isinstance(old, str) and not self.normalize else (None, False)
                if new is None:
                    check_reference(old, doc, resource, loc.path, ctx)  # warns: left unchanged
                    continue
                ctx.warn(f"{doc.where()}: {resource_name(resource)}: {loc.path}: {old!r} is not a valid image"
                         f" reference; rewritten to {new!r} as kustomize 5.7 does")
            else:
                new, pinned = self.rewrite(old)
            if new is not None:
                loc.set(new)
                ctx.record(self, doc, resource, loc.path, old, new, loc.found)
                # Only a digest carried over from the old reference: one an entry sets is the
                # user's statement that it exists in the new repository.
                if not pinned:
                    warn_if_digest_moved(old, new, doc, resource, loc, self, ctx)
        return documents


# kustomize's default image field specs (api/internal/konfig/builtinpluginconsts/images.go)
# walk these lists with ``create: true``: a null list there becomes ``[]`` whatever the entries.
_NULL_LIST_PARENTS = (("spec",), ("spec", "template", "spec"))
_NULL_LISTS = ("containers", "initContainers", "volumes")
# What follows such a key on its line when the value is null: nothing, or an explicit null.
_AFTER_KEY = re.compile(r"[ \t]*(?:(null|Null|NULL|~)[ \t]*)?(?:#[^\r\n]*)?(?=\r?\n|\Z)")


def _may_hold_null_list(text: str) -> bool:
    """Whether a document has a line ``containers:`` (or ``initContainers:``/``volumes:``) that
    may be null: with an explicit null, or with no value on the next line (deeper indented, or
    a block sequence at the key's own indentation).  Only such documents are parsed: the
    common ``containers:`` opening a list is not one, nor the property names of CRD schemas.
    A plain ``find`` per key keeps this at a few ms on a 12 MB stream.
    """
    for key in _NULL_LISTS:
        needle = key + ":"
        at = text.find(needle)
        while at != -1:
            line_start = text.rfind("\n", 0, at) + 1
            indent = text[line_start:at]
            after = _AFTER_KEY.match(text, at + len(needle)) if indent and not indent.strip(" \t") else None
            if after is not None:
                if after.group(1) or after.end() >= len(text):
                    return True
                next_start = after.end() + (2 if text.startswith("\r\n", after.end()) else 1)
                next_end = text.find("\n", next_start)
                line = text[next_start:] if next_end == -1 else text[next_start:next_end]
                if not _holds_value(line.rstrip("\r"), indent):
                    return True
            at = text.find(needle, at + len(needle))
    return False


def _holds_value(line: str, indent: str) -> bool:
    """The line after ``key:`` (at ``indent``) is the key's value: deeper and not a comment, or a
    block sequence item at the key's own indentation."""
    if not line.startswith(indent):
        return False
    rest = line[len(indent):]
    if rest[:1] in (" ", "\t"):
        body = rest.lstrip(" \t")
        return bool(body) and not body.startswith("#")
    return rest == "-" or rest.startswith(("- ", "-\t"))


def _empty_null_lists(rule, documents, ctx: RunContext) -> None:
    """A null ``containers:`` (or ``initContainers:``/``volumes:``) under ``spec`` or
    ``spec.template.spec`` becomes ``[]``, as kustomize's ImageTagTransformer leaves it.

    Only documents whose text has such a line are parsed.  CRDs are left alone, as kustomize does.
    """
    candidates = [d for d in documents if not d.void and not d.removed
                  and d.kind != "CustomResourceDefinition" and _may_hold_null_list(d.text)]
    for doc, _where, resource in stream_resources(candidates):
        if resource.get("kind") == "CustomResourceDefinition" or not rule.selected(resource):
            continue
        for parent_path in _NULL_LIST_PARENTS:
            parent = resource
            for step in parent_path:
                parent = parent.get(step) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            for key in _NULL_LISTS:
                if key in parent and parent[key] is None:
                    parent[key] = []
                    ctx.record(rule, doc, resource, ".".join(parent_path + (key,)), None, [])


def _typed(value, path):
    """Point a number at the quoting it needs, like kustomize's 'cannot unmarshal number'."""
    if isinstance(value, dict):
        for key in ("newTag", "digest", "tagSuffix", "newName", "name"):
            v = value.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                raise SchemaError(path + (key,), f"must be a string, not the number {v!r}; quote it: {key}: \"{v}\"")


def build(options, ctx, path) -> Images:
    try:
        if isinstance(options, list):
            for i, e in enumerate(options):
                _typed(e, path + (i,))
            entries, normalize = check(options, ENTRIES, path), False
        elif isinstance(options, dict):
            for i, e in enumerate(options.get("entries") or []):
                _typed(e, path + ("entries", i))
            values = check_fields(options, MAPPING, path)
            entries, normalize = values["entries"], values["normalize"]
        else:
            raise SchemaError(path, "must be a list of {name, newName, newTag, digest, tagSuffix} or a mapping {entries, normalize}")
    except SchemaError as exc:
        raise ConfigError(f"{ctx.locate(exc.path)}: {path_text(exc.path)}: {exc.message}") from None
    if not entries:
        raise ctx.error(path, "needs at least one entry")
    return Images([ImageEntry(**e) for e in entries], normalize, ImageTable.of(ctx))


EXAMPLE = """\
  # kustomize's images: list, applied to rendered manifests.
  - images:
      - name: nginx
        newName: registry.example.com/nginx
        newTag: "1.27"
    when: false
"""
