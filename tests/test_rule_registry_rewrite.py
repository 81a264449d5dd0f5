"""registryRewrite on every kind of image location; expected values by the mirror rules of issue 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.errors import ConfigError
from tests.imagetest_util import changed_leaves, config, run

DATA = (Path(__file__).parent / "data" / "images.yaml").read_bytes()
SHA = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
C = "spec.template.spec.containers"
# The Widget has no imageFields here: generic discovery takes its `image` key (imageKey).
WIDGET = ("Widget", "w", "spec.runner.image")


def rule(*mirrors):
    lines = ["- registryRewrite:", "    mirrors:"]
    for f, t in mirrors:
        lines.append(f"      - {{from: '{f}', to: '{t}'}}")
    return "\n".join(lines) + "\n"


CASES = [
    pytest.param(
        [("docker.io/library/busybox", "quay.io/prometheus/busybox")],
        {
            ("Deployment", "web", "spec.template.spec.initContainers[0].image"): "quay.io/prometheus/busybox:1.36",
            ("Prometheus", "k8s", "spec.containers[0].image"): "quay.io/prometheus/busybox",
            ("Workflow", "wf", "spec.templates[0].container.image"): "quay.io/prometheus/busybox:1.36",
            WIDGET: "quay.io/prometheus/busybox:1.36",
        },
        id="one-repository-every-spelling",
    ),
    pytest.param(
        [("docker.io", "mirror.local:5000/hub")],
        {
            ("Deployment", "web", "spec.template.spec.initContainers[0].image"): "mirror.local:5000/hub/library/busybox:1.36",
            ("Deployment", "web", f"{C}[0].image"): "mirror.local:5000/hub/library/nginx:1.27",
            ("Deployment", "web", f"{C}[0].args[3]"): "mirror.local:5000/hub/library/alpine:3.20",
            ("CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image"): "mirror.local:5000/hub/library/nginx",
            ("Prometheus", "k8s", "spec.containers[0].image"): "mirror.local:5000/hub/library/busybox",
            ("Task", "build", "spec.stepTemplate.image"): "mirror.local:5000/hub/library/alpine",
            ("Task", "build", "spec.steps[0].image"): "mirror.local:5000/hub/library/golang:1.23",
            ("Task", "build", "spec.sidecars[0].image"): "mirror.local:5000/hub/library/docker:dind",
            ("Workflow", "wf", "spec.templates[0].container.image"): "mirror.local:5000/hub/library/busybox:1.36",
            ("Workflow", "wf", "spec.templates[1].script.image"): "mirror.local:5000/hub/library/python:3.12",
            ("Pod", "in-list", "spec.containers[0].image"): "mirror.local:5000/hub/library/nginx:1.27",
            WIDGET: "mirror.local:5000/hub/library/busybox:1.36",
        },
        id="whole-docker-hub",
    ),
    pytest.param(
        [("docker.io", "mirror.local/hub"), ("docker.io/library/busybox", "quay.io/prometheus/busybox")],
        {
            ("Deployment", "web", "spec.template.spec.initContainers[0].image"): "quay.io/prometheus/busybox:1.36",
            ("Deployment", "web", f"{C}[0].image"): "mirror.local/hub/library/nginx:1.27",
            ("Deployment", "web", f"{C}[0].args[3]"): "mirror.local/hub/library/alpine:3.20",
            ("CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image"): "mirror.local/hub/library/nginx",
            ("Prometheus", "k8s", "spec.containers[0].image"): "quay.io/prometheus/busybox",
            ("Task", "build", "spec.stepTemplate.image"): "mirror.local/hub/library/alpine",
            ("Task", "build", "spec.steps[0].image"): "mirror.local/hub/library/golang:1.23",
            ("Task", "build", "spec.sidecars[0].image"): "mirror.local/hub/library/docker:dind",
            ("Workflow", "wf", "spec.templates[0].container.image"): "quay.io/prometheus/busybox:1.36",
            ("Workflow", "wf", "spec.templates[1].script.image"): "mirror.local/hub/library/python:3.12",
            ("Pod", "in-list", "spec.containers[0].image"): "mirror.local/hub/library/nginx:1.27",
            WIDGET: "quay.io/prometheus/busybox:1.36",
        },
        id="longest-prefix-wins-whatever-the-order",
    ),
    pytest.param(
        [("quay.io/org", "registry.corp/quay-org"), ("ghcr.io", "registry.corp/ghcr")],
        {
            ("Deployment", "web", f"{C}[0].args[0]"): "--sidecar-image=registry.corp/quay-org/sidecar:v2",
            ("Deployment", "web", f"{C}[0].env[0].value"): f"registry.corp/ghcr/org/worker@{SHA}",
            ("Deployment", "web", "spec.template.spec.volumes[0].image.reference"): "registry.corp/quay-org/data:v1",
        },
        id="args-env-volumes-digest-kept",
    ),
    pytest.param(
        [("registry.example.com:5000", "localhost:5001"), ("quay.io/prometheus", "mirror.local/prom")],
        {
            ("Deployment", "web", "spec.template.spec.ephemeralContainers[0].image"): "localhost:5001/tools/debug:1",
            ("Prometheus", "k8s", "spec.image"): "mirror.local/prom/prometheus:v3.12.0",
        },
        id="host-port-and-crd-field",
    ),
    pytest.param(
        [("docker.io/lib", "nowhere.example/x"), ("quay.io/or", "nowhere.example/y")],
        {},
        id="prefixes-match-whole-components-only",
    ),
    pytest.param(
        [("docker.io/library/nginx", "docker.io/bitnami/nginx")],
        {
            ("Deployment", "web", f"{C}[0].image"): "docker.io/bitnami/nginx:1.27",
            ("CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image"): "bitnami/nginx",
            ("Pod", "in-list", "spec.containers[0].image"): "docker.io/bitnami/nginx:1.27",
        },
        id="stays-on-hub-keeps-the-short-form",
    ),
    pytest.param(
        # The docs' example: busybox's replacement lives on quay.io, and all of quay.io is
        # mirrored, so busybox follows both rewrites in one run (a fixed point: see below).
        [("docker.io/library/busybox", "quay.io/prometheus/busybox"), ("quay.io", "mirror.local/quay")],
        {
            ("Deployment", "web", "spec.template.spec.initContainers[0].image"): "mirror.local/quay/prometheus/busybox:1.36",
            ("Deployment", "web", f"{C}[0].args[0]"): "--sidecar-image=mirror.local/quay/org/sidecar:v2",
            ("Deployment", "web", "spec.template.spec.volumes[0].image.reference"): "mirror.local/quay/org/data:v1",
            ("Prometheus", "k8s", "spec.containers[0].image"): "mirror.local/quay/prometheus/busybox",
            ("Prometheus", "k8s", "spec.image"): "mirror.local/quay/prometheus/prometheus:v3.12.0",
            ("Workflow", "wf", "spec.templates[0].container.image"): "mirror.local/quay/prometheus/busybox:1.36",
            WIDGET: "mirror.local/quay/prometheus/busybox:1.36",
        },
        id="rewrites-chain",
    ),
]


@pytest.mark.parametrize("mirrors,expected", CASES)
def test_registry_rewrite(mirrors, expected):
    result = run(rule(*mirrors), DATA)
    assert changed_leaves(DATA, result.output) == expected
    # The one invalid reference is reported with its document and path, and left as it was.
    assert result.warnings == [
        "document 1 (demo/templates/web.yaml): Deployment/apps/web: spec.template.spec.containers[1].image:"
        " invalid image reference 'Not A Valid:ref' (contains whitespace); left unchanged"
    ]


def test_user_image_fields_are_rewritten():
    extra = "imageFields:\n  - {kind: Widget, path: spec.runner.image}\n  - {kind: Widget, path: 'spec.images[]'}\n"
    result = run(rule(("docker.io", "hub.local")), DATA, extra)
    got = {k: v for k, v in changed_leaves(DATA, result.output).items() if k[0] == "Widget"}
    assert got == {
        ("Widget", "w", "spec.runner.image"): "hub.local/library/busybox:1.36",
        ("Widget", "w", "spec.images[1]"): "hub.local/library/nginx",
    }


def test_only_the_changed_lines_differ_and_quotes_and_comments_stay():
    out = run(rule(("docker.io", "hub.local")), DATA).output.decode()
    assert '          image: busybox:1.36        # Docker Hub official image, short form' not in out
    assert '          image: hub.local/library/busybox:1.36        # Docker Hub official image, short form' in out
    assert '          image: "hub.local/library/nginx:1.27"' in out
    assert "  image: busybox:1.36\n" in out  # the ConfigMap's data key is not an image field


def test_target_limits_the_rewrite():
    result = run(rule(("docker.io", "hub.local")) + "  target: {kind: CronJob}\n", DATA)
    assert changed_leaves(DATA, result.output) == {
        ("CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image"): "hub.local/library/nginx",
    }


def test_templated_mirror():
    rules = "- registryRewrite:\n    mirrors: [{from: docker.io, to: '{{ mirror }}/hub'}]\n  target: {kind: CronJob}\n"
    result = run(rules, DATA, "vars: {mirror: 'registry.local:5000'}\n")
    assert list(changed_leaves(DATA, result.output).values()) == ["registry.local:5000/hub/library/nginx"]


@pytest.mark.parametrize("mirror,message", [
    ({"from": "docker.io/busybox:1.36", "to": "x.io"}, "rules[0].registryRewrite.mirrors[0].from: 'docker.io/busybox:1.36': a mirror prefix cannot have a tag or digest"),
    ({"from": "quay.io", "to": "Bad Host/x"}, "rules[0].registryRewrite.mirrors[0].to: 'Bad Host/x': contains whitespace"),
    ({"from": "quay.io"}, "rules[0].registryRewrite.mirrors[0]: missing required option 'to'"),
])
def test_bad_mirrors_are_config_errors(mirror, message):
    import json

    with pytest.raises(ConfigError) as err:
        config(f"- registryRewrite:\n    mirrors: [{json.dumps(mirror)}]\n")
    assert message in str(err.value)
    assert str(err.value).startswith("test.yaml:")


@pytest.mark.parametrize("mirrors", [m.values[0] for m in CASES], ids=[m.id for m in CASES])
def test_a_second_run_changes_nothing(mirrors):
    once = run(rule(*mirrors), DATA).output
    assert run(rule(*mirrors), once).output == once


@pytest.mark.parametrize("mirrors,index", [
    ([("docker.io", "docker.io/myorg")], 0),
    ([("quay.io", "ghcr.io/q"), ("ghcr.io", "quay.io/g")], 0),
    ([("docker.io/library/busybox", "quay.io/b"), ("quay.io", "ghcr.io/q"), ("ghcr.io/q", "quay.io/back")], 0),
])
def test_mirrors_that_rewrite_forever_are_config_errors(mirrors, index):
    with pytest.raises(ConfigError) as err:
        config(rule(*mirrors))
    assert f"rules[0].registryRewrite.mirrors[{index}].to:" in str(err.value)
    assert "cycle" in str(err.value)
