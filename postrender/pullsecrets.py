"""What the pull-secret rules share: who references which Secret, and which Secrets exist.

A reference is an ``imagePullSecrets`` entry of a pod spec (every kind in the pod-spec table,
``List`` items included) or of a ServiceAccount.  Resources without ``metadata.namespace`` are
keyed by the empty namespace: Helm and ``kubectl apply -n`` put them, and the Secrets that have
no namespace either, into the same namespace at install time (issue 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from postrender.engine.document import Document
from postrender.kinds import PodSpecTable, stream_resources

# Secret types the kubelet reads image pull credentials from.
PULL_SECRET_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")


@dataclass
class Reference:
    doc: Document
    resource: dict
    holder: dict          # the pod spec or ServiceAccount that has the imagePullSecrets list
    path: str             # location of that list in the resource, for messages
    index: int            # position of the entry in the list
    name: str

    @property
    def namespace(self) -> str:
        return namespace_of(self.resource)


def namespace_of(resource: dict) -> str:
    meta = resource.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) else ""


def name_of(resource: dict) -> str | None:
    meta = resource.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def holders(documents: list[Document], pod_specs: PodSpecTable, selected=None):
    """(doc, resource, holder, path) for every pod spec and ServiceAccount in the stream."""
    kinds = pod_specs.kinds | {"ServiceAccount"}
    for doc, where, resource in stream_resources(documents, kinds):
        kind = resource.get("kind")
        if kind not in kinds or (selected is not None and not selected(resource)):
            continue
        prefix = f"{where}." if where else ""
        if kind in pod_specs.kinds:
            for spec_path, pod_spec in pod_specs.pod_specs(resource):
                yield doc, resource, pod_spec, f"{prefix}{spec_path}.imagePullSecrets"
        if kind == "ServiceAccount":
            yield doc, resource, resource, f"{prefix}imagePullSecrets"


def references(documents: list[Document], pod_specs: PodSpecTable, selected=None):
    """Every named ``imagePullSecrets`` entry, in stream order.

    Entries with an empty name are skipped: the kubelet ignores them (the API accepted them,
    kubernetes/kubernetes#99454), so they need no Secret.
    """
    for doc, resource, holder, path in holders(documents, pod_specs, selected):
        entries = holder.get("imagePullSecrets")
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name:
                yield Reference(doc, resource, holder, path, i, name)


def secrets(documents: list[Document]) -> dict[tuple[str, str], str]:
    """(namespace, name) -> type of every Secret in the stream (``Opaque`` when unset)."""
    found: dict[tuple[str, str], str] = {}
    for _doc, _where, resource in stream_resources(documents, {"Secret"}):
        if resource.get("kind") != "Secret" or resource.get("apiVersion") not in ("v1", None):
            continue
        name = name_of(resource)
        if name is None:
            continue
        kind = resource.get("type")
        found[(namespace_of(resource), name)] = kind if isinstance(kind, str) and kind else "Opaque"
    return found
