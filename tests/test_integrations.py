"""postrender.integrations.plugins without external tools (the e2e tests run the real ones)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from postrender.integrations import plugins as integ

REPO = Path(__file__).resolve().parent.parent


def test_checked_in_repository_plugin_matches_the_generator():
    """plugin.yaml at the root makes `helm plugin install <checkout or git URL>` work."""
    expected = integ.render_helm_plugin()
    assert set(expected) == {"plugin.yaml", "helm-plugin/postrender-helm"}
    for name, text in expected.items():
        assert (REPO / name).read_text() == text, f"regenerate {name}: write_plugin_dir(REPO, render_helm_plugin())"
    for script in ("helm-plugin/postrender-helm", "helm-plugin/bootstrap.py"):
        assert (REPO / script).stat().st_mode & 0o111, script
    plugin = yaml.safe_load(expected["plugin.yaml"])
    assert plugin["runtimeConfig"]["platformHooks"] == {
        "install": [{"command": "${HELM_PLUGIN_DIR}/helm-plugin/bootstrap.py"}],
        "update": [{"command": "${HELM_PLUGIN_DIR}/helm-plugin/bootstrap.py", "args": ["--rebuild"]}],
    }
    # What the bootstrap copies to build the package must exist (LICENSE: pyproject says Apache-2.0).
    assert "Apache License" in (REPO / "LICENSE").read_text()
    assert not (REPO / "helm-plugin" / "plugin.yaml").exists()  # one plugin per repository


def test_generated_plugin_yaml_puts_log_on_the_command_line_and_runs_this_python():
    files = integ.render_helm_plugin(["/opt/my venv/bin/python", "-m", "postrender"], "/c/helm/postrender/postrender.log")
    assert "type: postrenderer/v1" in files["plugin.yaml"]
    assert "- command: ${HELM_PLUGIN_DIR}/postrender-helm\n" in files["plugin.yaml"]
    assert "- '--log-default=/c/helm/postrender/postrender.log'" in files["plugin.yaml"]
    assert "exec '/opt/my venv/bin/python' -m postrender \"$@\"\n" in files["postrender-helm"]
    # Helm 4 hides the plugin's stderr even on failure: errors go to the terminal too.
    assert "POSTRENDER_STDERR=hidden\n" in files["postrender-helm"]
    assert "platformHooks" not in files["plugin.yaml"]  # nothing to set up


def test_default_command_is_this_interpreter():
    assert integ.default_command() == [sys.executable, "-m", "postrender"]


@pytest.mark.parametrize("api_version, kind, expected", [
    ("postrender/v1alpha1", "PostRenderer", "postrender/v1alpha1/postrenderer/PostRenderer"),
    ("v1", "Thing", "v1/thing/Thing"),
])
def test_kustomize_plugin_path(tmp_path, api_version, kind, expected):
    assert integ.kustomize_plugin_path(tmp_path, api_version, kind) == tmp_path / expected


def test_kustomize_plugin_home_prefers_existing_dirs_in_kustomizes_order(tmp_path):
    env = {"HOME": str(tmp_path / "h"), "XDG_CONFIG_HOME": str(tmp_path / "x")}
    assert integ.kustomize_plugin_home(env) == tmp_path / "x" / "kustomize" / "plugin"
    fallback = tmp_path / "h" / ".config" / "kustomize" / "plugin"
    fallback.mkdir(parents=True)
    assert integ.kustomize_plugin_home(env) == fallback
    assert integ.kustomize_plugin_home(dict(env, KUSTOMIZE_PLUGIN_HOME=str(tmp_path / "k"))) == fallback
    (tmp_path / "k").mkdir()
    assert integ.kustomize_plugin_home(dict(env, KUSTOMIZE_PLUGIN_HOME=str(tmp_path / "k"))) == tmp_path / "k"


def test_install_kustomize_plugin_writes_an_executable(tmp_path):
    path = integ.install_kustomize_plugin(command=["/usr/bin/python3", "-m", "postrender"], plugin_home=tmp_path)
    assert path == tmp_path / "postrender" / "v1alpha1" / "postrenderer" / "PostRenderer"
    assert path.stat().st_mode & 0o111
    assert path.read_text().endswith("exec /usr/bin/python3 -m postrender \"$@\"\n")


def test_install_kustomize_plugin_error_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(integ.IntegrationError) as err:
        integ.install_kustomize_plugin(plugin_home=blocker)
    assert "\n" not in str(err.value) and "cannot write the kustomize plugin" in str(err.value)


@pytest.mark.parametrize("action", [integ.install_helm_plugin, integ.uninstall_helm_plugin])
def test_missing_helm_is_a_clear_error(tmp_path, action):
    with pytest.raises(integ.IntegrationError, match="Helm not found"):
        action(str(tmp_path / "no-helm"))


def test_uninstall_kustomize_plugin_removes_the_file_and_its_empty_dirs(tmp_path):
    path = integ.install_kustomize_plugin(plugin_home=tmp_path)
    (tmp_path / "postrender" / "other-kind").mkdir()  # somebody else's: stays
    assert integ.uninstall_kustomize_plugin(plugin_home=tmp_path) == path
    assert not path.exists() and not path.parent.exists()
    assert sorted(p.name for p in (tmp_path / "postrender").iterdir()) == ["other-kind"]
    with pytest.raises(integ.IntegrationError, match="no postrender kustomize plugin there"):
        integ.uninstall_kustomize_plugin(plugin_home=tmp_path)


def test_uninstall_kustomize_plugin_leaves_a_file_it_did_not_write(tmp_path):
    path = integ.kustomize_plugin_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexec my-own-tool \"$@\"\n")
    with pytest.raises(integ.IntegrationError, match="not written by postrender"):
        integ.uninstall_kustomize_plugin(plugin_home=tmp_path)
    assert path.exists()


def test_kustomize_plugin_cli_install_and_uninstall(cli, tmp_path):
    home = tmp_path / "plugins"
    r = cli(["kustomize-plugin", "install", "--plugin-home", str(home)])
    assert r.code == 0, r.err
    assert r.text == f"installed kustomize exec plugin {integ.kustomize_plugin_path(home)}\n"
    r = cli(["kustomize-plugin", "uninstall", "--plugin-home", str(home)])
    assert r.code == 0 and not integ.kustomize_plugin_path(home).exists()
    r = cli(["kustomize-plugin", "uninstall", "--plugin-home", str(home)])
    assert r.code == 2 and r.err.startswith("postrender: error: ") and "no postrender kustomize plugin" in r.err


# ---- kustomize's temporary copy of the config -> the user's file ----------------------------

USER_CONFIG = """\
apiVersion: postrender/v1alpha1
kind: PostRenderer
metadata:
  name: p   # a comment kustomize drops
rules:
  - imagePullPolicy: {policy: Never, onlyIfUnset: yes}
"""
# What kustomize writes to /tmp/kust-plugin-config-NNN for it (keys sorted, flow style gone).
KUSTOMIZE_COPY = """\
apiVersion: postrender/v1alpha1
kind: PostRenderer
metadata:
  name: p
rules:
- imagePullPolicy:
    onlyIfUnset: yes
    policy: Never
"""


@pytest.mark.parametrize("kustomization, copy_text, expect_user_file", [
    ("transformers: [postrender.yaml]\n", KUSTOMIZE_COPY, True),
    ("transformers: [other.yaml, postrender.yaml]\n", KUSTOMIZE_COPY, True),
    ("transformers: [postrender.yaml]\n", KUSTOMIZE_COPY.replace("Never", "Always"), False),  # not the same config
    ("resources: [x.yaml]\n", KUSTOMIZE_COPY, False),                                          # not listed
    ("transformers:\n- |\n  apiVersion: postrender/v1alpha1\n", KUSTOMIZE_COPY, False),       # inline, no file
])
def test_kustomize_copy_is_traced_to_the_users_file(tmp_path, kustomization, copy_text, expect_user_file):
    from postrender.integrations.kustomize_config import user_config

    root = tmp_path / "app"
    root.mkdir()
    (root / "postrender.yaml").write_text(USER_CONFIG)
    (root / "other.yaml").write_text(USER_CONFIG.replace("name: p ", "name: q "))
    (root / "kustomization.yaml").write_text(kustomization)
    copy = tmp_path / "kust-plugin-config-123"
    copy.write_text(copy_text)
    env = {"KUSTOMIZE_PLUGIN_CONFIG_ROOT": str(root)}
    assert user_config(str(copy), env) == (str(root / "postrender.yaml") if expect_user_file else str(copy))
    # Only kustomize's calls are traced: another path, or no kustomize root, stays as it is.
    assert user_config(str(copy), {}) == str(copy)
    (tmp_path / "mine.yaml").write_text(copy_text)
    assert user_config(str(tmp_path / "mine.yaml"), env) == str(tmp_path / "mine.yaml")
