"""What the pull-secret rules share: who references which Secret, and which Secrets exist.

A *holder* is a list of pull-secret names in a resource: ``imagePullSecrets`` of a pod spec
(every kind in the pod-spec table, ``List`` items included), of a ServiceAccount, or the
pull-secret field of a custom resource whose operator creates the pods
(``kinds.BUILTIN_PULL_SECRET_FIELDS``: ``Prometheus.spec.imagePullSecrets``,
``SparkApplication.spec.imagePullSecrets`` as plain names...).

Namespaces: a resource without ``metadata.namespace`` is installed into the release namespace
(Helm ``-n``, ``kubectl apply -n``).  When the run knows it (``--namespace``,
``$HELM_NAMESPACE``), such resources are keyed by it, so ``namespace: prtest`` written out and
left out under ``-n prtest`` are one namespace (issue 13); otherwise by the empty namespace,
which resolves against Secrets that have none either (issue 4).  Holders in cluster-scoped
kinds (ClusterWorkflowTemplate, Crossplane packages) have no namespace of their own: their
names resolve wherever they are used, so no Secret is generated or checked for them.
"""

from __future__ import annotations

from postrender.engine.document import Document
from postrender.kinds import PodSpecTable, pull_secret_table, stream_resources
from postrender.records import Record

# Secret types the kubelet reads image pull credentials from.
PULL_SECRET_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")
POD_SPEC, SERVICE_ACCOUNT, FIELD = "podSpec", "serviceAccount", "field"


class Holder(Record):
    __slots__ = _fields = ("doc", "resource", "mapping", "key", "path", "shape", "namespace", "source")

    def __init__(self, doc: Document, resource: dict, mapping: dict, key: str, path: str, shape: str,
                 namespace: str | None, source: str):
        self.doc = doc
        self.resource = resource
        self.mapping = mapping      # the pod spec, ServiceAccount or CR mapping that has (or gets) the list
        self.key = key              # imagePullSecrets, packagePullSecrets
        self.path = path            # location of the list in the document, for messages
        self.shape = shape          # "references" ([{name: x}]) or "names" ([x])
        self.namespace = namespace  # where its names resolve; None: a cluster-scoped kind
        self.source = source        # POD_SPEC, SERVICE_ACCOUNT or FIELD


class Reference(Record):
    __slots__ = _fields = ("holder", "index", "name")

    def __init__(self, holder: Holder, index: int, name: str):
        self.holder = holder
        self.index = index  # position of the entry in the list
        self.name = name

    @property
    def doc(self) -> Document:
        return self.holder.doc

    @property
    def resource(self) -> dict:
        return self.holder.resource

    @property
    def path(self) -> str:
        return self.holder.path

    @property
    def namespace(self) -> str | None:
        return self.holder.namespace


def namespace_of(resource: dict, default: str = "") -> str:
    """The namespace a resource is installed into: its own, else ``default``."""
    meta = resource.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else default


def name_of(resource: dict) -> str | None:
    meta = resource.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def entry_name(entry, shape: str = "references") -> str | None:
    """The Secret name of one list entry ({name: x}, or x for the "names" shape)."""
    if shape == "names":
        return entry if isinstance(entry, str) else None
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return entry["name"]
    return None


def holder_kinds(pod_specs: PodSpecTable) -> frozenset:
    return pod_specs.kinds | {"ServiceAccount"} | pull_secret_table().kinds


def holder_wanted(pod_specs: PodSpecTable, service_accounts: bool = True):
    """``stream_resources``' ``wanted``: documents that may hold pull-secret lists, by group too."""
    table = pull_secret_table()

    def wanted(api_version, kind) -> bool:
        return ((service_accounts and kind == "ServiceAccount") or pod_specs.wants(api_version, kind)
                or table.wants(api_version, kind))

    return wanted


def holders_of(doc, where: str, resource: dict, pod_specs: PodSpecTable, namespace: str = "",
               create: bool = False):
    """Every holder of one resource; with ``create``, CR fields whose mappings are missing get
    them (the imagePullSecrets rule), so a holder is yielded for each place one can go."""
    kind = resource.get("kind")
    prefix = f"{where}." if where else ""
    own = namespace_of(resource, namespace)
    seen: set = set()
    if kind in pod_specs.kinds:
        for spec_path, pod_spec in pod_specs.pod_specs(resource):
            seen.add(id(pod_spec))
            yield Holder(doc, resource, pod_spec, "imagePullSecrets", f"{prefix}{spec_path}.imagePullSecrets",
                         "references", own, POD_SPEC)
    if kind == "ServiceAccount" and resource.get("apiVersion") in ("v1", None):
        yield Holder(doc, resource, resource, "imagePullSecrets", f"{prefix}imagePullSecrets", "references", own,
                     SERVICE_ACCOUNT)
    for field in pull_secret_table().fields_of(resource):
        if field.shape == "serviceAccount":
            continue
        for holder_path, mapping in field.holders(resource, create):
            if id(mapping) in seen:
                continue
            seen.add(id(mapping))
            path = f"{prefix}{holder_path}.{field.key}" if holder_path else f"{prefix}{field.key}"
            yield Holder(doc, resource, mapping, field.key, path, field.shape, own if field.namespaced else None, FIELD)


def holders(documents: list[Document], pod_specs: PodSpecTable, selected=None, namespace: str = ""):
    """Every holder in the stream (pod specs, ServiceAccounts, CR pull-secret fields)."""
    kinds = holder_kinds(pod_specs)
    for doc, where, resource in stream_resources(documents, kinds, holder_wanted(pod_specs)):
        if resource.get("kind") not in kinds or (selected is not None and not selected(resource)):
            continue
        yield from holders_of(doc, where, resource, pod_specs, namespace)


def references(documents: list[Document], pod_specs: PodSpecTable, selected=None, namespace: str = ""):
    """Every named pull-secret entry, in stream order.

    Entries with an empty name are skipped: the kubelet ignores them (the API accepted them,
    kubernetes/kubernetes#99454), so they need no Secret.
    """
    for holder in holders(documents, pod_specs, selected, namespace):
        entries = holder.mapping.get(holder.key)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            name = entry_name(entry, holder.shape)
            if name:
                yield Reference(holder, i, name)


def secrets(documents: list[Document], namespace: str = "") -> dict[tuple[str, str], str]:
    """(namespace, name) -> type of every Secret in the stream (``Opaque`` when unset)."""
    found: dict[tuple[str, str], str] = {}
    for _doc, _where, resource in stream_resources(documents, {"Secret"}):
        if resource.get("kind") != "Secret" or resource.get("apiVersion") not in ("v1", None):
            continue
        name = name_of(resource)
        if name is None:
            continue
        kind = resource.get("type")
        found[(namespace_of(resource, namespace), name)] = kind if isinstance(kind, str) and kind else "Opaque"
    return found
