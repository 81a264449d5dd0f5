"""Real registries for the lock/mirror tests: Debian's docker-registry (CNCF distribution 2.8)
started on 127.0.0.1 with free ports, images pushed with Debian's skopeo from OCI layouts built
here, a throwaway CA made with openssl, htpasswd (bcrypt) and token auth.

What is real and what is ours:

* the registries are ``docker-registry serve`` processes with their own storage, TLS, htpasswd
  and token verification (distribution's ``auth: token`` checks issuer, audience, expiry, the
  x5c chain against ``rootcertbundle``, the RS256 signature and the granted actions);
* the token *issuer* is :class:`TokenServer` below, written for the tests: no token service is
  packaged for Debian, PyPI or npm here.  It implements distribution's token spec
  (``GET realm?service=&scope=&account=`` with optional Basic auth, a JWT signed by openssl), so
  the client's side of the bearer flow (challenge parsing, scopes, Basic to the realm, reuse,
  multi-scope tokens for mounts) meets a real verifier, while the issuer's policy is ours;
* :class:`FaultProxy` sits in front of a real registry and answers 429/503 with Retry-After to
  the first requests, to test retries (no registry can be asked to rate-limit).

Every server started here is stopped by the fixture that started it; every wait is bounded.
Under CI=true a missing docker-registry/skopeo fails the test (``.ci/run`` installs them).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest_tools import in_ci

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

START_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120


def require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (apt-get install docker-registry skopeo; .ci/run does)"
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the registry tests are required)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", COMMAND_TIMEOUT)
    proc = subprocess.run([str(a) for a in args], capture_output=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))}: exit {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return proc


# --- a throwaway CA ----------------------------------------------------------------------------

@dataclass
class CA:
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path) -> "CA":
        directory.mkdir(parents=True, exist_ok=True)
        key, cert = directory / "ca.key", directory / "ca.crt"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "2", "-subj", "/CN=postrender test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return cls(cert, key)

    def issue(self, directory: Path, name: str, sans: str = "IP:127.0.0.1,DNS:localhost") -> tuple[Path, Path]:
        key, csr, cert, ext = (directory / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
        ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext])
        return cert, key


# --- the token issuer --------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """distribution's token spec, issuer side (see the module docstring for what it covers)."""

    SERVICE = "postrender-test-registry"
    ISSUER = "postrender-test-issuer"

    def __init__(self, directory: Path, users: dict[str, str]):
        directory.mkdir(parents=True, exist_ok=True)
        self.key, self.cert = directory / "token.key", directory / "token.crt"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", self.cert,
             "-days", "2", "-subj", "/CN=postrender test token signer"])
        der = run(["openssl", "x509", "-in", self.cert, "-outform", "DER"]).stdout
        self.x5c = base64.b64encode(der).decode("ascii")
        self.users = users
        self.requests: list[dict] = []  # what was asked for: account, scopes, authenticated
        self.port = free_port()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode()).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def handle(self, request) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        user = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(name) != password:
                self.requests.append({"account": name, "scopes": query.get("scope", []), "refused": True})
                request.send_response(401)
                request.end_headers()
                return
            user = name
        scopes = query.get("scope", [])
        self.requests.append({"account": user, "scopes": scopes, "service": query.get("service", [None])[0]})
        access = []
        for scope in scopes:
            kind, name_and_actions = scope.split(":", 1)
            name, _, actions = name_and_actions.rpartition(":")
            wanted = actions.split(",")
            # Policy: anonymous may pull, a known user may pull and push.
            granted = [a for a in wanted if a == "pull" or (a == "push" and user is not None)]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        token = self.sign({"iss": self.ISSUER, "sub": user or "", "aud": self.SERVICE, "exp": now + 300,
                           "nbf": now - 10, "iat": now, "jti": hashlib.sha256(os.urandom(16)).hexdigest(),
                           "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# --- docker-registry -----------------------------------------------------------------------------

@dataclass
class Registry:
    directory: Path
    port: int
    tls: tuple[Path, Path] | None = None
    htpasswd: Path | None = None
    token: TokenServer | None = None
    process: subprocess.Popen | None = None
    users: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "registry.log"

    def config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  formatter: text",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.directory / 'data'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: postrender-test-secret",
        ]
        if self.tls:
            lines += ["  tls:", f"    certificate: {self.tls[0]}", f"    key: {self.tls[1]}"]
        if self.htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: postrender-test", f"    path: {self.htpasswd}"]
        elif self.token:
            lines += ["auth:", "  token:", f"    realm: {self.token.realm}", f"    service: {TokenServer.SERVICE}",
                      f"    issuer: {TokenServer.ISSUER}", f"    rootcertbundle: {self.token.cert}"]
        return "\n".join(lines) + "\n"

    def start(self) -> "Registry":
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yml"
        config.write_text(self.config())
        log = open(self.log, "wb")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"docker-registry exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"docker-registry did not listen on {self.host} within {START_TIMEOUT} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def requests(self, method: str | None = None) -> list[str]:
        """The access-log request lines so far (``"PUT /v2/... HTTP/1.1" 201``)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            start = line.find('"')
            if start < 0 or " /v2/" not in line:
                continue
            request = line[start + 1:line.find('"', start + 1)]
            if method is None or request.startswith(method + " "):
                out.append(request)
        return out

    def skopeo_flags(self, prefix: str) -> list[str]:
        flags = [f"--{prefix}tls-verify=false"]
        if self.users:
            user, password = next(iter(self.users.items()))
            flags.append(f"--{prefix}creds={user}:{password}")
        return flags


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    import bcrypt

    path.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                            for u, p in users.items()))
    return path


# --- OCI layouts ---------------------------------------------------------------------------------

def _tar_gz(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(gzip bytes, uncompressed tar bytes) of a small deterministic layer."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


class Layout:
    """An OCI image layout on disk, built blob by blob."""

    def __init__(self, directory: Path):
        self.directory = directory
        (directory / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.refs: list[dict] = []

    def blob(self, data: bytes, media_type: str, **extra) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (self.directory / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}

    def image(self, content: str, os_: str = "linux", arch: str = "amd64", variant: str | None = None,
              docker: bool = False, layers: int = 1) -> dict:
        """An image manifest whose layers hold ``content``; returns its descriptor."""
        layer_descs, diff_ids = [], []
        for n in range(layers):
            gz, tar_bytes = _tar_gz({f"etc/postrender-{n}.txt": f"{content} layer {n}\n".encode()})
            layer_descs.append(self.blob(gz, DOCKER_LAYER if docker else OCI_LAYER))
            diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        platform = {"architecture": arch, "os": os_, **({"variant": variant} if variant else {})}
        config = json.dumps({**platform, "config": {"Cmd": ["/bin/true"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
        manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                    "config": self.blob(config, DOCKER_CONFIG if docker else OCI_CONFIG), "layers": layer_descs}
        return self.blob(json.dumps(manifest, indent=2).encode(), manifest["mediaType"], platform=platform)

    def index(self, images: list[dict], docker: bool = False) -> dict:
        media_type = DOCKER_LIST if docker else OCI_INDEX
        body = {"schemaVersion": 2, "mediaType": media_type, "manifests": images}
        return self.blob(json.dumps(body, indent=2).encode(), media_type)

    def tag(self, descriptor: dict, tag: str) -> None:
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.refs = [r for r in self.refs if r["annotations"]["org.opencontainers.image.ref.name"] != tag] + [entry]
        (self.directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.refs}, indent=2))


    def as_dir(self, descriptor: dict, directory: Path) -> Path:
        """The image as containers/image's ``dir:`` transport (``manifest.json``, instances as
        ``HEX.manifest.json``, blobs by hex): skopeo's OCI layout reader takes only OCI types at
        the top, so Docker-typed images are pushed from here, bytes unchanged."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "version").write_text("Directory Transport Version: 1.1\n")
        blobs = self.directory / "blobs" / "sha256"

        def copy_manifest(desc: dict, name: str) -> None:
            data = (blobs / desc["digest"].split(":")[1]).read_bytes()
            (directory / name).write_bytes(data)
            body = json.loads(data)
            for child in body.get("manifests") or []:
                copy_manifest(child, f"{child['digest'].split(':')[1]}.manifest.json")
            for blob in [body["config"], *body["layers"]] if "config" in body else []:
                hex_ = blob["digest"].split(":")[1]
                shutil.copyfile(blobs / hex_, directory / hex_)

        copy_manifest(descriptor, "manifest.json")
        return directory


def push(layout: Layout, tag: str, registry: Registry, repo: str, repo_tag: str | None = None) -> None:
    descriptor = next(r for r in layout.refs if r["annotations"]["org.opencontainers.image.ref.name"] == tag)
    if descriptor["mediaType"] in (DOCKER_LIST, DOCKER_MANIFEST):
        source = f"dir:{layout.as_dir(descriptor, layout.directory.parent / f'dir-{tag}')}"
    else:
        source = f"oci:{layout.directory}:{tag}"
    run(["skopeo", "copy", "--all", "--preserve-digests", *registry.skopeo_flags("dest-"),
         source, f"docker://{registry.host}/{repo}:{repo_tag or tag}"])


def skopeo_digest(registry: Registry, image: str) -> str:
    """The digest skopeo reports for ``image`` (the manifest the tag points at: an index for a
    multi-platform image), checked against the sha256 of the raw manifest skopeo fetched."""
    flags = registry.skopeo_flags("")
    raw = run(["skopeo", "inspect", "--raw", *flags, f"docker://{registry.host}/{image}"]).stdout
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    body = json.loads(raw)
    if "manifests" not in body:  # skopeo inspect's Digest is the image manifest's own digest
        shown = run(["skopeo", "inspect", "--no-tags", "--format", "{{.Digest}}", *flags,
                     f"docker://{registry.host}/{image}"]).stdout.decode().strip()
        assert shown == digest, (shown, digest)
    return digest


def skopeo_manifest(registry: Registry, image: str) -> dict:
    return json.loads(run(["skopeo", "inspect", "--raw", *registry.skopeo_flags(""), f"docker://{registry.host}/{image}"]).stdout)


# --- a fault-injecting proxy in front of a real registry -----------------------------------------

class FaultProxy:
    """Forwards to ``upstream`` (plain HTTP); the first ``faults`` requests whose path contains
    ``match`` get ``status`` with ``Retry-After`` instead.  Records when each request came."""

    def __init__(self, upstream: Registry, faults: int, status: int = 429, retry_after: str | None = "1",
                 match: str = "/manifests/"):
        self.upstream, self.faults, self.status, self.retry_after, self.match = upstream, faults, status, retry_after, match
        self.log: list[tuple[float, str, int]] = []
        self.port = free_port()
        proxy = self
        import http.client

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy_lock:
                    inject = proxy.match in self.path and proxy.faults > 0
                    if inject:
                        proxy.faults -= 1
                if inject:
                    proxy.log.append((time.monotonic(), f"{self.command} {self.path}", proxy.status))
                    self.send_response(proxy.status)
                    if proxy.retry_after is not None:
                        self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                proxy.log.append((time.monotonic(), f"{self.command} {self.path}", resp.status))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = forward

        proxy_lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
