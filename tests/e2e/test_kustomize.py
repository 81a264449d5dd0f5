"""kustomize with the real binaries: legacy exec transformer plugin and KRM exec function.

- Legacy exec plugin (kubectl kustomize 5.7.1 and kustomize 4.5.4, `--enable-alpha-plugins`):
  the postrender config listed under `transformers:` is the plugin config; kustomize runs
  `<plugin home>/postrender/v1alpha1/postrenderer/PostRenderer /tmp/kust-plugin-config-NNN`.
- KRM function (kustomize 4.5.4 `--enable-alpha-plugins --enable-exec`; kubectl kustomize
  silently skips exec functions): the config carries `config.kubernetes.io/function:
  exec: {path: ...}` and postrender gets a ResourceList on stdin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_helpers import BAD_CONFIG, PULL_POLICY_CONFIG, REPO, by_kind_name, documents, pull_policies, run
from postrender.integrations.plugins import install_kustomize_plugin

CORPUS_FILE = REPO.parent / "shared" / "corpus" / "files" / "kube-flannel.yml"


@pytest.fixture
def plugin(tool_env, postrender_bin) -> Path:
    return install_kustomize_plugin(command=[str(postrender_bin / "postrender")], environ=tool_env)


def kustomization(directory: Path, resources: list[str], transformer: str, config_text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / transformer).write_text(config_text)
    (directory / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"  - {r}\n" for r in resources) + f"transformers:\n  - {transformer}\n"
    )
    return directory


@pytest.fixture
def helm_create_render(need_tool, tool_env, tmp_path) -> str:
    """A `helm create` chart rendered by Helm 4 (no post-renderer): typical kustomize input."""
    helm = need_tool("helm4")
    run([helm, "create", "mychart"], tool_env, cwd=tmp_path, check=True)
    return run([helm, "template", "r1", "./mychart"], tool_env, cwd=tmp_path, check=True).stdout


def test_plugin_lands_where_kustomize_looks(plugin, tool_env):
    assert plugin == Path(tool_env["XDG_CONFIG_HOME"]) / "kustomize" / "plugin" / "postrender" / "v1alpha1" / "postrenderer" / "PostRenderer"
    assert plugin.stat().st_mode & 0o111


@pytest.mark.parametrize("tool", ["kubectl", "kustomize"])
def test_legacy_exec_plugin_on_helm_create_render(need_tool, tool, plugin, tool_env, tmp_path, helm_create_render):
    exe = need_tool(tool)
    app = kustomization(tmp_path / "app", ["rendered.yaml"], "postrender.yaml",
                        PULL_POLICY_CONFIG.format(policy="Always"))
    (app / "rendered.yaml").write_text(helm_create_render)
    cmd = [exe, "kustomize", "--enable-alpha-plugins", app] if tool == "kubectl" else [exe, "build", "--enable-alpha-plugins", app]
    proc = run(cmd, tool_env)
    assert proc.returncode == 0, proc.stderr
    objs = by_kind_name(documents(proc.stdout))
    assert pull_policies(objs["Deployment", "r1-mychart"]) == ["Always"]
    assert pull_policies(objs["Pod", "r1-mychart-test-connection"]) == ["Always"]
    # kustomize's own bookkeeping annotation must have made the round trip and been removed.
    assert "kustomize.config.k8s.io/id" not in proc.stdout


def test_legacy_exec_plugin_on_corpus_file(need_tool, plugin, tool_env, tmp_path):
    if not CORPUS_FILE.is_file():
        pytest.fail(f"corpus file missing: {CORPUS_FILE} (the shared corpus must sit beside the repo)")
    kubectl = need_tool("kubectl")
    app = kustomization(tmp_path / "app", ["flannel.yml"], "postrender.yaml", PULL_POLICY_CONFIG.format(policy="Never"))
    (app / "flannel.yml").write_bytes(CORPUS_FILE.read_bytes())
    without = tmp_path / "plain"
    without.mkdir()
    (without / "flannel.yml").write_bytes(CORPUS_FILE.read_bytes())
    (without / "kustomization.yaml").write_text("resources:\n  - flannel.yml\n")
    before = documents(run([kubectl, "kustomize", without], tool_env, check=True).stdout)
    after = documents(run([kubectl, "kustomize", "--enable-alpha-plugins", app], tool_env, check=True).stdout)
    assert len(after) == len(before)
    (ds,) = [d for d in after if d["kind"] == "DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    assert {c.get("imagePullPolicy") for c in spec["containers"] + spec.get("initContainers", [])} == {"Never"}
    # Everything but the pull policies is as kustomize renders it without the plugin.
    def strip(doc):
        if doc["kind"] == "DaemonSet":
            for c in doc["spec"]["template"]["spec"]["containers"] + doc["spec"]["template"]["spec"].get("initContainers", []):
                c.pop("imagePullPolicy", None)
        return doc
    assert [strip(d) for d in after] == [strip(d) for d in before]


def test_legacy_exec_plugin_failure_is_shown_by_kustomize(need_tool, plugin, tool_env, tmp_path):
    kubectl = need_tool("kubectl")
    app = kustomization(tmp_path / "app", ["cm.yaml"], "postrender.yaml", BAD_CONFIG)
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    proc = run([kubectl, "kustomize", "--enable-alpha-plugins", app], tool_env)
    assert proc.returncode != 0
    assert "postrender: error:" in proc.stderr and "Sometimes" in proc.stderr


def test_plugin_config_without_metadata_name_is_rejected_by_kustomize(need_tool, plugin, tool_env, tmp_path):
    """Why the README's kustomize recipe insists on metadata.name."""
    kubectl = need_tool("kubectl")
    nameless = PULL_POLICY_CONFIG.format(policy="Always").replace(
        "metadata:\n  name: pull-policy   # kustomize requires a name when this file is a plugin config\n", "")
    app = kustomization(tmp_path / "app", ["cm.yaml"], "postrender.yaml", nameless)
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    proc = run([kubectl, "kustomize", "--enable-alpha-plugins", app], tool_env)
    assert proc.returncode != 0
    assert "missing metadata.name" in proc.stderr


KRM_CONFIG = """\
apiVersion: postrender/v1alpha1
kind: PostRenderer
metadata:
  name: pull-policy
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: {exe}
rules:
  - imagePullPolicy: {{policy: {policy}}}
"""


@pytest.mark.parametrize("file_name", ["postrender.yaml", "fn-config.yaml"])
def test_krm_exec_function_reads_function_config(need_tool, tool_env, postrender_bin, tmp_path, helm_create_render, file_name):
    """fn-config.yaml: no ./postrender.yaml to fall back on, the functionConfig is the config."""
    kustomize = need_tool("kustomize")
    app = kustomization(tmp_path / "app", ["rendered.yaml"], file_name,
                        KRM_CONFIG.format(exe=postrender_bin / "postrender", policy="Never"))
    (app / "rendered.yaml").write_text(helm_create_render)
    proc = run([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", app], tool_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    objs = by_kind_name(documents(proc.stdout))
    assert pull_policies(objs["Deployment", "r1-mychart"]) == ["Never"]
    assert "config.kubernetes.io/function" not in proc.stdout  # the transformer config is not output


def test_krm_exec_function_error_fails_the_build(need_tool, tool_env, postrender_bin, tmp_path):
    kustomize = need_tool("kustomize")
    app = kustomization(tmp_path / "app", ["cm.yaml"], "fn-config.yaml",
                        KRM_CONFIG.format(exe=postrender_bin / "postrender", policy="Sometimes"))
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    proc = run([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", app], tool_env, cwd=tmp_path)
    assert proc.returncode != 0
    assert "Sometimes" in proc.stderr


def test_kubectl_kustomize_silently_skips_krm_exec_functions(need_tool, tool_env, postrender_bin, tmp_path):
    """Pins the reason the README sends KRM users to standalone kustomize."""
    kubectl = need_tool("kubectl")
    app = kustomization(tmp_path / "app", ["cm.yaml"], "fn-config.yaml",
                        KRM_CONFIG.format(exe=postrender_bin / "postrender", policy="Sometimes"))
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: x\n")
    proc = run([kubectl, "kustomize", "--enable-alpha-plugins", app], tool_env)
    assert proc.returncode == 0, proc.stderr
    assert "imagePullPolicy" not in proc.stdout
