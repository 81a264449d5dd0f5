"""Where results go: stdout, an atomically replaced file, stderr, the log file.

Kept apart from the CLI so that "nothing partial" is one property of one function: output is
written only once it is complete, in one write, or into a temporary file renamed over the
target.
"""

from __future__ import annotations

import os
import sys
import time

# The redaction registry lives in redaction.py; these names stay importable from here.
from postrender.engine.redaction import (  # noqa: F401
    REDACTED, REDACTED_CHANGED, make_redactor, redact_known, register_secrets, secret_forms,
)


def write_output(data: bytes, path: str | None) -> None:
    """Write a complete result to stdout or atomically to ``path`` (one implementation: sink.py)."""
    from postrender.engine.sink import OutputSink

    with OutputSink(path) as sink:
        sink.write(data)
        sink.commit()


# Where a diagnostic can reach a person when the parent process hides stderr (measured with the
# real tools, docs/integrations-notes.md): Helm 3 and `kubectl kustomize` capture a post-renderer's
# stderr and show it only when it fails; Helm 4 never shows it.
ENV_LOG = "POSTRENDER_LOG"
# "0" (or never/off/false/no): do not write to the controlling terminal.
ENV_TTY = "POSTRENDER_TTY"
# "hidden": the parent discards stderr even on failure (set by the Helm 4 plugin wrappers), so
# errors go to the terminal too, not only the warnings.
ENV_STDERR = "POSTRENDER_STDERR"
TTY_DEVICE = "/dev/tty"
LOG_NAME = "postrender.log"


def default_log_file(environ=None) -> str:
    """``$XDG_CACHE_HOME/postrender/postrender.log`` (``~/.cache/postrender/postrender.log``)."""
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "postrender", LOG_NAME)


class Diagnostics:
    """Where diagnostics go: stderr, the terminal, a log file.

    Every line goes to stderr.  Because Helm 3, ``kubectl kustomize`` and Helm 4 hide a
    successful post-renderer's stderr, *notices* (warnings, ``--explain`` lines) also go to the
    controlling terminal when stderr is not a terminal and there is one: the person who ran
    ``helm template`` or ``kustomize build`` in a terminal sees them.  Errors go there too only
    when the parent hides stderr even on failure (``POSTRENDER_STDERR=hidden``, which the Helm 4
    plugin wrappers set); Helm 3 and kustomize print a failing plugin's stderr themselves.
    Every line is also appended to the log file: ``--log-file``, else ``$POSTRENDER_LOG``, else,
    when stderr is not a terminal and there is no terminal either (CI, Argo CD), the default
    log (:func:`default_log_file`), so a warning in an unattended run is still on record.
    """

    def __init__(self, log_file: str | None = None, environ=None):
        self._env = os.environ if environ is None else environ
        self.log_file = log_file or self._env.get(ENV_LOG) or None
        # Every value registered as secret so far, looked up at each message: an error raised
        # while the config is still loading must not quote one either.
        self.redact = redact_known
        self._routed = False
        self._tty = None          # a file on the controlling terminal, when notices go there
        self._default_log = False

    def _route(self) -> None:
        """Decide once, at the first line, whether the terminal or the default log is used."""
        if self._routed:
            return
        self._routed = True
        try:
            stderr_is_terminal = os.isatty(sys.stderr.fileno())
        except (AttributeError, ValueError, OSError):
            stderr_is_terminal = False
        if stderr_is_terminal:
            return
        if self._env.get(ENV_TTY, "").strip().lower() not in ("0", "never", "off", "false", "no"):
            try:
                # O_NOCTTY: never make it our controlling terminal; ENXIO when there is none.
                fd = os.open(TTY_DEVICE, os.O_WRONLY | os.O_NOCTTY)
                self._tty = os.fdopen(fd, "w", encoding="utf-8", errors="replace")
            except OSError:
                self._tty = None
        if self._tty is None and not self.log_file:
            self.log_file = default_log_file(self._env)
            self._default_log = True

    def emit(self, line: str) -> None:
        """An error (or the end-of-run summary): stderr and the log."""
        self._write(line, to_terminal=self._env.get(ENV_STDERR) == "hidden")

    def notice(self, line: str) -> None:
        """A warning or --explain line: also to the terminal when stderr does not reach it."""
        self._write(line, to_terminal=True)

    def _write(self, line: str, to_terminal: bool) -> None:
        line = self.redact(line)
        self._route()
        write_stderr(line + "\n")
        if to_terminal and self._tty is not None:
            try:
                self._tty.write(line + "\n")
                self._tty.flush()
            except OSError:
                self._tty = None
        self.log(line)

    def log(self, line: str) -> None:
        self._route()
        if not self.log_file:
            return
        try:
            if self._default_log:
                os.makedirs(os.path.dirname(self.log_file), exist_ok=True)
            # 0600: a log is for its owner (messages name resources, never secret values).
            fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            # backslashreplace: a message may quote a path or argument that is not UTF-8
            with os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.redact(line)}\n")
        except OSError:
            pass


def write_stderr(text: str) -> None:
    """Write to stderr if there is one: a closed (``2>&-``) or broken stderr changes nothing else.

    Python sets ``sys.stderr`` to None when fd 2 was closed at start-up.  After a failed write
    the unwritten text would stay in the buffer and Python's flush at exit would fail again and
    turn the exit code into 120, so stderr is pointed at /dev/null for the rest of the run
    (diagnostics still reach the log file).
    """
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # EPIPE, EBADF, EIO, ENOSPC; ValueError: closed file object
        _silence(stream)


def _silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    sys.stderr = None


def redact_secret_values(before: str, after: str) -> tuple[str, str]:
    """Both texts with every Secret's ``data``/``stringData`` values and every known secret
    replaced, for ``diff``.

    A generated or edited Secret holds credentials that are not in any variable (base64 of a
    whole dockerconfigjson, say), so value redaction alone cannot catch them.  A value that
    differs between the two texts (or is new) reads ``<redacted, changed>`` on the output side,
    so the diff still shows *that* it changed.  Text that cannot be parsed is returned as is
    (run_stream has already validated both).
    """
    old_values: dict = {}
    before_text = _redact_secrets(before, old_values, None)
    after_text = _redact_secrets(after, {}, old_values)
    # Then every known secret in every form, over the whole text: a secret that spans lines
    # (a block scalar, a folded quoted string) is found before the diff cuts it into lines.
    return redact_known(before_text), redact_known(after_text)


def _redact_secrets(text: str, seen: dict, compare: dict | None) -> str:
    from postrender.engine import kube_yaml, locate
    from postrender.engine.stream import split

    out = []
    for segment, _line, is_doc in split(text):
        if not is_doc or "Secret" not in segment:
            out.append(segment)
            continue
        try:
            roots = locate.parse(segment)
        except locate.YAMLSyntaxError:
            out.append(segment)
            continue
        spans = []
        for resource in _secret_nodes(roots[0] if roots else None):
            meta = _child(resource, "metadata")
            ident = tuple(
                kube_yaml.read(n) if n is not None else None
                for n in (_child(meta, "namespace") if meta else None, _child(meta, "name") if meta else None)
            )
            for field_name in ("data", "stringData"):
                values = _child(resource, field_name)
                if values is None or values.kind != "mapping":
                    continue
                for key_node, value_node in values.pairs:
                    key = (ident, field_name, kube_yaml.read(key_node))
                    value = kube_yaml.read(value_node)
                    seen[key] = value
                    changed = compare is not None and compare.get(key, object()) != value
                    spans.append((value_node, REDACTED_CHANGED if changed else REDACTED))
        pieces, pos = [], 0
        for node, marker in sorted(spans, key=lambda s: s[0].start):
            end = node.end
            span = segment[node.start:end]
            keep = span[len(span.rstrip("\r\n")):] if getattr(node, "style", None) in ("|", ">") else ""
            prefix = " " if node.start == end else ""
            pieces.append(segment[pos:node.start])
            pieces.append(prefix + marker + keep)
            pos = end
        pieces.append(segment[pos:])
        out.append("".join(pieces))
    return "".join(out)


def _child(node, key: str):
    if node is None or node.kind != "mapping":
        return None
    from postrender.engine import kube_yaml

    found = None
    for key_node, value_node in node.pairs:
        if key_node.kind == "scalar" and not kube_yaml.is_merge_key(key_node) and kube_yaml.mapping_key(key_node) == key:
            found = value_node
    return found


def _secret_nodes(root):
    """Mapping nodes of kind Secret: the document itself or the items of a list (any object with
    an ``items`` key, as Kubernetes reads it)."""
    from postrender.engine import kube_yaml

    if root is None or root.kind != "mapping":
        return []
    items = _child(root, "items")
    if items is not None:
        if items.kind != "sequence":
            return []
        return [item for item in items.items if item.kind == "mapping" and _secret_nodes(item) == [item]]
    kind = _child(root, "kind")
    if kind is not None and kind.kind == "scalar" and kube_yaml.scalar_value(kind) == "Secret":
        return [root]
    return []
