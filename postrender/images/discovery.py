"""Every place an image reference lives in a resource: one discovery mechanism, as data.

Every image rule (``registryRewrite``, ``images``, ``allowedRegistries``, ``imagePullPolicy``,
the ``registries:`` filter of ``imagePullSecrets``) and ``postrender images`` ask
:class:`ImageTable` where the images are, so a rewrite, a check and the inventory always agree
on what "every image" means.  Each location says which *discovery rule* found it (``found``),
shown by ``--explain`` and the JSON inventory:

``podSpec``
    ``image`` of ``initContainers``/``containers``/``ephemeralContainers`` of every pod spec the
    kind table knows (``kinds.BUILTIN_POD_SPEC_PATHS``: workloads, ``List`` items, OLM CSV
    deployments, Knative, KubeRay, ``podSpecPaths`` from the config);
``imageVolume``
    ``volumes[].image.reference`` of those pod specs (Kubernetes 1.31+ image volumes), and,
    generic, of any ``volumes`` list at any depth of other kinds (a pod spec no table knows);
``imageField``
    the field table :data:`BUILTIN_IMAGE_FIELDS` (operator CRs whose image is a plain field,
    like kustomize's ``images`` field specs) and the config's ``imageFields``;
``containers``
    generic: the ``image`` of any item of a ``containers``/``initContainers`` list at any depth
    (what kustomize's legacy image filter, ``api/filters/imagetag/legacy.go``, rewrites in every
    kind but CustomResourceDefinition);
``imageKey``
    generic: any mapping key ``image`` whose value is a valid image reference (kbld's default
    search rule, ``KeyMatcher{Name: "image"}`` in ``pkg/kbld/config/conf.go``, narrowed to
    valid references, see below).

Inside what these find, images embedded in container ``command``/``args`` (``via: arg``:
``--prometheus-config-reloader=quay.io/...``, ``--manager-image REF``) and env values whose
name ends in ``IMAGE`` (``via: env``) are found too, in every mapping that has an image field
of its own (a container, a Tekton step, an Argo template's container); which flag and variable
names count is decided in ``reference.py``.  A location found by two rules is yielded once, by
the first.

What generic discovery does not take, on purpose (a false positive rewrites a user's data):

* CustomResourceDefinitions: their schemas *describe* ``image`` and ``containers`` (kustomize
  skips them too);
* kinds listed in :data:`NO_IMAGE_KINDS`: built-in Kubernetes kinds whose schema has no image
  field (ConfigMap, Secret, Service, RBAC, webhooks, ...), and the built-in workloads of
  :data:`KNOWN_SCHEMA_KINDS`, whose images are all where ``podSpec`` looks.  A ConfigMap's or Secret's data is
  opaque text to Kubernetes even when it holds ``image: x`` (a chart's values file, a Grafana
  dashboard's PromQL ``image!=""``); ``postrender images --suspects`` lists such strings so a
  user can decide;
* groups in :data:`GENERIC_SKIPPED_GROUPS` (Kyverno policies): their ``containers``/``image``
  are patterns that *match* pods (``image: "nginx:latest"`` in a deny rule), not pods to run;
* ``metadata``, ``labels`` and ``annotations`` at any depth and the top-level ``status``:
  annotation values are strings for other tools (kbld does rewrite an annotation named
  ``image``; postrender does not);
* under ``imageKey``, values that are not valid references and placeholder words that parse as
  one (``default``, ``none``, ``true``...: see :data:`PLACEHOLDERS`);
* paths the config excludes (``imageDiscovery.exclude``), and everything generic when
  ``imageDiscovery.generic`` is false.

Helm test hooks (Pods annotated ``helm.sh/hook: test``) are Pods like any other: an offline
cluster must be able to pull their images for ``helm test``, so they are taken.

Speed: a document is parsed only when it may hold an image (:meth:`ImageTable.visits`): kinds in
the tables always; kinds in :data:`NO_IMAGE_KINDS` never; anything else only when its text
contains a spelling that could produce an image key or container list (:func:`may_hold_images`),
which is how stress.yaml's 300 CRDs and dashboard ConfigMaps stay unparsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from postrender.images.reference import (
    InvalidImageReference,
    embedded_image,
    find_embedded_images,
    is_image_env_name,
    is_image_flag,
    parse,
)
from postrender.kinds import FieldPath, containers, group_of, resources
from postrender.records import FrozenRecord, Record

# DATA: (group, kind, path to the image field, whether the mapping holding the field takes an
# ``imagePullPolicy`` of the Kubernetes enum).  ``[]`` walks list items, as in kinds.py.  Kinds
# that embed a whole pod template belong in kinds.BUILTIN_POD_SPEC_PATHS instead.  Generic
# discovery finds most ``image`` keys anyway; an entry here also takes a field with another
# name (``imageName``, ``package``), reports an invalid value instead of passing over it, and
# says where ``imagePullPolicy`` may be written.
BUILTIN_IMAGE_FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    # prometheus-operator: the main image, the deprecated baseImage (+ spec.version), the Thanos
    # sidecar, and containers merged into the generated pods.
    *(
        ("monitoring.coreos.com", kind, path, policy)
        for kind in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")
        for path, policy in (("spec.image", True), ("spec.containers[].image", True),
                             ("spec.initContainers[].image", True))
    ),
    *(("monitoring.coreos.com", kind, "spec.baseImage", True) for kind in ("Prometheus", "Alertmanager")),
    ("monitoring.coreos.com", "Prometheus", "spec.thanos.image", False),
    ("monitoring.coreos.com", "Prometheus", "spec.thanos.baseImage", False),
    # grafana agent-operator (GrafanaAgentSpec.Image; no pull policy field).
    ("monitoring.grafana.com", "GrafanaAgent", "spec.image", False),
    # Tekton: steps, sidecars and the step template of a Task, and of tasks embedded elsewhere.
    *(
        ("tekton.dev", kind, f"{prefix}{field}", True)
        for kind, prefix in (
            ("Task", "spec."),
            ("ClusterTask", "spec."),
            ("TaskRun", "spec.taskSpec."),
            ("Pipeline", "spec.tasks[].taskSpec."),
            ("Pipeline", "spec.finally[].taskSpec."),
            ("PipelineRun", "spec.pipelineSpec.tasks[].taskSpec."),
            ("PipelineRun", "spec.pipelineSpec.finally[].taskSpec."),
        )
        for field in ("steps[].image", "sidecars[].image", "stepTemplate.image")
    ),
    # Argo Workflows: container and script templates (and their init/sidecar containers).
    *(
        ("argoproj.io", kind, f"{prefix}templates[].{field}", True)
        for kind, prefix in (
            ("Workflow", "spec."),
            ("WorkflowTemplate", "spec."),
            ("ClusterWorkflowTemplate", "spec."),
            ("CronWorkflow", "spec.workflowSpec."),
        )
        for field in (
            "container.image",
            "script.image",
            "initContainers[].image",
            "sidecars[].image",
            "containerSet.containers[].image",
        )
    ),
    # OLM: the catalog image a CatalogSource serves (its CSVs' deployments are pod specs).
    ("operators.coreos.com", "CatalogSource", "spec.image", False),
    # Knative's image cache (pre-pulls the queue-proxy image on every node).
    ("caching.internal.knative.dev", "Image", "spec.image", False),
    # OpenTelemetry operator: OpenTelemetryCommonFields.Image (+ ImagePullPolicy).
    ("opentelemetry.io", "OpenTelemetryCollector", "spec.image", True),
    # spark-operator: the application image (+ spec.imagePullPolicy), driver/executor overrides.
    *(
        ("sparkoperator.k8s.io", kind, f"{prefix}{path}", policy)
        for kind, prefix in (("SparkApplication", "spec."), ("ScheduledSparkApplication", "spec.template."))
        for path, policy in (("image", True), ("driver.image", False), ("executor.image", False))
    ),
    # Flink Kubernetes operator: FlinkDeploymentSpec.Image (+ ImagePullPolicy).
    ("flink.apache.org", "FlinkDeployment", "spec.image", True),
    # CloudNativePG: the PostgreSQL image is spec.imageName (+ spec.imagePullPolicy).
    ("postgresql.cnpg.io", "Cluster", "spec.imageName", True),
    # Crossplane packages are OCI images named by spec.package.
    *(("pkg.crossplane.io", kind, "spec.package", False) for kind in ("Provider", "Function", "Configuration")),
    # ECK: every Elastic CR names its image in spec.image.
    *(
        (f"{group}.k8s.elastic.co", kind, "spec.image", False)
        for group, kind in (("elasticsearch", "Elasticsearch"), ("kibana", "Kibana"), ("apm", "ApmServer"),
                            ("enterprisesearch", "EnterpriseSearch"), ("maps", "ElasticMapsServer"),
                            ("logstash", "Logstash"), ("beat", "Beat"), ("agent", "Agent"))
    ),
)

# DATA: kinds (group, kind) whose schema has no container image field: generic discovery never
# looks into them and their documents are not even parsed for images.
NO_IMAGE_KINDS: frozenset[tuple[str, str]] = frozenset(
    {("", kind) for kind in ("ConfigMap", "Secret", "Service", "ServiceAccount", "Endpoints", "Namespace",
                             "PersistentVolume", "PersistentVolumeClaim", "LimitRange", "ResourceQuota",
                             "Event", "Binding", "ComponentStatus")}
    | {("apiextensions.k8s.io", "CustomResourceDefinition")}
    | {("rbac.authorization.k8s.io", kind) for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")}
    | {("admissionregistration.k8s.io", kind)
       for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
                    "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding")}
    | {("apiregistration.k8s.io", "APIService")}
    | {("networking.k8s.io", kind) for kind in ("Ingress", "IngressClass", "NetworkPolicy", "IPAddress", "ServiceCIDR")}
    | {("policy", kind) for kind in ("PodDisruptionBudget", "PodSecurityPolicy")}
    | {("storage.k8s.io", kind) for kind in ("StorageClass", "CSIDriver", "CSINode", "VolumeAttachment",
                                             "CSIStorageCapacity", "VolumeAttributesClass")}
    | {("scheduling.k8s.io", "PriorityClass"), ("node.k8s.io", "RuntimeClass"), ("coordination.k8s.io", "Lease"),
       ("discovery.k8s.io", "EndpointSlice"), ("events.k8s.io", "Event"),
       ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle")}
    | {("autoscaling", "HorizontalPodAutoscaler")}
    | {("flowcontrol.apiserver.k8s.io", kind) for kind in ("FlowSchema", "PriorityLevelConfiguration")}
    | {("resource.k8s.io", kind) for kind in ("ResourceClaim", "ResourceClaimTemplate", "DeviceClass", "ResourceSlice")}
    # Custom resources charts render by the dozen whose CRDs have no image field: rules, scrape
    # and routing configuration, certificates.  (Checked against their CRDs: kube-prometheus
    # v0.18.0 in the corpus, cert-manager v1.21.1 in the corpus, Gateway API, Traefik, KEDA, Istio.)
    | {("monitoring.coreos.com", kind) for kind in ("PrometheusRule", "ServiceMonitor", "PodMonitor", "Probe",
                                                    "ScrapeConfig", "AlertmanagerConfig")}
    | {("cert-manager.io", kind) for kind in ("Certificate", "Issuer", "ClusterIssuer", "CertificateRequest")}
    | {("gateway.networking.k8s.io", kind) for kind in ("Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute",
                                                        "TCPRoute", "TLSRoute", "UDPRoute", "ReferenceGrant")}
    | {("traefik.io", kind) for kind in ("IngressRoute", "IngressRouteTCP", "IngressRouteUDP", "Middleware",
                                         "MiddlewareTCP", "TLSOption", "TLSStore", "TraefikService", "ServersTransport")}
    | {("keda.sh", kind) for kind in ("ScaledObject", "TriggerAuthentication", "ClusterTriggerAuthentication")}
    | {("networking.istio.io", kind) for kind in ("VirtualService", "DestinationRule", "Gateway", "ServiceEntry",
                                                  "Sidecar", "WorkloadEntry", "WorkloadGroup")}
    | {("security.istio.io", kind) for kind in ("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication")}
)

# DATA: custom resource groups generic discovery does not walk, and why.
GENERIC_SKIPPED_GROUPS: dict[str, str] = {
    "kyverno.io": "Kyverno policies hold pod *patterns* (containers: [{image: 'nginx:latest'}] in a deny rule)",
    "policies.kyverno.io": "Kyverno policies hold pod *patterns*",
}

# Keys whose values generic discovery never walks into, at any depth (object metadata, pod
# template metadata, label and annotation maps); "status" only at the top.
GENERIC_SKIPPED_KEYS = frozenset({"metadata", "labels", "annotations"})
CONTAINER_LIST_KEYS = ("containers", "initContainers")

# Words that parse as a Docker Hub official image but, as the value of an ``image`` key of an
# unknown kind, mean "use the default" or a switch.  No official image has these names.
PLACEHOLDERS = frozenset({"default", "auto", "automatic", "none", "null", "nil", "unset", "empty", "custom",
                          "enabled", "disabled", "true", "false", "yes", "no", "on", "off", "same", "image"})

# Built-in workload kinds: their schema is fully known, every image is where the pod-spec
# table looks (containers, image volumes), so generic discovery has nothing to add there.  An
# old group (extensions/v1beta1 Deployment) is not in the table and gets generic discovery.
KNOWN_SCHEMA_KINDS: frozenset[tuple[str, str]] = frozenset(
    {("", "Pod"), ("", "PodTemplate"), ("", "ReplicationController"), ("batch", "Job"), ("batch", "CronJob")}
    | {("apps", kind) for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")}
)

# A document whose text contains none of these cannot hold anything generic discovery takes:
# generic discovery only looks at mappings with an ``image`` key and at items of
# ``containers``/``initContainers`` lists (and at args/env inside those), so the key's
# characters must be in the text, unless they are spelled otherwise: a backslash escape in a
# double-quoted scalar (``"\x69mage"``, a ``\`` line continuation).  Plain, single-quoted and
# block scalars, anchors and aliases all keep the characters of the text.  Tags change a
# scalar's type, not its characters, except ``!!binary`` (base64), which may be written
# ``!!binary``, ``!<tag:...>`` or through a ``%TAG`` handle (``!e!``): any such tag is a "maybe"
# too (:data:`MAYBE_TAG`).  tests/test_discovery.py checks the filter is never a false "no".
MAYBE_IMAGES = ("image", "ontainers", "\\")
MAYBE_TAG = re.compile(r"![\w-]*!|!<")


def may_hold_images(text: str) -> bool:
    """False only when generic discovery cannot find anything in a document's text."""
    if any(word in text for word in MAYBE_IMAGES):
        return True
    return "!" in text and MAYBE_TAG.search(text) is not None


# How discovery rules are named in locations, --explain and the JSON inventory.
POD_SPEC, IMAGE_VOLUME, IMAGE_FIELD, CONTAINERS, IMAGE_KEY = (
    "podSpec", "imageVolume", "imageField", "containers", "imageKey")
DISCOVERY_RULES = (POD_SPEC, IMAGE_VOLUME, IMAGE_FIELD, CONTAINERS, IMAGE_KEY)

_BUILTIN_TABLE = [(FieldPath.parse(g, k, p), policy) for g, k, p, policy in BUILTIN_IMAGE_FIELDS]


class ImageLocation(Record):
    """One image reference: ``holder[key]`` (a whole string) or a span inside that string.

    ``path`` is readable and relative to the document (``items[2].spec.template.spec
    .containers[0].image``).  ``via`` says what kind of value it is: ``field`` (an image
    field), ``arg`` (inside ``command``/``args``), ``env`` (an env value); ``found`` names the
    discovery rule (:data:`DISCOVERY_RULES`).  ``policy`` is the mapping an ``imagePullPolicy``
    for this image goes into, when that mapping takes one.
    """

    __slots__ = _fields = ("holder", "key", "path", "via", "span", "found", "policy")

    def __init__(self, holder: dict | list, key: str | int, path: str, via: str = "field",
                 span: tuple[int, int] | None = None, found: str = POD_SPEC, policy: dict | None = None):
        self.holder = holder
        self.key = key
        self.path = path
        self.via = via
        self.span = span  # (start, end) inside the string, for --flag=REF
        self.found = found
        self.policy = policy

    @property
    def value(self):
        whole = self.holder[self.key]
        if self.span is None:
            return whole
        return whole[self.span[0] : self.span[1]]

    def set(self, new: str) -> None:
        if self.span is None:
            self.holder[self.key] = new
            return
        whole = self.holder[self.key]
        start, end = self.span
        self.holder[self.key] = whole[:start] + new + whole[end:]
        self.span = (start, start + len(new))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def is_generic_image(value) -> bool:
    """Whether an ``image`` key's value is taken by the generic ``imageKey`` rule."""
    return (isinstance(value, str) and value.lower() not in PLACEHOLDERS
            and embedded_image(value) is not None)


class _Collector:
    """Locations of one resource, each (holder, key, span) once, in the order found."""

    def __init__(self):
        self.out: list[ImageLocation] = []
        self._seen: set = set()
        self._scanned: set = set()  # mappings whose args/env were searched

    def add(self, loc: ImageLocation) -> None:
        mark = (id(loc.holder), loc.key, loc.span)
        if mark not in self._seen:
            self._seen.add(mark)
            self.out.append(loc)

    def embedded(self, container: dict, path: str, found: str) -> None:
        """Images inside ``command``/``args`` and ``*_IMAGE`` env values of a container-like mapping."""
        if id(container) in self._scanned:
            return
        self._scanned.add(id(container))
        for list_name in ("command", "args"):
            items = container.get(list_name)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if not isinstance(item, str):
                    continue
                where = f"{path}.{list_name}[{i}]"
                # Right to left: setting one span never moves the spans yielded after it.
                for start, end, _ref in reversed(find_embedded_images(item)):
                    self.add(ImageLocation(items, i, where, "arg", (start, end), found))
                if (
                    i > 0
                    and isinstance(items[i - 1], str)
                    and is_image_flag(items[i - 1])
                    and embedded_image(item) is not None
                ):
                    self.add(ImageLocation(items, i, where, "arg", found=found))
        env = container.get("env")
        if isinstance(env, list):
            for i, var in enumerate(env):
                if (
                    isinstance(var, dict)
                    and isinstance(var.get("name"), str)
                    and isinstance(var.get("value"), str)
                    and is_image_env_name(var["name"])
                    and embedded_image(var["value"]) is not None
                ):
                    self.add(ImageLocation(var, "value", f"{path}.env[{i}].value", "env", found=found))

    def pod_spec(self, pod_spec: dict, path: str) -> None:
        for list_name, i, container in containers(pod_spec):
            cpath = f"{path}.{list_name}[{i}]"
            if "image" in container and container["image"] is not None:
                self.add(ImageLocation(container, "image", f"{cpath}.image", found=POD_SPEC, policy=container))
            self.embedded(container, cpath, POD_SPEC)
        volumes = pod_spec.get("volumes")
        if isinstance(volumes, list):
            self.image_volumes(volumes, f"{path}.volumes", generic=False)

    def image_volumes(self, volumes: list, path: str, generic: bool) -> None:
        """``image.reference`` of each volume in ``volumes`` (at ``path``).  In a known pod spec any
        value is the volume's image (an invalid one is reported); generic discovery, like its
        ``containers`` rule, takes only non-empty strings."""
        for i, volume in enumerate(volumes):
            image = volume.get("image") if isinstance(volume, dict) else None
            if not isinstance(image, dict):
                continue
            reference = image.get("reference")
            taken = (isinstance(reference, str) and reference != "") if generic else reference is not None
            if taken:
                self.add(ImageLocation(image, "reference", f"{path}[{i}].image.reference", found=IMAGE_VOLUME))

    def field(self, resource: dict, field: FieldPath, policy: bool) -> None:
        *parents, (last, many) = field.steps
        holder_path = FieldPath(field.group, field.kind, tuple(parents), field.text)
        for where, node in holder_path.find(resource):
            if last == "image" and not many:
                # A container-like mapping: its args/env may name images even without an image
                # of its own (a prometheus-operator container patch that only sets args).
                self.embedded(node, where, IMAGE_FIELD)
            if last not in node or node[last] is None:
                continue
            path = _join(where, last)
            value = node[last]
            if many:
                if isinstance(value, list):
                    for i, item in enumerate(value):
                        if item is not None:
                            self.add(ImageLocation(value, i, f"{path}[{i}]", found=IMAGE_FIELD))
                continue
            self.add(ImageLocation(node, last, path, found=IMAGE_FIELD, policy=node if policy else None))

    def generic(self, resource: dict) -> None:
        """The ``containers`` and ``imageKey`` rules over the whole resource, in document order."""
        stack: list[tuple[object, str, bool]] = [(resource, "", True)]
        while stack:
            node, path, top = stack.pop()
            if isinstance(node, list):
                stack.extend((item, f"{path}[{i}]", False) for i, item in reversed(list(enumerate(node)))
                             if isinstance(item, (dict, list)))
                continue
            children = []
            for key, value in node.items():
                if key in GENERIC_SKIPPED_KEYS or (top and key == "status"):
                    continue
                kpath = _join(path, key) if isinstance(key, str) else f"{path}[{key!r}]"
                if key in CONTAINER_LIST_KEYS and isinstance(value, list):
                    for i, item in enumerate(value):
                        if not isinstance(item, dict):
                            continue
                        cpath = f"{kpath}[{i}]"
                        if isinstance(item.get("image"), str) and item["image"]:
                            self.add(ImageLocation(item, "image", f"{cpath}.image", found=CONTAINERS, policy=item))
                        self.embedded(item, cpath, CONTAINERS)
                elif key == "volumes" and isinstance(value, list):
                    self.image_volumes(value, kpath, generic=True)  # a pod spec no table knows
                elif key == "image" and is_generic_image(value):
                    self.add(ImageLocation(node, "image", kpath, found=IMAGE_KEY))
                    self.embedded(node, path, IMAGE_KEY)
                if isinstance(value, (dict, list)):
                    children.append((value, kpath, False))
            stack.extend(reversed(children))


class ExcludedPath(FrozenRecord):
    """An ``imageDiscovery.exclude`` entry: no image is taken at or under ``path``.  ``tokens``:
    names, "[]" for any list item, "*" for any name."""

    __slots__ = _fields = ("group", "kind", "tokens", "text")

    def __init__(self, group: str | None, kind: str | None, tokens: tuple[str, ...], text: str):
        self.group = group
        self.kind = kind
        self.tokens = tokens
        self.text = text

    @classmethod
    def parse(cls, group: str | None, kind: str | None, path: str) -> "ExcludedPath":
        tokens = []
        for part in path.split("."):
            name, _, rest = part.partition("[")
            if not name:
                raise ValueError(f"empty component in path {path!r}")
            tokens.append(name)
            if rest:
                if rest not in ("]", "*]"):
                    raise ValueError(f"{part!r}: only [] (every item) may follow a name")
                tokens.append("[]")
        return cls(group, kind, tuple(tokens), path)

    def matches(self, api: str | None, kind: str | None, location: tuple[str, ...]) -> bool:
        if self.kind is not None and kind != self.kind:
            return False
        if self.group is not None and group_of(api) != self.group:
            return False
        if len(location) < len(self.tokens):
            return False
        for want, have in zip(self.tokens, location):
            if want == "[]":
                if not have.startswith("["):
                    return False
            elif want != "*" and want != have:
                return False
        return True


_PATH_TOKEN = re.compile(r"\[[^\]]*\]|[^.\[]+")


def path_tokens(path: str) -> tuple[str, ...]:
    """``spec.containers[0].image`` -> ("spec", "containers", "[0]", "image")."""
    return tuple(_PATH_TOKEN.findall(path))


class DiscoveryOptions(Record):
    """The config's ``imageDiscovery:`` block."""

    _fields = ("generic", "exclude")

    def __init__(self, generic: bool = True, exclude: list[ExcludedPath] | None = None):
        self.generic = generic
        self.exclude = [] if exclude is None else exclude


class ImageTable:
    """Where images live: the pod-spec table, the image field table (built-in + config), the
    generic rules, minus excluded paths."""

    def __init__(self, pod_specs, image_fields: list[FieldPath] = (), options: DiscoveryOptions | None = None):
        self.pod_specs = pod_specs
        self.fields = _BUILTIN_TABLE + [(f, False) for f in image_fields]
        self.kinds = frozenset(pod_specs.kinds) | frozenset(f.kind for f, _ in self.fields)
        paths = [*pod_specs.paths, *(f for f, _ in self.fields)]
        self._any_group = frozenset(p.kind for p in paths if p.group is None)
        self._known = frozenset((p.group.split("/", 1)[0], p.kind) for p in paths if p.group is not None)
        options = options or DiscoveryOptions()
        self.generic = options.generic
        self.exclude = list(options.exclude)

    @classmethod
    def of(cls, ctx) -> "ImageTable":
        """The table for a RunContext, BuildContext or Config (anything with pod_specs/image_fields)."""
        return cls(ctx.pod_specs, getattr(ctx, "image_fields", None) or [],
                   getattr(ctx, "image_discovery", None))

    # ---- which documents ------------------------------------------------------------------
    def knows(self, api: str | None, kind: str | None) -> bool:
        """Whether a table (pod specs, image fields) has an entry for this apiVersion and kind."""
        return kind in self._any_group or (group_of(api), kind) in self._known

    def visits(self, doc) -> bool:
        """Whether ``doc`` may hold an image: False only when it cannot (read from the header
        and the text, without parsing)."""
        if doc.void or doc.removed:
            return False
        api, kind = doc.header
        if self.knows(api, kind):
            return True
        if (group_of(api), kind) in NO_IMAGE_KINDS and not doc.is_list:
            return False  # (a list by content: its items, not its kind, decide)
        if not self.generic:
            return doc.is_list
        return may_hold_images(doc.text)

    def documents(self, documents) -> Iterator[tuple[object, str, dict]]:
        """(document, location, resource) for every resource of the documents that may hold images."""
        for doc in documents:
            if self.visits(doc):
                for where, resource in resources(doc.obj):
                    yield doc, where, resource

    # ---- where in a resource --------------------------------------------------------------
    def generic_applies(self, resource: dict) -> bool:
        if not self.generic:
            return False
        group = group_of(resource.get("apiVersion"))
        kind = (group, resource.get("kind"))
        return kind not in NO_IMAGE_KINDS and kind not in KNOWN_SCHEMA_KINDS and group not in GENERIC_SKIPPED_GROUPS

    def locations(self, resource: dict, prefix: str = "") -> list[ImageLocation]:
        """Every image location of one resource; ``prefix`` is its place in the document."""
        found = _Collector()
        for spec_path, pod_spec in self.pod_specs.pod_specs(resource):
            found.pod_spec(pod_spec, spec_path)
        api, kind = resource.get("apiVersion"), resource.get("kind")
        if kind in self.kinds:
            for field_path, policy in self.fields:
                if field_path.matches(api, kind):
                    found.field(resource, field_path, policy)
        if self.generic_applies(resource):
            found.generic(resource)
        out = found.out
        if self.exclude:
            out = [loc for loc in out if not self.excluded(api, kind, loc.path)]
        if prefix:
            for loc in out:
                loc.path = _join(prefix, loc.path)
        return out

    def excluded(self, api, kind, path: str) -> bool:
        tokens = path_tokens(path)
        return any(e.matches(api, kind, tokens) for e in self.exclude)


def check_reference(value, doc, resource: dict, path: str, ctx) -> bool:
    """True when ``value`` is a valid reference; otherwise warn once (document, path, value)."""
    from postrender.rules.base import resource_name

    if isinstance(value, str):
        try:
            parse(value)
            return True
        except InvalidImageReference as exc:
            reason = exc.reason
    else:
        reason = "an image reference must be a string"
    message = (
        f"{doc.where()}: {resource_name(resource)}: {path}: invalid image reference {value!r}"
        f" ({reason}); left unchanged"
    )
    ctx.warn(message)  # once per message: warn() keeps a set, not a scan of the list
    return False


def image_locations(rule, documents, table: ImageTable):
    """(document, resource, location) for every image of every resource ``rule`` selects."""
    for doc, where, resource in table.documents(documents):
        if rule.selected(resource):
            for loc in table.locations(resource, where):
                yield doc, resource, loc


def warn_if_digest_moved(old: str, new: str, doc, resource: dict, loc: ImageLocation, rule, ctx) -> None:
    """Warn when a rewrite carries a digest to another repository path (reference.digest_moved)."""
    from postrender.images.reference import digest_moved
    from postrender.rules.base import resource_name

    if digest_moved(old, new):
        ctx.warn(f"{rule.label()}: {doc.where()}: {resource_name(resource)}: {loc.path}: {old} -> {new} keeps the digest"
                 " in another repository, where it may not exist; mirror the same repository path, or pin"
                 " the digest the new repository has")


class ImageRule:
    """What the image rules share: they visit the documents discovery visits."""

    table: ImageTable

    def select(self, documents, kinds=None):
        """(document, location, resource) for every selected resource with at least one image
        (what ``expect:`` counts)."""
        for doc, where, resource in self.table.documents(documents):
            if self.selected(resource) and self.table.locations(resource):
                yield doc, where, resource


class Found(Record):
    """One image location for the inventory (``postrender images``); ``document`` is 1-based,
    as messages count documents."""

    __slots__ = _fields = ("image", "document", "source", "kind", "namespace", "name", "path", "via", "discovery")

    def __init__(self, image, document: int, source: str | None, kind: str | None, namespace: str | None,
                 name: str | None, path: str, via: str, discovery: str):
        self.image = image
        self.document = document
        self.source = source
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.path = path
        self.via = via
        self.discovery = discovery


def inventory(documents, table: ImageTable) -> list[Found]:
    """Every image location in the stream, in document order (no target: the whole stream)."""
    out = []
    for doc, where, resource in table.documents(documents):
        meta = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
        for loc in table.locations(resource, where):
            out.append(
                Found(
                    loc.value,
                    doc.index + 1,
                    doc.source,
                    resource.get("kind"),
                    meta.get("namespace"),
                    meta.get("name"),
                    loc.path,
                    loc.via,
                    loc.found,
                )
            )
    return out


def normalized(image) -> str | None:
    """What a runtime pulls for ``image`` (``docker.io/library/nginx:latest``), None if invalid."""
    try:
        return parse(image).normalized
    except InvalidImageReference:
        return None


def render_inventory(documents, config, fmt: str = "text", normalize: bool = False) -> str:
    """``postrender images`` output: unique images sorted (text) or each with its locations (json).

    Images are listed as written (what the manifests say), or with ``normalize`` as a runtime
    pulls them (registry, ``library/`` and ``:latest`` made explicit, Docker Hub aliases one
    registry), so ``haproxy:2.8`` and ``docker.io/library/haproxy:2.8`` are one line.  An
    invalid reference is listed as written either way.  The JSON adds the normalised reference
    (``null`` for an invalid one) and, per location, which discovery rule found it.
    """
    import json

    found = inventory(documents, ImageTable.of(config))
    by_image: dict[str, list[Found]] = {}
    for f in found:
        written = f.image if isinstance(f.image, str) else json.dumps(f.image)
        key = (normalized(f.image) or written) if normalize else written
        by_image.setdefault(key, []).append(f)
    if fmt == "text":
        return "".join(f"{image}\n" for image in sorted(by_image))
    out = []
    for image in sorted(by_image):
        locations = []
        for f in by_image[image]:
            loc = {"document": f.document, "source": f.source, "kind": f.kind, "namespace": f.namespace,
                   "name": f.name, "path": f.path, "via": f.via, "discovery": f.discovery}
            if normalize:
                loc["written"] = f.image
            locations.append(loc)
        out.append({"image": image, "normalized": normalized(image), "locations": locations})
    return json.dumps(out, indent=2) + "\n"
