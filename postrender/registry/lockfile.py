"""The image lock file: which digest each tagged image resolved to.

postrender's own format, written by ``postrender lock`` and meant to be reviewed in a pull
request (sorted by image, one entry per image, no timestamps, so a re-lock that finds nothing
new rewrites the same bytes)::

    # Written by `postrender lock`; pinDigests reads it. Re-run the command rather than edit.
    apiVersion: postrender/v1alpha1
    kind: ImageLock
    images:
      - image: docker.io/library/busybox:1.36
        digest: sha256:...

``image`` is the normalised reference (registry, ``library/`` for official images, tag; no
tag means ``latest``), so ``busybox:1.36``, ``library/busybox:1.36`` and
``docker.io/library/busybox:1.36`` in the manifests are all one entry.

kbld's lock (``kbld --lock-output``, carvel-dev/kbld ``pkg/kbld/config``) is read as well and
written with ``lock --format kbld``: a ``kbld.k14s.io/v1alpha1`` ``Config`` whose ``overrides``
map an image as written to ``newImage`` by digest, ``preresolved: true``.  Each spelling of an
image gets its own override there, because kbld matches the text exactly.

This module is on the ``run`` path of configs that use ``pinDigests``: it only needs PyYAML
(already loaded there) and the reference grammar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from postrender.images.reference import InvalidImageReference, ImageRef, parse
from postrender.registry.media import valid_digest

API_VERSION = "postrender/v1alpha1"
KIND = "ImageLock"
KBLD_API_VERSION = "kbld.k14s.io/v1alpha1"
KBLD_KIND = "Config"
HEADER = "# Written by `postrender lock`; pinDigests reads it. Re-run the command rather than edit.\n"


class LockFileError(ValueError):
    """The lock file cannot be used; the message names the file and the entry."""


def lock_key(ref: ImageRef) -> str:
    """How an image is looked up: normalised name and tag (``latest`` when none is written)."""
    return f"{ref.normalized_name}:{ref.tag or 'latest'}"


@dataclass
class Lock:
    """digest per :func:`lock_key`; ``spellings`` keeps how each was written (for kbld)."""

    digests: dict[str, str] = field(default_factory=dict)
    spellings: dict[str, set] = field(default_factory=dict)

    def add(self, written: str, digest: str) -> None:
        key = lock_key(parse(written))
        self.digests[key] = digest
        self.spellings.setdefault(key, set()).add(written)

    def get(self, ref: ImageRef) -> str | None:
        return self.digests.get(lock_key(ref))

    def __len__(self) -> int:
        return len(self.digests)


def render(lock: Lock, fmt: str = "postrender") -> str:
    """The lock as YAML text, sorted and stable."""
    import yaml

    if fmt == "kbld":
        overrides = []
        for key in sorted(lock.digests):
            for written in sorted(lock.spellings.get(key) or {key}):
                ref = parse(written)
                overrides.append({"image": written, "newImage": f"{ref.name_as_written}@{lock.digests[key]}",
                                  "preresolved": True})
        body = {"apiVersion": KBLD_API_VERSION, "kind": KBLD_KIND, "overrides": overrides}
    else:
        body = {"apiVersion": API_VERSION, "kind": KIND,
                "images": [{"image": key, "digest": lock.digests[key]} for key in sorted(lock.digests)]}
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, indent=2, width=4096)


def read(path: Path) -> Lock:
    """Read a postrender or kbld lock file; LockFileError names what is wrong and where."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockFileError(f"{path}: lock file not found; create it with `postrender lock -c CONFIG -o {path}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise LockFileError(f"{where}: the lock file is not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise LockFileError(f"{path}: not a lock file (expected apiVersion {API_VERSION}, kind {KIND})")
    kind = (data.get("apiVersion"), data.get("kind"))
    if kind == (API_VERSION, KIND):
        return _read_own(path, data)
    if kind == (KBLD_API_VERSION, KBLD_KIND):
        return _read_kbld(path, data)
    raise LockFileError(f"{path}: apiVersion/kind {kind[0]}/{kind[1]} is not a lock file (expected {API_VERSION}"
                        f" {KIND}, or kbld's {KBLD_API_VERSION} {KBLD_KIND})")


def _reference(path: Path, where: str, value) -> ImageRef:
    if not isinstance(value, str):
        raise LockFileError(f"{path}: {where}: must be an image reference string")
    try:
        return parse(value)
    except InvalidImageReference as exc:
        raise LockFileError(f"{path}: {where}: {exc.reason}") from None


def _read_own(path: Path, data: dict) -> Lock:
    lock = Lock()
    images = data.get("images") or []
    if not isinstance(images, list):
        raise LockFileError(f"{path}: images: must be a list of {{image, digest}}")
    for i, entry in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(entry, dict):
            raise LockFileError(f"{path}: {where}: must be a mapping {{image, digest}}")
        ref = _reference(path, f"{where}.image", entry.get("image"))
        if ref.digest is not None:
            raise LockFileError(f"{path}: {where}.image: {entry['image']} already has a digest; list name:tag")
        digest = entry.get("digest")
        if not isinstance(digest, str) or not valid_digest(digest):
            raise LockFileError(f"{path}: {where}.digest: {digest!r} is not a sha256/sha384/sha512 digest")
        key = lock_key(ref)
        if key in lock.digests and lock.digests[key] != digest:
            raise LockFileError(f"{path}: {where}: {key} is listed twice with different digests")
        lock.digests[key] = digest
        lock.spellings.setdefault(key, set()).add(entry["image"])
    return lock


def _read_kbld(path: Path, data: dict) -> Lock:
    lock = Lock()
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list):
        raise LockFileError(f"{path}: overrides: must be a list")
    for i, entry in enumerate(overrides):
        where = f"overrides[{i}]"
        if not isinstance(entry, dict):
            raise LockFileError(f"{path}: {where}: must be a mapping {{image, newImage}}")
        ref = _reference(path, f"{where}.image", entry.get("image"))
        new = _reference(path, f"{where}.newImage", entry.get("newImage"))
        if new.digest is None:
            raise LockFileError(f"{path}: {where}.newImage: {entry['newImage']} has no digest; not a lock entry")
        if ref.digest is not None:
            continue  # already pinned where it is written: nothing to look up
        key = lock_key(ref)
        if key in lock.digests and lock.digests[key] != new.digest:
            raise LockFileError(f"{path}: {where}: {key} is listed twice with different digests")
        lock.digests[key] = new.digest
        lock.spellings.setdefault(key, set()).add(entry["image"])
    return lock
