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


class Diagnostics:
    """stderr plus an optional log file (Helm 4 throws a post-renderer's stderr away)."""

    def __init__(self, log_file: str | None = None):
        self.log_file = log_file or os.environ.get("POSTRENDER_LOG") or None
        # Every value registered as secret so far, looked up at each message: an error raised
        # while the config is still loading must not quote one either.
        self.redact = redact_known

    def emit(self, line: str) -> None:
        line = self.redact(line)
        write_stderr(line + "\n")
        self.log(line)

    def log(self, line: str) -> None:
        if not self.log_file:
            return
        try:
            # backslashreplace: a message may quote a path or argument that is not UTF-8
            with open(self.log_file, "a", encoding="utf-8", errors="backslashreplace") as fh:
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
