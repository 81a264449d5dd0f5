"""Idempotency (issue 7): running the output through postrender again changes nothing.

f(f(x)) == f(x) byte for byte, for one config per rule type plus the standard rule set, on
every corpus file and the hand-written inputs in tests/data/.  Rules that add documents
(``pullSecret``, ``resources``) must not add them again, and never add a resource the stream
already has.  The pipeline runs in-process (``config.load_config`` + ``pipeline.run_stream``);
one test proves the CLI writes the same bytes.

Not in the table, on purpose, because they are not idempotent by definition (as in kustomize):
``images`` with ``tagSuffix`` (appends to the tag every time), JSON6902 ``add`` to ``/-`` (appends
an item every time).  Mirrors whose target is itself a mirrored source are in the table: the
rewrites chain to a fixed point (and cycles are refused at load).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from postrender.config.loader import load_config, load_config_text
from postrender.pipeline import run_stream
from tests.conftest import CONFIG_HEADER, CORPUS_FILES, DOCUMENT_START_BYTES, ROOT, corpus_required, run_cli

DATA = ROOT / "tests" / "data"
STANDARD = DATA / "standard-rules.yaml"
CREDENTIALS = "vars: {registry: registry.example.com, username: ci, password: fake-password-0}\n"

# One config per rule type: realistic options, each exercising what the rule writes.
RULE_CONFIGS = {
    "pinDigests": f"- pinDigests: {{lock: '{DATA / 'corpus.lock.yaml'}', onMissing: warn}}\n",
    "imagePullPolicy": "- imagePullPolicy: {policy: IfNotPresent}\n",
    "imagePullPolicy-onlyIfUnset": "- imagePullPolicy: {policy: Always, onlyIfUnset: true}\n",
    "registryRewrite": """\
- registryRewrite:
    mirrors:
      - {from: docker.io, to: mirror.example.com/dockerhub}
      - {from: quay.io, to: mirror.example.com/quay}
      - {from: registry.k8s.io/ingress-nginx, to: mirror.example.com/k8s/ingress-nginx}
""",
    "registryRewrite-chained": """\
- registryRewrite:
    mirrors:
      - {from: docker.io/library/busybox, to: quay.io/prometheus/busybox}
      - {from: registry.k8s.io, to: quay.io/k8s}
      - {from: quay.io, to: mirror.example.com/quay}
""",
    "images": """\
- images:
    - {name: quay.io/argoproj/argocd, newTag: "v9.9.9"}
    - {name: quay.io/jetstack/cert-manager-controller, newName: registry.example.com/cm/controller}
    - {name: registry.k8s.io/ingress-nginx/controller, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
    - {name: busybox, newName: registry.example.com/busybox, newTag: "1.37"}
- images:
    normalize: true
    entries:
      - {name: nginx, newTag: "1.28"}
      - {name: quay.io/calico/node, newTag: "v9.9.9", digest: "sha256:89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"}
""",
    "allowedRegistries": "- allowedRegistries: {registries: [quay.io, registry.k8s.io], action: warn}\n",
    "imagePullSecrets": "- imagePullSecrets: {names: [regcred, corp-registry], serviceAccounts: true}\n",
    "imagePullSecrets-registries": "- imagePullSecrets: {names: [quay-pull], registries: [quay.io], serviceAccounts: true}\n",
    "pullSecret": CREDENTIALS + "rules:\n- imagePullSecrets: {names: [regcred]}\n- pullSecret: {name: regcred}\n",
    "resources": """\
vars: {mirror: mirror.example.com}
rules:
- resources:
    inline: |
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: registry-mirror
      data:
        mirror: {{ mirror | quote }}
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata:
        name: deny-all
        namespace: default
      spec:
        podSelector: {}
        policyTypes: [Ingress]
""",
    "pullSecretReferences": CREDENTIALS + """\
rules:
- imagePullSecrets: {names: [regcred, dangling]}
- pullSecret: {name: regcred}
- pullSecretReferences: {action: remove}
""",
    "patch-strategicMerge": """\
- patch:
    strategicMerge: |
      metadata:
        labels: {team: platform}
      spec:
        template:
          spec:
            tolerations: [{key: dedicated, operator: Exists}]
            containers:
              - name: {{ resource.spec.template.spec.containers[0].name }}
                env: [{name: POSTRENDER, value: "yes"}]
  target: {kind: Deployment}
""",
    "patch-json6902": """\
- patch:
    json6902:
      - {op: add, path: /metadata/labels, value: {team: platform}}
      - {op: add, path: /spec/template/spec/terminationGracePeriodSeconds, value: 45}
  target: {kind: Deployment|DaemonSet|StatefulSet}
""",
    "patch-merge": """\
- patch:
    merge: {metadata: {annotations: {"example.com/owner": platform}}, data: {extra: "on"}}
  target: {kind: ConfigMap}
""",
}


def _body(text: str) -> str:
    return text if text.startswith(("vars:", "rules:")) else "rules:\n" + text


@cache
def config_for(name: str):
    if name == "standard":
        return load_config(STANDARD)
    return load_config_text(CONFIG_HEADER + _body(RULE_CONFIGS[name]), f"{name}.yaml")


# Hand-written inputs (edge cases: flow style, Lists, CRs, an existing pull Secret) run with every
# rule config; the standard set's allowedRegistries check fails on their deliberately bad image.
SYNTHETIC = [DATA / n for n in ("workloads.yaml", "images.yaml", "pull-secrets.yaml", "pull-secret-input.yaml")]
CASES = [(name, path) for name in RULE_CONFIGS for path in CORPUS_FILES + SYNTHETIC]
CASES += [("standard", path) for path in CORPUS_FILES]



def _key(doc: dict) -> tuple:
    meta = doc.get("metadata") or {}
    return doc.get("apiVersion"), doc.get("kind"), meta.get("namespace") or "", meta.get("name")


def _appended_keys(data: bytes, out: bytes) -> list[tuple]:
    """Keys (apiVersion, kind, namespace, name) of the documents the run appended to the stream."""
    tail = DOCUMENT_START_BYTES.split(out)[len(DOCUMENT_START_BYTES.split(data)):]
    return [_key(doc) for chunk in tail for doc in yaml.load_all(chunk, Loader=yaml.CSafeLoader) if doc]


def _keys_of_kinds(data: bytes, kinds: set) -> set[tuple]:
    """Keys of the stream's resources of these kinds (only those documents are parsed)."""
    found = set()
    for chunk in DOCUMENT_START_BYTES.split(data):
        if not re.search(rb"^kind: *[\"']?(%s)\b" % b"|".join(k.encode() for k in kinds), chunk, re.M):
            continue
        for doc in yaml.load_all(chunk, Loader=yaml.CSafeLoader):
            if isinstance(doc, dict):
                found.add(_key(doc))
    return found


def _first_difference(a: bytes, b: bytes) -> str:
    la, lb = a.decode().splitlines(), b.decode().splitlines()
    for n, (x, y) in enumerate(zip(la, lb), 1):
        if x != y:
            return f"line {n}: {x!r} -> {y!r}"
    return f"{len(la)} lines -> {len(lb)} lines; first extra: {(la + lb)[min(len(la), len(lb))]!r}"


def test_the_table_covers_every_rule_type():
    from postrender.rules import REGISTRY

    used = {rule.name for name in [*RULE_CONFIGS, "standard"] for rule in config_for(name).rules}
    assert used == set(REGISTRY), f"rule types without an idempotency case: {set(REGISTRY) - used}"
    assert {r.name for r in config_for("standard").rules} == set(REGISTRY)
    assert len(corpus_required()) == 15


@pytest.mark.parametrize("name,path", CASES, ids=[f"{n}-{p.name}" for n, p in CASES])
def test_second_run_changes_nothing(name, path):
    data = path.read_bytes()
    config = config_for(name)
    once = run_stream(config, data)
    assert not once.failures, f"{name} on {path.name}: {once.failures[:3]}"
    twice = run_stream(config, once.output)
    assert not twice.failures
    assert twice.output == once.output, (
        f"{name} on {path.name}: the second run changed the output: "
        f"{_first_difference(once.output, twice.output)}")
    if once.output != data and any(r.name in ("pullSecret", "resources") for r in config.rules):
        added = _appended_keys(data, once.output)
        assert added, f"{name} on {path.name}: the output changed but no document was added"
        assert len(added) == len(set(added)), f"{name} on {path.name}: a document was added twice: {added}"
        already = _keys_of_kinds(data, {k for _, k, _, _ in added})
        assert not already & set(added), f"{name} on {path.name}: added what the stream had: {already & set(added)}"


# Minimal reproductions of bugs this table found; each must stay fixed.
REPRODUCTIONS = {
    # resources appended its documents again on every run (a ConfigMap per run).
    "resources-rerun-adds-a-duplicate": (
        "resources",
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    ),
}


@pytest.mark.parametrize("case", REPRODUCTIONS)
def test_reproduction(case):
    name, stream = REPRODUCTIONS[case]
    config = config_for(name)
    once = run_stream(config, stream).output
    assert run_stream(config, once).output == once


# Line endings: a CRLF copy of a stream gives the CRLF copy of the LF output, and is idempotent.
# Was: the re-emit fallback (json6902 replacing all of metadata.labels) wrote '\r\r\n' after
# each comment line of a CRLF document (an extra blank line) on 9 of the 15 corpus files.
CRLF_INPUTS = [p for p in CORPUS_FILES if p.name.startswith(("helm-metrics-server", "dashboard"))]
CRLF_INPUTS += [DATA / "pull-secret-input.yaml"]
CRLF_CASES = [(name, path) for name in ("patch-json6902", "pullSecret", "resources", "standard") for path in CRLF_INPUTS]


@pytest.mark.parametrize("name,path", CRLF_CASES, ids=[f"{n}-{p.name}" for n, p in CRLF_CASES])
def test_crlf_stream_gives_the_crlf_output(name, path):
    data = path.read_bytes()
    assert b"\r" not in data
    config = config_for(name)
    lf = run_stream(config, data).output
    crlf = run_stream(config, data.replace(b"\n", b"\r\n")).output
    assert crlf == lf.replace(b"\n", b"\r\n"), _first_difference(lf, crlf.replace(b"\r\n", b"\n"))
    assert run_stream(config, crlf).output == crlf


def test_a_different_resource_of_the_same_name_is_kept_and_reported():
    stream = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: registry-mirror\ndata:\n  mirror: other\n"
    result = run_stream(config_for("resources"), stream)
    assert result.output.count(b"name: registry-mirror") == 1 and b"mirror: other" in result.output
    assert any("ConfigMap/registry-mirror is already in the stream and differs" in w for w in result.warnings)


@pytest.mark.parametrize("path", CORPUS_FILES[:3], ids=[p.name for p in CORPUS_FILES[:3]])
def test_the_cli_writes_the_same_bytes(path):
    data = path.read_bytes()
    result = run_cli(["-c", str(STANDARD)], stdin=data)
    assert result.code == 0, result.err
    assert result.out == run_stream(config_for("standard"), data).output
    again = run_cli(["-c", str(STANDARD)], stdin=result.out)
    assert again.code == 0 and again.out == result.out
