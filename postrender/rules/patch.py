"""patch: change resources with a strategic-merge, JSON6902 or JSON merge patch, as kustomize does.

For manifests you deploy as they are, except for one thing: add a pull secret to one
Deployment, raise a replica count, drop a resource.  Semantics are kustomize's ``patches:``
(strategic merge follows the Kubernetes API schema: containers, env, volumes... are merged by
their merge key, other lists are replaced, ``$patch: delete|replace``, ``null`` deletes a key).

    - patch:
        strategicMerge: |          # or json6902: [...], merge: {...} (RFC 7386), path: FILE
          {% if pullSecret is defined %}
          spec:
            template:
              spec:
                imagePullSecrets:
                  - name: {{ pullSecret }}
          {% endif %}
        allowNameChange: false     # let the patch's metadata.name rename the resource
        allowKindChange: false     # the same for kind
      target: {kind: Deployment, name: backend}   # anchored regexes, as kustomize
      expect: 1                    # optional: exact count, or ">=1"; a mismatch exits 1

Which resources a patch changes, as kustomize's ``patches:`` decides it:

- with ``target:``, every selected resource.  A strategic-merge patch then keeps each
  resource's apiVersion, kind, name and namespace whatever the patch writes there (kustomize
  copies kustomize patches with ``metadata.name: ignored`` around), except that
  ``allowNameChange``/``allowKindChange`` let the patch's name/kind replace them;
- without ``target:``, each document of a strategic-merge patch (a text may hold several,
  separated by ``---``, as a ``patchesStrategicMerge`` file does) applies to the one resource
  its own apiVersion, kind, ``metadata.name`` and ``metadata.namespace`` identify (an absent
  namespace is ``default``), or that had that identity before an earlier patch renamed it; none
  or several is an error.  A document without ``metadata.name`` applies to every resource (of
  its apiVersion and kind, if it names them): postrender's form, which kustomize has not;
- a ``json6902`` patch needs a ``target:`` (kustomize refuses one without).  It may change kind
  and name freely, as in kustomize;
- a ``merge`` (RFC 7386) patch applies to the target, or every resource; changing kind or name
  needs the ``allow...`` option.

``path:`` reads the patch from a file relative to the config's directory (or a directory in
``$POSTRENDER_TEMPLATE_DIRS``), like kustomize's ``patches: [{path}]``: a file holding a list
is a JSON6902 patch, anything else a strategic-merge patch; ``strategicMerge: {path: FILE}``
(or ``json6902:``/``merge:``) reads a file as that kind.  Files are patches as kustomize
reads them, not templates.  An empty file (or only comments) changes nothing; an inline patch
that is blank is an error.

An inline patch is a Jinja template, rendered once per resource with the variables plus
``resource``, a read-only copy of the resource as it is at that point, so a patch can depend
on it (``{% if not resource.spec.template.spec.imagePullSecrets %}``).  A field the resource
lacks is undefined without being an error (it is false, ``is defined`` is false, it prints as
nothing); a variable that is not defined is still an error unless guarded with ``is defined``.  A string renders to
YAML; one that renders empty (or to ``null``) leaves the resource alone.  A mapping or list
given directly is data; strings inside it are templates rendered to strings.

``$patch: delete`` at the top of a strategic-merge patch removes the resource.

Order (a deliberate difference from kustomize, which moves every list item a patch mentions to
the front): items of merged lists keep their positions and new items are appended, so a patch
that changes one container's image changes one line of the text.
"""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager

from postrender.engine import kube_yaml, locate
from postrender.config import templating
from postrender.errors import ConfigError, RuleError
from postrender.patching.json6902 import apply_json6902
from postrender.patching.merge_patch import apply_merge_patch
from postrender.patching.strategic import PatchError, strategic_merge
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext, resource_name
from postrender.selector import ResourceIdentity, split_api_version

NAME = "patch"
KINDS_OF_PATCH = ("strategicMerge", "json6902", "merge", "path")
EXACTLY_ONE_OF = KINDS_OF_PATCH
_FILE = Field("map", fields={"path": Field("str", required=True, doc="a patch file next to the config")})
_OPERATION = Field("map", extra_keys=True, fields={"op": Field("str", required=True), "path": Field("str", required=True)})
OPTIONS = {
    "strategicMerge": Field("any", variants=(Field("str"), Field("map"), Field("list", items=Field("map"))),
                            doc="strategic-merge patch: a Jinja template rendering to YAML (documents separated by ---), "
                                "a mapping, a list of mappings, or {path: FILE}"),
    "json6902": Field("any", variants=(Field("str"), Field("list", items=_OPERATION), _FILE),
                      doc="JSON6902 operations: a list, a Jinja template rendering to a YAML list, or {path: FILE}"),
    "merge": Field("any", variants=(Field("str"), Field("map")),
                   doc="RFC 7386 JSON merge patch: a mapping, a Jinja template rendering to YAML, or {path: FILE}"),
    "path": Field("str", doc="a patch file next to the config: a list is JSON6902, anything else strategic merge"),
    "allowKindChange": Field("bool", default=False, doc="let the patch change kind"),
    "allowNameChange": Field("bool", default=False, doc="let the patch change metadata.name"),
}
# Only with a target (the loader and the JSON Schema check it): kustomize refuses a JSON patch
# without one, and postrender's old every-resource reading of it would differ silently.
NEEDS_TARGET = {"json6902": "a json6902 patch needs a target: (kustomize: must specify a target for JSON patch)"}
# Rendered per resource (with `resource`), not at load time.
RAW_KEYS = frozenset(KINDS_OF_PATCH) - {"path"}


class _Skip(Exception):
    """The rendered patch is empty: nothing to do for this resource."""


def _parse_documents(text: str) -> list:
    """Patch text -> the data of each YAML document (empty ones dropped), read as Kubernetes reads
    the manifests (``kube_yaml``)."""
    return [kube_yaml.read(root) for root in locate.parse(text) if root is not None]


def _render_data(value, variables: dict):
    """Render the template strings inside literal patch data (to strings)."""
    if isinstance(value, str):
        return templating.render(value, variables) if templating.is_template(value) else value
    if isinstance(value, list):
        return [_render_data(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _render_data(v, variables) for k, v in value.items()}
    return value


def _holds_template(value) -> bool:
    if isinstance(value, str):
        return templating.is_template(value)
    if isinstance(value, list):
        return any(_holds_template(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    return False


def _resource_view(value):
    """A copy of the resource for templates, where a missing field is a falsy *chainable* undefined.

    Variables are strict (a typo is an error), but a resource legitimately lacks most fields:
    ``{% if not resource.spec.template.spec.imagePullSecrets %}`` must work whether or not the
    pod spec has the list, and ``resource.metadata.labels.app is defined`` must be False
    when there are no labels.
    """
    from jinja2 import ChainableUndefined

    class View(dict):
        def __missing__(self, key):
            return ChainableUndefined(name=str(key))

    def convert(v):
        if isinstance(v, dict):
            return View({k: convert(x) for k, x in v.items()})
        if isinstance(v, list):
            return [convert(x) for x in v]
        return v

    return convert(value)


def _differences(old, new, path: str = ""):
    """(path, old, new) for every changed field, for --explain."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                yield sub, old[key], None
            elif key not in old:
                yield sub, None, new[key]
            else:
                yield from _differences(old[key], new[key], sub)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from _differences(a, b, f"{path}[{i}]")
    elif old != new or type(old) is not type(new):
        yield path or "(resource)", old, new


_LITERAL_KINDS = re.compile(r"[A-Za-z][A-Za-z0-9]*(\|[A-Za-z][A-Za-z0-9]*)*")


def _meta(obj: dict) -> dict:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(resource: dict):
    return _meta(resource).get("name")


def _str_or_empty(value) -> str:
    return value if isinstance(value, str) else ""


class PatchIdentity:
    """What a target-less strategic-merge document names: kustomize's ``patch.OrgId()``."""

    def __init__(self, doc: dict):
        meta = _meta(doc)
        self.api_version = _str_or_empty(doc.get("apiVersion"))
        self.kind = _str_or_empty(doc.get("kind"))
        self.name = meta.get("name")
        namespace = meta.get("namespace")
        self.resource = ResourceIdentity(self.api_version, self.kind, _str_or_empty(self.name),
                                         namespace if isinstance(namespace, str) and namespace else None)

    @property
    def named(self) -> bool:
        return isinstance(self.name, str) and bool(self.name)

    def label(self) -> str:
        ns = self.resource.namespace
        return f"{self.kind or '?'}/{ns + '/' if ns else ''}{self.name} ({self.api_version or 'no apiVersion'})"

    def same(self, other: ResourceIdentity) -> bool:
        """kustomize's ResId.Equals: group, version, kind and name equal, same effective namespace."""
        mine = self.resource
        return (split_api_version(mine.api_version) == split_api_version(other.api_version)
                and mine.kind == other.kind and mine.name == other.name
                and mine.effective_namespace == other.effective_namespace)

    def selects(self, resource: dict) -> bool:
        """For a document without a name: its apiVersion and kind, where it gives them."""
        return ((not self.api_version or resource.get("apiVersion") == self.api_version)
                and (not self.kind or resource.get("kind") == self.kind))


class Patch(Rule):
    name = NAME
    per_document = True
    kinds = None  # any kind

    def __init__(self, how: str, body, allow_kind_change: bool, allow_name_change: bool, source: str | None = None):
        self.how = how                  # strategicMerge | json6902 | merge
        self.body = body                # a template string, or parsed data (list of documents for SMP)
        self.allow_kind_change = allow_kind_change
        self.allow_name_change = allow_name_change
        self.source = source            # the patch file, for messages

    # ---- configuration ----------------------------------------------------------------------
    def configured(self, ctx, path) -> None:
        """Checks that need the target (the loader sets it after build)."""
        if self.how == "json6902" and self.target is None:
            raise ctx.error(path, "a json6902 patch needs a target: (kustomize: must specify a target for JSON patch)")
        if self.body is None and self.target is None:
            raise ctx.error(path, f"{self.source or 'the patch'} holds no patch (only comments) and the rule has no target")
        if self.how != "strategicMerge" or self.body is None:
            return
        if isinstance(self.body, str):
            if self.target is None:
                # The documents it renders may name resources: exactly one match needs the whole stream.
                self.per_document = False
            return
        if self.target is not None and len(self.body) > 1:
            raise ctx.error(path, f"{len(self.body)} strategic-merge documents and a target: a patch with a target"
                                  " holds one document (kustomize refuses the same); split it into several rules")
        if self.target is None and any(PatchIdentity(d).named for d in self.body):
            # Matching a document to exactly one resource needs the whole stream.
            self.per_document = False
        for i, doc in enumerate(self.body):
            identity = PatchIdentity(doc)
            if self.target is None and identity.named and not identity.kind:
                raise ctx.error(path, f"document {i + 1} of the patch names {identity.name!r} but no kind;"
                                      " a patch without target: applies to the resource its kind and name identify")

    _has_templates = None

    def _templated(self) -> bool:
        """Whether a string inside the literal patch data is a template (decided once)."""
        if self._has_templates is None:
            self._has_templates = _holds_template(self.body)
        return self._has_templates

    # ---- one resource -----------------------------------------------------------------------
    def _render(self, resource: dict, variables: dict):
        """The patch for this resource: SMP -> list of documents, else one value; _Skip if empty."""
        if not isinstance(self.body, str) and self.source is None and not self._templated():
            # Literal data: nothing to render, so no resource view (and no Jinja import); still a
            # fresh copy per resource, as rendering gave, since a merge may place patch values.
            data = _render_data(self.body, variables)
            if data is None:
                raise _Skip
            return data
        scope = dict(variables)
        scope["resource"] = _resource_view(resource)
        if isinstance(self.body, str):
            text = templating.render(self.body, scope)
            if not text.strip():
                raise _Skip
            try:
                docs = _parse_documents(text)
            except locate.YAMLSyntaxError as exc:
                raise PatchError(f"the rendered {self.how} patch is not valid YAML: line {exc.line + 1}: {exc.problem}") from None
            docs = [d for d in docs if d is not None]
            if not docs:
                raise _Skip
            if self.how == "strategicMerge":
                for d in docs:
                    if not isinstance(d, dict):
                        raise PatchError(f"a strategic-merge patch must be a mapping, not {type(d).__name__}")
                if self.target is not None and len(docs) > 1:
                    raise PatchError("the rendered patch holds more than one YAML document, and the rule has a target")
                return docs
            if len(docs) > 1:
                raise PatchError(_MULTI_DOC_JSON if self.how == "json6902" else "the rendered patch holds more than one YAML document")
            return docs[0]
        # A patch file is kustomize's text, not a template ({{ }} in a ConfigMap value stays).
        data = self.body if self.source is not None else _render_data(self.body, scope)
        if data is None:
            raise _Skip
        return data

    def _merge_one(self, resource: dict, patch: dict, pod_specs) -> dict:
        api, kind = _str_or_empty(resource.get("apiVersion")), _str_or_empty(resource.get("kind"))
        patch_kind = patch.get("kind") if isinstance(patch.get("kind"), str) else None
        paths = [p.steps for p in pod_specs.paths if p.matches(api, kind)] if pod_specs is not None else []
        new = strategic_merge(resource, patch, api, kind, order="keep", patch_kind=patch_kind, pod_spec_paths=paths)
        if new == {}:
            return new
        # kustomize (Resource.ApplySmPatch): the resource keeps its apiVersion, kind, name and
        # namespace; the patch's kind/name only with allowKindChange/allowNameChange.
        _restore(new, resource, "apiVersion")
        if not self.allow_kind_change:
            _restore(new, resource, "kind")
        meta_old, meta_new = _meta(resource), new.get("metadata")
        if not isinstance(meta_new, dict):
            if not any(k in meta_old for k in ("name", "namespace")):
                return new
            meta_new = new["metadata"] = {}  # `metadata: null` in the patch: kustomize sets them again
        if not self.allow_name_change:
            _restore(meta_new, meta_old, "name")
        _restore(meta_new, meta_old, "namespace")
        return new

    def _apply_one(self, resource: dict, ctx: RunContext):
        data = self._render(resource, ctx.variables)
        if self.how == "strategicMerge":
            new = resource
            for patch in data:
                new = self._merge_one(new, patch, ctx.pod_specs)
                if new == {}:
                    break
            return new
        if self.how == "json6902":
            if not isinstance(data, list):
                raise PatchError(f"a json6902 patch must be a list of operations, not {type(data).__name__}")
            return _json6902_as_kustomize(resource, data)
        if not isinstance(data, dict):
            raise PatchError(f"a merge patch must be a mapping, not {type(data).__name__}")
        new = apply_merge_patch(resource, data)
        if isinstance(new, dict):
            self._check_identity(resource, new)
        return new

    def _check_identity(self, old: dict, new: dict) -> None:
        if not self.allow_kind_change and new.get("kind") != old.get("kind"):
            raise PatchError(f"the patch changes kind from {old.get('kind')!r} to {new.get('kind')!r};"
                             " set allowKindChange: true if that is intended")
        if not self.allow_name_change and _name(new) != _name(old):
            raise PatchError(f"the patch changes metadata.name from {_name(old)!r} to {_name(new)!r};"
                             " set allowNameChange: true if that is intended")

    # ---- the rule ---------------------------------------------------------------------------
    def select(self, documents, kinds=None):
        """The resources the patch applies to (what ``expect:`` counts)."""
        identities = self._literal_identities()
        if identities is None:
            return self._candidates(documents, kinds)
        # A target-less patch whose every document names a resource: those resources.
        kinds = frozenset(i.kind for i in identities)
        return ((doc, where, resource) for doc, where, resource in self._candidates(documents, kinds)
                if any(i.same(ResourceIdentity.from_object(resource)) for i in identities))

    def _candidates(self, documents, kinds=None):
        # A target naming plain kinds (`Deployment|StatefulSet`) lets unrelated documents, big
        # CRDs above all, be skipped by their cheap header instead of parsed (issue 7: a
        # Deployment patch parsed all of kube-prometheus' 5.6 MB).
        if kinds is None and self.target is not None and self.target.include is not None:
            pattern = self.target.include.kind
            if pattern and _LITERAL_KINDS.fullmatch(pattern):
                kinds = frozenset(pattern.split("|"))
        return super().select(documents, kinds)

    def _literal_identities(self) -> list[PatchIdentity] | None:
        """The identities of a target-less literal strategic-merge patch, if every document has one."""
        if self.how != "strategicMerge" or self.target is not None or not isinstance(self.body, list):
            return None
        identities = [PatchIdentity(d) for d in self.body]
        return identities if identities and all(i.named for i in identities) else None

    def apply(self, documents, ctx: RunContext):
        if self.body is None:
            return documents  # an empty patch file: kustomize changes nothing either
        if self.how == "strategicMerge" and self.target is None:
            return self._apply_by_identity(documents, ctx)
        for doc, where, resource in list(self._candidates(documents)):
            if doc.removed:
                continue
            with self._failure(doc, resource):
                try:
                    new = self._apply_one(resource, ctx)
                except _Skip:
                    continue
            self._store(doc, where, resource, new, ctx)
        return documents

    def _apply_by_identity(self, documents, ctx: RunContext):
        """Target-less strategic merge: each document patches the resource it identifies."""
        matched: dict[tuple, int] = {}   # (document index, identity label) -> resources patched
        if not isinstance(self.body, str):
            for i, identity in enumerate(PatchIdentity(d) for d in self.body):
                if identity.named:
                    matched[(i, identity.label())] = 0
        identities = self._literal_identities()
        # Only the kinds the documents name can match, unless an earlier patch renamed something.
        kinds = frozenset(i.kind for i in identities) if identities and not ctx.renamed else None
        for doc, where, resource in list(self._candidates(documents, kinds)):
            if doc.removed:
                continue
            with self._failure(doc, resource):
                try:
                    patches = self._render(resource, ctx.variables)
                except _Skip:
                    continue
                ids = [ResourceIdentity.from_object(resource)] + ctx.renamed.get(id(resource), (None, []))[1]
                new = resource
                for i, patch in enumerate(patches):
                    identity = PatchIdentity(patch)
                    if identity.named:
                        key = (i, identity.label())
                        matched.setdefault(key, 0)
                        if not any(identity.same(x) for x in ids):
                            continue
                        matched[key] += 1
                    elif not identity.selects(new):
                        continue
                    new = self._merge_one(new, patch, ctx.pod_specs)
                    if new == {}:
                        break
            if new is not resource:
                self._store(doc, where, resource, new, ctx)
        for (i, label), count in matched.items():
            if count != 1:
                found = "no resource" if count == 0 else f"{count} resources"
                raise RuleError(f"{self.located()}: document {i + 1} of the patch names {label}; {found} in the stream"
                                f" {'has' if count == 0 else 'have'} that identity (a patch without target: applies"
                                " to the one resource its apiVersion, kind, name and namespace identify)")
        return documents

    @contextmanager
    def _failure(self, doc, resource: dict):
        """One line naming the rule, the document and the resource for whatever goes wrong."""
        try:
            yield
        except (templating.TemplateRefused, templating.UndefinedVariable) as exc:
            # The template is at fault, not the input: exit 2, like the same error at load time.
            raise ConfigError(f"{self.located()}: {doc.where()}: {resource_name(resource)}: {exc}") from None
        except (templating.TemplateError, PatchError) as exc:
            raise RuleError(f"{self.located()}: {doc.where()}: {resource_name(resource)}: {exc}") from None

    def _store(self, doc, where: str, resource: dict, new, ctx: RunContext) -> None:
        what = f"{doc.where()}: {resource_name(resource)}"
        if new == {} and self.how == "strategicMerge":
            self._delete(doc, where, resource)
            if ctx.explain:
                ctx.record(self, doc, resource, "(resource)", "present", None)
            return
        if not isinstance(new, dict):
            raise RuleError(f"{self.located()}: {what}: the patched resource must be a mapping, not {type(new).__name__}")
        diffs = list(_differences(resource, new))
        if not diffs:
            return
        before = ResourceIdentity.from_object(resource)
        label = {"kind": resource.get("kind"), "metadata": copy.copy(resource.get("metadata"))}
        resource.clear()
        resource.update(new)
        after = ResourceIdentity.from_object(resource)
        if (before.api_version, before.kind, before.name, before.namespace) != \
                (after.api_version, after.kind, after.name, after.namespace):
            # kustomize (StorePreviousId): a later patch may still name the resource as it was.
            held = ctx.renamed.setdefault(id(resource), (resource, []))
            held[1].append(before)
        for path, old_value, new_value in diffs:
            ctx.record(self, doc, label, f"{where}.{path}" if where else path, old_value, new_value)

    def templates(self, variables: dict) -> list:
        """The patch body's templates, rendered per resource with ``resource`` (a patch file is
        not a template)."""
        found = []
        if self.source is not None:
            return found

        def walk(value, path):
            if isinstance(value, str) and templating.is_template(value):
                found.append((path, value, variables, frozenset({"resource"}), None))
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, path + (i,))
            elif isinstance(value, dict):
                for key, item in value.items():
                    walk(item, path + (key,))

        walk(self.body, (self.how,))
        return found

    @staticmethod
    def _delete(doc, where: str, resource: dict) -> None:
        if not where:
            doc.remove()
            return
        # An item of a List kind: drop the item, keep the List.
        items = doc.obj["items"]
        for i, item in enumerate(items):
            if item is resource:
                del items[i]
                break
        doc.changed()


_MULTI_DOC_JSON = ("the json6902 patch holds more than one YAML document; kustomize applies only the first"
                   " (kustomize issue 5049): write one list of operations, or one rule per document")


def _json6902_as_kustomize(resource: dict, ops: list):
    """Apply JSON6902 operations as kustomize does.

    kustomize patches a resource that carries its internal annotations, so ``/metadata/annotations``
    always exists there: ``add /metadata/annotations/x`` works on a resource without annotations
    (``/metadata/labels/x`` does not).  The same here; an annotations map the operations leave
    empty is dropped again, as kustomize drops its own.
    """
    meta = resource.get("metadata")
    if not isinstance(meta, dict) or "annotations" in meta:
        return apply_json6902(resource, ops)
    new = apply_json6902({**resource, "metadata": {**meta, "annotations": {}}}, ops)
    new_meta = new.get("metadata") if isinstance(new, dict) else None
    if isinstance(new_meta, dict) and new_meta.get("annotations") == {}:
        del new_meta["annotations"]
    return new


def _restore(new: dict, old: dict, key: str) -> None:
    if key in old:
        new[key] = copy.deepcopy(old[key])
    else:
        new.pop(key, None)


def _looks_like_json_patch(docs: list) -> bool:
    return bool(docs) and isinstance(docs[0], list)


def _check_body(how: str, body, ctx, path):
    """Reject what cannot work at load time: Jinja syntax, a literal patch of the wrong shape.

    Returns the body to keep: a template string, or data (a list of documents for SMP).
    """
    if isinstance(body, str):
        if not body.strip():
            raise ctx.error(path, "the patch is blank; give a patch (kustomize: must specify one of patch and path)")
        if templating.is_template(body):
            try:
                templating.environment().parse(body)
            except Exception as exc:  # jinja2.TemplateSyntaxError; jinja2 is imported lazily
                line = getattr(exc, "lineno", None)
                raise ctx.error(path, f"invalid Jinja template{f' (line {line})' if line else ''}: {getattr(exc, 'message', exc)}") from None
            return body
        try:
            docs = _parse_documents(body)
        except locate.YAMLSyntaxError as exc:
            raise ctx.error(path, f"invalid YAML (line {exc.line + 1} of the patch): {exc.problem}") from None
        return _check_documents(how, docs, ctx, path)
    if body is None:
        return None
    if how == "strategicMerge" and isinstance(body, list):
        return _check_documents(how, body, ctx, path)  # several documents written as a list
    return _check_documents(how, [body], ctx, path)


def _check_documents(how: str, docs: list, ctx, path):
    docs = [d for d in docs if d is not None]
    if not docs:
        return None  # comments only: nothing to apply (kustomize: no change)
    if how == "strategicMerge":
        for d in docs:
            if not isinstance(d, dict):
                if isinstance(d, list):
                    raise ctx.error(path, "is a list: a JSON6902 patch goes under json6902: (or in a file given with path:)")
                raise ctx.error(path, "must be a mapping or a template string rendering to one")
        return docs
    if len(docs) > 1:
        raise ctx.error(path, _MULTI_DOC_JSON if how == "json6902" else "holds more than one YAML document")
    body = docs[0]
    if how == "json6902":
        if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
            raise ctx.error(path, "must be a list of operations ({op: add, path: /spec/replicas, value: 3}) or a template string")
        for i, op in enumerate(body):
            if not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
                raise ctx.error(path + (i,), "each operation needs op and path")
    elif not isinstance(body, dict):
        raise ctx.error(path, "must be a mapping or a template string rendering to one")
    return body


def _read_file(value: str, ctx, path, how: str | None = None):
    """kustomize's ``patches: [{path}]``: the file's text decides the kind of patch, unless ``how``."""
    from postrender import generated

    try:
        text, shown = generated.read_template(value, ctx.config_dir, what="patch file")
    except ValueError as exc:
        raise ctx.error(path, str(exc)) from None
    try:
        docs = _parse_documents(text)
    except locate.YAMLSyntaxError as exc:
        raise ctx.error(path, f"{shown}: invalid YAML (line {exc.line + 1}): {exc.problem}") from None
    if how is None:
        how = "json6902" if _looks_like_json_patch([d for d in docs if d is not None]) else "strategicMerge"
    return how, _check_documents(how, docs, ctx, path), shown


def _file_reference(value) -> str | None:
    """``strategicMerge: {path: FILE}`` (and json6902/merge): a patch file of that kind.

    A mapping whose only key is ``path`` holding a string is never a patch of a Kubernetes
    object (objects have no top-level ``path``), so it names a file."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("path"), str):
        return value["path"]
    return None


def build(options: dict, ctx, path) -> Patch:
    given = [k for k in KINDS_OF_PATCH if options.get(k) is not None]
    if len(given) != 1:
        raise ctx.error(path, f"needs exactly one of {', '.join(KINDS_OF_PATCH)}"
                        + (f", found {', '.join(given)}" if given else ""))
    if given[0] == "path":
        how, body, source = _read_file(options["path"], ctx, path + ("path",))
    elif _file_reference(options[given[0]]) is not None:
        how = given[0]
        _, body, source = _read_file(_file_reference(options[how]), ctx, path + (how, "path"), how)
    else:
        how, source = given[0], None
        body = _check_body(how, options[how], ctx, path + (how,))
    return Patch(how, body, options["allowKindChange"], options["allowNameChange"], source)


EXAMPLE = """\
  # Add a pull secret to one Deployment (postrender --set pullSecret=regcred).
  - patch:
      strategicMerge: |
        {% if pullSecret is defined and not resource.spec.template.spec.imagePullSecrets %}
        spec:
          template:
            spec:
              imagePullSecrets:
                - name: {{ pullSecret }}
        {% endif %}
    target:
      kind: Deployment
      name: backend            # anchored regex
    # expect: 1                # fail (exit 1) unless exactly one resource matched
"""
