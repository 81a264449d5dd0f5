"""imagePullPolicy on every kind the table knows, with target and when; goldens show only policy lines change."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from postrender.engine.stream import parse_stream
from tests.conftest import run_rules

DATA = Path(__file__).parent / "data"
WORKLOADS = (DATA / "workloads.yaml").read_bytes()


def run(rules: str, data: bytes = WORKLOADS, **kw) -> bytes:
    return run_rules(rules, data, **kw).output


def policies(output: bytes) -> dict[str, list]:
    """resource name -> pull policy of each container, from a real parse of the output."""
    from postrender.kinds import PodSpecTable, containers, resources

    table = PodSpecTable()
    out = {}
    for doc in parse_stream(output).yaml_documents():
        for _, res in resources(doc.obj):
            for _, spec in table.pod_specs(res):
                out[res["metadata"]["name"]] = [c.get("imagePullPolicy") for _, _, c in containers(spec)]
    return out


def test_every_container_of_every_kind_gets_the_policy():
    got = policies(run("rules:\n- imagePullPolicy: {policy: IfNotPresent}\n"))
    assert got == {
        "pod": ["IfNotPresent", "IfNotPresent"],
        "tmpl": ["IfNotPresent"],
        "rc": ["IfNotPresent"],
        "web": ["IfNotPresent", "IfNotPresent", "IfNotPresent"],
        "db": ["IfNotPresent"],
        "agent": ["IfNotPresent"],
        "rs": ["IfNotPresent"],
        "migrate": ["IfNotPresent"],
        "nightly": ["IfNotPresent"],
        "in-list": ["IfNotPresent"],
        "canary": ["IfNotPresent"],
    }


def test_only_policy_lines_change_and_the_crd_is_untouched(yaml_snapshot):
    out = run("rules:\n- imagePullPolicy: {policy: IfNotPresent}\n")
    diff = [l for l in difflib.unified_diff(WORKLOADS.decode().splitlines(), out.decode().splitlines(), lineterm="", n=0)
            if l[:1] in "+-" and l[:3] not in ("+++", "---")]
    added = [l for l in diff if l.startswith("+")]
    removed = [l for l in diff if l.startswith("-")]
    assert all("imagePullPolicy" in l for l in added), diff
    # One 'Always' is replaced; the flow-style container of the ReplicationController gains
    # the key inside its braces; every other container gains one line after its image.
    assert sorted(removed) == ["-        imagePullPolicy: Always", "-      - {name: app, image: nginx}"]
    assert "+      - {name: app, image: nginx, imagePullPolicy: IfNotPresent}" in added
    assert "things.example.com" in out.decode() and out.decode().count("imagePullPolicy") == 14  # 14 containers
    assert out.decode() == yaml_snapshot


def test_only_if_unset_keeps_existing_policies():
    got = policies(run("rules:\n- imagePullPolicy: {policy: Never, onlyIfUnset: true}\n"))
    assert got["web"] == ["Never", "Always", "Never"]


@pytest.mark.parametrize(
    "target, changed",
    [
        ("{kind: Deployment}", {"web", "in-list"}),
        ("{kind: Deployment|StatefulSet}", {"web", "in-list", "db"}),
        ("{kind: Deploy}", set()),                       # anchored regex, as kustomize
        ("{name: we.*}", {"web"}),
        ("{namespace: prod}", {"web"}),
        ("{labelSelector: app=agent}", {"agent"}),
        ("{labelSelector: 'app in (web,agent)'}", {"web", "agent"}),
        ("{kind: Job|CronJob, exclude: [{name: nightly}]}", {"migrate"}),
        ("{group: batch}", {"migrate", "nightly"}),
    ],
)
def test_target_selects_resources(target, changed):
    got = policies(run(f"rules:\n- imagePullPolicy: {{policy: Never}}\n  target: {target}\n"))
    assert {name for name, pols in got.items() if "Never" in pols} == changed


@pytest.mark.parametrize(
    "when, sets, applied",
    [
        ("policy is defined", [], False),
        ("policy is defined", ["policy=Never"], True),
        ("offline == 'true'", ["offline=true", "policy=Never"], True),
        (False, ["policy=Never"], False),
    ],
)
def test_when_enables_the_rule(when, sets, applied):
    rules = f"rules:\n- imagePullPolicy: {{policy: '{{{{ policy }}}}'}}\n  when: {when!r}\n".replace("'False'", "false")
    if when is False:
        rules = "rules:\n- imagePullPolicy: {policy: '{{ policy }}'}\n  when: false\n"
    out = run(rules, sets=sets)
    assert (out != WORKLOADS) is applied


def test_pod_spec_paths_from_config_reach_custom_resources():
    data = b"""apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: sj
spec:
  jobTargetRef:
    template:
      spec:
        containers:
        - name: w
          image: worker
---
apiVersion: example.com/v1
kind: Worker
metadata:
  name: custom
spec:
  pod:
    spec:
      containers:
      - name: w
        image: worker
"""
    out = run("podSpecPaths:\n- {kind: Worker, group: example.com, path: spec.pod.spec}\n"
              "rules:\n- imagePullPolicy: {policy: Never}\n", data)
    assert out.decode().count("imagePullPolicy: Never") == 2


def test_idempotent():
    once = run("rules:\n- imagePullPolicy: {policy: IfNotPresent}\n")
    assert run("rules:\n- imagePullPolicy: {policy: IfNotPresent}\n", once) == once
