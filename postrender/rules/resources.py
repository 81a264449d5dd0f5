"""resources: add documents rendered from a Jinja template, when it renders to any.

The general form of a chart's ``{% if secret is defined %}`` block: the template (a file, or
``inline:`` text) is rendered with the variables when the config is loaded, and each resulting
YAML document is appended to the stream.  A template that renders to nothing (only blank lines
and comments) adds nothing.  A document whose resource (API group, kind, namespace, name) is
already in the stream is not added again, so running the output through postrender again adds
no duplicate (issue 7); when the resource in the stream differs, a warning says so.

    - resources:
        template: extra/registry-secret.yaml.j2   # relative to the config file's directory
        # inline: |
        #   {% if networkPolicy is defined %}
        #   apiVersion: networking.k8s.io/v1
        #   kind: NetworkPolicy
        #   ...
        #   {% endif %}

Exactly one of ``template`` and ``inline``.  A template file must be inside the config file's
directory (``..`` or an absolute path out of it is refused).  Templates run in the sandbox
with ``StrictUndefined``: a variable used outside an ``is defined`` test must be set.  Every
rendered document must be a mapping with ``apiVersion`` and ``kind``; errors are reported at
load time (exit 2) and never quote the rendered text, which may hold credentials.
"""

from __future__ import annotations

from postrender import generated
from postrender.engine import kube_yaml, locate
from postrender.config import templating
from postrender.kinds import stream_resources
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext, resource_name
from postrender.rules.pull_secret import added

NAME = "resources"
OPTIONS = {
    "template": Field("str", doc="Jinja template file, relative to the config file's directory"),
    "inline": Field("str", doc="the Jinja template itself"),
}
EXACTLY_ONE_OF = ("template", "inline")
# The inline template is rendered by the rule (with its own error messages), not by the loader.
RAW_KEYS = frozenset({"inline"})


class Resources(Rule):
    name = NAME
    kinds = frozenset()

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.objects = [kube_yaml.read(locate.parse(text)[0]) for text in texts]

    observes = True
    source: tuple = ((), "", None)  # (option path, template text, label), set by build

    def templates(self, variables: dict) -> list:
        """The template as written: rendering it at load time only took the branches the
        variables chose."""
        path, text, label = self.source
        return [(path, text, variables, frozenset(), label)]

    def observe(self, documents, ctx: RunContext, state: dict) -> None:
        """Keep, of the resources the rule adds, those the stream already has (first one wins)."""
        if not self.texts:
            return
        wanted = {_key(obj) for obj in self.objects}
        kinds = {obj["kind"] for obj in self.objects}
        found = state.setdefault("found", {})
        for _doc, _where, resource in stream_resources(documents, kinds):
            key = _key(resource)
            if key in wanted:
                found.setdefault(key, resource)

    def finish(self, ctx: RunContext, state: dict, index: int, nl: str):
        existing = state.get("found", {})
        texts = []
        for text, obj in zip(self.texts, self.objects):
            present = existing.get(_key(obj))
            if present is None:
                texts.append(text)
            elif present != obj:
                ctx.warn(f"{self.label()}: {resource_name(obj)} is already in the stream and differs"
                         " from the template's; the stream's is kept")
        return added(self, ctx, texts, index, nl, "added")


def _key(resource: dict) -> tuple:
    """API group, kind, namespace, name: what makes two documents the same resource."""
    api = resource.get("apiVersion")
    group = api.rpartition("/")[0] if isinstance(api, str) else ""
    meta = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
    return group, resource.get("kind"), meta.get("namespace") or "", meta.get("name")


def build(options: dict, ctx, path) -> Resources:
    given = [k for k in ("template", "inline") if options[k] is not None]
    if len(given) != 1:
        raise ctx.error(path, "give exactly one of 'template' (a file) and 'inline' (the template text)")
    key = given[0]
    if key == "template":
        try:
            text, shown = generated.read_template(options["template"], ctx.config_dir)
        except ValueError as exc:
            raise ctx.error(path + (key,), str(exc)) from None
        what = f"template {shown}"
    else:
        text, what = options["inline"], "inline template"
    try:
        rendered = generated.render(generated.compile_template(text), ctx.variables)
    except templating.TemplateError as exc:
        raise ctx.error(path + (key,), f"{what}: {exc}") from None
    try:
        texts = generated.documents_of(rendered)
    except ValueError as exc:
        raise ctx.error(path + (key,), f"{what}: {exc}") from None
    rule = Resources(texts)
    rule.source = ((key,), text, what if key == "template" else None)
    return rule


EXAMPLE = """\
  # Add resources from a Jinja template; nothing is added when it renders to nothing.
  - resources:
      inline: |
        {% if registryMirrorConfig is defined %}
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: registry-mirror
        data:
          mirror: {{ registryMirrorConfig | quote }}
        {% endif %}
"""
