"""Where results go: stdout, an atomically replaced file, stderr, the log file.

Kept apart from the CLI so that "nothing partial" is one property of one function: output is
written only once it is complete, in one write, or into a temporary file renamed over the
target.
"""

from __future__ import annotations

import os
import sys
import time


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
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (BrokenPipeError, OSError, AttributeError, ValueError):
            pass
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
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.redact(line)}\n")
        except OSError:
            pass


def secret_forms(value: str) -> list[str]:
    """The texts a secret can appear as in a message or a manifest.

    The value itself, its JSON-escaped form (inside a generated .dockerconfigjson), and its
    base64 *at each of the three byte alignments*: the characters of ``base64(prefix + value)``
    that depend only on the value's bytes.  That catches the secret inside any base64 blob it
    is part of (``base64(user:password)``, the base64 of a whole .dockerconfigjson), not only
    ``base64(value)``, without having to know what the blob was built from.  Fragments shorter
    than 8 characters are left out: they would match unrelated text.
    """
    import base64
    import json

    forms = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
    raw = value.encode("utf-8")
    forms.add(base64.b64encode(raw).decode("ascii"))
    for skew in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * skew + raw).decode("ascii")
        first = 0 if skew == 0 else 3  # first 3-byte group made of the value's bytes only
        last = (skew + len(raw)) // 3 * 3  # end of the last complete group
        fragment = encoded[first // 3 * 4:last // 3 * 4]
        if len(fragment) >= 8:
            forms.add(fragment)
    return [f for f in forms if len(f) >= 4]


def make_redactor(secrets: list[str]):
    values: set = set()
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 4:
            values.update(secret_forms(secret))
    if not values:
        return lambda s: s
    ordered = sorted(values, key=len, reverse=True)  # longest first: a form may contain another

    def redact(text: str) -> str:
        for v in ordered:
            if v in text:
                text = text.replace(v, "<redacted>")
        return text

    return redact


# Every value known to be secret in this process, registered the moment it is known (when the
# variables are collected, when a rule marks a credential): errors raised before the config has
# finished loading, and KRM results built from a functionConfig, are redacted with it too.
_known_secrets: list[str] = []
_known_redactor = None


def register_secrets(values) -> None:
    global _known_redactor
    new = [v for v in values if isinstance(v, str) and len(v) >= 4 and v not in _known_secrets]
    if new:
        _known_secrets.extend(new)
        _known_redactor = None


def redact_known(text: str) -> str:
    global _known_redactor
    if not _known_secrets:
        return text
    if _known_redactor is None:
        _known_redactor = make_redactor(_known_secrets)
    return _known_redactor(text)


REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"


def redact_secret_values(before: str, after: str) -> tuple[str, str]:
    """Both texts with every Secret's ``data``/``stringData`` values replaced, for ``diff``.

    A generated or edited Secret holds credentials that are not in any variable (base64 of a
    whole dockerconfigjson, say), so value redaction alone cannot catch them.  A value that
    differs between the two texts (or is new) reads ``<redacted, changed>`` on the output side,
    so the diff still shows *that* it changed.  Text that cannot be parsed is returned as is
    (run_stream has already validated both).
    """
    old_values: dict = {}
    before_text = _redact_secrets(before, old_values, None)
    after_text = _redact_secrets(after, {}, old_values)
    return before_text, after_text


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
