"""DATA: where pod specs and pull-secret fields live, per kind (like kustomize's builtin field specs).

Each entry is (group, kind, path).  A path is dotted field names; ``[]`` after a name walks every
item of that list (``spec.install.spec.deployments[].spec.template.spec``).  Users extend the
table with ``podSpecPaths:`` in the config for CRDs that embed pod templates.  Only kinds listed
here are ever touched by pod-spec rules, which is what keeps CRDs (whose schemas contain
``containers`` and ``image`` *descriptions*) out of reach, as kustomize does.

:data:`BUILTIN_PULL_SECRET_FIELDS` is the second table: custom resources whose operator creates
the pods and takes the pull secrets in a field of its own (``Prometheus.spec.imagePullSecrets``).
Where images live is ``postrender.images.discovery``'s business.
"""

from __future__ import annotations

from postrender.records import FrozenRecord

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
    # Knative Serving: a RevisionSpec is a PodSpec (its CRD lists containers, imagePullSecrets,
    # serviceAccountName... at spec.template.spec / spec); Knative Eventing's ContainerSource
    # embeds a PodTemplateSpec.
    ("serving.knative.dev", "Service", "spec.template.spec"),
    ("serving.knative.dev", "Configuration", "spec.template.spec"),
    ("serving.knative.dev", "Revision", "spec"),
    ("sources.knative.dev", "ContainerSource", "spec.template.spec"),
    # KubeRay: head and worker groups are PodTemplateSpecs (RayCluster, and the cluster a RayJob
    # or RayService creates).
    ("ray.io", "RayCluster", "spec.headGroupSpec.template.spec"),
    ("ray.io", "RayCluster", "spec.workerGroupSpecs[].template.spec"),
    ("ray.io", "RayJob", "spec.rayClusterSpec.headGroupSpec.template.spec"),
    ("ray.io", "RayJob", "spec.rayClusterSpec.workerGroupSpecs[].template.spec"),
    ("ray.io", "RayJob", "spec.submitterPodTemplate.spec"),
    ("ray.io", "RayService", "spec.rayClusterConfig.headGroupSpec.template.spec"),
    ("ray.io", "RayService", "spec.rayClusterConfig.workerGroupSpecs[].template.spec"),
    # grafana-operator: the Grafana CR carries a Deployment spec for the Grafana it runs.
    ("grafana.integreatly.org", "Grafana", "spec.deployment.spec.template.spec"),
)

# DATA: pull-secret fields of custom resources whose operator creates the pods (issue 13).
# (api, kind, path, shape).  ``api`` is the API group, or group/version where the field moved
# between versions.  The path's last step is the list; mappings missing on the way are created
# (a TaskRun without ``podTemplate`` gets one), list steps (``[]``) only walk what exists.
# Shapes: ``references`` is a list of {name: x} (LocalObjectReference); ``names`` a list of
# strings; ``serviceAccount`` means the CRD has no such field: the pods pull with the
# ServiceAccount the path names, whose imagePullSecrets the imagePullSecrets rule can extend.
# Every entry was read from the operator's Go types or CRD (cited per line).
BUILTIN_PULL_SECRET_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    # prometheus-operator: []LocalObjectReference on each workload CR (the CRDs in the corpus's
    # kube-prometheus v0.18.0 list spec.imagePullSecrets with items {name}).
    *(("monitoring.coreos.com", kind, "spec.imagePullSecrets", "references")
      for kind in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")),
    # grafana agent-operator: GrafanaAgentSpec.ImagePullSecrets []v1.LocalObjectReference.
    ("monitoring.grafana.com", "GrafanaAgent", "spec.imagePullSecrets", "references"),
    # Argo Workflows: WorkflowSpec.ImagePullSecrets []apiv1.LocalObjectReference (a
    # CronWorkflow holds its WorkflowSpec under spec.workflowSpec).
    *(("argoproj.io", kind, "spec.imagePullSecrets", "references")
      for kind in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate")),
    ("argoproj.io", "CronWorkflow", "spec.workflowSpec.imagePullSecrets", "references"),
    # Argo Events: Template.ImagePullSecrets of the EventSource/Sensor pod.
    ("argoproj.io", "EventSource", "spec.template.imagePullSecrets", "references"),
    ("argoproj.io", "Sensor", "spec.template.imagePullSecrets", "references"),
    # Tekton: pod.Template.ImagePullSecrets; a v1 PipelineRun moved podTemplate under
    # taskRunTemplate (PipelineTaskRunTemplate), v1beta1 kept it at spec.podTemplate.
    ("tekton.dev", "TaskRun", "spec.podTemplate.imagePullSecrets", "references"),
    ("tekton.dev/v1", "PipelineRun", "spec.taskRunTemplate.podTemplate.imagePullSecrets", "references"),
    ("tekton.dev/v1beta1", "PipelineRun", "spec.podTemplate.imagePullSecrets", "references"),
    # Knative's image cache (caching.internal.knative.dev ImageSpec.ImagePullSecrets; the
    # corpus's knative-serving-core CRD lists it).  Service/Configuration/Revision are pod specs.
    ("caching.internal.knative.dev", "Image", "spec.imagePullSecrets", "references"),
    # Kubeflow spark-operator: SparkApplicationSpec.ImagePullSecrets []string (names, not
    # references); a ScheduledSparkApplication holds a SparkApplicationSpec at spec.template.
    ("sparkoperator.k8s.io", "SparkApplication", "spec.imagePullSecrets", "names"),
    ("sparkoperator.k8s.io", "ScheduledSparkApplication", "spec.template.imagePullSecrets", "names"),
    # Flink Kubernetes operator: FlinkDeploymentSpec.podTemplate is a whole Pod, merged into the
    # JobManager and TaskManager pods.
    ("flink.apache.org", "FlinkDeployment", "spec.podTemplate.spec.imagePullSecrets", "references"),
    # CloudNativePG: ClusterSpec.ImagePullSecrets []LocalObjectReference (image at spec.imageName).
    ("postgresql.cnpg.io", "Cluster", "spec.imagePullSecrets", "references"),
    # Crossplane packages pull with spec.packagePullSecrets (the image is spec.package).
    *(("pkg.crossplane.io", kind, "spec.packagePullSecrets", "references")
      for kind in ("Provider", "Function", "Configuration")),
    # ECK: every Elastic CR takes a pod template merged into the pods it creates.
    ("elasticsearch.k8s.elastic.co", "Elasticsearch", "spec.nodeSets[].podTemplate.spec.imagePullSecrets", "references"),
    *((f"{group}.k8s.elastic.co", kind, "spec.podTemplate.spec.imagePullSecrets", "references")
      for group, kind in (("kibana", "Kibana"), ("apm", "ApmServer"), ("enterprisesearch", "EnterpriseSearch"),
                          ("maps", "ElasticMapsServer"), ("logstash", "Logstash"))),
    # OpenTelemetry operator: no pull-secret field in any version of OpenTelemetryCollector
    # (apis/v1beta1/common.go; its docs/collector/image-pull-secrets.md says to give the
    # ServiceAccount named by spec.serviceAccount the imagePullSecrets).
    ("opentelemetry.io", "OpenTelemetryCollector", "spec.serviceAccount", "serviceAccount"),
)
PULL_SECRET_SHAPES = ("references", "names", "serviceAccount")
# Cluster-scoped kinds among those: their pull secrets resolve in the namespace of whatever
# uses them (a Workflow in its own namespace), which no manifest of theirs says.
CLUSTER_SCOPED = frozenset({("argoproj.io", "ClusterWorkflowTemplate"), ("pkg.crossplane.io", "Provider"),
                            ("pkg.crossplane.io", "Function"), ("pkg.crossplane.io", "Configuration")})

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def group_of(api_version: str | None) -> str:
    if not api_version or "/" not in api_version:
        return ""
    return api_version.split("/", 1)[0]


class FieldPath(FrozenRecord):
    """``group``: None for any group, "group/version" (with a slash) for that apiVersion only;
    ``steps``: (field, walk list items) pairs."""

    __slots__ = _fields = ("group", "kind", "steps", "text")

    def __init__(self, group: str | None, kind: str, steps: tuple[tuple[str, bool], ...], text: str):
        self.group = group
        self.kind = kind
        self.steps = steps
        self.text = text

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
        if kind != self.kind or self.group is None:
            return kind == self.kind
        if "/" in self.group:
            return api_version == self.group
        return self.group == group_of(api_version)

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


def _group_kinds(paths) -> tuple[frozenset, frozenset]:
    """(kinds listed for any group, (group, kind) pairs) of field paths."""
    return (frozenset(p.kind for p in paths if p.group is None),
            frozenset((p.group.split("/", 1)[0], p.kind) for p in paths if p.group is not None))


class PodSpecTable:
    def __init__(self, extra: list[FieldPath] = ()):
        self.paths = [FieldPath.parse(g, k, p) for g, k, p in BUILTIN_POD_SPEC_PATHS] + list(extra)
        self.kinds = frozenset(p.kind for p in self.paths)
        self._any_group, self._pairs = _group_kinds(self.paths)

    def wants(self, api_version: str | None, kind: str | None) -> bool:
        """Whether a document of this apiVersion and kind (read from its header) has pod specs
        in the table: a core Service is not Knative's."""
        return kind in self._any_group or (group_of(api_version), kind) in self._pairs

    def pod_specs(self, resource: dict) -> list[tuple[str, dict]]:
        api, kind = resource.get("apiVersion"), resource.get("kind")
        if kind not in self.kinds:
            return []
        out = []
        for path in self.paths:
            if path.matches(api, kind):
                out.extend(path.find(resource))
        return out


class PullSecretField(FrozenRecord):
    """Where one kind of custom resource takes pull secrets (a row of BUILTIN_PULL_SECRET_FIELDS);
    ``shape`` is one of PULL_SECRET_SHAPES."""

    __slots__ = _fields = ("path", "shape", "namespaced")

    def __init__(self, path: FieldPath, shape: str, namespaced: bool):
        self.path = path
        self.shape = shape
        self.namespaced = namespaced

    @property
    def key(self) -> str:
        return self.path.steps[-1][0]

    def holders(self, resource: dict, create: bool = False) -> list[tuple[str, dict]]:
        """(location, mapping) of every mapping that holds (or would hold) the field's key.

        With ``create``, mappings missing along the path (absent or ``null``) are added at the
        end of their parent; list steps only walk the items that exist.
        """
        found = [("", resource)]
        for name, many in self.path.steps[:-1]:
            nxt = []
            for where, node in found:
                loc = f"{where}.{name}" if where else name
                child = node.get(name)
                if many:
                    if isinstance(child, list):
                        nxt.extend((f"{loc}[{i}]", item) for i, item in enumerate(child) if isinstance(item, dict))
                    continue
                if child is None and create:
                    child = node[name] = {}
                if isinstance(child, dict):
                    nxt.append((loc, child))
            found = nxt
        return found


class PullSecretTable:
    """The custom resources of :data:`BUILTIN_PULL_SECRET_FIELDS`, by kind."""

    def __init__(self):
        self.fields = [
            PullSecretField(FieldPath.parse(api, kind, path), shape,
                            (api.split("/", 1)[0], kind) not in CLUSTER_SCOPED)
            for api, kind, path, shape in BUILTIN_PULL_SECRET_FIELDS
        ]
        self.kinds = frozenset(f.path.kind for f in self.fields)
        self._any_group, self._pairs = _group_kinds([f.path for f in self.fields])

    def wants(self, api_version: str | None, kind: str | None) -> bool:
        return kind in self._any_group or (group_of(api_version), kind) in self._pairs

    def fields_of(self, resource: dict) -> list[PullSecretField]:
        kind = resource.get("kind")
        if kind not in self.kinds:
            return []
        api = resource.get("apiVersion")
        return [f for f in self.fields if f.path.matches(api, kind)]


_PULL_SECRET_TABLE: PullSecretTable | None = None


def pull_secret_table() -> PullSecretTable:
    """The table, built once per process."""
    global _PULL_SECRET_TABLE
    if _PULL_SECRET_TABLE is None:
        _PULL_SECRET_TABLE = PullSecretTable()
    return _PULL_SECRET_TABLE


def containers(pod_spec: dict):
    """(list name, index, container) for every container of a pod spec."""
    for list_name in CONTAINER_LISTS:
        items = pod_spec.get(list_name)
        if isinstance(items, list):
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    yield list_name, i, c


def stream_resources(documents, kinds=None, wanted=None):
    """(document, location, resource) for every object in the stream's live documents.

    With ``kinds``, documents whose kind (read cheaply from the header) is not one of them are
    skipped without being parsed, unless they are lists (an ``items`` key: kubectl and Helm
    apply the items of any such object, whatever its kind); ``wanted(apiVersion, kind)``, from
    the header too, narrows that by group (a core Service is not Knative's).  The objects
    yielded are not filtered by kind (a list's items are whatever they are): callers check what
    they need.
    """
    for doc in documents:
        if doc.void or doc.removed:
            continue
        if kinds is not None and doc.kind not in kinds and not doc.is_list:
            continue
        if wanted is not None and not doc.is_list and not wanted(doc.api_version, doc.kind):
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
