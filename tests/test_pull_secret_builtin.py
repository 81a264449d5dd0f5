"""The shipped pull-Secret template's Python twin gives exactly what Jinja gives (issue 16).

``rules/pull_secret.builtin_secret`` renders templates/dockerconfigjson-secret.yaml.j2 without
importing Jinja.  Every combination of defined credentials, namespaces and awkward values is
rendered both ways; the texts must be equal, and values the twin does not handle (non-strings)
must be left to Jinja.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from postrender import generated
from postrender.rules import pull_secret
from postrender.rules.pull_secret import BUILTIN, BUILTIN_CRC32, CREDENTIALS, builtin_secret

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = generated.shipped_templates_dir() / "dockerconfigjson-secret.yaml.j2"
JINJA = generated.compile_template(SHIPPED.read_text(encoding="utf-8"))

VALUES = {
    "registry": ["registry.example.com", "docker.io:443", 'we"ird\\reg'],
    "username": ["bot", "ünï cødé", "a:b"],
    "password": ["s3cr3t!", "multi\nline", ""],
    "auth": ["Ym90OnMzY3IzdA==", ""],
    "dockerconfigjson": ['{"auths":{}}', "not json at all\n"],
}
NAMES = [("regcred", ""), ("regcred", "prod"), ("a-b.c", "ns-1"), ("regcred", "0755"), ("x", "on")]


def cases():
    for present in itertools.product((False, True), repeat=len(CREDENTIALS)):
        chosen = [c for c, p in zip(CREDENTIALS, present) if p]
        for n, (name, namespace) in enumerate(NAMES):
            # One value per credential, varied with the name so each value meets each combination.
            context = {c: VALUES[c][(n + i) % len(VALUES[c])] for i, c in enumerate(chosen)}
            context["unrelated"] = "kept out"
            yield dict(context, secret={"name": name, "namespace": namespace})


CASES = list(cases())


def test_the_pinned_digest_is_the_shipped_templates():
    assert pull_secret._digest(SHIPPED.read_text(encoding="utf-8")) == BUILTIN_CRC32


@pytest.mark.parametrize("context", CASES, ids=lambda c: "+".join(k for k in CREDENTIALS if k in c) or "none")
def test_python_twin_renders_what_jinja_renders(context):
    expected = generated.render(JINJA, context)
    assert builtin_secret(context) == expected


def test_the_cases_render_secrets_and_nothing():
    rendered = [builtin_secret(c) for c in CASES]
    assert sum(1 for r in rendered if r) > len(CASES) // 3
    assert sum(1 for r in rendered if r == "") > len(CASES) // 3


@pytest.mark.parametrize("context", [
    {"registry": "r", "username": "u", "password": 1234, "secret": {"name": "x", "namespace": ""}},
    {"dockerconfigjson": b"{}", "secret": {"name": "x", "namespace": ""}},
    {"registry": "r", "auth": "a", "secret": {"name": 7, "namespace": ""}},
])
def test_non_strings_are_left_to_jinja(context):
    assert builtin_secret(context) is None


def test_the_default_template_uses_the_twin_and_a_copy_uses_jinja(tmp_path):
    from postrender.config.loader import load_config_text

    header = "apiVersion: postrender/v1alpha1\nkind: PostRenderer\nmetadata: {name: t}\n"
    (tmp_path / "mine.yaml.j2").write_text(SHIPPED.read_text(encoding="utf-8"))
    default = load_config_text(header + "rules:\n  - pullSecret: {name: regcred}\n", "c.yaml",
                                base_dir=tmp_path)
    copied = load_config_text(header + "rules:\n  - pullSecret: {name: regcred, template: mine.yaml.j2}\n",
                              "c.yaml", base_dir=tmp_path)
    assert default.rules[0].template is BUILTIN
    assert copied.rules[0].template is not BUILTIN


def test_a_run_with_the_full_rule_set_does_not_import_jinja(tmp_path):
    """The benchmark's offline rule set (pullSecret, templated names, when:) runs without Jinja."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['postrender', '-c', 'bench/postrender-full.yaml', '-o', sys.argv[1]]\n"
        "try:\n    runpy.run_module('postrender', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('jinja2' in sys.modules)\n"
    )
    stream = (b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: a}\n"
              b"spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}\n")
    out = tmp_path / "out.yaml"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], input=stream, capture_output=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip().splitlines()[-1] == "False"
    assert b"kind: Secret" in out.read_bytes()
