"""imagePullPolicy: set the pull policy of every container.

For offline and rate-limited clusters: with ``IfNotPresent`` or ``Never`` the kubelet never
contacts a registry for an image it already has.  Applies to ``containers``,
``initContainers`` and ``ephemeralContainers`` of every pod spec the kind table knows
(workloads, ``List`` items, ``podSpecPaths`` from the config).

    - imagePullPolicy:
        policy: IfNotPresent     # Always | IfNotPresent | Never
        onlyIfUnset: false       # true: keep a policy a container already sets (absent, null
                                 # and "" are unset, as Kubernetes defaults them)

A new ``imagePullPolicy`` key is written right after the container's ``image``.
"""

from __future__ import annotations

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


class ImagePullPolicy(Rule):
    name = NAME
    per_document = True

    def __init__(self, policy: str, only_if_unset: bool, pod_specs):
        self.policy = policy
        self.only_if_unset = only_if_unset
        self.kinds = pod_specs.kinds

    def apply(self, documents, ctx: RunContext):
        for doc, where, resource in self.select(documents):
            for spec_path, pod_spec in ctx.pod_specs.pod_specs(resource):
                for list_name, i, container in containers(pod_spec):
                    old = container.get("imagePullPolicy")
                    if old == self.policy or (self.only_if_unset and old not in (None, "")):
                        continue
                    set_after(container, ("image",), "imagePullPolicy", self.policy)
                    path = f"{spec_path}.{list_name}[{i}].imagePullPolicy"
                    ctx.record(self, doc, resource, path, old, self.policy)
        return documents


def build(options: dict, ctx, path) -> ImagePullPolicy:
    return ImagePullPolicy(options["policy"], options["onlyIfUnset"], ctx.pod_specs)


EXAMPLE = """\
  # Offline clusters: never contact a registry for an image the node already has.
  - imagePullPolicy:
      policy: "{{ policy }}"   # Always | IfNotPresent | Never
      onlyIfUnset: false       # true: keep policies containers already set
    # target: {kind: Deployment|StatefulSet, labelSelector: app=web}
    when: "policy is defined"
"""
