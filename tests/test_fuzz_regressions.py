"""Bugs the fuzz tests found (tests/test_fuzz_streams.py, tests/test_fuzz_bytes.py), minimized.

Each case is the smallest input that showed the bug, run as a real process; the expected
output is the input with exactly the intended edits (``replaced``), or the exact error line.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import write_config

# An anchored mapping and scalar, aliased elsewhere: an edit through them cannot be spliced into
# the text, so the document is re-emitted (postrender/engine/roundtrip.py).
ANCHORED = """\
# comment before the marker
---
# Source: app/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &labels
    app: web
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
      - name: web
        image: nginx
        imagePullPolicy: &policy Always
        env:
        - name: FLAG
          value: y
      - name: sidecar
        image: busybox
        imagePullPolicy: *policy
...
"""
POLICY = "rules:\n  - imagePullPolicy: {policy: IfNotPresent}\n"
LABEL = 'rules:\n  - patch:\n      strategicMerge:\n        metadata: {labels: {team: "on"}}\n'
NOTHING = "rules: []\n"


def replaced(text: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


OUTPUT_CASES = [
    pytest.param(
        ANCHORED, POLICY,
        replaced(ANCHORED, ("imagePullPolicy: &policy Always", "imagePullPolicy: IfNotPresent"),
                 ("imagePullPolicy: *policy", "imagePullPolicy: IfNotPresent")),
        # Was: the comment before '---' and the '...' line dropped, and `value: y` (a string to
        # ruamel, a boolean to Kubernetes/go-yaml v2) rewritten as `value: true`.
        id="reemit-keeps-comment-before-marker-end-marker-and-untouched-y",
    ),
    pytest.param(
        ANCHORED, LABEL,
        replaced(ANCHORED, ("  labels: &labels\n    app: web\n", "  labels: &labels\n    app: web\n    team: 'on'\n"),
                 ("    matchLabels: *labels\n", "    matchLabels:\n      app: web\n"),
                 ("      labels: *labels\n", "      labels:\n        app: web\n")),
        # Was: "internal error: could not write the changes" -- the label went into the shared
        # mapping, so the selector and the pod labels changed too, and the check refused it.
        # Now the anchored mapping is edited where it is, and its two aliases are written out
        # with the value they had, as kubectl patch edits the decoded object.
        id="reemit-change-at-an-anchor-leaves-the-aliases-alone",
    ),
    pytest.param(
        ANCHORED.replace("\n", "\r\n"), POLICY,
        replaced(ANCHORED, ("imagePullPolicy: &policy Always", "imagePullPolicy: IfNotPresent"),
                 ("imagePullPolicy: *policy", "imagePullPolicy: IfNotPresent")).replace("\n", "\r\n"),
        id="reemit-crlf",
    ),
]


@pytest.mark.parametrize(("stream", "rules", "expected"), OUTPUT_CASES)
def test_fixed_output(cli, tmp_path, stream, rules, expected):
    result = cli(["-c", str(write_config(tmp_path, rules))], stdin=stream.encode())
    assert (result.code, result.err) == (0, "")
    assert result.text == expected
    # The data the rule did not touch reads as before (YAML 1.1, as Kubernetes reads it).
    assert yaml.safe_load(result.text)["spec"]["selector"] == yaml.safe_load(stream)["spec"]["selector"]


POD = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: nginx\n"
ERROR_CASES = [
    # Was: "internal error: ReaderError: ..." over two lines.  libyaml refuses these characters
    # in its reader, which raises a ReaderError (no line/column marks), not a MarkedYAMLError.
    pytest.param(b"\x00", POLICY,
                 "document 1, line 1: invalid YAML: unacceptable character #x0000 (control characters are not allowed)",
                 id="nul-byte-alone"),
    pytest.param(POD.replace(b"name: p", b'name: "p\x00"'), NOTHING,
                 "document 1, line 4: invalid YAML: unacceptable character #x0000 (control characters are not allowed)",
                 id="nul-in-a-value-no-rules"),
    pytest.param(b"---\n" + POD + b"---\n# Source: c/t.yaml\n" + POD.replace(b"name: p", b"name: p\x07"), POLICY,
                 "document 2 (c/t.yaml), line 15: invalid YAML: unacceptable character #x0007 (control characters are not allowed)",
                 id="bell-in-second-document"),
    pytest.param(POD + "  x: \ufffe\n".encode(), POLICY,
                 "document 1, line 9: invalid YAML: unacceptable character #xfffe (control characters are not allowed)",
                 id="noncharacter-fffe"),
]


@pytest.mark.parametrize(("stream", "rules", "message"), ERROR_CASES)
def test_fixed_clean_error(cli, tmp_path, stream, rules, message):
    result = cli(["-c", str(write_config(tmp_path, rules))], stdin=stream)
    assert (result.code, result.out) == (3, b"")
    assert result.err == f"postrender: error: {message}; fix the chart or manifest that produced this document\n"


# Was: exit 0 with the text written back.  A directive that no '---' follows is invalid YAML
# ("did not find expected <document start>"), but the stream splitter files directive lines with
# comments as "no content", so the text was kept as a void segment and never validated.
DIRECTIVE_CASES = [
    pytest.param(b"%", "document 1, line 1: invalid YAML: could not find expected directive name"
                 " (while scanning a directive)", id="lone-percent"),
    pytest.param(b"%YAML 1.1\n", "document 1, line 2: invalid YAML: did not find expected <document start>",
                 id="directive-without-document"),
    pytest.param(POD + b"...\n%YAML 1.1\n", "document 2, line 11: invalid YAML: did not find expected <document start>",
                 id="directive-after-end-marker"),
]


@pytest.mark.parametrize(("stream", "message"), DIRECTIVE_CASES)
def test_directive_without_document_is_an_error(cli, tmp_path, stream, message):
    result = cli(["-c", str(write_config(tmp_path, POLICY))], stdin=stream)
    assert (result.code, result.out) == (3, b"")
    assert result.err == f"postrender: error: {message}; fix the chart or manifest that produced this document\n"


# Was: "internal error: ReaderError: ..." over two lines, exit 3.  The config loader, like the
# stream, caught only MarkedYAMLError; a refused character raises ReaderError.
@pytest.mark.parametrize(("config_text", "values_text", "message"), [
    pytest.param("rules: []\n# \x00\n", None, "postrender.yaml:4:3: invalid YAML: unacceptable character #x0000"
                 " (control characters are not allowed)", id="nul-in-config"),
    pytest.param("rules: []\n", "x: \x07\n", "values.yaml:1:4: invalid YAML: unacceptable character #x0007"
                 " (control characters are not allowed)", id="bell-in-values-file"),
])
def test_refused_character_in_config_or_values_is_a_config_error(cli, tmp_path, config_text, values_text, message):
    args = ["-c", str(write_config(tmp_path, config_text))]
    if values_text is not None:
        (tmp_path / "values.yaml").write_text(values_text)
        args += ["-f", str(tmp_path / "values.yaml")]
    result = cli(args, stdin=POD)
    assert (result.code, result.out) == (2, b"")
    assert result.err == f"postrender: error: {tmp_path}/{message}\n"


# Was: "internal error: DuplicateKeyError: ..." over a dozen lines.  An edit through an anchor was
# re-written by ruamel, which refuses duplicate keys (libyaml and Kubernetes accept them, the
# last wins); found by the byte campaign as '?\n?' (two empty keys) with a label patch.  Edits
# through anchors are now spliced like any other (the aliases that must keep their value are
# written out), so the duplicate key is only warned about; two empty keys are null keys, which
# Kubernetes cannot read at all.
DUPLICATE_THROUGH_ANCHOR = ANCHORED.replace("  name: web\n", "  name: web\n  name: web2\n", 1)


def test_duplicate_keys_in_a_document_edited_through_an_anchor(cli, tmp_path):
    result = cli(["-c", str(write_config(tmp_path, POLICY))], stdin=DUPLICATE_THROUGH_ANCHOR.encode())
    assert result.code == 0
    assert result.text == replaced(DUPLICATE_THROUGH_ANCHOR,
                                   ("imagePullPolicy: &policy Always", "imagePullPolicy: IfNotPresent"),
                                   ("imagePullPolicy: *policy", "imagePullPolicy: IfNotPresent"))
    assert result.err == ("postrender: warning: document 1 (app/templates/web.yaml), line 8: duplicate key 'name'"
                          " (first at line 7); the last one wins, as in Kubernetes\n")


def test_null_keys_are_refused_as_kubernetes_cannot_read_them(cli, tmp_path):
    result = cli(["-c", str(write_config(tmp_path, LABEL))], stdin=b"?\n?")
    assert (result.code, result.out) == (3, b"")
    assert result.err == ("postrender: error: document 1, line 2: a null key (an empty key, `~` or `null`):"
                          " Kubernetes cannot read it (quote it); fix the chart or manifest that produced this document\n")


# Was: "internal error: ScannerError: ..." over five lines.  libyaml accepts a tab after a
# complex key, ruamel's reader (which re-writes a document whose change cannot be spliced)
# does not; found by the byte campaign.
def test_yaml_the_rewriter_cannot_read_is_a_one_line_input_error(cli, tmp_path):
    # (The byte campaign's input was '? a\t' with a label patch; that is no manifest, so the
    # same YAML now sits in one, behind an edit the splicer leaves to the rewriter: removing the
    # first item of a sequence that starts on its parent's dash line.)
    remove = "rules:\n  - patch:\n      json6902: [{op: remove, path: /x/0/0}]\n    target: {kind: ConfigMap}\n"
    stream = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nx:\n- - a\n  - b\n? c\t"
    result = cli(["-c", str(write_config(tmp_path, remove))], stdin=stream)
    assert (result.code, result.out) == (3, b"")
    assert result.err == ("postrender: error: document 1: the changes to this document cannot be spliced into its"
                          " text and the YAML writer that would re-write it cannot read it (found character '\\t'"
                          " that cannot start any token); write this document in plainer YAML\n")
