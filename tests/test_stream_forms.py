"""Stream forms that kubectl and Helm cut or read differently from YAML, and what postrender does.

kubectl and Helm (apimachinery's YAMLReader) cut a stream at lines starting with ``---`` and give
each piece to go-yaml, which reads the piece's first document; a stream that starts with ``{``
is read as JSON.  postrender reads streams as YAML documents (Helm 3's own splitter agrees for
the forms Helm charts produce) and, where kubectl would refuse or ignore something, says so in
a warning; a BOM is skipped exactly where go-yaml skips it and refused where it would be read as
a character.  The e2e test checks that each warning's claim about kubectl is true.
"""

from __future__ import annotations

import pytest

from postrender.engine.stream import parse_stream
from tests.conftest import write_config
from tests.kube_oracle import kubectl_read

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"
A, B = CM.format("a"), CM.format("b")
BOM = "\ufeff"
JSON = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}\n'

# (case, stream, warning fragment or None, what kubectl does: "reads N" / "refuses" / "reads a only")
FORMS = [
    ("plain two documents", A + "---\n" + B, None, "reads 2"),
    ("content on the '---' line", A + "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
     "content on the '---' line", "refuses"),
    ("a directive", "%YAML 1.1\n---\n" + A, "a YAML directive", "refuses"),
    ("a document that is only '...'", A + "---\n# c\n...\n", "a document that is only '...'", "refuses"),
    ("a document after '...' without '---'", A + "...\n" + B, "no '---' line starts this document", "reads 1"),
    ("a JSON stream, then YAML", JSON + "---\n" + B, None, "reads 2"),
    ("a JSON stream, '...', then YAML", JSON + "...\n---\n" + B, "the stream starts with '{'", "refuses"),
    ("'---' then a comment on the same line", A + "--- # next\n" + B, None, "reads 2"),
    ("'...' then '---'", A + "...\n---\n" + B, None, "reads 2"),
]

# (case, stream, postrender reads it (True) or refuses it, kubectl's reading of document b's apiVersion key)
BOMS = [
    ("BOM after a '---' that ends a piece", A + "---\n" + BOM + B, True, "apiVersion"),
    ("BOM after the stream's first '---' (kept in the piece)", "---\n" + BOM + B, False, BOM + "apiVersion"),
    ("BOM after a comment and '---'", "# c\n---\n" + BOM + B, True, "apiVersion"),
    ("BOM after a second '---' in a row", A + "---\n---\n" + BOM + B, False, BOM + "apiVersion"),
    ("BOM after a third '---' in a row", A + "---\n---\n---\n" + BOM + B, True, "apiVersion"),
    ("BOM inside a value", A + "data:\n  x: a" + BOM + "b\n", True, None),
]


@pytest.mark.parametrize(("text", "fragment"), [pytest.param(t, f, id=c) for c, t, f, _ in FORMS])
def test_forms_kubectl_refuses_or_ignores_are_warned_about(cli, tmp_path, text, fragment):
    result = cli(["-c", str(write_config(tmp_path, "rules: []\n"))], stdin=text.encode())
    assert result.code == 0
    assert result.text == text  # read as YAML, written back untouched
    if fragment is None:
        assert result.err == ""
    else:
        assert len(result.err.splitlines()) == 1 and fragment in result.err and result.err.startswith("postrender: warning: ")


@pytest.mark.parametrize(("text", "reads"), [pytest.param(t, r, id=c) for c, t, r, _ in BOMS])
def test_a_bom_is_skipped_where_go_yaml_skips_it_and_refused_elsewhere(text, reads):
    documents = [d for d in parse_stream(text.encode()).documents if not d.void]
    if reads:
        assert [d.obj["metadata"]["name"] for d in documents if d.obj] in (["a", "b"], ["b"], ["a"])
    else:
        with pytest.raises(Exception, match="byte-order mark"):
            for d in documents:
                d.validate()
                _ = d.obj


@pytest.mark.e2e
def test_kubectl_does_what_the_warnings_say(need_tool, tmp_path):
    kubectl = need_tool("kubectl")
    wrong = []
    for i, (case, text, _fragment, claim) in enumerate(FORMS):
        path = tmp_path / f"f{i}.yaml"
        path.write_text(text)
        objects, error = kubectl_read(kubectl, path)
        got = "refuses" if error else f"reads {len(objects)}"
        if got != claim:
            wrong.append(f"{case}: kubectl {got}, the table says {claim}")
    for i, (case, text, _reads, key) in enumerate(BOMS):
        path = tmp_path / f"b{i}.yaml"
        path.write_text(text)
        objects, error = kubectl_read(kubectl, path)
        if key is not None and (error or key not in objects[-1]):
            wrong.append(f"{case}: kubectl reads keys {sorted(objects[-1]) if objects else error}, the table says {key!r}")
    assert not wrong, "\n".join(wrong)
