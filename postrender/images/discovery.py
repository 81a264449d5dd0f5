"""Every place an image reference lives in a resource, as locations that read and write it.

One walker, used by every image rule and by ``postrender images``, so a rewrite, a check and the
inventory always agree on what "every image" means.  The places, in the order yielded:

1. each pod spec the kind table knows (``ctx.pod_specs``: workloads, ``List`` items,
   ClusterServiceVersion deployments, ``podSpecPaths`` from the config):
   ``initContainers``/``containers``/``ephemeralContainers`` ``image``, then, per container,
   images embedded in ``command``/``args`` and ``env``, then image volumes
   ``volumes[].image.reference`` (Kubernetes 1.31+);
2. the built-in field table :data:`BUILTIN_IMAGE_FIELDS` (custom resources whose image is a plain
   field, like kustomize's ``images`` field specs) and the config's ``imageFields``.

Embedded images (issue 3: prometheus-operator ``--prometheus-config-reloader=quay.io/...``,
cert-manager ``--acme-http01-solver-image=...``, longhorn ``--manager-image`` followed by the
image as the next item, ``CSI_ATTACHER_IMAGE`` env values) are only taken when the value parses
as a reference; which flag and variable names count is decided in ``images.py``.  kustomize never
touches them; postrender rewrites and lists them, on purpose.

Only kinds in the pod-spec table or the image field table are ever visited, which keeps CRDs
(whose schemas *describe* ``image`` fields) out of reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from postrender.images.reference import (
    InvalidImageReference,
    embedded_image,
    find_embedded_images,
    is_image_env_name,
    is_image_flag,
    parse,
)
from postrender.kinds import FieldPath, containers, stream_resources

# DATA: (group, kind, path to the image field).  ``[]`` walks list items, as in kinds.py.
# Only custom resources whose image is a plain string field; kinds that embed a whole pod
# template belong in kinds.BUILTIN_POD_SPEC_PATHS instead.
BUILTIN_IMAGE_FIELDS: tuple[tuple[str, str, str], ...] = (
    # prometheus-operator: the main image, plus containers merged into the generated pods.
    *(
        ("monitoring.coreos.com", kind, path)
        for kind in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")
        for path in ("spec.image", "spec.containers[].image", "spec.initContainers[].image")
    ),
    # Tekton: steps, sidecars and the step template of a Task, and of tasks embedded elsewhere.
    *(
        ("tekton.dev", kind, f"{prefix}{field}")
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
        ("argoproj.io", kind, f"{prefix}templates[].{field}")
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
    ("operators.coreos.com", "CatalogSource", "spec.image"),
    # Knative's image cache (pre-pulls the queue-proxy image on every node).
    ("caching.internal.knative.dev", "Image", "spec.image"),
)


_BUILTIN_TABLE = [FieldPath.parse(g, k, p) for g, k, p in BUILTIN_IMAGE_FIELDS]


@dataclass
class ImageLocation:
    """One image reference: ``holder[key]`` (a whole string) or a span inside that string.

    ``path`` is readable and relative to the document (``items[2].spec.template.spec
    .containers[0].image``).  ``via`` says how it was found: ``field`` (an image field),
    ``arg`` (inside ``command``/``args``), ``env`` (an env value).
    """

    holder: dict | list
    key: str | int
    path: str
    via: str = "field"
    span: tuple[int, int] | None = None  # (start, end) inside the string, for --flag=REF

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


def _embedded(container: dict, path: str) -> Iterator[ImageLocation]:
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
                yield ImageLocation(items, i, where, "arg", (start, end))
            if (
                i > 0
                and isinstance(items[i - 1], str)
                and is_image_flag(items[i - 1])
                and embedded_image(item) is not None
            ):
                yield ImageLocation(items, i, where, "arg")
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
                yield ImageLocation(var, "value", f"{path}.env[{i}].value", "env")


def _pod_spec_images(pod_spec: dict, path: str) -> Iterator[ImageLocation]:
    for list_name, i, container in containers(pod_spec):
        cpath = f"{path}.{list_name}[{i}]"
        if "image" in container and container["image"] is not None:
            yield ImageLocation(container, "image", f"{cpath}.image")
        yield from _embedded(container, cpath)
    volumes = pod_spec.get("volumes")
    if isinstance(volumes, list):
        for i, volume in enumerate(volumes):
            image = volume.get("image") if isinstance(volume, dict) else None
            if isinstance(image, dict) and image.get("reference") is not None:
                yield ImageLocation(image, "reference", f"{path}.volumes[{i}].image.reference")


def _field_images(resource: dict, field: FieldPath) -> Iterator[ImageLocation]:
    *parents, (last, many) = field.steps
    holder_path = FieldPath(field.group, field.kind, tuple(parents), field.text)
    for where, node in holder_path.find(resource):
        if last not in node or node[last] is None:
            continue
        path = _join(where, last)
        value = node[last]
        if many:
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is not None:
                        yield ImageLocation(value, i, f"{path}[{i}]")
        else:
            yield ImageLocation(node, last, path)


class ImageTable:
    """Where images live: the pod-spec table plus image fields (built-in + config)."""

    def __init__(self, pod_specs, image_fields: list[FieldPath] = ()):
        self.pod_specs = pod_specs
        self.fields = _BUILTIN_TABLE + list(image_fields)
        self.kinds = frozenset(pod_specs.kinds) | frozenset(f.kind for f in self.fields)

    @classmethod
    def of(cls, ctx) -> "ImageTable":
        """The table for a RunContext, BuildContext or Config (anything with pod_specs/image_fields)."""
        return cls(ctx.pod_specs, getattr(ctx, "image_fields", None) or [])

    def locations(self, resource: dict, prefix: str = "") -> Iterator[ImageLocation]:
        """Every image location of one resource; ``prefix`` is its place in the document."""
        for spec_path, pod_spec in self.pod_specs.pod_specs(resource):
            yield from _pod_spec_images(pod_spec, _join(prefix, spec_path))
        api, kind = resource.get("apiVersion"), resource.get("kind")
        if kind not in self.kinds:
            return
        for field in self.fields:
            if field.matches(api, kind):
                for loc in _field_images(resource, field):
                    loc.path = _join(prefix, loc.path)
                    yield loc


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
    for doc, where, resource in rule.select(documents, table.kinds):
        for loc in table.locations(resource, where):
            yield doc, resource, loc


@dataclass
class Found:
    """One image location for the inventory (``postrender images``)."""

    image: object
    document: int  # 1-based, as messages count documents
    source: str | None
    kind: str | None
    namespace: str | None
    name: str | None
    path: str
    via: str


def inventory(documents, table: ImageTable) -> list[Found]:
    """Every image location in the stream, in document order (no target: the whole stream)."""
    out = []
    for doc, where, resource in stream_resources(documents, table.kinds):
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
                )
            )
    return out


def render_inventory(documents, config, fmt: str = "text") -> str:
    """``postrender images`` output: unique images sorted (text) or each with its locations (json).

    Images are listed exactly as written (what the kubelet pulls); the JSON adds the normalised
    reference (``null`` for an invalid one) so equivalent spellings can be grouped.
    """
    import json

    found = inventory(documents, ImageTable.of(config))
    by_image: dict[str, list[Found]] = {}
    for f in found:
        by_image.setdefault(f.image if isinstance(f.image, str) else json.dumps(f.image), []).append(f)
    if fmt == "text":
        return "".join(f"{image}\n" for image in sorted(by_image))
    out = []
    for image in sorted(by_image):
        try:
            ref = parse(image)
            normalized = ref.normalized_name + ref.suffix
        except InvalidImageReference:
            normalized = None
        out.append({
            "image": image,
            "normalized": normalized,
            "locations": [
                {"document": f.document, "source": f.source, "kind": f.kind, "namespace": f.namespace,
                 "name": f.name, "path": f.path, "via": f.via}
                for f in by_image[image]
            ],
        })
    return json.dumps(out, indent=2) + "\n"
