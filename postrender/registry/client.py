"""HTTP to OCI distribution registries: the few calls ``lock`` and ``mirror`` need.

Built on httpx (one pooled, thread-safe client per TLS policy).  Every request goes through
:meth:`Client.request`, which adds authorization (see :mod:`.auth`), answers a 401 challenge
once, and retries 429 and 5xx answers and dropped connections with exponential backoff,
honouring ``Retry-After`` (seconds or an HTTP date) up to ``Options.max_wait``.

Scheme and TLS, per registry host:

* HTTPS, verified against the system CAs plus ``--ca-file``;
* loopback registries (``localhost``, ``127.0.0.0/8``, ``[::1]``) may be plain HTTP, as docker
  allows: HTTPS is tried first (and verified: a certificate that does not verify is an error,
  not a reason to fall back), then HTTP when the host does not speak TLS at all;
* ``--insecure-registry HOST`` allows plain HTTP *and* unverified TLS for that host, which is
  what docker's ``insecure-registries`` means.

Redirects are followed only for blob downloads (registries send those to object storage);
httpx drops the Authorization header when a redirect leaves the registry's origin.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from postrender.registry.auth import Challenge, CredentialStore, api_host, normalize_host, parse_challenges, pick
from postrender.registry.errors import RegistryError
from postrender.registry.media import ACCEPT, Descriptor, Manifest, hasher_for, valid_digest
from postrender.engine.output import register_secrets

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# distribution refuses manifests over 4 MiB; anything bigger is not a manifest.
MAX_MANIFEST_BYTES = 4 << 20
CHUNK = 1 << 16


@dataclass(frozen=True)
class Options:
    ca_file: str | None = None
    insecure: frozenset = frozenset()   # hosts (normalised) allowed plain HTTP and unverified TLS
    timeout: float = 30.0               # seconds per connect/read
    attempts: int = 5                   # tries per request on 429/5xx/connection errors
    max_wait: float = 60.0              # longest single wait; a longer Retry-After fails at once
    backoff: float = 0.5                # first backoff step (doubles, with jitter)
    jobs: int = 8


@dataclass(frozen=True)
class Repo:
    """A repository on a registry: ``host`` normalised (``docker.io``), ``path`` normalised
    (``library/busybox``)."""

    host: str
    path: str

    @classmethod
    def of(cls, ref) -> "Repo":
        return cls(normalize_host(ref.registry), ref.normalized_path)

    def __str__(self) -> str:
        return f"{self.host}/{self.path}"


@dataclass(frozen=True)
class Scope:
    """The token scopes a request needs: ``((path, "pull"), (path2, "pull,push"))``."""

    entries: tuple

    @classmethod
    def pull(cls, repo: Repo) -> "Scope":
        return cls(((repo.path, "pull"),))

    @classmethod
    def push(cls, repo: Repo, mount_from: Repo | None = None) -> "Scope":
        entries = [(repo.path, "pull,push")]
        if mount_from is not None and mount_from.host == repo.host and mount_from.path != repo.path:
            entries.append((mount_from.path, "pull"))
        return cls(tuple(entries))

    def strings(self) -> list[str]:
        return [f"repository:{path}:{actions}" for path, actions in self.entries]


@dataclass
class _Token:
    header: str
    expires: float


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _cause_chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    for e in _cause_chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
    return None


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    for e in _cause_chain(exc):
        if isinstance(e, ssl.SSLError):
            return e
    return None


def _registry_error_text(resp) -> str:
    """distribution's error body: ``{"errors": [{"code", "message", "detail"}]}``."""
    try:
        errors = resp.json().get("errors")
    except Exception:  # not JSON (a proxy's HTML page): the status says enough
        return ""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    first = errors[0]
    code, message = first.get("code"), first.get("message")
    return " ".join(str(p) for p in (code, f"({message})" if message else None) if p)


class Client:
    """One registry client for a whole command; safe to share between threads."""

    def __init__(self, options: Options, credentials: CredentialStore, sleep=time.sleep):
        import httpx

        self._httpx = httpx
        self.options = options
        self.credentials = credentials
        self._sleep = sleep
        context = ssl.create_default_context()
        if options.ca_file:
            try:
                context.load_verify_locations(cafile=options.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise RegistryError(f"--ca-file {options.ca_file}: cannot load CA certificates: {exc}") from None
        connections = max(16, options.jobs * 4)
        common = dict(
            timeout=httpx.Timeout(options.timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"User-Agent": _user_agent()},
            follow_redirects=False,
            trust_env=False,  # no netrc credentials sent to registries behind our back
        )
        self._verified = httpx.Client(verify=context, **common)
        self._unverified = httpx.Client(verify=False, **common) if options.insecure else None
        self._bases: dict[str, str] = {}
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple, _Token] = {}
        self._lock = threading.Lock()
        self._token_locks: dict[tuple, threading.Lock] = defaultdict(threading.Lock)
        self._base_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def close(self) -> None:
        self._verified.close()
        if self._unverified is not None:
            self._unverified.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- transport policy ------------------------------------------------------------------

    def _plain_allowed(self, host: str) -> bool:
        return is_loopback(host) or host in self.options.insecure

    def _http_for(self, host: str):
        if host in self.options.insecure and self._unverified is not None:
            return self._unverified
        return self._verified

    def base_url(self, host: str) -> str:
        """``https://host`` or, for loopback and --insecure-registry hosts that do not speak
        TLS, ``http://host`` (probed once per host with ``GET /v2/``)."""
        with self._lock:
            if host in self._bases:
                return self._bases[host]
        with self._base_locks[host]:
            with self._lock:
                if host in self._bases:
                    return self._bases[host]
            name = api_host(host)
            base = f"https://{name}"
            if self._plain_allowed(host):
                try:
                    self._http_for(host).get(f"{base}/v2/", timeout=10).close()
                except self._httpx.TransportError as exc:
                    if _cert_error(exc) is not None:
                        raise RegistryError(self._transport_text(host, exc)) from None
                    try:
                        self._verified.get(f"http://{name}/v2/", timeout=10).close()
                    except self._httpx.TransportError:
                        raise RegistryError(self._transport_text(host, exc)) from None
                    base = f"http://{name}"
            with self._lock:
                self._bases[host] = base
            return base

    def _transport_text(self, host: str, exc: BaseException) -> str:
        cert = _cert_error(exc)
        if cert is not None:
            return (f"{host}: TLS certificate not trusted ({cert.verify_message or cert.reason}): pass --ca-file"
                    f" with the CA that signed it (or --insecure-registry {host} to skip verification)")
        tls = _tls_error(exc)
        if tls is not None and not self._plain_allowed(host):
            return (f"{host}: TLS handshake failed ({tls.reason or tls}); if the registry speaks plain HTTP,"
                    f" pass --insecure-registry {host}")
        kind = type(exc).__name__
        detail = str(exc) or kind
        return f"{host}: cannot connect ({detail})"

    # --- requests --------------------------------------------------------------------------

    def request(self, method: str, host: str, path: str, scope: Scope, *, headers=None, content=None,
                params=None, stream: bool = False, follow: bool = False, url: str | None = None):
        """One API request with auth, challenge handling and retries; returns the response
        (the caller checks the status).  A streamed body (an iterator) is sent once: it cannot
        be replayed, so the caller retries the whole operation instead."""
        httpx = self._httpx
        replayable = content is None or isinstance(content, (bytes, bytearray))
        target = url or (self.base_url(host) + path)
        client = self._http_for(host)
        attempt, rounds = 0, 0
        while True:
            sent_headers = dict(headers or {})
            authorization = self._authorization(host, scope)
            if authorization:
                sent_headers["Authorization"] = authorization
            request = client.build_request(method, target, headers=sent_headers, content=content, params=params)
            try:
                resp = client.send(request, stream=stream, follow_redirects=follow)
            except httpx.TransportError as exc:
                if replayable and attempt + 1 < self.options.attempts and _cert_error(exc) is None:
                    attempt += 1
                    self._sleep(self._backoff(attempt))
                    continue
                raise RegistryError(self._transport_text(host, exc)) from None
            if resp.status_code == 401 and rounds < 2 and replayable:
                challenge = pick(parse_challenges(resp.headers.get_list("www-authenticate")))
                resp.close()
                self._challenged(host, challenge, scope, authorization, rounds)
                rounds += 1
                continue
            if resp.status_code in RETRY_STATUS and replayable:
                wait = retry_after(resp.headers.get("retry-after"))
                if attempt + 1 < self.options.attempts and (wait is None or wait <= self.options.max_wait):
                    resp.close()
                    attempt += 1
                    self._sleep(self._backoff(attempt) if wait is None else wait)
                    continue
            return resp

    def _backoff(self, attempt: int) -> float:
        step = self.options.backoff * (2 ** (attempt - 1))
        return min(self.options.max_wait, step * (0.75 + random.random() / 2))

    def _authorization(self, host: str, scope: Scope) -> str | None:
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            cred = self.credentials.get(host)
            return cred.basic() if cred else None
        key = (host, scope.entries)
        with self._token_locks[key]:
            with self._lock:
                token = self._tokens.get(key)
            if token is None or token.expires <= time.monotonic():
                token = self._fetch_token(host, challenge, scope)
                with self._lock:
                    self._tokens[key] = token
            return token.header

    def _challenged(self, host: str, challenge: Challenge | None, scope: Scope, sent: str | None, rounds: int) -> None:
        if challenge is None:
            raise RegistryError(f"{host}: HTTP 401 without a WWW-Authenticate challenge")
        if challenge.scheme not in ("basic", "bearer"):
            raise RegistryError(f"{host}: unsupported authentication scheme {challenge.scheme!r}")
        cred = self.credentials.get(host)
        if challenge.scheme == "basic" and (cred is None or cred.basic() is None):
            raise RegistryError(
                f"{host} asks for a user name and password and none are configured: docker login {host}"
                " (or a credential helper in the Docker config), or the pull-secret variables of the config")
        if sent is not None and rounds > 0:
            origin = f" from {cred.origin}" if cred is not None else " (anonymous)"
            error = challenge.params.get("error")
            raise RegistryError(
                f"{host}: access refused with the credentials{origin} for {' '.join(scope.strings())}"
                f"{f' ({error})' if error else ''} (HTTP 401)")
        with self._lock:
            self._challenges[host] = challenge
            self._tokens.pop((host, scope.entries), None)

    def _fetch_token(self, host: str, challenge: Challenge, scope: Scope) -> _Token:
        httpx = self._httpx
        realm = challenge.realm
        if not realm:
            raise RegistryError(f"{host}: Bearer challenge without a realm")
        cred = self.credentials.get(host)
        if cred is not None and cred.registry_token:
            return _Token("Bearer " + cred.registry_token, float("inf"))
        try:
            realm_url = httpx.URL(realm)
            realm_host = normalize_host(realm_url.netloc.decode("ascii"))
        except Exception:
            raise RegistryError(f"{host}: the token realm {realm!r} is not a URL") from None
        if realm_url.scheme not in ("https", "http"):
            raise RegistryError(f"{host}: the token realm {realm!r} is not an http(s) URL")
        # Credentials go to a realm over TLS, or over plain HTTP only where plain HTTP is allowed.
        may_send = realm_url.scheme == "https" or self._plain_allowed(realm_host)
        client = self._http_for(realm_host)
        service = challenge.params.get("service")
        scopes = scope.strings()
        headers = {}
        if cred is not None and may_send and cred.identity_token:
            data = {"grant_type": "refresh_token", "refresh_token": cred.identity_token, "client_id": "postrender",
                    "scope": " ".join(scopes)}
            if service:
                data["service"] = service
            build = lambda: client.build_request("POST", realm, data=data)  # noqa: E731
        else:
            params = [("scope", s) for s in scopes]
            if service:
                params.insert(0, ("service", service))
            basic = cred.basic() if (cred is not None and may_send) else None
            if basic:
                headers["Authorization"] = basic
                params.append(("account", cred.username or ""))
            build = lambda: client.build_request("GET", realm, params=params, headers=headers)  # noqa: E731
        attempt = 0
        while True:
            try:
                resp = client.send(build())
            except httpx.TransportError as exc:
                if attempt + 1 < self.options.attempts and _cert_error(exc) is None:
                    attempt += 1
                    self._sleep(self._backoff(attempt))
                    continue
                raise RegistryError(f"token service of {host}: {self._transport_text(realm_host, exc)}") from None
            if resp.status_code in RETRY_STATUS and attempt + 1 < self.options.attempts:
                wait = retry_after(resp.headers.get("retry-after"))
                if wait is None or wait <= self.options.max_wait:
                    attempt += 1
                    self._sleep(self._backoff(attempt) if wait is None else wait)
                    continue
            break
        if resp.status_code in (401, 403):
            who = f"the credentials from {cred.origin}" if cred is not None else "an anonymous request"
            raise RegistryError(f"{host}: the token service {realm_host} refused {who} (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise RegistryError(f"{host}: the token service {realm_host} answered HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise RegistryError(f"{host}: the token service {realm_host} did not answer JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{host}: the token service {realm_host} answered without a token")
        register_secrets([token])
        try:
            lifetime = max(10.0, float(body.get("expires_in") or 60))
        except (TypeError, ValueError):
            lifetime = 60.0
        # Renew a little early: a token that expires in flight costs a 401 round trip.
        return _Token("Bearer " + token, time.monotonic() + lifetime * 0.9)

    # --- errors ----------------------------------------------------------------------------

    def explain(self, exc: Exception) -> RegistryError | None:
        """A RegistryError for a failure inside one image's work that did not come through
        :meth:`request` (a body that stopped mid-stream, a manifest that is not what it says),
        or None for a programming error, which must surface as one."""
        if isinstance(exc, RegistryError):
            return exc
        if isinstance(exc, self._httpx.HTTPError):
            return RegistryError(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, (ValueError, OSError)):
            return RegistryError(str(exc) or type(exc).__name__)
        return None

    def fail(self, resp, what: str) -> RegistryError:
        """A RegistryError for an unexpected answer to ``what`` (closes the response)."""
        if getattr(resp, "is_stream_consumed", True) is False:
            try:
                resp.read()
            except Exception:
                pass
        detail = _registry_error_text(resp)
        status = resp.status_code
        resp.close()
        text = f"{what}: HTTP {status}{' ' + detail if detail else ''}"
        if status == 429:
            wait = resp.headers.get("retry-after")
            text += (f" (rate limited{'; Retry-After ' + wait if wait else ''}: Docker Hub allows 100 anonymous"
                     " pulls per 6 hours; log in, or mirror the image once and pull from the mirror)")
        elif status in (401, 403):
            text += " (access denied: check the credentials for this registry)"
        return RegistryError(text)

    # --- manifests -------------------------------------------------------------------------

    def head_manifest(self, repo: Repo, reference: str) -> tuple[str, str] | None:
        """(digest, media type) of ``repo:reference``, or None when the registry has none."""
        resp = self.request("HEAD", repo.host, f"/v2/{repo.path}/manifests/{reference}", Scope.pull(repo),
                            headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            resp.close()
            return None
        if resp.status_code != 200:
            raise self.fail(resp, f"HEAD manifest {repo}:{reference}" if ":" not in reference else f"HEAD manifest {repo}@{reference}")
        digest = resp.headers.get("docker-content-digest")
        media_type = (resp.headers.get("content-type") or "").split(";")[0].strip()
        resp.close()
        if digest and valid_digest(digest):
            return digest, media_type
        manifest = self.get_manifest(repo, reference)  # no header: hash the bytes ourselves
        return manifest.digest, manifest.media_type

    def get_manifest(self, repo: Repo, reference: str) -> Manifest:
        """The manifest's exact bytes; its digest checked against Docker-Content-Digest and,
        when ``reference`` is a digest, against that."""
        what = f"manifest {repo}@{reference}" if ":" in reference else f"manifest {repo}:{reference}"
        resp = self.request("GET", repo.host, f"/v2/{repo.path}/manifests/{reference}", Scope.pull(repo),
                            headers={"Accept": ACCEPT}, stream=True)
        if resp.status_code == 404:
            raise self.fail(resp, f"{what} not found")
        if resp.status_code != 200:
            raise self.fail(resp, f"GET {what}")
        data = bytearray()
        for chunk in resp.iter_bytes():
            data.extend(chunk)
            if len(data) > MAX_MANIFEST_BYTES:
                resp.close()
                raise RegistryError(f"GET {what}: over {MAX_MANIFEST_BYTES >> 20} MiB, not a manifest")
        resp.close()
        claimed = resp.headers.get("docker-content-digest")
        expected = reference if ":" in reference else (claimed if claimed and valid_digest(claimed) else None)
        algorithm = expected.partition(":")[0] if expected else "sha256"
        try:
            manifest = Manifest.of(bytes(data), resp.headers.get("content-type"), algorithm)
        except ValueError as exc:
            raise RegistryError(f"GET {what}: {exc}") from None
        if expected and manifest.digest != expected:
            raise RegistryError(f"GET {what}: the bytes hash to {manifest.digest}, not {expected} (corrupt or"
                                " tampered in transit); nothing was written")
        if claimed and valid_digest(claimed) and claimed.partition(":")[0] == algorithm and claimed != manifest.digest:
            raise RegistryError(f"GET {what}: the registry says {claimed}, the bytes hash to {manifest.digest}")
        return manifest

    def put_manifest(self, repo: Repo, reference: str, manifest: Manifest) -> None:
        what = f"PUT manifest {repo}:{reference}" if ":" not in reference else f"PUT manifest {repo}@{reference}"
        resp = self.request("PUT", repo.host, f"/v2/{repo.path}/manifests/{reference}", Scope.push(repo),
                            headers={"Content-Type": manifest.media_type}, content=manifest.data)
        if resp.status_code not in (200, 201):
            raise self.fail(resp, what)
        stored = resp.headers.get("docker-content-digest")
        resp.close()
        if stored and stored != manifest.digest:
            raise RegistryError(f"{what}: the registry stored {stored}, expected {manifest.digest}")

    # --- blobs -----------------------------------------------------------------------------

    def blob_exists(self, repo: Repo, digest: str) -> bool:
        resp = self.request("HEAD", repo.host, f"/v2/{repo.path}/blobs/{digest}", Scope.pull(repo), follow=True)
        resp.close()
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise self.fail(resp, f"HEAD blob {repo}@{digest}")

    def copy_blob(self, source: Repo, target: Repo, blob: Descriptor) -> tuple[str, int]:
        """Copy one blob; returns ("present" | "mounted" | "uploaded", bytes sent).

        Same registry: a cross-repository mount (``POST ...?mount=DIGEST&from=REPO``), no data
        moved.  Otherwise (or when the registry declines the mount and opens an upload instead)
        the blob is streamed from source to target without being held in memory, hashed on the
        way, and the upload is committed with ``?digest=`` so the registry verifies it too.
        """
        if self.blob_exists(target, blob.digest):
            return "present", 0
        scope = Scope.push(target, source)
        uploads = f"/v2/{target.path}/blobs/uploads/"
        params = {"mount": blob.digest, "from": source.path} if source.host == target.host and source.path != target.path else None
        resp = self.request("POST", target.host, uploads, scope, params=params, content=b"")
        if resp.status_code == 201 and params:
            resp.close()
            return "mounted", 0
        if resp.status_code != 202:
            raise self.fail(resp, f"POST blob upload {target}")
        location = resp.headers.get("location")
        resp.close()
        if not location:
            raise RegistryError(f"POST blob upload {target}: no Location for the upload")
        upload_url = self._httpx.URL(self.base_url(target.host)).join(location)
        return "uploaded", self._stream_blob(source, target, blob, upload_url, scope)

    def _stream_blob(self, source: Repo, target: Repo, blob: Descriptor, upload_url, scope: Scope) -> int:
        what = f"blob {blob.digest}"
        src = self.request("GET", source.host, f"/v2/{source.path}/blobs/{blob.digest}", Scope.pull(source),
                           stream=True, follow=True)
        if src.status_code != 200:
            raise self.fail(src, f"GET {what} from {source}")
        hasher = hasher_for(blob.digest)
        sent = 0

        def body():
            nonlocal sent
            for chunk in src.iter_bytes(CHUNK):
                hasher.update(chunk)
                sent += len(chunk)
                yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        if blob.size >= 0:
            headers["Content-Length"] = str(blob.size)
        try:
            put = self.request("PUT", target.host, "", scope, url=str(upload_url.copy_merge_params({"digest": blob.digest})),
                               headers=headers, content=body())
        finally:
            src.close()
        actual = f"{blob.digest.partition(':')[0]}:{hasher.hexdigest()}"
        if actual != blob.digest or (blob.size >= 0 and sent != blob.size):
            put.close()
            raise RegistryError(f"{what} from {source}: received {sent} bytes hashing to {actual}, expected"
                                f" {blob.size} bytes {blob.digest}; not committed")
        if put.status_code not in (201, 204):
            raise self.fail(put, f"PUT {what} to {target}")
        put.close()
        return sent


def _user_agent() -> str:
    from postrender import __version__

    return f"postrender/{__version__}"
