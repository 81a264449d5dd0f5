"""Input that is not a manifest stream is refused (exit 3, one line), not echoed back.

A renderer that failed often prints its error on stdout (``Error: chart "x" not found``), and a
values file piped by mistake is valid YAML: kubectl would refuse both later, with a worse message.
Empty, comment-only and ``null`` documents are fine (Helm renders them for disabled templates).
"""

from __future__ import annotations

import pytest

from tests.conftest import write_config

CM = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"

REFUSED = [
    ("a Helm error message", b'Error: chart "x" not found\n', "document 1: not a Kubernetes manifest: has no apiVersion and no kind"),
    ("a message that is not YAML", b"helm: command not found\nexit status 127\n", "document 1, line 3: invalid YAML"),
    ("a number", b"127\n", "document 1: not a Kubernetes manifest: is a int"),
    ("a values file", b"foo: bar\nreplicas: 3\n", "document 1: not a Kubernetes manifest: has no apiVersion and no kind"),
    ("a plain string document", CM + b"---\njust text\n", "document 2: not a Kubernetes manifest: is a string"),
    ("a list document", b"- a\n- b\n", "document 1: not a Kubernetes manifest: is a list"),
    ("kind without apiVersion", b"kind: ConfigMap\nmetadata: {name: a}\n",
     "document 1: not a Kubernetes manifest: it has kind ConfigMap but no apiVersion"),
    ("apiVersion without kind", b"apiVersion: v1\nmetadata: {name: a}\n", "document 1: not a Kubernetes manifest: has no kind"),
    ("a kind that is not a string", b"apiVersion: v1\nkind: 12\n", "document 1: not a Kubernetes manifest: has no kind"),
    ("a list without apiVersion", b"kind: List\nitems: []\n", "document 1: not a Kubernetes manifest: it has kind List but no apiVersion"),
]

ACCEPTED = [
    ("empty input", b""),
    ("comment-only documents", b"---\n# Source: chart/templates/off.yaml\n---\n" + CM),
    ("a null document", b"---\nnull\n---\n" + CM),
    ("an empty document", b"---\n---\n" + CM),
    ("a list of objects", b"apiVersion: v1\nkind: List\nitems:\n- " + CM.replace(b"\n", b"\n  ").rstrip() + b"\n"),
    ("an empty list", b"apiVersion: v1\nkind: ConfigMapList\nitems: []\n"),
    ("a JSON object", b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}\n'),
]


@pytest.mark.parametrize(("stream", "message"), [pytest.param(s, m, id=c) for c, s, m in REFUSED])
def test_what_is_not_a_manifest_is_refused(cli, tmp_path, stream, message):
    result = cli(["-c", str(write_config(tmp_path, "rules: []\n"))], stdin=stream)
    assert (result.code, result.out) == (3, b"")
    assert result.err.startswith(f"postrender: error: {message}") and len(result.err.splitlines()) == 1, result.err


@pytest.mark.parametrize("stream", [pytest.param(s, id=c) for c, s in ACCEPTED])
def test_empty_comment_only_and_null_documents_are_fine(cli, tmp_path, stream):
    result = cli(["-c", str(write_config(tmp_path, "rules: []\n"))], stdin=stream)
    assert (result.code, result.out, result.err) == (0, stream, "")
