"""postrender.integrations.plugins without external tools (the e2e tests run the real ones)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from postrender.integrations import plugins as integ

REPO = Path(__file__).resolve().parent.parent


def test_checked_in_helm_plugin_matches_the_generator():
    expected = integ.render_helm_plugin()
    for name, text in expected.items():
        assert (REPO / "helm-plugin" / name).read_text() == text, f"regenerate helm-plugin/{name}"
    assert (REPO / "helm-plugin" / integ.HELM_WRAPPER).stat().st_mode & 0o111


def test_generated_plugin_yaml_puts_log_on_the_command_line_and_runs_this_python():
    files = integ.render_helm_plugin(["/opt/my venv/bin/python", "-m", "postrender"], "/c/helm/postrender/postrender.log")
    assert "type: postrenderer/v1" in files["plugin.yaml"]
    assert "- command: ${HELM_PLUGIN_DIR}/postrender-helm\n" in files["plugin.yaml"]
    assert "- '--log-default=/c/helm/postrender/postrender.log'" in files["plugin.yaml"]
    assert "exec '/opt/my venv/bin/python' -m postrender \"$@\"\n" in files["postrender-helm"]


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


def test_helm_plugin_source_dir_must_be_named_postrender(tmp_path):
    with pytest.raises(integ.IntegrationError, match="must be named 'postrender'"):
        integ.install_helm_plugin("helm", source_dir=tmp_path / "other", run=lambda *a, **k: None)


def test_missing_helm_is_a_clear_error(tmp_path):
    with pytest.raises(integ.IntegrationError, match="Helm not found"):
        integ.install_helm_plugin(str(tmp_path / "no-helm"), source_dir=tmp_path / "postrender")
