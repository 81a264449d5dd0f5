"""What Kubernetes reads from YAML: go-yaml v2 as sigs.k8s.io/yaml uses it.

``kubectl apply``, ``kubectl annotate --local`` and Helm 3/4 decode each manifest with
sigs.k8s.io/yaml: go-yaml v2 unmarshals the document into ``interface{}`` values, the map keys
are turned into strings, and the result is marshalled to JSON.  That JSON is what the API
server gets.  This module is that reading, written down as tables and small functions, and the
only definition of "what a manifest means" in postrender: documents are read with it, new
scalars are quoted by it (``scalars.plain_ok``), the self-check after every edit compares with
it, and the ruamel fallback is verified by it.  Where YAML 1.1 (PyYAML), YAML 1.2 or ruamel say
something else, this module wins; ``kubectl annotate --local -f FILE k=v -o json`` is the oracle
the differential tests compare it with (tests/test_kube_yaml*.py).

Plain scalars (go-yaml v2 ``resolve.go``)
-----------------------------------------
The first character picks what is tried (:data:`HINTS`); whole texts in :data:`CONSTANTS` are
looked up first.  Then, for a sign or digit first: integers as Go's ``strconv.ParseInt(s, 0,
64)`` after deleting every ``_`` (so ``0x1F``, ``0X1F``, ``0o17``, ``0O17``, ``0b101``, ``-0B1``,
``0755`` octal, ``-_1``, ``1_000`` are integers), then ``ParseUint`` (up to 2**64-1), then floats
matching ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?`` (so ``-.5``, ``08`` = 8.0, ``1.``,
``1e3`` and integers too large for 64 bits are floats).  A first ``.`` tries Go's ``ParseFloat``
(``.5``, ``.5e3``).  Everything else is a string: no sexagesimal numbers (``12:30`` is a string),
no ``=`` value, timestamps stay their text.  Out-of-range floats (``1e400``) are strings.

Tags
----
``!!str`` and the non-specific ``!`` make a string of anything; ``!!int``, ``!!float``,
``!!bool``, ``!!null``, ``!!timestamp`` resolve the text and fail unless it is of that type
(``!!float`` accepts an integer); ``!!binary`` is base64-decoded (``kind: !!binary
RGVwbG95bWVudA==`` is a Deployment); any other tag is ignored and the text is a string.  Tags on
collections are ignored.  A tagged quoted scalar is resolved like a plain one (``!!int "12"``).

Mappings
--------
Pairs apply in document order and a later key replaces an earlier one: a key written *before*
``<<: *base`` is overridden by the merged value, a key after it wins.  ``<<`` is a merge key
when it is plain and untagged, carries the non-specific ``!`` tag, or is tagged ``!!merge``; a
quoted ``"<<"`` is an ordinary key.  A merge of a list of mappings applies them last to first,
so the first one listed wins among them.

Keys become strings the way sigs.k8s.io/yaml converts them: ``on:`` is the key ``"true"``,
``0x1F:`` is ``"31"``, ``1.5:`` is ``"1.5"`` (formatted as a 32-bit float); a null key, a key
beyond the int64 range, or a collection key makes Kubernetes refuse the document.  Two keys that
are different to go-yaml but the same string after that (``1:`` and ``"1":``, ``on:`` and
``"true":``) are refused here: sigs.k8s.io/yaml walks a Go map, so which value Kubernetes keeps
is random.

NaN and infinities (``.nan``, ``.inf``) as values make Kubernetes refuse the document (JSON has
no such numbers); so does this reader.

Lists
-----
Any object with an ``items`` key is a list to kubectl and Helm (apimachinery's unstructured
decoder checks for the key, whatever the kind, even ``items: null``), see :func:`is_list`.
"""

from __future__ import annotations

import base64
import math
import re
import struct

from yaml import _yaml as _cyaml
from yaml import events as _ev
from yaml.error import MarkedYAMLError
from yaml.reader import ReaderError

from postrender.engine.locate import MAX_DEPTH, Node, YAMLSyntaxError, reading_text

STR = "tag:yaml.org,2002:str"
BINARY = "tag:yaml.org,2002:binary"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
MERGE = "tag:yaml.org,2002:merge"
NON_SPECIFIC = "!"

# Nodes produced by expanding aliases and merge keys, per document ("billion laughs" guard).
# Real manifests reuse an anchor a few times; 100,000 expanded nodes is ~10-20 MB of objects.
MAX_ALIAS_EXPANSION = 100_000

INT64_MIN, INT64_MAX, UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1

# ---- DATA: go-yaml v2 resolve.go ----------------------------------------------------------------

#: Whole plain texts with a fixed meaning (``resolveMapList``).  ``<<`` is listed there too, as
#: the merge tag; as a value it is the string ``<<`` (and its first character has no hint, so
#: go-yaml never even looks it up).
CONSTANTS: dict[str, object] = {
    **dict.fromkeys("y Y yes Yes YES true True TRUE on On ON".split(), True),
    **dict.fromkeys("n N no No NO false False FALSE off Off OFF".split(), False),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}

#: What the first character makes go-yaml try (``resolveTable``); any other first character
#: means a string.  S: sign, D: digit (both: timestamp, int, uint, float); M: only the
#: constants above; '.': the constants, then ParseFloat.
HINTS: dict[str, str] = {
    "+": "S", "-": "S",
    **dict.fromkeys("0123456789", "D"),
    **dict.fromkeys("yYnNtTfFoO~", "M"),
    ".": ".",
}

# First characters after which go-yaml may read a number (anything else is a string unless the
# whole text is one of CONSTANTS).
_NUMERIC_START = frozenset("+-.0123456789")

#: ``yamlStyleFloat`` in resolve.go: the floats tried after ints (on the text without ``_``).
YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
#: What Go's ParseFloat accepts from a text that starts with ``.`` (decimal only), once the
#: underscores it allows between digits (``underscoreOK``) are taken out.
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
#: Go's ``underscoreOK`` for such a text: every ``_`` between two digits.
_UNDERSCORES_OK = re.compile(r"[^_]*(?:(?<=[0-9])_(?=[0-9])[^_]*)*")
#: Tags go-yaml resolves (``resolvableTag``); any other tag leaves the text a string.
RESOLVABLE_TAGS = frozenset({STR, BOOL, INT, FLOAT, NULL, TIMESTAMP})
_SHORT = {STR: "!!str", BINARY: "!!binary", INT: "!!int", FLOAT: "!!float", BOOL: "!!bool",
          NULL: "!!null", TIMESTAMP: "!!timestamp", MERGE: "!!merge"}

#: Examples, each checked against kubectl by the differential tests and documented in
#: docs/semantics.md: (plain text, what Kubernetes reads).
EXAMPLES: tuple[tuple[str, object], ...] = (
    ("-.5", -0.5), ("0X1F", 31), ("0O17", 15), ("-0o17", -15), ("0B101", 5), ("-0B1", -1),
    ("-_1", -1), ("-.5e3", -500.0), ("12:30", "12:30"), ("0o022", 18), ("08", 8.0),
    ("0755", 493), ("1_000", 1000), ("+1", 1), ("1.", 1.0), ("1e3", 1000.0), ("1e400", "1e400"),
    ("0x", "0x"), ("_1", "_1"), ("=", "="), ("yes", True), ("y", True), ("On", True),
    ("oN", "oN"), ("NO", False), ("~", None), ("Null", None), ("nULL", "nULL"),
    ("2001-12-14", "2001-12-14"), (".5", 0.5), (".5_0", 0.5), ("._5", "._5"), (".5_", ".5_"), (".5__0", ".5__0"), ("1_", 1), ("0x_1F", 31),
    ("9223372036854775808", 9223372036854775808), ("18446744073709551616", 1.8446744073709552e19),
    ("-9223372036854775809", -9.223372036854776e18), ("<<", "<<"), ("0b", "0b"), ("00", 0),
)


class KubeYAMLError(YAMLSyntaxError):
    """Kubernetes cannot read this node (or reads it in a way that is not determined)."""


def _short(tag: str) -> str:
    return _SHORT.get(tag, tag)


# ---- numbers as Go's strconv reads them -------------------------------------------------------

def _go_parse_uint(s: str) -> int | None:
    """``strconv.ParseUint(s, 0, 64)`` on text without underscores; None on any error."""
    if not s:
        return None
    base = 10
    if s[0] == "0":
        second = s[1:2].lower()
        if len(s) >= 3 and second in ("b", "o", "x"):
            base, s = {"b": 2, "o": 8, "x": 16}[second], s[2:]
        else:
            base, s = 8, s[1:]
    value = 0
    for c in s:
        if "0" <= c <= "9":
            digit = ord(c) - 48
        elif "a" <= c.lower() <= "z":
            digit = ord(c.lower()) - 87
        else:
            return None
        if digit >= base:
            return None
        value = value * base + digit
    return value if value <= UINT64_MAX else None


def _go_parse_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 0, 64)``: an optional sign, then ParseUint; None on any error."""
    if not s:
        return None
    negative = s[0] == "-"
    magnitude = _go_parse_uint(s[1:] if s[0] in "+-" else s)
    if magnitude is None:
        return None
    value = -magnitude if negative else magnitude
    return value if INT64_MIN <= value <= INT64_MAX else None


def _go_float(text: str) -> float | None:
    """``strconv.ParseFloat`` of text already known to be decimal float syntax; None when out of
    range (Go returns ±Inf with ErrRange, and go-yaml then keeps the text as a string)."""
    value = float(text)
    return None if math.isinf(value) else value


_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ ])[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?"
    r"(?:Z|[-+][0-9]{2}:[0-9]{2})?)?")


def _is_timestamp(text: str) -> bool:
    """go-yaml v2 ``parseTimestamp`` (its four ``time.Parse`` layouts), close enough to decide
    ``!!timestamp``; untagged timestamps read as their text anyway."""
    return _TIMESTAMP.fullmatch(text) is not None


def resolve_plain(text: str):
    """The value of an untagged plain scalar: None, bool, int, float or str (go-yaml v2)."""
    hint = HINTS.get(text[:1], "N" if not text else None)
    if hint is None:
        return text
    if text in CONSTANTS:
        return CONSTANTS[text]
    if hint == ".":
        digits = text.replace("_", "") if "_" in text and _UNDERSCORES_OK.fullmatch(text) else text
        if _DOT_FLOAT.fullmatch(digits):
            value = _go_float(digits)
            if value is not None:
                return value
        return text
    if hint in ("D", "S"):
        plain = text.replace("_", "")
        value = _go_parse_int(plain)
        if value is not None:
            return value
        if plain[:1] not in "+-":
            value = _go_parse_uint(plain)
            if value is not None:
                return value
        if YAML_STYLE_FLOAT.fullmatch(plain):
            number = _go_float(plain)
            if number is not None:
                return number
    return text


def _tag_of(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STR


def resolve_tagged(tag: str, text: str, node: Node | None = None):
    """The value of a scalar with an explicit tag (go-yaml v2 ``resolve`` + ``scalar``)."""
    if tag == BINARY:
        try:
            data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except ValueError:
            raise _error(node, "!!binary value contains invalid base64 data") from None
        return go_string(data)
    if tag not in RESOLVABLE_TAGS or tag == STR:
        return text  # unknown and local tags: go-yaml keeps the text
    if tag == TIMESTAMP and _is_timestamp(text):
        return text  # decoded into interface{}, a timestamp stays its text
    value = resolve_plain(text)  # go-yaml tries timestamps only for untagged or !!timestamp text
    got = _tag_of(value)
    if got == tag:
        return value
    if tag == FLOAT and got == INT:
        return float(value)
    raise _error(node, f"the tag {_short(tag)} does not fit `{text}` (go-yaml: cannot decode {_short(got)} `{text}`"
                       f" as a {_short(tag)}), so Kubernetes refuses the document; remove the tag or fix the value")


def go_string(data: bytes) -> str:
    """A Go string of these bytes as encoding/json writes it: each invalid UTF-8 byte is U+FFFD."""
    return data.decode("utf-8", errors="postrender-go-replace")


def _go_replace(exc: UnicodeDecodeError):
    return "\ufffd" * (exc.end - exc.start), exc.end


import codecs  # noqa: E402  (registered once, next to the function that uses it)

codecs.register_error("postrender-go-replace", _go_replace)


def scalar_value(node: Node):
    """What Kubernetes reads from a scalar node."""
    tag = node.tag
    if tag is None:
        return resolve_plain(node.value) if node.style is None else node.value
    if tag == NON_SPECIFIC:
        return node.value
    return resolve_tagged(tag, node.value, node)


def is_merge_key(node: Node) -> bool:
    """``<<`` as a merge key: plain and untagged, ``! <<``, or tagged ``!!merge`` (isMerge)."""
    if node.kind != "scalar" or node.value != "<<":
        return False
    return node.tag == MERGE or node.tag == NON_SPECIFIC or (node.tag is None and node.style is None)


# ---- keys: go-yaml's typed keys, then sigs.k8s.io/yaml's strings ------------------------------

def _float32_g(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 32)`` with sigs.k8s.io/yaml's inf/nan spellings."""
    if math.isnan(value):
        return ".nan"
    try:
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, value)
    if math.isinf(f32):
        return ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for digits in range(1, 10):  # shortest decimal that reads back as the same float32
        text = f"{f32:.{digits - 1}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == f32:
            break
    mantissa, exp_text = text.split("e")
    exp = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if exp < -4 or exp >= 6:  # shortest 'g' uses %e when the exponent is < -4 or >= 6
        body = figures[0] + ("." + figures[1:] if len(figures) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= 0:
        whole = figures[: exp + 1].ljust(exp + 1, "0")
        frac = figures[exp + 1:]
        return sign + whole + ("." + frac if frac else "")
    return sign + "0." + "0" * (-exp - 1) + figures


def key_string(value, node: Node | None = None) -> str:
    """The JSON key sigs.k8s.io/yaml makes of a go-yaml key value (``convertToJSONableObject``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value > INT64_MAX:
            raise _error(node, f"the key {value} is beyond the int64 range; Kubernetes cannot read it (quote it)")
        return str(value)
    if isinstance(value, float):
        return _float32_g(value)
    if value is None:
        raise _error(node, "a null key (an empty key, `~` or `null`): Kubernetes cannot read it (quote it)")
    raise _error(node, "a mapping or list used as a key: Kubernetes cannot read it")


def _go_key(value):
    """Identity of a key in go-yaml's map[interface{}]interface{}: equal Go values, equal type."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan", object())  # NaN != NaN: every .nan key is a key of its own
    return (type(value).__name__, value)


# ---- reading a node tree -------------------------------------------------------------------

class Reading:
    """The state of one :func:`read`: the alias budget, and what a reader should be told."""

    __slots__ = ("left", "alias", "active", "duplicates")

    def __init__(self):
        self.left = MAX_ALIAS_EXPANSION
        self.alias: Node | None = None  # the alias being expanded, named in the error
        self.active: set[int] = set()   # anchors being expanded (an alias inside its own anchor)
        # (key, key node, first key node) for each key written twice in one mapping: the last
        # wins, as in Kubernetes, and readers warn about it.
        self.duplicates: dict[int, tuple[str, Node, Node]] = {}


_Budget = Reading


def _error(node: Node | None, message: str) -> KubeYAMLError:
    return KubeYAMLError(message, node.line if node is not None else 0, node.col if node is not None else 0)


NOT_SIMPLE = object()


def read_simple(text: str, bom_ok: bool = False):
    """What Kubernetes reads from one document's text, built straight from libyaml's events, for
    the common document: one root collection, no anchor, alias, tag or merge key, every key a
    string to go-yaml (quoted, or plain text no rule of resolve.go applies to), no key twice.
    Anything else, and any error, is :data:`NOT_SIMPLE`: :func:`read` over
    :func:`locate.parse_document` decides those.  It gives :func:`read`'s data without building
    nodes (the edit self-check re-reads every edited document: issue 16); tests/test_kube_yaml.py
    checks the two agree over the corpus and the kubectl campaign's generated streams."""
    Scalar, Alias = _ev.ScalarEvent, _ev.AliasEvent
    MapStart, MapEnd = _ev.MappingStartEvent, _ev.MappingEndEvent
    SeqStart, SeqEnd = _ev.SequenceStartEvent, _ev.SequenceEndEvent
    DocStart, StreamEnd = _ev.DocumentStartEvent, _ev.StreamEndEvent
    numeric, constants, no_key = _NUMERIC_START, CONSTANTS, NOT_SIMPLE
    try:
        get_event = _cyaml.CParser(reading_text(text, bom_ok)[0]).get_event
        stack: list = []
        parent = None            # the open collection
        in_map = False
        key = no_key             # its pending key
        root = NOT_SIMPLE
        documents = 0
        while True:
            ev = get_event()
            t = type(ev)
            if t is Scalar:
                if ev.anchor is not None or ev.tag is not None:
                    return NOT_SIMPLE
                value = ev.value
                plain = not ev.style
                if in_map and key is no_key:
                    if plain and (not value or value[0] in numeric or value in constants or value == "<<"):
                        return NOT_SIMPLE
                    if value in parent:
                        return NOT_SIMPLE
                    key = value
                    continue
                if plain and (not value or value[0] in numeric or value in constants):
                    value = resolve_plain(value)
                    if type(value) is float and (value != value or value in (math.inf, -math.inf)):
                        return NOT_SIMPLE
                node = value
            elif t is MapStart or t is SeqStart:
                if ev.anchor is not None or ev.tag is not None or (in_map and key is no_key):
                    return NOT_SIMPLE
                if len(stack) >= MAX_DEPTH:
                    return NOT_SIMPLE
                stack.append((parent, in_map, key))
                parent, in_map, key = ({} if t is MapStart else []), t is MapStart, no_key
                continue
            elif t is MapEnd or t is SeqEnd:
                node = parent
                parent, in_map, key = stack.pop()
            elif t is Alias:
                return NOT_SIMPLE
            elif t is DocStart:
                documents += 1
                continue
            elif t is StreamEnd:
                break
            else:
                continue
            if not stack:
                root = node
            elif in_map:
                parent[key] = node
                key = no_key
            else:
                parent.append(node)
    except (MarkedYAMLError, ReaderError, YAMLSyntaxError):
        return NOT_SIMPLE
    if documents != 1 or not isinstance(root, (dict, list)):
        return NOT_SIMPLE
    return root


def read(node: Node | None, reading: Reading | None = None):
    """What Kubernetes reads from a node: dict (str keys) / list / str / int / float / bool / None.

    Raises :class:`KubeYAMLError` (a ``YAMLSyntaxError`` with a line) where Kubernetes refuses the
    document or where what it keeps is not determined.  ``reading`` collects duplicate keys.
    """
    if node is None:
        return None
    return _read(node, reading or Reading(), False)


class _GoMap:
    """A mapping as go-yaml builds it: typed keys, later assignments replacing earlier ones."""

    __slots__ = ("values", "keys")

    def __init__(self):
        self.values: dict = {}  # go key -> value, in first-assignment order
        self.keys: dict = {}    # go key -> (key node, Go key value)

    def set(self, key_node: Node, key_value, value) -> None:
        ident = _go_key(key_value)
        self.values[ident] = value  # a replaced key keeps the place it was first set at
        self.keys[ident] = (key_node, key_value)

    def to_dict(self) -> dict:
        out: dict = {}
        seen: dict = {}
        for ident, value in self.values.items():
            key_node, key_value = self.keys[ident]
            text = key_string(key_value, key_node)
            if text in seen:
                other = seen[text]
                raise _error(key_node, (
                    f"the keys {_written(other)} and {_written(key_node)} are both the key {text!r} to"
                    " Kubernetes, which keeps one of them at random; write the key once"))
            seen[text] = key_node
            out[text] = value
        return out


def _written(node: Node) -> str:
    if node.kind != "scalar":
        return "(a collection)"
    quote = node.style if node.style in ("'", '"') else ""
    return f"{quote}{node.value}{quote}"


def _read(node: Node, budget: _Budget, expanding: bool):
    if expanding:
        budget.left -= 1
        if budget.left < 0:
            alias = budget.alias or node
            raise YAMLSyntaxError(
                f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes (a 'billion laughs' document?);"
                " write the repeated values out", alias.line, alias.col)
    kind = node.kind
    if kind == "scalar":
        if node.tag is None:
            if node.style is not None:
                return node.value
            text = node.value
            if text and text[0] not in _NUMERIC_START and text not in CONSTANTS:
                return text  # most scalars: a plain string no rule of resolve.go applies to
        value = scalar_value(node)
        if type(value) is float and (value != value or value in (math.inf, -math.inf)):
            # sigs.k8s.io/yaml marshals the data to JSON, which has no NaN or infinity.
            raise _error(node, f"the value {node.value} is not a number JSON can hold, so Kubernetes refuses"
                               " the document (quote it if it is meant as a string)")
        return value
    if kind == "alias":
        return _expand(node, budget, expanding)
    if kind == "sequence":
        return [_read(item, budget, expanding) for item in node.items]
    fast = _string_keyed(node, budget, expanding)
    if fast is not None:
        return fast
    go_map = _GoMap()
    _fill(go_map, node, budget, expanding)
    return go_map.to_dict()


def _string_keyed(node: Node, budget: Reading, expanding: bool) -> dict | None:
    """A mapping whose keys are all strings to go-yaml (untagged: quoted, or plain text no rule
    of resolve.go applies to; no merge key): read directly.  None: take the general path."""
    out: dict = {}
    first: dict = {}
    for key_node, _ in node.pairs:
        if key_node.kind != "scalar" or key_node.tag is not None:
            return None
        text = key_node.value
        if key_node.style is None and (not text or text[0] in _NUMERIC_START or text in CONSTANTS or text == "<<"):
            return None
    for key_node, value_node in node.pairs:
        text = key_node.value
        if text in first:
            budget.duplicates.setdefault(id(key_node), (text, key_node, first[text]))
        else:
            first[text] = key_node
        out[text] = _read(value_node, budget, expanding)
    return out


def _expand(alias: Node, budget: _Budget, expanding: bool):
    target = alias.target
    if id(target) in budget.active:
        raise _error(alias, f"anchor '{alias.name}' value contains itself")
    if not expanding:
        budget.alias = alias
    budget.active.add(id(target))
    try:
        return _read(target, budget, True)
    finally:
        budget.active.discard(id(target))


def _fill(go_map: _GoMap, node: Node, budget: _Budget, expanding: bool) -> None:
    """Assign node's pairs into go_map in document order (go-yaml ``decoder.mapping``)."""
    own: dict = {}
    for key_node, value_node in node.pairs:
        if is_merge_key(key_node):
            _merge(go_map, value_node, budget, expanding)
            continue
        if key_node.kind in ("mapping", "sequence") or (
                key_node.kind == "alias" and key_node.target.kind in ("mapping", "sequence")):
            raise _error(key_node, "a mapping or list used as a key: Kubernetes cannot read it")
        key_value = scalar_value(key_node) if key_node.kind == "scalar" else _read(key_node, budget, expanding)
        ident = _go_key(key_value)
        if ident in own:
            budget.duplicates.setdefault(id(key_node), (key_string(key_value, key_node), key_node, own[ident]))
        else:
            own[ident] = key_node
        go_map.set(key_node, key_value, _read(value_node, budget, expanding))


def _merge(go_map: _GoMap, value_node: Node, budget: _Budget, expanding: bool) -> None:
    """``<<``: each source's pairs are assigned into the mapping (go-yaml ``decoder.merge``)."""
    def one(source: Node) -> None:
        if source.kind == "alias":
            target = source.target
            if target.kind != "mapping":
                raise _error(source, "a merge key '<<' needs a mapping or a list of mappings")
            if id(target) in budget.active:
                raise _error(source, f"anchor '{source.name}' value contains itself")
            if not expanding:
                budget.alias = source
            budget.active.add(id(target))
            try:
                _charge(budget, target)
                _fill(go_map, target, budget, True)
            finally:
                budget.active.discard(id(target))
        elif source.kind == "mapping":
            _fill(go_map, source, budget, expanding)
        else:
            raise _error(source, "a merge key '<<' needs a mapping or a list of mappings")

    if value_node.kind in ("mapping", "alias"):
        one(value_node)
    elif value_node.kind == "sequence":
        for item in reversed(value_node.items):  # earlier sources take precedence
            one(item)
    else:
        raise _error(value_node, "a merge key '<<' needs a mapping or a list of mappings")


def _charge(budget: _Budget, node: Node) -> None:
    budget.left -= 1
    if budget.left < 0:
        alias = budget.alias or node
        raise YAMLSyntaxError(
            f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes (a 'billion laughs' document?);"
            " write the repeated values out", alias.line, alias.col)


def merge_contribution(value_node: Node) -> dict:
    """What one ``<<: value`` assigns, keys as Kubernetes reads them."""
    go_map = _GoMap()
    _merge(go_map, value_node, _Budget(), False)
    return go_map.to_dict()


def mapping_key(key_node: Node) -> str:
    """The string key Kubernetes reads for a key node (``on`` -> ``"true"``)."""
    value = scalar_value(key_node) if key_node.kind == "scalar" else _read(key_node, _Budget(), False)
    return key_string(value, key_node)


def is_list(obj) -> bool:
    """kubectl and Helm apply the items of any object with an ``items`` key, whatever its kind."""
    return isinstance(obj, dict) and "items" in obj


# ---- which strings may be written plain ----------------------------------------------------

def plain_reads_as_itself(text: str) -> bool:
    """True when an untagged plain scalar ``text`` is the string ``text`` to Kubernetes."""
    value = resolve_plain(text)
    return type(value) is str and value == text


# ---- comparing with what kubectl prints -----------------------------------------------------

def as_json_value(value):
    """``value`` as Kubernetes holds it after the JSON round trip (for comparisons with kubectl):
    integers beyond int64 become floats, integral floats within int64 become integers."""
    if isinstance(value, dict):
        return {k: as_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_value(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    if isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX and abs(value) < 1e21:
        return int(value)
    return value
