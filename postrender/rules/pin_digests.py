"""pinDigests: pin every image to the digest the lock file recorded for its tag.

A tag can move between ``helm template`` today and a node's pull tomorrow; a digest cannot.
``postrender lock`` resolves every image and writes the lock; this rule reads it, offline and
deterministically (no network on the post-render path), and turns each ``name:tag`` into
``name:tag@digest`` (the kubelet pulls by the digest; the tag stays for people):

    - registryRewrite:
        mirrors:
          - {from: docker.io, to: "{{ mirror }}/hub"}
    - pinDigests:
        lock: postrender.lock.yaml     # relative to this config file's directory (else the working one)
        onMissing: error               # error: exit 1, no output | warn: report, leave the tag

Images are looked up by normalised name and tag (``busybox`` = ``docker.io/library/busybox:latest``),
so every spelling of one image gets the same digest.  Images that already carry a digest are
left as written.  Every image location is pinned: containers, init and ephemeral containers,
image volumes, known custom resource fields, ``imageFields``, and images inside ``args`` and
``*_IMAGE`` env values.

Composes with ``registryRewrite``: ``lock`` resolves each image where it will be pulled from
(after every rule) and records it under the name this rule sees at its place in the list, so it
works before or after the rewrite (a mirrored copy has the same digest as its source).  kbld
lock files (``kbld.k14s.io/v1alpha1`` ``Config`` with ``overrides``) are read as well.  The
lock file is read when the rule first runs; a missing or broken one is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

from postrender.config.schema import Field, path_text
from postrender.errors import ConfigError
from postrender.images.discovery import ImageRule, ImageTable, check_reference, image_locations
from postrender.images.reference import parse
from postrender.rules.base import Rule, RunContext, resource_name

NAME = "pinDigests"
OPTIONS = {
    "lock": Field("str", required=True, doc="lock file from `postrender lock` (or kbld's); relative: to the config file's directory, else the working directory"),
    "onMissing": Field("str", default="error", choices=("error", "warn"),
                       doc="an image the lock does not list: error (exit 1, no output) or warn (left unpinned)"),
}


class PinDigests(ImageRule, Rule):
    name = NAME
    per_document = True

    def __init__(self, paths: list[Path], shown: str, on_missing: str, table: ImageTable, where: str):
        self.paths = paths
        self.shown = shown
        self.on_missing = on_missing
        self.table = table
        self.lock_where = where
        self._lock = None

    def lock(self):
        if self._lock is None:
            from postrender.registry.lockfile import LockFileError, read

            # The first candidate that exists; if none does, the error names the first.
            path = next((p for p in self.paths if p.exists()), self.paths[0])
            try:
                self._lock = read(path)
            except LockFileError as exc:
                raise ConfigError(f"{self.lock_where}: {exc}") from None
        return self._lock

    def apply(self, documents, ctx: RunContext):
        report = ctx.failures.append if self.on_missing == "error" else ctx.warn
        for doc, resource, loc in image_locations(self, documents, self.table):
            old = loc.value
            if not check_reference(old, doc, resource, loc.path, ctx):
                continue
            ref = parse(old)
            if ref.digest is not None:
                continue
            digest = self.lock().get(ref)
            if digest is None:
                report(f"{doc.where()}: {resource_name(resource)}: {loc.path}: {old} is not in the lock file"
                       f" {self.shown}; add it with `postrender lock -c CONFIG -o {self.shown}`")
                continue
            new = f"{old}@{digest}"
            loc.set(new)
            ctx.record(self, doc, resource, loc.path, old, new, loc.found)
        return documents


def build(options: dict, ctx, path) -> PinDigests:
    shown = options["lock"].strip()
    if not shown:
        raise ctx.error(path + ("lock",), "needs the path of a lock file (postrender lock -o FILE writes one)")
    target = Path(shown)
    candidates = [target]
    if not target.is_absolute():
        # Next to the config (like pullSecret's template), which works whatever directory Helm
        # runs postrender from; else where `postrender lock -o FILE` wrote it from here.
        candidates = [Path(ctx.config_dir) / target]
        if (Path.cwd() / target).resolve() != candidates[0].resolve():
            candidates.append(Path.cwd() / target)
    where = f"{ctx.locate(path + ('lock',))}: {path_text(path + ('lock',))}"
    return PinDigests(candidates, shown, options["onMissing"], ImageTable.of(ctx), where)


EXAMPLE = """\
  # Pin every image to the digest `postrender lock -o postrender.lock.yaml` recorded.
  - pinDigests:
      lock: postrender.lock.yaml
      onMissing: error         # error: exit 1, no output | warn
    when: false
"""
