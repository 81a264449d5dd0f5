"""postrender.engine.kube_yaml: what Kubernetes reads, table by table, and kubectl agreeing.

Every case is a document whose field ``v`` is written some way, with what Kubernetes reads for
it (or ``REFUSED``: kubectl cannot read the document).  The unit tests check postrender's
reader against the table; ``test_kubectl_reads_every_case_as_the_table_says`` (e2e) runs all the
cases through the real kubectl in one call, so the table itself is the oracle's word, not ours.
"""

from __future__ import annotations

import base64
import math

import pytest

from postrender.engine import kube_yaml, locate
from tests.kube_oracle import compare_files, kubectl_read_dir

REFUSED = "refused"


class Random(tuple):
    """kubectl keeps one of these at random (a Go map walk); postrender refuses the document."""
B64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731

ANCHORS = "anchors:\n  a: &a {p: 1, q: 2}\n  b: &b {p: 3, r: 4}\n  s: &s hello\n"

# (case, text of `v` (may span lines, indented under `v:`), what Kubernetes reads)
CASES: list[tuple[str, str, object]] = [
    *[(f"plain {text}", f" {text}", value) for text, value in kube_yaml.EXAMPLES],
    ("plain .inf: JSON has no infinity", " .inf", REFUSED), ("plain -.Inf", " -.Inf", REFUSED),
    ("plain .NaN: JSON has no NaN", " .NaN", REFUSED),
    ("plain 1e6", " 1e6", 1e6), ("plain 0x1p-2 (hex float)", " 0x1p-2", "0x1p-2"), ("plain +.5", " +.5", 0.5),
    ("plain -", " -x", "-x"), ("plain 1.2.3", " 1.2.3", "1.2.3"),
    ("plain 0o8 (not octal)", " 0o8", "0o8"), ("plain 0b2", " 0b2", "0b2"), ("plain 1__0", " 1__0", 10),
    ("plain 09.5", " 09.5", 9.5), ("plain 1:2:3", " 1:2:3", "1:2:3"), ("plain TRUE", " TRUE", True),
    ("plain tRUE", " tRUE", "tRUE"), ("plain Off", " Off", False), ("plain 0000", " 0000", 0),
    ("plain -0x80000000_00000000", " -0x80000000_00000000", -(1 << 63)),
    ("plain 0xffffffffffffffff", " 0xffffffffffffffff", (1 << 64) - 1),
    ("quoted '0755'", " '0755'", "0755"), ("quoted \"on\"", ' "on"', "on"),
    # keys, as sigs.k8s.io/yaml turns them into strings
    ("key on", "\n  on: 1", {"true": 1}), ("key y", "\n  y: 1", {"true": 1}), ("key NO", "\n  NO: 1", {"false": 1}),
    ("key 0x1F", "\n  0x1F: 1", {"31": 1}), ("key 1.5", "\n  1.5: 1", {"1.5": 1}), ("key 1e6", "\n  1e6: 1", {"1e+06": 1}),
    ("key 0.1", "\n  0.1: 1", {"0.1": 1}), ("key 3.14159265358979", "\n  3.14159265358979: 1", {"3.1415927": 1}),
    ("key 123456.0", "\n  123456.0: 1", {"123456": 1}), ("key .inf", "\n  .inf: 1", {".inf": 1}),
    ("key 2001-12-14", "\n  2001-12-14: 1", {"2001-12-14": 1}), ("key 12:30", "\n  12:30: 1", {"12:30": 1}),
    ("key null", "\n  null: 1", REFUSED), ("key ~", "\n  ~: 1", REFUSED),
    ("key beyond int64", "\n  18446744073709551615: 1", REFUSED),
    ("keys on and true: the same Go key, the last wins", "\n  on: 1\n  true: 2", {"true": 2}),
    ("keys 1 and '1': a random one wins", "\n  1: a\n  '1': b", Random(({"1": "a"}, {"1": "b"}))),
    ("keys on and 'true': a random one wins", "\n  on: a\n  'true': b", Random(({"true": "a"}, {"true": "b"}))),
    ("duplicate key: the last wins", "\n  a: 1\n  a: 2", {"a": 2}),
    # tags
    ("!!str 0755", " !!str 0755", "0755"), ("!!int '12'", " !!int '12'", 12), ("!!float 1", " !!float 1", 1.0),
    ("!!binary", f" !!binary {B64('Deployment')}", "Deployment"), ("! 12", " ! 12", "12"),
    ("!!bool yes", " !!bool yes", True), ("!!null ~", " !!null ~", None), ("!foo bar", " !foo bar", "bar"),
    ("!!timestamp", " !!timestamp 2001-12-14", "2001-12-14"), ("!!str on a mapping", " !!str {a: 1}", {"a": 1}),
    ("!!int abc", " !!int abc", REFUSED), ('!!float ""', ' !!float ""', REFUSED), ("!!int 0x", " !!int 0x", REFUSED),
    ("!!binary not base64", " !!binary '%%%'", REFUSED), ("!!int 1.5", " !!int 1.5", REFUSED),
    ("!!binary block", f" !!binary |\n  {B64('a long enough text')[:12]}\n  {B64('a long enough text')[12:]}",
     "a long enough text"),
    # merge keys, in document order
    ("key after <<: wins", "\n  <<: *a\n  p: 9", {"p": 9, "q": 2}),
    ("key before <<: overridden", "\n  p: 9\n  <<: *a", {"p": 1, "q": 2}),
    ("<< of a list: the first listed wins", "\n  <<: [*a, *b]", {"p": 1, "q": 2, "r": 4}),
    ("!!merge <<", "\n  !!merge <<: *a", {"p": 1, "q": 2}),
    ("! << is a merge key too", "\n  ! <<: *a", {"p": 1, "q": 2}),
    ("quoted '<<' is a key", "\n  '<<': *s", {"<<": "hello"}),
    ("two merges: the later wins", "\n  <<: *a\n  <<: *b", {"p": 3, "q": 2, "r": 4}),
    ("inline merge", "\n  <<: {p: 5}\n  q: 6", {"p": 5, "q": 6}),
    ("merge of a scalar", "\n  <<: *s", REFUSED),
    ("alias of a scalar", " *s", "hello"),
]


def case_document(i: int, text: str) -> str:
    return f"apiVersion: example.com/v1\nkind: Example\nmetadata:\n  name: case-{i}\n{ANCHORS}v:{text}\n"


def read_v(text: str):
    root = locate.parse_document(text)[0]
    return kube_yaml.read(root)["v"]


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b if not isinstance(a, (dict, list)) else a == b


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=c) for c, t, e in CASES])
def test_postrender_reads_each_case_as_kubernetes_does(text, expected):
    document = case_document(0, text)
    if expected == REFUSED or isinstance(expected, Random):
        with pytest.raises(locate.YAMLSyntaxError):
            read_v(document)
    else:
        assert same(read_v(document), expected)


def test_plain_nan_and_infinities_resolve_to_floats_before_json_refuses_them():
    assert math.isnan(kube_yaml.resolve_plain(".NaN"))
    assert kube_yaml.resolve_plain("-.inf") == -math.inf


@pytest.mark.parametrize(("value", "text"), [
    (1.5, "1.5"), (1e6, "1e+06"), (1e-5, "1e-05"), (0.0001, "0.0001"), (123456.0, "123456"), (-2.5, "-2.5"),
    (0.1, "0.1"), (16777217.0, "1.6777216e+07"), (1e39, ".inf"), (-0.0, "-0"),
])
def test_float_keys_are_formatted_like_go_formatfloat_g_32(value, text):
    assert kube_yaml.key_string(value) == text


def test_a_merge_key_cycle_is_refused():
    with pytest.raises(locate.YAMLSyntaxError, match="contains itself"):
        kube_yaml.read(locate.parse_document("a: &a\n  b: *a\n")[0])


@pytest.mark.parametrize(("obj", "is_list"), [
    ({"kind": "ConfigMap", "items": []}, True), ({"kind": "List", "items": None}, True),
    ({"kind": "DeploymentList"}, False), ({"kind": "ConfigMap"}, False), ([1], False),
])
def test_any_object_with_items_is_a_list(obj, is_list):
    assert kube_yaml.is_list(obj) is is_list


@pytest.mark.e2e
def test_kubectl_reads_every_case_as_the_table_says(need_tool, tmp_path):
    kubectl = need_tool("kubectl")
    for i, (case, text, _expected) in enumerate(CASES):
        (tmp_path / f"{i:04d}.yaml").write_text(case_document(i, text))
    objects, errors = kubectl_read_dir(kubectl, tmp_path)
    by_name = {o["metadata"]["name"]: o for o in objects}
    wrong = []
    for i, (case, _text, expected) in enumerate(CASES):
        if expected == REFUSED:
            if f"{i:04d}.yaml" not in errors:
                wrong.append(f"{case}: kubectl reads {by_name.get(f'case-{i}', {}).get('v')!r}, the table says refused")
            continue
        got = by_name.get(f"case-{i}", {}).get("v", "<missing>")
        if isinstance(expected, Random):
            if got not in expected:
                wrong.append(f"{case}: kubectl reads {got!r}, the table says one of {list(expected)!r}")
            continue
        if got != kube_yaml.as_json_value(expected):
            wrong.append(f"{case}: kubectl reads {got!r}, the table says {expected!r} ({errors.get(f'{i:04d}.yaml')})")
    assert not wrong, "\n".join(wrong)
    # And the whole set compared object by object, errors included, through the shared helper
    # (without the cases where kubectl keeps a random value, which postrender refuses).
    for i, (_case, _text, expected) in enumerate(CASES):
        if isinstance(expected, Random):
            (tmp_path / f"{i:04d}.yaml").unlink()
    assert compare_files(kubectl, tmp_path, sorted(tmp_path.glob("*.yaml"))) == []


# ---- read_simple: the edit self-check's reader for common documents ---------------------------

def _full_read(text: str, bom_ok: bool = False):
    try:
        roots = locate.parse_document(text, bom_ok)
        return kube_yaml.read(roots[0]) if len(roots) == 1 else REFUSED
    except locate.YAMLSyntaxError:
        return REFUSED


def _simple_agrees(text: str, bom_ok: bool = False) -> bool:
    """True when read_simple took the document (and gave read()'s data), False when it left it
    to read(); an assertion error when the two disagree."""
    from postrender.engine.scalars import strict_equal

    simple = kube_yaml.read_simple(text, bom_ok)
    if simple is kube_yaml.NOT_SIMPLE:
        return False
    full = _full_read(text, bom_ok)
    assert full is not REFUSED, f"read_simple read a document Kubernetes refuses: {text!r}"
    assert strict_equal(simple, full), (text, simple, full)
    return True


def test_read_simple_agrees_with_read_on_every_table_case():
    """Each case without the anchors block (unless it uses them): the simple reader either leaves
    the document to read() or reads exactly what the table says Kubernetes reads."""
    taken = 0
    for i, (case, text, expected) in enumerate(CASES):
        document = case_document(i, text) if "*" in text else case_document(i, text).replace(ANCHORS, "")
        if _simple_agrees(document):
            taken += 1
            assert expected != REFUSED and not isinstance(expected, Random), case
            assert same(kube_yaml.read_simple(document)["v"], expected), case
    assert taken > len(CASES) // 3, taken


def test_read_simple_agrees_with_read_over_the_corpus(corpus_files):
    from postrender.engine.stream import parse_stream
    from tests.conftest import STRESS

    documents = taken = 0
    for path in [*corpus_files, STRESS]:
        for doc in parse_stream(path.read_bytes()).documents:
            if doc.void:
                continue
            documents += 1
            taken += _simple_agrees(doc.text, doc.bom_ok)
    assert taken >= 0.9 * documents, (taken, documents)


@pytest.mark.parametrize("seed", range(4))
def test_read_simple_agrees_with_read_over_generated_go_streams(seed):
    """The kubectl campaign's streams: number forms, merge keys, tags, odd line breaks, BOMs,
    indented roots, flow documents (tests/kube_streams_gen.py)."""
    import random

    from postrender.engine.stream import parse_stream
    from postrender.errors import InputError
    from tests.kube_streams_gen import make_kube_stream

    rng = random.Random(1000 + seed)
    taken = left = 0
    for _ in range(60):
        try:
            documents = parse_stream(make_kube_stream(rng, rng.randint(1, 6))).documents
        except InputError:  # a stream postrender refuses as a whole (tested elsewhere)
            continue
        for doc in documents:
            if not doc.void:
                if _simple_agrees(doc.text, doc.bom_ok):
                    taken += 1
                else:
                    left += 1
    assert taken and left, (taken, left)  # both paths exercised


@pytest.mark.parametrize("text", [
    "a: 1\n---\nb: 2\n",                 # two documents: read() refuses the text
    "just a scalar\n", "", "# only a comment\n",
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: !<tag:yaml.org,2002:str> 1\n",
    "base: {p: 1}\nm:\n  <<: {q: 2}\n", "1: one\n", "true: yes\n", "~: null\n", ": empty key\n",
    "a: 1\na: 2\n", "? [x]\n: complex key\n", "a: .nan\n", "a: -.inf\n",
    "[" * 1001 + "]" * 1001 + "\n",
    "a: 'unterminated\n",
])
def test_read_simple_leaves_every_unusual_document_to_read(text):
    assert kube_yaml.read_simple(text) is kube_yaml.NOT_SIMPLE


def test_read_simple_reads_quoted_merge_and_number_like_keys_as_strings():
    text = "'<<': a\n\"1\": b\nk: [1, '2', 0o17, 1_0, .5, true, 'on', on]\n"
    expected = {"<<": "a", "1": "b", "k": [1, "2", 15, 10, 0.5, True, "on", True]}  # go-yaml v2: on is true
    assert kube_yaml.read_simple(text) == expected == _full_read(text)
