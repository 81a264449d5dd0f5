"""Splice changes into a document's original text.

Rules change a document's data; this module works out the smallest text edits that turn the
original text into text for the new data, keeping everything else (comments, key order, quoting,
indentation, sequence style) as it was:

* a changed scalar is replaced in place (keeping its quote style where the new value allows);
* a new key is inserted after the key that precedes it in the new data, with the mapping's own
  indentation, so a rule decides placement just by key order (``imagePullPolicy`` after
  ``image``);
* items appended to or removed from a list become inserted/removed lines;
* anything else (a list reordered, a type changed) replaces just that node with fresh block text
  in the document's indentation and sequence style.

Edits that would go through an alias or an anchored node (shared by several places) cannot be
spliced safely: that one document is re-emitted with ruamel.yaml round-trip instead.  Either way
the result is parsed again and compared with the intended data; a mismatch is an internal
error, never a silently changed manifest.
"""

from __future__ import annotations

import re

from postrender.engine import kube_yaml, locate
from postrender.errors import InputError
from postrender.engine.layout import Layout, block_scalar, emit_node_text, emit_sequence, emit_value, guess_layout
from postrender.engine.scalars import format_scalar, json_flow, strict_equal


class Unsafe(Exception):
    """This change cannot be spliced; fall back to re-emitting the document."""


# ---- the splicer ---------------------------------------------------------------------------

_BREAK_CHARS = "\n\r\x85\u2028\u2029"
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


class Splicer:
    def __init__(self, text: str, layout: Layout):
        self.text = text
        self.layout = layout
        # Line breaks other than LF (a lone CR, NEL, LS, PS): YAML ends lines there too.
        self.odd_breaks = any(c in text for c in "\x85\u2028\u2029") or text.count("\r") != text.count("\r\n")
        self.edits: list[tuple[int, int, int, str]] = []

    def replace(self, start: int, end: int, new: str) -> None:
        self.edits.append((start, end, len(self.edits), new))

    def apply(self) -> str:
        out = []
        pos = 0
        for start, end, _, new in sorted(self.edits):
            if start < pos:
                raise Unsafe("overlapping edits")
            out.append(self.text[pos:start])
            out.append(new)
            pos = end
        out.append(self.text[pos:])
        return "".join(out)

    # helpers over the original text
    def line_start(self, i: int) -> int:
        """Start of the line that holds position i (YAML's line breaks: LF, CR, NEL, LS, PS)."""
        text = self.text
        return max(text.rfind("\n", 0, i), text.rfind("\r", 0, i), text.rfind("\x85", 0, i),
                   text.rfind("\u2028", 0, i), text.rfind("\u2029", 0, i)) + 1 if self.odd_breaks else text.rfind("\n", 0, i) + 1

    def after_line(self, i: int) -> int:
        """Index just past the line that holds position i-1 (the end of a node)."""
        text = self.text
        if not self.odd_breaks:
            if i > 0 and text[i - 1] == "\n":
                return i
            j = text.find("\n", i)
            return len(text) if j < 0 else j + 1
        if i > 0 and text[i - 1] in _BREAK_CHARS and not (text[i - 1] == "\r" and text[i:i + 1] == "\n"):
            return i
        m = _LINE_BREAK.search(text, i)
        return len(text) if m is None else m.end()

    def only_spaces_before(self, i: int) -> bool:
        return self.text[self.line_start(i):i].strip(" ") == ""

    def nl(self) -> str:
        return self.layout.newline

    def lines_text(self, lines: list[str]) -> str:
        return self.nl().join(lines)


class Refused(Exception):
    """This change cannot be written so that Kubernetes reads it: refuse the input (exit 3)."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line  # 0-based, in the document


def _setters(node: locate.Mapping):
    """key -> the pairs that assign it, in document order, as Kubernetes applies them.

    An own pair is ``(key_node, value_node, None)``; a merge key is ``(key_node, value_node,
    contribution)`` for every key its sources assign.  The last setter of a key is its value
    (go-yaml v2 applies pairs in order: a key written before ``<<`` is overridden by it).
    """
    setters: dict = {}
    for key_node, value_node in node.pairs:
        if kube_yaml.is_merge_key(key_node):
            contribution = kube_yaml.merge_contribution(value_node)
            for k in contribution:
                setters.setdefault(k, []).append((key_node, value_node, contribution))
            continue
        setters.setdefault(kube_yaml.mapping_key(key_node), []).append((key_node, value_node, None))
    return setters


_UNBUILT = object()


def _alias_targets(root) -> set[int]:
    """ids of the nodes some alias refers to (anchors no alias uses are only labels)."""
    targets: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if node.kind == "alias":
            targets.add(id(node.target))
        elif node.kind == "mapping":
            for key, value in node.pairs:
                stack.extend((key, value))
        elif node.kind == "sequence":
            stack.extend(node.items)
    return targets


class Differ:
    def __init__(self, sp: Splicer, root=None):
        self.sp = sp
        # No '*' in the text, no alias (the common case: skip the walk).
        self.shared = _alias_targets(root) if "*" in sp.text else set()
        self.changed_shared: set[int] = set()  # anchored nodes, aliased elsewhere, edited here

    def diff(self, node, new, indent: int, flow: bool, key_node=None, old=_UNBUILT) -> None:
        """Edits turning node's text into ``new``; ``old`` is node's data when the caller already
        built it (the parent's data holds its children's: each node is built once, not per level)."""
        if node is None:
            raise Unsafe("empty document")
        if old is _UNBUILT:
            old = kube_yaml.read(node)
        if strict_equal(old, new):
            return
        if node.kind == "alias":
            # This place gets its own (new) value; the anchor and its other aliases keep theirs.
            self.replace_node(node, new, indent, flow, key_node)
            return
        if id(node) in self.shared:
            # Edited where it is anchored: its aliases must keep the old value (see unshare()).
            self.changed_shared.add(id(node))
        if node.kind in ("mapping", "sequence") and not (node.pairs if node.kind == "mapping" else node.items):
            # An empty collection that gains items: ``key: []`` becomes block text in the
            # document's style, as a person would write it, not ``[{"name": "x"}]``; inside a
            # flow collection, ``{}`` becomes flow text and nothing around it changes.
            self.replace_node(node, new, indent, flow, key_node)
        elif node.kind in ("mapping", "sequence") and node.flow and not old and new and not flow:
            # An empty flow collection (``key: []``) that gains items becomes block text in the
            # document's style, as a person would write it, not ``[{"name": "x"}]``.
            self.replace_node(node, new, indent, False, key_node)
        elif node.kind == "mapping" and isinstance(new, dict) and new:
            self.mapping(node, old, new, flow)
        elif node.kind == "sequence" and isinstance(new, list) and new:
            self.sequence(node, old, new, indent, flow)
        else:
            self.replace_node(node, new, indent, flow, key_node)

    # -- scalars and whole nodes
    def replace_node(self, node, new, indent, flow, key_node) -> None:
        sp = self.sp
        if node.kind == "scalar" and not isinstance(new, (dict, list)):
            if node.style in ("|", ">"):  # a block scalar keeps its line break(s) after it
                self._replace_inline(node, self.scalar_text(new, None, indent, flow), key_node)
                return
            text = self.scalar_text(new, node.style, indent, flow)
            if node.start == node.end:  # empty (null) scalar right after 'key:' or '-'
                text = " " + text
            sp.replace(node.start, node.end, text)
            return
        if flow or (isinstance(new, (dict, list)) and not new):
            self._replace_inline(node, json_flow(new), key_node)
            return
        if not isinstance(new, (dict, list)):
            self._replace_inline(node, self.scalar_text(new, None, indent, False), key_node)
            return
        # A block collection replaces the node (one without an anchor or tag: those put the
        # node's start on the properties, not on its first entry).
        if node.kind in ("mapping", "sequence") and not node.flow and not (node.anchor or node.tag):
            col = node.col
            sp.replace(node.start, node.end, emit_node_text(new, col, sp.layout))
            return
        # scalar / flow collection -> block collection: it starts on the next line.
        if key_node is not None:
            col = indent if (isinstance(new, list) and sp.layout.indentless) else indent + sp.layout.step
        else:
            col = indent + 2
        text = sp.nl() + " " * col + emit_node_text(new, col, sp.layout)
        start = node.start
        while start > 0 and sp.text[start - 1] in " \t":
            start -= 1
        end = node.end
        if node.kind == "scalar" and node.style in ("|", ">"):
            end = node.end - 1 if sp.text[node.end - 1:node.end] == "\n" else node.end
        sp.replace(start, end, text)

    def _replace_inline(self, node, text, key_node) -> None:
        sp = self.sp
        if node.kind in ("mapping", "sequence") and not node.flow and key_node is not None and node.line > key_node.line:
            colon = sp.text.find(":", key_node.end)
            sp.replace(colon + 1, node.end, " " + text)
        elif node.kind == "scalar" and node.start == node.end:
            sp.replace(node.start, node.end, " " + text)
        elif node.kind == "scalar" and node.style in ("|", ">"):
            old_span = sp.text[node.start:node.end]
            tail = old_span[len(old_span.rstrip()):]
            tail = tail[tail.find("\n"):] if "\n" in tail else sp.nl()
            sp.replace(node.start, node.end, text + tail)
        else:
            sp.replace(node.start, node.end, text)

    def scalar_text(self, value, style, indent, flow) -> str:
        if isinstance(value, str) and "\n" in value and not flow:
            block = block_scalar(value, indent, self.sp.layout.step)
            if block is not None:
                return self.sp.nl().join(block)
        return format_scalar(value, style, flow)

    # -- mappings
    def mapping(self, node: locate.Mapping, old: dict, new: dict, flow: bool) -> None:
        setters = _setters(node)
        merges = [(k, v) for k, v in node.pairs if kube_yaml.is_merge_key(k)]
        if setters and not merges and not node.flow and not any(key in new for key in setters):
            # Every key replaced (a patch swapping a whole labels map): emit the new mapping in
            # place.  Deleting key by key would empty the mapping first, which only the
            # whole-document fallback can do, and it re-indents unrelated lines.
            self.replace_node(node, new, node.col, False, None)
            return
        flow = flow or node.flow
        for key, assigned in setters.items():
            if key in new:
                continue
            merged = [pair for pair in assigned if pair[2] is not None]
            if merged:
                raise Refused(f"the key {key!r} to remove comes from the merge key '<<' on line"
                              f" {merged[-1][0].line + 1}; write the merged keys out to remove one", merged[-1][0].line)
            for key_node, value_node, _ in assigned:
                self.delete_pair(node, key_node, value_node, flow)
        new_keys = list(new)
        for i, key in enumerate(new_keys):
            value = new[key]
            if key in setters:
                if strict_equal(old[key], value):
                    continue
                key_node, value_node, merged = setters[key][-1]
                if merged is None:
                    self.diff(value_node, value, key_node.col, flow, key_node, old[key])
                else:
                    # The value comes from a merge: a key of its own after the last '<<' wins.
                    self.insert_pair(node, key, value, merges[-1], flow)
                continue
            # A new key: after the nearest preceding key written in this mapping.
            anchor = None
            for prev in reversed(new_keys[:i]):
                own = [pair for pair in setters.get(prev, ()) if pair[2] is None]
                if own:
                    anchor = own[-1][:2]
                    break
            self.insert_pair(node, key, value, anchor, flow)

    def insert_pair(self, node, key, value, after, flow: bool) -> None:
        sp = self.sp
        if not node.pairs:
            raise Unsafe("empty mapping")
        if flow:
            quoted = node.pairs[0][0].kind == "scalar" and node.pairs[0][0].style == '"'
            ktext = json_flow(key) if quoted else format_scalar(key, flow=True)
            vtext = json_flow(value) if quoted or isinstance(value, (dict, list)) else format_scalar(value, flow=True)
            if after is None:
                first = node.pairs[0][0]
                sp.replace(first.start, first.start, f"{ktext}: {vtext}, ")
            else:
                sp.replace(after[1].end, after[1].end, f", {ktext}: {vtext}")
            return
        first_key = node.pairs[0][0]
        col = first_key.col
        ktext = format_scalar(key if isinstance(key, str) else str(key))
        lines = emit_value(value, col, sp.layout)
        entry_lines = [f"{ktext}:{lines[0]}"] + lines[1:]
        if after is None:
            text = sp.lines_text(entry_lines) + sp.nl() + " " * col
            sp.replace(first_key.start, first_key.start, text)
            return
        pos = sp.after_line(after[1].end if after[1].end > after[0].end else after[0].end)
        text = " " * col + sp.lines_text(entry_lines) + sp.nl()
        if pos == len(sp.text) and not sp.text.endswith("\n"):
            text = sp.nl() + text[: -len(sp.nl())]
        sp.replace(pos, pos, text)

    def delete_pair(self, node, key_node, value_node, flow: bool) -> None:
        sp = self.sp
        pairs = node.pairs
        idx = next(i for i, p in enumerate(pairs) if p[0] is key_node)
        if len(pairs) == 1:
            raise Unsafe("mapping becomes empty")
        if flow:
            if idx == 0:
                sp.replace(key_node.start, pairs[1][0].start, "")
            else:
                sp.replace(pairs[idx - 1][1].end, value_node.end, "")
            return
        end = sp.after_line(max(value_node.end, key_node.end))
        if sp.only_spaces_before(key_node.start):
            sp.replace(sp.line_start(key_node.start), end, "")
        elif idx + 1 < len(pairs):
            sp.replace(key_node.start, pairs[idx + 1][0].start, "")
        else:
            raise Unsafe("cannot delete this key in place")

    # -- sequences
    def sequence(self, node: locate.Sequence, old: list, new: list, indent: int, flow: bool) -> None:
        flow = flow or node.flow
        items = node.items
        pairs = _align(old, new)
        if pairs is None:
            if len(new) != len(old):
                self.replace_node(node, new, indent, flow, None)
                return
            pairs = list(enumerate(range(len(new))))
        matched_old = {o for o, _ in pairs}
        matched_new = {n for _, n in pairs}
        removed = [i for i in range(len(old)) if i not in matched_old]
        if len(removed) == len(old):
            self.replace_node(node, new, indent, flow, None)
            return
        for o, n in pairs:
            self.diff(items[o], new[n], items[o].col if not flow else indent, flow, old=old[o])
        for i in removed:
            self.delete_item(node, i, flow)
        # New items go before the next kept item, or after the last one.
        next_old = None
        for n in range(len(new) - 1, -1, -1):
            if n in matched_new:
                next_old = next(o for o, nn in pairs if nn == n)
                continue
            if next_old is None:
                self.append_items(node, [new[n]], flow)
            else:
                self.insert_item_before(node, next_old, new[n], flow)

    def insert_item_before(self, node, o: int, value, flow: bool) -> None:
        sp = self.sp
        item = node.items[o]
        if flow:
            sp.replace(item.start, item.start, json_flow(value) + ", ")
            return
        dash = sp.text.rfind("-", 0, item.start + 1)
        if not sp.only_spaces_before(dash):
            raise Unsafe("sequence item not on its own line")
        text = sp.lines_text(emit_sequence([value], node.col, sp.layout)) + sp.nl()
        pos = sp.line_start(dash)
        sp.replace(pos, pos, text)

    def append_items(self, node, values: list, flow: bool) -> None:
        sp = self.sp
        last = node.items[-1]
        if flow:
            sp.replace(last.end, last.end, "".join(", " + json_flow(v) for v in values))
            return
        dash_col = node.col
        pos = sp.after_line(last.end)
        text = sp.lines_text(emit_sequence(values, dash_col, sp.layout)) + sp.nl()
        if pos == len(sp.text) and not sp.text.endswith("\n"):
            text = sp.nl() + text[: -len(sp.nl())]
        sp.replace(pos, pos, text)

    def delete_item(self, node, i: int, flow: bool) -> None:
        sp = self.sp
        items = node.items
        item = items[i]
        if flow:
            if i == 0:
                sp.replace(item.start, items[1].start, "")
            else:
                sp.replace(items[i - 1].end, item.end, "")
            return
        dash = sp.text.rfind("-", 0, item.start + 1) if item.start > 0 else 0
        if not sp.only_spaces_before(dash):
            raise Unsafe("sequence item not on its own line")
        sp.replace(sp.line_start(dash), sp.after_line(item.end), "")


def _identity(item):
    if isinstance(item, dict):
        for key in ("name", "mountPath", "containerPort", "key", "ip"):
            if key in item and not isinstance(item[key], (dict, list)):
                return (key, item[key])
    return None


def _align(old: list, new: list) -> list[tuple[int, int]] | None:
    """Pair old items with new ones, in order: the same identity (a ``name`` ...) or equal.

    Returns (old_index, new_index) pairs, increasing on both sides; unmatched old items are
    deleted and unmatched new ones inserted.  None when nothing matches.  Positional pairing is
    used for same-length lists whose items keep their identities.
    """
    if len(old) == len(new) and all(
        _identity(a) == _identity(b) and (_identity(a) is not None or type(a) is type(b)) for a, b in zip(old, new)
    ):
        return [(i, i) for i in range(len(old))]
    pairs: list[tuple[int, int]] = []
    j = 0
    for n, item in enumerate(new):
        ident = _identity(item)
        for o in range(j, len(old)):
            if (ident is not None and _identity(old[o]) == ident) or strict_equal(old[o], item):
                pairs.append((o, n))
                j = o + 1
                break
    return pairs or None


def splice(text: str, root, new, old=_UNBUILT) -> str:
    """``text`` (whose parse is ``root``, read as ``old`` when the caller has it) with the smallest
    edits that make it read as ``new``."""
    sp = Splicer(text, guess_layout(root, text))
    differ = Differ(sp, root)
    differ.diff(root, new, 0, False, old=old)
    if differ.changed_shared:
        _Unsharer(sp, differ.changed_shared).walk(root, 0, False)
    return sp.apply()


class _Unsharer:
    """After an anchored node was edited in place: every alias of it that was not rewritten
    anyway gets its old value written out, and every mapping that merges it (``<<: *x``) is
    written out whole, so only the edited place changes meaning, as kubectl patch would edit
    the decoded object."""

    def __init__(self, sp: Splicer, changed: set[int]):
        self.differ = Differ(sp)
        self.changed = changed
        self.edited = [(start, end) for start, end, _, _ in sp.edits]

    def _untouched(self, node) -> bool:
        return not any(start < node.end and node.start < end for start, end in self.edited)

    def walk(self, node, indent: int, flow: bool, key_node=None) -> None:
        if node.kind == "alias":
            if id(node.target) in self.changed and self._untouched(node):
                self.differ.replace_node(node, kube_yaml.read(node), indent, flow, key_node)
        elif node.kind == "mapping":
            merges = [v for k, v in node.pairs if kube_yaml.is_merge_key(k)]
            if any(self._merges_changed(v) for v in merges):
                if not self._untouched(node):
                    raise Unsafe("a mapping merges an edited anchor and is edited itself")
                self.differ.replace_node(node, kube_yaml.read(node), indent, flow, key_node)
                return
            for k, v in node.pairs:
                if k.kind == "alias" and id(k.target) in self.changed:
                    raise Unsafe("an edited anchor is used as a key")
                self.walk(v, k.col, flow or node.flow, k)
        elif node.kind == "sequence":
            for item in node.items:
                self.walk(item, indent if (flow or node.flow) else item.col, flow or node.flow)

    def _merges_changed(self, value) -> bool:
        sources = value.items if value.kind == "sequence" else [value]
        return any(s.kind == "alias" and id(s.target) in self.changed for s in sources)


class _Expander(Differ):
    """Writes every alias (and every mapping with a merge key) out as the data it stands for, so
    that no node is shared and each place can be edited on its own, as kubectl patch edits the
    decoded object.  The meaning of the document is unchanged (the caller checks that)."""

    def expand(self, node, indent: int, flow: bool, key_node=None) -> None:
        if node.kind == "alias":
            self.replace_node(node, kube_yaml.read(node), indent, flow, key_node)
        elif node.kind == "mapping":
            if any(kube_yaml.is_merge_key(k) for k, _ in node.pairs):
                self.replace_node(node, kube_yaml.read(node), indent, flow, key_node)
                return
            for k, v in node.pairs:
                if k.kind != "scalar":
                    raise Unsafe("a key that is an alias or a collection")
                self.expand(v, k.col, flow or node.flow, k)
        elif node.kind == "sequence":
            for item in node.items:
                self.expand(item, indent if (flow or node.flow) else item.col, flow or node.flow)


def expand_aliases(text: str, root) -> str:
    sp = Splicer(text, guess_layout(root, text))
    _Expander(sp, None).expand(root, 0, False)
    return sp.apply()


def render_document(doc) -> str:
    """New text for a changed document: spliced if possible, re-emitted otherwise; verified.

    Every result is read back the way Kubernetes reads it (:mod:`kube_yaml`) and compared with
    the intended data before it is used: a splice that Kubernetes would read differently is
    never written.
    """
    new = doc.obj
    try:
        try:
            text = splice(doc.text, doc.root, new, doc.original_obj())
            if _reads_as(text, new, doc.bom_ok):
                return text
        except Unsafe:
            pass
        if _alias_targets(doc.root):
            # Anchors and aliases in the way: write every alias out (same meaning, checked),
            # then edit each place on its own, as kubectl would edit the decoded object.
            expanded = expand_aliases(doc.text, doc.root)
            if _reads_as(expanded, doc.original_obj(), doc.bom_ok):
                text = splice(expanded, locate.parse_document(expanded, doc.bom_ok)[0], new)
                if _reads_as(text, new, doc.bom_ok):
                    return text
    except Refused as exc:
        raise InputError(f"{doc.where(doc.stream_line(exc.line))}: {exc}") from None
    except Unsafe:
        pass
    duplicate = _duplicate_key(doc.root)
    if duplicate is not None:
        # The fallback (ruamel) refuses duplicate keys, and would keep the first where Kubernetes
        # keeps the last: refuse with the key rather than an internal error.
        key, line = duplicate
        raise InputError(
            f"{doc.where(doc.stream_line(line))}: duplicate key {key!r}: the changes to this document cannot be"
            " spliced into its text (an edit through a YAML anchor or alias) and re-writing it is unsafe while"
            " it has duplicate keys; remove the duplicate key"
        )
    from ruamel.yaml.error import YAMLError as RuamelYAMLError

    from postrender.engine.roundtrip import reemit

    try:
        text = reemit(doc, new)
    except RuamelYAMLError as exc:
        # ruamel's pure-Python reader is stricter than libyaml in places (a tab after a
        # complex key): say what it refused, in one line, instead of an internal error.
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(
            f"{doc.where()}: the changes to this document cannot be spliced into its text and the YAML"
            f" writer that would re-write it cannot read it ({problem}); write this document in plainer YAML"
        ) from None
    if not _reads_as(text, new, doc.bom_ok):
        raise InputError(
            f"{doc.where()}: the changes to this document cannot be written so that Kubernetes reads exactly"
            " them (its YAML anchors, aliases or merge keys are in the way); write those values out, or report"
            " this with the document if it has none"
        )
    return text


def _duplicate_key(root) -> tuple[object, int] | None:
    """(key, 0-based line) of a repeated key of some mapping in the document, or None."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if node.kind == "mapping":
            seen = set()
            for key_node, value_node in node.pairs:
                if key_node.kind == "scalar" and not kube_yaml.is_merge_key(key_node):
                    key = kube_yaml.mapping_key(key_node)
                    if key in seen:
                        return key, key_node.line
                    seen.add(key)
                stack.append(value_node)
        elif node.kind == "sequence":
            stack.extend(node.items)
    return None


def _reads_as(text: str, expected, bom_ok: bool = False) -> bool:
    """Whether Kubernetes reads ``text`` as exactly ``expected`` (the self-check)."""
    simple = kube_yaml.read_simple(text, bom_ok)
    if simple is not kube_yaml.NOT_SIMPLE:
        return strict_equal(simple, expected)
    try:
        roots = locate.parse_document(text, bom_ok)
        if len(roots) != 1:
            return False
        return strict_equal(kube_yaml.read(roots[0]), expected)
    except locate.YAMLSyntaxError:
        return False
