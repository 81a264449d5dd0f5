"""``postrender mirror``: copy every image to where the config's rewrites send it.

For each image, the source is the reference with every rule but ``registryRewrite`` applied and
the destination the reference after every rule (see :mod:`.plan`).  Images no rule moves are
not copied.  The copy goes through the distribution API:

1. the source manifest is fetched and its digest verified;
2. if the destination tag already points at that digest, the image is *skipped*;
3. otherwise every manifest below it is copied first (each platform of an index, or those
   ``--platform`` names; then each image's config and layers: already present blobs are
   skipped, blobs on the same registry are mounted from the source repository, others are
   streamed and hashed on the way), then the manifest itself is put with its exact bytes, so
   the digest is preserved, and the digest the registry stored is checked.

A copy interrupted half way is resumed by running the command again: what is present is
skipped, and the tag is only written once everything below it is there.  With ``--platform``
an index is filtered, so its digest (only then) differs from the source's.

``--dry-run`` prints the plan instead: ``text`` (``SOURCE -> DESTINATION``), ``json``, or
``skopeo-sync``: ``skopeo sync --src yaml`` files, one YAML document per destination
directory with the command to run above it (skopeo puts ``DEST/`` + the last path component
of each source, or the whole source name with ``--scoped``; an image renamed otherwise gets a
``skopeo copy`` line instead).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from postrender.images.reference import ImageRef
from postrender.registry.client import Client, Repo
from postrender.registry.errors import RegistryError
from postrender.registry.media import Manifest, Platform, filter_index
from postrender.registry.plan import Stages, same_version
from postrender.registry.progress import Progress

MAX_DEPTH = 4  # index -> index -> manifest is already unusual


@dataclass
class Copy:
    source: ImageRef
    destination: ImageRef
    places: list[str] = field(default_factory=list)

    @property
    def source_text(self) -> str:
        return full(self.source)

    @property
    def destination_text(self) -> str:
        return full(self.destination)


def full(ref: ImageRef) -> str:
    """The normalised reference with tag (``latest`` when none) and digest."""
    tag = "" if ref.digest and not ref.tag else f":{ref.tag or 'latest'}"
    return f"{ref.normalized_name}{tag}{'@' + ref.digest if ref.digest else ''}"


def plan(staged: Stages) -> tuple[list[Copy], list[str]]:
    copies: dict[tuple[str, str], Copy] = {}
    errors: list[str] = []
    for pair in staged.pairs:
        source, destination = pair.first_ref, pair.second_ref
        if not same_version(source, destination):
            errors.append(f"{pair.second}: the rules give it {source.suffix or ':latest'} without registryRewrite"
                          f" but {destination.suffix or ':latest'} with it ({pair.places[0]}); not copied: put the"
                          " images/patch rules that change tags before registryRewrite")
            continue
        if source.normalized_name == destination.normalized_name:
            continue  # not moved: nothing to copy
        key = (full(source), full(destination))
        copy = copies.setdefault(key, Copy(source, destination))
        copy.places.extend(pair.places)
    return sorted(copies.values(), key=lambda c: (c.destination_text, c.source_text)), errors


# --- dry run ---------------------------------------------------------------------------------

def render_plan(copies: list[Copy], fmt: str, insecure=frozenset()) -> str:
    if fmt == "json":
        return json.dumps([{"source": c.source_text, "destination": c.destination_text, "places": c.places}
                           for c in copies], indent=2) + "\n"
    if fmt == "skopeo-sync":
        return _skopeo_sync(copies, insecure)
    return "".join(f"{c.source_text} -> {c.destination_text}\n" for c in copies)


def _skopeo_sync(copies: list[Copy], insecure) -> str:
    from postrender.registry.client import is_loopback

    def relaxed(host: str) -> bool:
        return is_loopback(host) or host in insecure

    groups: dict[tuple[str, bool], list[Copy]] = {}
    singles: list[Copy] = []
    for c in copies:
        src, dst = c.source.normalized_name, c.destination.normalized_name
        base = src.rsplit("/", 1)[-1]
        if dst.endswith("/" + src):
            groups.setdefault((dst[: -len(src) - 1], True), []).append(c)
        elif dst.endswith("/" + base):
            groups.setdefault((dst[: -len(base) - 1], False), []).append(c)
        else:
            singles.append(c)
    documents = []
    for (prefix, scoped), members in sorted(groups.items()):
        dest_host = prefix.split("/", 1)[0]
        command = "skopeo sync --all --preserve-digests --src yaml --dest docker"
        if scoped:
            command += " --scoped"
        if relaxed(dest_host):
            command += " --dest-tls-verify=false"
        registries: dict[str, dict] = {}
        for c in members:
            host = c.source.registry
            images = registries.setdefault(host, {}).setdefault(c.source.normalized_path, [])
            version = c.source.digest or c.source.tag or "latest"
            if version not in images:
                images.append(version)
        lines = [f"# {command} THIS_FILE {prefix}"]
        for host in sorted(registries):
            lines.append(f"{json.dumps(host)}:")
            lines.append("  images:")
            for path in sorted(registries[host]):
                versions = ", ".join(json.dumps(v) for v in sorted(registries[host][path]))
                lines.append(f"    {json.dumps(path)}: [{versions}]")
            if relaxed(host):
                lines.append("  tls-verify: false")
        documents.append("\n".join(lines) + "\n")
    if singles:
        lines = ["# renamed images skopeo sync cannot express; copy each with:"]
        for c in singles:
            lines.append(f"#   skopeo copy --all --preserve-digests docker://{c.source_text} docker://{c.destination_text}")
        documents.append("\n".join(lines) + "\n")
    header = "# One `skopeo sync --src yaml` file per document below: save each and run the command above it.\n"
    return header + "---\n".join(documents)


# --- copying ---------------------------------------------------------------------------------

@dataclass
class Summary:
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    uploaded: int = 0
    uploaded_bytes: int = 0
    mounted: int = 0
    present: int = 0
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def blob(self, how: str, size: int) -> None:
        with self._lock:
            if how == "uploaded":
                self.uploaded += 1
                self.uploaded_bytes += size
            elif how == "mounted":
                self.mounted += 1
            else:
                self.present += 1

    def line(self) -> str:
        return (f"mirror: {self.copied} copied, {self.skipped} skipped (already there), {self.failed} failed;"
                f" blobs: {self.uploaded} uploaded ({_size(self.uploaded_bytes)}), {self.mounted} mounted,"
                f" {self.present} already present")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class Mirror:
    def __init__(self, client: Client, platforms: list[Platform], summary: Summary):
        self.client = client
        self.platforms = platforms
        self.summary = summary

    def copy(self, item: Copy) -> str:
        """Copy one image; "copied" or "skipped"; RegistryError names what failed."""
        client = self.client
        source, target = Repo.of(item.source), Repo.of(item.destination)
        reference = item.source.digest or item.source.tag or "latest"
        manifest = client.get_manifest(source, reference)
        if self.platforms and manifest.is_index:
            try:
                manifest = filter_index(manifest, self.platforms)
            except ValueError as exc:
                raise RegistryError(f"--platform: {item.source_text}: {exc}") from None
            if item.destination.digest and manifest.digest != item.destination.digest:
                raise RegistryError(f"{item.destination_text} is pinned to the whole index; --platform would change"
                                    " its digest: mirror it without --platform")
        tag = item.destination.tag or (None if item.destination.digest else "latest")
        where = tag or manifest.digest
        existing = client.head_manifest(target, where)
        if existing is not None and existing[0] == manifest.digest:
            return "skipped"
        self._below(manifest, source, target, 0)
        client.put_manifest(target, where, manifest)
        stored = client.head_manifest(target, where)
        if stored is None or stored[0] != manifest.digest:
            raise RegistryError(f"{target}:{where} reads back as {stored[0] if stored else 'missing'}, not {manifest.digest}")
        return "copied"

    def _below(self, manifest: Manifest, source: Repo, target: Repo, depth: int) -> None:
        """Everything ``manifest`` refers to, present on ``target`` before it is put."""
        client = self.client
        if depth > MAX_DEPTH:
            raise RegistryError(f"{source}@{manifest.digest}: indexes nested deeper than {MAX_DEPTH}")
        if manifest.is_index:
            for child in manifest.manifests():
                existing = client.head_manifest(target, child.digest)
                if existing is not None and existing[0] == child.digest:
                    continue
                child_manifest = client.get_manifest(source, child.digest)
                self._below(child_manifest, source, target, depth + 1)
                client.put_manifest(target, child.digest, child_manifest)
            return
        for blob in manifest.blobs():
            if blob.foreign:
                continue
            how, size = client.copy_blob(source, target, blob)
            self.summary.blob(how, size)


def copy_all(copies: list[Copy], client: Client, jobs: int, platforms: list[Platform]) -> Summary:
    summary = Summary()
    mirror = Mirror(client, platforms, summary)
    progress = Progress("mirror", len(copies))

    def one(item: Copy):
        try:
            outcome = mirror.copy(item)
        except Exception as caught:  # noqa: BLE001 - narrowed by explain(): others re-raised
            exc = client.explain(caught)
            if exc is None:
                raise
            with summary._lock:
                summary.failed += 1
                summary.errors.append(f"{item.source_text} -> {item.destination_text}: {exc.message}")
            progress.step(False)
            return
        with summary._lock:
            if outcome == "copied":
                summary.copied += 1
            else:
                summary.skipped += 1
        progress.step(True)

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(one, copies))
    finally:
        progress.close()
    summary.errors.sort()
    return summary
