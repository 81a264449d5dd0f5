"""The CLI as a user meets it: argv, stdin, stdout, stderr, exit codes, files."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import DEPLOY, write_config
RULES = "rules:\n- imagePullPolicy: {policy: IfNotPresent}\n"


def test_run_is_the_default_command(cli, tmp_path):
    cfg = write_config(tmp_path, RULES)
    for args in (["-c", str(cfg)], ["run", "-c", str(cfg)], [str(cfg)]):  # Helm, explicit, kustomize exec
        r = cli(args, DEPLOY)
        assert r.code == 0, r.err
        assert r.text == DEPLOY.decode() + "        imagePullPolicy: IfNotPresent\n"


def test_config_discovery_env_then_cwd(cli, tmp_path):
    cfg = write_config(tmp_path, RULES, "custom.yaml")
    assert cli([], DEPLOY, env={"POSTRENDER_CONFIG": str(cfg)}).code == 0
    write_config(tmp_path, RULES)
    assert cli([], DEPLOY, cwd=tmp_path).code == 0
    other = tmp_path / "empty"
    other.mkdir()
    r = cli([], DEPLOY, cwd=other)
    assert r.code == 2 and r.out == b""
    assert r.err.strip() == ("postrender: error: no config: pass -c FILE, set $POSTRENDER_CONFIG, or create"
                             " ./postrender.yaml (postrender init writes a starter)")


def test_config_precedence_flag_then_env_then_cwd(cli, tmp_path):
    """-c beats $POSTRENDER_CONFIG, which beats ./postrender.yaml: three configs that give three
    different outputs, so the test sees which one was read (not only that one was)."""
    def config(name: str, policy: str) -> str:
        return str(write_config(tmp_path, f"rules:\n- imagePullPolicy: {{policy: {policy}}}\n", name))

    config("postrender.yaml", "Never")  # found by its name in the working directory
    in_env, in_flag = config("env.yaml", "Always"), config("flag.yaml", "IfNotPresent")
    env = {"POSTRENDER_CONFIG": in_env}
    read = lambda r: (r.code, r.text.rsplit("imagePullPolicy: ", 1)[-1].strip())  # noqa: E731
    assert read(cli([], DEPLOY, cwd=tmp_path)) == (0, "Never")
    assert read(cli([], DEPLOY, env=env, cwd=tmp_path)) == (0, "Always")
    assert read(cli(["-c", in_flag], DEPLOY, env=env, cwd=tmp_path)) == (0, "IfNotPresent")


def test_empty_input_gives_empty_output(cli, tmp_path):
    r = cli(["-c", str(write_config(tmp_path, RULES))], b"")
    assert (r.code, r.out, r.err) == (0, b"", "")


@pytest.mark.parametrize(
    "body, message",
    [
        ("rules:\n- imagePullPolicy: {policy: Sometimes}\n",
         "cfg.yaml:4:21: rules[0].imagePullPolicy.policy: must be one of Always, IfNotPresent, Never, not 'Sometimes'"),
        ("rules:\n- imagePullPolicy: {policy: Never, bogus: 1}\n",
         "cfg.yaml:4:36: rules[0].imagePullPolicy.bogus: unknown option 'bogus'; valid options: policy, onlyIfUnset"),
        ("rules:\n- pullPolicy: {policy: Never}\n",
         "cfg.yaml:4:3: rules[0].pullPolicy: unknown rule 'pullPolicy'; valid rules:"),
        ("rules:\n- imagePullPolicy: {policy: '{{ nope }}'}\n",
         "cfg.yaml:4:21: rules[0].imagePullPolicy.policy: 'nope' is undefined (define it with vars:"),
        ("rulez: []\n", "cfg.yaml:3:1: rulez: unknown option 'rulez'"),
        ("rules: [\n", "cfg.yaml:4:1: invalid YAML"),
    ],
)
def test_config_errors_point_at_the_config_line(cli, tmp_path, body, message):
    cfg = write_config(tmp_path, body, "cfg.yaml")
    r = cli(["-c", str(cfg)], DEPLOY)
    assert r.code == 2 and r.out == b""
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert r.err.startswith(f"postrender: error: {tmp_path}/{message}"), r.err


def test_bad_input_names_document_source_and_line(cli, tmp_path):
    bad = DEPLOY + b"---\n# Source: demo/templates/broken.yaml\napiVersion: v1\nkind: ConfigMap\ndata:\n  a: [1, 2\n"
    r = cli(["-c", str(write_config(tmp_path, RULES))], bad)
    assert r.code == 3 and r.out == b""
    assert r.err.startswith("postrender: error: document 2 (demo/templates/broken.yaml), line 19: invalid YAML:"), r.err
    assert len(r.err.strip().splitlines()) == 1


def test_invalid_utf8_is_a_clean_error(cli, tmp_path):
    r = cli(["-c", str(write_config(tmp_path, RULES))], b"a: \xff\n")
    assert r.code == 3 and r.out == b"" and "not valid UTF-8" in r.err and "Traceback" not in r.err


def test_variables_precedence(cli, tmp_path):
    cfg = write_config(tmp_path, "vars: {policy: Always}\nrules:\n- imagePullPolicy: {policy: '{{ policy }}'}\n")
    values = tmp_path / "values.yaml"
    values.write_text("policy: IfNotPresent\n")
    pol = tmp_path / "policy.txt"
    pol.write_text("Never\n")

    def policy(args, env=None):
        r = cli(["-c", str(cfg), *args], DEPLOY, env=env)
        assert r.code == 0, r.err
        return r.text.rsplit("imagePullPolicy: ", 1)[1].strip()

    assert policy([]) == "Always"
    assert policy(["--values", str(values)]) == "IfNotPresent"
    assert policy(["--values", str(values)], {"POSTRENDER_VAR_policy": "Never"}) == "Never"
    assert policy(["--set", "policy=Always"], {"POSTRENDER_VAR_policy": "Never"}) == "Always"
    assert policy(["--set-file", f"policy={pol}"]) == "Never"


def test_explain_lists_each_change(cli, tmp_path):
    r = cli(["-c", str(write_config(tmp_path, RULES)), "--explain"], DEPLOY)
    assert r.code == 0
    assert r.err.strip() == ("postrender: explain: rules[0] (imagePullPolicy): Deployment/web:"
                             " spec.template.spec.containers[0].imagePullPolicy: (unset) -> IfNotPresent"
                             " (found by podSpec)")


def test_diff_prints_a_unified_diff_per_resource(cli, tmp_path):
    r = cli(["diff", "-c", str(write_config(tmp_path, RULES))], DEPLOY)
    assert r.code == 1  # differences (kubectl diff: 0 none, 1 some, >1 an error)
    assert r.text.splitlines()[:3] == ["--- input: document 1 (demo/templates/deploy.yaml): Deployment/web",
                                       "+++ output: document 1 (demo/templates/deploy.yaml): Deployment/web",
                                       "@@ -10,3 +10,4 @@"]
    assert "+        imagePullPolicy: IfNotPresent" in r.text.splitlines()


def test_output_file_is_replaced_atomically(cli, tmp_path):
    out = tmp_path / "out.yaml"
    out.write_text("old\n")
    cfg = write_config(tmp_path, RULES)
    assert cli(["-c", str(cfg), "-o", str(out)], DEPLOY).code == 0
    assert "IfNotPresent" in out.read_text()
    out.write_text("old\n")
    assert cli(["-c", str(cfg), "-o", str(out)], b"a: [\n").code == 3
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_validate_schema_init_version(cli, tmp_path):
    cfg = write_config(tmp_path, RULES)
    r = cli(["validate", "-c", str(cfg)])
    assert r.code == 0 and "1 rule(s) active" in r.text
    schema = json.loads(cli(["schema"]).text)
    assert "imagePullPolicy" in json.dumps(schema["properties"]["rules"])
    r = cli(["init", str(tmp_path / "new.yaml")])
    assert r.code == 0
    assert cli(["validate", "-c", str(tmp_path / "new.yaml")]).code == 0
    assert cli(["init", str(tmp_path / "new.yaml")]).code == 2  # no overwrite without --force
    assert cli(["--version"]).text.startswith("postrender ")


def test_closed_pipe_is_quiet(tmp_path):
    import subprocess
    import sys

    cfg = write_config(tmp_path, RULES)
    big = DEPLOY * 20000
    proc = subprocess.run(f"{sys.executable} -m postrender -c {cfg} | head -1", shell=True, input=big,
                          capture_output=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout == b"---\n"
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr


def test_unknown_option_is_a_usage_error(cli):
    r = cli(["run", "--nope"])
    assert r.code == 2 and "Traceback" not in r.err and "--nope" in r.err


def test_rule_registry_names_match_their_modules():
    """The registry maps rule keys to modules by name (imported lazily): each must agree."""
    from postrender.rules import REGISTRY

    assert len(REGISTRY) == len(list(REGISTRY)) == 10
    for name in REGISTRY:
        assert REGISTRY[name].NAME == name
    assert REGISTRY.get("noSuchRule") is None
