"""postrender.integrations.krm: ResourceList in, ResourceList out (kustomize/kpt exec functions)."""

from __future__ import annotations

import yaml

from postrender.integrations.krm import evaluate, is_resource_list, run_resource_list

CONFIG = """\
  apiVersion: postrender/v1alpha1
  kind: PostRenderer
  metadata:
    name: pr
    annotations:
      config.kubernetes.io/local-config: 'true'
  rules:
  - imagePullPolicy:
      policy: {policy}
"""

ITEMS = """\
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: p
    annotations:
      config.kubernetes.io/index: '0'
      mode: 0755
      when: 2024-01-01
      flag: "on"
  spec:
    containers:
    - name: c
      image: nginx
"""


def resource_list(policy="Never", function_config=True):
    head = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
    return head + ITEMS + ("functionConfig:\n" + CONFIG.format(policy=policy) if function_config else "")


def test_function_config_is_the_config_and_scalars_keep_their_text():
    out, code = run_resource_list(resource_list().encode())
    assert code == 0
    text = out.decode()
    assert text.startswith("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n")
    (pod,) = yaml.safe_load(text)["items"]
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    # Not reinterpreted through Python values: octal-looking, date and YAML 1.1 bool stay as written.
    assert "mode: 0755\n" in text and "when: 2024-01-01\n" in text and "flag: \"on\"\n" in text
    assert "config.kubernetes.io/index: '0'" in text
    assert "results" not in yaml.safe_load(text)


def test_config_error_is_an_error_result_with_items_unchanged():
    outcome = evaluate(resource_list(policy="Sometimes"))
    assert outcome.exit_code == 2
    doc = yaml.safe_load(outcome.output)
    (result,) = doc["results"]
    assert result["severity"] == "error" and "Sometimes" in result["message"]
    assert "imagePullPolicy" not in doc["items"][0]["spec"]["containers"][0]
    assert outcome.results == [("error", result["message"])]


def test_configmap_function_config_names_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "pr.yaml").write_text(CONFIG.format(policy="Always").replace("\n  ", "\n").lstrip())
    monkeypatch.chdir(tmp_path)
    rl = resource_list(function_config=False) + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    config: pr.yaml\n"
    out, code = run_resource_list(rl)
    assert code == 0
    assert yaml.safe_load(out)["items"][0]["spec"]["containers"][0]["imagePullPolicy"] == "Always"


def test_no_function_config_uses_the_fallback_or_says_what_is_missing():
    outcome = evaluate(resource_list(function_config=False))
    assert outcome.exit_code == 2
    assert "no functionConfig" in outcome.results[0][1]


def test_empty_items():
    out, code = run_resource_list("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n"
                                  + CONFIG.format(policy="Never"))
    assert code == 0
    assert yaml.safe_load(out)["items"] == []


def test_not_a_resource_list():
    assert evaluate("kind: Deployment\n").exit_code == 3
    assert not is_resource_list("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {kind: ResourceList}}\n")
    assert is_resource_list(resource_list())
    assert not is_resource_list("---\nkind: Pod\n---\nkind: ResourceList\n")
