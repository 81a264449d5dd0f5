"""Differential test: the ``patch`` rule against real ``kubectl kustomize`` (kustomize 5.7.1).

Each case takes the workloads and Services of one corpus file (read in place), writes them into
tmp_path as a kustomize resource, builds ``patches: [{patch, target}]`` with kubectl, applies the
same patch and target with postrender, and compares the parsed objects.  Every difference is a
bug unless the case names a deviation from ``DEVIATIONS`` (the reason is in the table):

- ``directive-literal``: kustomize leaves ``$setElementOrder/...`` keys in its output; the case
  drops them from kustomize's objects (asserting they were there) before comparing.
- ``order``: kustomize moves the list items a patch mentions to the front of merged lists;
  postrender keeps original positions and appends new items, so that patching one field
  changes one line (issue 5, postrender/patching/strategic.py).  The case compares merge-key lists
  as sets of items (sorted by key) and also asserts that the raw objects do differ, so a stale
  deviation entry fails.
"""

from __future__ import annotations

import functools
import json
import subprocess

import pytest
import yaml

from postrender.config.loader import load_config_text
from postrender.patching.strategic import field_meta
from postrender.pipeline import run_stream
from postrender.engine.stream import parse_stream
from tests.conftest import CORPUS_FILES, corpus_required

DEVIATIONS = {
    "order": "kustomize prepends the patched/added items of merge-key lists; postrender keeps "
             "original positions and appends new items (minimal text edits, issue 5)",
    "directive-literal": "kustomize copies $setElementOrder/$retainKeys/$deleteFromPrimitiveList into "
                         "its output as keys; postrender applies them as Kubernetes does",
}
KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "Service")


def sm(text: str) -> tuple[str, str]:
    return "strategicMerge", text


def j6902(*ops: dict) -> tuple[str, list]:
    return "json6902", list(ops)


def pod(spec: str, kind: str = "Deployment") -> str:
    """A strategic-merge patch body for the pod spec of a workload (spec indented 6)."""
    body = "\n".join("      " + line if line else line for line in spec.strip("\n").split("\n"))
    return f"spec:\n  template:\n    spec:\n{body}\n"


CASES = [
    # file, target, patch, deviation
    ("kube-prometheus-manifests.yaml", {"kind": "Deployment", "name": "blackbox-exporter"},
     sm(pod("containers:\n  - name: module-configmap-reloader\n    image: example.com/reloader:2")), "order"),
    ("kube-prometheus-manifests.yaml", {"kind": "Deployment", "name": "blackbox-exporter"},
     sm(pod("containers:\n  - name: blackbox-exporter\n    image: example.com/bb:1")), None),
    ("dashboard-recommended.yaml", {"kind": "Deployment", "name": "kubernetes-dashboard"},
     sm(pod("containers:\n  - name: sidecar\n    image: busybox:1.36\n    args: [sleep, infinity]")), "order"),
    ("calico.yaml", {"kind": "DaemonSet"},
     sm(pod("containers:\n  - name: calico-node\n    env:\n      - name: FELIX_LOGSEVERITYSCREEN\n        value: debug")), "order"),
    ("calico.yaml", {"kind": "DaemonSet", "name": "calico-node"},
     sm(pod("containers:\n  - name: calico-node\n    env:\n      - name: DATASTORE_TYPE\n        value: etcd")), None),
    ("calico.yaml", {"kind": "DaemonSet"},
     sm(pod("initContainers:\n  - name: install-cni\n    env:\n      - name: SLEEP\n        $patch: delete")), "order"),
    ("calico.yaml", {"kind": "DaemonSet"},
     sm(pod("volumes:\n  - name: cni-bin-dir\n    $patch: delete")), None),
    ("calico.yaml", {"kind": "DaemonSet"},
     sm(pod("volumes:\n  - name: extra\n    emptyDir: {}")), "order"),
    ("calico.yaml", {"kind": "DaemonSet"},
     sm(pod("tolerations:\n  - key: dedicated\n    operator: Equal\n    value: infra\n    effect: NoSchedule")), None),
    ("kube-flannel.yml", {"kind": "DaemonSet", "name": "kube-flannel-.*"},
     sm(pod("tolerations: []")), None),
    ("kube-flannel.yml", {"kind": "DaemonSet"},
     sm(pod("affinity: null\npriorityClassName: null")), None),
    ("kube-flannel.yml", {"kind": "DaemonSet"},
     sm(pod("containers:\n  - name: kube-flannel\n    volumeMounts:\n      - mountPath: /run/flannel\n        readOnly: true")), None),
    ("kube-flannel.yml", {"kind": "DaemonSet"},
     sm(pod("containers:\n  - name: kube-flannel\n    resources:\n      limits:\n        memory: 100Mi")), None),
    ("kube-flannel.yml", {"kind": "DaemonSet"},
     sm(pod("initContainers:\n  - name: install-cni-plugin\n    $patch: delete")), None),
    ("ingress-nginx-cloud-deploy.yaml", {"kind": "Deployment"},
     sm(pod("containers:\n  - name: controller\n    ports:\n      - containerPort: 10254\n        name: metrics\n        protocol: TCP")), "order"),
    ("ingress-nginx-cloud-deploy.yaml", {"kind": "Deployment"},
     sm(pod("containers:\n  - name: controller\n    args: [/nginx-ingress-controller, --v=2]")), None),
    ("ingress-nginx-cloud-deploy.yaml", {"kind": "Deployment"},
     sm(pod("nodeSelector:\n  kubernetes.io/os: null\n  node-role: ingress")), None),
    ("ingress-nginx-cloud-deploy.yaml", {"kind": "Job", "name": "ingress-nginx-admission-.*"},
     sm("spec:\n  backoffLimit: 1\n  ttlSecondsAfterFinished: null\n"), None),
    ("ingress-nginx-cloud-deploy.yaml", {"kind": "Service", "name": "ingress-nginx-controller"},
     sm("spec:\n  type: NodePort\n  externalTrafficPolicy: null\n"), None),
    ("ingress-nginx-cloud-deploy.yaml", {"kind": "Service", "name": "ingress-nginx-controller-admission"},
     sm("$patch: delete\n"), None),
    ("helm-cert-manager-v1.21.1.yaml", {"kind": "Deployment", "name": "cert-manager-.*"},
     sm("metadata:\n  annotations:\n    team: platform\nspec:\n  replicas: 2\n"), None),
    ("helm-cert-manager-v1.21.1.yaml", {"kind": "Deployment", "labelSelector": "app.kubernetes.io/component in (webhook,cainjector)"},
     sm(pod("imagePullSecrets:\n  - name: regcred")), None),
    ("helm-cert-manager-v1.21.1.yaml", {"labelSelector": "app.kubernetes.io/component!=controller,app.kubernetes.io/instance=cert-manager"},
     sm("metadata:\n  labels:\n    patched: \"yes\"\n"), None),
    ("knative-serving-core.yaml", {"kind": "Deployment", "name": "(activator|autoscaler)"},
     sm("spec:\n  revisionHistoryLimit: 3\n  template:\n    metadata:\n      annotations:\n        a: b\n"), None),
    ("knative-serving-core.yaml", {"kind": "Deployment", "name": "activator"},
     sm(pod("securityContext:\n  $patch: replace\n  runAsNonRoot: true")), None),
    ("kube-prometheus-manifests.yaml", {"kind": "DaemonSet", "name": "node-exporter"},
     sm(pod("$setElementOrder/containers:\n  - name: kube-rbac-proxy\n  - name: node-exporter\ncontainers:\n  - name: kube-rbac-proxy\n    image: example.com/proxy:1")), "directive-literal"),
    # JSON6902
    ("kube-prometheus-manifests.yaml", {"kind": "Deployment", "name": "grafana"},
     j6902({"op": "replace", "path": "/spec/replicas", "value": 3}), None),
    ("kube-prometheus-manifests.yaml", {"kind": "Deployment", "name": "kube-state-metrics"},
     j6902({"op": "remove", "path": "/spec/template/spec/containers/1"}), None),
    ("kube-prometheus-manifests.yaml", {"kind": "Deployment", "name": "kube-state-metrics"},
     j6902({"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--v=3"}), None),
    ("calico.yaml", {"kind": "DaemonSet"},
     j6902({"op": "add", "path": "/spec/template/spec/tolerations/0", "value": {"key": "a", "operator": "Exists"}},
           {"op": "test", "path": "/spec/template/spec/tolerations/1/operator", "value": "Exists"}), None),
    ("kube-flannel.yml", {"kind": "DaemonSet"},
     j6902({"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"}), None),
    ("kube-flannel.yml", {"kind": "DaemonSet"},
     j6902({"op": "move", "from": "/spec/template/spec/priorityClassName", "path": "/metadata/annotations~1x"}), None),
    ("helm-metrics-server-3.13.1.yaml", {"kind": "Deployment"},
     j6902({"op": "add", "path": "/metadata/labels/a~1b", "value": "c"},
           {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "example.com/ms:1"}), None),
    ("dashboard-recommended.yaml", {"kind": "Service", "name": "dashboard-metrics-scraper"},
     j6902({"op": "replace", "path": "/spec/ports", "value": [{"port": 9000, "targetPort": 9000}]}), None),
    ("longhorn.yaml", {"kind": "DaemonSet", "labelSelector": "app=longhorn-manager"},
     j6902({"op": "remove", "path": "/spec/template/spec/containers/1"},
           {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "X", "value": "1"}}), None),
]


def _id(case) -> str:
    file, target, (how, _), _dev = case
    return f"{file.split('.')[0]}-{how}-{'-'.join(f'{k}={v}' for k, v in target.items())}"


@functools.cache
def load_objects(file: str) -> tuple[dict, ...]:
    """The file's workloads and Services, parsed once per module (a file serves up to 7 cases;
    nothing here mutates them)."""
    path = next(p for p in corpus_required() if p.name == file)
    out = []
    for doc in parse_stream(path.read_bytes()).yaml_documents():
        obj = doc.obj
        if isinstance(obj, dict) and obj.get("kind") in KINDS:
            out.append(obj)
    return tuple(out)


def by_id(objs) -> dict:
    return {(o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objs}


def sort_merge_lists(obj, api_version: str, kind: str, path: tuple = ()):
    """Merge-key lists sorted by key (the order deviation); everything else as is."""
    if isinstance(obj, dict):
        return {k: sort_merge_lists(v, api_version, kind, path + (k,)) for k, v in obj.items()}
    if isinstance(obj, list):
        items = [sort_merge_lists(v, api_version, kind, path) for v in obj]
        meta = field_meta(api_version, kind, path)
        if meta and meta.merges and meta.merge_key:
            items.sort(key=lambda x: json.dumps(x.get(meta.merge_key) if isinstance(x, dict) else x, default=str))
        return items
    return obj


def drop_directives(obj):
    if isinstance(obj, dict):
        return {k: drop_directives(v) for k, v in obj.items() if not k.startswith("$")}
    if isinstance(obj, list):
        return [drop_directives(v) for v in obj]
    return obj


def kustomize(kubectl, tmp_path, objs, target, how, body) -> dict:
    (tmp_path / "input.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False))
    if how == "strategicMerge":
        # kustomize parses a strategic-merge patch as a resource: it needs an identity, which
        # it then ignores in favour of each target's (PatchTransformer with a target).
        data = yaml.safe_load(body)
        data.setdefault("apiVersion", "v1")
        data.setdefault("kind", "Ignored")
        data.setdefault("metadata", {}).setdefault("name", "ignored")
        patch_text = yaml.safe_dump(data, sort_keys=False)
    else:
        patch_text = yaml.safe_dump(body, sort_keys=False)
    kustomization = {"resources": ["input.yaml"], "patches": [{"patch": patch_text, "target": target}]}
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    proc = subprocess.run([str(kubectl), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return by_id(d for d in yaml.safe_load_all(proc.stdout) if d)


def postrender(objs, target, how, body) -> dict:
    config = {"apiVersion": "postrender/v1alpha1", "kind": "PostRenderer",
              "rules": [{"patch": {how: body}, "target": target}]}
    cfg = load_config_text(yaml.safe_dump(config, sort_keys=False), "diff.yaml")
    out = run_stream(cfg, yaml.safe_dump_all(objs, sort_keys=False).encode()).output
    return by_id(d for d in yaml.safe_load_all(out) if d)


def test_enough_cases():
    assert len(CASES) >= 30
    assert {dev for *_, dev in CASES} <= set(DEVIATIONS) | {None}


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
@pytest.mark.e2e
def test_patch_matches_kubectl_kustomize(case, tmp_path, need_tool):
    kubectl = need_tool("kubectl")
    file, target, (how, body), deviation = case
    objs = load_objects(file)
    want = kustomize(kubectl, tmp_path, objs, target, how, body)
    got = postrender(objs, target, how, body)
    assert got.keys() == want.keys()
    assert by_id(objs) != want, "the patch changed nothing; the case tests nothing"
    if deviation == "directive-literal":
        cleaned = {k: drop_directives(v) for k, v in want.items()}
        assert cleaned != want, "kustomize no longer writes directives; remove the deviation"
        want = cleaned
    if deviation == "order":
        assert got != want, "documented order deviation no longer differs; remove it from the case"
        got = {k: sort_merge_lists(v, k[0], k[1]) for k, v in got.items()}
        want = {k: sort_merge_lists(v, k[0], k[1]) for k, v in want.items()}
    for key in want:
        assert got[key] == want[key], key


def test_one_container_image_changes_one_line():
    """Issue 5: a patch that changes one container's image changes one line of a corpus file."""
    path = next(p for p in CORPUS_FILES if p.name == "kube-prometheus-manifests.yaml")
    data = path.read_bytes()
    rules = """\
apiVersion: postrender/v1alpha1
kind: PostRenderer
rules:
  - patch:
      strategicMerge: |
        spec:
          template:
            spec:
              containers:
                - name: kube-rbac-proxy-self
                  image: example.com/kube-rbac-proxy:v9
    target: {kind: Deployment, name: kube-state-metrics}
    expect: 1
"""
    out = run_stream(load_config_text(rules, "t.yaml"), data).output
    before, after = data.decode().splitlines(keepends=True), out.decode().splitlines(keepends=True)
    assert len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(changed) == 1, changed
    assert changed[0][1].strip() == "image: example.com/kube-rbac-proxy:v9"
