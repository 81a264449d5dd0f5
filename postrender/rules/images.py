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

Deviations from kustomize, on purpose: each entry is applied once (kustomize 5.7.1 applies
``tagSuffix`` twice to most containers: ``nginx:1.0-fips-fips``); every image location is
rewritten (kustomize only touches ``containers``/``initContainers``, not ephemeral containers,
image volumes, ``Prometheus.spec.image`` or images inside ``args``/``env``); invalid references
are reported as warnings and left unchanged.
"""

from __future__ import annotations

from postrender.errors import ConfigError
from postrender.images.reference import ImageEntry, apply_kustomize_image
from postrender.images.discovery import ImageTable, check_reference, image_locations
from postrender.config.schema import Field, SchemaError, check, check_fields, path_text
from postrender.rules.base import Rule, RunContext

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


class Images(Rule):
    name = NAME
    per_document = True

    def __init__(self, entries: list[ImageEntry], normalize: bool, table: ImageTable):
        self.entries = entries
        self.normalize = normalize
        self.table = table
        self.kinds = table.kinds

    def rewrite(self, value: str) -> str | None:
        new = value
        for entry in self.entries:
            new = apply_kustomize_image(new, entry, self.normalize) or new
        return None if new == value else new

    def apply(self, documents, ctx: RunContext):
        for doc, resource, loc in image_locations(self, documents, self.table):
            old = loc.value
            if not check_reference(old, doc, resource, loc.path, ctx):
                continue
            new = self.rewrite(old)
            if new is not None:
                loc.set(new)
                ctx.record(self, doc, resource, loc.path, old, new)
        return documents


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
