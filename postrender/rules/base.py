"""What every rule shares: selection of resources by target, explain records, counting."""

from __future__ import annotations

import re

from postrender.engine.document import Document
from postrender.kinds import PodSpecTable, stream_resources
from postrender.records import Record


class Change(Record):
    __slots__ = _fields = ("rule", "resource", "path", "old", "new", "found")

    def __init__(self, rule: str, resource: str, path: str, old, new, found: str | None = None):
        self.rule = rule
        self.resource = resource
        self.path = path
        self.old = old
        self.new = new
        self.found = found  # the image discovery rule that found the location (images.discovery)

    def line(self) -> str:
        if self.resource.startswith("Secret/") and _SECRET_DATA.search(self.path):
            # A Secret's data is never shown, whatever variable it came from (issue 7).
            hidden = ["(unset)" if v is None else "<redacted>" for v in (self.old, self.new)]
            return f"{self.rule}: {self.resource}: {self.path}: {hidden[0]} -> {hidden[1]}"
        found = f" (found by {self.found})" if self.found else ""
        return f"{self.rule}: {self.resource}: {self.path}: {_show(self.old)} -> {_show(self.new)}{found}"


_SECRET_DATA = re.compile(r"(^|\.)(data|stringData)(\.|\[|$)")


def _show(value) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def resource_name(resource: dict) -> str:
    meta = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
    ns = meta.get("namespace")
    name = meta.get("name")
    return f"{resource.get('kind')}/{ns + '/' if isinstance(ns, str) and ns else ''}{name}"


class RunContext(Record):
    _fields = ("variables", "pod_specs", "image_fields", "explain", "namespace", "image_discovery", "changes",
               "warnings", "failures", "renamed", "_warned")
    _repr_fields = _fields[:-1]

    def __init__(self, variables: dict, pod_specs: PodSpecTable, image_fields: list | None = None,
                 explain: bool = False, namespace: str = "", image_discovery=None, changes: list[Change] | None = None,
                 warnings: list[str] | None = None, failures: list[str] | None = None, renamed: dict | None = None,
                 _warned: set | None = None):
        self.variables = variables
        self.pod_specs = pod_specs
        self.image_fields = [] if image_fields is None else image_fields
        self.explain = explain
        #: the namespace resources without metadata.namespace are installed into (--namespace,
        #: $HELM_NAMESPACE); "" when unknown.
        self.namespace = namespace
        self.image_discovery = image_discovery  # the config's imageDiscovery options
        self.changes = [] if changes is None else changes
        self.warnings = [] if warnings is None else warnings
        self.failures = [] if failures is None else failures
        #: Resources a patch renamed (kind, name, ...): id(resource) -> (resource, identities it had),
        #: so that a later patch may name a resource as it was, as kustomize's PrevIds allow.
        self.renamed = {} if renamed is None else renamed
        self._warned = set() if _warned is None else _warned

    def record(self, rule: "Rule", doc: Document, resource: dict, path: str, old, new, found: str | None = None) -> None:
        doc.changed()
        if self.explain:
            self.changes.append(Change(rule.label(), resource_name(resource), path, old, new, found))

    def warn(self, message: str) -> None:
        """Add a warning once: the same message from two rules (or two runs over one field) is one."""
        if message not in self._warned:
            self._warned.add(message)
            self.warnings.append(message)


class Rule:
    """A rule: ``apply(documents, ctx) -> documents``.  Built once by its module's ``build``."""

    name = "rule"
    #: kinds the rule can change; None means any kind (documents must then be parsed to see).
    kinds: frozenset | None = None
    index = 0
    where = ""
    target = None
    expect = None

    #: True for rules whose apply() looks at one document at a time and keeps no state across
    #: documents (only ctx.changes/warnings/failures, which accumulate the same over batches):
    #: the pipeline then runs them batch by batch.  Checked by tests/test_resource_bombs.py,
    #: which runs each rule batched and whole and compares.
    per_document = False
    #: True for rules that must see every document before they can add documents or report,
    #: but change no document because of another one (pullSecret, resources, the checks of
    #: pullSecretReferences).  They implement ``observe(documents, ctx, state)``, called batch
    #: by batch, and ``finish(ctx, state, index, nl) -> new documents``, called at the end of
    #: the stream; ``apply`` is both at once.  The pipeline can then stream them in batches.
    observes = False

    def apply(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        if self.observes:
            state: dict = {}
            self.observe(documents, ctx, state)
            from postrender import generated

            return list(documents) + self.finish(ctx, state, *generated.position(documents))
        raise NotImplementedError

    def observe(self, documents: list[Document], ctx: RunContext, state: dict) -> None:
        raise NotImplementedError

    def finish(self, ctx: RunContext, state: dict, index: int, nl: str) -> list[Document]:
        raise NotImplementedError

    def configured(self, ctx, path) -> None:
        """Called once the loader has set ``target``/``expect``: checks that need them."""

    def templates(self, variables: dict) -> list:
        """Templates the rule keeps to render later (per resource, per namespace) or read from a
        file: ``(option path, source, variables, names known only at run time, label)``, for
        ``postrender validate``'s undefined-variable check (config/undefined.py).  Strings in
        the options that the loader renders are checked by the loader itself."""
        return []

    def label(self) -> str:
        """How every message names the rule: ``rules[0] (patch)``, its path in the config, as
        config errors (``rules[0].patch.merge: ...``) and the JSON Schema name it."""
        return f"rules[{self.index}] ({self.name})"

    def located(self) -> str:
        """The label after the rule's place in the config file, for errors:
        ``postrender.yaml:4:5: rules[0] (patch)``, like a config error's ``file:line:col: rules[0]...``."""
        return f"{self.where}: {self.label()}" if self.where else self.label()

    def selected(self, resource: dict) -> bool:
        if self.target is None:
            return True
        from postrender.selector import ResourceIdentity

        return self.target.matches(ResourceIdentity.from_object(resource))

    def select(self, documents: list[Document], kinds: frozenset | None = None):
        """(document, location, resource) for every selected resource the rule can touch.

        Documents whose kind (read cheaply from the header) cannot matter are not parsed.
        """
        kinds = self.kinds if kinds is None else kinds
        for doc, where, resource in stream_resources(documents, kinds):
            if kinds is not None and resource.get("kind") not in kinds:
                continue
            if self.selected(resource):
                yield doc, where, resource
