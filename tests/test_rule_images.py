"""The images rule (kustomize ``images:``): expected values from kustomize 5.7's documented
semantics (see images.apply_kustomize_image); the differential test checks them against kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.errors import ConfigError
from tests.imagetest_util import changed_leaves, config, run

DATA = (Path(__file__).parent / "data" / "images.yaml").read_bytes()
SHA = "sha256:" + "0123456789abcdef" * 4
CRON = ("CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image")
WEB0 = ("Deployment", "web", "spec.template.spec.containers[0].image")
INIT = ("Deployment", "web", "spec.template.spec.initContainers[0].image")
POD = ("Pod", "in-list", "spec.containers[0].image")
PROM = ("Prometheus", "k8s", "spec.containers[0].image")
WF = ("Workflow", "wf", "spec.templates[0].container.image")
WIDGET = ("Widget", "w", "spec.runner.image")  # no imageFields here: generic discovery (imageKey)

CASES = [
    pytest.param("- images:\n  - {name: nginx, newTag: '1.28'}\n", {CRON: "nginx:1.28"},
                 id="kustomize-matches-the-name-as-written-only"),
    pytest.param("- images:\n    normalize: true\n    entries:\n    - {name: nginx, newTag: '1.28'}\n",
                 {CRON: "nginx:1.28", WEB0: "docker.io/library/nginx:1.28", POD: "index.docker.io/library/nginx:1.28"},
                 id="normalize-matches-every-spelling"),
    pytest.param("- images:\n  - {name: busybox, newName: quay.io/prometheus/busybox}\n",
                 {INIT: "quay.io/prometheus/busybox:1.36", PROM: "quay.io/prometheus/busybox", WF: "quay.io/prometheus/busybox:1.36",
                  WIDGET: "quay.io/prometheus/busybox:1.36"},
                 id="newName-keeps-tag"),
    pytest.param(f"- images:\n  - {{name: quay.io/org/sidecar, digest: '{SHA}'}}\n",
                 {("Deployment", "web", "spec.template.spec.containers[0].args[0]"): f"--sidecar-image=quay.io/org/sidecar@{SHA}"},
                 id="digest-replaces-tag-inside-args"),
    pytest.param("- images:\n  - {name: 'busybox:1.36', tagSuffix: -fips}\n",
                 {INIT: "busybox:1.36-fips", WF: "busybox:1.36-fips", WIDGET: "busybox:1.36-fips"},
                 id="name-with-tag-and-suffix-once"),
    pytest.param(f"- images:\n  - {{name: quay.io/org/data, newTag: v2, digest: '{SHA}'}}\n",
                 {("Deployment", "web", "spec.template.spec.volumes[0].image.reference"): f"quay.io/org/data:v2@{SHA}"},
                 id="tag-and-digest-image-volume"),
    pytest.param("- images:\n  - {name: nginx, newName: nginx2}\n  - {name: nginx2, newTag: '9'}\n",
                 {CRON: "nginx2:9"}, id="entries-apply-in-order"),
    pytest.param("- images:\n  - {name: quay.io/prometheus/prometheus, newName: mirror.local/prometheus}\n",
                 {("Prometheus", "k8s", "spec.image"): "mirror.local/prometheus:v3.12.0"},
                 id="custom-resource-field"),
]


@pytest.mark.parametrize("rules,expected", CASES)
def test_images(rules, expected):
    result = run(rules, DATA)
    assert changed_leaves(DATA, result.output) == expected
    assert len(result.warnings) == 1 and "'Not A Valid:ref'" in result.warnings[0]


@pytest.mark.parametrize("rules,message", [
    ("- images:\n  - {name: nginx, newTag: 1.10}\n",
     "rules[0].images[0].newTag: must be a string, not the number 1.1; quote it"),
    ("- images:\n  - {newTag: '1'}\n", "rules[0].images[0]: missing required option 'name'"),
    ("- images:\n  - {name: nginx, newtag: '1'}\n", "rules[0].images[0].newtag: unknown option 'newtag'"),
    ("- images:\n    normalize: true\n", "rules[0].images: missing required option 'entries'"),
    ("- images: nginx\n", "rules[0].images: must be a list of"),
    ("- images: []\n", "rules[0].images: needs at least one entry"),
])
def test_config_errors(rules, message):
    with pytest.raises(ConfigError) as err:
        config(rules)
    assert message in str(err.value)


DIGESTED = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: c, image: 'busybox@{SHA}'}}\n"


@pytest.mark.parametrize("rules,warned", [
    ("- images:\n  - {name: busybox, newName: quay.io/prometheus/busybox}\n", True),   # the old digest, another repository
    (f"- images:\n  - {{name: busybox, newName: quay.io/prometheus/busybox, digest: '{SHA}'}}\n", False),  # pinned there
    ("- images:\n  - {name: busybox, newName: mirror.local/library/busybox}\n", False),  # the same path elsewhere
    ("- registryRewrite: {mirrors: [{from: docker.io/library/busybox, to: quay.io/prometheus/busybox}]}\n", True),
    ("- registryRewrite: {mirrors: [{from: docker.io, to: mirror.local/hub}]}\n", False),
])
def test_a_digest_moved_to_another_repository_warns(rules, warned):
    result = run(rules, DIGESTED)
    assert result.output != DIGESTED.encode()
    assert [("keeps the digest in another repository" in w) for w in result.warnings] == ([True] if warned else [])
