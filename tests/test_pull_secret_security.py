"""Credentials never leave through stderr, --explain, diff, the log file or errors (issue 4)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_config

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_bytes()
PASSWORD = "pl4nted-Pa55w0rd-7f3e9c"
RULES = """\
rules:
- imagePullSecrets: {names: ["{{ pullSecret }}"]}
  when: "pullSecret is defined"
- pullSecret:
    name: "{{ pullSecret }}"
    credentials: {password: regpw}    # a name the sensitive-name heuristic does not catch
  when: "pullSecret is defined"
- pullSecretReferences: {action: warn}
"""


def forms(secret: str) -> list[str]:
    """The password as it could leak: plain, base64 alone, inside base64 of username:password."""
    return [secret, base64.b64encode(secret.encode()).decode(), base64.b64encode(f"bob:{secret}".encode()).decode()]


def assert_clean(text: str) -> None:
    for form in forms(PASSWORD):
        assert form not in text


@pytest.fixture
def setup(tmp_path):
    config = write_config(tmp_path, RULES)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    values = tmp_path / "values.yaml"
    values.write_text("pullSecret: regcred\nregistry: registry.example.com\nusername: bob\n")
    return tmp_path, ["-c", str(config), "-f", str(values), "--set-file", f"regpw={pw}", "--log-file", str(tmp_path / "log")]


def test_run_explain_and_log_never_show_the_password(setup):
    tmp_path, args = setup
    r = run_cli(["run", "--explain", *args], INPUT)
    assert r.code == 0
    # The output does carry the credentials (that is its job) ...
    assert b".dockerconfigjson: " in r.out and r.text.count("kind: Secret") == 3
    # ... nothing else does.
    assert "explain: rules[1] (pullSecret): Secret/tools/" in r.err and "generated; data not shown" in r.err
    assert_clean(r.err)
    assert_clean((tmp_path / "log").read_text())
    assert "pullSecretReferences" in r.err  # corp-registry dangles: the warning path ran too


def test_diff_hides_secret_data(setup):
    tmp_path, args = setup
    out = run_cli(["run", *args], INPUT).text
    blobs = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("  .dockerconfigjson: ")]
    assert len(blobs) == 3 and all(PASSWORD in base64.b64decode(b).decode() for b in blobs[1:])
    r = run_cli(["diff", "--no-color", *args], INPUT)
    assert r.code == 1  # differences, as kubectl diff says it
    for blob in blobs:
        assert blob not in r.text
    assert "+  .dockerconfigjson: <redacted, changed>" in r.text
    # The Secret already in the input is redacted too, unchanged.
    assert ".dockerconfigjson: e30=" not in r.text
    assert_clean(r.text)
    assert_clean(r.err)
    assert_clean((tmp_path / "log").read_text())


def test_template_errors_do_not_quote_credentials(tmp_path):
    (tmp_path / "t.j2").write_text("apiVersion: v1\nkind: Secret\ndata: [{{ password }}\n")
    config = write_config(tmp_path, "rules:\n- imagePullSecrets: {names: [r]}\n- pullSecret: {name: r, template: t.j2}\n")
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    r = run_cli(["run", "-c", str(config), "--set-file", f"password={pw}", "--log-file", str(tmp_path / "log")], INPUT)
    assert r.code == 2 and r.out == b""
    assert "rendered document 1 is not valid YAML" in r.err and len(r.err.strip().splitlines()) == 1
    assert_clean(r.err)
    assert_clean((tmp_path / "log").read_text())


def test_templates_cannot_reach_python_internals(tmp_path):
    for body in ("{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}", "{{ lipsum.__globals__ }}"):
        config = write_config(tmp_path, "rules:\n- resources:\n    inline: \"" + body + "\"\n")
        r = run_cli(["run", "-c", str(config)], INPUT)
        assert r.code == 2 and r.out == b""
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
        assert r.err.startswith("postrender: error: ") and "unsafe" in r.err
