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
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
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
    return {"DOCKER_CONFIG": str(directory)}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def config_text(mirror_to: str, source_host: str, lock: str | None = "postrender.lock.yaml") -> str:
    text = ("apiVersion: postrender/v1alpha1\nkind: PostRenderer\nrules:\n"
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
    assert summary_numbers(first.err) | {} == {**summary_numbers(first.err), "copied": 4, "skipped": 0, "failed": 0}
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
