"""An equivalent kustomization for a postrender run, proven equivalent before anything is timed.

The benchmark compares postrender with ``kubectl kustomize`` doing the same job.  "The same job"
is derived from postrender's own result and then checked, not assumed:

* image moves at container and init-container ``image`` fields become kustomize ``images:``
  entries (one per distinct old name, as a person would write them);
* every other change becomes JSON6902 operations, one patch per group of resources that need the
  same operations (a target of kind + anchored name alternation + namespace), so kustomize does
  one patch per kind of change, not one per resource;
* documents postrender adds (the generated pull Secrets) are added as resources.

``prove`` runs kustomize on the result and compares its objects with postrender's, as data
(what Kubernetes reads: lists flattened, order ignored).  Any difference stops the benchmark.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from postrender.engine import kube_yaml
from postrender.engine.stream import parse_stream
from postrender.images.reference import InvalidImageReference, parse

_IMAGE_PATH = re.compile(r"/(?:containers|initContainers)/\d+/image$")


def objects(data: bytes) -> list[dict]:
    """The objects of a stream as Kubernetes reads them (lists flattened, empty documents out)."""
    out = []
    for doc in parse_stream(data).documents:
        if doc.void or doc.obj is None:
            continue
        obj = doc.obj
        out.extend(obj["items"] if kube_yaml.is_list(obj) else [obj])
    return out


def identity(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    return obj.get("apiVersion"), obj.get("kind"), meta.get("namespace") or "", meta.get("name")


def _pointer(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def json_ops(old, new, path: str = ""):
    """JSON6902 operations turning ``old`` into ``new`` (leaf by leaf)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in new.items():
            sub = f"{path}/{_pointer(key)}"
            if key not in old:
                yield {"op": "add", "path": sub, "value": value}
            else:
                yield from json_ops(old[key], value, sub)
        for key in old:
            if key not in new:
                yield {"op": "remove", "path": f"{path}/{_pointer(key)}"}
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from json_ops(a, b, f"{path}/{i}")
    elif old != new or type(old) is not type(new):
        yield {"op": "replace", "path": path or "/", "value": new}


def _name_only(old: str, new: str) -> tuple[str, str] | None:
    """(old name, new name) when new is old with only the name changed (tag/digest kept)."""
    try:
        a, b = parse(old), parse(new)
    except InvalidImageReference:
        return None
    if (a.tag, a.digest) != (b.tag, b.digest):
        return None
    return a.name_as_written, b.name_as_written


def write_kustomization(directory: Path, input_path: Path, output: bytes) -> None:
    """kustomization.yaml (+ a patched copy of nothing: the input as the resource) in directory."""
    before = objects(input_path.read_bytes())
    after = objects(output)
    by_id = {identity(o): o for o in before}
    images: dict[str, str] = {}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    added = []
    for obj in after:
        old = by_id.get(identity(obj))
        if old is None:
            added.append(obj)
            continue
        ops = []
        for op in json_ops(old, obj):
            if op["op"] == "replace" and _IMAGE_PATH.search(op["path"]):
                old_value = _get(old, op["path"])
                names = _name_only(old_value, op["value"]) if isinstance(old_value, str) else None
                if names and images.get(names[0], names[1]) == names[1]:
                    images[names[0]] = names[1]
                    continue
            ops.append(op)
        if ops:
            api, kind, namespace, name = identity(obj)
            groups[(api, kind, namespace, json.dumps(ops, sort_keys=True))].append(name)
    patches = []
    for (api, kind, namespace, ops), names in sorted(groups.items()):
        group, _, version = api.rpartition("/")
        target = {"group": group, "version": version, "kind": kind,
                  "name": "^(" + "|".join(re.escape(n) for n in sorted(names)) + ")$"}
        if namespace:
            target["namespace"] = namespace
        patches.append({"target": target, "patch": ops})
    (directory / "added.yaml").write_text("".join("---\n" + json.dumps(o) + "\n" for o in added))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [input_path.name] + (["added.yaml"] if added else []),
        "images": [{"name": k, "newName": v} for k, v in sorted(images.items())],
        "patches": patches,
    }
    (directory / "kustomization.yaml").write_text(json.dumps(kustomization, indent=1))


def _get(obj, pointer: str):
    for part in pointer.strip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def _without_nulls(value):
    """A field set to null is an absent field to the API server; kustomize drops such fields."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def prove(kubectl: str, directory: Path, output: bytes) -> None:
    """kustomize's result in directory must be postrender's ``output``, as data; SystemExit if not."""
    proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, timeout=600)
    if proc.returncode:
        raise SystemExit(f"bench: kustomize failed on the derived kustomization: {proc.stderr.decode()[:500]}")
    theirs = sorted((json.dumps(_without_nulls(o), sort_keys=True) for o in objects(proc.stdout)))
    ours = sorted((json.dumps(_without_nulls(o), sort_keys=True) for o in objects(output)))
    if theirs != ours:
        only_k = sorted(set(theirs) - set(ours))[:1]
        only_p = sorted(set(ours) - set(theirs))[:1]
        raise SystemExit("bench: the kustomization is not equivalent to the postrender config:\n"
                         f"  kustomize only: {only_k[0][:1500] if only_k else '-'}\n"
                         f"  postrender only: {only_p[0][:1500] if only_p else '-'}")
