"""Target selection shared by every rule: kustomize's ``target:`` semantics.

A selector has the fields of a kustomize patch target::

    target:
      group: apps                  # anchored regexes: "apps" matches only "apps"
      version: v1
      kind: Deployment|StatefulSet
      name: backend-.*
      namespace: prod
      labelSelector: "app=web,tier in (front,back),!canary"
      annotationSelector: "team"
      exclude:                     # a resource matching any of these is not selected
        - name: backend-debug

Matching follows kustomize (api/types/selector.go and resmap's ``Select``):

- ``group``, ``version``, ``kind``, ``name`` and ``namespace`` are regular expressions matched
  against the whole value (kustomize compiles ``^(?:pattern)$``), in Go's RE2 syntax and in
  time linear in the value (``postrender/regexp.py``); a pattern RE2 refuses (a backreference,
  a lookahead) is a config error.  An empty or absent field
  matches everything.  Core resources (``apiVersion: v1``) have the empty group, so ``group: apps``
  never selects them, and there is no way to ask for the core group except with a pattern that
  matches only the empty string (e.g. ``group: "()"``).
- ``namespace`` is matched against the *effective* namespace: a namespaced resource without
  ``metadata.namespace`` is in ``default``; a cluster-scoped resource is in no namespace at all and
  kustomize gives it the placeholder ``_non_namespaceable_``, so ``namespace: default`` does not
  select a ClusterRole but ``namespace: ".*"`` does.  Unknown kinds (CRDs) count as namespaced, as
  kustomize assumes when it has no schema for them.
- ``labelSelector`` and ``annotationSelector`` use the Kubernetes selector grammar: ``k=v``,
  ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist),
  ``k>n`` and ``k<n`` (integer compare); a comma means AND.  ``!=`` and ``notin`` also match
  resources without the key, as in Kubernetes.  They are parsed once, when the config is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from postrender.errors import ConfigError
from postrender.records import FrozenRecord, Record

TOTALLY_NOT_A_NAMESPACE = "_non_namespaceable_"  # kustomize resid.TotallyNotANamespace
DEFAULT_NAMESPACE = "default"

# Built-in kinds that are not namespaced (Kubernetes 1.37).  Keyed by (group, kind): a CRD may
# reuse a kind name in its own group and is then namespaced unless the caller says otherwise.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    [
        ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"), ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("policy", "PodSecurityPolicy"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
        ("resource.k8s.io", "DeviceTaintRule"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
        ("authentication.k8s.io", "TokenReview"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
    ]
)


class SelectorError(ConfigError):
    """A selector field is invalid.  ``field`` names it (``labelSelector``, ``kind``, ...)."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.reason = message
        super().__init__(f"{field_name}: {message}")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ("apps", "v1"); ``v1`` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


class ResourceIdentity(FrozenRecord):
    """What a selector looks at in one resource."""

    __slots__ = _fields = ("api_version", "kind", "name", "namespace", "labels", "annotations", "cluster_scoped")

    def __init__(self, api_version: str, kind: str, name: str = "", namespace: str | None = None,
                 labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
                 cluster_scoped: bool | None = None):
        self.api_version = api_version
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.labels = {} if labels is None else labels
        self.annotations = {} if annotations is None else annotations
        # None: decide from the built-in list (CLUSTER_SCOPED); unknown kinds are namespaced.
        self.cluster_scoped = cluster_scoped

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ResourceIdentity:
        """Build from a parsed manifest (missing or malformed fields read as empty)."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
        labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else {}
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), Mapping) else {}
        ns = meta.get("namespace")
        return cls(
            api_version=str(obj.get("apiVersion") or ""),
            kind=str(obj.get("kind") or ""),
            name=str(meta.get("name") or ""),
            namespace=str(ns) if ns else None,
            labels={str(k): _label_str(v) for k, v in labels.items()},
            annotations={str(k): _label_str(v) for k, v in annotations.items()},
        )

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    @property
    def version(self) -> str:
        return split_api_version(self.api_version)[1]

    @property
    def is_cluster_scoped(self) -> bool:
        if self.cluster_scoped is not None:
            return self.cluster_scoped
        return (self.group, self.kind) in CLUSTER_SCOPED

    @property
    def effective_namespace(self) -> str:
        """kustomize's ResId.EffectiveNamespace."""
        if self.is_cluster_scoped:
            return TOTALLY_NOT_A_NAMESPACE
        if not self.namespace:
            return DEFAULT_NAMESPACE
        return self.namespace


def _label_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


# --------------------------------------------------------------------------------------------
# Kubernetes label selector grammar (k8s.io/apimachinery/pkg/labels)

_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_TOKEN_RE = re.compile(r"\s*(?:(==|!=|=|!|\(|\)|,|>|<)|([^\s,()=!<>]+))")


def _check_key(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix)):
        return f"invalid key {key!r}: prefix must be a DNS subdomain"
    if not name or len(name) > 63 or not _NAME_RE.fullmatch(name):
        return (f"invalid key {key!r}: name part must be 1-63 characters, alphanumeric, '-', '_' "
                "or '.', starting and ending with an alphanumeric")
    return None


def _check_value(value: str) -> str | None:
    if len(value) > 63 or not _VALUE_RE.fullmatch(value):
        return (f"invalid value {value!r}: at most 63 characters, alphanumeric, '-', '_' or '.', "
                "starting and ending with an alphanumeric")
    return None


class Requirement(FrozenRecord):
    """One term of a selector: ``key op values``."""

    __slots__ = _fields = ("key", "op", "values")

    def __init__(self, key: str, op: str, values: tuple[str, ...] = ()):
        self.key = key
        self.op = op  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
        self.values = values

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            n = int(str(value))
        except ValueError:
            return False
        bound = int(self.values[0])
        return n > bound if self.op == "gt" else n < bound


class LabelSelector(FrozenRecord):
    """A parsed selector string: all requirements must hold.  Empty matches everything."""

    __slots__ = _fields = ("text", "requirements")

    def __init__(self, text: str, requirements: tuple[Requirement, ...] = ()):
        self.text = text
        self.requirements = requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str, field_name: str = "labelSelector") -> LabelSelector:
        return cls(text, tuple(_parse_requirements(text, lambda m: SelectorError(field_name, m))))


def _tokenize(text: str, err: Callable[[str], Exception]) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if not m:  # pragma: no cover - the regex accepts every non-space character
            raise err(f"cannot parse {text!r} at position {pos}")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    return tokens


def _parse_requirements(text: str, err: Callable[[str], Exception]) -> list[Requirement]:
    toks = _tokenize(text, err)
    reqs: list[Requirement] = []
    i = 0

    def peek(k: int = 0) -> str | None:
        return toks[i + k] if i + k < len(toks) else None

    def fail(msg: str) -> Exception:
        return err(f"{msg} in {text!r}")

    while i < len(toks):
        if toks[i] == "!":
            i += 1
            key = peek()
            if key is None or key in "(),=!<>" or key in ("in", "notin"):
                raise fail("expected a key after '!'")
            if (problem := _check_key(key)) is not None:
                raise fail(problem)
            reqs.append(Requirement(key, "!"))
            i += 1
        else:
            key = toks[i]
            if key in ("(", ")", ",", "=", "==", "!=", ">", "<"):
                raise fail(f"expected a key, found {key!r}")
            if (problem := _check_key(key)) is not None:
                raise fail(problem)
            i += 1
            op = peek()
            if op is None or op == ",":
                reqs.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                i += 1
                value = peek()
                if value is None or value == ",":
                    value = ""  # "k=" selects the empty value, as in Kubernetes
                else:
                    if value in ("(", ")", "=", "==", "!=", "!", ">", "<"):
                        raise fail(f"expected a value after {op!r}, found {value!r}")
                    i += 1
                if (problem := _check_value(value)) is not None:
                    raise fail(problem)
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            elif op in ("in", "notin"):
                i += 1
                if peek() != "(":
                    raise fail(f"expected '(' after {op!r}")
                i += 1
                values: list[str] = []
                while True:
                    tok = peek()
                    if tok is None:
                        raise fail("missing ')'")
                    if tok == ")":
                        i += 1
                        break
                    if tok == ",":
                        # an empty member, e.g. "(a,,b)" or "(a,)": the empty value
                        values.append("")
                        i += 1
                        if peek() == ")":
                            values.append("")
                        continue
                    if tok in ("(", "=", "==", "!=", "!", ">", "<"):
                        raise fail(f"unexpected {tok!r} in the value list")
                    if (problem := _check_value(tok)) is not None:
                        raise fail(problem)
                    values.append(tok)
                    i += 1
                    if peek() == ",":
                        i += 1
                        if peek() == ")":
                            values.append("")
                    elif peek() is None:
                        raise fail("missing ')'")
                    elif peek() != ")":
                        raise fail("expected ',' or ')' in the value list")
                if not values:
                    raise fail(f"{op!r} needs at least one value")
                reqs.append(Requirement(key, op, tuple(dict.fromkeys(values))))
            elif op in (">", "<"):
                i += 1
                value = peek()
                if value is None or not re.fullmatch(r"-?\d+", value):
                    raise fail(f"{op!r} needs an integer value")
                i += 1
                reqs.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
            else:
                raise fail(f"expected an operator after key {key!r}, found {op!r}")
        # between requirements: a comma, or the end
        if i < len(toks):
            if toks[i] != ",":
                raise fail(f"expected ',' between requirements, found {toks[i]!r}")
            i += 1
            if i == len(toks):
                raise fail("trailing ','")
    return reqs


# --------------------------------------------------------------------------------------------
# Selector and Target

_FIELDS = {
    "group": "group",
    "version": "version",
    "kind": "kind",
    "name": "name",
    "namespace": "namespace",
    "labelSelector": "label_selector",
    "annotationSelector": "annotation_selector",
}


def _compile(field_name: str, pattern: str | None) -> Callable[[str], bool] | None:
    """A whole-value matcher with Go regexp (RE2) semantics, as kustomize: linear time, and a
    pattern kustomize refuses is refused here (postrender/regexp.py)."""
    if not pattern:
        return None
    from postrender import regexp

    try:
        return regexp.full_matcher(pattern)
    except regexp.RegexpError as e:
        raise SelectorError(field_name, f"invalid regular expression {pattern!r}: {e}") from None


class Selector(Record):
    """One kustomize selector.  Build it with :meth:`from_mapping` (validates once)."""

    _fields = ("group", "version", "kind", "name", "namespace", "label_selector", "annotation_selector")

    def __init__(self, group: str | None = None, version: str | None = None, kind: str | None = None,
                 name: str | None = None, namespace: str | None = None, label_selector: str | None = None,
                 annotation_selector: str | None = None):
        self.group = group
        self.version = version
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.label_selector = label_selector
        self.annotation_selector = annotation_selector
        self._res = {
            attr: _compile(key, getattr(self, attr))
            for key, attr in _FIELDS.items()
            if attr in ("group", "version", "kind", "name", "namespace")
        }
        self._labels = LabelSelector.parse(self.label_selector or "", "labelSelector")
        self._annotations = LabelSelector.parse(self.annotation_selector or "", "annotationSelector")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> Selector:
        if not isinstance(d, Mapping):
            raise SelectorError("target", f"must be a mapping of selector fields, not {type(d).__name__}")
        kwargs: dict[str, str | None] = {}
        for key, value in d.items():
            if key not in _FIELDS:
                known = ", ".join(_FIELDS)
                raise SelectorError(str(key), f"unknown selector field (known: {known})")
            if value is None:
                continue
            if not isinstance(value, str):
                raise SelectorError(key, f"must be a string, not {type(value).__name__}")
            kwargs[_FIELDS[key]] = value
        return cls(**kwargs)

    def _re_ok(self, attr: str, value: str) -> bool:
        matches = self._res[attr]
        return matches is None or matches(value)

    def matches(self, res: ResourceIdentity) -> bool:
        return (
            self._re_ok("namespace", res.effective_namespace)
            and self._re_ok("name", res.name)
            and self._re_ok("group", res.group)
            and self._re_ok("version", res.version)
            and self._re_ok("kind", res.kind)
            and self._labels.matches(res.labels)
            and self._annotations.matches(res.annotations)
        )


class Target(Record):
    """``include`` (None: everything) minus anything matching one of ``exclude``."""

    _fields = ("include", "exclude")

    def __init__(self, include: Selector | None = None, exclude: list[Selector] | None = None):
        self.include = include
        self.exclude = [] if exclude is None else exclude

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None) -> Target:
        """Parse a ``target:`` mapping: selector fields plus an optional ``exclude:`` list."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise SelectorError("target", f"must be a mapping, not {type(d).__name__}")
        body = {k: v for k, v in d.items() if k != "exclude"}
        include = Selector.from_mapping(body) if body else None
        raw = d.get("exclude") or []
        if isinstance(raw, Mapping):
            raw = [raw]
        if not isinstance(raw, list):
            raise SelectorError("exclude", "must be a list of selectors")
        exclude = []
        for i, item in enumerate(raw):
            try:
                exclude.append(Selector.from_mapping(item))
            except SelectorError as e:
                raise SelectorError(f"exclude[{i}].{e.field}", str(e).split(": ", 1)[1]) from None
        return cls(include, exclude)

    def matches(self, res: ResourceIdentity) -> bool:
        if self.include is not None and not self.include.matches(res):
            return False
        return not any(s.matches(res) for s in self.exclude)
