"""DATA: where pod specs live, per kind (like kustomize's builtin field specs).

Each entry is (group, kind, path).  A path is dotted field names; ``[]`` after a name walks every
item of that list (``spec.install.spec.deployments[].spec.template.spec``).  Users extend the
table with ``podSpecPaths:`` in the config for CRDs that embed pod templates.  Only kinds listed
here are ever touched by pod-spec rules, which is what keeps CRDs (whose schemas contain
``containers`` and ``image`` *descriptions*) out of reach, as kustomize does.
"""

from __future__ import annotations

from dataclasses import dataclass

from postrender.engine.kube_yaml import is_list

BUILTIN_POD_SPEC_PATHS: tuple[tuple[str, str, str], ...] = (
    ("", "Pod", "spec"),
    ("", "PodTemplate", "template.spec"),
    ("", "ReplicationController", "spec.template.spec"),
    ("apps", "Deployment", "spec.template.spec"),
    ("apps", "StatefulSet", "spec.template.spec"),
    ("apps", "DaemonSet", "spec.template.spec"),
    ("apps", "ReplicaSet", "spec.template.spec"),
    ("batch", "Job", "spec.template.spec"),
    ("batch", "CronJob", "spec.jobTemplate.spec.template.spec"),
    # Well-known custom resources that embed a pod template.
    ("argoproj.io", "Rollout", "spec.template.spec"),
    ("apps.kruise.io", "CloneSet", "spec.template.spec"),
    ("keda.sh", "ScaledJob", "spec.jobTargetRef.template.spec"),
    ("operators.coreos.com", "ClusterServiceVersion", "spec.install.spec.deployments[].spec.template.spec"),
)

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def group_of(api_version: str | None) -> str:
    if not api_version or "/" not in api_version:
        return ""
    return api_version.split("/", 1)[0]


@dataclass(frozen=True)
class FieldPath:
    group: str | None   # None: any group
    kind: str
    steps: tuple[tuple[str, bool], ...]  # (field, walk list items)
    text: str

    @classmethod
    def parse(cls, group: str | None, kind: str, path: str) -> "FieldPath":
        steps = []
        for part in path.replace("/", ".").split("."):
            if not part:
                raise ValueError(f"empty component in path {path!r}")
            many = part.endswith("[]")
            steps.append((part[:-2] if many else part, many))
        return cls(group, kind, tuple(steps), path)

    def matches(self, api_version: str | None, kind: str | None) -> bool:
        return kind == self.kind and (self.group is None or self.group == group_of(api_version))

    def find(self, obj) -> list[tuple[str, dict]]:
        """Every mapping at this path in obj, with a readable location."""
        found = [("", obj)]
        for name, many in self.steps:
            nxt = []
            for where, node in found:
                if not isinstance(node, dict) or not isinstance(node.get(name), (dict, list)):
                    continue
                child = node[name]
                loc = f"{where}.{name}" if where else name
                if many:
                    if isinstance(child, list):
                        nxt.extend((f"{loc}[{i}]", item) for i, item in enumerate(child))
                elif isinstance(child, dict):
                    nxt.append((loc, child))
            found = nxt
        return [(w, n) for w, n in found if isinstance(n, dict)]


class PodSpecTable:
    def __init__(self, extra: list[FieldPath] = ()):
        self.paths = [FieldPath.parse(g, k, p) for g, k, p in BUILTIN_POD_SPEC_PATHS] + list(extra)
        self.kinds = frozenset(p.kind for p in self.paths)

    def pod_specs(self, resource: dict) -> list[tuple[str, dict]]:
        api, kind = resource.get("apiVersion"), resource.get("kind")
        if kind not in self.kinds:
            return []
        out = []
        for path in self.paths:
            if path.matches(api, kind):
                out.extend(path.find(resource))
        return out


def containers(pod_spec: dict):
    """(list name, index, container) for every container of a pod spec."""
    for list_name in CONTAINER_LISTS:
        items = pod_spec.get(list_name)
        if isinstance(items, list):
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    yield list_name, i, c


def stream_resources(documents, kinds=None):
    """(document, location, resource) for every object in the stream's live documents.

    With ``kinds``, documents whose kind (read cheaply from the header) is not one of them are
    skipped without being parsed, unless they are lists (an ``items`` key: kubectl and Helm
    apply the items of any such object, whatever its kind); the objects yielded are not
    filtered by kind (a list's items are whatever they are): callers check what they need.
    """
    for doc in documents:
        if doc.void or doc.removed:
            continue
        if kinds is not None and doc.kind not in kinds and not doc.is_list:
            continue
        for where, resource in resources(doc.obj):
            yield doc, where, resource


def resources(doc_obj) -> list[tuple[str, dict]]:
    """The Kubernetes objects in a document: itself, or the items of a list.

    A list is any object with an ``items`` key, as apimachinery's unstructured decoder (kubectl,
    Helm) reads it: ``kind: ConfigMap`` with ``items:`` applies the items, not the ConfigMap.
    """
    if not isinstance(doc_obj, dict):
        return []
    if is_list(doc_obj):
        items = doc_obj["items"]
        if not isinstance(items, list):
            return []
        return [(f"items[{i}]", item) for i, item in enumerate(items) if isinstance(item, dict)]
    return [("", doc_obj)]
