"""Seed scenarios of issue 3 as golden snapshots (snapshots/test_images_scenarios/*.yaml).

Each tests/cases/images-*/ holds config.yaml + input.yaml.  Besides the golden, each scenario
asserts what the golden must show, so a wrong golden cannot be accepted by `--snapshot-update`
alone, and that running the output through again changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.config.loader import load_config
from postrender.pipeline import run_stream

CASES = Path(__file__).parent / "cases"


def run_case(name: str, data: bytes | None = None):
    case = CASES / name
    cfg = load_config(case / "config.yaml")
    return run_stream(cfg, data if data is not None else (case / "input.yaml").read_bytes())


# Warnings a scenario must give (substrings, one per warning).
WARNINGS = {
    # The digest-pinned busybox moves to another repository (quay.io/prometheus/busybox, not a
    # mirror of docker.io/library/busybox): the digest may not exist there (issue 13).
    "images-busybox-to-quay": ["spec.template.spec.containers[0].image: docker.io/library/busybox@sha256:"
                               "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa -> "
                               "quay.io/prometheus/busybox@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
                               " keeps the digest in another repository"],
}


@pytest.mark.parametrize("name,present,absent", [pytest.param(*case, id=case[0]) for case in [
    ("images-busybox-to-quay",
     ["image: quay.io/prometheus/busybox:1.36   # 429 toomanyrequests from Docker Hub in CI",
      'image: "quay.io/prometheus/busybox@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"',
      "image: nginx:1.27"],
     ["image: busybox:1.36", "docker.io"]),
    ("images-dockerhub-to-mirror",
     ["image: registry.local:5000/dockerhub/library/nginx:1.27",
      'args: ["--sidecar-image=registry.local:5000/dockerhub/bitnami/git:2.45", "--port=8080"]',
      "image: quay.io/prometheus/nginx-exporter:v1.3.0",
      "image: 'registry.local:5000/dockerhub/library/redis:7'",
      "value: registry.local:5000/dockerhub/bitnami/kubectl:1.31",
      "image: registry.local:5000/dockerhub/library/alpine"],
     ["docker.io"]),
    ("images-offline",
     # The Prometheus CR's own spec.imagePullPolicy is set too (its operator passes it on).
     ["image: registry.airgap.internal/quay/prometheus/prometheus:v3.12.0\n  imagePullPolicy: Never",
      "--prometheus-config-reloader=registry.airgap.internal/quay/prometheus-operator/prometheus-config-reloader:v0.92.0",
      "image: registry.airgap.internal/quay/brancz/kube-rbac-proxy:v0.22.0\n          imagePullPolicy: Never"],
     ["quay.io", "Always"]),
]])
def test_scenario(name, present, absent, yaml_snapshot):
    result = run_case(name)
    assert result.failures == []
    expected = WARNINGS.get(name, [])
    assert len(result.warnings) == len(expected)
    assert all(text in warning for text, warning in zip(expected, result.warnings))
    out = result.output.decode()
    for text in present:
        assert text in out
    for text in absent:
        assert text not in out
    assert run_case(name, result.output).output == result.output
    assert out == yaml_snapshot


def test_offline_check_fails_when_a_registry_is_not_mirrored():
    data = (CASES / "images-offline" / "input.yaml").read_bytes() + (
        b"---\napiVersion: v1\nkind: Pod\nmetadata: {name: stray, namespace: monitoring}\n"
        b"spec:\n  containers:\n  - {name: c, image: ghcr.io/org/stray:1}\n"
    )
    result = run_case("images-offline", data)
    assert result.failures == [
        "document 3: Pod/monitoring/stray: spec.containers[0].image: image ghcr.io/org/stray:1"
        " (registry ghcr.io) is not from an allowed registry (registry.airgap.internal)"
    ]


def test_images_command_lists_after_rules_and_checks(cli):
    case = CASES / "images-offline"
    args = ["images", "-c", str(case / "config.yaml"), "-i", str(case / "input.yaml")]
    text = cli(args)
    assert text.code == 0, text.err
    assert text.text == (
        "registry.airgap.internal/quay/brancz/kube-rbac-proxy:v0.22.0\n"
        "registry.airgap.internal/quay/prometheus-operator/prometheus-config-reloader:v0.92.0\n"
        "registry.airgap.internal/quay/prometheus-operator/prometheus-operator:v0.92.0\n"
        "registry.airgap.internal/quay/prometheus/prometheus:v3.12.0\n"
    )
    bad = cli(args + ["--format", "xml"])
    assert (bad.code, bad.out) == (2, b"")
    assert "--format 'xml': use text or json" in bad.err
