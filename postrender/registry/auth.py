"""Registry credentials and the ``WWW-Authenticate`` flow.

Where credentials come from, first match wins (per registry host, Docker Hub's aliases
``index.docker.io``/``registry-1.docker.io``/``https://index.docker.io/v1/`` all meaning
``docker.io``):

1. the config's pull-secret variables (what the ``pullSecret`` rule would put in the cluster:
   ``registry`` + ``username``/``password`` or ``auth``, or a whole ``dockerconfigjson``);
2. the Docker config, ``$DOCKER_CONFIG/config.json`` (else ``~/.docker/config.json``), read the
   way the docker CLI reads it: ``credHelpers[host]``, else ``credsStore``, run as
   ``docker-credential-NAME get`` with the server address on stdin; else ``auths[host]``
   (``auth`` = base64 ``user:password``, or ``username``/``password``, ``identitytoken``,
   ``registrytoken``).  skopeo/podman logins (containers-auth.json, same shape) are read too:
   ``$REGISTRY_AUTH_FILE`` before the Docker config, ``$XDG_RUNTIME_DIR/containers/auth.json``
   (else ``/run/containers/UID/auth.json``) and ``~/.config/containers/auth.json`` after it;
3. nothing: anonymous (Docker Hub and most public registries hand out anonymous pull tokens).

The registry says how to authenticate in its 401 (distribution's ``auth/token`` spec):
``Basic realm=...`` (htpasswd) gets the credentials on every request; ``Bearer realm=...,
service=...,scope=...`` sends the client to the realm for a token for exactly the scopes it
needs (``repository:NAME:pull``; ``pull,push`` on a mirror, plus ``pull`` on the source of a
cross-repository mount), with the credentials as Basic auth, or as an OAuth2 refresh token when
the Docker config holds an identity token.  Every password, token and ``auth`` string is
registered with :func:`postrender.engine.output.register_secrets` the moment it is read, so no
message or log can show it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from postrender.engine.output import register_secrets
from postrender.registry.errors import RegistryError

DOCKER_HUB = "docker.io"
# What docker and the credential helpers call Docker Hub (registry/config.go IndexServer).
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
HELPER_TIMEOUT = 30.0


def normalize_host(server: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://reg:5000/x`` -> ``reg:5000``."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", server.strip(), flags=re.I)
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def api_host(host: str) -> str:
    """The host that serves the /v2/ API (Docker Hub's is not docker.io)."""
    return "registry-1.docker.io" if host == DOCKER_HUB else host


def server_address(host: str) -> str:
    """The server address docker passes to credential helpers for ``host``."""
    return DOCKER_HUB_SERVER if host == DOCKER_HUB else host


@dataclass(frozen=True)
class Credential:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None  # OAuth2 refresh token (docker login with an IdP)
    registry_token: str | None = None  # a bearer token sent as is
    origin: str = ""                   # for messages: where it came from (never the values)

    def basic(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode("utf-8")
        value = base64.b64encode(raw).decode("ascii")
        register_secrets([value])
        return "Basic " + value


def _secret(*values) -> None:
    register_secrets([v for v in values if isinstance(v, str)])


def _decode_auth(auth: str, where: str) -> tuple[str, str]:
    try:
        user, sep, password = base64.b64decode(auth, validate=False).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{where}: 'auth' is not base64 of user:password") from None
    if not sep:
        raise RegistryError(f"{where}: 'auth' is not base64 of user:password")
    _secret(password)
    return user, password


def entry_credential(entry: dict, where: str) -> Credential | None:
    """One ``auths`` entry of a Docker config file (or of a dockerconfigjson)."""
    if not isinstance(entry, dict):
        return None
    _secret(entry.get("auth"), entry.get("password"), entry.get("identitytoken"), entry.get("registrytoken"))
    if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
        return Credential(username=entry.get("username"), identity_token=entry["identitytoken"], origin=where)
    if isinstance(entry.get("registrytoken"), str) and entry["registrytoken"]:
        return Credential(registry_token=entry["registrytoken"], origin=where)
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        user, password = _decode_auth(entry["auth"], where)
        return Credential(user, password, origin=where)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credential(entry["username"], entry["password"], origin=where)
    return None


def auths_of(config: dict, where: str) -> dict[str, Credential]:
    out: dict[str, Credential] = {}
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return out
    for server, entry in auths.items():
        cred = entry_credential(entry, f"{where} auths[{server!r}]")
        if cred is not None:
            out.setdefault(normalize_host(server), cred)
    return out


def from_variables(values: dict) -> dict[str, Credential]:
    """Credentials of the config's pull-secret variables (the pullSecret rule's five names)."""
    out: dict[str, Credential] = {}
    where = "pull-secret variables"
    document = values.get("dockerconfigjson")
    if isinstance(document, str) and document.strip():
        _secret(document)
        try:
            parsed = json.loads(document)
        except ValueError:
            raise RegistryError(f"{where}: dockerconfigjson is not JSON") from None
        out.update(auths_of(parsed, f"{where} dockerconfigjson"))
    registry = values.get("registry")
    if isinstance(registry, str) and registry.strip():
        cred = entry_credential({k: values.get(k) for k in ("username", "password", "auth")}, where)
        if cred is not None:
            out.setdefault(normalize_host(registry), cred)
    return out


class CredentialStore:
    """Credentials per registry host, looked up once (helpers are processes) and cached."""

    def __init__(self, explicit: dict[str, Credential] | None = None, docker_config: Path | None = None,
                 environ=None):
        self.explicit = dict(explicit or {})
        env = os.environ if environ is None else environ
        if docker_config is None:
            base = env.get("DOCKER_CONFIG")
            docker_config = Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"
        self.docker_config_path = docker_config
        # skopeo/podman logins (containers-auth.json(5)): an explicit $REGISTRY_AUTH_FILE is read
        # before the Docker config, the default locations after it.
        self.auth_files: list[Path] = []
        if env.get("REGISTRY_AUTH_FILE"):
            self.auth_files.append(Path(env["REGISTRY_AUTH_FILE"]))
        self.auth_files.append(docker_config)
        if env.get("XDG_RUNTIME_DIR"):
            self.auth_files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        elif hasattr(os, "getuid"):
            self.auth_files.append(Path(f"/run/containers/{os.getuid()}/auth.json"))
        home = env.get("HOME")
        self.auth_files.append((Path(home) if home else Path.home()) / ".config" / "containers" / "auth.json")
        self._configs: dict[Path, dict] = {}
        self._cache: dict[str, Credential | None] = {}
        self._lock = threading.Lock()

    def _read(self, path: Path) -> dict:
        if path not in self._configs:
            try:
                text = path.read_text(encoding="utf-8")
            except (FileNotFoundError, NotADirectoryError):
                self._configs[path] = {}
                return self._configs[path]
            except OSError as exc:
                raise RegistryError(f"{path}: cannot read the registry credentials file: {exc.strerror}") from None
            try:
                parsed = json.loads(text) if text.strip() else {}
            except ValueError as exc:
                raise RegistryError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
            self._configs[path] = parsed if isinstance(parsed, dict) else {}
        return self._configs[path]

    def get(self, host: str) -> Credential | None:
        host = normalize_host(host)
        with self._lock:
            if host not in self._cache:
                self._cache[host] = self._lookup(host)
            return self._cache[host]

    def _lookup(self, host: str) -> Credential | None:
        if host in self.explicit:
            return self.explicit[host]
        for path in self.auth_files:
            found = self._from_file(path, host)
            if found is not None:
                return found
        return None

    def _from_file(self, path: Path, host: str) -> Credential | None:
        config = self._read(path)
        helpers = config.get("credHelpers") if isinstance(config.get("credHelpers"), dict) else {}
        helper = None
        for server, name in helpers.items():
            if normalize_host(server) == host and isinstance(name, str) and name:
                helper = name
        if helper is None and isinstance(config.get("credsStore"), str) and config["credsStore"]:
            helper = config["credsStore"]
        if helper is not None:
            cred = run_helper(helper, server_address(host))
            if cred is not None:
                return cred
        return auths_of(config, str(path)).get(host)


def run_helper(name: str, server: str) -> Credential | None:
    """``docker-credential-NAME get`` (docker-credential-helpers protocol): server on stdin,
    ``{"ServerURL", "Username", "Secret"}`` on stdout; "credentials not found" means none."""
    program = f"docker-credential-{name}"
    where = f"credential helper {program}"
    try:
        proc = subprocess.run([program, "get"], input=server.encode("utf-8"), capture_output=True,
                              timeout=HELPER_TIMEOUT)
    except FileNotFoundError:
        raise RegistryError(f"{where} (named in the Docker config) is not on PATH; install it or remove it from"
                            " credHelpers/credsStore") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{where} did not answer within {HELPER_TIMEOUT:.0f} s for {server}") from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in out.lower():
            return None
        # The helper's own message (never the secret: it failed to produce one).
        reason = (out or proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}").splitlines()[0]
        raise RegistryError(f"{where} failed for {server}: {reason}")
    try:
        answer = json.loads(out)
    except ValueError:
        raise RegistryError(f"{where} answered {server} with something that is not JSON") from None
    user, secret = answer.get("Username"), answer.get("Secret")
    _secret(secret)
    if not isinstance(secret, str) or not secret:
        return None
    if user == "<token>":  # docker-credential-helpers' marker for an identity token
        return Credential(identity_token=secret, origin=where)
    return Credential(user if isinstance(user, str) else "", secret, origin=where)


# --- WWW-Authenticate ------------------------------------------------------------------------

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenges(values: list[str]) -> list[Challenge]:
    """RFC 7235 challenges (``Bearer realm="...",service="...",scope="..."``); one per header
    value, as registries send them."""
    out = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        params = {}
        pos = 0
        while pos < len(rest):
            match = _PARAM.match(rest, pos)
            if not match or match.end() == pos:
                break
            quoted, bare = match.group(2), match.group(3)
            params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            pos = match.end()
        out.append(Challenge(scheme.lower(), params))
    return out


def pick(challenges: list[Challenge]) -> Challenge | None:
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None
