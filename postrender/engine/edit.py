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

from postrender.engine import locate
from postrender.errors import InputError, PostrenderError
from postrender.engine.layout import Layout, block_scalar, emit_node_text, emit_sequence, emit_value, guess_layout
from postrender.engine.scalars import format_scalar, json_flow, strict_equal


class Unsafe(Exception):
    """This change cannot be spliced; fall back to re-emitting the document."""


# ---- the splicer ---------------------------------------------------------------------------

class Splicer:
    def __init__(self, text: str, layout: Layout):
        self.text = text
        self.layout = layout
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
        return self.text.rfind("\n", 0, i) + 1

    def after_line(self, i: int) -> int:
        """Index just past the line that holds position i-1 (the end of a node)."""
        if i > 0 and self.text[i - 1] == "\n":
            return i
        j = self.text.find("\n", i)
        return len(self.text) if j < 0 else j + 1

    def only_spaces_before(self, i: int) -> bool:
        return self.text[self.line_start(i):i].strip(" ") == ""

    def nl(self) -> str:
        return self.layout.newline

    def lines_text(self, lines: list[str]) -> str:
        return self.nl().join(lines)


def _own_pairs(node: locate.Mapping):
    """key -> list of (key_node, value_node) written in this mapping, merge keys aside."""
    own: dict = {}
    merged: dict = {}
    for key_node, value_node in node.pairs:
        if locate.is_merge_key(key_node):
            for source in locate._merge_sources(value_node):
                for k, v in locate.to_object(source).items():
                    merged.setdefault(k, v)
            continue
        own.setdefault(locate.mapping_key(key_node), []).append((key_node, value_node))
    return own, merged


_UNBUILT = object()


class Differ:
    def __init__(self, sp: Splicer):
        self.sp = sp

    def diff(self, node, new, indent: int, flow: bool, key_node=None, old=_UNBUILT) -> None:
        """Edits turning node's text into ``new``; ``old`` is node's data when the caller already
        built it (the parent's data holds its children's: each node is built once, not per level)."""
        if node is None:
            raise Unsafe("empty document")
        if old is _UNBUILT:
            old = locate.to_object(node)
        if strict_equal(old, new):
            return
        if node.kind == "alias" or node.anchor:
            raise Unsafe("change under an anchor or alias")
        if node.kind in ("mapping", "sequence") and node.flow and not old and new and not flow:
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
        # A block collection replaces the node.
        if node.kind in ("mapping", "sequence") and not node.flow:
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
        own, merged = _own_pairs(node)
        if own and not merged and not node.flow and not any(key in new for key in own):
            # Every key replaced (a patch swapping a whole labels map): emit the new mapping in
            # place.  Deleting key by key would empty the mapping first, which only the
            # whole-document fallback can do, and it re-indents unrelated lines.
            self.replace_node(node, new, node.col, False, None)
            return
        flow = flow or node.flow
        for key, occurrences in own.items():
            if key not in new:
                for key_node, value_node in occurrences:
                    self.delete_pair(node, key_node, value_node, flow)
        new_keys = list(new)
        for i, key in enumerate(new_keys):
            value = new[key]
            if key in own:
                key_node, value_node = own[key][-1]
                self.diff(value_node, value, key_node.col, flow, key_node, old[key])
                continue
            if key in merged and strict_equal(merged[key], value):
                continue
            # New (or overriding a merged) key: after the nearest preceding key that exists.
            anchor = None
            for prev in reversed(new_keys[:i]):
                if prev in own:
                    anchor = own[prev][-1]
                    break
            self.insert_pair(node, key, value, anchor, flow)
        for key in merged:
            if key not in new and key not in own:
                raise Unsafe("removing a key that comes from a merge key")

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


def splice(doc) -> str:
    root = doc.root
    layout = guess_layout(root, doc.text)
    sp = Splicer(doc.text, layout)
    Differ(sp).diff(root, doc.obj, 0, False)
    return sp.apply()


def render_document(doc) -> str:
    """New text for a changed document: spliced if possible, re-emitted otherwise; verified."""
    new = doc.obj
    try:
        text = splice(doc)
        if _reads_as(text, new):
            return text
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
    if not _reads_as(text, new):
        raise PostrenderError(
            f"internal error: could not write the changes to {doc.where()} without changing other values;"
            " please report this with the input document"
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
                if key_node.kind == "scalar" and not locate.is_merge_key(key_node):
                    if key_node.value in seen:
                        return key_node.value, key_node.line
                    seen.add(key_node.value)
                stack.append(value_node)
        elif node.kind == "sequence":
            stack.extend(node.items)
    return None


def _reads_as(text: str, expected) -> bool:
    try:
        roots = locate.parse(text)
    except locate.YAMLSyntaxError:
        return False
    if len(roots) != 1:
        return False
    return strict_equal(locate.to_object(roots[0]), expected)
