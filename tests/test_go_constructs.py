"""Issue 11's constructs, one by one: what kubectl reads from postrender's output is what the rules meant.

Each case is an input that Kubernetes (go-yaml v2) reads differently from YAML 1.1/1.2, a rule
set, and the values kubectl must read from the output at given paths (or the exit code of a
clean refusal / failed check).  The unit test checks postrender's own reading of its output; the
e2e test asks kubectl, in one call for all cases.
"""

from __future__ import annotations

import base64

import pytest

from tests.conftest import write_config
from tests.kube_oracle import kubectl_read_dir, postrender_read

B64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
POD = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n"
       "    image: {image}\n")
DEPLOY = ("apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n"
          "      containers:\n      - name: c\n        image: nginx\n")
POLICY = "rules:\n  - imagePullPolicy: {policy: IfNotPresent}\n"


def label(key: str, value: str) -> str:
    return f"rules:\n  - patch:\n      strategicMerge: {{metadata: {{labels: {{{key!r}: {value!r}}}}}}}\n".replace("'", '"')


# (case, input, config body, {path: value kubectl must read} or an exit code)
CASES = [
    *[(f"new label value {v}", CM, label("l", v), {"metadata/labels/l": v})
      for v in ("-.5", "0X1F", "0O17", "-0o17", "0B101", "-0B1", "-_1", "-.5e3", "12:30", "y", "NO", "08", "1_", ".5_0")],
    *[(f"new label key {k}", CM, label(k, "v"), {f"metadata/labels/{k}": "v"})
      for k in ("-.5", "0X1F", "0O17", "y", "on", "NO", "1e6", "12:30")],
    ("a key before '<<' is overridden by it: the value comes from the merge",
     CM + "data:\n  a: before\n  <<: {a: merged}\n", label("l", "x"), {"data/a": "merged", "metadata/labels/l": "x"}),
    ("a container image that comes from a merge is changed where Go reads it",
     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nbase: &b {name: c, image: nginx}\nspec:\n  containers:\n"
     "  - image: busybox\n    <<: *b\n", POLICY + "  - registryRewrite: {mirrors: [{from: docker.io, to: mirror.local}]}\n",
     {"spec/containers/0/image": "mirror.local/library/nginx", "spec/containers/0/imagePullPolicy": "IfNotPresent",
      "base/image": "nginx"}),
    ("!!merge << merges", CM + "x: &x {a: 1}\ndata:\n  !!merge <<: *x\n", label("l", "v"), {"data/a": 1}),
    ("a patch on a container another container merges from",
     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - &web\n    name: web\n    image: nginx\n"
     "  - <<: *web\n    name: side\n", "rules:\n  - patch:\n      strategicMerge: {spec: {containers: [{name: web, image: httpd}]}}\n",
     {"spec/containers/0/image": "httpd", "spec/containers/1/image": "nginx", "spec/containers/1/name": "side"}),
    ("!!binary kind: the rules see the Deployment", DEPLOY.format(kind=f"!!binary {B64('Deployment')}"), POLICY,
     {"kind": "Deployment", "spec/template/spec/containers/0/imagePullPolicy": "IfNotPresent"}),
    ("!!binary image: rewritten", POD.format(image=f"!!binary {B64('busybox:1.36')}"),
     "rules:\n  - registryRewrite: {mirrors: [{from: docker.io/library/busybox, to: quay.io/prometheus/busybox}]}\n",
     {"spec/containers/0/image": "quay.io/prometheus/busybox:1.36"}),
    ("!!binary image: allowedRegistries sees it", POD.format(image=f"!!binary {B64('evil.example.com/x:1')}"),
     "rules:\n  - allowedRegistries: {registries: [quay.io]}\n", 1),
    ("an indented root with a flow continuation line: the Deployment is seen",
     "  apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d, labels: {a: b,\nkind: ConfigMap\n  }}\n"
     "  spec:\n    template:\n      spec:\n        containers:\n        - {name: c, image: nginx}\n", POLICY,
     {"kind": "Deployment", "spec/template/spec/containers/0/imagePullPolicy": "IfNotPresent"}),
    ("a lone CR before kind", DEPLOY.format(kind="ConfigMap").replace("metadata:\n  name: d\n", "metadata:\n  name: d\rkind: Deployment\n"),
     POLICY, {"kind": "Deployment", "spec/template/spec/containers/0/imagePullPolicy": "IfNotPresent"}),
    ("U+2028 before kind", DEPLOY.format(kind="ConfigMap").replace("metadata:\n  name: d\n", "metadata:\n  name: d\u2028kind: Deployment\n"),
     POLICY, {"kind": "Deployment", "spec/template/spec/containers/0/imagePullPolicy": "IfNotPresent"}),
    ("items on a ConfigMap: the Deployment inside is a resource",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: holder}\nitems:\n- " + DEPLOY.format(kind="Deployment").replace("\n", "\n  ").rstrip() + "\n",
     POLICY, {"kind": "Deployment", "spec/template/spec/containers/0/imagePullPolicy": "IfNotPresent"}),
    ("new keys through an anchor (the fallback writer) are quoted",
     CM + "data: &d\n  a: b\nother: *d\n", "rules:\n  - patch:\n      strategicMerge: {data: {'y': 'on', 'NO': '0o17'}}\n",
     {"data/y": "on", "data/NO": "0o17", "other/a": "b"}),
    ("values read the Go way are moved with their meaning",
     CM + "data:\n  t: 12:30\n  o: 0o022\n  e: 08\n",
     "rules:\n  - patch:\n      json6902:\n        - {op: copy, from: /data/t, path: /data/t2}\n"
     "        - {op: move, from: /data/o, path: /data/o2}\n        - {op: copy, from: /data/e, path: /data/e2}\n"
     "    target: {kind: ConfigMap}\n",
     {"data/t2": "12:30", "data/o2": 18, "data/e2": 8, "data/e": 8}),
    ("the resource template variable sees Go's values",
     CM + "data:\n  o: 0o017\n  flag: y\n",
     "rules:\n  - patch:\n      strategicMerge: |\n        metadata:\n          labels:\n"
     "            o: \"{{ resource.data.o }}\"\n            flag: \"{{ resource.data.flag }}\"\n",
     {"metadata/labels/o": "15", "metadata/labels/flag": "True"}),
    ("onlyIfUnset treats '' as unset", POD.format(image="nginx").replace("    image: nginx\n", "    image: nginx\n    imagePullPolicy: ''\n"),
     "rules:\n  - imagePullPolicy: {policy: Never, onlyIfUnset: true}\n", {"spec/containers/0/imagePullPolicy": "Never"}),
    ("onlyIfUnset keeps a set policy", POD.format(image="nginx").replace("    image: nginx\n", "    image: nginx\n    imagePullPolicy: Always\n"),
     "rules:\n  - imagePullPolicy: {policy: Never, onlyIfUnset: true}\n", {"spec/containers/0/imagePullPolicy": "Always"}),
    ("removing a key that comes from a merge is refused", CM + "x: &x {a: 1, b: 2}\ndata:\n  <<: *x\n",
     "rules:\n  - patch:\n      strategicMerge: {data: {a: null}}\n", 3),
    ("two keys Go reads as one string are refused", CM + "data:\n  1: a\n  '1': b\n", label("l", "v"), 3),
    *[(f"a bad explicit tag {t} is refused, even with no rule", CM + f"data:\n  a: {t}\n", "rules: []\n", 3)
      for t in ("!!int abc", '!!float ""', "!!int 0x", "!!binary '%%%'", "!!bool maybe")],
    ("a good explicit tag is read", CM + "data:\n  a: !!str 0755\n  b: !!int '12'\n", label("l", "v"),
     {"data/a": "0755", "data/b": 12}),
]


def at(obj, path: str):
    for part in path.split("/"):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def run_case(cli, tmp_path, text, body):
    return cli(["-c", str(write_config(tmp_path, body))], stdin=text.encode())


@pytest.mark.parametrize(("text", "body", "want"), [pytest.param(t, b, w, id=c) for c, t, b, w in CASES])
def test_postrender_reads_its_output_as_the_rules_meant(cli, tmp_path, text, body, want):
    result = run_case(cli, tmp_path, text, body)
    if isinstance(want, int):
        assert (result.code, result.out) == (want, b""), result.err
        assert len(result.err.splitlines()) >= 1 and "internal error" not in result.err and "Traceback" not in result.err
        return
    assert result.code == 0, result.err
    [obj] = postrender_read(result.out)
    for path, value in want.items():
        assert at(obj, path) == value and type(at(obj, path)) is type(value), (path, at(obj, path))


@pytest.mark.e2e
def test_kubectl_reads_every_output_as_the_rules_meant(cli, tmp_path, need_tool):
    kubectl = need_tool("kubectl")
    outputs = tmp_path / "out"
    outputs.mkdir()
    expected = {}
    for i, (case, text, body, want) in enumerate(CASES):
        if isinstance(want, int):
            continue
        work = tmp_path / str(i)
        work.mkdir()
        result = run_case(cli, work, text, body)
        assert result.code == 0, (case, result.err)
        (outputs / f"{i:03d}.yaml").write_bytes(result.out)
        expected[i] = (case, want)
    objects, errors = kubectl_read_dir(kubectl, outputs)
    assert not errors, errors
    wrong = []
    for obj, (i, (case, want)) in zip(objects, expected.items()):
        for path, value in want.items():
            try:
                got = at(obj, path)
            except (KeyError, IndexError, TypeError):
                got = "<missing>"
            if got != value:
                wrong.append(f"{case}: kubectl reads {path} = {got!r}, meant {value!r}")
    assert len(objects) == len(expected)
    assert not wrong, "\n".join(wrong)


def test_adding_to_an_empty_flow_mapping_changes_only_that_mapping(cli, tmp_path):
    text = CM + "spec: {template: {metadata: {labels: {}}},\n  # a comment inside the flow\n  replicas: 1}\n"
    body = "rules:\n  - patch:\n      strategicMerge: {spec: {template: {metadata: {labels: {app: web}}}}}\n"
    result = run_case(cli, tmp_path, text, body)
    assert result.code == 0, result.err
    assert result.text == text.replace("labels: {}", 'labels: {"app": "web"}')
