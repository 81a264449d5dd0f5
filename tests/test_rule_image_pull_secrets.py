"""imagePullSecrets: merged by name into every pod spec, absent/[]/null/present alike (issue 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.config.loader import load_config_text
from postrender.errors import ConfigError
from postrender.kinds import PodSpecTable, resources
from postrender.rules.image_pull_secrets import merge_names
from postrender.engine.stream import parse_stream
from tests.conftest import CONFIG_HEADER, run_rules

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_bytes()


def run(rules: str, data: bytes = INPUT, **kw) -> bytes:
    return run_rules(rules, data, **kw).output


def pull_secrets(output: bytes) -> dict[str, list]:
    """kind/name -> imagePullSecrets names of each pod spec (or the ServiceAccount), by a real parse."""
    table = PodSpecTable()
    out = {}
    for doc in parse_stream(output).yaml_documents():
        for _, res in resources(doc.obj):
            key = f"{res['kind']}/{res['metadata']['name']}"
            holders = [spec for _, spec in table.pod_specs(res)]
            if res["kind"] == "ServiceAccount":
                holders = [res]
            for holder in holders:
                entries = holder.get("imagePullSecrets", "absent")
                out[key] = entries if entries in ("absent", None) else [e.get("name") for e in entries]
    return out


MERGE_CASES = {
    # name: (current imagePullSecrets, names to add, expected list or None = unchanged)
    "absent": (None, ["regcred"], [{"name": "regcred"}]),
    "empty": ([], ["regcred"], [{"name": "regcred"}]),
    "already there": ([{"name": "regcred"}], ["regcred"], None),
    "others keep their place": ([{"name": "a"}, {"name": "b"}], ["regcred"],
                                [{"name": "a"}, {"name": "b"}, {"name": "regcred"}]),
    "present in the middle stays there": ([{"name": "a"}, {"name": "regcred"}, {"name": "b"}], ["regcred"], None),
    "repeat of an added name dropped": ([{"name": "regcred"}, {"name": "a"}, {"name": "regcred"}], ["regcred"],
                                        [{"name": "regcred"}, {"name": "a"}]),
    "repeats of other names untouched": ([{"name": "a"}, {"name": "a"}], ["b"],
                                         [{"name": "a"}, {"name": "a"}, {"name": "b"}]),
    "several names in the order given": ([{"name": "b"}], ["a", "b", "c"],
                                         [{"name": "b"}, {"name": "a"}, {"name": "c"}]),
    "empty-name entry kept": ([{"name": ""}], ["a"], [{"name": ""}, {"name": "a"}]),
}


@pytest.mark.parametrize("current,names,expected", MERGE_CASES.values(), ids=MERGE_CASES.keys())
def test_merge_by_name(current, names, expected):
    assert merge_names(current, names) == expected


def test_every_pod_spec_and_only_pod_specs_get_the_name_once():
    got = pull_secrets(run("rules:\n- imagePullSecrets: {names: [regcred]}\n"))
    assert got == {
        "Deployment/server": ["regcred"],
        "Deployment/sync": ["regcred"],
        "StatefulSet/worker": ["regcred"],
        "DaemonSet/agent": ["corp-registry", "regcred"],
        "Job/migrate": ["regcred"],
        "CronJob/cleanup": ["regcred"],
        "Pod/debug": ["regcred"],
        "ServiceAccount/tool": "absent",  # serviceAccounts: false
    }


def test_service_accounts_on_request():
    got = pull_secrets(run("rules:\n- imagePullSecrets: {names: [regcred], serviceAccounts: true}\n"))
    assert got["ServiceAccount/tool"] == ["regcred"]


REGISTRY_CASES = {
    # registries filter -> resources that get the name (others keep what they had)
    "private registry": (["registry.example.com"], {"Deployment/server", "StatefulSet/worker", "Job/migrate", "Pod/debug"}),
    # init containers count: the worker pulls its init image from the private registry.
    "docker hub by any spelling": (["index.docker.io"], {"Deployment/sync", "StatefulSet/worker", "CronJob/cleanup"}),
    "a path under a registry": (["quay.io/tool/"], {"DaemonSet/agent"}),
    "no match": (["ghcr.io"], set()),
}


@pytest.mark.parametrize("registries,changed", REGISTRY_CASES.values(), ids=REGISTRY_CASES.keys())
def test_registries_filter(registries, changed):
    before = pull_secrets(INPUT)
    rules = f"rules:\n- imagePullSecrets: {{names: [extra], registries: {registries}}}\n"
    after = pull_secrets(run(rules))
    got = {k for k in after if after[k] != before[k]}
    assert got == changed
    for key in got:
        assert after[key].count("extra") == 1


def test_registries_filter_limits_service_accounts_to_those_used():
    # Only server (registry.example.com) runs as ServiceAccount tool, in namespace tools.
    rules = "rules:\n- imagePullSecrets: {names: [regcred], serviceAccounts: true, registries: [registry.example.com]}\n"
    assert pull_secrets(run(rules))["ServiceAccount/tool"] == ["regcred"]
    rules = "rules:\n- imagePullSecrets: {names: [regcred], serviceAccounts: true, registries: [quay.io]}\n"
    assert pull_secrets(run(rules))["ServiceAccount/tool"] == "absent"


def test_images_rewritten_by_earlier_rules_count():
    data = b"kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
    rules = ("rules:\n"
             "- imagePullPolicy: {policy: Always}\n"
             "- imagePullSecrets: {names: [regcred], registries: [docker.io]}\n")
    assert pull_secrets(run(rules, data)) == {"Pod/p": ["regcred"]}


def test_insertions_read_like_hand_written_yaml(yaml_snapshot):
    out = run("rules:\n- imagePullSecrets: {names: [regcred]}\n").decode()
    # The CRD describes imagePullSecrets in its schema; it must come out byte for byte.
    crd = INPUT.decode().split("# Source: tool/crds/")[1]
    assert out.endswith(crd)
    assert out == yaml_snapshot


TEXT_CASES = {
    # A key between serviceAccountName and containers: "after serviceAccountName" and "before
    # containers" give different texts, so each case below tells the two placements apart.
    "absent: after serviceAccountName": (
        "kind: Pod\napiVersion: v1\nspec:\n  serviceAccountName: sa\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: x\n",
        "kind: Pod\napiVersion: v1\nspec:\n  serviceAccountName: sa\n  imagePullSecrets:\n  - name: s\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: x\n",
    ),
    "absent: after the deprecated serviceAccount": (
        "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - name: c\n    image: x\n  serviceAccount: sa\n  restartPolicy: Never\n",
        "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - name: c\n    image: x\n  serviceAccount: sa\n  imagePullSecrets:\n  - name: s\n  restartPolicy: Never\n",
    ),
    "absent: before containers, indented sequences": (
        "kind: Pod\napiVersion: v1\nspec:\n    restartPolicy: Never\n    containers:\n        - name: c\n          image: x\n    dnsPolicy: Default\n",
        "kind: Pod\napiVersion: v1\nspec:\n    restartPolicy: Never\n    imagePullSecrets:\n        - name: s\n    containers:\n        - name: c\n          image: x\n    dnsPolicy: Default\n",
    ),
    "empty flow list becomes a block list": (
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets: []\n  containers:\n  - name: c\n    image: x\n",
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets:\n  - name: s\n  containers:\n  - name: c\n    image: x\n",
    ),
    "null": (
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets: null\n  containers:\n  - name: c\n    image: x\n",
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets:\n  - name: s\n  containers:\n  - name: c\n    image: x\n",
    ),
    "present: appended after the last entry": (
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets:\n    - name: a\n  containers:\n    - name: c\n      image: x\n",
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets:\n    - name: a\n    - name: s\n  containers:\n    - name: c\n      image: x\n",
    ),
    "flow list with items stays flow": (
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets: [{name: a}]\n  containers:\n  - name: c\n    image: x\n",
        'kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets: [{name: a}, {"name": "s"}]\n  containers:\n  - name: c\n    image: x\n',
    ),
    "already there: untouched": (
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets: [{name: s}]\n  containers: []\n",
        "kind: Pod\napiVersion: v1\nspec:\n  imagePullSecrets: [{name: s}]\n  containers: []\n",
    ),
}


@pytest.mark.parametrize("given,expected", TEXT_CASES.values(), ids=TEXT_CASES.keys())
def test_text(given, expected):
    assert run("rules:\n- imagePullSecrets: {names: [s]}\n", given.encode()).decode() == expected


def test_names_are_templated_and_the_rule_skipped_without_the_variable():
    rules = 'rules:\n- imagePullSecrets: {names: ["{{ pullSecret }}"]}\n  when: "pullSecret is defined"\n'
    assert run(rules) == INPUT
    out = pull_secrets(run(rules, sets=["pullSecret=fromvar"]))
    assert out["Deployment/sync"] == ["fromvar"]


BAD_CONFIGS = {
    "empty name": ("names: ['']", "rules[0].imagePullSecrets.names[0]: a Secret name cannot be empty"),
    "not a DNS name": ("names: [Reg_Cred]", "rules[0].imagePullSecrets.names[0]: 'Reg_Cred' is not a valid Secret name"),
    "no names": ("names: []", "rules[0].imagePullSecrets.names: give at least one Secret name"),
    "bad registry": ("names: [a], registries: ['UPPER.example.com:x']", "rules[0].imagePullSecrets.registries[0]: not a registry"),
    "unknown option": ("names: [a], secrets: [b]", "unknown option 'secrets'"),
}


@pytest.mark.parametrize("options,message", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_config_errors(options, message):
    with pytest.raises(ConfigError) as err:
        load_config_text(CONFIG_HEADER + f"rules:\n- imagePullSecrets: {{{options}}}\n", "test.yaml")
    assert message in str(err.value)


def test_new_key_goes_after_service_account_name_even_after_a_null_key():
    """A key named "null" earlier in the pod spec must not be mistaken for the insertion anchor.
    (Quoted: a plain `null:` is a null key, which Kubernetes refuses; see test_kube_yaml.)"""
    data = (b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  \"null\": 1\n  serviceAccountName: sa\n"
            b"  automountServiceAccountToken: true\n  containers:\n  - name: c\n    image: x\n")
    out = run("rules:\n  - imagePullSecrets: {names: [regcred]}\n", data)
    assert out == data.replace(b"  serviceAccountName: sa\n",
                               b"  serviceAccountName: sa\n  imagePullSecrets:\n  - name: regcred\n")
