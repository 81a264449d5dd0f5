"""Image rules on the shared corpus: fidelity, completeness, idempotency, embedded references."""

from __future__ import annotations

import difflib
import json
import re

import pytest

from postrender.images.discovery import ImageTable, inventory
from postrender.engine.stream import parse_stream
from tests.conftest import CORPUS, corpus_required
from tests.imagetest_util import config, run

FILES = CORPUS / "files"
REGISTRIES = ("docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "gcr.io", "public.ecr.aws")
MIRROR = "mirror.example.com"
EVERYTHING_TO_MIRROR = "- registryRewrite:\n    mirrors:\n" + "".join(
    f"      - {{from: {r}, to: {MIRROR}/{r}}}\n" for r in REGISTRIES
)

# Lines holding an image reference, per file: the corpus README's "image refs" column (values
# under an `image` key, counted by the corpus authors) plus the references inside args/env that
# column leaves out, counted by hand: cert-manager --acme-http01-solver-image=, kube-prometheus
# --prometheus-config-reloader=, olm -configmapServerImage= and "-util-image" + next item,
# longhorn 7 "--*-image" + next item and 6 CSI_*_IMAGE env values.
REFERENCE_LINES = {
    "argo-cd-install.yaml": 10,
    "calico.yaml": 5,
    "dashboard-recommended.yaml": 2,
    "gatekeeper.yaml": 2,
    "helm-cert-manager-v1.21.1.yaml": 4 + 1,
    "helm-ingress-nginx-4.15.1.yaml": 3,
    "helm-istio-base-istiod-1.30.3.yaml": 1,
    "helm-metrics-server-3.13.1.yaml": 1,
    "ingress-nginx-cloud-deploy.yaml": 3,
    "knative-serving-core.yaml": 5,
    "kube-flannel.yml": 3,
    "kube-prometheus-manifests.yaml": 14 + 1,
    "longhorn.yaml": 5 + 7 + 6,
    "olm-crds.yaml": 0,
    "olm.yaml": 4 + 2,
}


def test_every_corpus_file_has_a_reference_line_count():
    assert sorted(p.name for p in corpus_required()) == sorted(REFERENCE_LINES)
UNMIRROR = re.compile(rf"{re.escape(MIRROR)}/(?:docker\.io/(?:library/)?|([^/\s]+)/)")


def hub_short(line: str) -> str:
    return line.replace("docker.io/library/", "").replace("docker.io/", "")


@pytest.mark.parametrize("name", sorted(REFERENCE_LINES))
def test_mirroring_every_registry_changes_only_the_reference_lines(name):
    original = (FILES / name).read_bytes()
    result = run(EVERYTHING_TO_MIRROR, original)
    assert result.warnings == []
    before = original.decode().splitlines(keepends=True)
    after = result.output.decode().splitlines(keepends=True)
    changed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        # Only one-for-one line replacements: no line added, removed or re-wrapped.
        assert tag == "replace" and i2 - i1 == j2 - j1, (tag, before[i1:i2], after[j1:j2])
        for old, new in zip(before[i1:i2], after[j1:j2]):
            # Taking the mirror back out of the new line gives the old one (Docker Hub names are
            # compared without docker.io[/library], which a short original did not write).
            undone = UNMIRROR.sub(lambda m: f"{m.group(1)}/" if m.group(1) else "", new)
            assert hub_short(undone) == hub_short(old), (old, new)
            changed += 1
    assert changed == REFERENCE_LINES[name]
    # Every image of the output now comes from the mirror (the list of registries was complete).
    found = inventory(parse_stream(result.output).documents, ImageTable.of(config(EVERYTHING_TO_MIRROR)))
    assert len(found) == REFERENCE_LINES[name]
    assert all(f.image.startswith(MIRROR + "/") for f in found)


@pytest.mark.parametrize("name", sorted(REFERENCE_LINES))
def test_running_the_output_again_changes_nothing(name):
    """The second pass runs the same config as the first (mirror everything, then pin every tag)."""
    rules = EVERYTHING_TO_MIRROR + "- images:\n  - {name: '.*', newTag: pinned}\n"
    original = (FILES / name).read_bytes()
    once = run(rules, original).output
    assert (once != original) == (REFERENCE_LINES[name] > 0)
    twice = run(rules, once).output
    assert twice == once


def test_inventory_of_kube_prometheus_has_the_custom_resources_and_args(tmp_path, cli):
    from tests.conftest import write_config

    cfg = write_config(tmp_path, "rules: []\n")
    out = cli(["images", "-c", str(cfg), "--format", "json", "-i", str(FILES / "kube-prometheus-manifests.yaml")])
    assert out.code == 0, out.err
    where = {(loc["kind"], loc["name"], loc["path"]): item["image"] for item in json.loads(out.text) for loc in item["locations"]}
    assert where[("Prometheus", "k8s", "spec.image")] == "quay.io/prometheus/prometheus:v3.12.0"
    assert where[("Alertmanager", "main", "spec.image")] == "quay.io/prometheus/alertmanager:v0.33.0"
    assert where[("Deployment", "prometheus-operator", "spec.template.spec.containers[0].args[1]")] == (
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0"
    )
    text = cli(["images", "-c", str(cfg), "-i", str(FILES / "kube-prometheus-manifests.yaml")])
    lines = text.text.splitlines()
    # README: 10 unique values under image keys, plus the config reloader that only args name.
    assert lines == sorted(set(lines)) and len(lines) == 11
    assert "quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0" in lines


def test_inventory_of_cert_manager_has_the_acme_solver_in_args(tmp_path, cli):
    from tests.conftest import write_config

    cfg = write_config(tmp_path, "rules: []\n")
    out = cli(["images", "-c", str(cfg), "-i", str(FILES / "helm-cert-manager-v1.21.1.yaml")])
    assert out.code == 0, out.err
    assert out.text.splitlines() == [
        "quay.io/jetstack/cert-manager-acmesolver:v1.21.1",
        "quay.io/jetstack/cert-manager-cainjector:v1.21.1",
        "quay.io/jetstack/cert-manager-controller:v1.21.1",
        "quay.io/jetstack/cert-manager-startupapicheck:v1.21.1",
        "quay.io/jetstack/cert-manager-webhook:v1.21.1",
    ]
    data = json.loads(cli(["images", "-c", str(cfg), "--format", "json", "-i", str(FILES / "helm-cert-manager-v1.21.1.yaml")]).text)
    solver = next(i for i in data if "acmesolver" in i["image"])
    assert solver["locations"] == [{
        "document": solver["locations"][0]["document"],
        "source": "cert-manager/templates/deployment.yaml",
        "kind": "Deployment", "namespace": "cert-manager", "name": "cert-manager",
        "path": "spec.template.spec.containers[0].args[3]", "via": "arg", "discovery": "podSpec",
    }]
