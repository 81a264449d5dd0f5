"""Image references: parse, normalise, re-emit, mirror, kustomize ``images:``, embedded refs.

Pure functions only: no YAML, no I/O.  Everything here works on one string at a time; the rules
decide *where* images live (see ``kinds.py``) and this module decides *what* an image string is.

Grammar (distribution/reference, ``reference.go`` + ``regexp.go``)
-------------------------------------------------------------------
::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path
    domain     := host [":" port]          host: DNS-ish name (letters of any case), IPv4, [IPv6]
    path       := component ("/" component)*
    component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex        algorithm: [A-Za-z][A-Za-z0-9]* joined by [-_+.]

Which first component is a registry follows ``splitDockerDomain`` in ``normalize.go`` (the
function ``ParseNormalizedNamed`` uses, i.e. what ``docker pull``/containerd/kubelet do):

* a reference with no ``/`` is always a Docker Hub official image: ``localhost:5000`` is the
  image ``docker.io/library/localhost`` with tag ``5000`` (upstream keeps this, with a FIXME);
* otherwise the first component is a registry when it is ``localhost``, contains ``.`` or ``:``
  (``host:port``, ``[::1]:5000``), or contains an uppercase letter (upstream: "uppercase
  namespaces are not allowed, so ... we assume it to be a domain-name");
* no registry means ``docker.io``; ``index.docker.io`` *is* ``docker.io``; a one-component path on
  Docker Hub gets ``library/``.  postrender also reads ``registry-1.docker.io`` as ``docker.io``:
  upstream's ``splitDockerDomain`` does not, but it is the host Docker Hub's registry API answers
  on (containerd's default resolver sends every ``docker.io`` pull there), so an image written
  with it pulls the same bytes, and a mirror rule or registry list for Docker Hub must match it.

Digests are validated like ``opencontainers/go-digest`` ``Digest.Validate``: the grammar above,
then ``sha256`` needs exactly 64, ``sha384`` 96 and ``sha512`` 128 *lowercase* hex digits; any
other algorithm is rejected as unsupported (as ``reference.Parse`` does).  A bare 64-hex string is
rejected ("cannot specify 64-byte hexadecimal strings", as ``ParseNormalizedNamed`` does).  The
255-character limit applies to the normalised name, as containerd's ``reference/docker`` and the
distribution releases that check ``len(name)`` do, because that is the name the runtime parses.

``ImageRef`` keeps the text exactly as written, so ``str(parse(s)) == s`` for every valid ``s``;
normalised and familiar forms are derived on demand.

Registry mirrors (``rewrite_registry``)
---------------------------------------
Matching is on the normalised name, longest ``from`` wins, and only at path-component boundaries.
How a ``from`` is normalised is documented on :func:`normalize_mirror_prefix`.

kustomize ``images:`` (``apply_kustomize_image``)
-------------------------------------------------
Matches kustomize 5.7 value by value; the list of behaviours and the upstream functions they copy
is on :func:`apply_kustomize_image`.

Embedded images (``find_embedded_images``, ``is_image_flag``, ``is_image_env_name``)
------------------------------------------------------------------------------------
``--flag=REF`` inside container ``args``/``command`` strings and env vars named ``*_IMAGE``.

Behaviour I was unsure of (check these first in the differential test against kustomize)
------------------------------------------------------------------------------------------
* kustomize 5.7.1 applies ``tagSuffix`` **twice** to an image reached by both its field-spec
  walker and its legacy ``containers``/``initContainers`` walker (``spec.containers`` of any kind,
  ``spec.template.spec.containers``): ``nginx:1.0`` + ``-fips`` becomes ``nginx:1.0-fips-fips``
  (seen with ``kubectl kustomize`` v1.34.5 / kustomize v5.7.1).  Containers only the legacy walker
  reaches (e.g. ``spec.x.containers`` of a custom kind) get it once.  ``apply_kustomize_image``
  applies an entry once; the rule must not call it twice, so postrender deviates here on purpose.
* kustomize's ``IsImageMatched`` interpolates ``name`` into a regular expression *unescaped*:
  ``name: quay.io/x`` also matches ``quayXio/x`` and ``name: .*`` matches everything.  This is
  reproduced (Python ``re`` and Go RE2 agree on the plain names people write; a name that is not a
  valid Python regex never matches, where Go would panic).
* kustomize 5.7 only recognises ``@sha256:`` digests when matching; ``nginx@sha512:...`` is not
  matched by ``name: nginx``.  Newer kustomize (after 5.7) accepts any algorithm; we follow 5.7.
* the upstream length check moved between releases (whole name vs. path only); we check the
  normalised name, see above.
* ``foo_bar.com/x``: ``splitDockerDomain`` calls ``foo_bar.com`` a domain, but it is not a valid
  host, and upstream then quietly re-reads the whole string as a path with *no* domain (neither
  Docker Hub nor ``foo_bar.com``).  We reject it as an invalid registry host instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from postrender.records import FrozenRecord

__all__ = [
    "DEFAULT_DOMAIN",
    "KNOWN_IMAGE_FLAGS",
    "ImageEntry",
    "ImageRef",
    "InvalidImageReference",
    "apply_kustomize_image",
    "digest_moved",
    "embedded_image",
    "find_embedded_images",
    "familiar_name",
    "format_like",
    "is_image_env_name",
    "is_image_flag",
    "normalize_mirror_prefix",
    "parse",
    "rewrite_registry",
    "under_prefix",
]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
# Every spelling of Docker Hub's registry (see the module docstring): one registry everywhere.
DOCKER_HUB_ALIASES = frozenset({DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, "registry-1.docker.io"})
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

# --- the grammar, written from the productions in distribution/reference's reference.go ------
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST_ALGORITHM = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
_DIGEST = rf"{_DIGEST_ALGORITHM}:[0-9a-fA-F]{{32,}}"

# The pieces other modules build their own patterns from (images/suspects.py finds references
# inside free text with them).
PATH_COMPONENT_PATTERN = _PATH_COMPONENT
DOMAIN_COMPONENT_PATTERN = _DOMAIN_COMPONENT
TAG_PATTERN = _TAG

# What normalize_mirror_prefix accepts, as one regex (JSON Schema `pattern`, ECMA 262 and Python
# alike; postrender schema): a registry (a first component that looks like one: localhost, or
# with a '.', ':' or capital, _looks_like_domain) alone or followed by a path, or a path whose
# first component does not look like a registry, with an optional trailing "/".  Not a 64-hex image
# ID.  (The 255-character limit on the normalised name is left to postrender validate.)
MIRROR_PREFIX_PATTERN = (
    rf"(?![a-f0-9]{{64}}/?$)"
    rf"(?:(?=localhost(?:/|$)|[^/]*[.:A-Z]){_DOMAIN_AND_PORT}(?:/{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)?|{_PATH_COMPONENT}"
    rf"|(?!localhost/)(?![^/]*[.:A-Z][^/]*/){_PATH_COMPONENT}(?:/{_PATH_COMPONENT})+)/?"
)

_PATH_COMPONENT_RE = re.compile(_PATH_COMPONENT)
_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT)
_TAG_RE = re.compile(_TAG)
_DIGEST_RE = re.compile(_DIGEST)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")

# go-digest: the algorithms it registers and the exact encoded form each one accepts.
_DIGEST_ENCODED = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha384": re.compile(r"[a-f0-9]{96}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}


class InvalidImageReference(ValueError):
    """``value`` is not a valid image reference; ``reason`` says which rule it breaks."""

    def __init__(self, value: str, reason: str):
        self.value = value
        self.reason = reason
        super().__init__(f"invalid image reference {value!r}: {reason}")


def _looks_like_domain(component: str) -> bool:
    """True when the first ``/``-separated component names a registry (``splitDockerDomain``)."""
    return (
        component == "localhost"
        or "." in component
        or ":" in component
        or component.lower() != component
    )


def _normalize_domain(domain: str | None) -> str:
    if domain is None or domain in DOCKER_HUB_ALIASES:
        return DEFAULT_DOMAIN
    return domain


def _normalize_path(domain: str, path: str) -> str:
    if domain == DEFAULT_DOMAIN and "/" not in path:
        return OFFICIAL_REPO_PREFIX + path
    return path


class ImageRef(FrozenRecord):
    """A parsed image reference, every part kept exactly as written.

    ``domain`` is ``None`` when the reference names no registry (Docker Hub implied); ``path`` is
    the repository path as written (``busybox``, ``library/busybox``, ``x/y/z``).
    """

    __slots__ = _fields = ("domain", "path", "tag", "digest")

    def __init__(self, domain: str | None, path: str, tag: str | None = None, digest: str | None = None):
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name_as_written(self) -> str:
        return self.path if self.domain is None else f"{self.domain}/{self.path}"

    @property
    def registry(self) -> str:
        """The normalised registry: ``docker.io`` when omitted or written as a Docker Hub alias."""
        return _normalize_domain(self.domain)

    @property
    def normalized_path(self) -> str:
        """The repository path with ``library/`` added for Docker Hub official images."""
        return _normalize_path(self.registry, self.path)

    @property
    def normalized_name(self) -> str:
        """Fully qualified name without tag/digest, e.g. ``docker.io/library/busybox``."""
        return f"{self.registry}/{self.normalized_path}"

    @property
    def normalized(self) -> str:
        """The full reference a runtime pulls: normalised name, tag (``latest`` when neither a tag
        nor a digest is written, as ``reference.TagNameOnly`` adds it) and digest."""
        tag = self.tag if self.tag is not None or self.digest is not None else "latest"
        return _join(self.normalized_name, tag, self.digest)

    @property
    def familiar_name(self) -> str:
        """Shortest Docker-style name (``familiarizeName``): ``busybox``, ``quay.io/x/y``."""
        return familiar_name(self.normalized_name)

    @property
    def suffix(self) -> str:
        """``:tag``/``@digest`` exactly as written (empty when neither is present)."""
        return (f":{self.tag}" if self.tag is not None else "") + (
            f"@{self.digest}" if self.digest is not None else ""
        )

    def __str__(self) -> str:
        return self.name_as_written + self.suffix


def familiar_name(normalized_name: str) -> str:
    """Drop ``docker.io/`` and, for official images, ``library/`` from a normalised name.

    ``library/`` is only dropped when what follows is a single component, as upstream's
    ``familiarizeName`` does (``docker.io/library/a/b`` stays ``library/a/b``).
    """
    prefix = DEFAULT_DOMAIN + "/"
    if not normalized_name.startswith(prefix):
        return normalized_name
    path = normalized_name[len(prefix) :]
    if path.startswith(OFFICIAL_REPO_PREFIX):
        rest = path[len(OFFICIAL_REPO_PREFIX) :]
        if "/" not in rest:
            return rest
    return path


def _check_path(value: str, path: str) -> None:
    if path == "":
        raise InvalidImageReference(value, "repository name must have at least one component")
    for component in path.split("/"):
        if _PATH_COMPONENT_RE.fullmatch(component):
            continue
        if component and _PATH_COMPONENT_RE.fullmatch(component.lower()):
            raise InvalidImageReference(value, "repository name must be lowercase")
        if component == "":
            raise InvalidImageReference(value, "repository path has an empty component")
        raise InvalidImageReference(
            value,
            f"path component {component!r} must be lowercase letters and digits separated by"
            " '.', '_', '__' or '-'",
        )


def _check_tag(value: str, tag: str) -> None:
    if tag == "":
        raise InvalidImageReference(value, "tag is empty (trailing ':')")
    if len(tag) > 128:
        raise InvalidImageReference(value, f"tag is {len(tag)} characters, at most 128 allowed")
    if not _TAG_RE.fullmatch(tag):
        raise InvalidImageReference(
            value,
            f"tag {tag!r} must start with a letter, digit or '_' and contain only those,"
            " '.' or '-'",
        )


def _check_digest(value: str, digest: str) -> None:
    if digest == "":
        raise InvalidImageReference(value, "digest is empty (trailing '@')")
    if not _DIGEST_RE.fullmatch(digest):
        raise InvalidImageReference(
            value, f"digest {digest!r} must be 'algorithm:hex' with at least 32 hex digits"
        )
    algorithm, encoded = digest.split(":", 1)
    expected = _DIGEST_ENCODED.get(algorithm)
    if expected is None:
        raise InvalidImageReference(value, f"unsupported digest algorithm {algorithm!r}")
    if not expected.fullmatch(encoded):
        want = {"sha256": 64, "sha384": 96, "sha512": 128}[algorithm]
        raise InvalidImageReference(
            value, f"{algorithm} digest must be exactly {want} lowercase hex digits"
        )


# str.isspace's set exactly (sre's Unicode \s is the same Py_UNICODE_ISSPACE), without a
# Python-level loop per character: parse runs for every image of every run.
_WHITESPACE = re.compile(r"\s")


def parse(s: str) -> ImageRef:
    """Parse ``s`` as ``[registry/]path[:tag][@digest]``; raise :class:`InvalidImageReference`."""
    if not isinstance(s, str):
        raise InvalidImageReference(repr(s), "an image reference must be a string")
    if s == "":
        raise InvalidImageReference(s, "empty reference")
    if _IDENTIFIER_RE.fullmatch(s):
        raise InvalidImageReference(s, "a bare 64-character hex string is an image ID, not a name")
    if _WHITESPACE.search(s):
        raise InvalidImageReference(s, "contains whitespace")

    domain: str | None = None
    rest = s
    first, slash, after = s.partition("/")
    if slash and _looks_like_domain(first):
        domain, rest = first, after
        if not _DOMAIN_RE.fullmatch(domain):
            raise InvalidImageReference(s, f"registry {domain!r} is not a valid host[:port]")

    # The path cannot contain ':' or '@' and a tag cannot contain '@', so the first '@' starts
    # the digest and the first ':' before it starts the tag.
    rest, at, digest = rest.partition("@")
    path, colon, tag = rest.partition(":")
    _check_path(s, path)
    if colon:
        _check_tag(s, tag)
    if at:
        _check_digest(s, digest)

    ref = ImageRef(domain, path, tag if colon else None, digest if at else None)
    if len(ref.normalized_name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidImageReference(
            s, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    return ref


def is_reference(value) -> bool:
    """Whether ``value`` is a string :func:`parse` accepts."""
    try:
        parse(value)
        return True
    except InvalidImageReference:
        return False


def _join(name: str, tag: str | None, digest: str | None) -> str:
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def format_like(
    original: ImageRef, new_normalized_name: str, tag: str | None, digest: str | None
) -> str:
    """Write ``new_normalized_name[:tag][@digest]`` in the shortest form ``original`` used.

    If the user omitted ``docker.io`` and the new name is on Docker Hub too, it is omitted again;
    if they also omitted ``library/`` and the new name is an official image, so is that.  In every
    other case (the user wrote the registry, or the new name leaves Docker Hub) the full name is
    written.  ``new_normalized_name`` must already be normalised (``parse(x).normalized_name``).
    """
    name = new_normalized_name
    hub = DEFAULT_DOMAIN + "/"
    if original.domain is None and name.startswith(hub):
        name = name[len(hub) :]
        wrote_library = original.path.startswith(OFFICIAL_REPO_PREFIX)
        rest = name[len(OFFICIAL_REPO_PREFIX) :]
        if not wrote_library and name.startswith(OFFICIAL_REPO_PREFIX) and "/" not in rest:
            name = rest
    return _join(name, tag, digest)


# --- registry mirrors ----------------------------------------------------------------------


def normalize_mirror_prefix(prefix: str) -> str:
    """Normalise a mirror ``from`` (or ``to``) to the name prefix it matches.

    * a single component that looks like a registry and is a valid ``host[:port]``
      (``docker.io``, ``quay.io``, ``localhost``, ``localhost:5000``, ``[::1]:5000``) is a
      *registry*: every image on it; ``index.docker.io`` and ``registry-1.docker.io`` mean
      ``docker.io``.  Unlike image
      references (where ``registry:5000`` alone is the image ``registry`` tagged ``5000``), a
      mirror prefix is far more often a registry, so ``host:port`` wins here;
    * anything else is normalised exactly like an image name, so ``busybox``,
      ``library/busybox``, ``docker.io/busybox`` and ``index.docker.io/library/busybox`` all mean
      ``docker.io/library/busybox``.  This follows the reference grammar (one path component on
      Docker Hub is an official image), which is why ``docker.io/bitnami`` means the official
      image ``docker.io/library/bitnami``, not the ``bitnami`` namespace;
    * to name a Docker Hub *namespace*, end the prefix with ``/``: ``docker.io/bitnami/`` matches
      ``bitnami/redis``.  ``docker.io/library`` and ``library`` (with or without the ``/``) are
      the namespace of all official images;
    * a tag or digest is an error, as is anything the grammar rejects.
    """
    body = prefix[:-1] if prefix.endswith("/") else prefix
    namespace = body != prefix
    if body == "":
        raise InvalidImageReference(prefix, "empty mirror prefix")
    if "/" not in body and _looks_like_domain(body) and _DOMAIN_RE.fullmatch(body):
        return _normalize_domain(body)
    ref = parse(body)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidImageReference(prefix, "a mirror prefix cannot have a tag or digest")
    if namespace or (ref.registry == DEFAULT_DOMAIN and ref.path == "library"):
        # A namespace: keep the path as written, only normalise the registry.
        return f"{ref.registry}/{ref.path}"
    return ref.normalized_name


def under_prefix(normalized_name: str, prefix: str) -> bool:
    """True when ``prefix`` (a :func:`normalize_mirror_prefix` result) is ``normalized_name`` or
    a prefix of it ending at a ``/``: whole path components only (``docker.io/lib`` is not a
    prefix of ``docker.io/library/x``)."""
    return normalized_name == prefix or normalized_name.startswith(prefix + "/")


def rewrite_registry(ref: str, mirrors: Iterable[tuple[str, str]]) -> str | None:
    """Move ``ref`` to the mirror whose ``from`` is the longest prefix of its normalised name.

    ``mirrors`` is ``[(from, to), ...]``; both are normalised with :func:`normalize_mirror_prefix`
    (validate them at config load with that function: here a bad one raises
    :class:`InvalidImageReference`).  ``from`` matches the whole normalised name or a prefix ending
    at a ``/`` (``docker.io/lib`` does not match ``docker.io/library/x``); on ties the first listed
    wins.  The matched prefix is replaced by ``to``, tag and digest are kept, and the result is
    written in the shortest form the original used (:func:`format_like`).  Returns ``None`` when
    no mirror matches, the result equals ``ref``, or ``ref`` is not a valid reference (callers
    report invalid references themselves, via :func:`parse`).
    """
    try:
        image = parse(ref)
    except InvalidImageReference:
        return None
    name = image.normalized_name
    best: tuple[int, str, str] | None = None
    for from_, to in mirrors:
        source = normalize_mirror_prefix(from_)
        if under_prefix(name, source):
            if best is None or len(source) > best[0]:
                best = (len(source), source, to)
    if best is None:
        return None
    _, source, to = best
    target = normalize_mirror_prefix(to)
    new_name = target + name[len(source) :]
    new_normalized = parse(new_name).normalized_name
    result = format_like(image, new_normalized, image.tag, image.digest)
    return None if result == ref else result


def rewrite_registry_chained(ref: str, mirrors: list[tuple[str, str]]) -> str | None:
    """:func:`rewrite_registry` until no mirror matches, so the result is a fixed point.

    ``busybox -> quay.io/prometheus/busybox`` plus ``quay.io -> mirror/quay`` sends busybox to
    ``mirror/quay/prometheus/busybox`` in one run; a single rewrite would leave it on quay.io and
    move it on the *next* run, so re-running postrender on its own output would change it.  A
    chain is at most ``len(mirrors)`` steps long: :func:`mirror_cycle` refuses longer ones when
    the config loads.
    """
    current = ref
    for _ in range(len(mirrors)):
        new = rewrite_registry(current, mirrors)
        if new is None:
            break
        current = new
    return None if current == ref else current


def digest_moved(old: str, new: str) -> bool:
    """True when ``new`` carries ``old``'s digest to a different repository path.

    A digest names content in one repository; a mirror that copies a repository keeps its path
    (``docker.io/library/busybox`` -> ``mirror.local/library/busybox``) or puts it under a prefix
    (``mirror.local/dockerhub/library/busybox``), and a copy keeps the digest, so neither counts.
    Any other path (``docker.io/library/busybox`` -> ``quay.io/prometheus/busybox``) is another
    repository, where that digest may not exist: the pull would fail only on the cluster.
    False when either is not a valid reference or the digest is not the same.
    """
    try:
        before, after = parse(old), parse(new)
    except InvalidImageReference:
        return False
    if before.digest is None or after.digest != before.digest:
        return False
    path, moved_to = before.normalized_path, after.normalized_path
    return not (moved_to == path or moved_to.endswith("/" + path))


def mirror_cycle(mirrors: list[tuple[str, str]]) -> int | None:
    """Index of a mirror whose target keeps being rewritten (a cycle), else None."""
    for i, (_, to) in enumerate(mirrors):
        probe = normalize_mirror_prefix(to) + "/probe"
        for _ in range(len(mirrors)):
            probe = rewrite_registry(probe, mirrors) or ""
            if not probe:
                break
        else:
            return i
    return None



# --- kustomize images: ---------------------------------------------------------------------


class ImageEntry(FrozenRecord):
    """One entry of kustomize's ``images:`` list (``api/types/image.go``, ``types.Image``),
    with kustomize's field names, as users write them."""

    __slots__ = _fields = ("name", "newName", "newTag", "digest", "tagSuffix")

    def __init__(self, name: str, newName: str | None = None, newTag: str | None = None,  # noqa: N803
                 digest: str | None = None, tagSuffix: str | None = None):  # noqa: N803
        self.name = name
        self.newName = newName
        self.newTag = newTag
        self.digest = digest
        self.tagSuffix = tagSuffix


# kustomize 5.7 ``image.IsImageMatched``: after the (unescaped) name, an optional ``:tag`` of
# [a-zA-Z0-9_.{}-]* (braces for Bazel rules_k8s templates) and an optional ``@sha256:...``.
_KUSTOMIZE_MATCH_SUFFIX = r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$"  # RE2: $ is end of text


def _kustomize_matches(value: str, name: str) -> bool:
    # Go's regexp, as kustomize: RE2 syntax in linear time (postrender/regexp.py), so a name
    # such as "(a+)+" cannot make a run take exponential time.  A pattern Go refuses matches
    # nothing (kustomize ignores the compile error).
    from postrender import regexp

    try:
        return regexp.search("^" + name + _KUSTOMIZE_MATCH_SUFFIX, value)
    except regexp.RegexpError:
        return False


def _kustomize_split(value: str) -> tuple[str, str, str]:
    """kustomize 5.7 ``image.Split``: name, tag, digest ('' when absent).

    ``:`` and ``@`` are searched from the first ``/`` on (so a registry port is not a tag); the
    first ``@`` starts the digest unless a ``:`` comes before it, which then starts the tag.
    """
    slash = value.find("/")
    offset = slash if slash > 0 else 0
    search = value[offset:]
    at = search.find("@")
    colon = search.find(":")
    if at < 0 and colon < 0:
        return value, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return value[: offset + at], "", value[offset + at + 1 :]
    if at >= 0:
        tag_start, digest_start = offset + colon + 1, offset + at + 1
        return value[: offset + colon], value[tag_start : offset + at], value[digest_start:]
    return value[: offset + colon], value[offset + colon + 1 :], ""


def _apply_entry(name: str, tag: str, digest: str, entry: ImageEntry) -> tuple[str, str, str]:
    """kustomize 5.7 ``imageTagUpdater.SetImageValue``: precedence of the entry's fields."""
    if entry.newName:
        name = entry.newName
    if entry.newTag and entry.digest:
        tag, digest = entry.newTag, entry.digest
    elif entry.newTag:
        tag, digest = entry.newTag, ""
    elif entry.digest:
        tag, digest = "", entry.digest
    elif entry.tagSuffix:
        tag, digest = tag + entry.tagSuffix, ""
    return name, tag, digest


def _normalized_match(value: str, entry_name: str) -> ImageRef | None:
    try:
        image = parse(value)
        wanted = parse(entry_name)
    except InvalidImageReference:
        return None
    if image.normalized_name != wanted.normalized_name:
        return None
    if wanted.tag is not None and wanted.tag != image.tag:
        return None
    if wanted.digest is not None and wanted.digest != image.digest:
        return None
    return image


def apply_kustomize_image(ref: str, entry: ImageEntry, normalize: bool = False) -> str | None:
    """Apply one kustomize ``images:`` entry to one image value; ``None`` when nothing changes.

    With ``normalize=False`` this is kustomize 5.7's ``imageTagUpdater.SetImageValue``
    (``api/filters/imagetag/updater.go``) on one value:

    1. **Matching** is ``image.IsImageMatched(value, name)``: the value must be ``name``, then
       optionally ``:`` + ``[a-zA-Z0-9_.{}-]*``, then optionally ``@sha256:`` + the same set.
       So ``name: nginx`` matches ``nginx``, ``nginx:1.0``, ``nginx@sha256:...``,
       ``nginx:1.0@sha256:...`` and ``nginx:`` but *not* ``docker.io/nginx``,
       ``docker.io/library/nginx`` (no normalisation), ``nginxx``, ``my/nginx``,
       ``nginx@sha512:...`` (5.7 knows only sha256 here) or ``nginx:a+b``.  A ``name`` with a tag
       (``nginx:1.0``) matches only that tag, with or without a digest.  ``name`` is a regular
       expression, unescaped: ``.`` matches any character.
    2. **Splitting** is ``image.Split`` (see :func:`_kustomize_split`): any string, valid or not.
    3. ``newName`` replaces the name verbatim (it is not parsed: a tag in it stays).
    4. ``newTag`` and ``digest`` both set: ``name:newTag@digest``.
       ``newTag`` only: the old tag *and the old digest* are dropped: ``name:newTag``.
       ``digest`` only: the old tag is dropped too: ``name@digest``.
       ``tagSuffix`` only (ignored when ``newTag`` or ``digest`` is set): old tag + suffix, digest
       dropped; with no old tag the tag is the suffix alone (``nginx`` -> ``nginx:-fips``).
       Nothing but ``newName``: old tag and digest kept.
    5. The value is rebuilt as ``name[:tag][@digest]``, omitting empty parts, so a matched
       ``nginx:`` loses its colon.

    Deviation: kustomize 5.7.1 applies ``tagSuffix`` twice to most containers (see the module
    docstring); this applies each entry once.

    For the rule: kustomize applies the entries of ``images:`` one after another in list order,
    each to the result of the previous ones (``nginx``->``newName: nginx2`` then
    ``nginx2``->``newTag: 9`` gives ``nginx2:9``; in the other order ``nginx2:1``), checked with
    kustomize v5.7.1.

    With ``normalize=True`` (postrender's improvement) matching is on normalised names instead:
    ``name: nginx`` matches ``nginx``, ``library/nginx``, ``docker.io/nginx`` and
    ``index.docker.io/library/nginx:1``; a tag or digest in ``name`` must equal the value's; both
    must be valid references (an invalid value never matches).  The value is split by the
    reference grammar and the name is kept as written unless ``newName`` replaces it; the
    precedence of rule 4 is unchanged.
    """
    if normalize:
        image = _normalized_match(ref, entry.name)
        if image is None:
            return None
        name, tag, digest = _apply_entry(
            image.name_as_written, image.tag or "", image.digest or "", entry
        )
    else:
        if not _kustomize_matches(ref, entry.name):
            return None
        name, tag, digest = _apply_entry(*_kustomize_split(ref), entry)
    result = _join(name, tag, digest)
    return None if result == ref else result


# --- images embedded in args, command and env ----------------------------------------------

# Flags whose value is an image although their name does not end in "image".  Data, not logic:
# extend it when a well-known operator needs it.
KNOWN_IMAGE_FLAGS = frozenset(
    {
        "prometheus-config-reloader",  # prometheus-operator (kube-prometheus)
    }
)

# Values a flag or variable named *image can hold that are not images, although they parse as one
# ("true" is a valid reference: docker.io/library/true).  Rewriting them would corrupt config.
_NOT_IMAGES = re.compile(r"(?i:true|false|yes|no|on|off|none|null)|[0-9]+")

_FLAG_RE = re.compile(
    r"""(?<![\w.-])--?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)="""
    r"""(?P<quote>["']?)(?P<value>[^\s"'=]+)(?P=quote)(?=$|[\s"';,)])"""
)


def _flag_name_is_image(name: str, extra_name_pattern: str | None) -> bool:
    if name.lower().endswith("image") or name in KNOWN_IMAGE_FLAGS:
        return True
    return extra_name_pattern is not None and re.fullmatch(extra_name_pattern, name) is not None


def embedded_image(value: str) -> ImageRef | None:
    """``value`` as an image reference, or ``None`` if it is not one (or is a boolean/number)."""
    if _NOT_IMAGES.fullmatch(value):
        return None
    try:
        return parse(value)
    except InvalidImageReference:
        return None


def find_embedded_images(
    text: str, extra_name_pattern: str | None = None
) -> list[tuple[int, int, ImageRef]]:
    """Find ``--flag=REF`` (or ``-flag=REF``) image references inside an args/command string.

    A flag counts when its name (without dashes) ends in ``image`` in any case
    (``--acme-http01-solver-image``), is in :data:`KNOWN_IMAGE_FLAGS`
    (``--prometheus-config-reloader``), or ``re.fullmatch``es ``extra_name_pattern``.  The value
    may be quoted (``--image="x:1"``; the span excludes the quotes) and must be a valid reference
    that is not a boolean or number.  Returns ``(start, end, ref)`` with ``text[start:end] ==
    str(ref)``, in order, so callers can splice replacements from the end backwards.
    The two-argument form (``--manager-image`` then the image as the next list item) is
    :func:`is_image_flag`'s job.
    """
    found: list[tuple[int, int, ImageRef]] = []
    for match in _FLAG_RE.finditer(text):
        if not _flag_name_is_image(match.group("name"), extra_name_pattern):
            continue
        image = embedded_image(match.group("value"))
        if image is not None:
            found.append((match.start("value"), match.end("value"), image))
    return found


def is_image_flag(arg: str, extra_name_pattern: str | None = None) -> bool:
    """True for an args item that is a bare image flag (``--manager-image``) whose value is the
    next item, as in longhorn's ``[--manager-image, docker.io/longhornio/longhorn-manager:v1]``."""
    match = re.fullmatch(r"--?([A-Za-z0-9][A-Za-z0-9_.-]*)", arg)
    return match is not None and _flag_name_is_image(match.group(1), extra_name_pattern)


def is_image_env_name(name: str, extra_name_pattern: str | None = None) -> bool:
    """True for an env var whose value is an image: a name ending in ``image`` in any case
    (``CSI_ATTACHER_IMAGE``, ``defaultImage``), OLM's ``RELATED_IMAGE_*`` convention, or a name
    that ``re.fullmatch``es ``extra_name_pattern``.  Check the value with :func:`embedded_image`."""
    if name.lower().endswith("image") or name.startswith("RELATED_IMAGE_"):
        return True
    return extra_name_pattern is not None and re.fullmatch(extra_name_pattern, name) is not None
