"""A planted password never leaves through any channel but `run`'s stdout (issue 7).

Table-driven: every way a credential gets in (config vars, --set, --set-file, --values,
POSTRENDER_VAR_*, KRM functionConfig) x every way postrender reports (stderr of run/diff/images/
validate/--explain, --log-file, $POSTRENDER_LOG, the Helm 4 wrapper's log, KRM results, the
error of a failed run: a template that quotes the password, a failed check, bad input, an
internal error).  The password is unique, so a plain substring search is a proof; it is also
searched as base64, inside base64("bob:password"), and inside the generated .dockerconfigjson
and its base64.  tests/test_pull_secret_security.py covers the pullSecret happy paths.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, write_config

DATA = Path(__file__).parent / "data"
# The chart's stream plus a Secret of its own, which one failure mode patches.
INPUT = (DATA / "pull-secrets.yaml").read_bytes() + b"---\napiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: tools}\n"
PASSWORD = "Zq7-leak-canary-PW-91f3c2e8"
REGISTRY = "registry.example.com"
DOCKERCONFIG = json.dumps({"auths": {REGISTRY: {"username": "bob", "password": PASSWORD,
                                                "auth": base64.b64encode(f"bob:{PASSWORD}".encode()).decode()}}},
                          separators=(",", ":"))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Every form the password could leak as.
FORMS = {
    "plain": PASSWORD,
    "base64": b64(PASSWORD),
    "base64(user:password)": b64(f"bob:{PASSWORD}"),
    ".dockerconfigjson": DOCKERCONFIG,
    "base64(.dockerconfigjson)": b64(DOCKERCONFIG),
}


def leaks(text: str) -> list[str]:
    return [name for name, form in FORMS.items() if form in text]


RULES = """\
rules:
- imagePullSecrets: {names: ["{{ pullSecret }}"]}
- pullSecret: {name: "{{ pullSecret }}"}
- pullSecretReferences: {action: warn}
"""
# Extra rules appended per failure mode.
FAILURES = {
    "ok": "",
    # ValueError("'<password>' is not in list"): the raw exception text quotes the value.
    "template error at load": "- resources: {inline: \"{{ [].index(password) }}\"}\n",
    "template error in when": "- imagePullPolicy: {policy: Always}\n  when: \"[].index(password) > 0\"\n",
    "patch error at run": (
        "- patch: {merge: \"{{ [].index(password) }}\"}\n  target: {kind: Deployment}\n"),
    # The image, and so the check-failure message, contains the password.
    "check failed": (
        "- patch:\n    json6902: [{op: replace, path: /spec/template/spec/containers/0/image,"
        " value: \"evil.example.com/x:{{ password }}\"}]\n  target: {kind: Deployment, name: sync}\n"
        "- allowedRegistries: {registries: [registry.example.com, docker.io], action: error}\n"),
    # The explain line of a patch that writes a Secret's data.
    "explain of a Secret edit": (
        "- patch: {merge: {stringData: {token: \"{{ password }}\"}}}\n  target: {kind: Secret, name: app}\n"),
}
CHANNELS = ["config vars", "--set", "--set-file", "--values", "POSTRENDER_VAR_", "KRM functionConfig"]


def setup_channel(tmp_path: Path, channel: str, extra_rules: str):
    """(config path, extra argv, env, stdin) with the password coming in through channel."""
    from tests.test_secret_matrix import bring_in

    lines, args, env = bring_in(tmp_path, channel, PASSWORD, PASSWORD, file_ending=b"\n")
    common = f"vars:\n  pullSecret: regcred\n  registry: {REGISTRY}\n  username: bob\n" + lines
    config = write_config(tmp_path, common + RULES + extra_rules)
    stdin = INPUT
    if channel == "KRM functionConfig":
        import yaml

        items = [d for d in yaml.safe_load_all(INPUT) if d]
        function_config = yaml.safe_load(config.read_text())
        stdin = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
                                "items": items, "functionConfig": function_config}).encode()
        return None, args, env, stdin
    return config, args, env, stdin


def channels_text(tmp_path: Path, result) -> dict[str, str]:
    """Every channel but run's stdout, by name."""
    out = {"stderr": result.err}
    for log in ("env.log", "file.log"):
        if (tmp_path / log).exists():
            out[log] = (tmp_path / log).read_text()
    return out


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("channel", CHANNELS)
def test_run_and_explain_never_leak(tmp_path, channel, failure):
    config, args, env, stdin = setup_channel(tmp_path, channel, FAILURES[failure])
    argv = ["run", "--explain", *args] + (["-c", str(config)] if config else [])
    # Half the runs log through --log-file, the others through $POSTRENDER_LOG.
    if (CHANNELS.index(channel) + list(FAILURES).index(failure)) % 2:
        argv += ["--log-file", str(tmp_path / "file.log")]
    r = run_cli(argv, stdin, env=env)
    seen = channels_text(tmp_path, r)
    assert "Traceback" not in r.err
    if channel == "KRM functionConfig":
        import yaml

        listing = yaml.safe_load(r.out)
        results = listing.get("results") or []
        seen["KRM results"] = json.dumps(results)
        if failure == "ok" or failure == "explain of a Secret edit":
            assert r.code == 0
            # The items carry the Secret (like run's stdout): the credential really went in.
            assert any(i["kind"] == "Secret" and i["metadata"]["name"] == "regcred" for i in listing["items"])
        else:
            assert r.code != 0 and any(x["severity"] == "error" for x in results)
    elif failure in ("ok", "explain of a Secret edit"):
        assert r.code == 0
        assert FORMS["base64(.dockerconfigjson)"] in r.text  # stdout legitimately carries it
        # The generated Secret is named in the clear (pullSecret holds a name, not a secret).
        assert "explain: rules[1] (pullSecret): Secret/tools/regcred: (new document)" in r.err
        if failure == "explain of a Secret edit":
            assert "explain: rules[3] (patch): Secret/tools/app: stringData: (unset) -> <redacted>" in r.err
    else:
        assert r.code in (1, 2, 3) and r.out == b""
        assert "<redacted>" in r.err
    for name, text in seen.items():
        assert not leaks(text), f"{channel} / {failure}: {name} leaks {leaks(text)}: {text[:500]}"


# One channel per way a value becomes secret: by its name in a file, forced by --set-file, by
# its name in the environment (the run matrix above covers every channel).
@pytest.mark.parametrize("channel", ["config vars", "--set-file", "POSTRENDER_VAR_"])
def test_diff_images_validate_never_leak(tmp_path, channel):
    config, args, env, stdin = setup_channel(tmp_path, channel, FAILURES["explain of a Secret edit"])
    log = ["--log-file", str(tmp_path / "file.log")]
    diff = run_cli(["diff", "--no-color", "-c", str(config), *args, *log], stdin, env=env)
    assert diff.code == 1 and "+  .dockerconfigjson: <redacted, changed>" in diff.text
    assert '+  name: "regcred"' in diff.text  # the Secret's name is shown, its data is not
    images = run_cli(["images", "-c", str(config), *args, *log], stdin, env=env)
    assert images.code == 0 and "registry.example.com/tool/server:1.0" in images.text
    validate = run_cli(["validate", "-c", str(config), *args], env=env)
    assert validate.code == 0 and "ok, 4 rule(s) active" in validate.text
    for name, text in {"diff stdout": diff.text, "diff stderr": diff.err, "images stdout": images.text,
                       "images stderr": images.err, "validate": validate.text + validate.err,
                       "log": (tmp_path / "file.log").read_text()}.items():
        assert not leaks(text), f"{channel}: {name} leaks {leaks(text)}"


def test_bad_input_next_to_the_password_does_not_quote_it(tmp_path):
    config, args, env, _ = setup_channel(tmp_path, "--set-file", "")
    stdin = INPUT + f"---\napiVersion: v1\nkind: Secret\nstringData:\n  pw: {PASSWORD}: [\n".encode()
    r = run_cli(["run", "-c", str(config), *args], stdin, env=env)
    assert r.code == 3 and r.out == b"" and len(r.err.strip().splitlines()) == 1
    assert not leaks(r.err) and not leaks((tmp_path / "env.log").read_text())


def test_helm4_wrapper_log_never_leaks(tmp_path):
    """The Helm 4 plugin's wrapper: stderr is thrown away by Helm, the log file is what stays."""
    config, args, env, stdin = setup_channel(tmp_path, "POSTRENDER_VAR_", FAILURES["template error at load"])
    del env["POSTRENDER_LOG"]
    bin_dir = Path(sys.executable).parent
    env.update(HELM_CACHE_HOME=str(tmp_path / "helm-cache"), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    import subprocess

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")} | env
    proc = subprocess.run(["sh", str(ROOT / "helm-plugin" / "postrender-helm"), "-c", str(config)],
                          input=stdin, capture_output=True, env=full_env, timeout=60)
    log = (tmp_path / "helm-cache" / "postrender" / "postrender.log").read_text()
    assert proc.returncode == 2 and "rules[3].resources.inline" in log and "<redacted>" in log
    assert not leaks(log) and not leaks(proc.stderr.decode())


def test_krm_configmap_function_config_never_leaks(tmp_path):
    """kpt's form: a ConfigMap whose data keys are variables, as with --set."""
    import yaml

    config = write_config(tmp_path, f"vars: {{pullSecret: regcred, registry: {REGISTRY}, username: bob}}\n"
                          + RULES + FAILURES["template error at load"])
    items = [d for d in yaml.safe_load_all(INPUT) if d]
    stdin = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items,
                            "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                               "data": {"config": str(config), "password": PASSWORD}}}).encode()
    r = run_cli([], stdin, env={"POSTRENDER_LOG": str(tmp_path / "log")})
    results = yaml.safe_load(r.out)["results"]
    assert r.code == 2 and results[0]["severity"] == "error" and "<redacted>" in results[0]["message"]
    for text in (r.err, json.dumps(results), (tmp_path / "log").read_text()):
        assert not leaks(text)


def test_internal_error_path_never_leaks(tmp_path, monkeypatch, capsys):
    """An unexpected exception (a bug) whose text quotes the password, POSTRENDER_DEBUG unset.

    In-process: a real bug cannot be provoked from outside, so a rule is made to raise one.
    """
    from postrender import cli
    from postrender.rules import image_pull_secrets

    def broken(self, documents, ctx):
        raise RuntimeError(f"unexpected state near {ctx.variables['password']!r}")

    monkeypatch.setattr(image_pull_secrets.ImagePullSecrets, "apply", broken)
    monkeypatch.delenv("POSTRENDER_DEBUG", raising=False)
    monkeypatch.setenv("POSTRENDER_VAR_password", PASSWORD)
    config, args, _env, _ = setup_channel(tmp_path, "POSTRENDER_VAR_", "")
    monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": __import__("io").BytesIO(INPUT)})())
    code = cli.main(["run", "-c", str(config), "--log-file", str(tmp_path / "log")])
    err = capsys.readouterr()
    assert code == 3 and err.out == ""
    assert "internal error: RuntimeError: unexpected state near '<redacted>'" in err.err
    assert not leaks(err.err) and not leaks((tmp_path / "log").read_text())


@pytest.mark.parametrize("name, secret", [
    ("pullSecret", False), ("imagePullSecrets", False), ("existingSecret", False), ("tlsSecretName", False),
    ("password", True), ("clientSecret", True), ("apiToken", True), ("registryAuth", True), ("sshKey", True),
])
def test_secret_names_are_not_redacted_secret_values_are(name, secret):
    from postrender.config.loader import collect_variables

    _variables, sensitive = collect_variables({name: "value-1234", "nested": {name: {"password": "pw-5678"}}})
    assert ("value-1234" in sensitive) is secret
    assert "pw-5678" in sensitive  # a password under a Secret-name key is still a password


@pytest.mark.parametrize("prefix", ["", "a", "ab", "user:", "{\"auths\":{\"x\":{\"password\":\""])
def test_redactor_finds_the_secret_inside_any_base64(prefix):
    from postrender.engine.output import make_redactor

    redact = make_redactor([PASSWORD])
    blob = b64(prefix + PASSWORD + "\"}}}")
    assert PASSWORD not in redact(f"x {PASSWORD} y") and b64(PASSWORD) not in redact(b64(PASSWORD))
    redacted = redact(f"data: {blob}")
    assert "<redacted>" in redacted and blob not in redacted
