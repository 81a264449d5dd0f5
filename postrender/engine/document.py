"""One document of the stream: its exact text, a cheap header, and lazily parsed nodes.

Reading a document costs nothing until a rule asks for it:

* ``header`` (apiVersion/kind) comes from a regex over top-level lines when that is
  unambiguous, so a rule interested only in workloads never parses the CRDs that make up most
  of real streams' bytes;
* ``obj`` builds plain data from the libyaml node tree (positions kept in ``root``);
* rules change ``obj`` in place and call :meth:`changed`; at render time the document's text is
  re-derived by splicing only what differs (``edit.py``).  An untouched document renders as its
  original text, byte for byte.
"""

from __future__ import annotations

import re
from functools import cached_property

from postrender.engine import locate
from postrender.errors import InputError

_SOURCE = re.compile(r"^# Source: (.+?)[ \t]*\r?$", re.MULTILINE)
_FILENAME_ANNOTATION = re.compile(r"postrenderer\.helm\.sh/postrender-filename:[ \t]*['\"]?([^'\"\r\n#]+)")
# Top-level lines: a document is "simple" when every line starting at column 0 is a plain
# key, a comment, a document marker or a block-sequence dash.  Only then is a regex trusted
# to tell its kind; anything else (flow/JSON documents, quoted keys) is parsed.
_TOP_LINE = re.compile(r"^(?![ \t\r\n#]|---|\.\.\.)([^\r\n]+)", re.MULTILINE)
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*):(?:[ \t]+([^\r\n]*?))?[ \t]*\r?$")
_PLAIN_VALUE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_./-]*)(?:[ \t]+#.*)?$")


class Document:
    """A YAML document of the stream (or a *void* text segment that holds none)."""

    def __init__(self, text: str, index: int, first_line: int = 1, void: bool = False):
        self.text = text
        self.index = index          # 0-based among YAML documents; -1 for void segments
        self.first_line = first_line  # 1-based line of the stream where the text starts
        self.void = void
        self.dirty = False
        self.removed = False
        self.warnings: list[str] = []
        self._obj = None
        self._loaded = False

    # ---- naming ---------------------------------------------------------------------------
    @cached_property
    def source(self) -> str | None:
        """Helm 3's ``# Source:`` comment, else Helm 4's post-render filename annotation."""
        m = _SOURCE.search(self.text)
        if m:
            return m.group(1)
        m = _FILENAME_ANNOTATION.search(self.text)
        return m.group(1).strip() if m else None

    def where(self, line: int | None = None) -> str:
        """How messages name this document: 'document 3 (chart/templates/x.yaml), line 42'."""
        out = f"document {self.index + 1}"
        if self.source:
            out += f" ({self.source})"
        if line is not None:
            out += f", line {line}"
        return out

    def stream_line(self, rel_line0: int) -> int:
        return self.first_line + rel_line0

    # ---- cheap header ---------------------------------------------------------------------
    @cached_property
    def header(self) -> tuple[str | None, str | None]:
        """(apiVersion, kind) without a full parse when the text allows it."""
        if self.void:
            return None, None
        found: dict[str, str | None] = {}
        simple = True
        for m in _TOP_LINE.finditer(self.text):
            line = m.group(1)
            if line.startswith("- ") or line == "-" or line.startswith("%"):
                continue
            km = _TOP_KEY.match(line)
            if not km:
                simple = False
                break
            key = km.group(1)
            if key in ("kind", "apiVersion"):
                if key in found:
                    simple = False
                    break
                value = km.group(2) or ""
                vm = _PLAIN_VALUE.match(value)
                if not vm:
                    simple = False
                    break
                found[key] = vm.group(1)
        if simple and "kind" in found:
            return found.get("apiVersion"), found["kind"]
        obj = self.obj
        if isinstance(obj, dict):
            api, kind = obj.get("apiVersion"), obj.get("kind")
            return (api if isinstance(api, str) else None), (kind if isinstance(kind, str) else None)
        return None, None

    @property
    def kind(self) -> str | None:
        return self.header[1]

    @property
    def api_version(self) -> str | None:
        return self.header[0]

    # ---- nodes and data -------------------------------------------------------------------
    def _syntax(self, exc: locate.YAMLSyntaxError) -> InputError:
        return InputError(
            f"{self.where(self.stream_line(exc.line))}: invalid YAML: {exc.problem};"
            " fix the chart or manifest that produced this document"
        )

    def validate(self) -> None:
        if self.void or self._loaded:
            return
        try:
            locate.validate(self.text)
        except locate.YAMLSyntaxError as exc:
            raise self._syntax(exc) from None

    @cached_property
    def root(self) -> locate.Node | None:
        try:
            roots = locate.parse(self.text)
        except locate.YAMLSyntaxError as exc:
            raise self._syntax(exc) from None
        if len(roots) > 1:  # cannot happen after splitting, kept as a guard
            raise InputError(f"{self.where()}: holds more than one YAML document")
        return roots[0] if roots else None

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def obj(self):
        """The document's data; rules mutate it in place and then call :meth:`changed`."""
        if not self._loaded:
            try:
                self._obj = locate.to_object(self.root)
            except locate.YAMLSyntaxError as exc:
                raise self._syntax(exc) from None
            self._loaded = True
            self._check_duplicates()
        return self._obj

    def original_obj(self):
        try:
            return locate.to_object(self.root)
        except locate.YAMLSyntaxError as exc:  # pragma: no cover - obj already built it once
            raise self._syntax(exc) from None

    def _check_duplicates(self) -> None:
        """Kubernetes keeps the last of duplicate keys; say so, since an edit follows that."""
        stack = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            if node.kind == "mapping":
                seen: dict = {}
                for key_node, value_node in node.pairs:
                    if key_node.kind == "scalar":
                        key = key_node.value
                        if key in seen and not locate.is_merge_key(key_node):
                            self.warnings.append(
                                f"{self.where(self.stream_line(key_node.line))}: duplicate key {key!r}"
                                f" (first at line {self.stream_line(seen[key])}); the last one wins, as in Kubernetes"
                            )
                        seen[key] = key_node.line
                    stack.append(value_node)
            elif node.kind == "sequence":
                stack.extend(node.items)

    # ---- changes --------------------------------------------------------------------------
    def changed(self) -> None:
        self.dirty = True

    def remove(self) -> None:
        self.removed = True

    def render(self) -> str:
        if self.removed:
            return ""
        if not self.dirty:
            return self.text
        from postrender.engine.edit import render_document

        return render_document(self)

    #: True for a document a rule added (not read from the input): `postrender diff` shows it
    #: as new rather than as a change of the text it was made from.
    new = False

    @classmethod
    def generated(cls, text: str, index: int) -> "Document":
        doc = cls(text, index=index)
        doc.new = True
        return doc
