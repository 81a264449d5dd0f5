"""The fallback writer: re-emit one document with ruamel.yaml round-trip.

Used only when a change cannot be spliced into the text (it goes through an anchor or alias,
or empties a mapping). Comments, key order and quote styles survive as far as ruamel keeps
them; new strings that YAML 1.1 would read as something else are written quoted. The caller
verifies the result reads back as the intended data.
"""

from __future__ import annotations

import io
import re

from postrender.engine.layout import guess_layout
from postrender.engine.scalars import plain_ok, strict_equal


def _quote_new(value):
    """New data for ruamel to write: every string Kubernetes would read as something else when
    plain (``y``, ``on``, ``0o17``, ``-.5``), keys included, marked double-quoted."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str) and not plain_ok(value) and "\n" not in value:
        return DoubleQuotedScalarString(value)
    if isinstance(value, dict):
        return {_quote_new(k): _quote_new(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quote_new(v) for v in value]
    return value


def _shared(root) -> set[int]:
    """ids of the collections reached from more than one place (anchored and aliased)."""
    parents: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                parents[id(child)] = parents.get(id(child), 0) + 1
                if parents[id(child)] == 1:
                    stack.append(child)
    return {key for key, count in parents.items() if count > 1}


_MISSING = object()


def _sync(current, new, old=_MISSING, shared: set[int] = frozenset()):
    """Make ruamel's loaded tree equal to new, keeping the existing nodes where values agree.

    ``old`` is the original value at this place as postrender reads it (YAML 1.1: ``y`` and
    ``on`` are booleans, where ruamel reads strings): where old equals new nothing was changed
    and ruamel's node is kept as it is, so an untouched ``y`` is never rewritten as ``true``.
    A collection shared through an alias is changed in place only where it is unchanged: a
    change at one of its places gets a fresh copy there, so the other places keep their data.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if old is not _MISSING and strict_equal(old, new):
        return current
    if id(current) in shared and isinstance(current, (CommentedMap, CommentedSeq)):
        return current if old is _MISSING and strict_equal(_plain(current), new) else _quote_new(new)
    if isinstance(current, CommentedMap) and isinstance(new, dict):
        old_map = old if isinstance(old, dict) else {}
        for key in list(current.keys()):
            if key not in new:
                del current[key]
        for key, value in new.items():
            if key in current:
                current[key] = _sync(current[key], value, old_map.get(key, _MISSING), shared)
            else:
                current[_quote_new(key)] = _quote_new(value)
        # Keep the new order for keys that were added (ruamel appends them).
        return current
    if isinstance(current, CommentedSeq) and isinstance(new, list) and len(current) == len(new):
        same_length = isinstance(old, list) and len(old) == len(new)
        for i, value in enumerate(new):
            current[i] = _sync(current[i], value, old[i] if same_length else _MISSING, shared)
        return current
    try:
        if strict_equal(_plain(current), new):
            return current
    except Exception:
        pass
    return _quote_new(new)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


# The lines around a document's content that ruamel drops or rewrites: comments and directives
# before its '---' line (with the line itself when it holds no content), its '...' line and after.
_HEAD = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\n)*(?:---[ \t]*(?:#[^\n]*)?(?:\r?\n|\Z))?")
_END = re.compile(r"^\.\.\.(?=[ \t\r\n]|\Z)", re.MULTILINE)


def reemit(doc, new) -> str:
    """ruamel's text for the content; the document's own lines around the content verbatim."""
    text = doc.text
    before = _HEAD.match(text).group(0)
    end = _END.search(text, len(before))
    after = text[end.start():] if end else ""
    content = text[len(before):len(text) - len(after)]
    # A content line starting '--- ' ("--- {a: 1}") needs ruamel to write a marker again.
    return before + _reemit_content(doc, content, new, explicit=content.startswith("---")) + after


def _reemit_content(doc, text: str, new, explicit: bool) -> str:
    from ruamel.yaml import YAML

    layout = guess_layout(doc.root, doc.text)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16
    seq_indent = layout.step if not layout.indentless else 0
    yaml.indent(mapping=layout.step, sequence=seq_indent + 2, offset=seq_indent)
    yaml.explicit_start = explicit
    # ruamel keeps the '\r' of a CRLF comment line in the comment; the newline swap below would
    # then write '\r\r\n' (an extra blank line).  Load LF text, write the document's newline.
    data = yaml.load(text.replace("\r\n", "\n"))
    data = _sync(data, new, doc.original_obj(), _shared(data))
    out = io.StringIO()
    yaml.dump(data, out)
    result = out.getvalue()
    if layout.newline != "\n":
        result = result.replace("\n", layout.newline)
    return result
