"""Bytes -> documents (exact text) -> bytes.

The stream is cut at YAML document markers only: a line that starts with ``---`` or ``...``
followed by white space or the end of the line.  The YAML spec forbids such a line inside any
node (it always ends the document), so cutting there never splits a value and needs no parse.
Each :class:`~postrender.document.Document` keeps its exact text; joining the texts gives the
input back byte for byte, which is what a config with no rules must produce.

A document's text is: any comments or directives after the previous ``...`` marker, its ``---``
line (absent for a first document that has none), the content, and its own ``...`` line.
Comments before the first ``---`` belong to the first document, as YAML reads them.  Text that
holds no YAML document at all (only comments after a final ``...``, or a comment-only input) is
kept as a *void* segment that is written back verbatim and never edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .document import Document
from .errors import InputError

_MARKER = re.compile(r"^(---|\.\.\.)(?=[ \t\r\n]|\Z)", re.MULTILINE)
# Only comments, blank lines and directives: text that carries no document of its own.
_NO_CONTENT = re.compile(r"\A(?:[ \t]*(?:#[^\r\n]*)?(?:\r?\n|\Z)|%[^\r\n]*(?:\r?\n|\Z))*\Z")
BOM = "\ufeff"


@dataclass
class Stream:
    documents: list[Document]
    bom: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        parts: list[str] = []
        for d in self.documents:
            piece = d.render()
            # A document added by a rule starts with its own '---' line; when the input's last
            # document has no final newline, that marker must still start a line of its own.
            if piece and parts and not parts[-1].endswith("\n"):
                crlf = "\r\n" in parts[-1] and not parts[-1].endswith("\r")
                parts.append("\r\n" if crlf else "\n")
            if piece:
                parts.append(piece)
        text = "".join(parts)
        return ((BOM if self.bom else "") + text).encode("utf-8")

    def yaml_documents(self) -> list[Document]:
        return [d for d in self.documents if not d.void]


def _has_content(text: str) -> bool:
    return not _NO_CONTENT.match(text)


def decode(data: bytes) -> tuple[str, bool]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"input: line {line}: the stream is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start});"
            " Kubernetes manifests must be UTF-8: re-encode the file"
        ) from None
    bom = text.startswith(BOM)
    if bom:
        text = text[1:]
    return text, bom


def split(text: str) -> list[tuple[str, int, bool]]:
    """Cut text into (segment, first_line, is_document) triples whose concatenation is text."""
    segments: list[tuple[str, int, bool]] = []
    pos = 0          # start of the pending segment
    pending_has_start = False  # the pending segment already contains its '---' line
    for m in _MARKER.finditer(text):
        if m.group(1) == "---":
            before = text[pos : m.start()]
            if pending_has_start or _has_content(before):
                segments.append((before, 0, True))
                pos = m.start()
            # else: comments/directives before this '---' prefix the coming document
            pending_has_start = True
        else:  # '...': ends the current document, the marker line stays with it
            eol = text.find("\n", m.end())
            end = len(text) if eol < 0 else eol + 1
            body = text[pos:end]
            if pending_has_start or _has_content(body[: m.start() - pos]):
                segments.append((body, 0, True))
            else:
                # A bare '...' with nothing before it: keep the text, it has no document.
                segments.append((body, 0, False))
            pos = end
            pending_has_start = False
    rest = text[pos:]
    if rest:
        segments.append((rest, 0, pending_has_start or _has_content(rest)))
    # Line numbers (1-based) where each segment starts, for messages.
    line = 1
    numbered = []
    for seg, _, is_doc in segments:
        numbered.append((seg, line, is_doc))
        line += seg.count("\n")
    return numbered


def parse_stream(data: bytes) -> Stream:
    text, bom = decode(data)
    docs: list[Document] = []
    index = 0
    for seg, first_line, is_doc in split(text):
        if is_doc:
            docs.append(Document(seg, index=index, first_line=first_line))
            index += 1
        else:
            docs.append(Document(seg, index=-1, first_line=first_line, void=True))
    return Stream(docs, bom=bom)
