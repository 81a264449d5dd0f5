"""Manifest media types, digests and platforms: what an OCI/Docker manifest is, as data.

The four manifest types every registry serves today (OCI image-spec 1.1 and Docker's
"Image Manifest V2, Schema 2"); schema 1 is not asked for and not accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(MANIFEST_TYPES)

# Layers a registry may not redistribute (Windows base layers): pushed by nobody, pulled from
# their ``urls``; copying skips them as docker and containers/image do.
_FOREIGN = re.compile(r"foreign|nondistributable")

_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def valid_digest(digest: str) -> bool:
    algorithm, _, encoded = digest.partition(":")
    size = _ALGORITHMS.get(algorithm)
    return size is not None and re.fullmatch(f"[a-f0-9]{{{size}}}", encoded) is not None


def hasher_for(digest: str):
    """A hashlib object for ``digest``'s algorithm (sha256, sha384, sha512)."""
    return hashlib.new(digest.partition(":")[0])


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict | None = None

    @property
    def foreign(self) -> bool:
        return bool(_FOREIGN.search(self.media_type or ""))


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"{text!r}: a platform is os/arch or os/arch/variant (linux/amd64, linux/arm/v7)")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, platform: dict | None) -> bool:
        if not isinstance(platform, dict):
            return False
        if platform.get("os") != self.os or platform.get("architecture") != self.architecture:
            return False
        return self.variant is None or platform.get("variant") == self.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry sent it: its bytes are what the digest is of."""

    data: bytes
    media_type: str
    digest: str

    @classmethod
    def of(cls, data: bytes, content_type: str | None, algorithm: str = "sha256") -> "Manifest":
        return cls(data, media_type_of(data, content_type), digest_of(data, algorithm))

    @property
    def body(self) -> dict:
        return json.loads(self.data)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def manifests(self) -> list[Descriptor]:
        """An index's entries (each a manifest, by digest)."""
        return [_descriptor(d) for d in self.body.get("manifests") or []]

    def blobs(self) -> list[Descriptor]:
        """An image manifest's config and layers."""
        body = self.body
        out = []
        if isinstance(body.get("config"), dict):
            out.append(_descriptor(body["config"]))
        out.extend(_descriptor(d) for d in body.get("layers") or [])
        return out


def _descriptor(d: dict) -> Descriptor:
    digest = d.get("digest")
    if not isinstance(digest, str) or not valid_digest(digest):
        raise ValueError(f"manifest has a descriptor with an invalid digest {digest!r}")
    size = d.get("size")
    return Descriptor(d.get("mediaType") or "", digest, size if isinstance(size, int) else -1, d.get("platform"))


def media_type_of(data: bytes, content_type: str | None) -> str:
    """The manifest's media type: the Content-Type the registry sent, else the body's
    ``mediaType``, else the shape (OCI makes ``mediaType`` optional in a manifest)."""
    if content_type:
        value = content_type.split(";")[0].strip()
        if value in MANIFEST_TYPES:
            return value
    try:
        body = json.loads(data)
    except ValueError:
        raise ValueError("the manifest is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the manifest is not a JSON object")
    declared = body.get("mediaType")
    if declared in MANIFEST_TYPES:
        return declared
    if body.get("schemaVersion") == 1:
        raise ValueError("schema 1 manifests are not supported (deprecated; re-push the image)")
    if isinstance(body.get("manifests"), list):
        return OCI_INDEX
    if isinstance(body.get("config"), dict):
        return OCI_MANIFEST
    raise ValueError(f"unknown manifest type {declared or content_type!r}")


def filter_index(index: Manifest, platforms: list[Platform]) -> Manifest:
    """The index with only the entries for ``platforms`` (its digest changes)."""
    body = index.body
    kept = [d for d in body.get("manifests") or [] if any(p.matches(d.get("platform")) for p in platforms)]
    if not kept:
        available = ", ".join(sorted({_platform_text(d.get("platform")) for d in body.get("manifests") or []}))
        raise ValueError(f"no entry for {', '.join(map(str, platforms))} (it has {available or 'none'})")
    if len(kept) == len(body.get("manifests") or []):
        return index
    body["manifests"] = kept
    data = json.dumps(body, indent=3).encode("utf-8")
    return Manifest(data, index.media_type, digest_of(data))


def _platform_text(platform) -> str:
    if not isinstance(platform, dict):
        return "unknown"
    return "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k))
