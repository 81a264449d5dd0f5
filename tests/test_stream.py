"""Stream handling: every edge case must come back byte-for-byte with no rules, and parse."""

from __future__ import annotations

import pytest

from postrender.config.loader import load_config_text
from postrender.pipeline import run_stream
from postrender.engine.stream import parse_stream, split
from tests.conftest import CONFIG_HEADER

NO_RULES = load_config_text(CONFIG_HEADER + "rules: []\n", "test.yaml")

# Every document a manifest (a document that is not one is refused: test_non_manifests.py).
H = b"apiVersion: v1\nkind: ConfigMap\n"
EDGE_CASES = {
    "empty": b"",
    "only-newline": b"\n",
    "first-doc-without-marker": b"apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\n",
    "document-end-markers": b"---\n" + H + b"a: 1\n...\n---\n" + H + b"b: 2\n...\n",
    "comment-after-end-marker": H + b"a: 1\n...\n# trailing comment\n",
    "directive-after-end-marker": H + b"a: 1\n...\n%YAML 1.1\n---\n" + H + b"b: 2\n",
    "comments-before-first": b"# header\n# more\n---\n" + H + b"a: 1\n",
    "comment-only-document": b"---\n# Source: chart/templates/empty.yaml\n---\n" + H + b"a: 1\n",
    "empty-documents": b"---\n---\n---\n" + H + b"a: 1\n---\n",
    "no-trailing-newline": b"---\n" + H + b"a: 1\n---\n" + H + b"b: 2",
    "crlf": b"---\r\napiVersion: v1\r\nkind: ConfigMap\r\ndata:\r\n  a: \"on\"\r\n",
    "bom": b"\xef\xbb\xbf---\napiVersion: v1\nkind: ConfigMap\n",
    "tabs-in-block-scalar": H + b"data:\n  script: |\n    if x; then\n    \techo hi\n    fi\n",
    "long-line": H + b"data:\n  x: " + b"y" * 100_000 + b"\n",
    "non-ascii": H + "metadata:\n  annotations:\n    note: \"caf\u00e9 \u2013 \u21d2 \u201cq\u201d\"\n".encode(),
    "flow-and-block": H + b"a: {b: [1, 2], c: {d: e}}\nf:\n- g\n-   h: i\n",
    "anchors-and-merge": H + b"base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\nref: *b\n",
    "plain-equals": H + b"enum: ['!=', =, =~, '!~']\n",
    "json-document": b'{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}\n',
    "list-kind": b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n",
    "yaml11-quoted": H + b"a: \"yes\"\nb: 'no'\nc: 'Off'\nd: \"0755\"\ne: \"9402\"\nf: 12345678901234567890123\n",
    "marker-with-content": b"--- {apiVersion: v1, kind: ConfigMap}\n--- {apiVersion: v1, kind: Secret}\n",
    "dashes-in-block-scalar-indented": H + b"a: |\n  ---\n  not a marker\n",
    "duplicate-keys": H + b"a: 1\na: 2\n",
    "helm4-annotation": H + b"metadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: chart/templates/x.yaml\n",
}


@pytest.mark.parametrize("data", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_identity_without_rules(data):
    assert run_stream(NO_RULES, data).output == data


@pytest.mark.parametrize("data", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_split_is_lossless(data):
    text = data.decode("utf-8").lstrip("\ufeff")
    assert "".join(seg for seg, _, _ in split(text)) == text


@pytest.mark.parametrize(
    "data, count",
    [
        (b"", 0),
        (b"a: 1\n", 1),
        (b"---\na: 1\n---\nb: 2\n", 2),
        (b"# only a comment\n", 0),
        (b"---\n# Source: x\n---\na: 1\n", 2),        # the comment-only document counts
        (b"a: 1\n...\n# trailing\n", 1),
        (b"# header\n---\na: 1\n", 1),                 # comments before the first --- belong to it
        (b"a: 1\n...\n---\nb: 2\n", 2),
        (b"---\n---\n", 2),
    ],
)
def test_document_count(data, count):
    assert len(parse_stream(data).yaml_documents()) == count


def test_names_come_from_helm_source_comment_and_annotation():
    data = EDGE_CASES["comment-only-document"] + b"---\nmetadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: c/templates/y.yaml\n"
    docs = parse_stream(data).yaml_documents()
    assert docs[0].where(5) == "document 1 (chart/templates/empty.yaml), line 5"
    assert docs[2].where() == "document 3 (c/templates/y.yaml)"


def test_header_is_read_without_parsing_simple_documents():
    doc = parse_stream(b"apiVersion: apps/v1\nkind: Deployment\nspec: {}\n").yaml_documents()[0]
    assert doc.header == ("apps/v1", "Deployment")
    assert not doc.loaded


@pytest.mark.parametrize(
    "text, header",
    [
        ('{"apiVersion": "v1", "kind": "Pod"}\n', ("v1", "Pod")),
        ("'kind': Pod\napiVersion: v1\n", ("v1", "Pod")),
        ("kind: \"Pod\"\napiVersion: v1\n", ("v1", "Pod")),
        ("kind: Pod\nkind: Deployment\n", (None, "Deployment")),   # duplicate: last wins, as Kubernetes
        ("a: \"x\nkind: Fake\"\nkind: Pod\n", (None, "Pod")),       # a continuation line is not a key
    ],
)
def test_header_falls_back_to_a_parse_when_text_is_not_simple(text, header):
    assert parse_stream(text.encode()).yaml_documents()[0].header == header


def test_a_document_added_after_a_crlf_stream_ending_without_a_line_break_gets_a_crlf():
    """The stream's last piece is '--- ' (no line break): the break added before the new
    document is the stream's CRLF, not an LF (found by the stream fuzz, example 22437)."""
    from tests.conftest import run_rules

    data = b"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n--- "
    rules = "rules:\n- resources: {inline: 'apiVersion: v1\n\n    kind: ConfigMap\n\n    metadata: {name: b}\n\n'}\n"
    out = run_rules(rules, data).output
    assert b"name: b" in out
    assert b"\n" not in out.replace(b"\r\n", b""), out


# Marker lines and lookalikes where the splitter's two marker patterns meet: the first line of
# the stream, the first line of a chunk, CRLF, a tab, a comment, the end without a line break.
MARKER_STREAMS = {
    "marker-first": b"---\n" + H + b"---\n" + H,
    "lookalikes": H + b"b: '\n---x\n  y'\nc: |\n  x\n----\n---\t# c\n" + H,
    "crlf-markers": b"---\r\n" + H.replace(b"\n", b"\r\n") + b"...\r\n---\r\n" + H.replace(b"\n", b"\r\n"),
    "end-without-break": H + b"---\n" + H + b"...",
    "marker-at-end": H + b"---",
    "dots-then-doc": H + b"...\n# c\n---\n" + H,
}


def _segments(data: bytes, size: int) -> list:
    from postrender.engine.stream import Splitter

    splitter = Splitter(bytes)
    out = []
    for i in range(0, len(data), size):
        out += splitter.feed(data[i:i + size])
    return out + splitter.finish()


@pytest.mark.parametrize("data", [*EDGE_CASES.values(), *MARKER_STREAMS.values()],
                         ids=[*EDGE_CASES.keys(), *MARKER_STREAMS.keys()])
def test_segments_do_not_depend_on_how_the_input_is_chunked(data):
    """Fed in chunks of any size (a marker split across two reads, a chunk starting on a marker
    line), the stream is cut exactly as when read whole, and the '---' lines that open documents
    are exactly the lines (?m)^--- finds."""
    import re

    whole = _segments(data, max(1, len(data)))
    for size in (1, 2, 3, 4, 5, 7, 16):
        assert _segments(data, size) == whole, size
    assert b"".join(seg for seg, *_ in whole) == data
    # Each such line opens the segment it is in: before it, that segment holds only blank,
    # comment and directive lines (which belong to the document the marker opens).
    prefix = re.compile(rb"(?:\xef\xbb\xbf)?(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\n)*")
    for m in re.finditer(rb"(?m)^---(?=[ \t\r\n]|\Z)", data):
        seg, _, _, offset = next(s for s in whole if s[3] <= m.start() < s[3] + len(s[0]))
        assert prefix.fullmatch(data[offset:m.start()]), (m.start(), seg)
