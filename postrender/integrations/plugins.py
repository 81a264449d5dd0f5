"""Install postrender where renderers look for it: a Helm 4 plugin, a kustomize exec plugin.

Pure functions with no argv or printing: the CLI commands ``postrender helm-plugin
install|uninstall`` and ``postrender kustomize-plugin install|uninstall`` call them and print
what they return.  Two kinds of Helm plugin exist:

- the *repository* plugin: ``plugin.yaml`` at the root of this repository, so ``helm plugin
  install <checkout or git URL>`` works on a machine with only python3.  Its install and update
  hooks (and, failing those, its first run) create a virtualenv inside the plugin directory and
  pip-install postrender from the plugin's own source (``helm-plugin/bootstrap.py``);
- the *generated* plugin ``postrender helm-plugin install`` writes: a plugin that runs the
  postrender it was made by (``sys.executable -m postrender``), nothing to set up.

Facts these rely on were measured against Helm 4.1.4, kubectl 1.35.2 (kustomize 5.7.1) and
kustomize 4.5.4; see docs/integrations-notes.md.

Helm 4 (``helm template --post-renderer postrender``):
- ``--post-renderer`` takes only the *name* of an installed ``postrenderer/v1`` plugin.
- Helm loads every directory of ``$HELM_PLUGINS`` that holds a plugin.yaml.  ``helm plugin
  install DIR`` only symlinks DIR there under DIR's basename (internal/plugin/installer/
  local_installer.go), and ``helm plugin uninstall`` removes that entry, a symlink's target
  staying behind.  So the generated plugin is written straight into
  ``$HELM_PLUGINS/postrender``: one directory per Helm home, and uninstall removes all of it.
- ``runtimeConfig.platformCommand[].command`` is split on spaces and then ``$VARS`` are
  expanded from the environment (which has ``HELM_PLUGIN_DIR`` but *not* ``HELM_CACHE_HOME``
  unless the user exported it); ``args`` are expanded too and ``--post-renderer-args`` are
  appended after them.  ``platformHooks.install``/``update`` run after install/update with the
  user's stdout and stderr, their ``command`` expanded but not their ``args`` (``expandHookArgs``
  is false for apiVersion v1); ``delete`` runs after the directory is gone.
- The plugin's stderr is captured and dropped, even with ``--debug``; a failure shows only
  ``plugin "postrender" exited with error``. ``--debug`` does print the command line, so the
  log path is put on it: ``postrender-helm --log-default=PATH``; the wrapper also sets
  ``POSTRENDER_STDERR=hidden`` so that errors, not only warnings, reach the terminal.

kustomize legacy exec plugin (``kustomize build --enable-alpha-plugins``):
- the executable lives at ``<plugin home>/<group>/<version>/<lowercase kind>/<Kind>``, with the
  plugin home the first existing of ``$KUSTOMIZE_PLUGIN_HOME``, ``$XDG_CONFIG_HOME/kustomize/plugin``,
  ``~/.config/kustomize/plugin``, ``~/kustomize/plugin`` (kustomize fails if none exists).
- it is run as ``<Kind> /tmp/kust-plugin-config-NNN [argsOneLiner or argsFromFile args]``
  (the config object re-serialised by kustomize: comments and key order are gone), resources on
  stdin, in the kustomization's directory, with ``KUSTOMIZE_PLUGIN_CONFIG_ROOT`` set to it.
  ``kubectl kustomize`` shows the plugin's stderr only when it fails; kustomize 4.5.4 always.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from postrender import __version__
from postrender.config.loader import API_VERSION, KIND
from postrender.errors import UsageError

PLUGIN_NAME = "postrender"
HELM_WRAPPER = "postrender-helm"
LOG_SUBPATH = Path("postrender") / "postrender.log"
# The repository plugin: its scripts' directory and its virtualenv, relative to the plugin dir.
REPO_SCRIPTS = "helm-plugin"
PLUGIN_VENV = ".plugin-venv"
VENV_READY = ".ready"  # written last by bootstrap.py: the virtualenv is complete


class IntegrationError(UsageError):
    """Installing a plugin failed (exit 2); the message is one line and says what to do."""


# ---- Helm 4 ---------------------------------------------------------------------------------

def default_command() -> list[str]:
    """The postrender that is running now: the plugin must call the same one."""
    return [sys.executable, "-m", "postrender"]


def _plugin_version() -> str:
    # Helm wants SemVer; a local dev version like "0.1.0.dev3" would be rejected.
    parts = __version__.split(".")[:3]
    core = ".".join(p if p.isdigit() else "0" for p in parts)
    return core + ".0" * (3 - len(parts))


def render_helm_plugin(command: Sequence[str] | None = None, log_default: str | None = None) -> dict[str, str]:
    """Text of a Helm 4 plugin's files, by path relative to the plugin directory.

    ``command``: how the wrapper runs postrender.  None gives the repository plugin
    (``plugin.yaml`` and ``helm-plugin/postrender-helm``, checked in at the repository root),
    which runs postrender from its own virtualenv and sets that up with install/update hooks.
    ``log_default``: the log file when ``$POSTRENDER_LOG`` is unset; None lets the wrapper
    compute Helm's cache dir at run time (``$HELM_CACHE_HOME``, else ``$XDG_CACHE_HOME/helm``,
    else ``~/.cache/helm``) and use ``<that>/postrender/postrender.log``.
    """
    repository = command is None
    wrapper_path = f"{REPO_SCRIPTS}/{HELM_WRAPPER}" if repository else HELM_WRAPPER
    args = ""
    if log_default is not None:
        # On the command line (not only in the wrapper) so `helm --debug` shows where the log is.
        args = f"\n      args:\n        - {_yaml_quote('--log-default=' + log_default)}"
    hooks = ""
    if repository:
        bootstrap = f"${{HELM_PLUGIN_DIR}}/{REPO_SCRIPTS}/bootstrap.py"
        hooks = f"""\
  # Create the plugin's virtualenv (<plugin dir>/{PLUGIN_VENV}) and pip-install postrender into
  # it from this directory; the update hook rebuilds it.  If a hook did not run, the first
  # render does it.  (Helm expands $VARS in a hook's command, not in its args.)
  platformHooks:
    install:
      - command: {bootstrap}
    update:
      - command: {bootstrap}
        args: [--rebuild]
"""
    origin = (
        "Install from a checkout or git URL: helm plugin install <path or URL of this repository>"
        if repository else f"Generated by postrender {__version__}; reinstall with: postrender helm-plugin install"
    )
    plugin_yaml = f"""\
# Helm 4 post-renderer plugin for postrender: helm template|install|upgrade --post-renderer {PLUGIN_NAME}
# {origin}
apiVersion: v1
type: postrenderer/v1
name: {PLUGIN_NAME}
version: {_plugin_version()}
runtime: subprocess
runtimeConfig:
  platformCommand:
    # Helm splits `command` on spaces, so the wrapper sits at a path without any and gets
    # --post-renderer-args appended after `args`.
    - command: ${{HELM_PLUGIN_DIR}}/{wrapper_path}{args}
{hooks}"""
    if repository:
        run = f"""\
# The plugin directory is this script's parent's parent; postrender runs from its virtualenv,
# which helm-plugin/bootstrap.py creates (Helm's install hook, or here on first use).
plugin_dir=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd) || exit 2
if [ ! -f "$plugin_dir/{PLUGIN_VENV}/{VENV_READY}" ]; then
  "${{POSTRENDER_PYTHON:-python3}}" "$plugin_dir/{REPO_SCRIPTS}/bootstrap.py" >&2 || exit 2
fi
exec "$plugin_dir/{PLUGIN_VENV}/bin/python" -m postrender "$@"
"""
    else:
        run = f"exec {' '.join(shlex.quote(c) for c in command)} \"$@\"\n"
    wrapper = f"""\
#!/bin/sh
# Runs postrender for Helm 4's post-renderer plugin. Helm 4 throws this process's stderr
# away, so postrender also appends its diagnostics to a log file: $POSTRENDER_LOG, else the
# --log-default=PATH that plugin.yaml passes, else <helm cache dir>/postrender/postrender.log;
# and POSTRENDER_STDERR=hidden sends errors, not only warnings, to the terminal if there is one.
log_default=
case "${{1:-}}" in
  --log-default=*) log_default=${{1#--log-default=}}; shift ;;
esac
if [ -z "${{POSTRENDER_LOG:-}}" ]; then
  if [ -z "$log_default" ]; then
    log_default="${{HELM_CACHE_HOME:-${{XDG_CACHE_HOME:-$HOME/.cache}}/helm}}/postrender/postrender.log"
  fi
  POSTRENDER_LOG=$log_default
fi
POSTRENDER_STDERR=hidden
export POSTRENDER_LOG POSTRENDER_STDERR
mkdir -p "$(dirname "$POSTRENDER_LOG")" 2>/dev/null || :
{run}"""
    return {"plugin.yaml": plugin_yaml, wrapper_path: wrapper}


def write_plugin_dir(target: Path, files: Mapping[str, str]) -> None:
    """Write files (paths relative to target) into target, created; every one but plugin.yaml
    executable; replaces each file atomically.  Also writes the kustomize plugin."""
    for name, text in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755 if name != "plugin.yaml" else 0o644)
        os.replace(tmp, path)


@dataclass
class HelmPluginInstall:
    name: str           # what to pass to --post-renderer
    plugin_dir: Path    # $HELM_PLUGINS/postrender
    log_file: Path      # where postrender's diagnostics go when Helm runs it
    helm_version: str


class _Helm:
    """Runs one Helm binary with one environment; every failure is a one-line IntegrationError."""

    def __init__(self, helm: str, env: Mapping[str, str] | None, run: Callable[..., subprocess.CompletedProcess]):
        self.helm = helm
        self.env = dict(os.environ if env is None else env)
        self._run = run

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return self._run([self.helm, *args], capture_output=True, text=True, env=self.env, timeout=120)
        except FileNotFoundError:
            raise IntegrationError(f"{self.helm}: Helm not found; pass the path to a Helm 4 binary") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IntegrationError(f"{self.helm} {' '.join(args)}: {exc}") from None

    def version4(self) -> str:
        proc = self("version", "--template", "{{.Version}}")
        version = proc.stdout.strip()
        if proc.returncode != 0 or not version.startswith("v"):
            raise IntegrationError(f"{self.helm} version failed: {_last_line(proc)}")
        if not version.startswith("v4."):
            raise IntegrationError(
                f"{self.helm} is Helm {version}: post-renderer plugins need Helm 4; with Helm 3 pass the"
                " executable instead: --post-renderer postrender --post-renderer-args=-c --post-renderer-args=CONFIG"
            )
        return version

    def settings(self, *names: str) -> list[str]:
        proc = self("env")
        if proc.returncode != 0:
            raise IntegrationError(f"helm env failed: {_last_line(proc)}")
        values = {}
        for line in proc.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
        missing = [n for n in names if not values.get(n)]
        if missing:
            raise IntegrationError(f"helm env does not report {', '.join(missing)}")
        return [values[n] for n in names]

    def installed(self) -> dict[str, str]:
        """Installed plugins: name -> type."""
        listed = self("plugin", "list")
        if listed.returncode != 0:
            raise IntegrationError(f"{self.helm} plugin list failed: {_last_line(listed)}")
        rows = [line.split() for line in listed.stdout.splitlines()[1:] if line.strip()]
        return {row[0]: (row[2] if len(row) > 2 else "") for row in rows}

    def uninstall(self, name: str) -> None:
        gone = self("plugin", "uninstall", name)
        if gone.returncode != 0:
            raise IntegrationError(f"{self.helm} plugin uninstall {name} failed: {_last_line(gone)}")


def install_helm_plugin(
    helm: str = "helm",
    *,
    command: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> HelmPluginInstall:
    """Install (or reinstall) postrender as the ``postrender`` post-renderer plugin of one Helm 4 home.

    ``helm``: the Helm 4 executable (name on ``$PATH`` or path). ``command``: how the plugin
    runs postrender (default: this interpreter, ``python -m postrender``). ``env``: environment
    for the helm calls (default ``os.environ``; Helm reads ``HELM_DATA_HOME``, ``HELM_PLUGINS``
    and ``HELM_CACHE_HOME`` from it). Steps: check Helm is 4.x, ask it for its plugin and cache
    dirs, uninstall an earlier ``postrender`` plugin (however it was installed), write the plugin
    into ``$HELM_PLUGINS/postrender`` and check Helm lists it.  The log path is that Helm home's
    cache dir, so each Helm home has its own plugin and log.  Raises :class:`IntegrationError`.
    """
    h = _Helm(helm, env, run)
    version = h.version4()
    cache_home, plugins_dir = h.settings("HELM_CACHE_HOME", "HELM_PLUGINS")
    log_file = Path(cache_home) / LOG_SUBPATH
    if PLUGIN_NAME in h.installed():
        h.uninstall(PLUGIN_NAME)
    target = Path(plugins_dir.split(os.pathsep)[0]) / PLUGIN_NAME
    if target.is_symlink() or target.exists():
        # Left by something other than a loadable plugin (a broken link, a stray dir).
        raise IntegrationError(f"{target} exists but is not an installed plugin named {PLUGIN_NAME!r}; remove it and retry")
    try:
        write_plugin_dir(target, render_helm_plugin(command or default_command(), str(log_file)))
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise IntegrationError(f"{target}: cannot write the Helm plugin: {exc.strerror or exc}") from None
    kind = h.installed().get(PLUGIN_NAME)
    if kind != "postrenderer/v1":
        shutil.rmtree(target, ignore_errors=True)
        raise IntegrationError(f"{helm} does not list the plugin written to {target} (as {kind!r}); nothing installed")
    return HelmPluginInstall(PLUGIN_NAME, target, log_file, version)


def uninstall_helm_plugin(
    helm: str = "helm",
    *,
    env: Mapping[str, str] | None = None,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> Path:
    """``helm plugin uninstall postrender`` for one Helm 4 home; returns that home's plugins dir.

    Works for the generated plugin and for one installed from the repository (whose directory,
    for a local checkout, is a symlink: Helm removes the link, the checkout stays)."""
    h = _Helm(helm, env, run)
    h.version4()
    (plugins_dir,) = h.settings("HELM_PLUGINS")
    if PLUGIN_NAME not in h.installed():
        raise IntegrationError(f"no plugin named {PLUGIN_NAME!r} is installed in {plugins_dir}")
    h.uninstall(PLUGIN_NAME)
    return Path(plugins_dir.split(os.pathsep)[0])


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    return (errors or lines or [f"exit status {proc.returncode}"])[-1]


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---- kustomize ------------------------------------------------------------------------------

def kustomize_plugin_home(environ: Mapping[str, str] | None = None) -> Path:
    """The directory kustomize searches for plugins, as kustomize picks it.

    kustomize takes the first that *exists* of: ``$KUSTOMIZE_PLUGIN_HOME`` (first entry),
    ``$XDG_CONFIG_HOME/kustomize/plugin``, ``$HOME/.config/kustomize/plugin``,
    ``$HOME/kustomize/plugin``. When none exists we create the one kustomize would look at
    first among the usual ones: ``$KUSTOMIZE_PLUGIN_HOME``, else ``$XDG_CONFIG_HOME/...``, else
    ``~/.config/kustomize/plugin``."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    candidates = []
    if env.get("KUSTOMIZE_PLUGIN_HOME"):
        candidates.append(Path(env["KUSTOMIZE_PLUGIN_HOME"].split(os.pathsep)[0]))
    if env.get("XDG_CONFIG_HOME"):
        candidates.append(Path(env["XDG_CONFIG_HOME"]) / "kustomize" / "plugin")
    candidates += [home / ".config" / "kustomize" / "plugin", home / "kustomize" / "plugin"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def kustomize_plugin_path(plugin_home: Path, api_version: str = API_VERSION, kind: str = KIND) -> Path:
    """``<home>/<group>/<version>/<lowercase kind>/<Kind>`` (kustomize's loader; an empty
    group, as in ``apiVersion: v1``, adds no directory)."""
    group, _, version = api_version.rpartition("/")
    parts = [p for p in (group, version) if p]
    return plugin_home.joinpath(*parts, kind.lower(), kind)


def render_kustomize_plugin(command: Sequence[str] | None = None) -> str:
    run = "postrender" if command is None else " ".join(shlex.quote(c) for c in command)
    return f"""\
#!/bin/sh
# kustomize exec transformer plugin for postrender ({API_VERSION} {KIND}).
# kustomize runs it as `{KIND} CONFIGFILE` with the resources on stdin; postrender reads a
# first argument that names a config file as `-c CONFIGFILE`.
# Generated by postrender {__version__}; reinstall with: postrender kustomize-plugin install
exec {run} "$@"
"""


def install_kustomize_plugin(
    *,
    command: Sequence[str] | None = None,
    plugin_home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Create the kustomize exec plugin for ``apiVersion: postrender/v1alpha1, kind: PostRenderer``.

    ``command``: how the plugin runs postrender (default: this interpreter). ``plugin_home``:
    the kustomize plugin home (default :func:`kustomize_plugin_home`, created if missing).
    Returns the executable's path. Use it with ``kustomize build --enable-alpha-plugins`` (or
    ``kubectl kustomize --enable-alpha-plugins``) and a kustomization listing the postrender
    config under ``transformers:``; the config needs ``metadata.name`` (kustomize requires it).
    Raises :class:`IntegrationError` when the file cannot be written.
    """
    home = Path(plugin_home) if plugin_home is not None else kustomize_plugin_home(environ)
    target = kustomize_plugin_path(home)
    try:
        write_plugin_dir(target.parent, {target.name: render_kustomize_plugin(command or default_command())})
    except OSError as exc:
        raise IntegrationError(f"{target}: cannot write the kustomize plugin: {exc.strerror or exc}") from None
    return target


_KUSTOMIZE_MARK = "kustomize exec transformer plugin for postrender"


def uninstall_kustomize_plugin(*, plugin_home: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Remove the executable :func:`install_kustomize_plugin` created, and the directories that
    held only it; returns its path.  Refuses a file postrender did not write."""
    home = Path(plugin_home) if plugin_home is not None else kustomize_plugin_home(environ)
    target = kustomize_plugin_path(home)
    try:
        text = target.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise IntegrationError(f"{target}: no postrender kustomize plugin there (plugin home {home})") from None
    except OSError as exc:
        raise IntegrationError(f"{target}: cannot read it: {exc.strerror or exc}") from None
    if _KUSTOMIZE_MARK not in text:
        raise IntegrationError(f"{target} was not written by postrender kustomize-plugin install; leaving it")
    try:
        target.unlink()
    except OSError as exc:
        raise IntegrationError(f"{target}: cannot remove it: {exc.strerror or exc}") from None
    for parent in target.parents:
        if parent == home or home not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
    return target
