"""The CLI behaves like its neighbours (issue 14): kubectl diff's exit codes, NO_COLOR and
--color, shell completion like helm/kubectl, suggestions for a mistyped command, init."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = b"""---
# Source: demo/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx
---
# Source: demo/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
"""
POLICY = "rules:\n- imagePullPolicy: {policy: IfNotPresent}\n"
ESC = "\x1b["


# ---- diff ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rules, code", [
    (POLICY, 1),                                               # differences
    ("rules:\n- imagePullPolicy: {policy: IfNotPresent, onlyIfUnset: true}\n"
     "  target: {kind: ConfigMap}\n", 0),                      # the rule matches nothing to change
    ("rules: []\n", 0),
    ("rules:\n- imagePullPolicy: {policy: Sometimes}\n", 2),   # config error
    ("rules:\n- allowedRegistries: {registries: [quay.io]}\n", 4),  # a failed check
])
def test_diff_exit_codes_are_kubectl_diffs(cli, tmp_path, rules, code):
    r = cli(["diff", "-c", str(write_config(tmp_path, rules))], DEPLOY)
    assert r.code == code, r.err
    assert bool(r.out) == (code == 1)
    if code == 4:
        assert "check failed" in r.err and r.err.splitlines()[-1] == "postrender: 1 check(s) failed"


def test_diff_on_invalid_input_is_exit_3(cli, tmp_path):
    r = cli(["diff", "-c", str(write_config(tmp_path, POLICY))], b"a: [\n")
    assert r.code == 3 and r.out == b""


def test_diff_has_a_header_per_changed_resource_removed_and_new_ones_included(cli, tmp_path):
    rules = (POLICY + "- patch:\n    strategicMerge: {$patch: delete}\n  target: {kind: ConfigMap}\n"
             "- resources:\n    inline: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: added}\n")
    r = cli(["diff", "-c", str(write_config(tmp_path, rules))], DEPLOY)
    assert r.code == 1, r.err
    headers = [line for line in r.text.splitlines() if line.startswith(("--- input", "+++ output"))]
    assert headers == [
        "--- input: document 1 (demo/templates/deploy.yaml): Deployment/shop/web",
        "+++ output: document 1 (demo/templates/deploy.yaml): Deployment/shop/web",
        "--- input: document 2 (demo/templates/cm.yaml): ConfigMap/settings",
        "+++ output: document 2 (demo/templates/cm.yaml): ConfigMap/settings",
        "--- input: new document: ConfigMap/added",
        "+++ output: new document: ConfigMap/added",
    ]
    assert "-  name: settings" in r.text.splitlines() and "+metadata: {name: added}" in r.text.splitlines()


@pytest.mark.parametrize("args, env, colored", [
    ([], {}, False),                              # auto, stdout is a pipe
    (["--color=always"], {}, True),
    (["--color", "always"], {"NO_COLOR": "1"}, True),  # an explicit flag beats NO_COLOR
    (["--color=never"], {}, False),
    (["--no-color"], {}, False),
])
def test_diff_color_flag(cli, tmp_path, args, env, colored):
    r = cli(["diff", *args, "-c", str(write_config(tmp_path, POLICY))], DEPLOY, env=env)
    assert r.code == 1
    assert (ESC in r.text) == colored
    if colored:
        assert "\x1b[32m+        imagePullPolicy: IfNotPresent\x1b[0m" in r.text


@pytest.mark.parametrize("no_color, colored", [(None, True), ("", True), ("1", False)])
def test_diff_color_auto_on_a_terminal_follows_no_color(tmp_path, no_color, colored):
    from tests.pty_run import run_in_terminal

    cfg = write_config(tmp_path, POLICY)
    stdin = tmp_path / "in.yaml"
    stdin.write_bytes(DEPLOY)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PYTHONPATH=str(ROOT), POSTRENDER_TTY="0")
    if no_color is not None:
        env["NO_COLOR"] = no_color
    result = run_in_terminal([sys.executable, "-m", "postrender", "diff", "-c", str(cfg), "-i", str(stdin)], env)
    assert result.code == 1
    assert (ESC in result.screen) == colored, result.screen


def test_diff_color_rejects_other_values(cli, tmp_path):
    r = cli(["diff", "--color=sometimes", "-c", str(write_config(tmp_path, POLICY))], DEPLOY)
    assert r.code == 2 and "use auto, always, never" in r.err


# ---- completion ----------------------------------------------------------------------------

def complete_in_bash(words: list[str]) -> list[str]:
    """What bash offers for the last word, with the script `postrender completion bash` prints."""
    script = subprocess.run([sys.executable, "-m", "postrender", "completion", "bash"], capture_output=True,
                            text=True, check=True).stdout
    bin_dir = Path(sys.executable).parent
    words_text = " ".join(f"'{w}'" for w in words)
    program = (f"{script}\nCOMP_WORDS=({words_text}); COMP_CWORD={len(words) - 1}\n"
               "_postrender_completion postrender\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = dict(os.environ, PATH=f"{_postrender_bin()}{os.pathsep}{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def _postrender_bin() -> Path:
    """A directory with a `postrender` executable running this checkout (the script calls it)."""
    bin_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"postrender-completion-bin-{os.getuid()}"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "postrender"
    exe.write_text(f"#!/bin/sh\nPYTHONPATH='{ROOT}' exec '{sys.executable}' -m postrender \"$@\"\n")
    exe.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("words, expected", [
    (["postrender", "va"], ["validate"]),
    (["postrender", "diff", "--co"], ["--config", "--color"]),
    (["postrender", "helm-plugin", ""], ["install", "uninstall"]),
    (["postrender", "kustomize-plugin", "un"], ["uninstall"]),
    (["postrender", "completion", ""], []),
])
def test_bash_completion_completes(words, expected):
    assert complete_in_bash(words) == expected


def test_bash_completion_offers_every_command():
    from postrender.runner import SUBCOMMANDS

    assert complete_in_bash(["postrender", ""]) == list(SUBCOMMANDS)


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o default -F _postrender_completion postrender"),
                                           ("zsh", "#compdef postrender"),
                                           ("fish", "complete --command postrender")])
def test_completion_prints_a_script_per_shell(cli, shell, marker):
    r = cli(["completion", shell])
    assert r.code == 0 and marker in r.text and "_POSTRENDER_COMPLETE" in r.text


@pytest.mark.parametrize("instruction, args, expected", [
    ("complete_zsh", "postrender va", "validate"),
    ("complete_fish", "postrender va", "validate"),
])
def test_zsh_and_fish_scripts_get_answers(cli, instruction, args, expected):
    """What the zsh and fish scripts run on TAB (the shells themselves are not installed here)."""
    env = {"_POSTRENDER_COMPLETE": instruction, "_TYPER_COMPLETE_ARGS": args, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    r = cli([], env=env)
    assert r.code == 0 and expected in r.text


def test_completion_of_an_unknown_shell_is_a_usage_error(cli):
    r = cli(["completion", "tcsh"])
    assert r.code == 2 and r.err == "postrender: error: completion 'tcsh': use bash, zsh, fish\n"


def test_the_fast_paths_command_list_is_the_apps():
    import typer

    from postrender.cli import app
    from postrender.runner import SUBCOMMANDS

    assert list(typer.main.get_command(app).commands) == list(SUBCOMMANDS)


# ---- mistyped commands ---------------------------------------------------------------------

@pytest.mark.parametrize("word, message", [
    ("vaildate", "unknown command 'vaildate'; did you mean 'validate'?"),
    ("difff", "unknown command 'difff'; did you mean 'diff'?"),
    ("helm-plugins", "unknown command 'helm-plugins'; did you mean 'helm-plugin'?"),
    ("frobnicate", "unknown command 'frobnicate'; commands: run, diff, images, lock, mirror, validate, schema, init,"
                   " completion, helm-plugin, kustomize-plugin"),
])
def test_a_mistyped_command_gets_a_suggestion(cli, tmp_path, word, message):
    r = cli([word, "-c", "x.yaml"], cwd=tmp_path)
    assert r.code == 2 and r.out == b""
    assert r.err.startswith(f"postrender: error: {message}") and r.err.count("\n") == 1, r.err


def test_a_missing_config_path_is_still_named_as_a_file(cli, tmp_path):
    r = cli(["conf/missing.yaml"], DEPLOY, cwd=tmp_path)
    assert r.code == 2 and r.err == "postrender: error: conf/missing.yaml: config file not found\n"


# ---- init ------------------------------------------------------------------------------------

def test_init_dash_prints_only_a_valid_config(cli, tmp_path):
    r = cli(["init", "-"])
    assert r.code == 0 and r.err == ""
    assert r.text.startswith("# postrender config") and "wrote" not in r.text
    (tmp_path / "p.yaml").write_bytes(r.out)
    assert cli(["validate", "-c", str(tmp_path / "p.yaml")]).code == 0


@pytest.mark.parametrize("args, message", [
    (["init", "{tmp}"], "{tmp} is a directory; name the file to write, e.g. {tmp}/postrender.yaml"),
    (["init", "--force", "{tmp}"], "{tmp} is a directory; name the file to write, e.g. {tmp}/postrender.yaml"),
    (["init", "{tmp}/no/such/dir/p.yaml"], "{tmp}/no/such/dir/p.yaml: the directory {tmp}/no/such/dir does not exist;"
                                           " create it first"),
    (["init", "{tmp}/exists.yaml"], "{tmp}/exists.yaml exists; pass --force to overwrite it"),
])
def test_init_errors_are_one_clean_line(cli, tmp_path, args, message):
    (tmp_path / "exists.yaml").write_text("keep me\n")
    r = cli([a.format(tmp=tmp_path) for a in args])
    assert r.code == 2 and r.out == b""
    assert r.err == f"postrender: error: {message.format(tmp=tmp_path)}\n"
    assert (tmp_path / "exists.yaml").read_text() == "keep me\n"


def test_init_force_overwrites_a_file(cli, tmp_path):
    target = tmp_path / "exists.yaml"
    target.write_text("old\n")
    r = cli(["init", "--force", str(target)])
    assert r.code == 0 and r.text == f"wrote {target}\n"
    assert target.read_text().startswith("# postrender config")


def test_schema_is_json(cli):
    assert json.loads(cli(["schema"]).text)["title"] == "postrender config"
