"""imagePullSecrets: add image pull Secret names to pod specs (and ServiceAccounts).

For private and rate-limited registries: every pod spec the kind table knows (workloads,
``List`` items, ``podSpecPaths`` from the config) gets the names, so no component of a chart
is left pulling anonymously.  CRDs are never touched.

    - imagePullSecrets:
        names: ["{{ pullSecret }}"]          # one or more Secret names
        registries: [registry.example.com]   # optional: only pod specs pulling from these
        serviceAccounts: false               # true: also add to ServiceAccounts in the stream
      when: "pullSecret is defined"

Entries are merged by ``name``, as Kubernetes' strategic merge does for this list: existing
entries keep their place, missing names are appended in the order given, a name is never
written twice (a repeated entry for one of these names is dropped).  ``imagePullSecrets``
that is absent, ``null`` or ``[]`` works the same; a new key is written after
``serviceAccountName`` when the pod spec has one, else before ``containers``, with the
document's own indentation and sequence style.

``registries`` keeps only pod specs with at least one image (``containers``,
``initContainers`` or ``ephemeralContainers``, as earlier rules left them) on one of these
registries.  Entries are normalised like ``registryRewrite`` prefixes: ``docker.io`` and
``index.docker.io`` are the same registry, and an entry with a path (``ghcr.io/acme/``)
matches images under it.  With ``serviceAccounts: true`` and ``registries``, only the
ServiceAccounts that such pod specs run as (``serviceAccountName``, same namespace) are changed.
"""

from __future__ import annotations

import re

from postrender.images import reference as images
from postrender.kinds import containers
from postrender.pullsecrets import name_of, namespace_of
from postrender.config.schema import Field
from postrender.rules.base import Rule, RunContext
from postrender.rules.image_pull_policy import set_after

NAME = "imagePullSecrets"
# A Secret's name is a DNS subdomain (RFC 1123), as the API server validates it.
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# What check_secret_name accepts once blanks around it are stripped (for the JSON Schema).
SECRET_NAME_PATTERN = rf"\s*(?=\S{{1,253}}\s*$){DNS_SUBDOMAIN}\s*"
OPTIONS = {
    "names": Field("list", required=True, items=Field("str", pattern=SECRET_NAME_PATTERN, pattern_doc="a Secret name"),
                   min_items=1, doc="Secret names to add"),
    "registries": Field("list", items=Field("str", pattern=rf"\s*(?:{images.MIRROR_PREFIX_PATTERN})\s*", pattern_doc="a registry or repository prefix"),
                        default=None,
                        doc="only pod specs with an image from one of these registries"),
    "serviceAccounts": Field("bool", default=False, doc="also add the names to ServiceAccounts in the stream"),
}
# Where a new imagePullSecrets key goes: after the first of these that the pod spec has...
_AFTER = ("serviceAccountName", "serviceAccount")
# ...else right before this one.
_BEFORE = "containers"


def _entry_name(entry) -> str | None:
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return entry["name"]
    return None


def merge_names(current, names: list[str]) -> list | None:
    """The merged ``imagePullSecrets`` list, or None when ``current`` needs no change.

    ``current`` is what the document has (absent/None, a list).  Entries keep their place;
    a later entry repeating one of ``names`` is dropped; missing names are appended.
    """
    old = current if isinstance(current, list) else []
    wanted = set(names)
    seen: set = set()
    out = []
    for entry in old:
        name = _entry_name(entry)
        if name in wanted:
            if name in seen:
                continue
            seen.add(name)
        out.append(entry)
    out.extend({"name": n} for n in names if n not in seen)
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


class ImagePullSecrets(Rule):
    name = NAME

    def __init__(self, names: list[str], registries: list[str] | None, service_accounts: bool, pod_specs):
        self.names = names
        self.matches = _registry_matcher(registries) if registries else None
        self.service_accounts = service_accounts
        self.pod_kinds = pod_specs.kinds
        self.kinds = pod_specs.kinds | ({"ServiceAccount"} if service_accounts else frozenset())

    @property
    def per_document(self) -> bool:
        """Streamable (see Rule.per_document) unless ServiceAccounts are matched to the
        pods that run as them, which needs every document first."""
        return not (self.service_accounts and self.matches is not None)

    def _update(self, ctx: RunContext, doc, resource: dict, holder: dict, path: str) -> None:
        old = holder.get("imagePullSecrets")
        new = merge_names(old, self.names)
        if new is None:
            return
        set_after(holder, _AFTER, "imagePullSecrets", new, before=_BEFORE)
        before = [_entry_name(e) for e in old] if isinstance(old, list) else None
        ctx.record(self, doc, resource, f"{path}imagePullSecrets", before, [_entry_name(e) for e in new])

    def apply(self, documents, ctx: RunContext):
        accounts: set[tuple[str, str]] = set()  # (namespace, name) run by a matching pod spec
        service_accounts = []
        for doc, _where, resource in self.select(documents):
            if resource.get("kind") == "ServiceAccount" and "ServiceAccount" not in self.pod_kinds:
                service_accounts.append((doc, resource))
                continue
            for spec_path, pod_spec in ctx.pod_specs.pod_specs(resource):
                if self.matches is not None:
                    if not any(self.matches(c.get("image")) for _l, _i, c in containers(pod_spec)):
                        continue
                    account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
                    if isinstance(account, str):
                        accounts.add((namespace_of(resource), account))
                self._update(ctx, doc, resource, pod_spec, f"{spec_path}.")
        for doc, resource in service_accounts:
            if self.matches is not None and (namespace_of(resource), name_of(resource)) not in accounts:
                continue
            self._update(ctx, doc, resource, resource, "")
        return documents


_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)


def check_secret_name(name: str) -> str | None:
    """Why ``name`` cannot be a Secret's name, or None."""
    if not name:
        return "a Secret name cannot be empty (is a variable empty?)"
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return f"{name!r} is not a valid Secret name (lower-case letters, digits, '-' and '.', at most 253 characters)"
    return None


def build(options: dict, ctx, path) -> ImagePullSecrets:
    names = []
    for i, name in enumerate(options["names"]):
        name = name.strip()
        problem = check_secret_name(name)
        if problem:
            raise ctx.error(path + ("names", i), problem)
        if name not in names:
            names.append(name)
    if not names:
        raise ctx.error(path + ("names",), "give at least one Secret name")
    prefixes = None
    if options["registries"] is not None:
        prefixes = []
        for i, value in enumerate(options["registries"]):
            try:
                prefixes.append(images.normalize_mirror_prefix(value.strip()).rstrip("/"))
            except images.InvalidImageReference as exc:
                raise ctx.error(path + ("registries", i), f"not a registry: {exc}") from None
    return ImagePullSecrets(names, prefixes, options["serviceAccounts"], ctx.pod_specs)


EXAMPLE = """\
  # Private registry: every pod spec (or only those pulling from `registries`) gets the Secret.
  - imagePullSecrets:
      names: ["{{ pullSecret }}"]
      # registries: [registry.example.com]   # only pod specs with an image from these
      serviceAccounts: false                 # true: also ServiceAccounts in the stream
    when: "pullSecret is defined"
"""
