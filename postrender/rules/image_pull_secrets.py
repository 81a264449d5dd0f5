"""imagePullSecrets: add image pull Secret names to pod specs, operator CRs (and ServiceAccounts).

For private and rate-limited registries: every pod spec the kind table knows (workloads,
``List`` items, Knative, ``podSpecPaths`` from the config) and the pull-secret field of every
operator custom resource that creates pods from its own images (``Prometheus``,
``Alertmanager``, ``ThanosRuler``, ``PrometheusAgent``, ``GrafanaAgent`` ``spec.imagePullSecrets``,
Argo Workflows, Tekton ``TaskRun``/``PipelineRun`` pod templates, ``SparkApplication`` (a list
of names), ``FlinkDeployment``, ...: ``kinds.BUILTIN_PULL_SECRET_FIELDS``) gets the names, so
no component of a chart is left pulling anonymously.  CRDs are never touched.

    - imagePullSecrets:
        names: ["{{ pullSecret }}"]          # one or more Secret names
        registries: [registry.example.com]   # optional: only pod specs/CRs pulling from these
        serviceAccounts: false               # true: also add to ServiceAccounts in the stream
      when: "pullSecret is defined"

``names`` may also be one template that renders to a list (``names: "{{ pullSecrets }}"`` with a
list variable, or ``"{{ pullSecrets | tojson }}"``) or to names separated by commas or spaces.

Entries are merged by ``name``, as Kubernetes' strategic merge does for this list: existing
entries keep their place, missing names are appended in the order given, a name is never
written twice (a repeated entry for one of these names is dropped).  ``imagePullSecrets``
that is absent, ``null`` or ``[]`` works the same; a new key is written after
``serviceAccountName`` when the pod spec has one, else before ``containers``, with the
document's own indentation and sequence style.  In a custom resource the key goes after its
``imagePullPolicy``/``image``, and mappings missing on the way are created (a ``TaskRun``
without ``spec.podTemplate`` gets one).

``registries`` keeps only pod specs with at least one image (``containers``,
``initContainers``, ``ephemeralContainers`` or an image volume, as earlier rules left them) on
one of these registries, and only custom resources with such an image anywhere image discovery
looks (``spec.image``, their containers, ...).  Entries are normalised like ``registryRewrite``
prefixes: ``docker.io``, ``index.docker.io`` and ``registry-1.docker.io`` are the same registry,
and an entry with a path (``ghcr.io/acme/``) matches images under it.  With ``serviceAccounts:
true`` and ``registries``, only the ServiceAccounts that such pod specs run as
(``serviceAccountName``, same namespace) are changed.

An ``OpenTelemetryCollector`` has no pull-secret field: its pods pull as the ServiceAccount
``spec.serviceAccount`` names (or ``<name>-collector``, which the operator creates).  With
``serviceAccounts: true`` that ServiceAccount gets the names when it is in the stream; without
it, a warning says so.
"""

from __future__ import annotations

import re

from postrender.images import reference as images
from postrender.kinds import containers, pull_secret_table, resources, stream_resources
from postrender.pullsecrets import entry_name, holder_wanted, holders_of, name_of, namespace_of
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext, resource_name
from postrender.rules.image_pull_policy import set_after

NAME = "imagePullSecrets"
# A Secret's name is a DNS subdomain (RFC 1123), as the API server validates it.
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# What check_secret_name accepts once blanks around it are stripped (for the JSON Schema).
SECRET_NAME_PATTERN = rf"\s*(?=\S{{1,253}}\s*$){DNS_SUBDOMAIN}\s*"
# names as one string: names separated by commas or blanks, or a flow list of them (what a
# template that renders a list gives: "['a', 'b']" or JSON).
_QUOTED_NAME = rf"['\"]?{DNS_SUBDOMAIN}['\"]?"
NAMES_TEXT_PATTERN = rf"\s*\[?\s*{_QUOTED_NAME}(?:\s*[,\s]\s*{_QUOTED_NAME})*\s*\]?\s*"
OPTIONS = {
    "names": Field("any", required=True, variants=(
        Field("list", items=Field("str", pattern=SECRET_NAME_PATTERN, pattern_doc="a Secret name"), min_items=1),
        Field("str", pattern=NAMES_TEXT_PATTERN, pattern_doc="Secret names (a list, or names separated by commas or spaces)"),
    ), doc="Secret names to add: a list, or one template that renders a list"),
    "registries": Field("list", items=Field("str", pattern=rf"\s*(?:{images.MIRROR_PREFIX_PATTERN})\s*", pattern_doc="a registry or repository prefix"),
                        default=None,
                        doc="only pod specs and custom resources with an image from one of these registries"),
    "serviceAccounts": Field("bool", default=False, doc="also add the names to ServiceAccounts in the stream"),
}
# Where a new imagePullSecrets key goes: after the first of these that the pod spec has...
_AFTER = ("serviceAccountName", "serviceAccount")
# ...else right before this one.
_BEFORE = "containers"
# In a custom resource's mapping: after the first of these it has, else last.
_AFTER_IN_RESOURCE = ("imagePullPolicy", "image", "imageName", "package", "serviceAccountName")
# The ServiceAccount the OpenTelemetry operator creates when spec.serviceAccount is empty
# (internal/naming: ServiceAccount(otelcol) = "<name>-collector").
_OTEL_DEFAULT_ACCOUNT = "{name}-collector"


def _entry_name(entry) -> str | None:
    return entry_name(entry)


def merge_names(current, names: list[str], shape: str = "references") -> list | None:
    """The merged pull-secret list, or None when ``current`` needs no change.

    ``current`` is what the document has (absent/None, a list).  Entries keep their place;
    a later entry repeating one of ``names`` is dropped; missing names are appended, as
    ``{name: x}`` or, for the ``names`` shape (SparkApplication), as ``x``.
    """
    old = current if isinstance(current, list) else []
    wanted = set(names)
    seen: set = set()
    out = []
    for entry in old:
        name = entry_name(entry, shape)
        if name in wanted:
            if name in seen:
                continue
            seen.add(name)
        out.append(entry)
    out.extend(({"name": n} if shape == "references" else n) for n in names if n not in seen)
    if isinstance(current, list) and out == current:
        return None
    return out


def _registry_matcher(prefixes: list[str]):
    def matches(image) -> bool:
        if not isinstance(image, str):
            return False
        try:
            name = images.parse(image).normalized_name
        except images.InvalidImageReference:
            return False
        return any(images.under_prefix(name, p) for p in prefixes)

    return matches


def _pod_spec_images(pod_spec: dict):
    """The images the kubelet pulls for a pod spec: containers and image volumes."""
    for _l, _i, container in containers(pod_spec):
        yield container.get("image")
    volumes = pod_spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else ():
        image = volume.get("image") if isinstance(volume, dict) else None
        if isinstance(image, dict):
            yield image.get("reference")


class ImagePullSecrets(Rule):
    name = NAME

    def __init__(self, names: list[str], registries: list[str] | None, service_accounts: bool, pod_specs, table):
        self.names = names
        self.matches = _registry_matcher(registries) if registries else None
        self.service_accounts = service_accounts
        self.pod_specs = pod_specs
        self.table = table  # images.discovery.ImageTable: a custom resource's images, for registries
        self.kinds = pod_specs.kinds | pull_secret_table().kinds | ({"ServiceAccount"} if service_accounts else frozenset())
        self.wanted = holder_wanted(pod_specs, service_accounts)

    @property
    def per_document(self) -> bool:
        """Streamable (see Rule.per_document) unless ServiceAccounts are matched to the
        pods that run as them, which needs every document first."""
        return not (self.service_accounts and self.matches is not None)

    def _update(self, ctx: RunContext, doc, resource: dict, holder: dict, key: str, shape: str, path: str,
                after=_AFTER, before: str | None = _BEFORE) -> None:
        old = holder.get(key)
        new = merge_names(old, self.names, shape)
        if new is None:
            return
        set_after(holder, after, key, new, before=before)
        names = [entry_name(e, shape) for e in old] if isinstance(old, list) else None
        ctx.record(self, doc, resource, path, names, [entry_name(e, shape) for e in new])

    def _resource_pulls_from_registries(self, resource: dict) -> bool:
        return self.matches is None or any(self.matches(loc.value) for loc in self.table.locations(resource))

    def apply(self, documents, ctx: RunContext):
        accounts: set[tuple[str, str]] = set()  # (namespace, name) run by a matching pod spec
        service_accounts = []
        table = pull_secret_table()
        for doc, where, resource in self._resources(documents):
            kind = resource.get("kind")
            if kind == "ServiceAccount" and "ServiceAccount" not in self.pod_specs.kinds:
                if self.service_accounts:
                    service_accounts.append((doc, resource))
                continue
            prefix = f"{where}." if where else ""
            namespace = namespace_of(resource, ctx.namespace)
            specs = self.pod_specs.pod_specs(resource)
            fields = table.fields_of(resource)
            if not specs and not fields:
                self._warn_unreachable(ctx, doc, resource)
                continue
            for spec_path, pod_spec in specs:
                if self.matches is not None:
                    if not any(self.matches(image) for image in _pod_spec_images(pod_spec)):
                        continue
                    account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
                    if isinstance(account, str):
                        accounts.add((namespace, account))
                self._update(ctx, doc, resource, pod_spec, "imagePullSecrets", "references",
                             f"{prefix}{spec_path}.imagePullSecrets")
            if not fields or not self._resource_pulls_from_registries(resource):
                continue
            for field in fields:
                if field.shape == "serviceAccount":
                    self._service_account_field(ctx, doc, resource, field, namespace, accounts)
            for holder in holders_of(doc, where, resource, self.pod_specs, ctx.namespace, create=True):
                if holder.source == "field":
                    self._update(ctx, doc, resource, holder.mapping, holder.key, holder.shape, holder.path,
                                 after=_AFTER_IN_RESOURCE, before=None)
        for doc, resource in service_accounts:
            if self.matches is not None and (namespace_of(resource, ctx.namespace), name_of(resource)) not in accounts:
                continue
            self._update(ctx, doc, resource, resource, "imagePullSecrets", "references", "imagePullSecrets")
        return documents

    def _resources(self, documents):
        """The selected resources that hold pull secrets (as kinds.stream_resources reads the
        stream), and, with ``registries``, every other resource image discovery visits (to warn
        about images no pull secret can reach), in stream order."""
        for doc in documents:
            found = list(stream_resources([doc], self.kinds, self.wanted))
            if not found and self.matches is not None and self.table.visits(doc):
                found = [(doc, where, resource) for where, resource in resources(doc.obj)]
            for _doc, where, resource in found:
                if self.selected(resource):
                    yield doc, where, resource

    def _warn_unreachable(self, ctx, doc, resource) -> None:
        """A resource with an image on the registries that no pull-secret list can reach: its
        operator creates pods postrender knows nothing of (issue 13: one missed image is an outage)."""
        if self.matches is None:
            return
        images = [loc.value for loc in self.table.locations(resource) if self.matches(loc.value)]
        if images:
            ctx.warn(f"{self.label()}: {doc.where()}: {resource_name(resource)}: pulls {images[0]} but postrender knows no"
                     f" pull-secret field of a {resource.get('kind')} ({resource.get('apiVersion')}): list its pod"
                     " template under podSpecPaths, or give the ServiceAccount its pods run as the Secret")

    def _service_account_field(self, ctx, doc, resource, field, namespace, accounts) -> None:
        """A kind without a pull-secret field whose pods pull as a ServiceAccount (OpenTelemetryCollector)."""
        *parents, (key, _many) = field.path.steps
        node = resource
        for step, _ in parents:
            node = node.get(step) if isinstance(node, dict) else None
        account = node.get(key) if isinstance(node, dict) else None
        if not isinstance(account, str) or not account:
            account = _OTEL_DEFAULT_ACCOUNT.format(name=name_of(resource))
            operator_made = True
        else:
            operator_made = False
        if self.service_accounts and not operator_made:
            accounts.add((namespace, account))
            return
        how = (f"{field.path.text} is empty, so they run as {account!r}, which the operator creates: set"
               f" {field.path.text} to a ServiceAccount the chart renders" if operator_made else
               f"they run as ServiceAccount {account!r} ({field.path.text}): set serviceAccounts: true")
        ctx.warn(f"{self.label()}: {doc.where()}: {resource_name(resource)}: a {resource.get('kind')} has no pull-secret"
                 f" field, its pods pull with their ServiceAccount's imagePullSecrets; {how} so that ServiceAccount"
                 f" gets {', '.join(self.names)}")


def _rendered_names(value, ctx, path) -> list[tuple[str, tuple]]:
    """``names`` (rendered by the loader) as (name, config path) pairs: a string, alone or as an
    item, may hold several names, as a template that renders a list gives them (``['a', 'b']``,
    JSON), or separated by commas or blanks (a Secret name has neither).  A string that renders
    empty stays one (empty) name, for check_secret_name to report."""
    import yaml

    if isinstance(value, str):
        items = [(value, path)]
    elif isinstance(value, list):
        items = [(v, path + (i,)) for i, v in enumerate(value)]
    else:
        raise ctx.error(path, "must be a list of Secret names, or a template that renders to one")
    out = []
    for text, where in items:
        if not isinstance(text, str):
            raise ctx.error(where, f"must be a Secret name (a string), not {type(text).__name__}")
        text = text.strip()
        if text.startswith("["):
            try:
                rendered = yaml.safe_load(text)
            except yaml.YAMLError:
                rendered = None
            if not isinstance(rendered, list) or not all(isinstance(n, str) for n in rendered):
                raise ctx.error(where, f"renders to {text[:80]!r}, which is not a list of Secret names")
            out.extend((n.strip(), where) for n in rendered)
        else:
            out.extend((n, where) for n in (re.split(r"[,\s]+", text) if text else [""]) if n or not text)
    return out


_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)


def check_secret_name(name: str) -> str | None:
    """Why ``name`` cannot be a Secret's name, or None."""
    if not name:
        return "a Secret name cannot be empty (is a variable empty?)"
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return f"{name!r} is not a valid Secret name (lower-case letters, digits, '-' and '.', at most 253 characters)"
    return None


def build(options: dict, ctx, path) -> ImagePullSecrets:
    from postrender.images.discovery import ImageTable

    names = []
    for name, where in _rendered_names(options["names"], ctx, path + ("names",)):
        problem = check_secret_name(name.strip())
        if problem:
            raise ctx.error(where, problem)
        if name.strip() not in names:
            names.append(name.strip())
    if not names:
        raise ctx.error(path + ("names",), "give at least one Secret name (a template rendered none: guard the"
                        " rule with when: instead)")
    prefixes = None
    if options["registries"] is not None:
        prefixes = []
        for i, value in enumerate(options["registries"]):
            try:
                prefixes.append(images.normalize_mirror_prefix(value.strip()).rstrip("/"))
            except images.InvalidImageReference as exc:
                raise ctx.error(path + ("registries", i), f"not a registry: {exc}") from None
    return ImagePullSecrets(names, prefixes, options["serviceAccounts"], ctx.pod_specs, ImageTable.of(ctx))


EXAMPLE = """\
  # Private registry: every pod spec (or only those pulling from `registries`) gets the Secret.
  - imagePullSecrets:
      names: ["{{ pullSecret }}"]
      # registries: [registry.example.com]   # only pod specs with an image from these
      serviceAccounts: false                 # true: also ServiceAccounts in the stream
    when: "pullSecret is defined"
"""
