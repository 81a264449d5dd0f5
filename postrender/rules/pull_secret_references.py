"""pullSecretReferences: catch image pull Secret names that no Secret answers.

A dangling ``imagePullSecrets`` name makes the kubelet log "Unable to retrieve pull secret,
the image pull may not succeed" for every pull.  Every name in pod specs and ServiceAccounts
must resolve to a Secret of type ``kubernetes.io/dockerconfigjson`` or
``kubernetes.io/dockercfg`` in the stream, in the same namespace (resources without a
namespace resolve against Secrets without one), or be listed in ``external``.

    - pullSecretReferences:
        action: warn                 # warn | error | remove
        external: [corp-registry]    # Secrets that already exist in the cluster

``warn`` prints each dangling reference to stderr (document, kind/namespace/name, Secret name);
``error`` fails the run (exit 1, no output); ``remove`` deletes the dangling entries, and an
``imagePullSecrets`` list left empty, so the kubelet has nothing to warn about.  An ``external``
entry is a Secret name (any namespace) or ``namespace/name``.  Entries with an empty name are
ignored, as the kubelet ignores them.  Put this rule after ``imagePullSecrets`` and
``pullSecret``.
"""

from __future__ import annotations

from postrender import pullsecrets
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext, resource_name

NAME = "pullSecretReferences"
ACTIONS = ("warn", "error", "remove")
OPTIONS = {
    "action": Field("str", default="warn", choices=ACTIONS, doc="what to do with a dangling reference"),
    "external": Field("list", items=Field("str"), default=None,
                      doc="Secrets known to exist in the cluster: name or namespace/name"),
}


class PullSecretReferences(Rule):
    name = NAME

    def __init__(self, action: str, external: list[str], pod_specs):
        self.action = action
        self.external = set(external)
        self.kinds = pod_specs.kinds | {"ServiceAccount"}

    def is_external(self, namespace: str, name: str) -> bool:
        return name in self.external or f"{namespace}/{name}" in self.external

    @property
    def observes(self) -> bool:
        # warn/error only report, at the end: streamable.  remove edits the documents that
        # hold a dangling name, which is only known once every Secret has been seen.
        return self.action != "remove"

    def dangling(self, secrets: dict, namespace: str, name: str) -> str | None:
        """Why a reference does not resolve, or None when it does."""
        secret_type = secrets.get((namespace, name))
        if secret_type in pullsecrets.PULL_SECRET_TYPES or self.is_external(namespace, name):
            return None
        ns = f"namespace {namespace!r}" if namespace else "no namespace"
        if secret_type is None:
            return f"no Secret {name!r} with {ns} in the stream"
        return f"Secret {name!r} ({ns}) has type {secret_type}, not {pullsecrets.PULL_SECRET_TYPES[0]}"

    def report(self, where: str, why: str, ctx: RunContext) -> None:
        message = f"{where}: {why} (list it under external: if it exists in the cluster)"
        if self.action == "warn":
            ctx.warn(f"{self.label()}: {message}")
        elif self.action == "error":
            ctx.failures.append(f"{self.label()}: {message}")

    def observe(self, documents, ctx: RunContext, state: dict) -> None:
        # Only what the report needs (names and a location string), never the documents.
        state.setdefault("secrets", {}).update(pullsecrets.secrets(documents))
        refs = state.setdefault("refs", [])
        for ref in pullsecrets.references(documents, ctx.pod_specs, self.selected):
            refs.append((ref.namespace, ref.name, _where(ref)))

    def finish(self, ctx: RunContext, state: dict, index: int, nl: str):
        secrets = state.get("secrets", {})
        for namespace, name, where in state.get("refs", ()):
            why = self.dangling(secrets, namespace, name)
            if why is not None:
                self.report(where, why, ctx)
        return []

    def apply(self, documents, ctx: RunContext):
        if self.observes:
            return super().apply(documents, ctx)
        secrets = pullsecrets.secrets(documents)
        dangling = []
        for ref in pullsecrets.references(documents, ctx.pod_specs, self.selected):
            why = self.dangling(secrets, ref.namespace, ref.name)
            if why is not None:
                self.report(_where(ref), why, ctx)
                dangling.append(ref)
        self.remove(dangling, ctx)
        return documents

    def remove(self, dangling, ctx: RunContext) -> None:
        by_holder: dict[int, list] = {}
        for ref in dangling:
            by_holder.setdefault(id(ref.holder), []).append(ref)
        for refs in by_holder.values():
            first = refs[0]
            holder = first.holder
            old = holder["imagePullSecrets"]
            drop = {r.index for r in refs}
            kept = [e for i, e in enumerate(old) if i not in drop]
            before = [e.get("name") if isinstance(e, dict) else e for e in old]
            if kept:
                holder["imagePullSecrets"] = kept
                after = [e.get("name") if isinstance(e, dict) else e for e in kept]
            else:
                del holder["imagePullSecrets"]
                after = None
            ctx.record(self, first.doc, first.resource, first.path, before, after)


def _where(ref) -> str:
    return f"{ref.doc.where()}: {resource_name(ref.resource)}: {ref.path}[{ref.index}]"


def build(options: dict, ctx, path) -> PullSecretReferences:
    external = [e.strip() for e in options["external"] or [] if e.strip()]
    return PullSecretReferences(options["action"], external, ctx.pod_specs)


EXAMPLE = """\
  # No imagePullSecrets name without its Secret (the kubelet warns on every pull otherwise).
  - pullSecretReferences:
      action: warn            # warn | error | remove
      external: []            # Secrets that already exist in the cluster
"""
