"""C-backed event parse -> a light node tree with exact positions (the fast path).

Why PyYAML's libyaml binding (``yaml._yaml.CParser``) and not ruamel.yaml.clib: the binding
exposes the *parser* (events with start/end marks: index, line, column, scalar style) directly,
and ``raw_parse()`` validates a whole document in C without creating a Python object per event.
ruamel.yaml.clib only accelerates ruamel's own loader pipeline; getting positions out of it means
going through ruamel's Python composer, which is the slow part we are avoiding.  Marks count
characters of the decoded text, so documents are handled as ``str`` and offsets are ``str``
indices.

Values are resolved the way Kubernetes reads YAML (go-yaml v2, YAML 1.1): ``yes``/``on``/``y``
are booleans, ``0755`` is octal, ``=`` is a plain string, timestamps stay strings.
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
# "Billion laughs" guard: nodes *produced by expanding aliases* (and merge keys that name an
# anchor), per document.  Counting nodes rather than alias events matters: 50,000 aliases of
# one 50,000-item list are few events but 2.5e9 nodes.  Real manifests reuse an anchor a few
# times; 100,000 expanded nodes is ~10-20 MB of Python objects and well under a second.
MAX_ALIAS_EXPANSION = 100_000

STR = "tag:yaml.org,2002:str"


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


def parse(text: str) -> list[Node | None]:
    """Return the root node of each YAML document in text (None for an empty document)."""
    parser = _cyaml.CParser(text)
    roots: list[Node | None] = []
    stack: list[Node] = []   # open collections
    keys: list[Node | None] = []  # pending key per open mapping
    anchors: dict[str, Node] = {}
    Scalar_, Mapping_, Sequence_ = Scalar, Mapping, Sequence
    ScalarEvent, AliasEvent = _ev.ScalarEvent, _ev.AliasEvent
    MappingStartEvent, SequenceStartEvent = _ev.MappingStartEvent, _ev.SequenceStartEvent
    CollectionEndEvent = _ev.CollectionEndEvent
    DocumentStartEvent, DocumentEndEvent = _ev.DocumentStartEvent, _ev.DocumentEndEvent
    try:
        while True:
            ev = parser.get_event()
            t = type(ev)
            if t is ScalarEvent:
                m = ev.start_mark
                node = Scalar_(ev.value, ev.style or None, m.index, ev.end_mark.index, m.line, m.column, ev.anchor,
                               None if ev.tag == "!" else ev.tag)
            elif t is MappingStartEvent or t is SequenceStartEvent:
                m = ev.start_mark
                cls = Mapping_ if t is MappingStartEvent else Sequence_
                node = cls(m.index, m.line, m.column, ev.anchor, None if ev.tag == "!" else ev.tag, bool(ev.flow_style))
                if len(stack) >= MAX_DEPTH:
                    raise YAMLSyntaxError(f"nesting deeper than {MAX_DEPTH} levels", m.line, m.column)
            elif isinstance(ev, CollectionEndEvent):
                node = stack.pop()
                keys.pop()
                if node.flow:
                    node.end = ev.end_mark.index
                else:
                    # A block collection ends where its last child ends (the end mark libyaml
                    # reports lies after trailing comments and blank lines).
                    last = node.pairs[-1][1] if node.kind == "mapping" else node.items[-1]
                    node.end = last.end
                _attach(node, stack, keys, roots)
                continue
            elif t is AliasEvent:
                target = anchors.get(ev.anchor)
                m = ev.start_mark
                if target is None:
                    raise YAMLSyntaxError(f"found undefined alias {ev.anchor!r}", m.line, m.column)
                node = Alias(ev.anchor, target, m.index, ev.end_mark.index, m.line, m.column)
            elif t is DocumentStartEvent:
                anchors = {}
                continue
            elif t is DocumentEndEvent:
                continue
            elif t is _ev.StreamEndEvent:
                break
            else:
                continue
            if node.anchor:
                anchors[node.anchor] = node
            if t is MappingStartEvent or t is SequenceStartEvent:
                stack.append(node)
                keys.append(None)
                continue
            _attach(node, stack, keys, roots)
    except MarkedYAMLError as exc:
        raise syntax_error(exc) from None
    except ReaderError as exc:
        raise reader_error(exc, text) from None
    return roots


def _attach(node, stack, keys, roots):
    if not stack:
        roots.append(node)
        return
    parent = stack[-1]
    if parent.kind == "sequence":
        parent.items.append(node)
    elif keys[-1] is None:
        keys[-1] = node
    else:
        parent.pairs.append((keys[-1], node))
        keys[-1] = None


# ---- YAML 1.1 resolution, as go-yaml v2 (and so Kubernetes) reads plain scalars -------------

_BOOL = {
    **dict.fromkeys("y Y yes Yes YES on On ON true True TRUE".split(), True),
    **dict.fromkeys("n N no No NO off Off OFF false False FALSE".split(), False),
}
_NULL = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""", re.X)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


def _int(text: str) -> int:
    s = text.replace("_", "")
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    if s == "0":
        return 0
    if s.startswith("0b"):
        return sign * int(s[2:], 2)
    if s.startswith("0x"):
        return sign * int(s[2:], 16)
    if ":" in s:
        value = 0
        for part in s.split(":"):
            value = value * 60 + int(part)
        return sign * value
    if s.startswith("0"):
        return sign * int(s, 8)
    return sign * int(s)


def _float(text: str) -> float:
    s = text.replace("_", "").lower()
    if s in (".nan",):
        return float("nan")
    if s.endswith(".inf"):
        return float("-inf") if s.startswith("-") else float("inf")
    if ":" in s:
        sign = -1 if s.startswith("-") else 1
        value = 0.0
        for part in s.lstrip("+-").split(":"):
            value = value * 60 + float(part)
        return sign * value
    return float(s)


def resolve_plain(text: str):
    """The value of a plain (unquoted) scalar under YAML 1.1."""
    if text in _NULL:
        return None
    b = _BOOL.get(text)
    if b is not None:
        return b
    c = text[0]
    if c in "0123456789+-.":
        if _INT.match(text):
            return _int(text)
        if _FLOAT.match(text):
            return _float(text)
    return text


def scalar_value(node: Scalar):
    tag = node.tag
    if tag is None:
        return resolve_plain(node.value) if node.style is None else node.value
    if tag == STR:
        return node.value
    if tag == "tag:yaml.org,2002:int":
        return _int(node.value)
    if tag == "tag:yaml.org,2002:float":
        return _float(node.value)
    if tag == "tag:yaml.org,2002:bool":
        return _BOOL.get(node.value, node.value)
    if tag == "tag:yaml.org,2002:null":
        return None
    # Unknown or local tags (and !!binary, !!timestamp): Kubernetes sees the text.
    return node.value


def is_merge_key(node: Node) -> bool:
    return node.kind == "scalar" and node.value == "<<" and node.style is None and node.tag is None


class _Budget:
    __slots__ = ("left", "alias")

    def __init__(self):
        self.left = MAX_ALIAS_EXPANSION
        self.alias: Node | None = None  # the alias being expanded, named in the error


def to_object(node: Node | None, _budget: _Budget | None = None):
    """Plain Python data (dict/list/str/int/float/bool/None) for a node, merges and aliases applied."""
    if node is None:
        return None
    return _build(node, _budget or _Budget(), False)


def _expand(alias: Node, target: Node, budget: _Budget, expanding: bool):
    if not expanding:
        budget.alias = alias
    return _build(target, budget, True)


def _build(node: Node, budget: _Budget, expanding: bool):
    if expanding:
        budget.left -= 1
        if budget.left < 0:
            alias = budget.alias or node
            raise YAMLSyntaxError(
                f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes (a 'billion laughs' document?);"
                " write the repeated values out", alias.line, alias.col)
    kind = node.kind
    if kind == "alias":
        return _expand(node, node.target, budget, expanding)
    if kind == "scalar":
        return scalar_value(node)
    if kind == "sequence":
        return [_build(item, budget, expanding) for item in node.items]
    result = {}
    merged = {}
    for key_node, value_node in node.pairs:
        if is_merge_key(key_node):
            for source, via_alias in _merge_sources_via(value_node):
                built = _expand(source[1], source[0], budget, expanding) if via_alias else _build(source[0], budget, expanding)
                for k, v in built.items():
                    merged.setdefault(k, v)
            continue
        result[mapping_key(key_node)] = _build(value_node, budget, expanding)
    if merged:
        merged.update(result)
        return merged
    return result


def mapping_key(key_node: Node):
    """Keys are compared as the text written (``on:`` stays the key "on"), never re-typed."""
    if key_node.kind == "scalar":
        return key_node.value
    if key_node.kind == "alias" and key_node.target.kind == "scalar":
        return key_node.target.value
    return str(to_object(key_node))


def _merge_sources(value_node: Node) -> list[Node]:
    return [source for (source, _named_by), _via in _merge_sources_via(value_node)]


def _merge_sources_via(value_node: Node) -> list[tuple[tuple[Node, Node], bool]]:
    """((mapping, the node naming it), reached through an alias) for each source of a merge key."""
    via = value_node.kind == "alias"
    target = value_node.target if via else value_node
    if target.kind == "mapping":
        return [((target, value_node), via)]
    if target.kind == "sequence":
        out = []
        for item in target.items:
            mapping = item.target if item.kind == "alias" else item
            if mapping.kind == "mapping":
                out.append(((mapping, item if item.kind == "alias" else value_node), via or item.kind == "alias"))
        return out
    raise YAMLSyntaxError("a merge key '<<' needs a mapping or a list of mappings", value_node.line, value_node.col)


sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH + 500))
