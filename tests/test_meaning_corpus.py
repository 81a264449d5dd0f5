"""Meaning preserved over the corpus (issue 7).

With the standard rule set (tests/data/standard-rules.yaml, every rule type) on every corpus
file and stress.yaml:

* every output object equals the input object except for the fields the rules own, read the way
  Kubernetes reads YAML (YAML 1.1, PyYAML's SafeLoader).  The expected object is computed *here*,
  independently of postrender's code, from the input object and the config's values: image
  strings become what this file's own reference grammar, kustomize ``images:`` semantics and the
  Docker Hub mirror give, ``imagePullPolicy`` is set, ``imagePullSecrets`` gets the Secret name
  (dangling names removed), Deployments get the patched labels, workloads the JSON6902 field;
* documents whose expected object equals the input come out byte-identical;
* the added documents are exactly the pull Secrets this file predicts (one per namespace that
  needs one, with the credentials decoded and checked) and the rendered ``resources`` template;
* every output object validates against the Kubernetes 1.37 schemas (``kubernetes-validate``,
  strict: no unknown fields) whenever its input object did.

The README's figure is the total over every input (``figure meaning: ...`` with ``-s``; it must
equal tests/figures.json); ``python -m tests.test_meaning_corpus`` prints the counts per file.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import jinja2
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

from postrender.config.loader import load_config
from postrender.pipeline import run_stream
from tests.conftest import CORPUS_FILES, DOCUMENT_START_BYTES, ROOT, STRESS, corpus_required
from tests.figures import record

DATA = ROOT / "tests" / "data"
STANDARD = DATA / "standard-rules.yaml"
K8S_VERSION = "1.37"
INPUTS = CORPUS_FILES + [STRESS]
IDS = [p.name for p in INPUTS]


# ---- reading YAML as Kubernetes does ------------------------------------------------------------
class KubeLoader(yaml.CSafeLoader):
    """YAML 1.1 SafeLoader; a plain ``=`` is the string "=" (go-yaml), as kubernetes-validate reads it."""


KubeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))

# A document starts at a `---` line; the text before the first one is document 0.


def raw_documents(data: bytes) -> list[bytes]:
    starts = [0] + [m.start() for m in DOCUMENT_START_BYTES.finditer(data) if m.start() > 0]
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def load(raw: bytes):
    docs = list(yaml.load_all(raw, Loader=KubeLoader))
    assert len(docs) <= 1, "the splitter cut two documents into one"
    return docs[0] if docs else None


# ---- the standard rule set, read from its file ----------------------------------------------------
@dataclass
class Standard:
    """What the standard rules own, taken from the config file (values), not from postrender."""

    variables: dict
    pins: list                 # images: entries, kustomize semantics
    mirrors: dict              # from registry host -> to prefix
    pull_policy: str
    secret: str
    labels: dict               # the strategic-merge patch's metadata.labels, for Deployments
    labelled_kinds: set
    json_fields: dict          # JSON6902 /spec/<field> -> value, for json_kinds
    json_kinds: set
    added_resources: list      # documents the resources template renders
    rule_types: list = field(default_factory=list)
    locked: dict = field(default_factory=dict)  # pinDigests: normalised name:tag -> digest


@functools.cache
def standard() -> Standard:
    raw = yaml.safe_load(STANDARD.read_text())
    variables = raw["vars"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["quote"] = json.dumps  # a double-quoted YAML string

    def render(text: str) -> str:
        return env.from_string(text).render(variables)

    rules = {next(k for k in r if k not in ("target", "when", "expect")): r for r in raw["rules"]}
    patches = [r for r in raw["rules"] if "patch" in r]
    smp = next(p for p in patches if "strategicMerge" in p["patch"])
    j6902 = next(p for p in patches if "json6902" in p["patch"])
    json_fields = {}
    for op in j6902["patch"]["json6902"]:
        assert op["op"] in ("add", "replace") and op["path"].count("/") == 2 and op["path"].startswith("/spec/")
        json_fields[op["path"].split("/")[2]] = op["value"]
    template = (DATA / rules["resources"]["resources"]["template"]).read_text()
    return Standard(
        variables=variables,
        pins=rules["images"]["images"],
        mirrors={m["from"]: render(m["to"]) for m in rules["registryRewrite"]["registryRewrite"]["mirrors"]},
        pull_policy=rules["imagePullPolicy"]["imagePullPolicy"]["policy"],
        secret=render(rules["pullSecret"]["pullSecret"]["name"]),
        labels=yaml.safe_load(render(smp["patch"]["strategicMerge"]))["metadata"]["labels"],
        labelled_kinds=set(smp["target"]["kind"].split("|")),
        json_fields=json_fields,
        json_kinds=set(j6902["target"]["kind"].split("|")),
        added_resources=[d for d in yaml.safe_load_all(render(template)) if d],
        rule_types=[next(k for k in r if k not in ("target", "when", "expect")) for r in raw["rules"]],
        locked={e["image"]: e["digest"] for e in
                yaml.safe_load((DATA / rules["pinDigests"]["pinDigests"]["lock"]).read_text())["images"]},
    )


# ---- image references (the distribution grammar, restated) ----------------------------------------
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
_NOT_AN_IMAGE = re.compile(r"(?i:true|false|yes|no|on|off|none|null)|[0-9]+")


def registry_and_path(name: str) -> tuple[str, str]:
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ("docker.io" if first == "index.docker.io" else first), rest
    return "docker.io", name if "/" in name else f"library/{name}"


def expected_image(ref: str) -> str:
    """The reference after the standard set's images: pins and registryRewrite mirrors."""
    m = _REFERENCE.fullmatch(ref)
    if not m or _NOT_AN_IMAGE.fullmatch(ref):
        return ref
    name, tag, digest = m.group("name", "tag", "digest")
    for pin in standard().pins:  # kustomize: the entry name matches the name without tag/digest
        if re.fullmatch(pin["name"], name):
            name = pin.get("newName", name)
            if "newTag" in pin and "digest" in pin:
                tag, digest = pin["newTag"], pin["digest"]
            elif "newTag" in pin:
                tag, digest = pin["newTag"], None
            elif "digest" in pin:
                tag, digest = None, pin["digest"]
    registry, path = registry_and_path(name)
    if registry in standard().mirrors:
        name = f"{standard().mirrors[registry]}/{path}"
    if digest is None:  # pinDigests: the lock's digest for name:tag (no tag = latest)
        digest = standard().locked.get("/".join(registry_and_path(name)) + f":{tag or 'latest'}")
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


_FLAG = re.compile(r"(?<![\w.-])--?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)=(?P<q>[\"']?)(?P<value>[^\s\"'=]+)(?P=q)(?=$|[\s\"';,)])")
# Flags whose value is an image although the name does not end in "image" (docs/images.md).
IMAGE_FLAGS = {"prometheus-config-reloader"}


def _image_flag(name: str) -> bool:
    return name.lower().endswith("image") or name in IMAGE_FLAGS


def _flag_value(m: re.Match) -> str:
    if not _image_flag(m.group("name")):
        return m.group(0)
    start, end = m.start("value") - m.start(), m.end("value") - m.start()
    return m.group(0)[:start] + expected_image(m.group("value")) + m.group(0)[end:]


def expected_args(items: list) -> list:
    """``--flag=REF`` inside any item, and ``--flag`` followed by REF as the next item."""
    out = [_FLAG.sub(_flag_value, item) if isinstance(item, str) else item for item in items]
    for i, item in enumerate(items[:-1]):
        flag = re.fullmatch(r"--?([A-Za-z0-9][A-Za-z0-9_.-]*)", item) if isinstance(item, str) else None
        if flag and _image_flag(flag.group(1)) and isinstance(items[i + 1], str):
            out[i + 1] = expected_image(items[i + 1])
    return out


# ---- where the owned fields are (Kubernetes kinds, restated) -------------------------------------
POD_SPEC_PATHS = {
    "Pod": ("spec",), "PodTemplate": ("template", "spec"),
    **{k: ("spec", "template", "spec") for k in
       ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")},
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# Custom resources whose image is a plain field (group, kind) -> container-ish holders.
IMAGE_FIELD_KINDS = {
    **{("monitoring.coreos.com", k): True for k in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")},
    ("operators.coreos.com", "CatalogSource"): False,
    ("caching.internal.knative.dev", "Image"): False,
}
PULL_SECRET_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")
# Operator CRs that take pull secrets at spec.imagePullSecrets (their CRDs in the corpus list it:
# kube-prometheus, knative-serving-core), and those whose spec takes an imagePullPolicy.
PULL_SECRET_KINDS = {("monitoring.coreos.com", k) for k in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")} \
    | {("caching.internal.knative.dev", "Image")}
PULL_POLICY_KINDS = {("monitoring.coreos.com", k) for k in ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")}


def _get(obj, path):
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def group_of(resource: dict) -> str:
    api = resource.get("apiVersion")
    return api.rpartition("/")[0] if isinstance(api, str) else ""


def items_of(obj) -> list[dict]:
    """The Kubernetes objects in a document: itself, or the items of a *List."""
    if not isinstance(obj, dict):
        return []
    if str(obj.get("kind", "")).endswith("List") and isinstance(obj.get("items"), list):
        return [i for i in obj["items"] if isinstance(i, dict)]
    return [obj]


def pod_specs(resource: dict) -> list[dict]:
    kind = resource.get("kind")
    if kind in POD_SPEC_PATHS:
        spec = _get(resource, POD_SPEC_PATHS[kind])
        return [spec] if isinstance(spec, dict) else []
    if kind == "ClusterServiceVersion" and group_of(resource) == "operators.coreos.com":
        deployments = _get(resource, ("spec", "install", "spec", "deployments")) or []
        return [s for d in deployments if isinstance(s := _get(d, ("spec", "template", "spec")), dict)]
    return []


def namespace_of(resource: dict) -> str:
    return _get(resource, ("metadata", "namespace")) or ""


@dataclass
class StreamFacts:
    """What the expected output depends on beyond one object: which pull Secrets exist."""

    secrets: dict  # (namespace, name) -> type

    @classmethod
    def of(cls, objects: list) -> StreamFacts:
        secrets = {}
        for obj in objects:
            for res in items_of(obj):
                if res.get("kind") == "Secret" and res.get("apiVersion") == "v1":
                    secrets[(namespace_of(res), _get(res, ("metadata", "name")))] = res.get("type") or "Opaque"
        return cls(secrets)

    def resolves(self, namespace: str, name: str) -> bool:
        return name == standard().secret or self.secrets.get((namespace, name)) in PULL_SECRET_TYPES


def _expected_container(container: dict, pod_spec_rules: bool) -> None:
    if isinstance(container.get("image"), str):
        container["image"] = expected_image(container["image"])
    if pod_spec_rules:
        container["imagePullPolicy"] = standard().pull_policy
    for key in ("command", "args"):
        if isinstance(container.get(key), list):
            container[key] = expected_args(container[key])
    for env in container.get("env") or []:
        name = env.get("name") if isinstance(env, dict) else None
        if isinstance(name, str) and (name.lower().endswith("image") or name.startswith("RELATED_IMAGE_")) \
                and isinstance(env.get("value"), str):
            env["value"] = expected_image(env["value"])


def _expected_pull_secrets(holder: dict, namespace: str, facts: StreamFacts, add: bool) -> None:
    entries = holder.get("imagePullSecrets")
    if not add and not entries:
        return
    entries = list(entries or [])
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    if add and standard().secret not in names:
        entries.append({"name": standard().secret})
    kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") and not facts.resolves(namespace, e["name"]))]
    if kept:
        holder["imagePullSecrets"] = kept
    else:
        holder.pop("imagePullSecrets", None)


def expected_resource(resource: dict, facts: StreamFacts) -> None:
    """Apply, in place, only the changes the standard rules own."""
    kind, group = resource.get("kind"), group_of(resource)
    namespace = namespace_of(resource)
    for spec in pod_specs(resource):
        for list_name in CONTAINER_LISTS:
            for container in spec.get(list_name) or []:
                if isinstance(container, dict):
                    _expected_container(container, pod_spec_rules=True)
        for volume in spec.get("volumes") or []:
            ref = _get(volume, ("image", "reference"))
            if isinstance(ref, str):
                volume["image"]["reference"] = expected_image(ref)
        _expected_pull_secrets(spec, namespace, facts, add=True)
    if kind == "ServiceAccount":
        _expected_pull_secrets(resource, namespace, facts, add=False)
    if (group, kind) in IMAGE_FIELD_KINDS:
        spec = resource.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("image"), str):
            spec["image"] = expected_image(spec["image"])
            if (group, kind) in PULL_POLICY_KINDS:
                spec["imagePullPolicy"] = standard().pull_policy
        if IMAGE_FIELD_KINDS[(group, kind)] and isinstance(spec, dict):
            for list_name in ("containers", "initContainers"):
                for container in spec.get(list_name) or []:
                    if isinstance(container.get("image"), str):
                        container["image"] = expected_image(container["image"])
                        container["imagePullPolicy"] = standard().pull_policy
    if (group, kind) in PULL_SECRET_KINDS:
        _expected_pull_secrets(resource.setdefault("spec", {}), namespace, facts, add=True)
    if kind in standard().labelled_kinds:
        meta = resource.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **standard().labels}
    if kind in standard().json_kinds:
        resource["spec"].update(standard().json_fields)


def _may_own(obj) -> bool:
    """Whether any owned field can be in obj (else it is its own expected object, uncopied)."""
    kinds = set(POD_SPEC_PATHS) | {k for _, k in IMAGE_FIELD_KINDS} | standard().labelled_kinds | standard().json_kinds
    kinds |= {"ServiceAccount", "ClusterServiceVersion"}
    return isinstance(obj, dict) and (obj.get("kind") in kinds or str(obj.get("kind", "")).endswith("List"))


def expected_object(obj, facts: StreamFacts):
    if not _may_own(obj):
        return obj
    out = copy.deepcopy(obj)
    for resource in items_of(out):
        expected_resource(resource, facts)
    return out


def expected_secret_namespaces(objects: list, facts: StreamFacts) -> list[str]:
    """One generated pull Secret per namespace of a pod spec, unless the stream has that Secret."""
    spaces = []
    for obj in objects:
        for res in items_of(obj):
            ns = namespace_of(res)
            holds = pod_specs(res) or (group_of(res), res.get("kind")) in PULL_SECRET_KINDS
            if holds and ns not in spaces and (ns, standard().secret) not in facts.secrets:
                spaces.append(ns)
    return spaces


def check_generated_secret(secret: dict, namespace: str) -> None:
    v = standard().variables
    assert secret["kind"] == "Secret" and secret["apiVersion"] == "v1"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"] == {"name": standard().secret, **({"namespace": namespace} if namespace else {})}
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    auth = base64.b64encode(f"{v['username']}:{v['password']}".encode()).decode()
    assert config == {"auths": {v["registry"]: {"username": v["username"], "password": v["password"], "auth": auth}}}


# ---- Kubernetes schemas ---------------------------------------------------------------------------
# kubernetes_validate.validate reads its 1.7 MB definitions file on every call; cache the reads.
kv_utils.schema_contents = functools.cache(kv_utils.schema_contents)


def as_json(value):
    """What Kubernetes' YAML-to-JSON step gives: timestamps stay strings, keys are strings."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def schema_verdict(obj) -> str | None:
    """None if valid, 'no-schema' for kinds the library has no schema for, else the error."""
    try:
        kubernetes_validate.validate(as_json(obj), K8S_VERSION, strict=True)
    except kv_utils.SchemaNotFoundError:
        return "no-schema"
    except kv_utils.ValidationError as exc:
        return f"{'.'.join(map(str, exc.path))}: {exc.message[:200]}"
    return None


# ---- the check ------------------------------------------------------------------------------------
def differences(a, b, path="") -> list[str]:
    """Readable paths where a and b differ (for failure messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in dict.fromkeys([*a, *b]) for d in differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [f"{path}: expected {a!r}, got {b!r}"]


def key_of(obj) -> tuple:
    if not isinstance(obj, dict):
        return (None,)
    return obj.get("kind"), namespace_of(obj), _get(obj, ("metadata", "name"))


def check_file(data: bytes) -> Counter:
    """Run the standard set on one stream and check everything above; returns the counts."""
    counts = Counter()
    config = load_config(STANDARD)
    result = run_stream(config, data)
    assert not result.failures, result.failures
    raw_in, raw_out = raw_documents(data), raw_documents(result.output)
    assert len(raw_out) >= len(raw_in)
    objects_in = [load(r) for r in raw_in]
    facts = StreamFacts.of(objects_in)
    for i, (before_raw, after_raw, before) in enumerate(zip(raw_in, raw_out, objects_in)):
        after = before if after_raw == before_raw else load(after_raw)
        where = f"document {i} {key_of(before)}"
        assert key_of(after) == key_of(before), f"{where}: documents out of order"
        expected = expected_object(before, facts)
        assert after == expected, f"{where}: differs from the input beyond the owned fields: {differences(expected, after)[:5]}"
        counts["objects compared"] += before is not None
        if expected == before:
            last = i == len(raw_in) - 1 and len(raw_out) > len(raw_in)
            # Before an appended document, a last line without a line break gets one.
            assert after_raw == before_raw or (last and after_raw == before_raw + b"\n"), f"{where}: untouched but not byte-identical"
            counts["byte-identical"] += 1
        else:
            counts["changed"] += 1
        if before is not None:
            verdict_in = schema_verdict(before)
            verdict_out = verdict_in if after == before else schema_verdict(after)
            if verdict_in == "no-schema":
                counts["not validatable (no schema)"] += 1
            elif verdict_in is not None:
                counts["input invalid"] += 1
            else:
                assert verdict_out is None, f"{where}: the input validates against Kubernetes {K8S_VERSION}, the output does not: {verdict_out}"
                counts["validated"] += 1
    added = [load(r) for r in raw_out[len(raw_in):]]
    secrets = [d for d in added if d.get("kind") == "Secret"]
    others = [d for d in added if d.get("kind") != "Secret"]
    namespaces = expected_secret_namespaces(objects_in, facts)
    assert sorted(namespace_of(s) for s in secrets) == sorted(namespaces)
    for secret in secrets:
        check_generated_secret(secret, namespace_of(secret))
    assert others == standard().added_resources
    for doc in added:
        assert schema_verdict(doc) is None, f"added {key_of(doc)}: {schema_verdict(doc)}"
        counts["added (validated)"] += 1
    assert run_stream(config, result.output).output == result.output
    return counts


def test_the_standard_set_uses_every_rule_type():
    from postrender.rules import REGISTRY

    assert set(standard().rule_types) == set(REGISTRY)
    assert len(corpus_required()) == 15 and STRESS.exists()


TOTAL: Counter = Counter()
FILES_CHECKED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def meaning_figure():
    yield
    if sorted(FILES_CHECKED) == sorted(IDS):  # every input ran: the README's figure
        record("meaning", {}, dict(TOTAL))


@pytest.mark.parametrize("path", INPUTS, ids=IDS)
def test_meaning_is_preserved_and_schemas_still_validate(path):
    counts = check_file(path.read_bytes())
    assert counts["validated"] > 0 and counts["objects compared"] > 0
    print(f"{path.name}: {dict(counts)}")
    TOTAL.update(counts)
    FILES_CHECKED.append(path.name)


if __name__ == "__main__":  # the README figures: python -m tests.test_meaning_corpus
    total = Counter()
    for path in INPUTS:
        counts = check_file(path.read_bytes())
        total.update(counts)
        print(f"{path.name}: {dict(counts)}")
    print(f"total over {len(INPUTS)} files: {dict(total)}; failures 0")
