"""The kustomize exec plugin with kustomize's own plugin-config fields and the user's file.

kustomize (kubectl kustomize 5.7.1 and kustomize 4.5.4) runs the plugin as `PostRenderer
/tmp/kust-plugin-config-NNN ARGS`, ARGS from the config's `argsOneLiner` (split on spaces) or
`argsFromFile` (one per line, relative to the kustomization), with KUSTOMIZE_PLUGIN_CONFIG_ROOT
set to the kustomization's directory.  postrender accepts both fields and reads the user's config
file, not the temporary copy: errors name it and template paths resolve next to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_helpers import by_kind_name, documents, pull_policies, run
from postrender.integrations.plugins import install_kustomize_plugin
from tests.conftest import CONFIG_HEADER  # noqa: E402

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: nginx
"""


@pytest.fixture
def plugin(tool_env, postrender_bin) -> Path:
    return install_kustomize_plugin(command=[str(postrender_bin / "postrender")], environ=tool_env)


def build(need_tool, tool: str, app: Path, env):
    exe = need_tool(tool)
    cmd = [exe, "kustomize", "--enable-alpha-plugins", app] if tool == "kubectl" else [exe, "build", "--enable-alpha-plugins", app]
    return run(cmd, env)


def app_dir(tmp_path: Path, config: str, **files: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "deployment.yaml").write_text(DEPLOYMENT)
    (app / "postrender.yaml").write_text(config)
    (app / "kustomization.yaml").write_text("resources: [deployment.yaml]\ntransformers: [postrender.yaml]\n")
    for name, text in files.items():
        (app / name.replace("__", ".")).write_text(text)
    return app


HEAD = CONFIG_HEADER + "metadata:\n  name: p\n"
POLICY_RULE = "rules:\n  - imagePullPolicy: {policy: \"{{ policy }}\"}\n"


@pytest.mark.parametrize("tool", ["kubectl", "kustomize"])
def test_args_one_liner(need_tool, tool, plugin, tool_env, tmp_path):
    app = app_dir(tmp_path, HEAD + "argsOneLiner: --set policy=Never --strict\n" + POLICY_RULE)
    proc = build(need_tool, tool, app, tool_env)
    assert proc.returncode == 0, proc.stderr
    assert pull_policies(by_kind_name(documents(proc.stdout))["Deployment", "web"]) == ["Never"]


@pytest.mark.parametrize("tool", ["kubectl", "kustomize"])
def test_args_from_file_with_set_file(need_tool, tool, plugin, tool_env, tmp_path):
    app = app_dir(tmp_path, HEAD + "argsFromFile: args.txt\n" + POLICY_RULE,
                  args__txt="--set-file\npolicy=policy.txt\n", policy__txt="Always\n")
    proc = build(need_tool, tool, app, tool_env)
    assert proc.returncode == 0, proc.stderr
    assert pull_policies(by_kind_name(documents(proc.stdout))["Deployment", "web"]) == ["Always"]


@pytest.mark.parametrize("tool", ["kubectl", "kustomize"])
def test_errors_name_the_users_config_not_kustomizes_copy(need_tool, tool, plugin, tool_env, tmp_path):
    app = app_dir(tmp_path, HEAD + "# a comment kustomize drops, so lines differ in its copy\n"
                  "rules:\n  - imagePullPolicy: {policy: Sometimes}\n")
    proc = build(need_tool, tool, app, tool_env)
    assert proc.returncode != 0
    assert f"postrender: error: {app / 'postrender.yaml'}:7:23: rules[0].imagePullPolicy.policy: must be one of" in proc.stderr
    # (kustomize itself still says which temporary file it passed; postrender's line does not)
    assert "kust-plugin-config" not in proc.stderr.split("postrender: error:", 1)[1].splitlines()[0]


@pytest.mark.parametrize("tool", ["kubectl", "kustomize"])
def test_templates_resolve_next_to_the_users_config(need_tool, tool, plugin, tool_env, tmp_path):
    app = app_dir(tmp_path, HEAD + "rules:\n  - resources: {template: extra.yaml.j2}\n",
                  extra__yaml__j2="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
    proc = build(need_tool, tool, app, tool_env)
    assert proc.returncode == 0, proc.stderr
    assert ("ConfigMap", "extra") in by_kind_name(documents(proc.stdout))
