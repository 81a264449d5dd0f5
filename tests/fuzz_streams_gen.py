"""Manifest streams for the fuzz tests: real corpus objects, re-written in random YAML styles.

A generated stream is a list of :class:`Piece` (one YAML document each, plus the comments and
markers around it) whose texts concatenate to the stream.  Each piece knows the data it holds
(``obj``, as PyYAML's SafeLoader = YAML 1.1 reads it), so the test can compute the expected
result of the rules on plain data, without postrender's code.

Styles: the corpus text verbatim, a block emitter with random indentation, sequence indentation,
flow collections, plain/single/double/literal scalars, YAML 1.1 spellings of booleans and
numbers, anchors and aliases for repeated subtrees, merge keys (`<<: *base`) in containers; JSON
documents; comment-only documents.
Around documents: comments, blank lines, ``---`` (with a comment or a flow body on the marker
line), ``...``, a ``%YAML 1.1`` directive, no final newline, CRLF, a BOM.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from tests.conftest import CORPUS_FILES, DOCUMENT_START

# Small and medium corpus files: every kind of object, fast enough for hundreds of examples.
FRAGMENT_FILES = [p for p in CORPUS_FILES if p.stat().st_size < 400_000]
MAX_FRAGMENT_BYTES = 30_000

# Strings Kubernetes (YAML 1.1) would read as something else if written plain.
TRICKY_STRINGS = [
    "on", "off", "On", "OFF", "yes", "no", "Yes", "NO", "y", "n", "Y", "N", "true", "False",
    "null", "Null", "~", "", "0755", "0o17", "0x1F", "1e3", "1.5e3", "6.02e+23", "-0", "+12",
    "123456789012345678901234567890", ".inf", "-.Inf", ".NaN", "1:20", "190:20:30",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "=", "<<", "a: b", "#x", "x #y", "- x",
    "[1]", "{a}", "*x", "&y", "!t", "|", ">", "@at", "`tick", "%p", " lead", "trail ",
    "multi\nline\n", "no final newline\nsecond", "tab\tx", "quote'\"", "ünïcödé", "emoji 🎉",
    "back\\slash", "1_000", "0b101", "+.5", "12e03", "3.", "0.", "1__0",
]
# Non-string scalars in YAML 1.1 spellings; value -> spellings SafeLoader reads as that value.
SPELLINGS = {
    # (PyYAML does not read y/n as booleans; the YAML 1.1 spec and go-yaml v2 do.)
    True: ["true", "True", "TRUE", "yes", "Yes", "on", "ON"],
    False: ["false", "False", "no", "NO", "off", "Off"],
    None: ["null", "~", "Null", "NULL", ""],
    # Only spellings go-yaml v2 reads as the same value (YAML 1.1's sexagesimal 8:13 is a string
    # to Kubernetes): the oracle reads with PyYAML, so the two readers must agree on every text.
    493: ["493", "0755", "0x1ed", "+493", "0b111101101"],
    1000: ["1000", "1_000", "0x3e8"],
    123456789012345678901234567890: ["123456789012345678901234567890"],
    -7: ["-7", "-0x7", "-07"],
    1500.0: ["1500.0", "1.5e+3", "1_500.0"],   # (not 1000.0: a dict key equal to 1000)
    0.5: ["0.5", ".5", "+0.5", "5.0e-1"],
}
# Plain scalars go-yaml v2 reads as booleans or null (its resolve table), besides numbers.
GO_NOT_STRINGS = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
                  "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "", "<<", "="}


class Merged(dict):
    """A mapping written with a YAML merge key: ``<<: *base`` plus its own keys.

    It holds all its keys (what SafeLoader reads); ``base`` is the mapping merged in, which the
    document writes (anchored) before it.
    """

    def __init__(self, data: dict, base: dict):
        super().__init__(data)
        self.base = base


@dataclass
class Fragment:
    obj: dict
    text: str | None    # exact corpus text when the object is taken verbatim


def _load(text: str):
    return yaml.load(text, Loader=yaml.CSafeLoader)


@lru_cache(maxsize=1)
def fragments() -> tuple[Fragment, ...]:
    out = []
    for path in FRAGMENT_FILES:
        text = path.read_text(encoding="utf-8")
        cuts = [0] + [m.start() for m in DOCUMENT_START.finditer(text)] + [len(text)]
        for a, b in zip(cuts, cuts[1:]):
            segment = text[a:b]
            if not segment or len(segment) > MAX_FRAGMENT_BYTES:
                continue
            # The text after the '---' line: comments (# Source: ...) and the object, verbatim.
            body = segment.partition("\n")[2] if segment.startswith("---") else segment
            obj = _load(body)
            if isinstance(obj, dict) and isinstance(obj.get("kind"), str):
                out.append(Fragment(obj, body))
    # Derived from real objects: a CronJob and a Pod from each workload's pod template.
    derived = []
    for f in out:
        template = (f.obj.get("spec") or {}).get("template") if isinstance(f.obj.get("spec"), dict) else None
        if f.obj["kind"] in ("Deployment", "DaemonSet") and isinstance(template, dict):
            meta = f.obj.get("metadata") or {}
            derived.append(Fragment({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": f"{meta.get('name', 'x')}-cron", "namespace": meta.get("namespace", "default")},
                "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": copy.deepcopy(template)}}},
            }, None))
            derived.append(Fragment({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": copy.deepcopy(template.get("metadata") or {"name": "pod"}),
                "spec": copy.deepcopy(template.get("spec")),
            }, None))
    return tuple(out + derived)


# ---- the emitter -----------------------------------------------------------------------------

_PLAIN_OK = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./=+@()-]*(?: [A-Za-z0-9_./=+@()-]+)*")
_FLOW_PLAIN_OK = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./=+@()-]*")


@lru_cache(maxsize=20000)
def plain_reads_as_itself(s: str) -> bool:
    """PyYAML and go-yaml v2 both read the plain text as this string.  For Go, conservatively:
    nothing that starts like a number (digit, sign, dot) and none of its boolean/null words."""
    if s in GO_NOT_STRINGS or s[:1] in "0123456789+-.":
        return False
    try:
        return _load(s) == s and isinstance(_load(s), str)
    except yaml.YAMLError:
        return False


def double_quoted(s: str, escape_non_ascii: bool) -> str:
    """A YAML double-quoted scalar (JSON's escapes, but \\U for characters beyond the BMP:
    YAML has no surrogate-pair escapes)."""
    text = json.dumps(s, ensure_ascii=False)
    if escape_non_ascii:
        text = "".join(c if ord(c) < 128 else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
                       for c in text)
    return text


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class Emitter:
    """Random-style YAML text for plain data; SafeLoader reads the text back as the data."""

    def __init__(self, rng: random.Random, repeated: set[str]):
        self.rng = rng
        self.indent = rng.choice([2, 2, 2, 4, 3])
        self.seq_indented = rng.random() < 0.5   # "key:\n  - x" rather than "key:\n- x"
        self.flow_p = rng.choice([0.0, 0.05, 0.3])
        self.spell_p = rng.choice([0.0, 0.5, 1.0])
        self.anchor_p = rng.choice([0.0, 0.5, 1.0])
        self.repeated = repeated
        self.anchors: dict[str, str] = {}
        self.merge_bases: dict[int, str] = {}   # id(base mapping) -> anchor name

    # scalars
    def scalar(self, value, flow: bool) -> str:
        if isinstance(value, str):
            return self.string(value, flow)
        if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
            for known, spellings in SPELLINGS.items():
                if type(known) is type(value) and known == value and self.rng.random() < self.spell_p:
                    spelling = self.rng.choice(spellings)
                    if spelling or not flow:
                        return spelling
            if value is None:
                return "null"
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, float):
                return yaml.safe_dump(value).split("\n")[0]
            return str(value)
        raise TypeError(type(value))

    def string(self, s: str, flow: bool) -> str:
        plain = (_FLOW_PLAIN_OK if flow else _PLAIN_OK).fullmatch(s) and plain_reads_as_itself(s)
        choice = self.rng.random()
        if plain and choice < 0.7:
            return s
        printable = s.isprintable() and "\n" not in s
        if printable and choice < 0.85:
            return "'" + s.replace("'", "''") + "'"
        return double_quoted(s, self.rng.random() < 0.5)

    def key(self, k) -> str:
        if isinstance(k, str):
            return self.string(k, True)
        return self.scalar(k, True)

    # collections
    def own_items(self, value: dict) -> list[str]:
        """'<<: *base' for a Merged mapping whose base is written, then the keys of its own."""
        if isinstance(value, Merged) and id(value.base) in self.merge_bases:
            own = [(k, v) for k, v in value.items() if k not in value.base or value.base[k] != v]
            return [("<<", "*" + self.merge_bases[id(value.base)])] + own
        return list(value.items())

    def flow(self, value) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {v}" if k == "<<" else f"{self.key(k)}: {self.flow(v)}"
                                   for k, v in self.own_items(value)) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.flow(v) for v in value) + "]"
        return self.scalar(value, True)

    def _anchor(self, value) -> tuple[str, str | None]:
        """(prefix, alias): an anchor prefix for a first occurrence, an alias for a repeat."""
        if not self.anchor_p or not isinstance(value, (dict, list, str)) or not value:
            return "", None
        canon = _canon(value)
        if canon not in self.repeated:
            return "", None
        if canon in self.anchors:
            return "", "*" + self.anchors[canon]
        if self.rng.random() < self.anchor_p:
            name = f"a{len(self.anchors)}"
            self.anchors[canon] = name
            return f"&{name} ", None
        return "", None

    def after_key(self, value, col: int, seq_item: bool = False) -> str:
        """Text after 'key:' (or after '-'), including the newline and nested lines.

        ``col`` is the column of the key (or of the dash); nested block content goes deeper.
        """
        if isinstance(value, dict) and getattr(self, "next_base", None) is value:
            name = f"m{len(self.merge_bases)}"
            self.merge_bases[id(value)] = name
            self.next_base = None
            prefix, alias = f"&{name} ", None
        else:
            prefix, alias = self._anchor(value)
        if alias:
            return f" {alias}\n"
        if isinstance(value, (dict, list)):
            if not value or self.rng.random() < self.flow_p:
                return f" {prefix}{self.flow(value)}\n"
            head = f" {prefix.rstrip()}\n" if prefix else "\n"
            if isinstance(value, dict):
                return head + self.block_map(value, col + (2 if seq_item else self.indent))
            # A sequence may sit at its key's column ("key:\n- x"), never at its dash's column.
            inner = col + (2 if seq_item else (self.indent if self.seq_indented else 0))
            return head + self.block_seq(value, inner)
        if isinstance(value, str) and "\n" in value and self.rng.random() < 0.5:
            literal = self.literal(value, col + (2 if seq_item else self.indent))
            if literal:
                return f" {prefix}{literal}"
        return f" {prefix}{self.scalar(value, False)}\n"

    def literal(self, s: str, col: int) -> str | None:
        lines = s.split("\n")
        body = lines[:-1] if s.endswith("\n") else lines
        if (s[0] in " \t" or any(l != l.rstrip(" \t") or not l.isprintable() for l in body)
                or s.endswith("\n\n") or not body[0]):
            return None
        chomp = "" if s.endswith("\n") else "-"
        return f"|{chomp}\n" + "".join((" " * col + l if l else "") + "\n" for l in body)

    def block_map(self, value: dict, col: int) -> str:
        out = []
        for k, v in self.own_items(value):
            if k == "<<":
                out.append(" " * col + f"<<: {v}\n")
                continue
            if k == MERGE_BASE_KEY:
                self.next_base = v
            out.append(" " * col + self.key(k) + ":" + self.after_key(v, col))
        return "".join(out)

    def block_seq(self, value: list, col: int) -> str:
        out = []
        for item in value:
            compact = isinstance(item, dict) and item and self.rng.random() < 0.8
            if compact and _canon(item) not in self.repeated:
                # "- key: v" with the mapping's keys aligned after the dash.
                if self.rng.random() >= self.flow_p:
                    text = self.block_map(item, col + 2)
                    out.append(" " * col + "- " + text[col + 2:])
                    continue
            out.append(" " * col + "-" + self.after_key(item, col, seq_item=True))
        return "".join(out)


def _repeated_subtrees(obj) -> set[str]:
    counts: dict[str, int] = {}
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list, str)) and node and (not isinstance(node, str) or len(node) >= 6):
            c = _canon(node)
            counts[c] = counts.get(c, 0) + 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {c for c, n in counts.items() if n > 1}


def emit_document(obj, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.15:
        return json.dumps(obj, indent=rng.choice([None, 2]), ensure_ascii=False) + "\n"
    emitter = Emitter(rng, _repeated_subtrees(obj))
    if isinstance(obj, dict) and obj:
        return emitter.block_map(obj, 0)
    return emitter.flow(obj) + "\n"


# ---- decorating the data --------------------------------------------------------------------

MERGE_BASE_KEY = "x-fuzz-base"
_POD_TEMPLATE_SPEC = {"Deployment": ("spec", "template", "spec"), "DaemonSet": ("spec", "template", "spec"),
                      "Job": ("spec", "template", "spec"), "Pod": ("spec",),
                      "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}


def with_merge_key(obj: dict, rng: random.Random) -> dict:
    """The first container's image (and pull policy) come from an anchored mapping via '<<'."""
    spec = obj
    for step in _POD_TEMPLATE_SPEC.get(obj.get("kind"), ("-",)):
        spec = spec.get(step) if isinstance(spec, dict) else None
    items = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict) or "image" not in items[0]:
        return obj
    base = {k: items[0][k] for k in ("image", "imagePullPolicy") if k in items[0]}
    if rng.random() < 0.3:
        base["imagePullPolicy"] = "Always"   # overridden by the container's own key, if it has one
        if "imagePullPolicy" not in items[0]:
            items[0]["imagePullPolicy"] = "Always"
    items[0] = Merged(items[0], base)
    return {MERGE_BASE_KEY: base, **obj}   # the anchor comes before its alias


def decorate(obj: dict, rng: random.Random) -> dict:
    """A copy with YAML-1.1-tricky strings and scalars where Kubernetes tolerates free data."""
    obj = json.loads(json.dumps(obj))
    meta = obj.get("metadata")
    if isinstance(meta, dict) and rng.random() < 0.6:
        notes = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        for i in range(rng.randint(1, 4)):
            notes[f"fuzz.example.com/s{i}"] = rng.choice(TRICKY_STRINGS)
        meta["annotations"] = notes
    if rng.random() < 0.3:
        extra = {}
        for i in range(rng.randint(1, 4)):
            extra[f"v{i}"] = rng.choice(list(SPELLINGS))
        if rng.random() < 0.5:
            extra["same"] = {"x": rng.choice(TRICKY_STRINGS)}
            extra["again"] = {"x": extra["same"]["x"]}
        obj["fuzzExtra"] = extra
    if rng.random() < 0.7:
        plant_images(obj, rng)
    if rng.random() < 0.15:
        obj = with_merge_key(obj, rng)
    return obj


def plant_images(obj: dict, rng: random.Random) -> None:
    """Images from tests.fuzz_oracle.PLANTED (names found nowhere else) in containers, in a
    ``*_IMAGE`` env value and a ``--*-image=`` arg: what the image rules of a random rule set
    name, so the oracle knows every place they touch."""
    from tests.fuzz_oracle import PLANTED

    spec = obj
    for step in _POD_TEMPLATE_SPEC.get(obj.get("kind"), ("-",)):
        spec = spec.get(step) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict) or rng.random() < 0.3:
                continue
            container["image"] = rng.choice(PLANTED)
            if rng.random() < 0.2:
                container["env"] = list(container.get("env") or []) + [{"name": "FUZZ_SIDECAR_IMAGE", "value": rng.choice(PLANTED)}]
            if rng.random() < 0.2:
                container["args"] = list(container.get("args") or []) + [f"--fuzz-image={rng.choice(PLANTED)}"]


# ---- streams ---------------------------------------------------------------------------------

@dataclass
class Piece:
    text: str
    obj: object          # what SafeLoader reads from this piece (None: no content)


COMMENTS = ["# a comment\n", "\n", "#\n", "# Source: chart/templates/fuzz.yaml\n", "   # indented\n",
            "#---\n", "# ...\n"]
# After a document, an indented comment line would continue a block scalar that ends it.
TAIL_COMMENTS = [c for c in COMMENTS if not c.startswith(" ")]


def make_stream(rng: random.Random, n_docs: int, decorate=decorate,
                workloads_first: bool = False) -> tuple[list[Piece], bool, bool]:
    """(pieces, crlf, bom): pieces concatenate to the stream text (before CRLF/BOM).  ``decorate``
    adds the tricky data to each object (the kubectl campaign puts it where Kubernetes does not
    check types); ``workloads_first`` takes half the objects from workloads (most corpus objects
    are CRDs and config, which the image and pod-spec rules leave alone)."""
    frags = fragments()
    workloads = [f for f in frags if f.obj.get("kind") in _POD_TEMPLATE_SPEC]
    pieces: list[Piece] = []
    for i in range(n_docs):
        kind = rng.random()
        if kind < 0.08:
            obj, body = None, ""
        elif kind < 0.16:
            members = [decorate(rng.choice(frags).obj, rng) for _ in range(rng.randint(0, 3))]
            obj = {"apiVersion": "v1", "kind": rng.choice(["List", "DeploymentList", "ConfigMapList"]),
                   "items": members, "metadata": {"resourceVersion": ""}}
            body = emit_document(obj, rng)
        else:
            frag = rng.choice(workloads if workloads_first and rng.random() < 0.5 else frags)
            if frag.text is not None and rng.random() < 0.35:
                obj, body = frag.obj, frag.text
            else:
                obj = decorate(frag.obj, rng)
                body = emit_document(obj, rng)
        comments = "".join(rng.choice(COMMENTS) for _ in range(rng.choice([0, 0, 1, 2])))
        if i > 0 or body == "" or rng.random() < 0.6:
            marker = rng.choice(["---\n", "---\n", "--- \n", "--- # doc\n"])
            if i == 0 and rng.random() < 0.1:
                marker = "%YAML 1.1\n" + marker
            if body.startswith(("{", "[")) and "\n" not in body.rstrip("\n") and rng.random() < 0.5:
                # A flow document on the marker line: "--- {...}"; comments go before it.
                head = comments + ("%YAML 1.1\n" if marker.startswith("%") else "") + "--- "
            else:
                # Comments before the first '---' belong to the first document.
                head = comments + marker if i == 0 else marker + comments
        else:
            head = comments
        tail = ""
        if rng.random() < 0.15:
            tail += "...\n"
        tail += "".join(rng.choice(TAIL_COMMENTS) for _ in range(rng.choice([0, 0, 0, 1])))
        pieces.append(Piece(head + body + tail, obj))
    if pieces and rng.random() < 0.2:
        pieces[-1].text = pieces[-1].text.rstrip("\n")
        if pieces[-1].text.endswith(("...", "---")):
            pieces[-1].text += "\n"
        # go-yaml ends its input with a line break (docs/semantics.md): a block scalar on the last
        # line keeps its newline even when the stream has none; PyYAML is told the same.
        pieces[-1].obj = _load(pieces[-1].text + "\n")
    return pieces, rng.random() < 0.2, rng.random() < 0.1
