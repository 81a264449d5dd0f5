"""Properties over the real manifests in ../shared/corpus (read in place, never copied)."""

from __future__ import annotations

import pytest

from postrender.engine import kube_yaml, locate
from postrender.config.loader import load_config_text
from postrender.kinds import PodSpecTable, containers, resources
from postrender.pipeline import run_stream
from postrender.engine.stream import parse_stream
from tests.conftest import CONFIG_HEADER, CORPUS_FILES, STRESS, corpus_required

NO_RULES = load_config_text(CONFIG_HEADER + "rules: []\n", "t.yaml")
PULL_POLICY = load_config_text(CONFIG_HEADER + "rules:\n- imagePullPolicy: {policy: IfNotPresent}\n", "t.yaml")
IDS = [p.name for p in CORPUS_FILES]


def test_corpus_is_present():
    assert len(corpus_required()) == 15 and STRESS.exists()


@pytest.mark.parametrize("path", CORPUS_FILES + [STRESS], ids=IDS + ["stress"])
def test_identity_without_rules(path):
    data = path.read_bytes()
    assert run_stream(NO_RULES, data).output == data


def _objects(data: bytes) -> list:
    return [kube_yaml.read(d.root) for d in parse_stream(data).yaml_documents()]


# prometheus-operator CRs take a pull policy for their image at spec.imagePullPolicy (their CRDs
# in kube-prometheus list it); imagePullPolicy sets it too (issue 13).
POLICY_CRS = {"Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent"}


def _policy_holders(res) -> list[dict]:
    holders = [c for _, spec in PodSpecTable().pod_specs(res) for _, _, c in containers(spec)]
    if res.get("kind") in POLICY_CRS and str(res.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        holders.append(res["spec"])
    return holders


def _without_policies(obj):
    for _, res in resources(obj):
        for holder in _policy_holders(res):
            holder.pop("imagePullPolicy", None)
    return obj


@pytest.mark.parametrize("path", CORPUS_FILES, ids=IDS)
def test_pull_policy_changes_nothing_else_and_is_idempotent(path):
    data = path.read_bytes()
    out = run_stream(PULL_POLICY, data).output
    before, after = _objects(data), _objects(out)
    assert len(before) == len(after)
    policies = []
    for b, a in zip(before, after):
        for _, res in resources(a):
            policies += [h.get("imagePullPolicy") for h in _policy_holders(res)]
        assert _without_policies(b) == _without_policies(a)
    assert all(p == "IfNotPresent" for p in policies)
    # Documents without pod specs come back byte-for-byte.
    for d_in, d_out in zip(parse_stream(data).documents, parse_stream(out).documents):
        if d_in.kind not in PodSpecTable().kinds | POLICY_CRS and not (d_in.kind or "").endswith("List"):
            assert d_in.text == d_out.text
    assert run_stream(PULL_POLICY, out).output == out
