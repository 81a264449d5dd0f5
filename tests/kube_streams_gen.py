"""Manifest streams that Go YAML reads differently from YAML 1.1/1.2, for the kubectl campaign.

Starts from ``fuzz_streams_gen.make_stream`` (real corpus objects in random YAML styles) and
adds, at random, what issue 11 lists as read differently by Kubernetes than by other readers:

* number forms (``-.5``, ``0X1F``, ``0o17``, ``-0B1``, ``-_1``, ``08``, ``1_``, ``.5_0``) as values
  and as keys, boolean and null spellings (``y``, ``On``, ``~``), sexagesimal-looking text;
* merge keys in every position (before and after own keys, lists of sources, ``!!merge <<``,
  ``! <<``, inline sources, two merges, quoted ``"<<"``);
* tags: ``!!str``, ``!!int "12"``, ``!!float 1``, ``!``, ``!!binary`` (also on ``kind`` and
  ``image``, where a rule must see through it), unknown tags;
* line breaks a line scan does not see (a lone CR, U+0085, U+2028, U+2029) inside documents;
* indented roots, a BOM right after a ``---`` line, duplicate keys;
* ``items`` on a kind that is not a ``*List`` (kubectl applies the items);
* a few inputs Kubernetes refuses (null keys, ``!!int abc``), which postrender must refuse too.

The generator does not claim to know what the text means: kubectl is asked.
"""

from __future__ import annotations

import base64
import json
import random
import re

from postrender.engine import kube_yaml
from tests.fuzz_streams_gen import SPELLINGS, TRICKY_STRINGS, Emitter, fragments, make_stream

NUMBER_FORMS = [text for text, _ in kube_yaml.EXAMPLES if text not in ("<<",)] + [
    "1e6", "+.5", "0x1p-2", "1.2.3", "0o8", "1__0", "09.5", "1:2:3", "TRUE", "tRUE", "Off", "0000",
    "-0x80000000_00000000", "0xffffffffffffffff", "1.0", "-0", "0.", "3.", "1_000.5", ".5e3",
]
KEY_FORMS = ["on", "y", "NO", "Off", "0x1F", "1.5", "1e6", "0.1", "123456.0", "2001-12-14", "12:30", "-.5",
             "0o17", "08", "1_", "True", "=", "a", "'on'", '"1"']
TAGGED = ["!!str 0755", "!!str on", "!!int '12'", "!!int \"0x1F\"", "!!float 1", "!!float '2.5'", "! 12", "! on",
          "!!bool yes", "!!bool 'Off'", "!!null ~", "!!null ''", "!foo bar", "!!timestamp 2001-12-14",
          "!<tag:yaml.org,2002:int> 7", "!!str {a: 1}", "!!set {a, b}", "!!seq [1, 2]"]
REFUSED = ["!!int abc", '!!float ""', "!!int 0x", "!!binary '%%%'", ".inf", ".NaN"]
ODD_BREAKS = ["\r", "\x85", "\u2028", "\u2029"]
B64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731

_KIND_LINE = re.compile(r"(?m)^kind:[ \t]+([A-Za-z][A-Za-z0-9]*)[ \t]*$")
_IMAGE_LINE = re.compile(r"(?m)^([ \t-]*image:[ \t]+)([A-Za-z0-9][^\s'\"#]*)[ \t]*$")
_BLOCK_DOC = re.compile(r"(?m)^[A-Za-z_][A-Za-z0-9_.-]*:")


def go_block(rng: random.Random, refused_p: float) -> str:
    """Lines of a top-level ``fuzzGo:`` mapping full of Go-only readings."""
    lines = ["fuzzGo:"]
    anchors = []
    for i in range(rng.randint(1, 6)):
        choice = rng.random()
        if choice < 0.25:
            lines.append(f"  n{i}: {rng.choice(NUMBER_FORMS)}")
        elif choice < 0.35:
            lines.append(f"  {rng.choice(KEY_FORMS)}: k{i}")
        elif choice < 0.5:
            lines.append(f"  t{i}: {rng.choice(TAGGED)}")
        elif choice < 0.58:
            lines.append(f"  b{i}: !!binary {B64(rng.choice(['on', '0755', 'ünï', 'a: b', 'x' * 40]))}")
        elif choice < 0.62 and refused_p and rng.random() < refused_p:
            lines.append(f"  r{i}: {rng.choice(REFUSED)}" if rng.random() < 0.7 else "  null: r")
        else:
            name = f"m{i}"
            lines.append(f"  base{i}: &{name} {{p: 1, q: {rng.choice(NUMBER_FORMS)}}}")
            anchors.append(name)
            form = rng.choice(["after", "before", "list", "tagged", "bang", "inline", "two", "quoted", "alias"])
            lines.append(f"  merged{i}:")
            if form == "after":
                lines += [f"    <<: *{name}", "    p: 9"]
            elif form == "before":
                lines += ["    p: 9", f"    <<: *{name}"]
            elif form == "list" and len(anchors) > 1:
                lines += [f"    <<: [*{anchors[-1]}, *{anchors[-2]}]", "    r: 3"]
            elif form == "tagged":
                lines += [f"    !!merge <<: *{name}"]
            elif form == "bang":
                lines += [f"    ! <<: *{name}"]
            elif form == "inline":
                lines += ["    q: 0", "    <<: {q: 5, s: on}"]
            elif form == "two" and len(anchors) > 1:
                lines += [f"    <<: *{anchors[-2]}", "    p: 7", f"    <<: *{name}"]
            elif form == "quoted":
                lines += [f"    '<<': *{name}"]
            else:
                lines[-1] = f"  merged{i}: *{name}"
    return "\n".join(lines) + "\n"


def _is_block_document(body: str) -> bool:
    stripped = body.lstrip()
    return bool(stripped) and not stripped.startswith(("{", "[", '"')) and _BLOCK_DOC.search(body) is not None


def mutate_document(text: str, rng: random.Random, refused_p: float) -> str:
    """Go-specific constructs in one document's text (its '---' line and comments kept)."""
    head, body = _split_head(text)
    if not _is_block_document(body) or "\n...\n" in body:
        return text
    tail = ""
    if body.endswith("...\n"):
        body, tail = body[:-4], "...\n"
    if rng.random() < 0.35 and re.search(r"(?m)^[A-Za-z]", body):
        if not body.endswith("\n"):
            body += "\n"
        body += go_block(rng, refused_p)
    if rng.random() < 0.08:
        body = _KIND_LINE.sub(lambda m: f"kind: !!binary {B64(m.group(1))}", body, count=1)
    if rng.random() < 0.1:
        body = _IMAGE_LINE.sub(lambda m: f"{m.group(1)}!!binary {B64(m.group(2))}", body, count=1)
    if rng.random() < 0.05:
        m = _KIND_LINE.search(body)
        if m:  # an earlier kind line that the real one overrides (the last key wins)
            body = "kind: ConfigMap\n" + body
    if rng.random() < 0.08:
        body = _odd_breaks(body, rng)
    if rng.random() < 0.06:
        body = "".join(("  " + line if line.strip() else line) for line in body.splitlines(keepends=True))
    if rng.random() < 0.04 and re.search(r"(?m)^---[ \t]*(?:#[^\n]*)?\n\Z", head):
        body = "\ufeff" + body
    return head + body + tail


def _split_head(text: str) -> tuple[str, str]:
    """(comments and the '---' line, the content)."""
    m = re.match(r"(?s)((?:[ \t]*(?:#[^\n]*)?\n|%[^\n]*\n)*(?:---[ \t]*(?:#[^\n]*)?\n)?)(.*)", text)
    return m.group(1), m.group(2)


def _odd_breaks(body: str, rng: random.Random) -> str:
    """Replace a few line feeds inside the content by other YAML line breaks (never one before a
    '---' or '...' line: both kubectl and postrender cut documents at line feeds only)."""
    positions = [m.start() for m in re.finditer(r"\n(?!---|\.\.\.)(?=.)", body)]
    for pos in rng.sample(positions, min(len(positions), rng.randint(1, 3))):
        body = body[:pos] + rng.choice(ODD_BREAKS) + body[pos + 1:]
    return body


def items_document(rng: random.Random) -> str:
    """A kind that is not a *List, with items (kubectl applies the items, not the object)."""
    frags = fragments()
    members = [json.loads(json.dumps(rng.choice(frags).obj)) for _ in range(rng.randint(1, 3))]
    members = [m for m in members if not kube_yaml.is_list(m)]
    obj = {"apiVersion": "v1", "kind": rng.choice(["ConfigMap", "Secret", "Pod"]),
           "metadata": {"name": "holder"}, "items": members}
    return "---\n" + Emitter(rng, set()).block_map(obj, 0)


def decorate_untyped(obj: dict, rng: random.Random) -> dict:
    """Tricky strings and spellings in a field Kubernetes does not type (``fuzzExtra``): in
    annotations, a value Go reads as a number makes kubectl refuse the object for its schema,
    which says nothing about YAML."""
    obj = json.loads(json.dumps(obj))
    if rng.random() < 0.7:
        extra = {f"s{i}": rng.choice(TRICKY_STRINGS) for i in range(rng.randint(1, 4))}
        extra.update({f"v{i}": rng.choice(list(SPELLINGS)) for i in range(rng.randint(0, 3))})
        obj["fuzzExtra"] = extra
    return obj


def make_kube_stream(rng: random.Random, n_docs: int, refused_p: float = 0.1) -> bytes:
    pieces, crlf, bom = make_stream(rng, n_docs, decorate=decorate_untyped)
    for piece in pieces:
        # Stream forms kubectl refuses or ignores and postrender reads as YAML (with a warning,
        # tested in tests/test_stream_forms.py): directives and '...'-only documents.
        piece.text = re.sub(r"(?m)^%[^\n]*\n", "", piece.text)
        if piece.obj is None:
            piece.text = re.sub(r"(?m)^\.\.\.[^\n]*\n?", "", piece.text)
    texts = [mutate_document(p.text, rng, refused_p) for p in pieces]
    if rng.random() < 0.15:
        at = rng.randint(1, len(texts))
        if not texts[at - 1].endswith("\n"):
            texts[at - 1] += "\n"
        texts.insert(at, items_document(rng))
    # kubectl refuses content on a '---' line: start it on the next line; and it reads a stream
    # that starts with '{' as JSON, refusing a '...' after it (postrender warns,
    # tests/test_stream_forms.py): start such a stream with '---'.
    text = re.sub(r"(?m)^--- ([\[{])", r"---\n\1", "".join(texts))
    if text.lstrip().startswith("{"):
        text = "---\n" + text
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
