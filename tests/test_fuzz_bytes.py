"""Byte-level fuzz: whatever arrives on stdin, postrender answers cleanly and in bounded time.

Inputs: random bytes; corpus files cut at random offsets; corpus files with random byte flips,
inserted invalid UTF-8 (stray continuation bytes, overlong forms, UTF-8-encoded surrogates,
bytes beyond U+10FFFF), NUL and other control bytes, YAML indicator fragments (``&a``, ``*a``,
``!!binary``, ``? ``, ``{``, ``%TAG``...) at random places; huge lines; deep nesting; alias
bombs.  Each input runs through the real run path (``runner.main``) with one of two configs:
no rules (the output must then be the input, byte for byte) or rules that parse and edit every
workload and label every resource.

For every input: never a traceback or "internal error", never a hang (alarm after
POSTRENDER_FUZZ_TIMEOUT s), and either exit 0 with output that is well-formed YAML (libyaml's
parser; YAML 1.2 stream syntax libyaml refuses -- '...' before any document, a document after
'...' without '---', tabs in blank lines -- is checked document by document and counted apart)
or exit 2/3 with one stderr line ``postrender: ...`` and nothing on stdout.

CI: 300 derandomized inputs (2-15 s), corpus files under 400 KB.  A long campaign (random seed;
``--hypothesis-seed=N`` picks one; corpus files under 2 MB unless POSTRENDER_FUZZ_MAX_FILE_BYTES
or POSTRENDER_FUZZ_ALL_FILES=1 say otherwise; tallies printed with ``-s``).  The README's two
campaigns (``python -m tests.figures`` prints their commands; each reports ``figure bytes-SEED``
and asserts it equals tests/figures.json)::

    POSTRENDER_FUZZ_EXAMPLES=5000 POSTRENDER_FUZZ_MAX_FILE_BYTES=400000 \\
        .venv/bin/python -m pytest tests/test_fuzz_bytes.py -p no:cacheprovider -s -q --hypothesis-seed=33
    POSTRENDER_FUZZ_EXAMPLES=1000 POSTRENDER_FUZZ_ALL_FILES=1 \\
        .venv/bin/python -m pytest tests/test_fuzz_bytes.py -p no:cacheprovider -s -q --hypothesis-seed=36

Exit-0 outputs of the editing config are checked for YAML syntax only (no oracle reads arbitrary
bytes); the tally counts them apart from the byte-identical no-rules outputs.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

import pytest
import yaml
from yaml import _yaml as yaml_c
from hypothesis import given, strategies as st

from tests.conftest import CONFIG_HEADER, CORPUS_FILES
from tests.figures import record
from tests.fuzz_harness import CAMPAIGN, Tally, assert_clean_error, fuzz_settings, run_in_process

TALLY = Tally("bytes")
CONFIGS = {
    "no-rules": CONFIG_HEADER + "rules: []\n",
    "edit-everything": CONFIG_HEADER + """\
rules:
  - imagePullPolicy: {policy: IfNotPresent}
  - imagePullSecrets: {names: [regcred, "on"]}
  - registryRewrite: {mirrors: [{from: docker.io, to: mirror.example.com/hub}]}
  - patch:
      strategicMerge:
        metadata: {labels: {fuzz.example.com/label: "0755"}}
""",
}
# CI keeps to files a slow machine processes in well under a second; a campaign adds the
# medium ones (up to argo-cd's 1.9 MB); POSTRENDER_FUZZ_ALL_FILES=1 adds kube-prometheus (5.6 MB),
# POSTRENDER_FUZZ_MAX_FILE_BYTES=N sets the limit (400000: CI's files, ~4x faster).
LIMIT = (float("inf") if os.environ.get("POSTRENDER_FUZZ_ALL_FILES")
         else int(os.environ.get("POSTRENDER_FUZZ_MAX_FILE_BYTES", 2_000_000 if CAMPAIGN else 400_000)))
FILES = [p for p in CORPUS_FILES if p.stat().st_size < LIMIT]

INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc3", b"\xc3\x28", b"\xc0\xaf", b"\xe0\x80\xaf",
                b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80", b"\xf4\x90\x80\x80",
                b"\xf8\x88\x80\x80\x80", b"\xf0\x9f\x98"]
CONTROL = [b"\x00", b"\x00" * 8, b"\x01", b"\x07", b"\x1b[31m", b"\x7f", b"\x0c", b"\x0b", b"\r", b"\t",
           "\u0085".encode(), "\u2028".encode(), "\ufeff".encode(), "\ufffe".encode()]
YAML_BITS = [b"&a ", b"*a", b"*undefined ", b"!!binary ", b"!!str ", b"!custom ", b"!<tag:x> ", b"? ",
             b": ", b"- ", b"{", b"}", b"[", b"]", b",", b"|", b">-", b"|9", b"'", b'"', b"#", b"%TAG ! !x\n",
             b"%YAML 1.1\n", b"%YAML 9.9\n", b"\n---\n", b"\n...\n", b"\n--- |\n", b"<<: *a\n", b"\\", b"\\x",
             b'"\\ud800"', b'"\\U0010ffff"', b'"\\x00"', b"\n\t", b"  ", b"\n" + b" " * 200]


@lru_cache(maxsize=None)
def corpus_bytes(index: int) -> bytes:
    return FILES[index].read_bytes()


@lru_cache(maxsize=None)
def document_starts(index: int) -> list[int]:
    data = corpus_bytes(index)
    return [0] + [m.start() + 1 for m in re.finditer(rb"\n---(?=[ \t\r\n])", data)]


@st.composite
def corpus_input(draw):
    """A whole small corpus file, or a run of whole documents (up to ~64 KB) of any file."""
    index = draw(st.integers(0, len(FILES) - 1))
    data = corpus_bytes(index)
    if len(data) > 64_000 or draw(st.booleans()):
        starts = document_starts(index) + [len(data)]
        first = draw(st.integers(0, len(starts) - 2))
        last = min(first + draw(st.integers(1, 20)), len(starts) - 1)
        while last > first + 1 and starts[last] - starts[first] > 64_000:
            last -= 1
        data = data[starts[first]:starts[last]]
    return bytearray(data)


@st.composite
def whole_file(draw):
    return bytearray(corpus_bytes(draw(st.integers(0, len(FILES) - 1))))


def offset(draw, data) -> int:
    return draw(st.integers(0, max(len(data), 1) - 1)) if data else 0


@st.composite
def truncated(draw):
    data = draw(whole_file())
    return bytes(data[: offset(draw, data)]), "truncated"


@st.composite
def flipped(draw):
    data = draw(corpus_input())
    for _ in range(draw(st.integers(1, 8))):
        i = offset(draw, data)
        data[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(data), "byte flips"


@st.composite
def inserted(draw):
    data = draw(corpus_input())
    pool = draw(st.sampled_from(["invalid utf-8", "control", "yaml"]))
    choices = {"invalid utf-8": INVALID_UTF8, "control": CONTROL, "yaml": YAML_BITS}[pool]
    for _ in range(draw(st.integers(1, 4))):
        i = offset(draw, data)
        data[i:i] = draw(st.sampled_from(choices))
    return bytes(data), f"inserted {pool}"


@st.composite
def cut_and_spliced(draw):
    """A slice of one corpus file pasted into another: valid lines in the wrong place."""
    a, b = draw(corpus_input()), draw(corpus_input())
    i, j = offset(draw, a), offset(draw, b)
    k = min(len(b), j + draw(st.integers(0, 2000)))
    return bytes(a[:i] + b[j:k] + a[i:]), "spliced"


@st.composite
def random_bytes(draw):
    return draw(st.binary(max_size=2000)), "random bytes"


@st.composite
def random_text(draw):
    alphabet = st.sampled_from(list("abc:-#&*!|>{}[],'\"?% \t\n\r.0123456789") + ["---\n", "...\n", "\u00e9", "\U0001f389"])
    return "".join(draw(st.lists(alphabet, max_size=400))).encode("utf-8", "surrogatepass"), "random yaml-ish text"


DOC = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: nginx\n"


@st.composite
def extreme(draw):
    size = draw(st.sampled_from([10_000, 200_000, 2_000_000]))
    which = draw(st.sampled_from(["long value", "long key", "long comment", "long line no newline",
                                  "deep flow", "deep block", "alias bomb", "many documents", "many aliases"]))
    if which == "long value":
        data = DOC + b"  annotations: {x: " + b"v" * size + b"}\n"
    elif which == "long key":
        data = DOC.replace(b"  name: p\n", b"  name: p\n  labels: {" + b"k" * size + b": v}\n")
    elif which == "long comment":
        data = b"# " + b"c" * size + b"\n" + DOC
    elif which == "long line no newline":
        data = b"a" * size
    elif which == "deep flow":
        depth = size // 100
        data = DOC + b"  x: " + b"[" * depth + b"]" * depth + b"\n"
    elif which == "deep block":
        depth = min(size // 100, 5000)
        data = DOC + b"".join(b" " * (4 + i) + b"k:\n" for i in range(depth)) + b" " * (4 + depth) + b"v\n"
        data = data.replace(b"    image: nginx\n", b"    image: nginx\n    env:\n", 1)
    elif which == "alias bomb":
        levels = [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"]
        for i in range(1, 12):
            levels.append(f"a{i}: &a{i} [".encode() + b", ".join([f"*a{i - 1}".encode()] * 10) + b"]\n")
        data = DOC + b"  bomb:\n" + b"".join(b"    " + line for line in levels)
        data = data.replace(b"  bomb:\n", b"bomb:\n")
    elif which == "many documents":
        data = (b"---\n" + DOC) * (size // len(DOC) // 10 + 1)
    else:
        data = DOC + b"  labels: &l {a: b}\n" + b"".join(f"x{i}: *l\n".encode() for i in range(size // 100))
    return data, which


INPUTS = st.one_of(truncated(), flipped(), inserted(), cut_and_spliced(), random_bytes(), random_text(), extreme())


@pytest.fixture(scope="module", autouse=True)
def report_tally(request):
    yield
    TALLY.report()
    seed = request.config.getoption("hypothesis_seed", None)
    if CAMPAIGN and seed is not None and TALLY.counts["inputs"] == CAMPAIGN:
        # The README's byte rows: one per campaign (seed), with the file-size limit it used.
        record(f"bytes-{seed}", {"examples": CAMPAIGN, "seed": int(seed), "max_file_bytes": str(LIMIT)},
               dict(TALLY.counts))


@pytest.fixture(scope="module")
def config_paths(tmp_path_factory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("fuzz-bytes-configs")
    for name, text in CONFIGS.items():
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return {name: str(directory / f"{name}.yaml") for name in CONFIGS}


def well_formed(data: bytes) -> bool:
    """libyaml accepts the whole stream (syntax, in C; a composer would cost seconds per MB)."""
    try:
        yaml_c.CParser(data.decode("utf-8")).raw_parse()
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return True


# YAML 1.2 stream syntax that libyaml (YAML 1.1) refuses as a whole stream, and postrender passes
# through: '...' with no document before it, a document after '...' without '---', tabs in
# blank or comment lines between documents.  Such output is checked document by document: cut
# before every '---' line and after every '...' line (the YAML 1.2 markers), each piece must be
# only blank/comment/'...' lines or well-formed on its own.
_NOTHING = re.compile(rb"\A(?:[ \t]*(?:#[^\n]*)?\r?\n?|\.\.\.(?:[ \t][^\n]*)?\r?\n?)*\Z")


def pieces(data: bytes) -> list[bytes]:
    out, start = [], 0
    for m in re.finditer(rb"(?m)^---(?=[ \t\r\n]|$)|^\.\.\.(?=[ \t\r\n]|$)[^\n]*\n?", data):
        end = m.start() if m.group(0).startswith(b"---") else m.end()
        out.append(data[start:end])
        start = end
    return out + [data[start:]]


def yaml12_only(data: bytes) -> bool:
    """Every document well-formed on its own (see above)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    return all(_NOTHING.match(p) or well_formed(p) for p in pieces(data))


@fuzz_settings(ci_examples=300)
@given(INPUTS, st.sampled_from(sorted(CONFIGS)))
def test_any_bytes_give_valid_output_or_one_clean_error_line(config_paths, case, config):
    data, how = case
    TALLY.add("inputs")
    outcome = run_in_process(["run", "-c", config_paths[config]], data)
    context = f"{how}, config {config}, {len(data)} bytes"
    assert "Traceback" not in outcome.err, f"{context}: {outcome.err}"
    if outcome.code != 0:
        assert_clean_error(outcome, context)
        TALLY.add(f"clean error (exit {outcome.code})")
        return
    assert all(line.startswith("postrender: warning: ") for line in outcome.err_lines), f"{context}: {outcome.err}"
    if config == "no-rules":
        assert outcome.out == data, f"{context}: no rules, but the output differs from the input"
        TALLY.add("exit 0, no rules: output = input")
    else:
        # The edit rules' output is checked for YAML syntax only (no oracle reads arbitrary bytes
        # here); tests/test_fuzz_streams.py and tests/test_kube_differential.py check meaning.
        TALLY.add("exit 0, edit rules: syntax checked")
        if outcome.out == data:
            TALLY.add("exit 0, edit rules: output = input")
    if not well_formed(outcome.out):
        assert yaml12_only(outcome.out), f"{context}: exit 0 but the output is not well-formed YAML"
        TALLY.add("exit 0, YAML 1.2 stream syntax libyaml refuses as a whole")
    TALLY.add("exit 0")
    if not well_formed(data):
        # postrender validates document by document; count what libyaml on the whole stream refuses.
        TALLY.add("exit 0 on input PyYAML refuses as one stream")
