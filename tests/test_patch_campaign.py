"""Random patches on corpus workloads: the patch rule against kubectl kustomize (kustomize 5.7.1).

A seeded generator draws a corpus Deployment, DaemonSet, StatefulSet or Service and a patch of
the kinds users write (container image, env add/delete, resources, volume mounts, a new volume,
ports, tolerations, `$patch: replace` on a map, a list's own `$patch: replace`, initContainers,
nulls; JSON6902 replace/add/remove/test/copy on existing paths), with a target or, for
strategic merge, by the patch's own identity.  The same patch runs as a kustomization
`patches:` entry under kubectl kustomize and as a postrender `patch` rule; the outputs, read as
Kubernetes reads them, must be equal, or equal but for list order (the documented `order`
deviation: kustomize moves the items a patch names to the front), and both must fail or neither.

The generator stays out of the other documented deviations on purpose: objects with null fields
(`empty-null`), ports whose `protocol` is given on one side only (`port-protocol`) and nulls in
labels (`metadata-nulls`) are not drawn; docs/patches.md lists them, tests/kustomize_cases show
them.  This campaign is what found the ports and keyless-item cases there.

CI runs a bounded campaign (``POSTRENDER_PATCH_CAMPAIGN``, default 40, seed 5); by hand::

    POSTRENDER_PATCH_CAMPAIGN=1000 POSTRENDER_PATCH_SEED=1 .venv/bin/python -m pytest \\
        tests/test_patch_campaign.py -p no:cacheprovider -q -s
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from functools import cache

import pytest
import yaml

from postrender.engine.stream import parse_stream
from tests.conftest import corpus_required
from tests.kustomize_table import Case, diff_text, lists_sorted, run_kustomize, run_postrender, same

CAMPAIGN = int(os.environ.get("POSTRENDER_PATCH_CAMPAIGN", "40"))
SEED = int(os.environ.get("POSTRENDER_PATCH_SEED", "5"))
KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Service")


def _has_null(value) -> bool:
    if isinstance(value, dict):
        return any(v is None or _has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


@cache
def objects() -> tuple[dict, ...]:
    out = []
    for path in corpus_required():
        for doc in parse_stream(path.read_bytes()).yaml_documents():
            obj = doc.obj
            if (isinstance(obj, dict) and obj.get("kind") in KINDS and isinstance(obj.get("metadata"), dict)
                    and isinstance(obj["metadata"].get("name"), str) and not _has_null(obj)):
                out.append(obj)
    return tuple(out)


def _containers(obj: dict) -> list:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers") or []


def _smp(rng: random.Random, obj: dict) -> dict:
    """A strategic-merge patch body (without identity) for ``obj``."""
    if obj["kind"] == "Service":
        ports = obj.get("spec", {}).get("ports") or []
        if ports and rng.random() < 0.6:
            port = {"port": ports[0]["port"], "targetPort": 9999}
            if "protocol" in ports[0]:  # same protocol presence: not the port-protocol deviation
                port["protocol"] = ports[0]["protocol"]
            return {"spec": {"ports": [port]}}
        return {"spec": {"type": "NodePort", "ports": [{"port": 12345, "name": "extra", "protocol": "TCP"}]}}
    containers = _containers(obj)
    if not containers:
        return {"spec": {"replicas": 3}}
    c = rng.choice(containers)
    shapes = [
        lambda: {"containers": [{"name": c["name"], "image": "example.com/patched:1"}]},
        lambda: {"containers": [{"name": c["name"], "env": [{"name": "PATCHED", "value": "1"}]}]},
        lambda: {"containers": [{"name": c["name"], "resources": {"limits": {"memory": "1Gi"}}}]},
        lambda: {"volumes": [{"name": "patched", "emptyDir": {}}],
                 "containers": [{"name": c["name"], "volumeMounts": [{"name": "patched", "mountPath": "/patched"}]}]},
        lambda: {"tolerations": [{"key": "patched", "operator": "Exists"}]},
        lambda: {"securityContext": {"$patch": "replace", "runAsNonRoot": True}},
        lambda: {"initContainers": [{"name": "patched-init", "image": "busybox:1.36"}]},
        lambda: {"containers": [{"name": c["name"], "args": None, "command": ["sh"]}]},
        lambda: {"affinity": None, "dnsPolicy": "None"},
        lambda: {"containers": [{"name": c["name"], "readinessProbe": {"httpGet": {"path": "/", "port": 80}}}]},
    ]
    if obj["spec"]["template"]["spec"].get("volumes"):  # on a missing list kustomize keeps the directive (directive-literal)
        shapes.append(lambda: {"volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]})
    if c.get("env"):
        shapes.append(lambda: {"containers": [{"name": c["name"], "env": [{"name": c["env"][0]["name"], "$patch": "delete"}]}]})
    if c.get("ports"):
        def port():
            p = {"containerPort": c["ports"][0]["containerPort"], "name": "patched"}
            if "protocol" in c["ports"][0]:
                p["protocol"] = c["ports"][0]["protocol"]
            return {"containers": [{"name": c["name"], "ports": [p]}]}
        shapes.append(port)
    if c.get("volumeMounts"):
        shapes.append(lambda: {"containers": [{"name": c["name"], "volumeMounts": [
            {"mountPath": c["volumeMounts"][0]["mountPath"], "readOnly": True}]}]})
    if len(containers) > 1:
        shapes.append(lambda: {"containers": [{"name": containers[-1]["name"], "$patch": "delete"}]})
    body = rng.choice(shapes)()
    if rng.random() < 0.3:
        return {"metadata": {"annotations": {"patched": "yes"}}, "spec": {"template": {"spec": body}}}
    return {"spec": {"template": {"spec": body}}}


def _leaves(value, pointer=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{pointer}/{k.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{pointer}/{i}")
    else:
        yield pointer, value


def _json6902(rng: random.Random, obj: dict) -> list:
    """Operations on the object's own paths (under spec, labels, annotations), types kept."""
    leaves = [(p, v) for p, v in _leaves(obj) if p.startswith(("/spec/", "/metadata/labels/", "/metadata/annotations/"))
              and "/env/" not in p and "configMap" not in p and "secret" not in p.lower()]
    pointer, value = rng.choice(leaves)
    parent = pointer.rsplit("/", 1)[0]
    new = 4242 if isinstance(value, int) and not isinstance(value, bool) else "patched"
    op = rng.choice(["replace", "add", "remove", "test", "copy", "missing"])
    if op == "replace":
        return [{"op": "replace", "path": pointer, "value": new}]
    if op == "add":  # a new member next to the leaf, or a new item at the end of its list
        return [{"op": "add", "path": parent + ("/-" if isinstance(_get(obj, parent), list) else "/patched"), "value": new}]
    if op == "remove":
        return [{"op": "remove", "path": pointer}]
    if op == "test":
        return [{"op": "test", "path": pointer, "value": value}, {"op": "replace", "path": pointer, "value": new}]
    if op == "copy":
        return [{"op": "copy", "from": pointer, "path": "/metadata/annotations/copied" if isinstance(value, str)
                 else "/spec/copied"}]
    return [{"op": "replace", "path": "/metadata/namespace" if rng.random() < 0.5 else "/spec/patchedMissing", "value": "x"}]


def _get(obj, pointer: str):
    node = obj
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node.get(token)
    return node


def draw(rng: random.Random, n: int) -> Case:
    obj = rng.choice(objects())
    meta = obj["metadata"]
    target = {"kind": obj["kind"], "name": meta["name"]}
    if rng.random() < 0.35:
        ops = _json6902(rng, obj)
        text = yaml.safe_dump(ops, sort_keys=False)
        entry, rule = {"patch": text, "target": target}, {"patch": {"json6902": text}, "target": target}
    else:
        patch = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {"name": meta["name"]}}
        if meta.get("namespace"):
            patch["metadata"]["namespace"] = meta["namespace"]
        body = _smp(rng, obj)
        patch["metadata"].update(body.pop("metadata", {}))
        patch.update(body)
        text = yaml.safe_dump(patch, sort_keys=False)
        entry, rule = {"patch": text}, {"patch": {"strategicMerge": text}}
        if rng.random() < 0.5:  # under a target, or by the patch's own identity
            entry["target"], rule["target"] = target, target
    return Case(file="campaign", source="tests/test_patch_campaign.py", name=f"{n}", area="patch",
                files={"kustomization.yaml": yaml.safe_dump({"resources": ["input.yaml"], "patches": [entry]})},
                input=yaml.safe_dump(obj, sort_keys=False), config={"rules": [rule]}, expected="")


@pytest.mark.e2e
def test_random_patches_match_kubectl_kustomize(need_tool, tmp_path):
    kubectl = need_tool("kubectl")
    assert objects(), "no corpus workloads without null fields"
    rng = random.Random(SEED)
    tally: Counter = Counter()
    problems = []
    for n in range(CAMPAIGN):
        case = draw(rng, n)
        work = tmp_path / str(n)
        (work / "k").mkdir(parents=True)
        (work / "p").mkdir()
        kustomize, ours = run_kustomize(case, work / "k", kubectl), run_postrender(case, work / "p")
        rule = json.dumps(case.config["rules"][0])
        if (kustomize.error is None) != (ours.error is None):
            problems.append(f"#{n} {rule}\n  kustomize: {kustomize.error}\n  postrender: {ours.error}")
        elif kustomize.error is not None:
            tally["both refuse"] += 1
        elif same(ours.docs, kustomize.docs):
            tally["same"] += 1
        elif same([lists_sorted(d) for d in ours.docs], [lists_sorted(d) for d in kustomize.docs]):
            tally["same but list order (deviation order)"] += 1
        else:
            problems.append(f"#{n} {rule}\n{diff_text(ours.docs, kustomize.docs)[:3000]}")
    print(f"\npatch campaign (seed {SEED}, {CAMPAIGN} patches): {json.dumps(dict(sorted(tally.items())))}")
    assert not problems, "\n".join(problems[:5])
    assert tally["same"] + tally["same but list order (deviation order)"] >= CAMPAIGN * 3 // 4, tally
