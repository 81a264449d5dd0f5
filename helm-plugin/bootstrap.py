#!/usr/bin/env python3
"""Set up the Helm 4 plugin installed from this repository: a virtualenv inside the plugin
directory with postrender pip-installed into it from the plugin's own source.

Helm runs this as the plugin's ``install`` hook (``helm plugin install <checkout or git URL>``)
and with ``--rebuild`` as its ``update`` hook (plugin.yaml); ``helm-plugin/postrender-helm``
runs it on first use when no hook did.  It needs only python3 (3.11 or later) and PyPI:

1. ``python3 -m venv <plugin dir>/.plugin-venv.new``; where python3 has no ``ensurepip``
   (Debian/Ubuntu without python3-venv) the virtualenv is made ``--without-pip`` and pip comes
   from PyPI as a wheel, checked against the sha256 PyPI lists for it;
2. the package source (pyproject.toml, README.md, LICENSE, postrender/) is copied to a temporary
   directory, so the build leaves nothing in the plugin directory, and pip-installed from there
   (its dependencies from PyPI, or whatever index pip is configured with);
3. ``python -m postrender --version`` must work; then the virtualenv is renamed into place and
   ``.plugin-venv/.ready`` written, so a half-built one is never used.

A lock file serialises concurrent runs (two renders starting at once on first use).  Progress
goes to stdout (Helm shows a hook's output); failures are one line on stderr, also appended to
``$POSTRENDER_LOG`` when set and written to the terminal when stderr is not one, because Helm 4
hides a post-renderer's stderr.  ``helm plugin uninstall postrender`` removes a plugin installed
from a git URL with its virtualenv; for a local checkout Helm removes only its link, and
``.plugin-venv`` stays in the checkout (``rm -rf .plugin-venv`` removes it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
VENV = PLUGIN_DIR / ".plugin-venv"
READY = VENV / ".ready"
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "postrender")
PYPI_PIP = "https://pypi.org/pypi/pip/json"
MINIMUM_PYTHON = (3, 11)


class SetupError(Exception):
    pass


def main(argv: list[str]) -> int:
    rebuild = "--rebuild" in argv
    wanted = os.environ.get("POSTRENDER_PYTHON")
    if wanted and not os.environ.get("POSTRENDER_BOOTSTRAP_PYTHON"):
        # Helm runs the hook with `python3`; POSTRENDER_PYTHON names the interpreter to use.
        os.environ["POSTRENDER_BOOTSTRAP_PYTHON"] = wanted
        os.execvp(wanted, [wanted, __file__, *argv])
    try:
        if sys.version_info < MINIMUM_PYTHON:
            raise SetupError(f"{sys.executable} is Python {sys.version.split()[0]}; postrender needs"
                             f" {'.'.join(map(str, MINIMUM_PYTHON))} or later (set POSTRENDER_PYTHON to one)")
        with open(PLUGIN_DIR / ".plugin-venv.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if READY.exists() and not rebuild:
                return 0
            build()
    except SetupError as exc:
        report(f"postrender: error: setting up the Helm plugin in {PLUGIN_DIR}: {exc}")
        return 2
    except OSError as exc:
        report(f"postrender: error: setting up the Helm plugin in {PLUGIN_DIR}: {exc}")
        return 2
    return 0


def build() -> None:
    new = PLUGIN_DIR / ".plugin-venv.new"
    shutil.rmtree(new, ignore_errors=True)
    print(f"postrender plugin: creating a virtualenv in {VENV}", flush=True)
    try:
        made = subprocess.run([sys.executable, "-m", "venv", str(new)], capture_output=True, text=True)
        if made.returncode != 0:
            if "ensurepip" not in made.stdout + made.stderr:
                raise SetupError(f"python3 -m venv failed: {last_line(made)}")
            shutil.rmtree(new, ignore_errors=True)
            run([sys.executable, "-m", "venv", "--without-pip", str(new)], "python3 -m venv --without-pip")
            pip_from_pypi(new / "bin" / "python")
        python = new / "bin" / "python"
        print("postrender plugin: installing postrender and its dependencies (pip)", flush=True)
        with tempfile.TemporaryDirectory(prefix="postrender-plugin-src-") as tmp:
            for name in SOURCES:
                source = PLUGIN_DIR / name
                if source.is_dir():
                    shutil.copytree(source, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(source, Path(tmp) / name)
            run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", tmp], "pip install")
        version = run([str(python), "-m", "postrender", "--version"], "postrender --version").stdout.strip()
        shutil.rmtree(VENV, ignore_errors=True)
        os.rename(new, VENV)  # `python -m postrender` does not depend on the venv's path
        READY.write_text(version + "\n")
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    print(f"postrender plugin: ready ({version})", flush=True)


def pip_from_pypi(python: Path) -> None:
    """Install pip into a virtualenv made --without-pip, from PyPI's pip wheel (sha256-checked)."""
    print("postrender plugin: python3 has no ensurepip; fetching pip from PyPI", flush=True)
    try:
        with urllib.request.urlopen(PYPI_PIP, timeout=60) as response:
            release = json.load(response)
        wheel = next(u for u in release["urls"] if u.get("packagetype") == "bdist_wheel"
                     and u["filename"].endswith("-py3-none-any.whl"))
        url = urllib.parse.urljoin(PYPI_PIP, wheel["url"])
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise SetupError(f"cannot fetch pip from {PYPI_PIP}: {exc} (or install python3-venv)") from None
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        raise SetupError(f"{wheel['filename']} from PyPI does not match its sha256; not using it")
    with tempfile.TemporaryDirectory(prefix="postrender-pip-") as tmp:
        path = Path(tmp) / wheel["filename"]
        path.write_bytes(data)
        # A wheel is a zip that Python can run from: pip installs itself from its own wheel.
        run([str(python), f"{path}/pip", "install", "--quiet", "--no-index", str(path)], "installing pip")


def run(argv: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(f"{what} failed: {last_line(proc)}")
    return proc


def last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    return (errors or lines or [f"exit status {proc.returncode}"])[-1]


def report(line: str) -> None:
    """The failure, wherever someone can see it: postrender's own Diagnostics, from the source."""
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        from postrender.engine.output import Diagnostics

        Diagnostics(os.environ.get("POSTRENDER_LOG"), environ=dict(os.environ, POSTRENDER_STDERR="hidden")).emit(line)
    except Exception:  # the source itself is broken: stderr is all there is
        print(line, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
