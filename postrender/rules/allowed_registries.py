"""allowedRegistries: fail (or warn) when an image comes from a registry not on the list.

A check for CI and offline installs: put it after the rewrite rules and it proves the install
will not pull from anywhere else (Docker Hub included).

    - allowedRegistries:
        registries:
          - registry.local:5000        # a whole registry
          - quay.io/prometheus         # or a repository prefix
        action: error                  # error: exit 1, write no output | warn: report, go on

An entry is normalised like a ``registryRewrite`` ``from`` (``docker.io`` = ``index.docker.io``;
``busybox`` = ``docker.io/library/busybox``) and matches whole path components of the image's
normalised name.  Every image location is checked (containers, image volumes, known custom
resources, ``imageFields``, images inside ``args``/``env``).  An invalid reference cannot be
shown to be allowed, so it is reported too.  Each report names the document (index and
``# Source:``), the resource, the field path and the image.
"""

from __future__ import annotations

from postrender.images.reference import MIRROR_PREFIX_PATTERN, InvalidImageReference, normalize_mirror_prefix, parse, under_prefix
from postrender.images.discovery import ImageTable, image_locations
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext, resource_name

NAME = "allowedRegistries"
OPTIONS = {
    "registries": Field("list", required=True, min_items=1, doc="allowed registries or repository prefixes",
                        items=Field("str", pattern=MIRROR_PREFIX_PATTERN, pattern_doc="a registry or repository prefix")),
    "action": Field("str", default="error", choices=("error", "warn"), doc="error: exit 1 and write no output; warn: report only"),
}


class AllowedRegistries(Rule):
    name = NAME
    per_document = True

    def __init__(self, registries: list[str], prefixes: list[str], action: str, table: ImageTable):
        self.registries = registries
        self.prefixes = prefixes
        self.action = action
        self.table = table
        self.kinds = table.kinds

    def allowed(self, normalized_name: str) -> bool:
        return any(under_prefix(normalized_name, p) for p in self.prefixes)

    def apply(self, documents, ctx: RunContext):
        report = ctx.failures.append if self.action == "error" else ctx.warn
        listed = ", ".join(self.registries)
        for doc, resource, loc in image_locations(self, documents, self.table):
            value = loc.value
            where = f"{doc.where()}: {resource_name(resource)}: {loc.path}"
            try:
                image = parse(value)
            except InvalidImageReference as exc:
                report(f"{where}: invalid image reference {value!r} ({exc.reason}) cannot be checked against allowedRegistries ({listed})")
                continue
            if not self.allowed(image.normalized_name):
                report(f"{where}: image {value} (registry {image.registry}) is not from an allowed registry ({listed})")
        return documents


def build(options: dict, ctx, path) -> AllowedRegistries:
    registries = options["registries"]
    if not registries:
        raise ctx.error(path + ("registries",), "needs at least one registry")
    prefixes = []
    for i, entry in enumerate(registries):
        try:
            prefixes.append(normalize_mirror_prefix(entry))
        except InvalidImageReference as exc:
            raise ctx.error(path + ("registries", i), f"{entry!r}: {exc.reason}") from None
    return AllowedRegistries(registries, prefixes, options["action"], ImageTable.of(ctx))


EXAMPLE = """\
  # CI / offline: every image (after the rewrites above) must come from these registries.
  - allowedRegistries:
      registries: ["{{ mirror }}"]
      action: error            # error: exit 1, no output | warn
    when: "mirror is defined"
"""
