"""Bytes -> documents (exact text) -> bytes.

The stream is cut at YAML document markers only: a line that starts with ``---`` or ``...``
followed by white space or the end of the line.  The YAML spec forbids such a line inside any
node (it always ends the document), so cutting there never splits a value and needs no parse.
Each :class:`~postrender.engine.document.Document` keeps its exact text; joining the texts gives the
input back byte for byte, which is what a config with no rules must produce.

A document's text is: any comments or directives after the previous ``...`` marker, its ``---``
line (absent for a first document that has none), the content, and its own ``...`` line.
Comments before the first ``---`` belong to the first document, as YAML reads them.  Text that
holds no YAML document at all (only comments after a final ``...``, or a comment-only input) is
kept as a *void* segment that is written back verbatim and never edited.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

from postrender.engine.document import Document
from postrender.errors import InputError
from postrender.records import Record

_MARKER = r"^(---|\.\.\.)(?=[ \t\r\n]|\Z)"
# Only comments, blank lines and directives: text that carries no document of its own.
_NO_CONTENT = r"\A(?:[ \t]*(?:#[^\r\n]*)?(?:\r?\n|\Z)|%[^\r\n]*(?:\r?\n|\Z))*\Z"
# The same patterns for text (str) and for raw input (bytes): both are ASCII-only, and no UTF-8
# multi-byte sequence contains an ASCII byte, so cutting bytes cuts exactly where text would.
# A marker line is found as a line break followed by the marker (plus a match at the start of
# the text, which the splitter only hands over at a line start): a pattern that begins with a
# literal lets sre skip ahead to each line break, where (?m)^ made it try every position (7x
# slower over stress.yaml's 11 MB, about a tenth of the whole run).
_PATTERNS = {
    kind: (re.compile(conv(_MARKER)), re.compile(conv("\n" + _MARKER[1:])), re.compile(conv(_NO_CONTENT)))
    for kind, conv in ((str, str), (bytes, str.encode))
}
BOM = "\ufeff"
BOM_BYTES = BOM.encode("utf-8")
# Input is read in chunks of this size: memory then follows the largest document, not the
# stream (issue 7: a 200 MB stream of small documents must not need a multiple of 200 MB).
READ_CHUNK = 1 << 20
# A document larger than this is refused while it is being read, so memory stays bounded by a
# few times this size whatever the input.  No Kubernetes object comes near it: etcd stores at
# most 1.5 MiB per object and the API server refuses request bodies over 3 MB; the largest
# real CRDs are ~1-2 MB.  A 100 MB scalar is refused in about a second (issue 7).
MAX_DOCUMENT_BYTES = 16 << 20


class DocumentTooLarge(Exception):
    def __init__(self, line: int, head):
        super().__init__(line)
        self.line = line    # 1-based line of the stream where the document starts
        self.head = head    # its first bytes, to find a '# Source:' comment


class Stream(Record):
    _fields = ("documents", "bom")

    def __init__(self, documents: list[Document], bom: bool = False):
        self.documents = documents
        self.bom = bom

    def yaml_documents(self) -> list[Document]:
        return [d for d in self.documents if not d.void]


class StreamWriter:
    """Writes rendered documents one by one (no joined copy of the whole output)."""

    def __init__(self, sink, bom: bool):
        self.sink = sink
        self.started = False
        self.ends_with_newline = True
        self.crlf = False
        if bom:
            sink.write(BOM_BYTES)

    def write(self, piece: str) -> None:
        if not piece:
            return
        # A document added by a rule starts with its own '---' line; when the input's last
        # document has no final newline, that marker must still start a line of its own.
        if self.started and not self.ends_with_newline:
            self.sink.write(b"\r\n" if self.crlf else b"\n")
        self.sink.write(piece.encode("utf-8"))
        self.started = True
        self.ends_with_newline = piece.endswith("\n")
        if "\n" in piece:  # a last piece with no line break ("--- ") says nothing about the stream's
            self.crlf = "\r\n" in piece and not piece.endswith("\r")


class Splitter:
    """Cuts a stream fed in chunks into (segment, first_line, is_document, offset) tuples.

    Works on ``str`` or ``bytes`` alike.  Only complete lines are examined (a marker's look-ahead
    needs the character after it), and a chunk without a newline is only stored: a 100 MB
    single-line scalar is joined once, not once per chunk.
    """

    def __init__(self, kind: type = str, limit: int | None = None):
        self._limit = limit                # refuse a segment longer than this (DocumentTooLarge)
        self._size = 0                     # length of pending + tail
        self._marker_at_start, self._marker_after_break, self._no_content = _PATTERNS[kind]
        self._empty = kind()
        self._nl = "\n" if kind is str else b"\n"
        self._pending: list = []           # complete lines of the segment being built
        self._pending_content = False      # ... holding more than comments/directives/blanks
        self._pending_has_start = False    # ... already holding its '---' line
        self._tail: list = []              # an incomplete last line
        self._line = 1                     # 1-based line where the pending segment starts
        self.offset = 0                    # stream offset of the pending segment

    def feed(self, chunk) -> list:
        if not chunk:
            return []
        self._size += len(chunk)
        cut = chunk.rfind(self._nl)
        if cut < 0:
            self._tail.append(chunk)
            self._check()
            return []
        region = self._empty.join(self._tail + [chunk[: cut + 1]]) if self._tail else chunk[: cut + 1]
        self._tail = [chunk[cut + 1 :]] if cut + 1 < len(chunk) else []
        out = self._scan(region)
        self._check()
        return out

    def _check(self) -> None:
        if self._limit is not None and self._size > self._limit:
            head = (self._pending or self._tail or [self._empty])[0][:4096]
            raise DocumentTooLarge(self._line, head)

    def finish(self) -> list:
        out = []
        if self._tail:
            region = self._empty.join(self._tail)
            self._tail = []
            out = self._scan(region)
        if self._pending:
            out.append(self._emit(self._pending_has_start or self._pending_content))
        return out

    def _add(self, piece) -> None:
        if piece:
            self._pending.append(piece)
            if not self._pending_content and not self._no_content.match(piece):
                self._pending_content = True

    def _emit(self, is_doc: bool):
        seg = self._empty.join(self._pending)
        if self._limit is not None and len(seg) > self._limit:
            raise DocumentTooLarge(self._line, seg[:4096])
        self._size -= len(seg)
        # A directive no '---' follows (at '...' or the end) is invalid YAML: validate it as a document.
        is_doc = is_doc or re.search(r"(?m)^%" if isinstance(seg, str) else rb"(?m)^%", seg) is not None
        out = (seg, self._line, is_doc, self.offset)
        self._line += seg.count(self._nl)
        self.offset += len(seg)
        self._pending, self._pending_content, self._pending_has_start = [], False, False
        return out

    def _scan(self, text) -> list:
        out = []
        pos = 0  # start of text not yet added to the pending segment
        first = self._marker_at_start.match(text)
        markers = self._marker_after_break.finditer(text)
        for m in (markers if first is None else itertools.chain((first,), markers)):
            start = m.start(1)
            if len(m.group(1)) == 3 and m.group(1)[:1] in ("-", b"-"):
                self._add(text[pos:start])
                pos = start
                if self._pending_has_start or self._pending_content:
                    out.append(self._emit(True))
                # else: comments/directives before this '---' prefix the coming document
                self._pending_has_start = True
            else:  # '...': ends the current document, the marker line stays with it
                self._add(text[pos:start])
                has_doc = self._pending_has_start or self._pending_content
                eol = text.find(self._nl, m.end())
                end = len(text) if eol < 0 else eol + 1
                self._pending.append(text[start:end])
                # A bare '...' with nothing before it: keep the text, it has no document.
                out.append(self._emit(has_doc))
                pos = end
        self._add(text[pos:])
        return out


def decode(data: bytes, offset: int = 0, line: int = 1) -> str:
    """UTF-8 text of a segment that starts at byte ``offset`` and line ``line`` of the stream."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line += data[: exc.start].count(b"\n")
        raise InputError(
            f"input: line {line}: the stream is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {offset + exc.start});"
            " Kubernetes manifests must be UTF-8: re-encode the file"
        ) from None


def split(text: str) -> list[tuple[str, int, bool]]:
    """Cut text into (segment, first_line, is_document) triples whose concatenation is text."""
    splitter = Splitter(str)
    return [(seg, line, is_doc) for seg, line, is_doc, _ in splitter.feed(text) + splitter.finish()]


class DocumentReader:
    """Documents of a byte stream read chunk by chunk; ``bom`` is known after the first one."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = chunks
        self.bom = False

    def __iter__(self) -> Iterator[Document]:
        splitter = Splitter(bytes, limit=MAX_DOCUMENT_BYTES)
        index = 0
        skip = -1  # bytes before the first segment (a BOM); -1 until the first chunk
        pieces = _KubectlPieces()
        try:
            for chunk in self._chunks:
                if skip < 0 and chunk:
                    skip = 0
                    if chunk.startswith(BOM_BYTES):
                        self.bom, skip, chunk = True, len(BOM_BYTES), chunk[len(BOM_BYTES):]
                for segment in splitter.feed(chunk):
                    yield pieces.follow(self._document(segment, index, skip))
                    index += segment[2]
            for segment in splitter.finish():
                yield pieces.follow(self._document(segment, index, skip))
                index += segment[2]
        except DocumentTooLarge as exc:
            raise _too_large(exc, index) from None

    @staticmethod
    def _document(segment, index: int, skip: int) -> Document:
        seg, line, is_doc, offset = segment
        # Offsets in messages count bytes of the input as given, BOM included.
        text = decode(seg, max(skip, 0) + offset, line)
        if is_doc:
            doc = Document(text, index=index, first_line=line)
            problem = kubernetes_stream_problem(text, index)
            if problem:
                doc.warnings.append(f"{doc.where()}: {problem}")
            return doc
        return Document(text, index=-1, first_line=line, void=True)


class _KubectlPieces:
    """Follows how kubectl's YAMLReader cuts the stream, to know where go-yaml skips a BOM.

    It reads line by line; a '---' line ends the piece read so far when that is not empty (the
    line itself is dropped, and the next piece starts after it), and is kept as an ordinary line
    of the piece when it is (so a stream's first '---' line is part of its first piece).  go-yaml
    skips a BOM only at the start of a piece.
    """

    def __init__(self):
        self.buffered = False  # kubectl's piece so far holds some line
        self.first = True      # no document with text seen yet

    def follow(self, doc: Document) -> Document:
        if self.first and doc.text.strip():
            self.first = False
            if doc.text.lstrip().startswith("{") and _END_LINE.search(doc.text):
                doc.warnings.append(
                    f"{doc.where()}: the stream starts with '{{', so kubectl and Helm read its first document as"
                    " JSON and refuse the '...' after it; remove the '...' line")
        marker = _OWN_MARKER.search(doc.text) if not doc.void else None
        if marker is None:
            self.buffered = self.buffered or bool(doc.text)
            return doc
        if marker.start() > 0:
            self.buffered = True  # comments before the '---' line
        doc.bom_ok = self.buffered
        # Dropped (ends the piece) or kept as a line of it; then the document's own lines.
        self.buffered = not self.buffered or marker.end() < len(doc.text)
        return doc


_END_LINE = re.compile(r"^\.\.\.(?=[ \t\r\n]|\Z)", re.MULTILINE)
_OWN_MARKER = re.compile(r"^---(?=[ \t\r\n]|\Z)[^\n]*(?:\n|\Z)", re.MULTILINE)
_END_ONLY = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\n)*---[^\n]*\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*\.\.\.")


def kubernetes_stream_problem(text: str, index: int) -> str | None:
    """How kubectl and Helm read this document differently from YAML, or None.

    They cut a stream at lines that start with ``---`` and hand each piece to go-yaml, which
    reads only its first document.  So content on a ``---`` line (``--- {...}``) and directives
    (``%YAML``) are errors to them, a piece that is only ``...`` is an error, and a document
    after ``...`` with no ``---`` of its own is never read.  postrender reads such streams as
    YAML does (and as it always has), and says so here.
    """
    head = text[:text.find("\n", text.find("---")) + 1] if "---" in text else ""
    marker = re.search(r"(?m)^---(.*)$", head)
    if marker is None:
        if index > 0:
            return ("no '---' line starts this document (it follows a '...'): kubectl and Helm read only the"
                    " first document of each '---' piece and ignore this one; put '---' before it")
    elif marker.group(1).strip() and not marker.group(1).strip().startswith("#"):
        return ("content on the '---' line: kubectl and Helm refuse it ('invalid Yaml document separator');"
                " start the document on the next line")
    if text.startswith("%") or "\n%" in text:
        return "a YAML directive (%...): kubectl and Helm cut it off from its document and refuse it; remove it"
    if text.find("...") >= 0 and _END_ONLY.match(text):
        return "a document that is only '...': kubectl and Helm refuse it; remove the '...' line"
    return None


def _too_large(exc: DocumentTooLarge, index: int) -> InputError:
    doc = Document(exc.head.decode("utf-8", "replace"), index=index, first_line=exc.line)
    return InputError(
        f"{doc.where(exc.line)}: the document is larger than {MAX_DOCUMENT_BYTES >> 20} MiB;"
        " no Kubernetes object can be that large (etcd stores at most 1.5 MiB):"
        " check the chart or values that produced it (a file pulled in with .Files.Get?)"
    )


def chunks_of(fh, size: int = READ_CHUNK) -> Iterator[bytes]:
    while True:
        chunk = fh.read(size)
        if not chunk:
            return
        yield chunk


def parse_stream(data: bytes) -> Stream:
    reader = DocumentReader([data])
    docs = list(reader)
    return Stream(docs, bom=reader.bom)
