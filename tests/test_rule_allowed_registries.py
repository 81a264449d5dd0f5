"""allowedRegistries: which images are reported, how, and that error withholds the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.errors import ConfigError
from tests.conftest import write_config
from tests.imagetest_util import config, run

DATA = (Path(__file__).parent / "data" / "images.yaml").read_bytes()
WEB = "document 1 (demo/templates/web.yaml): Deployment/apps/web: spec.template.spec"


def rule(registries, action="error"):
    return f"- allowedRegistries:\n    registries: {registries}\n    action: {action}\n"


def test_error_lists_every_image_outside_the_registries_with_its_location():
    result = run(rule("[docker.io, quay.io/org]"), DATA)
    assert result.failures == [
        f"{WEB}.containers[0].env[0].value: image ghcr.io/org/worker@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
        " (registry ghcr.io) is not from an allowed registry (docker.io, quay.io/org)",
        f"{WEB}.containers[1].image: invalid image reference 'Not A Valid:ref' (contains whitespace)"
        " cannot be checked against allowedRegistries (docker.io, quay.io/org)",
        f"{WEB}.ephemeralContainers[0].image: image registry.example.com:5000/tools/debug:1"
        " (registry registry.example.com:5000) is not from an allowed registry (docker.io, quay.io/org)",
        "document 3: Prometheus/monitoring/k8s: spec.image: image quay.io/prometheus/prometheus:v3.12.0"
        " (registry quay.io) is not from an allowed registry (docker.io, quay.io/org)",
    ]
    assert result.warnings == []


def test_warn_reports_the_same_as_warnings_and_fails_nothing():
    result = run(rule("[docker.io, quay.io/org]", "warn"), DATA)
    assert result.failures == []
    assert len(result.warnings) == 4 and all("allowed" in w for w in result.warnings)


def test_after_a_rewrite_to_the_mirror_everything_passes():
    rules = (
        "- registryRewrite:\n    mirrors:\n"
        + "".join(f"      - {{from: '{r}', to: mirror.local/{r.replace(':', '-')}}}\n" for r in ("docker.io", "quay.io", "ghcr.io", "registry.example.com:5000"))
        + rule("['mirror.local']")
    )
    result = run(rules, DATA)
    assert [f.split(": ")[-1] for f in result.failures] == [
        "invalid image reference 'Not A Valid:ref' (contains whitespace) cannot be checked against allowedRegistries (mirror.local)"
    ]


@pytest.mark.parametrize("registries,allowed", [
    ("[index.docker.io]", True),          # the legacy name of Docker Hub
    ("['docker.io/library/']", True),     # every official image
    ("[docker.io/bitnami/]", False),      # another namespace
    ("[docker.io/library/busybox]", False),  # nginx is not busybox
    ("['docker.io/lib']", False),         # whole components only
])
def test_registry_entries_are_normalised_prefixes(registries, allowed):
    stream = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: nginx}\n"
    assert (run(rule(registries), stream).failures == []) is allowed


def test_cli_exits_1_and_writes_nothing(tmp_path, cli):
    cfg = write_config(tmp_path, "rules:\n" + rule("[quay.io]"))
    result = cli(["run", "-c", str(cfg)], stdin=DATA)
    assert result.code == 1
    assert result.out == b""
    assert "check failed: document 1 (demo/templates/web.yaml): Deployment/apps/web:" in result.err


@pytest.mark.parametrize("rules,message", [
    (rule("[]"), "rules[0].allowedRegistries.registries: needs at least one registry"),
    (rule("['quay.io:tag:x']"), "rules[0].allowedRegistries.registries[0]: 'quay.io:tag:x'"),
    (rule("[quay.io]", "deny"), "rules[0].allowedRegistries.action: must be one of error, warn"),
])
def test_config_errors(rules, message):
    with pytest.raises(ConfigError) as err:
        config(rules)
    assert message in str(err.value)
