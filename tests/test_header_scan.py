"""The cheap header read never says what Kubernetes would not read.

``scan_header`` (postrender/engine/document.py) tells a document's apiVersion and kind without a
parse only when it can prove them; otherwise it returns None and the document is parsed.  Each
case below is built to fool a line scan (continuation lines, line breaks a scan does not see,
tags, merge keys, duplicates, indented roots); the test checks the scan either abstains or
agrees with the full reading, that ``Document.kind`` is the full reading, and (e2e) that the full
reading is what kubectl reads.  Over the corpus, the scan must decide every real document (so
the fast path stays fast).
"""

from __future__ import annotations

import base64

import pytest

from postrender.engine import kube_yaml, locate
from postrender.engine.document import Document, scan_header
from postrender.engine.stream import parse_stream
from postrender.errors import PostrenderError
from tests.conftest import CORPUS_FILES, STRESS
from tests.kube_oracle import kubectl_read

B64 = base64.b64encode(b"Deployment").decode()
META = "metadata:\n  name: x\n"

# (case, document text, kind Kubernetes reads (None: it reads no object), the scan must decide)
CASES = [
    ("plain", f"apiVersion: apps/v1\nkind: Deployment\n{META}", "Deployment", True),
    ("comment after the value", f"apiVersion: apps/v1\nkind: Deployment # the kind\n{META}", "Deployment", True),
    ("tab after the colon", f"apiVersion: apps/v1\nkind:\tDeployment\n{META}", "Deployment", True),
    ("marker, comments", f"# Source: x.yaml\n---\n# c\napiVersion: apps/v1\nkind: Deployment\n{META}", "Deployment", True),
    ("kind last", f"apiVersion: apps/v1\n{META}spec:\n  replicas: 1\nkind: Deployment\n", "Deployment", True),
    ("duplicate kind: the last wins", f"apiVersion: apps/v1\nkind: ConfigMap\n{META}kind: Deployment\n", "Deployment", True),
    ("top-level list", f"apiVersion: v1\nkind: ConfigMap\n{META}rules:\n- a\n- b\n", "ConfigMap", True),
    ("kind in a block scalar above", f"apiVersion: v1\nkind: ConfigMap\n{META}data:\n  x: |\n    kind: Deployment\n", "ConfigMap", True),
    ("quoted continuation reaching column 0",
     'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: "abc\nkind: Deployment\n  def"\n', "ConfigMap", False),
    ("flow continuation reaching column 0",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x,\nkind: Deployment}\n", "ConfigMap", False),
    ("indented root, flow continuation at column 0",
     "  apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: x, labels: {a: b,\nkind: ConfigMap\n  }}\n",
     "Deployment", False),
    ("indented root", "  apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: x}\n", "Deployment", False),
    ("lone CR before kind", f"apiVersion: apps/v1\nkind: ConfigMap\nmetadata:\n  name: x\rkind: Deployment\n", "Deployment", False),
    ("U+2028 before kind", f"apiVersion: apps/v1\nkind: ConfigMap\nmetadata:\n  name: x\u2028kind: Deployment\n", "Deployment", False),
    ("U+0085 before kind", f"apiVersion: apps/v1\nkind: ConfigMap\nmetadata:\n  name: x\x85kind: Deployment\n", "Deployment", False),
    ("!!binary kind", f"apiVersion: apps/v1\nkind: !!binary {B64}\n{META}", "Deployment", False),
    ("kind from a merge key after it", f"apiVersion: apps/v1\nkind: ConfigMap\n{META}<<: {{kind: Deployment}}\n", "Deployment", False),
    ("kind before a merge key that overrides it", f"apiVersion: apps/v1\nkind: Deployment\n<<: {{kind: ConfigMap}}\n{META}", "ConfigMap", False),
    ("quoted kind key after", f"apiVersion: apps/v1\nkind: ConfigMap\n{META}\"kind\": Deployment\n", "Deployment", False),
    ("!!str kind key after", f"apiVersion: apps/v1\nkind: ConfigMap\n{META}!!str kind: Deployment\n", "Deployment", False),
    ("multi-line plain kind", f"apiVersion: apps/v1\nkind: Deploy\n  ment\n{META}", "Deploy ment", False),
    ("anchored kind value", f"apiVersion: apps/v1\nkind: &k Deployment\n{META}", "Deployment", False),
    ("complex key", f"apiVersion: apps/v1\n? kind\n: Deployment\n{META}", "Deployment", False),
    ("JSON document", '{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}\n', "Deployment", False),
    ("flow on the marker line", '--- {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}\n', "Deployment", False),
    ("kind key spelled y? no: a key named y is 'true'", f"apiVersion: apps/v1\nkind: Deployment\n{META}y: kind\n", "Deployment", True),
    ("items on a ConfigMap: a list", "apiVersion: v1\nkind: ConfigMap\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n"
     "  metadata: {name: x}\n", "Deployment", True),
]


def truth(text: str):
    root = locate.parse_document(text)[0]
    return kube_yaml.read(root)


def kinds_read(obj) -> list:
    items = obj["items"] if kube_yaml.is_list(obj) else [obj]
    return [item.get("kind") for item in items]


@pytest.mark.parametrize(("text", "kind", "decided"), [pytest.param(t, k, d, id=c) for c, t, k, d in CASES])
def test_the_scan_abstains_or_agrees_with_the_full_reading(text, kind, decided):
    obj = truth(text)
    assert kinds_read(obj) == [kind]
    scanned = scan_header(text)
    assert (scanned is not None) == decided
    if scanned is not None:
        api, scanned_kind, has_items = scanned
        assert (api, scanned_kind, has_items) == (obj.get("apiVersion"), obj.get("kind"), kube_yaml.is_list(obj))
    doc = Document(text, index=0)
    assert (doc.api_version, doc.kind, doc.is_list) == (obj.get("apiVersion"), obj.get("kind"), kube_yaml.is_list(obj))


def test_after_a_rule_changes_the_kind_later_readers_see_the_new_kind():
    doc = Document(f"apiVersion: v1\nkind: ConfigMap\n{META}", index=0)
    assert doc.kind == "ConfigMap"
    doc.obj["kind"] = "Secret"
    doc.changed()
    assert doc.kind == "Secret"


def test_every_real_document_is_decided_by_the_scan():
    undecided = []
    for path in [*CORPUS_FILES, STRESS]:
        for doc in parse_stream(path.read_bytes()).documents:
            if doc.void or scan_header(doc.text) is not None:
                continue
            if doc.obj is not None:  # comment-only and empty documents have nothing to decide
                undecided.append(f"{path.name}: {doc.where()}")
    assert undecided == []


@pytest.mark.e2e
def test_kubectl_reads_the_kind_the_table_says(need_tool, tmp_path):
    kubectl = need_tool("kubectl")
    wrong = []
    for i, (case, text, kind, _decided) in enumerate(CASES):
        path = tmp_path / f"{i:02d}.yaml"
        path.write_text(text)
        objects, error = kubectl_read(kubectl, path)
        got = [o.get("kind") for o in objects]
        if text.startswith("--- {"):
            # kubectl's stream splitter refuses content on a '---' line; Helm's splits it off
            # and reads it, so postrender reads it too.
            if not (error and "invalid Yaml document separator" in error):
                wrong.append(f"{case}: kubectl reads {got} ({error})")
            continue
        if error or got != [kind]:
            wrong.append(f"{case}: kubectl reads {got} ({error})")
    assert not wrong, "\n".join(wrong)


# Documents every reader refuses whose header lines, and each piece between them, look fine on
# their own: the scan must abstain so that the full reading refuses them (exit 3), as kubectl
# does.  Found by the byte fuzz (seed 33): a corpus slice spliced in front of a '---' line.
REFUSED = {
    "indented '---' before the first key": "\n ---\n# Source: x.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n",
    "indented scalar before the first key": " x\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    "indented scalar after the '---' line": "---\n    a\n# Source: x.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_the_scan_abstains_on_a_document_every_reader_refuses(text):
    assert scan_header(text) is None
    with pytest.raises(PostrenderError):
        Document(text, index=0).validate()


@pytest.mark.e2e
@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_kubectl_refuses_them_too(need_tool, tmp_path, text):
    (tmp_path / "doc.yaml").write_text(text)
    _objects, error = kubectl_read(need_tool("kubectl"), tmp_path / "doc.yaml")
    assert error is not None
