"""One document of the stream: its exact text, a cheap header, and lazily parsed nodes.

Reading a document costs nothing until a rule asks for it:

* ``header`` (apiVersion/kind) and whether the document is a list come from a scan of its
  top-level lines *when that scan can prove what Kubernetes reads* (:func:`scan_header`), so a
  rule interested only in workloads never parses the CRDs that make up most of real streams'
  bytes; any doubt means a parse, never a guess;
* ``obj`` is what Kubernetes reads (:mod:`postrender.engine.kube_yaml`), built from the libyaml
  node tree (positions kept in ``root``);
* rules change ``obj`` in place and call :meth:`changed`; at render time the document's text is
  re-derived by splicing only what differs (``edit.py``).  An untouched document renders as its
  original text, byte for byte.  Once ``obj`` is built, ``header`` reads it, so a rule that
  renames or re-kinds a resource is seen as it is by the rules after it.
"""

from __future__ import annotations

import json
import re
from functools import cached_property

from yaml import _yaml as _cyaml
from yaml.error import MarkedYAMLError
from yaml.reader import ReaderError

from postrender.engine import kube_yaml, locate
from postrender.errors import InputError

_SOURCE = re.compile(r"^# Source: (.+?)[ \t]*\r?$", re.MULTILINE)
_FILENAME_ANNOTATION = re.compile(r"postrenderer\.helm\.sh/postrender-filename:[ \t]*['\"]?([^'\"\r\n#]+)")

# ---- the header scan -------------------------------------------------------------------------
# Where a line starting at column 0 begins (after a line feed; the text start is checked apart).
_COLUMN0 = re.compile(r"\n(?=[^ \t\r\n#])")
# A top-level line of a "simple" document: a plain key (optionally with a one-line value).
_TOP_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_./-]*):(?:[ \t]+([^\r\n]*?))?[ \t]*\r?$", re.MULTILINE)
# A header value written plain on its own line (optionally with a comment).
_PLAIN_VALUE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_./-]*)(?:[ \t]+#.*)?")
# The document's own '---' line: nothing but a comment after it.
_MARKER_LINE = re.compile(r"---[ \t]*(?:#[^\r\n]*)?\r?$", re.MULTILINE)
# Line breaks YAML knows and a line scan does not (NEL, LS, PS, a lone CR), and a BOM.  Plain
# substring tests: each is a memchr-speed scan, where one regex would look at every character.
_ODD_CHARACTERS = ("\x85", "\u2028", "\u2029", "\ufeff")
_LONE_CR = re.compile("\r(?!\n)")
_HEADER_KEYS = ("apiVersion", "kind")


def scan_header(text: str):
    """(apiVersion, kind, has_items) of a document, or None when a scan cannot be sure.

    Proven, not guessed: a root block mapping at column 0 has every key on a line that starts
    at column 0, so the scan looks at those lines only, and trusts them only when

    * every such line is a plain key (``[A-Za-z_][A-Za-z0-9_./-]*:``), a ``- `` item of a
      top-level list, the document's own ``---`` line (first, nothing after it) or a final
      ``...``: no quoted or flow keys, merge keys, tags, anchors, directives, complex keys;
    * there is no line break a line scan cannot see (a lone CR, U+0085, U+2028, U+2029) and no
      BOM;
    * ``apiVersion:`` and ``kind:`` lines hold a plain one-line value that Kubernetes reads as
      that string, and the next content line starts at column 0 (no continuation);
    * the text between those lines parses on its own (libyaml, in C): so no quoted scalar or
      flow collection runs across them, and the scanner is in the same state at each of them
      as at the start of a document.  That also validates the whole document.

    A document with an ``items`` key is a list to Kubernetes whatever its kind; the caller
    parses those.  Anything else returns None, and the document is parsed.
    """
    if any(c in text for c in _ODD_CHARACTERS) or ("\r" in text and _LONE_CR.search(text)):
        return None
    starts = [m.end() for m in _COLUMN0.finditer(text)]
    if text[:1] not in ("", " ", "\t", "\r", "\n", "#"):
        starts.insert(0, 0)
    first_content = _next_content(text, 0)
    marker = _MARKER_LINE.match(text, first_content) if first_content is not None else None
    if marker:
        first_content = _next_content(text, marker.end())
    if first_content is not None and text[first_content] in (" ", "\t"):
        # Indented content before the first top-level line (" ---", " x"): not a root block
        # mapping, though each piece between the header lines may parse on its own.
        return None
    found: dict[str, tuple[int, int, str]] = {}  # key -> (line start, line end, value)
    has_items = False
    keyed = False
    for start in starts:
        first = text[start]
        if first == "-":
            if text.startswith("---", start):
                if keyed or not _MARKER_LINE.match(text, start):
                    return None
                continue
            if text.startswith("- ", start) or text.startswith("-\n", start) or text.startswith("-\r\n", start):
                if not keyed:
                    return None
                continue
        if first == "." and text.startswith("...", start):
            break  # the document's end marker: only comments may follow
        m = _TOP_KEY.match(text, start)
        if m is None:
            return None
        keyed = True
        key = m.group(1)
        if key in _HEADER_KEYS:
            value = _PLAIN_VALUE.fullmatch(m.group(2) or "")
            if value is None or not kube_yaml.plain_reads_as_itself(value.group(1)):
                return None
            found[key] = (start, m.end(), value.group(1))
        elif key == "items":
            has_items = True
    if "kind" not in found:
        return None
    # Validate what lies between the header lines, piece by piece (see above).
    cut = 0
    for start, end, _value in sorted(found.values()):
        if not _parses_alone(text[cut:start]):
            return None
        cut = end
        nxt = _next_content(text, cut)
        if nxt is not None and text[nxt] in (" ", "\t"):
            return None  # an indented line right after the value: a continuation (or an error)
    if not _parses_alone(text[cut:]):
        return None
    api = found.get("apiVersion")
    return (api[2] if api else None), found["kind"][2], has_items


_CONTENT_LINE = re.compile(r"^[ \t]*[^ \t\r\n#]", re.MULTILINE)


def _next_content(text: str, pos: int) -> int | None:
    """Start of the next line after ``pos`` that holds more than blanks and a comment."""
    m = _CONTENT_LINE.search(text, pos)
    return m.start() if m else None


def _parses_alone(piece: str) -> bool:
    try:
        _cyaml.CParser(piece).raw_parse()
    except (MarkedYAMLError, ReaderError):
        return False
    return True


def _not_an_object(obj) -> str | None:
    """Why ``obj`` is not an object (or list) kubectl and Helm accept, or None."""
    if not isinstance(obj, dict):
        kind = "a list" if isinstance(obj, list) else "a string" if isinstance(obj, str) else f"a {type(obj).__name__}"
        return f"is {kind}, not a mapping with apiVersion and kind"
    missing = [k for k in ("apiVersion", "kind") if not isinstance(obj.get(k), str) or not obj.get(k)]
    if missing:
        return f"has no {' and no '.join(missing)}"
    return None


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
        # A BOM right after this document's '---' line is skipped by kubectl (the line starts
        # one of the pieces it cuts the stream into); set by stream.DocumentReader.
        self.bom_ok = False

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
    def _scan(self):
        """(apiVersion, kind, has_items) proven by :func:`scan_header`, or None."""
        if self.void:
            return None
        return scan_header(self.text)

    @property
    def header(self) -> tuple[str | None, str | None]:
        """(apiVersion, kind) as Kubernetes reads them: from the data once it is built (rules may
        have changed them), else from the scan when it is sure, else from a parse."""
        if self.void:
            return None, None
        if not self._loaded:
            scan = self._scan
            if scan is not None:
                return scan[0], scan[1]
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

    @property
    def is_list(self) -> bool:
        """An ``items`` key at the top makes kubectl and Helm apply the items, whatever the kind."""
        if self.void:
            return False
        if not self._loaded:
            scan = self._scan
            if scan is not None:
                return scan[2]
        return kube_yaml.is_list(self.obj)

    # ---- nodes and data -------------------------------------------------------------------
    def _syntax(self, exc: locate.YAMLSyntaxError) -> InputError:
        what = "" if isinstance(exc, kube_yaml.KubeYAMLError) else "invalid YAML: "
        return InputError(
            f"{self.where(self.stream_line(exc.line))}: {what}{exc.problem};"
            " fix the chart or manifest that produced this document"
        )

    def validate(self) -> None:
        """Refuse a document that is not YAML, checked in C (the header scan already did it)."""
        if self.void or self._loaded or self._scan is not None:
            return
        try:
            locate.validate_document(self.text, self.bom_ok)
        except locate.YAMLSyntaxError as exc:
            raise self._syntax(exc) from None

    def check_manifest(self) -> None:
        """Refuse what kubectl and Helm cannot apply: a document must be empty, or an object with
        apiVersion and kind (a list too: any object with ``items``).  A list's items are not
        checked here: that would mean parsing every list (5 MB of dashboards in one
        ConfigMapList), and kubectl names a bad item itself."""
        if self.void or self.removed:
            return
        if not self._loaded:
            scan = self._scan
            if scan is not None:
                if scan[0] is None:
                    raise InputError(f"{self.where()}: not a Kubernetes manifest: it has kind {scan[1]} but no"
                                     " apiVersion; is this really a rendered manifest?")
                if "!!" not in self.text and "!<" not in self.text:
                    return
                # An explicit tag can make the document unreadable to Kubernetes (!!int abc):
                # read it (no real manifest in the corpus has one, so this costs nothing there).
        obj = self.obj
        if obj is None:
            return  # an empty document (comments only, or `null`): kubectl and Helm skip it
        problem = _not_an_object(obj)
        if problem:
            raise InputError(f"{self.where()}: not a Kubernetes manifest: {problem}; is this really a rendered"
                             " manifest (an error message or a values file on stdin)?")

    @cached_property
    def root(self) -> locate.Node | None:
        try:
            roots = locate.parse_document(self.text, self.bom_ok)
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
        """What Kubernetes reads from the document; rules mutate it in place, then :meth:`changed`."""
        if not self._loaded:
            reading = kube_yaml.Reading()
            try:
                self._obj = kube_yaml.read(self.root, reading)
            except locate.YAMLSyntaxError as exc:
                raise self._syntax(exc) from None
            # A snapshot of the data as read, for the splicer to diff against (a JSON round trip
            # in C is ~20x cheaper than reading the nodes again; the data is JSON by construction).
            self._original = json.dumps(self._obj, ensure_ascii=False)
            self._loaded = True
            self._warn_duplicates(reading)
        return self._obj

    def original_obj(self):
        """The document's data as it was read (a fresh copy)."""
        self.obj  # noqa: B018 - builds the snapshot
        return json.loads(self._original)

    def _warn_duplicates(self, reading) -> None:
        """Kubernetes keeps the last of duplicate keys; say so, since an edit follows that."""
        seen = set()
        for key, node, first in sorted(reading.duplicates.values(), key=lambda d: d[1].line):
            if node.line in seen:
                continue  # the same text reached again through an alias
            seen.add(node.line)
            self.warnings.append(
                f"{self.where(self.stream_line(node.line))}: duplicate key {key!r}"
                f" (first at line {self.stream_line(first.line)}); the last one wins, as in Kubernetes"
            )

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
