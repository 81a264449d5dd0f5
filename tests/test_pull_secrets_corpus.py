"""Over every corpus file: each pod spec (and each operator CR's pull-secret field) ends with the
name once, the check passes with the generated Secret and fails without it, remove leaves
nothing dangling, idempotent (issues 4, 13)."""

from __future__ import annotations

import difflib
import functools

import pytest

from postrender.kinds import PodSpecTable, resources
from postrender.engine.stream import parse_stream
from tests.conftest import CORPUS_FILES, corpus_required, run_cli, run_rules, write_config

INJECT = "- imagePullSecrets: {names: [regcred]}\n"
GENERATE = "- pullSecret: {name: regcred}\n"
CREDS = {"POSTRENDER_VAR_registry": "registry.example.com", "POSTRENDER_VAR_username": "u",
         "POSTRENDER_VAR_password": "corpus-pw-123"}
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod"}
# The operator CRs of the corpus that take pull secrets themselves, restated from their CRDs
# (kube-prometheus: Prometheus/Alertmanager spec.imagePullSecrets; knative-serving-core: the
# caching Image's spec.imagePullSecrets), not from postrender's table.
CR_FIELDS = {("monitoring.coreos.com", "Prometheus"), ("monitoring.coreos.com", "Alertmanager"),
             ("caching.internal.knative.dev", "Image")}


def cr_holder(res: dict):
    group = res.get("apiVersion", "").split("/")[0] if "/" in res.get("apiVersion", "") else ""
    if (group, res.get("kind")) in CR_FIELDS:
        return res.setdefault("spec", {})
    return None


def run(rules: str, data: bytes, env=None):
    return run_rules("rules:\n" + rules, data, environ=env or {})


def pod_specs(output: bytes):
    """(kind, namespace, name, imagePullSecrets names) for every pod spec and operator CR that
    holds pull secrets, from a fresh parse."""
    table = PodSpecTable()
    for doc in parse_stream(output).yaml_documents():
        for _, res in resources(doc.obj):
            meta = res.get("metadata") or {}
            holders = [spec for _, spec in table.pod_specs(res)]
            if cr_holder(res) is not None:
                holders.append(cr_holder(res))
            for spec in holders:
                names = [e.get("name") for e in spec.get("imagePullSecrets") or [] if isinstance(e, dict)]
                yield res.get("kind"), meta.get("namespace") or "", meta.get("name"), names


@functools.cache
def given_pod_specs(data: bytes) -> list:
    """pod_specs of an input file, parsed once for the four tests that read it."""
    return list(pod_specs(data))


def non_pod_documents(data: bytes) -> list[str]:
    table = PodSpecTable()
    return [d.text for d in parse_stream(data).yaml_documents()
            if not any(table.pod_specs(r) or cr_holder(r) is not None for _, r in resources(d.obj))]


@pytest.fixture(params=CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def corpus(request):
    corpus_required()
    return request.param.read_bytes()


def test_every_pod_spec_gets_the_name_exactly_once(corpus):
    out = run(INJECT, corpus).output
    specs = list(pod_specs(out))
    assert all(names.count("regcred") == 1 for *_, names in specs)
    assert len(specs) == len(given_pod_specs(corpus))
    # Everything that is not a pod spec (CRDs above all) is byte for byte what it was.
    assert non_pod_documents(out) == non_pod_documents(corpus)


def test_check_passes_with_the_generated_secret(corpus):
    rules = INJECT + GENERATE + "- pullSecretReferences: {action: error}\n"
    result = run(rules, corpus, CREDS)
    assert [f for f in result.failures if "'regcred'" in f] == []
    namespaces = {ns for _, ns, _, names in given_pod_specs(corpus)}
    secrets = [r for d in parse_stream(result.output).yaml_documents() for _, r in resources(d.obj)
               if r.get("kind") == "Secret" and r["metadata"]["name"] == "regcred"]
    assert sorted(s["metadata"].get("namespace", "") for s in secrets) == sorted(namespaces)


def test_check_fails_without_it(corpus):
    result = run(INJECT + "- pullSecretReferences: {action: error}\n", corpus)
    assert len([f for f in result.failures if "'regcred'" in f]) == len(given_pod_specs(corpus))


def test_remove_leaves_no_dangling_name(corpus):
    out = run(INJECT + "- pullSecretReferences: {action: remove}\n", corpus).output
    assert all(names == [] for *_, names in pod_specs(out))
    assert run("- pullSecretReferences: {action: error}\n", out).failures == []


def test_idempotent(corpus):
    rules = INJECT + GENERATE + "- pullSecretReferences: {action: remove}\n"
    once = run(rules, corpus, CREDS).output
    assert run(rules, once, CREDS).output == once


def test_no_credentials_changes_nothing(corpus):
    rules = ('- imagePullSecrets: {names: ["{{ pullSecret }}"]}\n  when: "pullSecret is defined"\n'
             '- pullSecret: {name: "{{ pullSecret }}"}\n  when: "pullSecret is defined"\n')
    assert run(rules, corpus).output == corpus


def test_workload_kinds_are_covered():
    kinds = {kind for path in corpus_required() for kind, *_ in given_pod_specs(path.read_bytes())}
    assert WORKLOADS - {"Pod", "CronJob"} <= kinds  # the corpus has no bare Pod or CronJob; tests/data does
    assert {kind for _, kind in CR_FIELDS} <= kinds


def test_check_error_exits_1_with_no_output(tmp_path):
    data = next(p for p in corpus_required() if p.name == "kube-flannel.yml").read_bytes()
    config = write_config(tmp_path, "rules:\n" + INJECT + "- pullSecretReferences: {action: error}\n")
    r = run_cli(["run", "-c", str(config)], data)
    assert r.code == 1 and r.out == b""
    assert "DaemonSet/kube-flannel/kube-flannel-ds" in r.err and "no Secret 'regcred'" in r.err


def test_incident_golden_on_a_real_chart(yaml_snapshot):
    """ingress-nginx as Helm renders it: what changes, as a reviewer reads it."""
    data = next(p for p in corpus_required() if p.name == "helm-ingress-nginx-4.15.1.yaml").read_bytes()
    out = run(INJECT + GENERATE, data, {**CREDS, "POSTRENDER_VAR_password": "golden-pw"}).output.decode()
    diff = "".join(difflib.unified_diff(data.decode().splitlines(True), out.splitlines(True), "input", "output", n=2))
    assert diff == yaml_snapshot
