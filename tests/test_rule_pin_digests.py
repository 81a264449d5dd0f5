"""pinDigests (offline), the lock file formats, and the pieces of the registry client that are
pure functions (challenges, Retry-After, hosts, credentials, platforms, pairing by location).
The registry round trips are in tests/test_registry.py."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from postrender.images.reference import parse
from tests.conftest import run_cli, write_config
from tests.imagetest_util import changed_leaves

DATA = (Path(__file__).parent / "data" / "images.yaml").read_bytes()
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
D4 = "sha256:" + "4" * 64
C = "spec.template.spec.containers"


def lock_file(tmp_path: Path, entries: dict[str, str], name: str = "postrender.lock.yaml") -> Path:
    path = tmp_path / name
    path.write_text("apiVersion: postrender/v1alpha1\nkind: ImageLock\nimages:\n"
                    + "".join(f"  - {{image: '{k}', digest: '{v}'}}\n" for k, v in entries.items()))
    return path


def pin(tmp_path: Path, entries: dict[str, str], on_missing: str = "warn", before: str = "", data: bytes = DATA):
    from postrender.config.loader import load_config
    from postrender.pipeline import run_stream

    lock_file(tmp_path, entries)
    config = write_config(tmp_path, f"rules:\n{before}  - pinDigests:\n      lock: postrender.lock.yaml\n"
                                    f"      onMissing: {on_missing}\n")
    return run_stream(load_config(config), data)


def test_every_spelling_and_every_location_is_pinned(tmp_path):
    result = pin(tmp_path, {"docker.io/library/busybox:1.36": D1, "docker.io/library/nginx:1.27": D2,
                            "docker.io/library/alpine:3.20": D3, "docker.io/library/nginx:latest": D4,
                            "quay.io/org/sidecar:v2": D1, "quay.io/org/data:v1": D2})
    changed = changed_leaves(DATA, result.output)
    assert changed[("Deployment", "web", "spec.template.spec.initContainers[0].image")] == f"busybox:1.36@{D1}"
    assert changed[("Deployment", "web", f"{C}[0].image")] == f"docker.io/library/nginx:1.27@{D2}"
    assert changed[("Deployment", "web", f"{C}[0].args[0]")] == f"--sidecar-image=quay.io/org/sidecar:v2@{D1}"
    assert changed[("Deployment", "web", f"{C}[0].args[3]")] == f"library/alpine:3.20@{D3}"
    assert changed[("Deployment", "web", "spec.template.spec.volumes[0].image.reference")] == f"quay.io/org/data:v1@{D2}"
    # no tag means latest; the env value already pinned by digest stays as written
    assert changed[("CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image")] == f"nginx@{D4}"
    assert ("Deployment", "web", f"{C}[0].env[0].value") not in changed
    # MODE=nginx:1.27 is not an image env var: untouched
    assert ("Deployment", "web", f"{C}[0].env[2].value") not in changed
    assert any("Not A Valid:ref" in w for w in result.warnings)


def test_on_missing_error_fails_the_run_and_names_each_place(tmp_path):
    lock_file(tmp_path, {"docker.io/library/nginx:1.27": D2})
    config = write_config(tmp_path, "rules:\n  - pinDigests: {lock: postrender.lock.yaml}\n")
    stream = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: nginx:1.27}\n  - {name: b, image: redis:7}\n"
    result = run_cli(["-c", str(config)], stdin=stream)
    assert result.code == 1 and result.out == b""
    assert ("postrender: check failed: document 1: Pod/p: spec.containers[1].image: redis:7 is not in the lock"
            " file postrender.lock.yaml; add it with `postrender lock -c CONFIG -o postrender.lock.yaml`") in result.err
    warn = write_config(tmp_path, "rules:\n  - pinDigests: {lock: postrender.lock.yaml, onMissing: warn}\n", "warn.yaml")
    result = run_cli(["-c", str(warn)], stdin=stream)
    assert result.code == 0
    assert f"image: nginx:1.27@{D2}" in result.text and "image: redis:7}" in result.text
    assert "warning: document 1: Pod/p: spec.containers[1].image: redis:7 is not in the lock" in result.err


def test_pinning_is_idempotent_and_composes_with_the_rewrite(tmp_path):
    rewrite = "  - registryRewrite:\n      mirrors:\n        - {from: docker.io, to: mirror.local/hub}\n"
    result = pin(tmp_path, {"mirror.local/hub/library/busybox:1.36": D1}, before=rewrite)
    changed = changed_leaves(DATA, result.output)
    assert changed[("Deployment", "web", "spec.template.spec.initContainers[0].image")] == f"mirror.local/hub/library/busybox:1.36@{D1}"
    again = pin(tmp_path, {"mirror.local/hub/library/busybox:1.36": D1}, before=rewrite, data=result.output)
    assert again.output == result.output


@pytest.mark.parametrize("lock_text,message", [
    (None, "missing.lock.yaml: lock file not found; create it with `postrender lock -c CONFIG -o "),
    ("apiVersion: v1\nkind: ConfigMap\n", "apiVersion/kind v1/ConfigMap is not a lock file"),
    ("apiVersion: postrender/v1alpha1\nkind: ImageLock\nimages:\n  - {image: nginx:1, digest: sha256:abc}\n",
     "images[0].digest: 'sha256:abc' is not a sha256/sha384/sha512 digest"),
    (f"apiVersion: postrender/v1alpha1\nkind: ImageLock\nimages:\n  - {{image: 'nginx:1@{D1}', digest: '{D1}'}}\n",
     "already has a digest"),
    (f"apiVersion: postrender/v1alpha1\nkind: ImageLock\nimages:\n  - {{image: nginx:1, digest: '{D1}'}}\n"
     f"  - {{image: docker.io/library/nginx:1, digest: '{D2}'}}\n", "docker.io/library/nginx:1 is listed twice with different digests"),
    ("apiVersion: kbld.k14s.io/v1alpha1\nkind: Config\noverrides:\n  - {image: nginx:1, newImage: nginx:2}\n",
     "overrides[0].newImage: nginx:2 has no digest"),
    ("images: [\n", "is not valid YAML"),
], ids=["missing", "not-a-lock", "bad-digest", "digest-in-image", "conflict", "kbld-without-digest", "yaml"])
def test_a_bad_lock_file_is_one_line_naming_file_and_entry(tmp_path, lock_text, message):
    name = "missing.lock.yaml" if lock_text is None else "bad.lock.yaml"
    if lock_text is not None:
        (tmp_path / name).write_text(lock_text)
    config = write_config(tmp_path, f"rules:\n  - pinDigests:\n      lock: {name}\n")
    result = run_cli(["-c", str(config)], stdin=b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1}]\n")
    assert result.code == 2 and result.out == b""
    lines = result.err.splitlines()
    assert len(lines) == 1 and message in lines[0], result.err
    assert lines[0].startswith(f"postrender: error: {config}:5:7: rules[0].pinDigests.lock: {tmp_path / name}")


def test_kbld_lock_files_are_read():
    from postrender.registry.lockfile import read

    path = Path(__file__).parent / "data" / "kbld.lock.yml"
    lock = read(path)
    assert lock.get(parse("nginx:1.17")) == "sha256:" + "a" * 64
    assert lock.get(parse("index.docker.io/library/redis:7")) == "sha256:" + "b" * 64
    assert lock.get(parse("gcr.io/x/y@sha256:" + "c" * 64)) is None  # already pinned: not a lookup
    assert len(lock) == 2


def test_the_lock_file_is_sorted_stable_and_reads_back(tmp_path, yaml_snapshot):
    from postrender.registry.lockfile import Lock, read, render

    lock = Lock()
    for written, digest in [("quay.io/b/c:2", D2), ("busybox:1.36", D1), ("docker.io/library/busybox:1.36", D1),
                            ("127.0.0.1:5000/x/y", D3)]:
        lock.add(written, digest)
    text = render(lock)
    assert text == yaml_snapshot(name="postrender")
    assert render(lock, "kbld") == yaml_snapshot(name="kbld")
    for fmt in ("postrender", "kbld"):
        path = tmp_path / f"{fmt}.yaml"
        path.write_text(render(lock, fmt))
        again = read(path)
        assert again.digests == lock.digests
        assert render(again) == text


# --- pure pieces of the client ----------------------------------------------------------------

CHALLENGES = [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
     ("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                 "scope": "repository:library/busybox:pull"})),
    ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
    ('Bearer realm="https://ghcr.io/token", service="ghcr.io", scope="repository:a/b:pull,push", error="insufficient_scope"',
     ("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:a/b:pull,push",
                 "error": "insufficient_scope"})),
    ('Bearer realm=https://r.example/t,service=reg', ("bearer", {"realm": "https://r.example/t", "service": "reg"})),
    ('Bearer realm="a\\"b"', ("bearer", {"realm": 'a"b'})),
]


@pytest.mark.parametrize("header,expected", CHALLENGES)
def test_www_authenticate_challenges(header, expected):
    from postrender.registry.auth import parse_challenges

    (challenge,) = parse_challenges([header])
    assert (challenge.scheme, challenge.params) == expected


def test_bearer_is_preferred_over_basic():
    from postrender.registry.auth import parse_challenges, pick

    assert pick(parse_challenges(['Basic realm="x"', 'Bearer realm="y"'])).scheme == "bearer"
    assert pick([]) is None


@pytest.mark.parametrize("value,seconds", [("3", 3.0), ("0", 0.0), (None, None), ("soon", None),
                                           ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0)])
def test_retry_after(value, seconds):
    from postrender.registry.client import retry_after

    now = 1445412480.0  # 07:28:00 that day
    assert retry_after(value, now=now) == seconds


@pytest.mark.parametrize("server,host", [
    ("https://index.docker.io/v1/", "docker.io"), ("index.docker.io", "docker.io"), ("registry-1.docker.io", "docker.io"),
    ("docker.io", "docker.io"), ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"), ("Quay.IO", "quay.io"),
    ("ghcr.io", "ghcr.io"),
])
def test_registry_hosts_are_normalised(server, host):
    from postrender.registry.auth import normalize_host

    assert normalize_host(server) == host


@pytest.mark.parametrize("host,loopback", [("localhost:5000", True), ("127.0.0.1:80", True), ("127.1.2.3", True),
                                           ("[::1]:5000", True), ("registry.local:5000", False), ("10.0.0.1:5000", False),
                                           ("docker.io", False)])
def test_which_hosts_may_use_plain_http(host, loopback):
    from postrender.registry.client import is_loopback

    assert is_loopback(host) is loopback


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_docker_config_credentials_and_their_redaction(tmp_path):
    from postrender.engine.output import redact_known
    from postrender.registry.auth import CredentialStore

    config = {"auths": {
        "https://index.docker.io/v1/": {"auth": _b64("hubuser:hub-secret-111")},
        "quay.io": {"username": "q", "password": "quay-secret-222"},
        "ghcr.io": {"identitytoken": "ghcr-refresh-333"},
        "reg.example:5000": {"registrytoken": "bearer-token-444"},
        "empty.example": {},
    }}
    (tmp_path / "config.json").write_text(json.dumps(config))
    store = CredentialStore(docker_config=tmp_path / "config.json")
    assert (store.get("docker.io").username, store.get("docker.io").password) == ("hubuser", "hub-secret-111")
    assert store.get("registry-1.docker.io") is store.get("docker.io")
    assert store.get("quay.io").password == "quay-secret-222"
    assert store.get("ghcr.io").identity_token == "ghcr-refresh-333"
    assert store.get("reg.example:5000").registry_token == "bearer-token-444"
    assert store.get("empty.example") is None and store.get("elsewhere.io") is None
    for secret in ("hub-secret-111", "quay-secret-222", "ghcr-refresh-333", "bearer-token-444"):
        assert redact_known(f"x {secret} y") == "x <redacted> y"


def test_pull_secret_variables_come_first(tmp_path):
    from postrender.registry.auth import CredentialStore
    from postrender.registry.commands import pull_secret_credentials

    (tmp_path / "config.json").write_text(json.dumps({"auths": {"reg.example": {"auth": _b64("file:from-file-55")}}}))
    config = write_config(tmp_path, textwrap.dedent("""\
        vars:
          creds: {server: "https://reg.example", user: vars-user, pw: from-vars-66}
          dockerconfigjson: '{"auths": {"other.example": {"auth": "%s"}}}'
        rules:
          - pullSecret:
              name: regcred
              credentials: {registry: creds.server, username: creds.user, password: creds.pw}
        """ % _b64("dj:from-dockerconfigjson-77")))
    from postrender.config.loader import load_config

    store = CredentialStore(pull_secret_credentials(load_config(config)), docker_config=tmp_path / "config.json")
    assert (store.get("reg.example").username, store.get("reg.example").password) == ("vars-user", "from-vars-66")
    assert store.get("other.example").password == "from-dockerconfigjson-77"


def test_a_missing_credential_helper_is_a_clear_error(tmp_path):
    from postrender.registry.auth import CredentialStore
    from postrender.registry.errors import RegistryError

    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {"reg.example": "postrender-test-none"}}))
    with pytest.raises(RegistryError, match="credential helper docker-credential-postrender-test-none .* is not on PATH"):
        CredentialStore(docker_config=tmp_path / "config.json").get("reg.example")


@pytest.mark.parametrize("text,platform", [("linux/amd64", ("linux", "amd64", None)),
                                           ("linux/arm/v7", ("linux", "arm", "v7"))])
def test_platforms(text, platform):
    from postrender.registry.media import Platform

    p = Platform.parse(text)
    assert (p.os, p.architecture, p.variant) == platform and str(p) == text
    with pytest.raises(ValueError):
        Platform.parse("linux")


def test_mirror_plan_pairs_each_location_source_and_destination():
    """Source = every rule but registryRewrite (so an images: newTag applies), destination =
    every rule; unmoved images are not planned; two images in one args string stay apart."""
    from postrender.config.loader import load_config_text
    from postrender.registry.mirror import plan
    from postrender.registry.plan import mirror_stages

    config = load_config_text(textwrap.dedent("""\
        apiVersion: postrender/v1alpha1
        kind: PostRenderer
        rules:
          - images: [{name: nginx, newTag: "1.28"}]
          - registryRewrite:
              mirrors: [{from: docker.io, to: mirror.local/hub}]
        """), "t.yaml")
    stream = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
            - name: a
              image: nginx:1.27
              args: ["--a-image=busybox:1 --b-image=alpine:3", "--c-image=quay.io/x/y:1"]
        """).encode()
    copies, errors = plan(mirror_stages(config, stream))
    assert errors == []
    assert [(c.source_text, c.destination_text) for c in copies] == [
        ("docker.io/library/alpine:3", "mirror.local/hub/library/alpine:3"),
        ("docker.io/library/busybox:1", "mirror.local/hub/library/busybox:1"),
        ("docker.io/library/nginx:1.28", "mirror.local/hub/library/nginx:1.28"),
    ]
    assert copies[0].places == ["document 1: Pod/p: spec.containers[0].args[0]"]


def test_a_tag_the_rules_change_only_after_the_rewrite_is_refused():
    from postrender.config.loader import load_config_text
    from postrender.registry.mirror import plan
    from postrender.registry.plan import mirror_stages

    config = load_config_text(textwrap.dedent("""\
        apiVersion: postrender/v1alpha1
        kind: PostRenderer
        rules:
          - registryRewrite:
              mirrors: [{from: docker.io, to: mirror.local/hub}]
          - images: [{name: mirror.local/hub/library/nginx, newTag: "9"}]
        """), "t.yaml")
    stream = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"
    copies, errors = plan(mirror_stages(config, stream))
    assert copies == []
    assert errors == ["mirror.local/hub/library/nginx:9: the rules give it :1.27 without registryRewrite but :9 with it"
                      " (document 1: Pod/p: spec.containers[0].image); not copied: put the images/patch rules that change"
                      " tags before registryRewrite"]


def test_the_run_path_never_loads_the_registry_client(tmp_path):
    """Helm starts postrender per render: neither httpx nor the client may load on run, even with
    pinDigests (which needs only the lock file reader)."""
    lock_file(tmp_path, {"docker.io/library/nginx:1.27": D2})
    for rules in ("rules: []\n", "rules:\n  - pinDigests: {lock: postrender.lock.yaml}\n"):
        config = write_config(tmp_path, rules)
        probe = ("import sys\nfrom postrender import runner\n"
                 f"code = runner.main(['-c', {str(config)!r}, '-i', {str(tmp_path / 'in.yaml')!r}])\n"
                 "loaded = sorted(m for m in sys.modules if m.startswith(('httpx', 'httpcore', 'postrender.registry.client',"
                 " 'postrender.registry.auth', 'typer')))\n"
                 "sys.stderr.write(repr((code, loaded)))\n")
        (tmp_path / "in.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n")
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
        assert proc.stderr.decode().endswith("(0, [])"), proc.stderr.decode()
        if "pinDigests" in rules:
            assert f"nginx:1.27@{D2}" in proc.stdout.decode()


def test_lock_and_mirror_refuse_bad_options(tmp_path):
    config = write_config(tmp_path, "rules: []\n")
    stream = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"
    cases = [
        (["lock", "-c", str(config), "--format", "xml"], "--format 'xml': use postrender or kbld"),
        (["mirror", "-c", str(config), "--format", "json"], "--format json is for --dry-run (the plan); add --dry-run"),
        (["mirror", "-c", str(config), "--platform", "linux"], "--platform 'linux': a platform is os/arch"),
        (["lock", "-c", str(config), "--jobs", "0"], "--jobs 0: use 1 to 64"),
    ]
    for args, message in cases:
        result = run_cli(args, stdin=stream)
        assert result.code == 2 and message in result.err and result.out == b"", (args, result.err)


def test_a_relative_lock_is_found_next_to_the_config_else_in_the_working_directory(tmp_path):
    stream = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n"
    (tmp_path / "conf").mkdir()
    (tmp_path / "work").mkdir()
    config = write_config(tmp_path / "conf", "rules:\n  - pinDigests: {lock: app.lock.yaml}\n")
    lock_file(tmp_path / "work", {"docker.io/library/nginx:1.27": D1}, "app.lock.yaml")
    from_work = run_cli(["-c", str(config)], stdin=stream, cwd=tmp_path / "work")
    assert from_work.code == 0 and f"nginx:1.27@{D1}" in from_work.text, from_work.err
    lock_file(tmp_path / "conf", {"docker.io/library/nginx:1.27": D2}, "app.lock.yaml")
    for cwd in (tmp_path / "work", tmp_path):  # next to the config wins
        result = run_cli(["-c", str(config)], stdin=stream, cwd=cwd)
        assert result.code == 0 and f"nginx:1.27@{D2}" in result.text, result.err
