"""lock, mirror and pinDigests against real registries (issue 17).

Three docker-registry processes on 127.0.0.1 (see tests/registry_servers.py): an anonymous
plain-HTTP *source* holding the images the manifests name, a *mirror* with TLS from a
throwaway CA and htpasswd (bcrypt) basic auth, and a registry with distribution's token auth.
Images are pushed with skopeo from OCI layouts built here (a 3-platform OCI index, a Docker
manifest list, single OCI and Docker manifests); digests are checked with ``skopeo inspect``.
Every command runs as a real ``postrender`` process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONFIG_HEADER, run_cli
from tests.registry_servers import (
    CA,
    FaultProxy,
    Layout,
    Registry,
    TokenServer,
    free_port,
    htpasswd_file,
    push,
    require,
    run,
    skopeo_digest,
    skopeo_manifest,
)

# Every test here runs real docker-registry servers and skopeo (the `lab` fixture).
pytestmark = pytest.mark.e2e

MIRROR_USER, MIRROR_PASSWORD = "mirror-robot", "mirror-pass-8f3c1e"
TOKEN_USER, TOKEN_PASSWORD = "token-robot", "token-pass-2b7d9a"

# repo:tag on the source -> what it is (all pushed by the lab fixture)
IMAGES = {
    "library/busybox:1.36": "OCI index: linux/amd64, linux/arm64, linux/arm/v7",
    "library/nginx:1.27": "OCI manifest",
    "team/app:v1": "Docker manifest list: linux/amd64, linux/arm64",
    "team/tool:2": "Docker manifest, 2 layers",
}


class Lab:
    def __init__(self, root: Path):
        self.root = root
        self.servers: list = []

    def registry(self, name: str, **kwargs) -> Registry:
        registry = Registry(self.root / name, free_port(), **kwargs)
        self.servers.append(registry)
        return registry.start()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require("docker-registry", "skopeo", "openssl")
    root = tmp_path_factory.mktemp("registries")
    lab = Lab(root)
    try:
        lab.ca = CA.create(root / "ca")
        lab.source = lab.registry("source")
        tls = lab.ca.issue(root / "ca", "mirror")
        lab.mirror = lab.registry("mirror", tls=tls,
                                  htpasswd=htpasswd_file(root / "htpasswd", {MIRROR_USER: MIRROR_PASSWORD}),
                                  users={MIRROR_USER: MIRROR_PASSWORD})
        lab.tokens = TokenServer(root / "token", {TOKEN_USER: TOKEN_PASSWORD})
        lab.servers.append(lab.tokens)
        lab.token_registry = lab.registry("token-registry", token=lab.tokens, users={TOKEN_USER: TOKEN_PASSWORD})
        layout = Layout(root / "layout")
        layout.tag(layout.index([layout.image("busybox amd64"), layout.image("busybox arm64", arch="arm64"),
                                 layout.image("busybox armv7", arch="arm", variant="v7")]), "busybox")
        layout.tag(layout.image("nginx"), "nginx")
        layout.tag(layout.index([layout.image("app amd64", docker=True),
                                 layout.image("app arm64", arch="arm64", docker=True)], docker=True), "app")
        layout.tag(layout.image("tool", docker=True, layers=2), "tool")
        lab.layout = layout
        for image in IMAGES:
            repo, tag = image.split(":")
            push(layout, repo.rsplit("/", 1)[1], lab.source, repo, tag)
        yield lab
    finally:
        lab.stop()


def manifests(images: dict[str, str]) -> bytes:
    """A rendered stream naming each image once, as a chart would (Deployments)."""
    docs = []
    for i, (name, image) in enumerate(images.items()):
        docs.append(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n"
            f"  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec:\n      containers:\n        - name: main\n          image: {image}\n")
    return ("---\n".join(docs)).encode()


def docker_config(directory: Path, auths: dict | None = None, **extra) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    body = {"auths": {host: {"auth": __import__("base64").b64encode(f"{u}:{p}".encode()).decode()}
                      for host, (u, p) in (auths or {}).items()}, **extra}
    (directory / "config.json").write_text(json.dumps(body))
    # HOME and XDG_RUNTIME_DIR too: no login of the machine's user (containers auth.json) leaks in.
    return {"DOCKER_CONFIG": str(directory), "HOME": str(directory), "XDG_RUNTIME_DIR": str(directory)}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def config_text(mirror_to: str, source_host: str, lock: str | None = "postrender.lock.yaml") -> str:
    text = (CONFIG_HEADER + "rules:\n"
            f"  - registryRewrite:\n      mirrors:\n        - {{from: '{source_host}', to: '{mirror_to}'}}\n")
    if lock:
        text += f"  - pinDigests:\n      lock: {lock}\n"
    return text


def images_of(output: bytes) -> list[str]:
    return [d["spec"]["template"]["spec"]["containers"][0]["image"] for d in yaml.safe_load_all(output) if d]


def summary_numbers(stderr: str) -> dict:
    m = re.search(r"mirror: (\d+) copied, (\d+) skipped \(already there\), (\d+) failed; blobs: (\d+) uploaded"
                  r" \([^)]*\), (\d+) mounted, (\d+) already present", stderr)
    assert m, stderr
    keys = ("copied", "skipped", "failed", "uploaded", "mounted", "present")
    return dict(zip(keys, map(int, m.groups())))


# --- the whole offline loop: rewrite -> mirror -> lock -> pin ---------------------------------------

def test_rewrite_mirror_lock_pin_with_basic_auth_and_tls(lab, tmp_path):
    """The Kata/kinder case end to end: every image moves to a TLS mirror with basic auth; mirror
    copies them (every platform of each index), lock records the digests skopeo reports on the
    mirror, pinDigests puts them in the output; a second mirror run writes nothing."""
    src = lab.source.host
    stream = manifests({name.split("/")[-1].split(":")[0]: f"{src}/{name}" for name in IMAGES})
    (tmp_path / "input.yaml").write_bytes(stream)
    config = write(tmp_path / "postrender.yaml", config_text(f"{lab.mirror.host}/hub", src))
    env = docker_config(tmp_path / "docker", {lab.mirror.host: (MIRROR_USER, MIRROR_PASSWORD)})
    common = ["-c", config, "-i", tmp_path / "input.yaml", "--ca-file", lab.ca.cert]

    first = run_cli(["mirror", *map(str, common)], env=env)
    assert first.code == 0, first.err
    numbers = summary_numbers(first.err)
    assert (numbers["copied"], numbers["skipped"], numbers["failed"], numbers["mounted"]) == (4, 0, 0, 0)
    # 3 + 2 platform images of one layer, 1 + 1 single images of 1 and 2 layers, plus their configs
    assert numbers["uploaded"] + numbers["present"] == 2 * 3 + 2 * 2 + 2 + 3, numbers
    for image in IMAGES:
        assert skopeo_digest(lab.mirror, f"hub/{image}") == skopeo_digest(lab.source, image), image
    # Every platform of each index is on the mirror, by the same digests.
    for image in ("library/busybox:1.36", "team/app:v1"):
        children = [m["digest"] for m in skopeo_manifest(lab.source, image)["manifests"]]
        assert len(children) >= 2
        for child in children:
            repo = image.split(":")[0]
            assert skopeo_digest(lab.mirror, f"hub/{repo}@{child}") == child

    writes_before = len(lab.mirror.requests("PUT")) + len(lab.mirror.requests("POST")) + len(lab.mirror.requests("PATCH"))
    second = run_cli(["mirror", *map(str, common)], env=env)
    assert second.code == 0, second.err
    assert summary_numbers(second.err) == {"copied": 0, "skipped": 4, "failed": 0, "uploaded": 0, "mounted": 0, "present": 0}
    writes_after = len(lab.mirror.requests("PUT")) + len(lab.mirror.requests("POST")) + len(lab.mirror.requests("PATCH"))
    assert writes_after == writes_before, "the second run wrote to the mirror"

    locked = run_cli(["lock", *map(str, common), "-o", str(tmp_path / "postrender.lock.yaml")], env=env)
    assert locked.code == 0, locked.err
    lock = yaml.safe_load((tmp_path / "postrender.lock.yaml").read_text())
    assert lock["kind"] == "ImageLock"
    expected = {f"{lab.mirror.host}/hub/{image}": skopeo_digest(lab.mirror, f"hub/{image}") for image in IMAGES}
    assert {e["image"]: e["digest"] for e in lock["images"]} == expected
    assert [e["image"] for e in lock["images"]] == sorted(expected)

    pinned = run_cli(["-c", str(config)], stdin=stream, env=env)
    assert pinned.code == 0, pinned.err
    assert sorted(images_of(pinned.out)) == sorted(f"{name}@{digest}" for name, digest in expected.items())
    for secret in (MIRROR_PASSWORD,):
        for result in (first, second, locked, pinned):
            assert secret not in result.err
    assert MIRROR_PASSWORD not in (tmp_path / "postrender.lock.yaml").read_text()


def test_the_lab_serves_every_manifest_type(lab):
    """The source really holds the four manifest types the client must handle."""
    types = {image: skopeo_manifest(lab.source, image)["mediaType"] for image in IMAGES}
    assert types == {
        "library/busybox:1.36": "application/vnd.oci.image.index.v1+json",
        "library/nginx:1.27": "application/vnd.oci.image.manifest.v1+json",
        "team/app:v1": "application/vnd.docker.distribution.manifest.list.v2+json",
        "team/tool:2": "application/vnd.docker.distribution.manifest.v2+json",
    }
    platforms = [m["platform"] for m in skopeo_manifest(lab.source, "library/busybox:1.36")["manifests"]]
    assert {(p["os"], p["architecture"], p.get("variant")) for p in platforms} == {
        ("linux", "amd64", None), ("linux", "arm64", None), ("linux", "arm", "v7")}


# --- lock ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("verify", [False, True], ids=["head", "verify-get"])
def test_lock_records_what_skopeo_reports_on_an_anonymous_registry(lab, tmp_path, verify):
    """No rewrite, no pinDigests: the lock lists every image as written (normalised), with the
    digest skopeo reports; an image already pinned by digest needs no entry."""
    src = lab.source.host
    busybox = skopeo_digest(lab.source, "library/busybox:1.36")
    stream = manifests({"a": f"{src}/library/busybox:1.36", "b": f"{src}/team/tool:2",
                        "c": f"{src}/library/nginx:1.27@{skopeo_digest(lab.source, 'library/nginx:1.27')}"})
    config = write(tmp_path / "c.yaml", CONFIG_HEADER + "rules: []\n")
    result = run_cli(["lock", "-c", str(config), *(["--verify"] if verify else [])], stdin=stream,
                     env=docker_config(tmp_path / "docker"))
    assert result.code == 0, result.err
    lock = yaml.safe_load(result.out)
    assert lock["images"] == [{"image": f"{src}/library/busybox:1.36", "digest": busybox},
                              {"image": f"{src}/team/tool:2", "digest": skopeo_digest(lab.source, "team/tool:2")}]
    assert "2 image(s) locked, 1 already pinned by digest" in result.err


def test_lock_through_token_auth_anonymous_pull_and_credentials(lab, tmp_path):
    """distribution's `auth: token`: anonymous pull tokens for lock; the scopes asked for are
    exactly the repositories' pull; with credentials the Basic auth goes to the realm."""
    reg = lab.token_registry
    push(lab.layout, "busybox", reg, "library/busybox", "1.36")
    push(lab.layout, "app", reg, "team/app", "v1")
    stream = manifests({"a": f"{reg.host}/library/busybox:1.36", "b": f"{reg.host}/team/app:v1"})
    config = write(tmp_path / "c.yaml", CONFIG_HEADER)
    before = len(lab.tokens.requests)
    anonymous = run_cli(["lock", "-c", str(config)], stdin=stream, env=docker_config(tmp_path / "anon"))
    assert anonymous.code == 0, anonymous.err
    asked = lab.tokens.requests[before:]
    assert {tuple(r["scopes"]) for r in asked} == {("repository:library/busybox:pull",), ("repository:team/app:pull",)}
    assert all(r["account"] is None for r in asked)
    lock = {e["image"]: e["digest"] for e in yaml.safe_load(anonymous.out)["images"]}
    assert lock == {f"{reg.host}/library/busybox:1.36": skopeo_digest(reg, "library/busybox:1.36"),
                    f"{reg.host}/team/app:v1": skopeo_digest(reg, "team/app:v1")}

    before = len(lab.tokens.requests)
    env = docker_config(tmp_path / "robot", {reg.host: (TOKEN_USER, TOKEN_PASSWORD)})
    logged_in = run_cli(["lock", "-c", str(config)], stdin=stream, env=env)
    assert logged_in.code == 0, logged_in.err
    assert logged_in.out == anonymous.out
    assert {r["account"] for r in lab.tokens.requests[before:]} == {TOKEN_USER}

    env = docker_config(tmp_path / "wrong", {reg.host: (TOKEN_USER, "not-the-password-77")})
    refused = run_cli(["lock", "-c", str(config)], stdin=stream, env=env)
    assert refused.code == 1 and refused.out == b""
    assert f"{reg.host}: the token service 127.0.0.1:{lab.tokens.port} refused the credentials from" in refused.err
    assert "not-the-password-77" not in refused.err and "Traceback" not in refused.err


def test_lock_errors_name_the_image_the_place_and_write_nothing(lab, tmp_path):
    src = lab.source.host
    stream = manifests({"good": f"{src}/library/nginx:1.27", "gone": f"{src}/library/nginx:0.0-missing"})
    config = write(tmp_path / "c.yaml", CONFIG_HEADER)
    out = tmp_path / "lock.yaml"
    result = run_cli(["lock", "-c", str(config), "-o", str(out)], stdin=stream, env=docker_config(tmp_path / "d"))
    assert result.code == 1
    assert not out.exists()
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith(f"postrender: error: lock: {src}/library/nginx:0.0-missing: manifest ")
    assert "not found (HTTP 404)" in lines[0] and "document 2: Deployment/apps/gone: spec.template.spec.containers[0].image" in lines[0]
    assert result.err.rstrip().endswith("postrender: error: lock: 1 image(s) failed; no lock file written")


def test_tls_without_the_ca_and_wrong_basic_password_are_one_clear_line(lab, tmp_path):
    stream = manifests({"a": f"{lab.mirror.host}/tls/library/nginx:1.27"})
    config = write(tmp_path / "c.yaml", CONFIG_HEADER)
    no_ca = run_cli(["lock", "-c", str(config)], stdin=stream, env=docker_config(tmp_path / "d"))
    assert no_ca.code == 1
    assert f"{lab.mirror.host}: TLS certificate not trusted" in no_ca.err and "--ca-file" in no_ca.err
    env = docker_config(tmp_path / "w", {lab.mirror.host: (MIRROR_USER, "wrong-password-5150")})
    wrong = run_cli(["lock", "-c", str(config), "--ca-file", str(lab.ca.cert)], stdin=stream, env=env)
    assert wrong.code == 1
    assert "HTTP 401" in wrong.err and "wrong-password-5150" not in wrong.err
    anonymous = run_cli(["lock", "-c", str(config), "--ca-file", str(lab.ca.cert)], stdin=stream,
                        env=docker_config(tmp_path / "n"))
    assert anonymous.code == 1
    assert f"{lab.mirror.host} asks for a user name and password and none are configured" in anonymous.err
    for r in (no_ca, wrong, anonymous):
        assert "Traceback" not in r.err and r.out == b""
    # --insecure-registry: docker's insecure-registries, TLS not verified for that host only.
    env = docker_config(tmp_path / "ok", {lab.mirror.host: (MIRROR_USER, MIRROR_PASSWORD)})
    push(lab.layout, "nginx", lab.mirror, "tls/library/nginx", "1.27")
    insecure = run_cli(["lock", "-c", str(config), "--insecure-registry", lab.mirror.host], stdin=stream, env=env)
    assert insecure.code == 0, insecure.err
    assert yaml.safe_load(insecure.out)["images"][0]["digest"] == skopeo_digest(lab.mirror, "tls/library/nginx:1.27")


def test_credentials_from_the_pull_secret_variables(lab, tmp_path):
    """The config's pull-secret variables (what pullSecret puts in the cluster) log in too."""
    stream = manifests({"a": f"{lab.source.host}/library/busybox:1.36"})
    config = write(tmp_path / "c.yaml", config_text(f"{lab.mirror.host}/vars", lab.source.host, lock=None))
    pw = tmp_path / "pw"
    pw.write_text(MIRROR_PASSWORD + "\n")
    args = ["-c", str(config), "--ca-file", str(lab.ca.cert), "--set", f"registry={lab.mirror.host}",
            "--set", f"username={MIRROR_USER}", "--set-file", f"password={pw}"]
    copied = run_cli(["mirror", *args], stdin=stream, env=docker_config(tmp_path / "none"))
    assert copied.code == 0, copied.err
    assert summary_numbers(copied.err)["copied"] == 1
    assert skopeo_digest(lab.mirror, "vars/library/busybox:1.36") == skopeo_digest(lab.source, "library/busybox:1.36")
    assert MIRROR_PASSWORD not in copied.err


# --- retries -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("status,retry_after,min_gap", [(429, "1", 0.9), (503, None, 0.0), (502, "0", 0.0)],
                         ids=["429-retry-after", "503-backoff", "502-retry-after-0"])
def test_lock_retries_rate_limits_and_server_errors(lab, tmp_path, status, retry_after, min_gap):
    proxy = FaultProxy(lab.source, faults=2, status=status, retry_after=retry_after)
    try:
        stream = manifests({"a": f"{proxy.host}/library/busybox:1.36"})
        config = write(tmp_path / "c.yaml", CONFIG_HEADER)
        result = run_cli(["lock", "-c", str(config)], stdin=stream, env=docker_config(tmp_path / "d"))
    finally:
        proxy.stop()
    assert result.code == 0, result.err
    assert yaml.safe_load(result.out)["images"][0]["digest"] == skopeo_digest(lab.source, "library/busybox:1.36")
    manifest_requests = [(t, status_) for t, line, status_ in proxy.log if "/manifests/" in line]
    assert [s for _, s in manifest_requests] == [status, status, 200]
    gaps = [b[0] - a[0] for a, b in zip(manifest_requests, manifest_requests[1:])]
    assert min(gaps) >= min_gap, gaps


def test_a_retry_after_beyond_the_limit_fails_at_once_with_the_reason(lab, tmp_path):
    proxy = FaultProxy(lab.source, faults=100, status=429, retry_after="3600")
    try:
        stream = manifests({"a": f"{proxy.host}/library/busybox:1.36"})
        config = write(tmp_path / "c.yaml", CONFIG_HEADER)
        started = time.monotonic()
        result = run_cli(["lock", "-c", str(config)], stdin=stream, env=docker_config(tmp_path / "d"))
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert result.code == 1 and elapsed < 30
    assert "HTTP 429" in result.err and "Retry-After 3600" in result.err and "rate limited" in result.err
    assert len([1 for _, line, _ in proxy.log if "/manifests/" in line]) == 1


# --- mirror ------------------------------------------------------------------------------------------

def test_mirror_within_one_registry_mounts_blobs_with_a_two_repository_token(lab, tmp_path):
    """Same registry, another repository: blobs are mounted (no bytes move), the token asks for
    pull,push on the target and pull on the source; the credentials come from a real
    credential helper (docker-credential-pass) named in the Docker config's credHelpers."""
    require("docker-credential-pass", "pass", "gpg")
    reg = lab.token_registry
    push(lab.layout, "tool", reg, "team/tool", "2")
    push(lab.layout, "busybox", reg, "library/busybox", "1.36")
    env = pass_helper(tmp_path, reg.host, TOKEN_USER, TOKEN_PASSWORD)
    try:
        stream = manifests({"a": f"{reg.host}/team/tool:2", "b": f"{reg.host}/library/busybox:1.36"})
        config = write(tmp_path / "c.yaml", config_text(f"{reg.host}/copies", reg.host, lock=None).replace(
            f"from: '{reg.host}'", f"from: '{reg.host}/team/'").replace(f"to: '{reg.host}/copies'", f"to: '{reg.host}/copies/team'")
            + f"        - {{from: '{reg.host}/library/', to: '{reg.host}/copies/library'}}\n")
        before = len(lab.tokens.requests)
        result = run_cli(["mirror", "-c", str(config)], stdin=stream, env=env)
    finally:
        stop_pass_helper(env)
    assert result.code == 0, result.err
    numbers = summary_numbers(result.err)
    assert numbers["copied"] == 2 and numbers["uploaded"] == 0 and numbers["mounted"] >= 4, numbers
    assert skopeo_digest(reg, "copies/team/tool:2") == skopeo_digest(reg, "team/tool:2")
    assert skopeo_digest(reg, "copies/library/busybox:1.36") == skopeo_digest(reg, "library/busybox:1.36")
    mounts = [r for r in reg.requests("POST") if "mount=" in r]
    assert mounts and all("from=team%2Ftool" in r or "from=library%2Fbusybox" in r for r in mounts), mounts
    scopes = {tuple(sorted(r["scopes"])) for r in lab.tokens.requests[before:]}
    assert ("repository:copies/team/tool:pull,push", "repository:team/tool:pull") in scopes
    assert {r["account"] for r in lab.tokens.requests[before:]} == {TOKEN_USER}
    assert TOKEN_PASSWORD not in result.err


def pass_helper(tmp_path: Path, host: str, user: str, password: str) -> dict:
    """A Docker config whose credHelpers sends ``host`` to docker-credential-pass, with the
    credentials stored in a throwaway gpg + pass store."""
    gnupg, store = tmp_path / "gnupg", tmp_path / "password-store"
    gnupg.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(gnupg), "PASSWORD_STORE_DIR": str(store), "HOME": str(tmp_path)}
    full = {**os.environ, **env}
    run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "postrender test <test@example.invalid>",
         "default", "default", "never"], env=full)
    listing = run(["gpg", "--list-keys", "--with-colons"], env=full).stdout.decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    run(["pass", "init", fingerprint], env=full)
    run(["docker-credential-pass", "store"], env=full,
        input=json.dumps({"ServerURL": host, "Username": user, "Secret": password}).encode())
    env.update(docker_config(tmp_path / "docker", credHelpers={host: "pass"}))
    return env


def stop_pass_helper(env: dict) -> None:
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, **env}, capture_output=True, timeout=30)


def test_mirror_platform_filter_and_dry_run_plans(lab, tmp_path):
    src = lab.source.host
    stream = manifests({"a": f"{src}/library/busybox:1.36", "b": f"{src}/team/app:v1", "c": f"{src}/library/nginx:1.27"})
    config = write(tmp_path / "c.yaml", config_text(f"{lab.mirror.host}/arm", src, lock=None))
    env = docker_config(tmp_path / "d", {lab.mirror.host: (MIRROR_USER, MIRROR_PASSWORD)})
    base = ["-c", str(config), "--ca-file", str(lab.ca.cert)]

    requests_before = len(lab.mirror.requests()) + len(lab.source.requests())
    plan = run_cli(["mirror", *base, "--dry-run", "--format", "json"], stdin=stream, env=env)
    assert plan.code == 0, plan.err
    assert [(p["source"], p["destination"]) for p in json.loads(plan.out)] == [
        (f"{src}/library/busybox:1.36", f"{lab.mirror.host}/arm/library/busybox:1.36"),
        (f"{src}/library/nginx:1.27", f"{lab.mirror.host}/arm/library/nginx:1.27"),
        (f"{src}/team/app:v1", f"{lab.mirror.host}/arm/team/app:v1")]
    assert json.loads(plan.out)[0]["places"] == ["document 1: Deployment/apps/a: spec.template.spec.containers[0].image"]
    text = run_cli(["mirror", *base, "--dry-run"], stdin=stream, env=env)
    assert len(lab.mirror.requests()) + len(lab.source.requests()) == requests_before  # no network
    assert text.out.decode().splitlines()[0] == f"{src}/library/busybox:1.36 -> {lab.mirror.host}/arm/library/busybox:1.36"

    copied = run_cli(["mirror", *base, "--platform", "linux/arm64"], stdin=stream, env=env)
    assert copied.code == 0, copied.err
    for image in ("library/busybox:1.36", "team/app:v1"):
        index = skopeo_manifest(lab.mirror, f"arm/{image}")
        assert [m["platform"]["architecture"] for m in index["manifests"]] == ["arm64"]
        assert skopeo_digest(lab.mirror, f"arm/{image}") != skopeo_digest(lab.source, image)
        arm = next(m["digest"] for m in skopeo_manifest(lab.source, image)["manifests"] if m["platform"]["architecture"] == "arm64")
        assert index["manifests"][0]["digest"] == arm
    assert skopeo_digest(lab.mirror, "arm/library/nginx:1.27") == skopeo_digest(lab.source, "library/nginx:1.27")
    bad = run_cli(["mirror", *base, "--platform", "windows/amd64"], stdin=stream, env=env)
    assert bad.code == 1 and "--platform: " in bad.err and "no entry for windows/amd64" in bad.err


def test_skopeo_sync_plan_runs_in_skopeo_and_gives_the_same_digests(lab, tmp_path):
    """The --format skopeo-sync plan is a real `skopeo sync --src yaml` input: running it fills a
    fresh registry with the digests our own mirror run would have."""
    target = Registry(tmp_path / "sync-target", free_port()).start()
    try:
        src = lab.source.host
        stream = manifests({"a": f"{src}/library/busybox:1.36", "b": f"{src}/team/tool:2", "c": f"{src}/team/app:v1"})
        config = write(tmp_path / "c.yaml", config_text(f"{target.host}/hub", src, lock=None))
        plan = run_cli(["mirror", "-c", str(config), "--dry-run", "--format", "skopeo-sync"], stdin=stream,
                       env=docker_config(tmp_path / "d"))
        assert plan.code == 0, plan.err
        documents = plan.out.decode().split("---\n")
        assert len(documents) == 2  # hub/library and hub/team
        for document in documents:
            command = re.search(r"^# (skopeo sync .*) THIS_FILE (\S+)$", document, re.M)
            assert command, document
            source_file = tmp_path / f"sync-{len(list(tmp_path.glob('sync-*.yaml')))}.yaml"
            source_file.write_text(document)
            assert yaml.safe_load(document)[src]["tls-verify"] is False
            run([*command.group(1).split(), source_file, command.group(2)])
        for image in ("library/busybox:1.36", "team/tool:2", "team/app:v1"):
            assert skopeo_digest(target, f"hub/{image}") == skopeo_digest(lab.source, image)
    finally:
        target.stop()


def test_a_mirror_interrupted_half_way_is_resumed(lab, tmp_path):
    """What an interrupted run left (one platform's manifest and blobs) is not sent again."""
    target = Registry(tmp_path / "resume", free_port()).start()
    try:
        src = lab.source.host
        # A previous, interrupted copy: one platform is there, the index (the tag) is not.
        arm64 = next(m for m in skopeo_manifest(lab.source, "library/busybox:1.36")["manifests"]
                     if m["platform"]["architecture"] == "arm64")
        run(["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
             f"docker://{src}/library/busybox@{arm64['digest']}", f"docker://{target.host}/library/busybox:partial"])
        stream = manifests({"a": f"{src}/library/busybox:1.36"})
        config = write(tmp_path / "c.yaml", config_text(target.host, src, lock=None))
        puts_before = len(target.requests("PUT"))
        result = run_cli(["mirror", "-c", str(config)], stdin=stream, env=docker_config(tmp_path / "d"))
        assert result.code == 0, result.err
        numbers = summary_numbers(result.err)
        # 3 platforms x (config + layer): the 4 blobs of the two missing platforms move.
        assert numbers == {"copied": 1, "skipped": 0, "failed": 0, "uploaded": 4, "mounted": 0, "present": 0}
        puts = target.requests("PUT")[puts_before:]
        assert not [p for p in puts if arm64["digest"] in p]
        assert len([p for p in puts if "/manifests/" in p]) == 3  # two platforms, then the index
        assert skopeo_digest(target, "library/busybox:1.36") == skopeo_digest(lab.source, "library/busybox:1.36")
    finally:
        target.stop()


def test_pin_before_rewrite_and_kbld_lock(lab, tmp_path):
    """pinDigests placed before registryRewrite: lock resolves on the mirror (where the cluster
    pulls) and records the names pinDigests sees; the output carries the mirror name and the
    digest.  The kbld format pins the same."""
    src = lab.source.host
    stream = manifests({"a": f"{src}/library/nginx:1.27", "b": f"{src}/team/app:v1"})
    env = docker_config(tmp_path / "d", {lab.mirror.host: (MIRROR_USER, MIRROR_PASSWORD)})
    rewrite = f"  - registryRewrite:\n      mirrors:\n        - {{from: '{src}', to: '{lab.mirror.host}/early'}}\n"
    for fmt in ("postrender", "kbld"):
        config = write(tmp_path / f"{fmt}.yaml", CONFIG_HEADER + "rules:\n"
                       f"  - pinDigests: {{lock: {fmt}.lock.yaml}}\n" + rewrite)
        args = ["-c", str(config), "--ca-file", str(lab.ca.cert)]
        assert run_cli(["mirror", *args], stdin=stream, env=env).code == 0
        locked = run_cli(["lock", *args, "--format", fmt, "-o", str(tmp_path / f"{fmt}.lock.yaml")], stdin=stream, env=env)
        assert locked.code == 0, locked.err
        text = (tmp_path / f"{fmt}.lock.yaml").read_text()
        assert src in text and f"{lab.mirror.host}/early" not in text  # the names pinDigests sees
        out = run_cli(["-c", str(config)], stdin=stream)
        assert out.code == 0, out.err
        assert images_of(out.out) == [
            f"{lab.mirror.host}/early/library/nginx:1.27@{skopeo_digest(lab.source, 'library/nginx:1.27')}",
            f"{lab.mirror.host}/early/team/app:v1@{skopeo_digest(lab.source, 'team/app:v1')}"]


@pytest.mark.parametrize("where", ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"])
def test_a_skopeo_login_is_used(lab, tmp_path, where):
    """`skopeo login` (containers-auth.json) works like `docker login`: lock reads what it wrote."""
    env = docker_config(tmp_path / "d")
    if where == "REGISTRY_AUTH_FILE":
        env["REGISTRY_AUTH_FILE"] = str(tmp_path / "auth.json")
    # skopeo 1.9 writes into $DOCKER_CONFIG/config.json when that is set: log in without it.
    login = {**{k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"},
             **{k: v for k, v in env.items() if k != "DOCKER_CONFIG"}}
    run(["skopeo", "login", "--tls-verify=false", "-u", MIRROR_USER, "--password-stdin", lab.mirror.host],
        env=login, input=MIRROR_PASSWORD.encode())
    written = tmp_path / "auth.json" if where == "REGISTRY_AUTH_FILE" else tmp_path / "d" / "containers" / "auth.json"
    assert MIRROR_USER not in (tmp_path / "d" / "config.json").read_text()
    assert lab.mirror.host in json.loads(written.read_text())["auths"]
    push(lab.layout, "nginx", lab.mirror, "login/nginx", "1.27")
    stream = manifests({"a": f"{lab.mirror.host}/login/nginx:1.27"})
    config = write(tmp_path / "c.yaml", CONFIG_HEADER)
    result = run_cli(["lock", "-c", str(config), "--ca-file", str(lab.ca.cert)], stdin=stream, env=env)
    assert result.code == 0, result.err
    assert yaml.safe_load(result.out)["images"][0]["digest"] == skopeo_digest(lab.mirror, "login/nginx:1.27")


def test_progress_shows_on_a_terminal_only(lab, tmp_path):
    import pty

    stream = manifests({"a": f"{lab.source.host}/library/nginx:1.27", "b": f"{lab.source.host}/team/tool:2"})
    (tmp_path / "in.yaml").write_bytes(stream)
    config = write(tmp_path / "c.yaml", CONFIG_HEADER)
    args = [sys.executable, "-m", "postrender", "lock", "-c", str(config), "-i", str(tmp_path / "in.yaml")]
    env = {**os.environ, **docker_config(tmp_path / "d")}
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=terminal, env=env, timeout=120)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert proc.returncode == 0
    assert b"\rlock: 2/2" in shown and b"2 image(s) locked" in shown
    piped = run_cli(["lock", "-c", str(config), "-i", str(tmp_path / "in.yaml")], env=docker_config(tmp_path / "e"))
    assert piped.code == 0 and "\r" not in piped.err and "lock: 2/2" not in piped.err
