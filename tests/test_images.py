"""Tables for postrender.images.

Expected values come from upstream, not from running our code:
* parse: distribution/reference ``reference_test.go`` (TestReferenceParse), ``normalize_test.go``
  (TestValidateReferenceName, TestValidateRemoteName, TestParseRepositoryInfo,
  TestNormalizedSplitHostname, TestParseAnyReference) and go-digest's ``algorithm.go``; where a
  case is ours (not in those files) the comment says which upstream rule decides it.
* apply_kustomize_image (normalize=False): kustomize 5.7's ``image.IsImageMatched``/``image.Split``
  and ``imageTagUpdater.SetImageValue``; every row was also checked against ``kubectl kustomize``
  from kubectl v1.34.5 (kustomize v5.7.1), with the doubled ``tagSuffix`` noted in images.py.
"""

from __future__ import annotations

import pytest

from postrender.images.reference import (
    ImageEntry,
    ImageRef,
    InvalidImageReference,
    apply_kustomize_image,
    embedded_image,
    find_embedded_images,
    format_like,
    is_image_env_name,
    is_image_flag,
    normalize_mirror_prefix,
    digest_moved,
    parse,
    rewrite_registry,
)

F64 = "f" * 64
SHA = "sha256:" + F64
BUSYBOX_SHA = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
SHA512 = "sha512:" + "f" * 128
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


def case(*values, id):  # noqa: A002 - pytest's own keyword
    return pytest.param(*values, id=id)


# --- parse: valid --------------------------------------------------------------------------
# (input, domain, path, tag, digest, normalized_name, familiar_name)
VALID = [
    case("busybox", None, "busybox", None, None, "docker.io/library/busybox", "busybox", id="official-short"),
    case("busybox:1.36", None, "busybox", "1.36", None, "docker.io/library/busybox", "busybox", id="official-tag"),
    case("library/busybox", None, "library/busybox", None, None, "docker.io/library/busybox", "busybox", id="library-prefix"),
    case("docker.io/busybox", "docker.io", "busybox", None, None, "docker.io/library/busybox", "busybox", id="hub-no-library"),
    case("docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", None, "docker.io/library/busybox", "busybox", id="hub-full"),
    case("index.docker.io/busybox", "index.docker.io", "busybox", None, None, "docker.io/library/busybox", "busybox", id="legacy-index-domain"),
    case("index.docker.io/library/debian", "index.docker.io", "library/debian", None, None, "docker.io/library/debian", "debian", id="legacy-index-library"),
    case("index.docker.io/docker/docker", "index.docker.io", "docker/docker", None, None, "docker.io/docker/docker", "docker/docker", id="legacy-index-namespace"),
    case("registry-1.docker.io/library/nginx:1.27", "registry-1.docker.io", "library/nginx", "1.27", None, "docker.io/library/nginx", "nginx", id="registry-api-host-is-hub"),
    case("registry-1.docker.io/grafana/agent", "registry-1.docker.io", "grafana/agent", None, None, "docker.io/grafana/agent", "grafana/agent", id="registry-api-host-namespace"),
    case("fooo/bar", None, "fooo/bar", None, None, "docker.io/fooo/bar", "fooo/bar", id="hub-namespace"),
    case("other/library", None, "other/library", None, None, "docker.io/other/library", "other/library", id="library-as-last-component"),
    case("library/foo/bar", None, "library/foo/bar", None, None, "docker.io/library/foo/bar", "library/foo/bar", id="library-nested-stays"),
    case("store/foo/bar", None, "store/foo/bar", None, None, "docker.io/store/foo/bar", "store/foo/bar", id="hub-three-components"),
    case("test_com/foo", None, "test_com/foo", None, None, "docker.io/test_com/foo", "test_com/foo", id="underscore-not-domain"),
    case("docker/migrator", None, "docker/migrator", None, None, "docker.io/docker/migrator", "docker/migrator", id="plain-namespace"),
    case("quay.io/prometheus/busybox:latest", "quay.io", "prometheus/busybox", "latest", None, "quay.io/prometheus/busybox", "quay.io/prometheus/busybox", id="quay"),
    case("test.com/repo:tag", "test.com", "repo", "tag", None, "test.com/repo", "test.com/repo", id="domain-tag"),
    case("test:5000/repo", "test:5000", "repo", None, None, "test:5000/repo", "test:5000/repo", id="host-port-no-dot"),
    case("test:5000/repo:tag", "test:5000", "repo", "tag", None, "test:5000/repo", "test:5000/repo", id="port-is-not-tag"),
    case(f"test:5000/repo@{SHA}", "test:5000", "repo", None, SHA, "test:5000/repo", "test:5000/repo", id="port-digest"),
    case(f"test:5000/repo:tag@{SHA}", "test:5000", "repo", "tag", SHA, "test:5000/repo", "test:5000/repo", id="port-tag-digest"),
    case("localhost/x", "localhost", "x", None, None, "localhost/x", "localhost/x", id="localhost-domain"),
    case("localhost:5000/x", "localhost:5000", "x", None, None, "localhost:5000/x", "localhost:5000/x", id="localhost-port"),
    case("localhost:5000/x:1", "localhost:5000", "x", "1", None, "localhost:5000/x", "localhost:5000/x", id="localhost-port-tag"),
    # splitDockerDomain fast path: no "/" means a Docker Hub official image, even "localhost".
    case("localhost", None, "localhost", None, None, "docker.io/library/localhost", "localhost", id="bare-localhost-is-image"),
    case("localhost:5000", None, "localhost", "5000", None, "docker.io/library/localhost", "localhost", id="bare-localhost-port-is-tag"),
    case("test.com:5000", None, "test.com", "5000", None, "docker.io/library/test.com", "test.com", id="bare-domain-port-is-tag"),
    case("192.168.1.1", None, "192.168.1.1", None, None, "docker.io/library/192.168.1.1", "192.168.1.1", id="bare-ipv4-is-image"),
    case("192.168.0.1:80", None, "192.168.0.1", "80", None, "docker.io/library/192.168.0.1", "192.168.0.1", id="bare-ipv4-port-is-tag"),
    case("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None, "192.168.1.1:5000/repo", "192.168.1.1:5000/repo", id="ipv4-port-numeric-tag"),
    case("127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", None, None, "127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian", id="library-kept-off-hub"),
    case("127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase", None, None, "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", id="no-library-off-hub"),
    case("[::1]:5000/x", "[::1]:5000", "x", None, None, "[::1]:5000/x", "[::1]:5000/x", id="ipv6-loopback-port"),
    case("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None, "[2001:db8::1]/repo", "[2001:db8::1]/repo", id="ipv6-no-port"),
    case("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None, "[2001:db8:1:2:3:4:5:6]/repo", "[2001:db8:1:2:3:4:5:6]/repo", id="ipv6-full-tag"),
    case(f"[2001:db8::1]:5000/repo:tag@{SHA}", "[2001:db8::1]:5000", "repo", "tag", SHA, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo", id="ipv6-port-tag-digest"),
    case("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian", None, None, "[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian", id="ipv6-library"),
    # Uppercase first component: "we assume it to be a domain-name" (splitDockerDomain).
    case("Uppercase/lowercase:tag", "Uppercase", "lowercase", "tag", None, "Uppercase/lowercase", "Uppercase/lowercase", id="uppercase-first-is-domain"),
    case("DOCKER/docker", "DOCKER", "docker", None, None, "DOCKER/docker", "DOCKER/docker", id="all-caps-domain"),
    case("lowercase:Uppercase", None, "lowercase", "Uppercase", None, "docker.io/library/lowercase", "lowercase", id="uppercase-tag-ok"),
    case(f"busybox@{BUSYBOX_SHA}", None, "busybox", None, BUSYBOX_SHA, "docker.io/library/busybox", "busybox", id="digest-only"),
    case(f"busybox:latest@{BUSYBOX_SHA}", None, "busybox", "latest", BUSYBOX_SHA, "docker.io/library/busybox", "busybox", id="tag-and-digest"),
    case(f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512}", "xn--7o8h.com", "myimage", "xn--7o8h.com", SHA512, "xn--7o8h.com/myimage", "xn--7o8h.com/myimage", id="punycode-sha512"),
    case("sha384img@sha384:" + "a" * 96, None, "sha384img", None, "sha384:" + "a" * 96, "docker.io/library/sha384img", "sha384img", id="sha384"),
    case("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", None, "b.gcr.io/test.example.com/my-app", "b.gcr.io/test.example.com/my-app", id="dots-in-path-and-tag"),
    case("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None, "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", id="deep-path"),
    case("dock__er/docker", None, "dock__er/docker", None, None, "docker.io/dock__er/docker", "dock__er/docker", id="double-underscore"),
    case("docker---rules/docker", None, "docker---rules/docker", None, None, "docker.io/docker---rules/docker", "docker---rules/docker", id="many-dashes"),
    case("ns/a.b_c-d", None, "ns/a.b_c-d", None, None, "docker.io/ns/a.b_c-d", "ns/a.b_c-d", id="dot-underscore-dash-separators"),
    case("d/docker", None, "d/docker", None, None, "docker.io/d/docker", "d/docker", id="single-char-namespace"),
    case("docker.io/" + HEX64, "docker.io", HEX64, None, None, "docker.io/library/" + HEX64, HEX64, id="hex-name-with-domain"),
    case("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", None, "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", None, None, "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", id="64-char-non-hex"),
    case(HEX64[:63], None, HEX64[:63], None, None, "docker.io/library/" + HEX64[:63], HEX64[:63], id="63-hex-is-a-name"),
    # "sha256:<hex>" has no "/": a name "sha256" with a 64-character tag (ParseNormalizedNamed).
    case("sha256:" + F64, None, "sha256", F64, None, "docker.io/library/sha256", "sha256", id="digest-looking-is-name-tag"),
    case("nginx:_tag", None, "nginx", "_tag", None, "docker.io/library/nginx", "nginx", id="tag-starts-underscore"),
    case("nginx:" + "a" * 128, None, "nginx", "a" * 128, None, "docker.io/library/nginx", "nginx", id="tag-128-chars"),
    case("Example.COM:443/x/y", "Example.COM:443", "x/y", None, None, "Example.COM:443/x/y", "Example.COM:443/x/y", id="domain-mixed-case"),
    # Length limit on the normalised name: 245 + len("docker.io/") == 255.
    case("a/" * 122 + "a", None, "a/" * 122 + "a", None, None, "docker.io/" + "a/" * 122 + "a", "a/" * 122 + "a", id="name-255-normalised"),
    case("ex.com/" + "a" * 248, "ex.com", "a" * 248, None, None, "ex.com/" + "a" * 248, "ex.com/" + "a" * 248, id="name-255-with-domain"),
    case("quay.io/jetstack/cert-manager-acmesolver:v1.21.1", "quay.io", "jetstack/cert-manager-acmesolver", "v1.21.1", None, "quay.io/jetstack/cert-manager-acmesolver", "quay.io/jetstack/cert-manager-acmesolver", id="corpus-cert-manager"),
]


@pytest.mark.parametrize("value,domain,path,tag,digest,normalized,familiar", VALID)
def test_parse_valid(value, domain, path, tag, digest, normalized, familiar):
    ref = parse(value)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.normalized_name == normalized
    assert ref.familiar_name == familiar
    assert str(ref) == value
    assert ref.name_as_written == (f"{domain}/{path}" if domain else path)


# --- parse: invalid ------------------------------------------------------------------------
# (input, words the reason must contain)
INVALID = [
    case("", "empty", id="empty"),
    case(":justtag", "at least one component", id="tag-only"),
    case(f"@{SHA}", "at least one component", id="digest-without-name"),
    case("busybox:", "tag is empty", id="trailing-colon"),
    case("busybox@", "digest is empty", id="trailing-at"),
    case("quay.io/x:1:2", "tag '1:2'", id="two-colons"),
    case("repo@sha256:" + "f" * 34, "exactly 64", id="sha256-too-short"),
    case("repo@sha256:" + "f" * 65, "exactly 64", id="sha256-too-long"),
    case("repo@sha256:" + "F" * 64, "lowercase hex", id="sha256-uppercase-hex"),
    case("repo@sha256:abc", "at least 32 hex", id="digest-short-grammar"),
    case("validname@invaliddigest:" + F64, "unsupported digest algorithm", id="unknown-algorithm"),
    case("repo@1sha:" + F64, "algorithm:hex", id="algorithm-starts-digit"),
    case("repo@sha256:" + "g" * 64, "algorithm:hex", id="digest-not-hex"),
    case(f"repo@{SHA}@{SHA}", "algorithm:hex", id="two-digests"),
    case("Uppercase:tag", "lowercase", id="uppercase-single"),
    case("test:5000/Uppercase/lowercase:tag", "lowercase", id="uppercase-path"),
    case("docker/Docker", "lowercase", id="uppercase-second"),
    case("docker.io/docker/Docker", "lowercase", id="uppercase-after-domain"),
    case("aa/asdf$$^/aa", "path component 'asdf$$^'", id="bad-characters"),
    case("https://github.com/docker/docker", "not a valid host", id="url"),
    case("-docker", "path component", id="leading-dash"),
    case("-docker/docker", "path component", id="leading-dash-namespace"),
    case("docker-/docker", "path component", id="trailing-dash"),
    case("-docker.io/docker/docker", "not a valid host", id="domain-leading-dash"),
    case("docker///docker", "empty component", id="empty-components"),
    case("docker/", "empty component", id="trailing-slash"),
    case("____/____", "path component", id="only-underscores"),
    case("_docker/_docker", "path component", id="leading-underscore"),
    # These three contain ".", so splitDockerDomain reads the first component as a registry.
    case("dock..er/docker", "not a valid host", id="double-dot"),
    case("dock_.er/docker", "not a valid host", id="underscore-dot"),
    case("dock-.er/docker", "not a valid host", id="dash-dot"),
    case("dock___er/docker", "path component", id="triple-underscore"),
    case("[2001:db8::1]", "path component", id="ipv6-alone"),
    case("[fc00::1]:5000", "path component", id="ipv6-port-alone"),
    case("[2001:db8::1]:tag", "path component", id="ipv6-tag-no-path"),
    case("fc00::1:5000/debian", "not a valid host", id="ipv6-without-brackets"),
    case("[fe80::1%eth0]:5000/repo", "not a valid host", id="ipv6-zone"),
    case("[2001:db8:3:4::192.0.2.33]:5000/debian", "not a valid host", id="ipv6-mapped-ipv4"),
    case("host:port/x", "not a valid host", id="non-numeric-port"),
    case("foo_bar.com/x", "not a valid host", id="underscore-in-host"),
    case(HEX64, "64-character hex", id="bare-identifier"),
    case("nginx:-tag", "must start with", id="tag-starts-dash"),
    case("nginx:.tag", "must start with", id="tag-starts-dot"),
    case("nginx:a+b", "must start with", id="tag-plus"),
    case("nginx:" + "a" * 129, "at most 128", id="tag-129-chars"),
    case("nginx:1.0 ", "whitespace", id="trailing-space"),
    case("a/" * 128 + "a:tag", "255", id="name-257"),
    case("a/" * 123 + "a", "255", id="name-257-normalised"),
    case("ex.com/" + "a" * 249, "255", id="name-256-with-domain"),
    case("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker", "255", id="namespace-too-long"),
]


@pytest.mark.parametrize("value,reason", INVALID)
def test_parse_invalid(value, reason):
    with pytest.raises(InvalidImageReference) as info:
        parse(value)
    assert info.value.value == value
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)
    assert str(info.value) == f"invalid image reference {value!r}: {info.value.reason}"


def test_imageref_is_frozen_and_hashable():
    ref = parse("busybox:1")
    with pytest.raises(AttributeError):
        ref.tag = "2"  # type: ignore[misc]
    assert {ref, parse("busybox:1")} == {ImageRef(None, "busybox", "1", None)}


# --- format_like ---------------------------------------------------------------------------
FORMAT_LIKE = [
    case("busybox:1", "docker.io/library/alpine", "3", None, "alpine:3", id="official-stays-short"),
    case("busybox:1", "docker.io/bitnami/redis", "7", None, "bitnami/redis:7", id="hub-namespace-drops-domain"),
    case("busybox:1", "quay.io/prometheus/busybox", "1", None, "quay.io/prometheus/busybox:1", id="leaves-hub-full"),
    case("library/busybox", "docker.io/library/alpine", None, None, "library/alpine", id="wrote-library-keeps-it"),
    case("docker.io/busybox", "docker.io/library/alpine", None, None, "docker.io/library/alpine", id="wrote-domain-full"),
    case("docker.io/library/busybox", "docker.io/library/alpine", "1", SHA, f"docker.io/library/alpine:1@{SHA}", id="full-tag-digest"),
    case("busybox", "docker.io/library/a/b", None, SHA, f"library/a/b@{SHA}", id="nested-library-kept"),
    case("quay.io/x/y:1", "docker.io/library/alpine", "1", None, "docker.io/library/alpine:1", id="from-other-registry-full"),
    case("bitnami/redis:7", "docker.io/library/redis", "7", None, "redis:7", id="namespace-to-official"),
]


@pytest.mark.parametrize("original,new_name,tag,digest,expected", FORMAT_LIKE)
def test_format_like(original, new_name, tag, digest, expected):
    assert format_like(parse(original), new_name, tag, digest) == expected


# --- mirror prefixes -----------------------------------------------------------------------
PREFIXES = [
    case("docker.io", "docker.io", id="hub-registry"),
    case("index.docker.io", "docker.io", id="legacy-registry"),
    case("registry-1.docker.io", "docker.io", id="registry-api-host"),
    case("quay.io", "quay.io", id="registry"),
    case("quay.io/", "quay.io", id="registry-trailing-slash"),
    case("localhost", "localhost", id="localhost-registry"),
    case("localhost:5000", "localhost:5000", id="localhost-port"),
    case("[::1]:5000", "[::1]:5000", id="ipv6-registry"),
    case("busybox", "docker.io/library/busybox", id="short-official"),
    case("library/busybox", "docker.io/library/busybox", id="library-official"),
    case("docker.io/busybox", "docker.io/library/busybox", id="hub-official"),
    case("index.docker.io/library/busybox", "docker.io/library/busybox", id="legacy-official"),
    case("docker.io/library", "docker.io/library", id="library-namespace"),
    case("docker.io/bitnami/", "docker.io/bitnami", id="hub-namespace-slash"),
    case("bitnami/", "docker.io/bitnami", id="hub-namespace-short"),
    case("quay.io/prometheus", "quay.io/prometheus", id="quay-namespace"),
    case("mirror.local/dockerhub", "mirror.local/dockerhub", id="mirror-target"),
]


@pytest.mark.parametrize("prefix,expected", PREFIXES)
def test_normalize_mirror_prefix(prefix, expected):
    assert normalize_mirror_prefix(prefix) == expected


@pytest.mark.parametrize(
    "prefix,reason",
    [
        case("busybox:1.36", "tag or digest", id="tag"),
        case(f"busybox@{SHA}", "tag or digest", id="digest"),
        case("", "empty", id="empty"),
        case("/", "empty", id="slash"),
        case("Quay.IO/Foo", "lowercase", id="uppercase-path"),
        case("foo_bar.com:5000", "tag or digest", id="bad-host-is-image-with-tag"),
        case("busybox:", "tag is empty", id="trailing-colon"),
    ],
)
def test_normalize_mirror_prefix_rejects(prefix, reason):
    with pytest.raises(InvalidImageReference) as info:
        normalize_mirror_prefix(prefix)
    assert reason in info.value.reason


# --- rewrite_registry ----------------------------------------------------------------------
HUB = ("docker.io", "mirror.local/dockerhub")
BUSYBOX = ("docker.io/library/busybox", "quay.io/prometheus/busybox")
QUAY = ("quay.io", "mirror.local/quay")
ISSUE_MIRRORS = [HUB, BUSYBOX, QUAY]

REWRITES = [
    case("busybox:1.36", [HUB], "mirror.local/dockerhub/library/busybox:1.36", id="hub-mirror-short"),
    case("docker.io/library/busybox:1.36", [HUB], "mirror.local/dockerhub/library/busybox:1.36", id="hub-mirror-full"),
    case("bitnami/redis:7", [HUB], "mirror.local/dockerhub/bitnami/redis:7", id="hub-mirror-namespace"),
    case("busybox:1.36", ISSUE_MIRRORS, "quay.io/prometheus/busybox:1.36", id="repo-beats-registry"),
    case("library/busybox", ISSUE_MIRRORS, "quay.io/prometheus/busybox", id="library-form-matches"),
    case("docker.io/busybox:1", ISSUE_MIRRORS, "quay.io/prometheus/busybox:1", id="hub-form-matches"),
    case("index.docker.io/library/busybox:1", ISSUE_MIRRORS, "quay.io/prometheus/busybox:1", id="legacy-form-matches"),
    case(f"busybox:1.36@{BUSYBOX_SHA}", ISSUE_MIRRORS, f"quay.io/prometheus/busybox:1.36@{BUSYBOX_SHA}", id="tag-digest-kept"),
    case(f"busybox@{BUSYBOX_SHA}", [BUSYBOX], f"quay.io/prometheus/busybox@{BUSYBOX_SHA}", id="digest-kept"),
    case("busybox", [BUSYBOX, HUB], "quay.io/prometheus/busybox", id="order-irrelevant-longest-wins"),
    case("nginx:1.27", ISSUE_MIRRORS, "mirror.local/dockerhub/library/nginx:1.27", id="other-hub-image"),
    case("quay.io/jetstack/cert-manager-controller:v1.21.1", ISSUE_MIRRORS, "mirror.local/quay/jetstack/cert-manager-controller:v1.21.1", id="quay-mirror"),
    case("registry.k8s.io/pause:3.10", ISSUE_MIRRORS, None, id="unmatched-registry"),
    case("busyboxx:1", [BUSYBOX], None, id="not-a-prefix-of-name"),
    case("docker.io/library/x", [("docker.io/lib/", "m.local")], None, id="component-boundary"),
    case("docker.io/library/x", [("docker.io/lib", "m.local")], None, id="component-boundary-no-slash"),
    case("docker.io/library/busybox/extra", [BUSYBOX], "quay.io/prometheus/busybox/extra", id="nested-under-repo"),
    case("busybox:1", [("busybox", "quay.io/prometheus/busybox")], "quay.io/prometheus/busybox:1", id="short-from"),
    case("busybox:1", [("docker.io/library", "mirror.local/official")], "mirror.local/official/busybox:1", id="library-namespace-from"),
    case("bitnami/redis", [("docker.io/library", "mirror.local/official")], None, id="library-namespace-not-others"),
    case("bitnami/redis:7", [("docker.io/bitnami/", "mirror.local/bitnami")], "mirror.local/bitnami/redis:7", id="namespace-from"),
    case("busybox:1", [("busybox", "alpine")], "alpine:1", id="to-short-keeps-short"),
    case("busybox:1", [("busybox", "docker.io/bitnami/busybox")], "bitnami/busybox:1", id="to-hub-namespace-short"),
    case("localhost:5000/app:1", [("localhost:5000", "registry.local")], "registry.local/app:1", id="port-registry"),
    case("[::1]:5000/app", [("[::1]:5000", "registry.local/v6")], "registry.local/v6/app", id="ipv6-registry"),
    case("quay.io/x:1", [("quay.io", "quay.io")], None, id="identity-is-no-change"),
    case("Not A Ref", ISSUE_MIRRORS, None, id="invalid-ref-untouched"),
    case("busybox", [("docker.io", "m1.local"), ("docker.io", "m2.local")], "m1.local/library/busybox", id="tie-first-wins"),
]


@pytest.mark.parametrize("ref,mirrors,expected", REWRITES)
def test_rewrite_registry(ref, mirrors, expected):
    assert rewrite_registry(ref, mirrors) == expected


# --- kustomize images: ---------------------------------------------------------------------
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

KUSTOMIZE = [
    # matching (image.IsImageMatched)
    case("nginx", ImageEntry("nginx", newTag="2"), "nginx:2", id="name-bare"),
    case("nginx:1.0", ImageEntry("nginx", newTag="2"), "nginx:2", id="name-with-tag"),
    case("nginx@sha256:abc", ImageEntry("nginx", newTag="2"), "nginx:2", id="newtag-drops-digest"),
    case(f"nginx:1.0@{D1}", ImageEntry("nginx", newTag="2"), "nginx:2", id="newtag-drops-tag-and-digest"),
    case("docker.io/nginx", ImageEntry("nginx", newTag="2"), None, id="no-normalisation-hub"),
    case("docker.io/library/nginx:1", ImageEntry("nginx", newTag="2"), None, id="no-normalisation-full"),
    case("nginxx", ImageEntry("nginx", newTag="2"), None, id="longer-name"),
    case("my/nginx", ImageEntry("nginx", newTag="2"), None, id="other-namespace"),
    case("nginx@sha512:abc", ImageEntry("nginx", newTag="2"), None, id="sha512-not-matched-in-5.7"),
    case("nginx:a+b", ImageEntry("nginx", newTag="2"), None, id="tag-outside-charset"),
    case("nginx:{{tag}}", ImageEntry("nginx", digest=D2), f"nginx@{D2}", id="bazel-braces-tag"),
    case("quayXio/x", ImageEntry("quay.io/x", newTag="9"), "quayXio/x:9", id="name-is-unescaped-regex"),
    case("quay.io/x:1", ImageEntry("quay.io/x", newTag="9"), "quay.io/x:9", id="domain-name"),
    case("localhost:5000/nginx", ImageEntry("localhost:5000/nginx", newTag="7"), "localhost:5000/nginx:7", id="port-not-tag"),
    case("localhost:5000/nginx:1", ImageEntry("localhost:5000/nginx", newName="foo"), "foo:1", id="port-newname"),
    case("nginx:1.0", ImageEntry("nginx:1.0", newTag="9"), "nginx:9", id="entry-name-with-tag"),
    case(f"nginx:1.0@{D1}", ImageEntry("nginx:1.0", newTag="9"), "nginx:9", id="entry-tag-value-digest"),
    case("nginx", ImageEntry("nginx:1.0", newTag="9"), None, id="entry-tag-needs-value-tag"),
    case("nginx:1.1", ImageEntry("nginx:1.0", newTag="9"), None, id="entry-tag-other-tag"),
    # newName / newTag / digest / tagSuffix precedence (imageTagUpdater.SetImageValue)
    case("nginx:1.0", ImageEntry("nginx", newName="reg.example.com/nginx"), "reg.example.com/nginx:1.0", id="newname-keeps-tag"),
    case(f"nginx:1.0@{D1}", ImageEntry("nginx", newName="reg.example.com/nginx"), f"reg.example.com/nginx:1.0@{D1}", id="newname-keeps-tag-digest"),
    case("nginx", ImageEntry("nginx", newName="foo:1"), "foo:1", id="newname-verbatim"),
    case("nginx:", ImageEntry("nginx", newName="reg.example.com/nginx"), "reg.example.com/nginx", id="empty-tag-colon-dropped"),
    case("nginx:1.0", ImageEntry("nginx", digest=D2), f"nginx@{D2}", id="digest-drops-tag"),
    case(f"nginx@{D1}", ImageEntry("nginx", digest=D2), f"nginx@{D2}", id="digest-replaces-digest"),
    case("nginx:1.0", ImageEntry("nginx", newTag="2", digest=D2), f"nginx:2@{D2}", id="newtag-and-digest"),
    case("nginx:1.0", ImageEntry("nginx", newName="r.io/n", newTag="2", digest=D2), f"r.io/n:2@{D2}", id="all-three"),
    # kustomize 5.7.1 doubles the suffix where two of its walkers reach a container (see the
    # images.py docstring); these rows are what it does where only one does (spec.x.containers).
    case("nginx:1.0", ImageEntry("nginx", tagSuffix="-fips"), "nginx:1.0-fips", id="tagsuffix"),
    case("nginx", ImageEntry("nginx", tagSuffix="-fips"), "nginx:-fips", id="tagsuffix-no-tag"),
    case(f"nginx:1.0@{D1}", ImageEntry("nginx", tagSuffix="-fips"), "nginx:1.0-fips", id="tagsuffix-drops-digest"),
    case("nginx:1.0", ImageEntry("nginx", newTag="7", tagSuffix="-x"), "nginx:7", id="newtag-beats-tagsuffix"),
    case("nginx:1.0", ImageEntry("nginx", digest="sha256:d", tagSuffix="-x"), "nginx@sha256:d", id="digest-beats-tagsuffix"),
    case("nginx:1.0", ImageEntry("nginx"), None, id="empty-entry-no-change"),
    case("nginx:1.0", ImageEntry("nginx", newTag="1.0"), None, id="same-tag-no-change"),
    # image.Split on values the grammar rejects: kustomize still rewrites them
    case("nginx@sha256:abc:def", ImageEntry(".*", newTag="T"), "nginx:T", id="split-digest-first"),
    case("nginx:1@sha256:a@b", ImageEntry(".*", newTag="T"), "nginx:T", id="split-tag-then-digest"),
    case("nginx:1@sha256:a@b", ImageEntry("nginx", newTag="T"), None, id="at-in-digest-not-matched"),
]


@pytest.mark.parametrize("ref,entry,expected", KUSTOMIZE)
def test_apply_kustomize_image(ref, entry, expected):
    assert apply_kustomize_image(ref, entry) == expected


KUSTOMIZE_NORMALIZED = [
    case("nginx", ImageEntry("nginx", newTag="2"), "nginx:2", id="same-form"),
    case("docker.io/nginx:1", ImageEntry("nginx", newTag="2"), "docker.io/nginx:2", id="hub-form-keeps-form"),
    case("docker.io/library/nginx:1", ImageEntry("nginx", newTag="2"), "docker.io/library/nginx:2", id="full-form"),
    case("index.docker.io/library/nginx", ImageEntry("docker.io/nginx", digest=D2), f"index.docker.io/library/nginx@{D2}", id="legacy-domain"),
    case("library/nginx:1", ImageEntry("docker.io/library/nginx", newName="r.io/nginx"), "r.io/nginx:1", id="newname"),
    case(f"nginx@sha512:{'f' * 128}", ImageEntry("nginx", newTag="2"), "nginx:2", id="any-digest-algorithm"),
    case("nginx:1.0", ImageEntry("nginx:1.0", newTag="9"), "nginx:9", id="entry-tag-equal"),
    case("nginx:1.1", ImageEntry("nginx:1.0", newTag="9"), None, id="entry-tag-differs"),
    case(f"nginx:1@{D1}", ImageEntry(f"nginx@{D1}", newTag="2"), "nginx:2", id="entry-digest-equal"),
    case(f"nginx:1@{D2}", ImageEntry(f"nginx@{D1}", newTag="2"), None, id="entry-digest-differs"),
    case("nginxx", ImageEntry("nginx", newTag="2"), None, id="other-name"),
    case("quayXio/x", ImageEntry("quay.io/x", newTag="9"), None, id="no-regex"),
    case("my/nginx", ImageEntry("nginx", newTag="2"), None, id="other-namespace"),
    case("nginx:1.0", ImageEntry("nginx", tagSuffix="-fips"), "nginx:1.0-fips", id="tagsuffix"),
    case("Not A Ref", ImageEntry(".*", newTag="2"), None, id="invalid-value"),
]


@pytest.mark.parametrize("ref,entry,expected", KUSTOMIZE_NORMALIZED)
def test_apply_kustomize_image_normalized(ref, entry, expected):
    assert apply_kustomize_image(ref, entry, normalize=True) == expected


# --- embedded images -----------------------------------------------------------------------
EMBEDDED = [
    case("--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.21.1", None, ["quay.io/jetstack/cert-manager-acmesolver:v1.21.1"], id="cert-manager"),
    case("--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0", None, ["quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0"], id="prometheus-operator-known-flag"),
    case("--image=busybox", None, ["busybox"], id="flag-is-image"),
    case("-image=busybox:1", None, ["busybox:1"], id="single-dash"),
    case("--Default-IMAGE=nginx:1", None, ["nginx:1"], id="case-insensitive"),
    case('--image="quay.io/x:1"', None, ["quay.io/x:1"], id="double-quoted"),
    case("--image='quay.io/x:1'", None, ["quay.io/x:1"], id="single-quoted"),
    case('sh -c "exec /app --sidecar-image=quay.io/a/b:1 --log-level=2"', None, ["quay.io/a/b:1"], id="inside-shell"),
    case("--a-image=x:1 --b-image=y@" + SHA, None, ["x:1", "y@" + SHA], id="two-flags"),
    case("--config-reloader=quay.io/x:1", None, [], id="flag-not-image"),
    case("--config-reloader=quay.io/x:1", r"config-reloader", ["quay.io/x:1"], id="user-pattern"),
    case("--config-reloader-x=quay.io/x:1", r"config-reloader", [], id="user-pattern-fullmatch"),
    case("--image-pull-policy=Always", None, [], id="name-only-contains-image"),
    case("--pull-image=true", None, [], id="boolean-value"),
    case("--retry-image=3", None, [], id="numeric-value"),
    case("--image=Not/Valid", None, [], id="invalid-value"),
    case("--manager-image docker.io/longhornio/longhorn-manager:v1.12.1", None, [], id="space-form-not-here"),
    case("foo--image=busybox", None, [], id="not-a-flag-start"),
    case("--image=", None, [], id="empty-value"),
    case("--images=busybox", None, [], id="plural-not-image"),
]


@pytest.mark.parametrize("text,pattern,expected", EMBEDDED)
def test_find_embedded_images(text, pattern, expected):
    found = find_embedded_images(text, pattern)
    assert [text[start:end] for start, end, _ in found] == expected
    assert [str(ref) for _, _, ref in found] == expected


def test_find_embedded_images_spans_splice():
    text = "--x-image=busybox:1 --y=2"
    [(start, end, ref)] = find_embedded_images(text)
    assert ref.normalized_name == "docker.io/library/busybox"
    assert text[:start] + "quay.io/prometheus/busybox:1" + text[end:] == (
        "--x-image=quay.io/prometheus/busybox:1 --y=2"
    )


@pytest.mark.parametrize(
    "arg,pattern,expected",
    [
        case("--manager-image", None, True, id="longhorn"),
        case("--engine-image", None, True, id="longhorn-engine"),
        case("-image", None, True, id="single-dash"),
        case("--manager-url", None, False, id="other-flag"),
        case("--manager-image=x", None, False, id="has-value"),
        case("manager-image", None, False, id="not-a-flag"),
        case("--prometheus-config-reloader", None, True, id="known-flag"),
        case("--reloader", r"reloader", True, id="user-pattern"),
    ],
)
def test_is_image_flag(arg, pattern, expected):
    assert is_image_flag(arg, pattern) is expected


@pytest.mark.parametrize(
    "name,pattern,expected",
    [
        case("CSI_ATTACHER_IMAGE", None, True, id="longhorn-csi"),
        case("image", None, True, id="lower"),
        case("defaultImage", None, True, id="camel"),
        case("RELATED_IMAGE_OPERATOR", None, True, id="olm-related-image"),
        case("IMAGE_PULL_POLICY", None, False, id="prefix-only"),
        case("IMAGES", None, False, id="plural"),
        case("SIDECAR", r"SIDECAR", True, id="user-pattern"),
        case("SIDECAR_X", r"SIDECAR", False, id="user-pattern-fullmatch"),
    ],
)
def test_is_image_env_name(name, pattern, expected):
    assert is_image_env_name(name, pattern) is expected


@pytest.mark.parametrize(
    "value,expected",
    [
        case("docker.io/longhornio/csi-attacher:v4.12.0", "docker.io/longhornio/csi-attacher", id="image"),
        case("true", None, id="bool"),
        case("Off", None, id="yaml11-bool"),
        case("5000", None, id="number"),
        case("not an image", None, id="invalid"),
    ],
)
def test_embedded_image(value, expected):
    ref = embedded_image(value)
    assert (ref.name_as_written if ref else None) == expected


# --- normalised references, digests that move (issue 13) -------------------------------------
@pytest.mark.parametrize("ref,expected", [
    ("haproxy", "docker.io/library/haproxy:latest"),
    ("haproxy:2.8", "docker.io/library/haproxy:2.8"),
    ("registry-1.docker.io/library/haproxy:2.8", "docker.io/library/haproxy:2.8"),
    ("index.docker.io/bitnami/redis", "docker.io/bitnami/redis:latest"),
    (f"quay.io/x/y@{SHA}", f"quay.io/x/y@{SHA}"),              # a digest alone: no implicit tag
    (f"quay.io/x/y:1@{SHA}", f"quay.io/x/y:1@{SHA}"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
])
def test_normalized_reference(ref, expected):
    assert parse(ref).normalized == expected


@pytest.mark.parametrize("old,new,moved", [
    (f"busybox@{SHA}", f"quay.io/prometheus/busybox@{SHA}", True),            # another repository
    (f"busybox@{SHA}", f"mirror.local/library/busybox@{SHA}", False),          # same path, other registry
    (f"busybox@{SHA}", f"mirror.local/dockerhub/library/busybox@{SHA}", False),  # under a prefix
    (f"docker.io/bitnami/redis@{SHA}", f"mirror.local/bitnamicharts/redis@{SHA}", True),
    (f"docker.io/bitnami/redis@{SHA}", f"mirror.local/hub/xbitnami/redis@{SHA}", True),  # whole components only
    (f"busybox:1@{SHA}", f"quay.io/prometheus/busybox:1@{SHA}", True),
    ("busybox:1", "quay.io/prometheus/busybox:1", False),                      # no digest, nothing to lose
    (f"busybox@{SHA}", "quay.io/prometheus/busybox@" + "sha256:" + "e" * 64, False),  # a new digest was chosen
    ("not valid", "x", False),
])
def test_digest_moved(old, new, moved):
    assert digest_moved(old, new) is moved
