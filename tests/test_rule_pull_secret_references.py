"""pullSecretReferences: every imagePullSecrets name needs its Secret, or is external (issue 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.config.loader import load_config_text
from postrender.kinds import PodSpecTable, resources
from postrender.pipeline import run_stream
from postrender.engine.stream import parse_stream
from tests.conftest import CONFIG_HEADER, run_rules

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_bytes()


def run(rules: str, data: bytes = INPUT):
    return run_rules(rules, data, environ={})


def pod(name: str, secrets: list, namespace: str | None = None) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    entries = "".join(f"\n  - name: {s}" for s in secrets)
    return (f"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}{ns}\nspec:\n"
            f"  imagePullSecrets:{entries}\n  containers:\n  - name: c\n    image: x\n")


def secret(name: str, namespace: str | None = None, type_: str | None = "kubernetes.io/dockerconfigjson") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    t = f"type: {type_}\n" if type_ else ""
    return f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}{ns}\n{t}"


CASES = {
    # stream, external, dangling (resource, secret name)
    "same namespace": (pod("p", ["s"], "a") + secret("s", "a"), [], []),
    "other namespace": (pod("p", ["s"], "a") + secret("s", "b"), [], [("Pod/a/p", "s")]),
    "namespace-less with namespace-less": (pod("p", ["s"]) + secret("s"), [], []),
    "namespace-less against a namespaced Secret": (pod("p", ["s"]) + secret("s", "a"), [], [("Pod/p", "s")]),
    "legacy dockercfg type": (pod("p", ["s"]) + secret("s", None, "kubernetes.io/dockercfg"), [], []),
    "Opaque Secret does not count": (pod("p", ["s"]) + secret("s", None, "Opaque"), [], [("Pod/p", "s")]),
    "type unset means Opaque": (pod("p", ["s"]) + secret("s", None, None), [], [("Pod/p", "s")]),
    "external by name": (pod("p", ["corp"], "a"), ["corp"], []),
    "external by namespace/name": (pod("p", ["corp"], "a") + pod("q", ["corp"], "b"), ["a/corp"], [("Pod/b/q", "corp")]),
    "empty name is ignored, as the kubelet does": (pod("p", ['""']), [], []),
    "several dangling in order": (pod("p", ["x", "ok", "z"]) + secret("ok"), [], [("Pod/p", "x"), ("Pod/p", "z")]),
    "secret inside a List": (pod("p", ["s"]) + "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n"
                             "  metadata: {name: s}\n  type: kubernetes.io/dockerconfigjson\n", [], []),
    "ServiceAccounts are checked": ("---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\nimagePullSecrets:\n- name: s\n",
                                    [], [("ServiceAccount/sa", "s")]),
}


def dangling_from(messages: list[str]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        resource = m.split(": ")[1]
        name = m.split("Secret '")[1].split("'")[0]
        out.append((resource, name))
    return out


@pytest.mark.parametrize("stream,external,dangling", CASES.values(), ids=CASES.keys())
def test_warn_and_error(stream, external, dangling):
    result = run(f"rules:\n- pullSecretReferences: {{action: warn, external: {external}}}\n", stream.encode())
    assert dangling_from([w.removeprefix("rules[0] (pullSecretReferences): ") for w in result.warnings]) == dangling
    assert result.output == stream.encode()  # warn changes nothing
    result = run(f"rules:\n- pullSecretReferences: {{action: error, external: {external}}}\n", stream.encode())
    assert len(result.failures) == len(dangling)
    assert dangling_from([f.split("): ", 1)[1] for f in result.failures]) == dangling


def test_warning_names_document_resource_and_secret():
    result = run("rules:\n- pullSecretReferences: {}\n", pod("web", ["gone"], "prod").encode())
    assert result.warnings == [
        "rules[0] (pullSecretReferences): document 1: Pod/prod/web: spec.imagePullSecrets[0]: no Secret 'gone' with namespace"
        " 'prod' in the stream (list it under external: if it exists in the cluster)"
    ]


REMOVE = {
    "one of two": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets:\n  - name: gone\n  - name: corp\n  containers: []\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets:\n  - name: corp\n  containers: []\n",
    ),
    "the only one: the key goes too": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets:\n  - name: gone\n  containers: []\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n",
    ),
    "nothing dangling: untouched": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets: [{name: corp}]\n  containers: []\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets: [{name: corp}]\n  containers: []\n",
    ),
}


@pytest.mark.parametrize("given,expected", REMOVE.values(), ids=REMOVE.keys())
def test_remove(given, expected):
    result = run("rules:\n- pullSecretReferences: {action: remove, external: [corp]}\n", given.encode())
    assert result.output.decode() == expected
    assert result.warnings == [] and result.failures == []


def test_remove_on_the_incident_stream_leaves_no_dangling_name():
    out = run("rules:\n- pullSecretReferences: {action: remove}\n").output
    table = PodSpecTable()
    names = {}
    for doc in parse_stream(out).yaml_documents():
        for _, res in resources(doc.obj):
            for _, spec in table.pod_specs(res):
                names[res["metadata"]["name"]] = [e["name"] for e in spec.get("imagePullSecrets") or []]
    # No Secret answers regcred outside batch, nor corp-registry anywhere: every entry goes.
    assert names == {"server": [], "sync": [], "worker": [], "agent": [], "migrate": [], "cleanup": [], "debug": []}
    assert out.count(b"imagePullSecrets") == INPUT.count(b"imagePullSecrets") - 2  # server, agent; [] / null / CRD stay
    assert run("rules:\n- pullSecretReferences: {action: error}\n", out).failures == []


def test_generated_secret_satisfies_the_check():
    rules = ("rules:\n- imagePullSecrets: {names: [regcred]}\n- pullSecret: {name: regcred}\n"
             "- pullSecretReferences: {action: error, external: [corp-registry]}\n")
    env = {"POSTRENDER_VAR_registry": "r.example.com", "POSTRENDER_VAR_auth": "dTpw"}
    assert run_stream(load_config_text(CONFIG_HEADER + rules, "t.yaml", environ=env), INPUT).failures == []
    # Without credentials the references dangle: the check fails.
    result = run_stream(load_config_text(CONFIG_HEADER + rules, "t.yaml", environ={}), INPUT)
    assert len(result.failures) == 6  # server, sync, worker, agent, migrate, debug; cleanup has its Secret
