"""pullSecret and resources: generated documents, only when credentials are defined (issue 4)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from postrender.config.loader import load_config, load_config_text
from postrender.errors import ConfigError
from postrender.kinds import resources
from postrender.pipeline import run_stream
from postrender.engine.stream import parse_stream
from tests.conftest import CONFIG_HEADER, run_rules

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_bytes()
BOTH = """\
rules:
- imagePullSecrets: {names: ["{{ pullSecret }}"]}
  when: "pullSecret is defined"
- pullSecret: {name: "{{ pullSecret }}"}
  when: "pullSecret is defined"
"""
CREDS = {"pullSecret": "regcred", "registry": "registry.example.com", "username": "bob", "password": "hunter2-pw"}


def run(rules: str, data: bytes = INPUT, variables: dict | None = None, base_dir=None) -> bytes:
    env = {f"POSTRENDER_VAR_{k}": v for k, v in (variables or {}).items()}
    return run_rules(rules, data, environ=env, base_dir=base_dir).output


def objects(output: bytes) -> list[dict]:
    return [res for doc in parse_stream(output).yaml_documents() for _, res in resources(doc.obj)]


def generated_secrets(output: bytes, name: str = "regcred", given: bytes = INPUT) -> dict[str, dict]:
    """namespace ('' = none) -> Secret, for Secrets of this name not in the input."""
    before = {json.dumps(o, sort_keys=True) for o in objects(given)}
    return {
        o["metadata"].get("namespace", ""): o
        for o in objects(output)
        if o.get("kind") == "Secret" and o["metadata"]["name"] == name and json.dumps(o, sort_keys=True) not in before
    }


def docker_config(secret: dict) -> dict:
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))


def test_one_secret_per_namespace_that_references_it():
    out = run(BOTH, variables=CREDS)
    got = generated_secrets(out)
    # tools (server, sync, agent, migrate), none (worker, debug); batch already has one.
    assert sorted(got) == ["", "tools"]
    for namespace, secret in got.items():
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        assert secret["apiVersion"] == "v1"
        assert ("namespace" in secret["metadata"]) == bool(namespace)
        assert docker_config(secret) == {"auths": {"registry.example.com": {
            "username": "bob", "password": "hunter2-pw", "auth": base64.b64encode(b"bob:hunter2-pw").decode()}}}
    # Appended after everything else, the input untouched before them except the references.
    assert out.index(b"kind: Secret\nmetadata:\n  name: \"regcred\"") > out.index(b"kind: CustomResourceDefinition")


def test_no_credentials_no_secret_and_no_reference():
    assert run(BOTH) == INPUT
    # The name alone is not credentials: the references are added, no Secret is generated.
    out = run(BOTH, variables={"pullSecret": "regcred"})
    assert generated_secrets(out) == {}


CREDENTIAL_FORMS = {
    "auth instead of username/password": (
        {"registry": "r.example.com", "auth": "dTpw"}, {"auths": {"r.example.com": {"auth": "dTpw"}}}),
    "a whole dockerconfigjson": (
        {"dockerconfigjson": '{"auths":{"x.example.com":{"auth":"YTpi"}}}'}, {"auths": {"x.example.com": {"auth": "YTpi"}}}),
}


@pytest.mark.parametrize("variables,expected", CREDENTIAL_FORMS.values(), ids=CREDENTIAL_FORMS.keys())
def test_credential_forms(variables, expected):
    out = run(BOTH, variables={"pullSecret": "regcred", **variables})
    assert {ns: docker_config(s) for ns, s in generated_secrets(out).items()} == {"": expected, "tools": expected}


def test_username_without_password_is_not_credentials():
    out = run(BOTH, variables={"pullSecret": "regcred", "registry": "r.example.com", "username": "u"})
    assert generated_secrets(out) == {}


def test_credentials_mapping_reads_nested_variables(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("reg:\n  host: r.example.com\n  user: u\n  token: tok-123456\n")
    rules = ("rules:\n- imagePullSecrets: {names: [regcred]}\n"
             "- pullSecret:\n    name: regcred\n"
             "    credentials: {registry: reg.host, username: reg.user, password: reg.token}\n")
    cfg = load_config_text(CONFIG_HEADER + rules, "test.yaml", values_files=[values], environ={})
    out = run_stream(cfg, INPUT).output
    secret = generated_secrets(out)["tools"]
    assert docker_config(secret)["auths"]["r.example.com"]["password"] == "tok-123456"
    assert "tok-123456" in cfg.sensitive


def test_existing_secret_of_that_name_in_the_namespace_wins():
    data = INPUT + b"---\napiVersion: v1\nkind: Secret\nmetadata: {name: regcred, namespace: tools}\ntype: Opaque\n"
    assert sorted(generated_secrets(run(BOTH, data, CREDS), given=data)) == [""]


def test_only_namespaces_of_referencing_resources():
    rules = ("rules:\n- imagePullSecrets: {names: [regcred], registries: [quay.io]}\n"
             "- pullSecret: {name: regcred}\n")
    # Only the agent (tools) pulls from quay.io; cleanup (batch) already had no reference.
    assert sorted(generated_secrets(run(rules, INPUT, CREDS))) == ["tools"]


def test_separator_when_the_last_document_has_no_final_newline():
    data = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]"
    out = run(BOTH, data, CREDS)
    assert b"image: x}]\n---\napiVersion: v1\nkind: Secret\n" in out
    assert [o["kind"] for o in objects(out)] == ["Pod", "Secret"]


def test_crlf_stream_gets_crlf_documents():
    data = b"apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n  - name: c\r\n    image: x\r\n"
    out = run(BOTH, data, CREDS)
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert [o["kind"] for o in objects(out)] == ["Pod", "Secret"]


def test_idempotent():
    once = run(BOTH, variables=CREDS)
    assert run(BOTH, once, CREDS) == once


def test_custom_template_relative_to_the_config(tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "secret.yaml.j2").write_text(
        "{% if password is defined %}apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ secret.name }}\n"
        "  annotations: {team: {{ team }}}\ntype: kubernetes.io/dockerconfigjson\n"
        "stringData:\n  .dockerconfigjson: '{{ registry | dockerconfigjson(username, password) }}'\n{% endif %}\n")
    config = tmp_path / "postrender.yaml"
    config.write_text(CONFIG_HEADER + "vars: {team: a}\nrules:\n- imagePullSecrets: {names: [regcred]}\n"
                      "- pullSecret: {name: regcred, template: tpl/secret.yaml.j2}\n")
    env = {f"POSTRENDER_VAR_{k}": v for k, v in CREDS.items()}
    out = run_stream(load_config(config, environ=env), INPUT).output
    secret = generated_secrets(out)[""]
    assert secret["metadata"] == {"name": "regcred", "annotations": {"team": "a"}}
    assert json.loads(secret["stringData"][".dockerconfigjson"])["auths"]["registry.example.com"]["username"] == "bob"


ESCAPES = {
    "dot-dot out of the config dir": "../outside.j2",
    "absolute path elsewhere": "/etc/hostname",
    "builtin escaping templates/": "builtin:../pyproject.toml",
}


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_template_paths_cannot_leave_the_config_dir(tmp_path, template):
    (tmp_path / "outside.j2").write_text("x")
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    for rule in (f"pullSecret: {{name: r, template: '{template}'}}", f"resources: {{template: '{template}'}}"):
        with pytest.raises(ConfigError) as err:
            load_config_text(CONFIG_HEADER + f"rules:\n- {rule}\n", "test.yaml", environ={}, base_dir=config_dir)
        assert "is outside" in str(err.value) and str(err.value).startswith("test.yaml:4:")


def test_template_errors_are_config_errors_with_a_location(tmp_path):
    (tmp_path / "broken.j2").write_text("{% if %}\n")
    with pytest.raises(ConfigError) as err:
        load_config_text(CONFIG_HEADER + "rules:\n- pullSecret: {name: r, template: broken.j2}\n", "c.yaml", environ={}, base_dir=tmp_path)
    assert str(err.value).startswith("c.yaml:4:") and "line 1" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config_text(CONFIG_HEADER + "rules:\n- pullSecret: {name: r, template: missing.j2}\n", "c.yaml", environ={}, base_dir=tmp_path)
    assert "template 'missing.j2' not found" in str(err.value)


# ---- resources ------------------------------------------------------------------------------

RESOURCES = {
    "renders to nothing": ('{% if extra is defined %}apiVersion: v1\nkind: ConfigMap\n{% endif %}', {}, []),
    "comments only": ("# nothing here\n", {}, []),
    "one document": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ n }}'}\n", {"n": "cm"}, [("ConfigMap", "cm")]),
    "several documents, with and without markers": (
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        {}, [("ConfigMap", "a"), ("Namespace", "b")]),
    "conditional block true": ('{% if extra is defined %}apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n{% endif %}',
                               {"extra": "1"}, [("ConfigMap", "x")]),
}


@pytest.mark.parametrize("template,variables,added", RESOURCES.values(), ids=RESOURCES.keys())
def test_resources_inline(template, variables, added):
    data = b"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
    rules = "rules:\n- resources:\n    inline: " + json.dumps(template) + "\n"
    out = run(rules, data, variables)
    if not added:
        assert out == data
    assert [(o["kind"], o["metadata"]["name"]) for o in objects(out)] == [("Service", "s")] + added


RESOURCE_ERRORS = {
    "not YAML": ("kind: [\n", "rendered document 1 is not valid YAML"),
    "not a resource": ("just text\n", "rendered document 1 is not a Kubernetes resource"),
    "undefined variable": ("apiVersion: v1\nkind: {{ nope }}\n", "'nope' is undefined"),
    "python internals": ("{{ ''.__class__.__mro__ }}", "refused by the template sandbox"),
    "both template and inline": (None, "give exactly one of 'template' (a file) and 'inline'"),
}


@pytest.mark.parametrize("template,message", RESOURCE_ERRORS.values(), ids=RESOURCE_ERRORS.keys())
def test_resources_errors(template, message):
    body = "{template: x.j2, inline: z}" if template is None else "{inline: " + json.dumps(template) + "}"
    with pytest.raises(ConfigError) as err:
        load_config_text(CONFIG_HEADER + f"rules:\n- resources: {body}\n", "c.yaml", environ={})
    assert message in str(err.value) and str(err.value).startswith("c.yaml:4:")
