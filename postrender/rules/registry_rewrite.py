"""registryRewrite: move images to mirrors by registry or repository prefix.

For CI that hits Docker Hub's rate limit and for air-gapped clusters: every image whose
normalised name starts with a ``from`` prefix is moved under ``to``; tag and digest are kept.

    - registryRewrite:
        mirrors:
          - from: docker.io                   # every Docker Hub image
            to: "{{ mirror }}/dockerhub"      # busybox:1.36 -> <mirror>/dockerhub/library/busybox:1.36
          - from: docker.io/library/busybox   # one repository: the longest prefix wins
            to: quay.io/prometheus/busybox
          - from: quay.io
            to: "{{ mirror }}/quay"

Matching is on the normalised name, so ``busybox``, ``library/busybox``, ``docker.io/busybox``
and ``docker.io/library/busybox`` are all ``docker.io/library/busybox``; prefixes match whole
path components only (``docker.io/lib`` does not match ``docker.io/library/x``).  A ``from``
that is a single host (``docker.io``, ``localhost:5000``) means the whole registry; to name a
Docker Hub namespace end it with ``/`` (``docker.io/bitnami/``).  The result keeps the shortest
form the original used (``busybox`` moved to another Docker Hub name stays short).

Rewrites every image location: container, init and ephemeral container images, image volumes,
known custom resource fields (``Prometheus.spec.image``, Tekton steps, Argo templates, ...),
``imageFields`` from the config, and images inside container ``args``/``command``
(``--prometheus-config-reloader=REF``, ``--manager-image REF``) and ``*_IMAGE`` env values.
Invalid references are reported as warnings and left unchanged.

Rewrites chain: a moved image is matched again, so with the mirrors above busybox ends at
``<mirror>/quay/prometheus/busybox`` and running the rule on its own output changes nothing.
Mirrors that would rewrite forever (``docker.io -> docker.io/myorg``) are refused at load.
"""

from __future__ import annotations

from postrender.images.reference import MIRROR_PREFIX_PATTERN, InvalidImageReference, mirror_cycle, normalize_mirror_prefix, rewrite_registry_chained
from postrender.images.discovery import ImageTable, check_reference, image_locations
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext

NAME = "registryRewrite"
MIRROR = {
    "from": Field("str", required=True, pattern=MIRROR_PREFIX_PATTERN, pattern_doc="a registry or repository prefix", doc="registry (docker.io), repository (docker.io/library/busybox) or namespace (docker.io/bitnami/) prefix"),
    "to": Field("str", required=True, pattern=MIRROR_PREFIX_PATTERN, pattern_doc="a registry or repository prefix", doc="what replaces the matched prefix (registry or repository prefix)"),
}
OPTIONS = {
    "mirrors": Field("list", required=True, items=MIRROR, min_items=1, doc="prefix mirrors; the longest matching from wins"),
}


class RegistryRewrite(Rule):
    name = NAME
    per_document = True

    def __init__(self, mirrors: list[tuple[str, str]], table: ImageTable):
        self.mirrors = mirrors
        self.table = table
        self.kinds = table.kinds

    def apply(self, documents, ctx: RunContext):
        for doc, resource, loc in image_locations(self, documents, self.table):
            old = loc.value
            if not check_reference(old, doc, resource, loc.path, ctx):
                continue
            new = rewrite_registry_chained(old, self.mirrors)
            if new is not None:
                loc.set(new)
                ctx.record(self, doc, resource, loc.path, old, new)
        return documents


def build(options: dict, ctx, path) -> RegistryRewrite:
    mirrors = []
    for i, mirror in enumerate(options["mirrors"]):
        for key in ("from", "to"):
            try:
                normalize_mirror_prefix(mirror[key])
            except InvalidImageReference as exc:
                raise ctx.error(path + ("mirrors", i, key), f"{mirror[key]!r}: {exc.reason}") from None
        mirrors.append((mirror["from"], mirror["to"]))
    if not mirrors:
        raise ctx.error(path + ("mirrors",), "needs at least one {from, to} entry")
    cycle = mirror_cycle(mirrors)
    if cycle is not None:
        raise ctx.error(
            path + ("mirrors", cycle, "to"),
            f"{mirrors[cycle][1]!r} is itself matched by the mirrors again and again (a cycle): an image"
            " would move on every run; make the target a prefix no 'from' matches",
        )
    return RegistryRewrite(mirrors, ImageTable.of(ctx))


EXAMPLE = """\
  # Docker Hub rate limits / air gap: move images to mirrors (longest prefix wins).
  - registryRewrite:
      mirrors:
        - from: docker.io/library/busybox
          to: quay.io/prometheus/busybox
        - from: docker.io
          to: "{{ mirror }}/dockerhub"
    when: "mirror is defined"
"""
