"""Warnings and --explain lines reach a person in every integration (issue 14).

Measured (docs/integrations-notes.md): Helm 3 and `kubectl kustomize` capture a post-renderer's
stderr and show it only when it fails; Helm 4 never shows it; kustomize 4.5.4 passes it through.
So postrender writes notices to the controlling terminal when stderr is not one, and with no
terminal (CI) to a log file.  Each test runs the real tool in a pseudo-terminal, the way a
person types the command, with the tool's own stdout and stderr sent to files: whatever is on
the screen afterwards reached the person although the parent hid postrender's stderr.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import DEMO_CHART, run
from postrender.integrations.plugins import install_helm_plugin, install_kustomize_plugin
from pty_run import run_in_terminal
from tests.conftest import CONFIG_HEADER  # noqa: E402

WARN_RULES = """\
rules:
  - imagePullSecrets: {names: [regcred]}
  - pullSecretReferences: {action: warn}
"""
CONFIG = CONFIG_HEADER + "metadata:\n  name: warn\n" + WARN_RULES
WARNING = "postrender: warning: rules[1] (pullSecretReferences):"
DANGLING = "no Secret 'regcred' with no namespace in the stream"


@pytest.fixture
def env(tool_env):
    """The e2e environment with the terminal allowed (tool_env keeps it off for other tests)."""
    return {k: v for k, v in tool_env.items() if k != "POSTRENDER_TTY"}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "postrender.yaml"
    path.write_text(CONFIG)
    return path


def in_terminal(command: list, env, tmp_path, cwd=None):
    """Run command in a terminal with its stdout/stderr in files: (exit code, screen, stdout, stderr)."""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    line = f"{shlex.join(map(str, command))} >{shlex.quote(str(out))} 2>{shlex.quote(str(err))}"
    result = run_in_terminal(["sh", "-c", line], env, cwd=cwd)
    return result.code, result.screen, out.read_text(), err.read_text()


def helm_template(helm, config, *extra):
    return [helm, "template", "r1", DEMO_CHART, "--post-renderer", "postrender",
            "--post-renderer-args=-c", f"--post-renderer-args={config}", *extra]


def test_helm3_warning_reaches_the_terminal(need_tool, env, config, tmp_path):
    code, screen, out, err = in_terminal(helm_template(need_tool("helm3"), config), env, tmp_path)
    assert code == 0, err
    assert WARNING in screen and DANGLING in screen
    assert WARNING not in err  # Helm 3 dropped postrender's stderr: the terminal is the only way
    assert "kind: Deployment" in out


def test_helm3_explain_reaches_the_terminal(need_tool, env, tmp_path):
    config = tmp_path / "policy.yaml"
    config.write_text(CONFIG_HEADER + "rules:\n"
                      "  - imagePullPolicy: {policy: Never}\n")
    code, screen, _, err = in_terminal(helm_template(need_tool("helm3"), config, "--post-renderer-args=--explain"),
                                       env, tmp_path)
    assert code == 0, err
    assert ("postrender: explain: rules[0] (imagePullPolicy): Deployment/r1-demo: spec.template.spec.containers[0]"
            ".imagePullPolicy: (unset) -> Never") in screen


def test_helm3_error_is_shown_once_by_helm_not_on_the_terminal_too(need_tool, env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG_HEADER + "rules:\n  - imagePullPolicy: {policy: Sometimes}\n")
    code, screen, _, err = in_terminal(helm_template(need_tool("helm3"), bad), env, tmp_path)
    assert code != 0
    assert "postrender: error:" in err and "Sometimes" in err  # Helm 3 prints a failing post-renderer's stderr
    assert "postrender: error:" not in screen


def test_helm3_strict_turns_the_warning_into_a_failure(need_tool, env, config, tmp_path):
    code, screen, out, err = in_terminal(helm_template(need_tool("helm3"), config, "--post-renderer-args=--strict"),
                                         env, tmp_path)
    assert code != 0 and out == ""
    assert "--strict: 3 warning(s) treated as errors; no output written" in err
    assert WARNING in screen


def test_helm4_warning_and_error_reach_the_terminal(need_tool, env, config, postrender_bin, tmp_path):
    helm4 = need_tool("helm4")
    install_helm_plugin(str(helm4), command=[str(postrender_bin / "postrender")], env=env)
    code, screen, out, err = in_terminal(helm_template(helm4, config), env, tmp_path)
    assert code == 0, err
    assert WARNING in screen and DANGLING in screen and WARNING not in err
    # A failure: Helm 4 shows only 'plugin "postrender" exited with error'; the reason is on
    # the terminal (the plugin wrapper says stderr is hidden) and in the log.
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG_HEADER + "rules:\n  - imagePullPolicy: {policy: Sometimes}\n")
    code, screen, _, err = in_terminal(helm_template(helm4, bad), env, tmp_path)
    assert code != 0 and 'plugin "postrender" exited with error' in err and "Sometimes" not in err
    assert "postrender: error:" in screen and "rules[0].imagePullPolicy.policy" in screen


@pytest.mark.parametrize("tool", ["kubectl", "kustomize"])
def test_kustomize_exec_plugin_warning_reaches_the_terminal(need_tool, tool, env, postrender_bin, tmp_path):
    exe = need_tool(tool)
    install_kustomize_plugin(command=[str(postrender_bin / "postrender")], environ=env)
    app = tmp_path / "app"
    app.mkdir()
    (app / "rendered.yaml").write_text(run([need_tool("helm3"), "template", "r1", DEMO_CHART], env, check=True).stdout)
    (app / "postrender.yaml").write_text(CONFIG)
    (app / "kustomization.yaml").write_text("resources: [rendered.yaml]\ntransformers: [postrender.yaml]\n")
    command = [exe, "kustomize", "--enable-alpha-plugins", app] if tool == "kubectl" else [exe, "build", "--enable-alpha-plugins", app]
    code, screen, out, err = in_terminal(command, env, tmp_path)
    assert code == 0, err
    assert WARNING in screen and DANGLING in screen and "imagePullSecrets" in out
    if tool == "kubectl":
        assert WARNING not in err  # kubectl kustomize hides a successful plugin's stderr

    # Nothing redirected: kustomize 4.5.4 passes stderr to the terminal, kubectl kustomize
    # hides it.  Either way the warning is on the screen exactly once per dangling reference.
    result = run_in_terminal([str(c) for c in command], env)
    assert result.code == 0
    lines = [line for line in result.screen.splitlines() if line.startswith(WARNING)]
    assert len(lines) == len(set(lines)) == 5, result.screen[-2000:]  # 5 pod specs, hooks included


def test_kustomize_krm_function_warning_reaches_the_terminal(need_tool, env, postrender_bin, tmp_path):
    kustomize = need_tool("kustomize")
    fn = tmp_path / "fn"
    fn.mkdir()
    (fn / "rendered.yaml").write_text(run([need_tool("helm3"), "template", "r1", DEMO_CHART], env, check=True).stdout)
    (fn / "postrender.yaml").write_text(
        CONFIG_HEADER + "metadata:\n  name: warn\n  annotations:\n"
        f"    config.kubernetes.io/function: |\n      exec:\n        path: {postrender_bin / 'postrender'}\n" + WARN_RULES)
    (fn / "kustomization.yaml").write_text("resources: [rendered.yaml]\ntransformers: [postrender.yaml]\n")
    code, screen, out, err = in_terminal([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", fn], env, tmp_path)
    assert code == 0, err
    assert WARNING in screen and DANGLING in screen
    assert "imagePullSecrets" in out


def test_without_a_terminal_warnings_go_to_the_default_log(need_tool, env, config, tmp_path):
    """CI: no controlling terminal (a new session), Helm 3 drops stderr: the log has the warning."""
    proc = subprocess.run([str(c) for c in helm_template(need_tool("helm3"), config)], env=env, capture_output=True,
                          text=True, start_new_session=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    log = Path(env["XDG_CACHE_HOME"]) / "postrender" / "postrender.log"
    text = log.read_text()
    assert WARNING in text and DANGLING in text
    assert os.stat(log).st_mode & 0o777 == 0o600
