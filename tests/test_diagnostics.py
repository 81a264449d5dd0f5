"""Where diagnostics go (engine/output.py Diagnostics), with the real process in a real pty.

The e2e tests (tests/e2e/test_terminal_diagnostics.py) check the same through Helm and
kustomize; these pin each routing rule on its own, fast.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.pty_run import run_in_terminal

STREAM = b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      imagePullSecrets: [{name: regcred}]
      containers:
      - name: app
        image: nginx
"""
WARN = "rules:\n- pullSecretReferences: {action: warn}\n"
BAD = "rules:\n- imagePullPolicy: {policy: Sometimes}\n"
WARNING = "postrender: warning: rules[0] (pullSecretReferences): document 1: Deployment/web"
ERROR = "postrender: error:"


def base_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return env


def default_log(tmp_path) -> Path:
    return tmp_path / "cache" / "postrender" / "postrender.log"


@pytest.mark.parametrize("body, stderr_to_file, extra_env, on_screen, in_stderr", [
    # stderr hidden (a file here; a pipe Helm drops in real life): notices go to the terminal
    (WARN, True, {}, [WARNING], [WARNING]),
    # stderr is the terminal: once, not twice
    (WARN, False, {}, [WARNING], None),
    # the terminal can be turned off
    (WARN, True, {"POSTRENDER_TTY": "0"}, [], [WARNING]),
    # errors stay on stderr: Helm 3 and kustomize print a failing plugin's stderr themselves
    (BAD, True, {}, [], [ERROR]),
    # ... unless the parent hides stderr even on failure (the Helm 4 plugin wrapper says so)
    (BAD, True, {"POSTRENDER_STDERR": "hidden"}, [ERROR], [ERROR]),
])
def test_terminal_routing(tmp_path, body, stderr_to_file, extra_env, on_screen, in_stderr):
    cfg = write_config(tmp_path, body)
    stdin = tmp_path / "in.yaml"
    stdin.write_bytes(STREAM)
    err = tmp_path / "err.txt"
    command = f"{shlex.quote(sys.executable)} -m postrender -c {shlex.quote(str(cfg))} < {shlex.quote(str(stdin))} > /dev/null"
    if stderr_to_file:
        command += f" 2> {shlex.quote(str(err))}"
    result = run_in_terminal(["sh", "-c", command], {**base_env(tmp_path), **extra_env})
    lines = result.screen.splitlines()
    for expected in on_screen:
        assert sum(line.startswith(expected) for line in lines) == 1, result.screen
    if not on_screen:
        assert not any(line.startswith("postrender:") for line in lines), result.screen
    if in_stderr is not None:
        text = err.read_text()
        assert all(e in text for e in in_stderr)
    # The default log is for runs whose notices reach no terminal.
    assert default_log(tmp_path).exists() == ("POSTRENDER_TTY" in extra_env)


def run_detached(args, tmp_path, env_extra=None) -> subprocess.CompletedProcess:
    """No controlling terminal (a new session) and stderr a pipe: what CI and Argo CD look like."""
    return subprocess.run([sys.executable, "-m", "postrender", *args], input=STREAM, capture_output=True,
                          env={**base_env(tmp_path), **(env_extra or {})}, start_new_session=True, timeout=60)


def test_without_a_terminal_every_line_goes_to_the_default_log(tmp_path):
    cfg = write_config(tmp_path, WARN)
    proc = run_detached(["-c", str(cfg), "--explain"], tmp_path)
    assert proc.returncode == 0
    log = default_log(tmp_path).read_text()
    assert WARNING in log and WARNING in proc.stderr.decode()
    assert oct(default_log(tmp_path).stat().st_mode & 0o777) == "0o600"
    bad = write_config(tmp_path, BAD, "bad.yaml")
    assert run_detached(["-c", str(bad)], tmp_path).returncode == 2
    assert f"{ERROR} {bad}:4:21: rules[0].imagePullPolicy.policy" in default_log(tmp_path).read_text()


@pytest.mark.parametrize("how", ["--log-file", "POSTRENDER_LOG"])
def test_a_chosen_log_replaces_the_default_one(tmp_path, how):
    cfg = write_config(tmp_path, WARN)
    chosen = tmp_path / "chosen.log"
    args, env = (["--log-file", str(chosen)], None) if how == "--log-file" else ([], {"POSTRENDER_LOG": str(chosen)})
    assert run_detached(["-c", str(cfg), *args], tmp_path, env).returncode == 0
    assert WARNING in chosen.read_text()
    assert not default_log(tmp_path).exists()


@pytest.mark.parametrize("args, env, code", [
    ([], {}, 0),
    (["--strict"], {}, 1),
    ([], {"POSTRENDER_STRICT": "1"}, 1),
    (["run", "--strict"], {}, 1),
])
def test_strict_makes_warnings_fail(cli, tmp_path, args, env, code):
    cfg = write_config(tmp_path, WARN)
    r = cli([*args, "-c", str(cfg)], STREAM, env=env)
    assert r.code == code, r.err
    assert WARNING in r.err
    if code:
        assert r.out == b""
        assert r.err.splitlines()[-1] == "postrender: error: --strict: 1 warning(s) treated as errors; no output written"
    else:
        assert r.out == STREAM


def test_strict_without_warnings_changes_nothing(cli, tmp_path):
    cfg = write_config(tmp_path, "rules:\n- imagePullSecrets: {names: [other]}\n")
    r = cli(["--strict", "-c", str(cfg)], STREAM)
    assert (r.code, r.err) == (0, "")
