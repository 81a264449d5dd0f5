"""pullSecret: generate the image pull Secret, only when credentials are configured.

Creates a ``kubernetes.io/dockerconfigjson`` Secret named ``name`` in every namespace that
needs it: each distinct namespace of the pod specs, ServiceAccounts and operator custom
resources (``Prometheus.spec.imagePullSecrets``...) whose pull-secret lists name it.  A resource
without ``metadata.namespace`` is in the release namespace: with ``--namespace NS`` (or
``$HELM_NAMESPACE``) that is NS, so ``namespace: NS`` written out and left out give one Secret,
``namespace: NS``; without it, such resources get one Secret without a namespace (Helm then
installs it into the release namespace).  A namespace whose Secret of that name is already in
the stream gets none; cluster-scoped kinds (ClusterWorkflowTemplate) need none.  Put this rule
after ``imagePullSecrets``.

    - pullSecret:
        name: "{{ pullSecret }}"
        # template: my-secret.yaml.j2       # default: builtin:dockerconfigjson-secret.yaml.j2
        # credentials: {password: registryAuth.password}   # where the credentials come from
      when: "pullSecret is defined"

Credentials are variables, set with ``--set-file password=./token``, ``POSTRENDER_VAR_password``
or a ``--values`` file (not in the config file itself):

* ``registry`` with ``username`` and ``password``, or with ``auth`` (base64 of ``user:pass``);
* or ``dockerconfigjson``, a whole Docker config file
  (``--set-file dockerconfigjson=$HOME/.docker/config.json``).

``credentials:`` maps each of these five names to the variable that holds it (dotted for nested
values; default: the same name).  The template renders to nothing unless credentials are
defined (``{% if password is defined %}``), so with no credentials no Secret is generated.
For Docker Hub use ``registry: https://index.docker.io/v1/``, as ``kubectl create secret
docker-registry`` does.

A custom ``template:`` is a Jinja file, relative to the config file's directory and inside it
(``..`` or an absolute path out of it is refused).  It sees every variable, the credentials by
the five names above, and ``secret.name`` / ``secret.namespace`` (empty: no namespace), and
runs in the template sandbox.  Credential values are redacted from every message,
``--explain`` names the generated Secret without its data, and ``postrender diff`` hides the
``data``/``stringData`` values of every Secret.
"""

from __future__ import annotations

import binascii
import re

from postrender import generated, pullsecrets
from postrender.config import templating
from postrender.errors import ConfigError
from postrender.rules.base import Change, Rule, RunContext, resource_name
from postrender.config.schema import Field
from postrender.rules.image_pull_secrets import SECRET_NAME_PATTERN, check_secret_name

NAME = "pullSecret"
DEFAULT_TEMPLATE = "builtin:dockerconfigjson-secret.yaml.j2"
CREDENTIALS = ("registry", "username", "password", "auth", "dockerconfigjson")
VARIABLE_PATH = r"\s*[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*\s*"  # stripped before use
# Credentials whose values are secret even when the variable's name does not say so.
SECRET_CREDENTIALS = ("password", "auth", "dockerconfigjson")
OPTIONS = {
    "name": Field("str", required=True, pattern=SECRET_NAME_PATTERN, pattern_doc="a Secret name",
                  doc="name of the Secret (the name imagePullSecrets uses)"),
    "template": Field("str", default=DEFAULT_TEMPLATE,
                      doc="Jinja template of the Secret, relative to the config file's directory"),
    "credentials": Field("map", default=None, fields={
        c: Field("str", default=c, pattern=VARIABLE_PATH, pattern_doc="a variable name (a.b.c)",
                 doc=f"variable that holds {c} (dotted for nested)") for c in CREDENTIALS
    }, doc="which variables hold the credentials (default: registry, username, password, auth, dockerconfigjson)"),
}
# Variable names in `credentials:` are names, not templates.
RAW_KEYS = frozenset({"credentials"})
_VARIABLE_PATH = re.compile(VARIABLE_PATH)
_MISSING = object()


def lookup(variables: dict, dotted: str):
    node = variables
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return _MISSING if node is None else node


class PullSecret(Rule):
    name = NAME

    def __init__(self, secret_name: str, template, template_name: str, context: dict):
        self.secret_name = secret_name
        self.template = template
        self.template_name = template_name
        self.context = context  # variables with the credentials under their five names

    def namespaces(self, documents, ctx: RunContext) -> list[str]:
        """Namespaces ('' = none) of resources that reference the Secret, in stream order."""
        seen: list[str] = []
        for ref in pullsecrets.references(documents, ctx.pod_specs, self.selected if self.target else None,
                                          ctx.namespace):
            if ref.name == self.secret_name and ref.namespace is not None and ref.namespace not in seen:
                seen.append(ref.namespace)
        return seen

    def render(self, namespace: str) -> list[str]:
        context = dict(self.context, secret={"name": self.secret_name, "namespace": namespace})
        where = f"{self.located()}: template {self.template_name}"
        try:
            text = builtin_secret(context) if self.template is BUILTIN else None
            if text is None:
                if self.template is BUILTIN:
                    self.template = generated.compile_template(self.source)
                text = generated.render(self.template, context)
        except templating.TemplateError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        try:
            return generated.documents_of(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    observes = True
    source = ""  # the template's text (set by build)

    def templates(self, variables: dict) -> list:
        """The Secret's template, rendered per namespace with the credentials and ``secret``."""
        return [(("template",), self.source, self.context, frozenset({"secret"}), f"template {self.template_name}")]

    def observe(self, documents, ctx: RunContext, state: dict) -> None:
        state.setdefault("existing", {}).update(pullsecrets.secrets(documents, ctx.namespace))
        namespaces = state.setdefault("namespaces", {})  # insertion-ordered set
        for namespace in self.namespaces(documents, ctx):
            namespaces.setdefault(namespace, None)

    def finish(self, ctx: RunContext, state: dict, index: int, nl: str):
        existing = state.get("existing", {})
        texts: list[str] = []
        for namespace in state.get("namespaces", ()):
            if (namespace, self.secret_name) in existing:
                continue
            texts.extend(self.render(namespace))
        return added(self, ctx, texts, index, nl, "generated; data not shown")


def added(rule: Rule, ctx: RunContext, texts: list[str], index: int, nl: str, note: str):
    """The generated documents for ``texts``; ``--explain`` names each by kind/namespace/name
    (never its data) with ``note`` as the new value."""
    new = generated.new_documents(texts, index, nl)
    if ctx.explain:
        for doc in new:
            what = resource_name(doc.obj) if isinstance(doc.obj, dict) else doc.where()
            ctx.changes.append(Change(rule.label(), what, "(new document)", None, note))
    return new


def build(options: dict, ctx, path) -> PullSecret:
    secret_name = options["name"].strip()
    problem = check_secret_name(secret_name)
    if problem:
        raise ctx.error(path + ("name",), problem)
    try:
        text, shown = generated.read_template(options["template"], ctx.config_dir)
        # The shipped template as it is has a Python twin (builtin_secret): no Jinja import.
        builtin = options["template"] == DEFAULT_TEMPLATE and _digest(text) == BUILTIN_CRC32
        template = BUILTIN if builtin else generated.compile_template(text)
    except ValueError as exc:
        raise ctx.error(path + ("template",), str(exc)) from None
    except templating.TemplateError as exc:
        raise ctx.error(path + ("template",), f"template {options['template']}: {exc}") from None
    mapping = options["credentials"] or {c: c for c in CREDENTIALS}
    context = {k: v for k, v in ctx.variables.items() if k not in CREDENTIALS}
    for cred in CREDENTIALS:
        variable = (mapping.get(cred) or cred).strip()
        if not _VARIABLE_PATH.fullmatch(variable):
            raise ctx.error(path + ("credentials", cred), f"{variable!r} is not a variable name (use a.b.c)")
        value = ctx.as_text(variable, lookup(ctx.variables, variable))  # 0755 from a values file stays 0755
        if value is _MISSING:
            continue
        context[cred] = value
        if cred in SECRET_CREDENTIALS and isinstance(value, str):
            ctx.add_secret(value)
    for derived in _derived_secrets(context):
        ctx.add_secret(derived)
    rule = PullSecret(secret_name, template, shown, context)
    rule.source = text
    return rule


# The shipped template (templates/dockerconfigjson-secret.yaml.j2) rendered without Jinja: it
# runs once per generated Secret on every render, and importing Jinja costs more than the rest of
# a small run.  builtin_secret() gives exactly what Jinja gives (tests/test_pull_secret_builtin.py
# renders both over every credential combination) for the shipped text, whose digest is pinned
# here: a changed template falls back to Jinja until its twin is updated.  The digest guards
# against edits, not attacks (whoever can change the shipped file can change this code too), so
# it is a CRC-32 with the length: binascii is loaded already (base64 needs it), where hashlib
# would cost ~3 ms of every run's start-up (issue 16).
BUILTIN = object()
BUILTIN_CRC32 = "1417:f4b3e0d6"


def _digest(text: str) -> str:
    """``length:crc32`` of the text's UTF-8 bytes."""
    data = text.encode("utf-8")
    return f"{len(data)}:{binascii.crc32(data):08x}"


def builtin_secret(context: dict) -> str | None:
    """What the shipped template renders for ``context``, or None when a value is not a string
    (Jinja decides those: its filters raise the errors users see)."""
    values = {k: context[k] for k in CREDENTIALS if k in context}
    secret = context.get("secret")
    if not all(isinstance(v, str) for v in values.values()) or not isinstance(secret, dict):
        return None
    name, namespace = secret.get("name"), secret.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        return None
    registry, username, password, auth, whole = (values.get(k) for k in CREDENTIALS)
    if whole is not None:
        data = whole
    elif registry is not None and auth is not None:
        data = templating._dockerconfigjson(registry, auth=auth)
    elif registry is not None and username is not None and password is not None:
        data = templating._dockerconfigjson(registry, username, password)
    else:
        return ""
    from postrender.engine.scalars import double_quoted

    lines = ["", "---", "apiVersion: v1", "kind: Secret", "metadata:", f"  name: {double_quoted(name)}"]
    if namespace:
        lines.append(f"  namespace: {double_quoted(namespace)}")
    lines += ["type: kubernetes.io/dockerconfigjson", "data:", f"  .dockerconfigjson: {templating._b64encode(data)}", ""]
    text = "\n".join(lines)
    return text if len(text) <= templating.MAX_OUTPUT_CHARS else None  # Jinja's cap says why


def _derived_secrets(credentials: dict) -> list[str]:
    """What the builtin template makes of the credentials: the auth string, the whole
    .dockerconfigjson and its base64.  Redacted exactly, whatever the password's length (the
    redactor's base64 fragments need a password of 6 bytes or more)."""
    registry, username, password, auth = (credentials.get(k) for k in ("registry", "username", "password", "auth"))
    if not all(isinstance(v, str) for v in (registry, username, password)) and not (
            isinstance(registry, str) and isinstance(auth, str)):
        return []
    if isinstance(username, str) and isinstance(password, str):
        auth = templating._b64encode(f"{username}:{password}")
        document = templating._dockerconfigjson(registry, username, password)
    else:
        document = templating._dockerconfigjson(registry, auth=auth)
    return [auth, document, templating._b64encode(document)]


EXAMPLE = """\
  # Generate the pull Secret in every namespace that references it, only when credentials are
  # set: --set-file password=./token plus registry/username in a values file.
  - pullSecret:
      name: "{{ pullSecret }}"
      # template: my-secret.yaml.j2   # default: builtin:dockerconfigjson-secret.yaml.j2
    when: "pullSecret is defined"
"""
