"""C-backed event parse -> a light node tree with exact positions (the fast path).

Why PyYAML's libyaml binding (``yaml._yaml.CParser``) and not ruamel.yaml.clib: the binding
exposes the *parser* (events with start/end marks: index, line, column, scalar style) directly,
and ``raw_parse()`` validates a whole document in C without creating a Python object per event.
ruamel.yaml.clib only accelerates ruamel's own loader pipeline; getting positions out of it means
going through ruamel's Python composer, which is the slow part we are avoiding.  Marks count
characters of the decoded text, so documents are handled as ``str`` and offsets are ``str``
indices.

This module is syntax only: nodes with their text, style, tag and position.  What the nodes
*mean* (booleans, numbers, merge keys, tags) is :mod:`postrender.engine.kube_yaml`: what
Kubernetes reads.
"""

from __future__ import annotations

import re
import sys

from yaml import _yaml as _cyaml
from yaml import events as _ev
from yaml.error import MarkedYAMLError
from yaml.reader import ReaderError

# Nesting refused past this (hostile input).  libyaml itself refuses more than 1000 levels
# ("exceeded maximum nesting depth") while scanning, before any Python object exists, so a
# 10,000-deep document costs a scan and not a recursion; this is the guard for our own tree.
MAX_DEPTH = 1000

class YAMLSyntaxError(Exception):
    def __init__(self, problem: str, line: int, column: int):
        super().__init__(problem)
        self.problem = problem
        self.line = line      # 0-based, relative to the parsed text
        self.column = column


class Node:
    __slots__ = ("start", "end", "line", "col", "anchor", "tag")

    kind = "node"


class Scalar(Node):
    __slots__ = ("value", "style")
    kind = "scalar"

    def __init__(self, value, style, start, end, line, col, anchor, tag):
        self.value, self.style = value, style
        self.start, self.end, self.line, self.col = start, end, line, col
        self.anchor, self.tag = anchor, tag


class Mapping(Node):
    __slots__ = ("pairs", "flow")
    kind = "mapping"

    def __init__(self, start, line, col, anchor, tag, flow):
        self.pairs: list[tuple[Node, Node]] = []
        self.start, self.line, self.col = start, line, col
        self.anchor, self.tag, self.flow = anchor, tag, flow
        self.end = start


class Sequence(Node):
    __slots__ = ("items", "flow")
    kind = "sequence"

    def __init__(self, start, line, col, anchor, tag, flow):
        self.items: list[Node] = []
        self.start, self.line, self.col = start, line, col
        self.anchor, self.tag, self.flow = anchor, tag, flow
        self.end = start


class Alias(Node):
    __slots__ = ("target", "name")
    kind = "alias"

    def __init__(self, name, target, start, end, line, col):
        self.name, self.target = name, target
        self.start, self.end, self.line, self.col = start, end, line, col
        self.anchor = self.tag = None


def syntax_error(exc: MarkedYAMLError) -> YAMLSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        problem = f"{exc.problem} ({exc.context})"
    return YAMLSyntaxError(problem, mark.line if mark else 0, mark.column if mark else 0)


def reader_error(exc: ReaderError, text: str) -> YAMLSyntaxError:
    """libyaml refuses a character (NUL, other C0 controls, U+FFFE) before it scans: no mark."""
    at = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, at)
    char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
    return YAMLSyntaxError(f"unacceptable character {char} ({exc.reason})", line, at - (text.rfind("\n", 0, at) + 1))


def validate(text: str) -> None:
    """Check a document is well-formed YAML, in C, without building anything."""
    try:
        _cyaml.CParser(text).raw_parse()
    except MarkedYAMLError as exc:
        raise syntax_error(exc) from None
    except ReaderError as exc:
        raise reader_error(exc, text) from None


# kubectl cuts the stream at '---' lines and go-yaml skips a byte-order mark at the start of
# each piece, so a BOM right after a document's '---' line can be nothing (libyaml would count
# it as a character of the first line and misread the indentation).  Whether that '---' line
# starts a piece is the stream's business (``stream.DocumentReader`` works it out).
_BOM_AFTER_MARKER = re.compile("^---[ \t]*(?:#[^\n]*)?\r?\n(\ufeff)", re.MULTILINE)
_LINE_START_BOM = re.compile("^\ufeff", re.MULTILINE)


def _ignored_bom(text: str, bom_ok: bool) -> int:
    """Index of the BOM kubectl skips (right after the document's '---' line, when that line
    starts a piece: ``bom_ok``), or -1.

    Anywhere else go-yaml reads a BOM as a character of the text (``\ufeffapiVersion`` is a
    key), while libyaml skips one that starts a line: where that changes the reading (at the
    start of a line), the document is refused rather than read the wrong way.
    """
    if "\ufeff" not in text:
        return -1
    m = _BOM_AFTER_MARKER.search(text) if bom_ok else None
    ignored = m.start(1) if m else -1
    for other in _LINE_START_BOM.finditer(text):
        if other.start() != ignored:
            line = text.count("\n", 0, other.start())
            raise YAMLSyntaxError(
                "a byte-order mark (U+FEFF) starts this line where kubectl reads it as a character of the"
                " text (other YAML readers skip it); remove it", line, 0)
    return ignored


_LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def reading_text(text: str, bom_ok: bool) -> tuple[str, int]:
    """The text libyaml must parse to read what go-yaml reads, and the index of a BOM taken out
    (-1 for none).  go-yaml ends the input with a line break when it has none (a block scalar on
    the last line keeps its final newline: ``x: |`` + ``abc`` at the end is ``"abc\n"``); libyaml
    does not, so one is added (after the text: no position moves)."""
    bom = _ignored_bom(text, bom_ok)
    if bom >= 0:
        text = text[:bom] + text[bom + 1:]
    if text and not text.endswith(_LINE_BREAKS):
        text += "\n"
    return text, bom


def validate_document(text: str, bom_ok: bool = False) -> None:
    """:func:`validate` for the text of one document of a stream, read as kubectl reads it."""
    validate(reading_text(text, bom_ok)[0])


def parse_document(text: str, bom_ok: bool = False) -> list[Node | None]:
    """:func:`parse` for the text of one document of a stream, read as kubectl reads it; node
    positions index ``text`` itself."""
    reading, bom = reading_text(text, bom_ok)
    roots = parse(reading)
    if bom < 0 and len(reading) == len(text):
        return roots
    limit = len(text)
    stack = [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if bom >= 0:
            if node.start >= bom:
                node.start += 1
            if node.end >= bom:
                node.end += 1
        node.start, node.end = min(node.start, limit), min(node.end, limit)
        if node.kind == "mapping":
            for key, value in node.pairs:
                stack.extend((key, value))
        elif node.kind == "sequence":
            stack.extend(node.items)
    return roots


def parse(text: str) -> list[Node | None]:
    """Return the root node of each YAML document in text (None for an empty document).

    One pass over libyaml's events; the open collections are a stack of (collection, pending
    key, is a sequence) kept in local variables, since this loop is most of the cost of reading
    a document (issue 16).
    """
    parser = _cyaml.CParser(text)
    get_event = parser.get_event
    roots: list[Node | None] = []
    stack: list = []          # (parent, pending key, parent is a sequence) of enclosing collections
    parent = None             # the innermost open collection
    key = None                # its pending key (mappings)
    in_sequence = False
    anchors: dict[str, Node] = {}
    Scalar_, Mapping_, Sequence_, Alias_ = Scalar, Mapping, Sequence, Alias
    ScalarEvent, AliasEvent = _ev.ScalarEvent, _ev.AliasEvent
    MappingStartEvent, SequenceStartEvent = _ev.MappingStartEvent, _ev.SequenceStartEvent
    MappingEndEvent, SequenceEndEvent = _ev.MappingEndEvent, _ev.SequenceEndEvent
    DocumentStartEvent, StreamEndEvent = _ev.DocumentStartEvent, _ev.StreamEndEvent
    try:
        while True:
            ev = get_event()
            t = type(ev)
            if t is ScalarEvent:
                m = ev.start_mark
                node = Scalar_(ev.value, ev.style or None, m.index, ev.end_mark.index, m.line, m.column, ev.anchor,
                               ev.tag)
                if node.anchor:
                    anchors[node.anchor] = node
            elif t is MappingStartEvent or t is SequenceStartEvent:
                m = ev.start_mark
                if len(stack) >= MAX_DEPTH:
                    raise YAMLSyntaxError(f"nesting deeper than {MAX_DEPTH} levels", m.line, m.column)
                opened = (Mapping_ if t is MappingStartEvent else Sequence_)(
                    m.index, m.line, m.column, ev.anchor, ev.tag, bool(ev.flow_style))
                if opened.anchor:
                    anchors[opened.anchor] = opened
                stack.append((parent, key, in_sequence))
                parent, key, in_sequence = opened, None, t is SequenceStartEvent
                continue
            elif t is MappingEndEvent or t is SequenceEndEvent:
                node = parent
                if node.flow:
                    node.end = ev.end_mark.index
                else:
                    # A block collection ends where its last child ends (the end mark libyaml
                    # reports lies after trailing comments and blank lines).
                    node.end = (node.items[-1] if in_sequence else node.pairs[-1][1]).end
                parent, key, in_sequence = stack.pop()
            elif t is AliasEvent:
                target = anchors.get(ev.anchor)
                m = ev.start_mark
                if target is None:
                    raise YAMLSyntaxError(f"found undefined alias {ev.anchor!r}", m.line, m.column)
                node = Alias_(ev.anchor, target, m.index, ev.end_mark.index, m.line, m.column)
            elif t is DocumentStartEvent:
                anchors = {}
                continue
            elif t is StreamEndEvent:
                break
            else:
                continue
            # Attach the finished node to the collection it belongs to.
            if parent is None:
                roots.append(node)
            elif in_sequence:
                parent.items.append(node)
            elif key is None:
                key = node
            else:
                parent.pairs.append((key, node))
                key = None
    except MarkedYAMLError as exc:
        raise syntax_error(exc) from None
    except ReaderError as exc:
        raise reader_error(exc, text) from None
    return roots


sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH + 500))
