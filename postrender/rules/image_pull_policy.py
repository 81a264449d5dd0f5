"""imagePullPolicy: set the pull policy of every container.

For offline and rate-limited clusters: with ``IfNotPresent`` or ``Never`` the kubelet never
contacts a registry for an image it already has.  Applies to ``containers``,
``initContainers`` and ``ephemeralContainers`` of every pod spec the kind table knows
(workloads, ``List`` items, Knative, ``podSpecPaths`` from the config), to the items of any
``containers``/``initContainers`` list that image discovery finds in other kinds (core
Container objects: ``Prometheus.spec.containers``, Argo ``containerSet``...), and to the custom
resource image fields whose mapping takes a pull policy (``Prometheus.spec.image`` ->
``spec.imagePullPolicy``, Tekton steps, Argo templates, ``SparkApplication.spec``...; the
table in ``images/discovery.py``).  Nowhere else: an ``image`` key of an unknown kind says
nothing about whether ``imagePullPolicy`` next to it is a field of its schema.

    - imagePullPolicy:
        policy: IfNotPresent     # Always | IfNotPresent | Never
        onlyIfUnset: false       # true: keep a policy a container already sets (absent, null
                                 # and "" are unset, as Kubernetes defaults them)

A new ``imagePullPolicy`` key is written right after the container's ``image``.
"""

from __future__ import annotations

from postrender.images.discovery import POD_SPEC, ImageRule, ImageTable
from postrender.kinds import containers
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext

NAME = "imagePullPolicy"
POLICIES = ("Always", "IfNotPresent", "Never")
OPTIONS = {
    "policy": Field("str", required=True, choices=POLICIES, doc="the pull policy to set"),
    "onlyIfUnset": Field("bool", default=False, doc="leave containers that already set a policy"),
}


def set_after(mapping: dict, after: tuple[str, ...], key: str, value, before: str | None = None) -> None:
    """Set mapping[key]; a new key goes right after the first of ``after`` the mapping has, else
    right before ``before`` if it has that, else last (key order = text placement)."""
    anchor = next((k for k in after if k in mapping), None)
    ahead = before if anchor is None and before is not None and before in mapping else None
    if key in mapping or (anchor is None and ahead is None):
        mapping[key] = value
        return
    items = list(mapping.items())
    mapping.clear()
    for k, v in items:
        if ahead is not None and k == ahead:
            mapping[key] = value
        mapping[k] = v
        if anchor is not None and k == anchor:
            mapping[key] = value


class ImagePullPolicy(ImageRule, Rule):
    name = NAME
    per_document = True

    def __init__(self, policy: str, only_if_unset: bool, table: ImageTable):
        self.policy = policy
        self.only_if_unset = only_if_unset
        self.table = table

    def select(self, documents, kinds=None):
        """Resources with a pod spec or an image whose mapping takes a pull policy."""
        for doc, where, resource in self.table.documents(documents):
            if self.selected(resource) and self.holders(resource, where):
                yield doc, where, resource

    def holders(self, resource: dict, where: str) -> list[tuple[dict, str, str, str]]:
        """(mapping, its path, the key the policy goes after, discovery rule) for every place
        a pull policy goes: each container of a known pod spec (with or without an image),
        then each image location discovery marks as taking one."""
        prefix = f"{where}." if where else ""
        out, seen = [], set()
        for spec_path, pod_spec in self.table.pod_specs.pod_specs(resource):
            for list_name, i, container in containers(pod_spec):
                seen.add(id(container))
                out.append((container, f"{prefix}{spec_path}.{list_name}[{i}]", "image", POD_SPEC))
        for loc in self.table.locations(resource, where):
            if loc.policy is not None and id(loc.policy) not in seen:
                seen.add(id(loc.policy))
                holder_path = loc.path.rpartition(".")[0]
                out.append((loc.policy, holder_path, loc.key, loc.found))
        return out

    def apply(self, documents, ctx: RunContext):
        for doc, where, resource in self.table.documents(documents):
            if not self.selected(resource):
                continue
            for holder, holder_path, after, found in self.holders(resource, where):
                old = holder.get("imagePullPolicy")
                if old == self.policy or (self.only_if_unset and old not in (None, "")):
                    continue
                set_after(holder, (after, "image"), "imagePullPolicy", self.policy)
                path = f"{holder_path}.imagePullPolicy" if holder_path else "imagePullPolicy"
                ctx.record(self, doc, resource, path, old, self.policy, found)
        return documents


def build(options: dict, ctx, path) -> ImagePullPolicy:
    return ImagePullPolicy(options["policy"], options["onlyIfUnset"], ImageTable.of(ctx))


EXAMPLE = """\
  # Offline clusters: never contact a registry for an image the node already has.
  - imagePullPolicy:
      policy: "{{ policy }}"   # Always | IfNotPresent | Never
      onlyIfUnset: false       # true: keep policies containers already set
    # target: {kind: Deployment|StatefulSet, labelSelector: app=web}
    when: "policy is defined"
"""
