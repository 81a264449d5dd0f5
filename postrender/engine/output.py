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


class Diagnostics:
    """stderr plus an optional log file (Helm 4 throws a post-renderer's stderr away)."""

    def __init__(self, log_file: str | None = None):
        self.log_file = log_file or os.environ.get("POSTRENDER_LOG") or None
        # Every value registered as secret so far, looked up at each message: an error raised
        # while the config is still loading must not quote one either.
        self.redact = redact_known

    def emit(self, line: str) -> None:
        line = self.redact(line)
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (BrokenPipeError, OSError):
            pass
        self.log(line)

    def log(self, line: str) -> None:
        if not self.log_file:
            return
        try:
            with open(self.log_file, "a", encoding="utf-8") as fh:
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
