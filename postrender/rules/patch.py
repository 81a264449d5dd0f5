"""patch: change selected resources with a strategic-merge, JSON6902 or JSON merge patch.

For manifests you deploy as they are, except for one thing: add a pull secret to one
Deployment, raise a replica count, drop a resource.  Semantics are kustomize's ``patches:``
(strategic merge follows the Kubernetes API schema: containers, env, volumes... are merged by
their merge key, other lists are replaced, ``$patch: delete|replace``, ``null`` deletes a key).

    - patch:
        strategicMerge: |          # or json6902: [...], or merge: {...} (RFC 7386); exactly one
          {% if pullSecret is defined %}
          spec:
            template:
              spec:
                imagePullSecrets:
                  - name: {{ pullSecret }}
          {% endif %}
        allowNameChange: false     # a patch that changes metadata.name is an error unless true
        allowKindChange: false     # the same for kind
      target: {kind: Deployment, name: backend}   # anchored regexes, as kustomize
      expect: 1                    # optional: exact count, or ">=1"; a mismatch exits 1

The patch is a Jinja template, rendered once per selected resource with the variables plus
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

from postrender.engine import kube_yaml, locate
from postrender.config import templating
from postrender.errors import ConfigError, RuleError
from postrender.patching.json6902 import apply_json6902
from postrender.patching.merge_patch import apply_merge_patch
from postrender.patching.strategic import PatchError, strategic_merge
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext, resource_name

NAME = "patch"
KINDS_OF_PATCH = ("strategicMerge", "json6902", "merge")
EXACTLY_ONE_OF = KINDS_OF_PATCH
_TEXT_OR_MAPPING = (Field("str"), Field("map"))
_OPERATION = Field("map", extra_keys=True, fields={"op": Field("str", required=True), "path": Field("str", required=True)})
OPTIONS = {
    "strategicMerge": Field("any", variants=_TEXT_OR_MAPPING,
                            doc="strategic-merge patch: a Jinja template rendering to YAML, or a mapping"),
    "json6902": Field("any", variants=(Field("str"), Field("list", items=_OPERATION)),
                      doc="JSON6902 operations: a list, or a Jinja template rendering to a YAML list"),
    "merge": Field("any", variants=_TEXT_OR_MAPPING,
                   doc="RFC 7386 JSON merge patch: a mapping, or a Jinja template rendering to YAML"),
    "allowKindChange": Field("bool", default=False, doc="allow the patch to change kind"),
    "allowNameChange": Field("bool", default=False, doc="allow the patch to change metadata.name"),
}
# Rendered per resource (with `resource`), not at load time.
RAW_KEYS = frozenset(KINDS_OF_PATCH)


class _Skip(Exception):
    """The rendered patch is empty: nothing to do for this resource."""


def _parse_yaml(text: str):
    """Rendered patch text -> data, with the same YAML reader as the manifests."""
    roots = locate.parse(text)
    if len(roots) > 1:
        raise ValueError("the rendered patch holds more than one YAML document")
    return kube_yaml.read(roots[0]) if roots and roots[0] is not None else None


def _render_data(value, variables: dict):
    """Render the template strings inside literal patch data (to strings)."""
    if isinstance(value, str):
        return templating.render(value, variables) if templating.is_template(value) else value
    if isinstance(value, list):
        return [_render_data(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _render_data(v, variables) for k, v in value.items()}
    return value


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


def _name(resource: dict):
    meta = resource.get("metadata")
    return meta.get("name") if isinstance(meta, dict) else None


class Patch(Rule):
    name = NAME
    per_document = True
    kinds = None  # any kind

    def __init__(self, how: str, body, allow_kind_change: bool, allow_name_change: bool):
        self.how = how
        self.body = body
        self.allow_kind_change = allow_kind_change
        self.allow_name_change = allow_name_change

    # ---- one resource -----------------------------------------------------------------------
    def _patch_data(self, resource: dict, variables: dict):
        scope = dict(variables)
        scope["resource"] = _resource_view(resource)
        if isinstance(self.body, str):
            text = templating.render(self.body, scope)
            if not text.strip():
                raise _Skip
            try:
                data = _parse_yaml(text)
            except locate.YAMLSyntaxError as exc:
                raise PatchError(f"the rendered {self.how} patch is not valid YAML: line {exc.line + 1}: {exc.problem}") from None
            except ValueError as exc:
                raise PatchError(str(exc)) from None
        else:
            data = _render_data(self.body, scope)
        if data is None:
            raise _Skip
        return data

    def _apply_one(self, resource: dict, variables: dict):
        data = self._patch_data(resource, variables)
        if self.how == "strategicMerge":
            if not isinstance(data, dict):
                raise PatchError(f"a strategic-merge patch must be a mapping, not {type(data).__name__}")
            api = resource.get("apiVersion")
            kind = resource.get("kind")
            return strategic_merge(resource, data, api if isinstance(api, str) else "",
                                   kind if isinstance(kind, str) else "", order="keep")
        if self.how == "json6902":
            if not isinstance(data, list):
                raise PatchError(f"a json6902 patch must be a list of operations, not {type(data).__name__}")
            return apply_json6902(resource, data)
        if not isinstance(data, dict):
            raise PatchError(f"a merge patch must be a mapping, not {type(data).__name__}")
        return apply_merge_patch(resource, data)

    def _check_identity(self, old: dict, new: dict) -> None:
        if not self.allow_kind_change and new.get("kind") != old.get("kind"):
            raise PatchError(f"the patch changes kind from {old.get('kind')!r} to {new.get('kind')!r};"
                             " set allowKindChange: true if that is intended")
        if not self.allow_name_change and _name(new) != _name(old):
            raise PatchError(f"the patch changes metadata.name from {_name(old)!r} to {_name(new)!r};"
                             " set allowNameChange: true if that is intended")

    # ---- the rule ---------------------------------------------------------------------------
    def select(self, documents, kinds=None):
        # A target naming plain kinds (`Deployment|StatefulSet`) lets unrelated documents, big
        # CRDs above all, be skipped by their cheap header instead of parsed (issue 7: a
        # Deployment patch parsed all of kube-prometheus' 5.6 MB).
        if kinds is None and self.target is not None and self.target.include is not None:
            pattern = self.target.include.kind
            if pattern and _LITERAL_KINDS.fullmatch(pattern):
                kinds = frozenset(pattern.split("|"))
        return super().select(documents, kinds)

    def apply(self, documents, ctx: RunContext):
        for doc, where, resource in list(self.select(documents)):
            if doc.removed:
                continue
            what = f"{doc.where()}: {resource_name(resource)}"
            try:
                new = self._apply_one(resource, ctx.variables)
                if new == {} and self.how == "strategicMerge":
                    self._delete(doc, where, resource)
                    if ctx.explain:
                        ctx.record(self, doc, resource, "(resource)", "present", None)
                    continue
                if not isinstance(new, dict):
                    raise PatchError(f"the patched resource must be a mapping, not {type(new).__name__}")
                self._check_identity(resource, new)
            except _Skip:
                continue
            except (templating.TemplateRefused, templating.UndefinedVariable) as exc:
                # The template is at fault, not the input: exit 2, like the same error at load time.
                raise ConfigError(f"{self.located()}: {what}: {exc}") from None
            except (templating.TemplateError, PatchError) as exc:
                raise RuleError(f"{self.located()}: {what}: {exc}") from None
            diffs = list(_differences(resource, new))
            if not diffs:
                continue
            label = {"kind": resource.get("kind"), "metadata": copy.copy(resource.get("metadata"))}
            resource.clear()
            resource.update(new)
            for path, old_value, new_value in diffs:
                ctx.record(self, doc, label, f"{where}.{path}" if where else path, old_value, new_value)
        return documents

    def templates(self, variables: dict) -> list:
        """The patch body's templates, rendered per resource with ``resource``."""
        found = []

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


def _check_body(how: str, body, ctx, path):
    """Reject what cannot work at load time: Jinja syntax, a literal patch of the wrong shape."""
    if isinstance(body, str):
        if templating.is_template(body):
            try:
                templating.environment().parse(body)
            except Exception as exc:  # jinja2.TemplateSyntaxError; jinja2 is imported lazily
                line = getattr(exc, "lineno", None)
                raise ctx.error(path, f"invalid Jinja template{f' (line {line})' if line else ''}: {getattr(exc, 'message', exc)}") from None
            return body
        try:
            data = _parse_yaml(body)
        except locate.YAMLSyntaxError as exc:
            raise ctx.error(path, f"invalid YAML (line {exc.line + 1} of the patch): {exc.problem}") from None
        except ValueError as exc:
            raise ctx.error(path, str(exc)) from None
        body = data
    if body is None:
        return None
    if how == "json6902":
        if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
            raise ctx.error(path, "must be a list of operations ({op: add, path: /spec/replicas, value: 3}) or a template string")
        for i, op in enumerate(body):
            if not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
                raise ctx.error(path + (i,), "each operation needs op and path")
    elif not isinstance(body, dict):
        raise ctx.error(path, "must be a mapping or a template string rendering to one")
    return body


def build(options: dict, ctx, path) -> Patch:
    given = [k for k in KINDS_OF_PATCH if options.get(k) is not None]
    if len(given) != 1:
        raise ctx.error(path, f"needs exactly one of {', '.join(KINDS_OF_PATCH)}"
                        + (f", found {', '.join(given)}" if given else ""))
    how = given[0]
    body = _check_body(how, options[how], ctx, path + (how,))
    return Patch(how, body, options["allowKindChange"], options["allowNameChange"])


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
