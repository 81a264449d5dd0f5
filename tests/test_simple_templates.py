"""The Jinja-free path gives exactly Jinja's result, or gives up.

``postrender.config.simple_templates`` evaluates ``{{ a.b }}`` substitutions and ``when:``
expressions (``is defined``, ``not``, ``and``, ``or``) without importing Jinja.  Here both run on
generated templates and variables (seeded): wherever the simple path answers, the answer equals
the sandboxed Jinja environment's; where Jinja raises, the simple path must have given up.
"""

from __future__ import annotations

import random

import pytest

from postrender.config import simple_templates, templating
from postrender.config.simple_templates import NOT_SIMPLE
from tests.conftest import CONFIG_HEADER

NAMES = ["mirror", "pullSecret", "registry", "items", "keys", "a", "b", "flag", "empty", "none", "zero", "nested"]
VALUES = ["x", "", "mirror.example.com", 0, 1, 2.5, True, False, None, [], ["a"], {}, {"b": "inner", "items": 1},
          {"c": {"d": "deep"}}, "{{ not rendered }}", "ünï"]


def variables(rng: random.Random) -> dict:
    out = {}
    for name in rng.sample(NAMES, rng.randint(len(NAMES) // 2, len(NAMES))):
        out[name] = rng.choice(VALUES)
    if rng.random() < 0.5:
        out["nested"] = {"b": rng.choice(VALUES), "c": {"d": rng.choice(VALUES)}}
    return out


def path(rng: random.Random) -> str:
    steps = [rng.choice(NAMES)] + [rng.choice(["b", "c", "d", "items", "missing"]) for _ in range(rng.choice([0, 0, 1, 2]))]
    return ".".join(steps)


def template(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 3)):
        pieces.append(rng.choice(["", "text ", "a/b:", "\n", " {not jinja} ", "x"] + (["}} "] if rng.random() < 0.1 else [])))
        simple = rng.choice([f"{{{{ {path(rng)} }}}}", f"{{{{{path(rng)}}}}}", f"{{{{  {path(rng)}\t}}}}"])
        other = rng.choice([f"{{{{- {path(rng)} }}}}", f"{{{{ {path(rng)} | upper }}}}", "{% if a %}y{% endif %}"])
        pieces.append(simple if rng.random() < 0.85 else other)
    return "".join(pieces)


def expression(rng: random.Random, depth: int = 0) -> str:
    choice = rng.random()
    if depth < 2 and choice < 0.3:
        return f"{expression(rng, depth + 1)} {rng.choice(['and', 'or'])} {expression(rng, depth + 1)}"
    if depth < 2 and choice < 0.4:
        return f"not {expression(rng, depth + 1)}"
    if depth < 2 and choice < 0.5:
        return f"({expression(rng, depth + 1)})"
    if choice < 0.55:
        return rng.choice(["true", "false", "True", "False"])
    if choice < 0.6:
        return f"{path(rng)} == 'x'"
    return f"{path(rng)} is {rng.choice(['', 'not '])}defined" if rng.random() < 0.7 else path(rng)


def jinja(run):
    try:
        return ("ok", run())
    except templating.TemplateError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("seed", range(20))
def test_simple_substitutions_equal_jinja(seed):
    rng = random.Random(seed)
    answered = 0
    for _ in range(400):
        text, env = template(rng), variables(rng)
        simple = simple_templates.render(text, env)
        if simple is NOT_SIMPLE:
            continue
        answered += 1
        assert jinja(lambda: templating._guarded(lambda: templating._render_capped(templating._compiled(text), env))) \
            == ("ok", simple), (text, env)
    assert answered > 20  # the simple path is exercised, not only skipped


@pytest.mark.parametrize("seed", range(20))
def test_simple_expressions_equal_jinja(seed):
    rng = random.Random(1000 + seed)
    answered = 0
    for _ in range(200):
        expr, env = expression(rng), variables(rng)
        simple = simple_templates.evaluate(expr, env)
        if simple is NOT_SIMPLE:
            continue
        answered += 1
        jinja_result = jinja(lambda: templating._guarded(lambda: bool(
            templating.environment().compile_expression(expr, undefined_to_none=False)(**env))))
        assert jinja_result == ("ok", simple), (expr, env)
    assert answered > 30


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("{{ mirror }}/dockerhub", {"mirror": "m.example.com"}, "m.example.com/dockerhub"),
    ("{{mirror}}", {"mirror": 5}, "5"),
    ("{{ a.b }}", {"a": {"b": True}}, "True"),
    ("{{ a.items }}", {"a": {"items": 1}}, NOT_SIMPLE),   # Jinja finds dict.items first
    ("{{ missing }}", {}, NOT_SIMPLE),                    # Jinja's error message
    ("{{ a | upper }}", {"a": "x"}, NOT_SIMPLE),
    ("{% if a %}x{% endif %}", {"a": 1}, NOT_SIMPLE),
    ("{{ a }}", {"a": ["x"]}, NOT_SIMPLE),
])
def test_substitution_table(text, env, expected):
    assert simple_templates.render(text, env) == expected if expected is not NOT_SIMPLE \
        else simple_templates.render(text, env) is NOT_SIMPLE


@pytest.mark.parametrize(("expr", "env", "expected"), [
    ("pullSecret is defined", {}, False),
    ("pullSecret is defined", {"pullSecret": None}, True),
    ("a is not defined and b is defined", {"b": 1}, True),
    ("not (a is defined or b is defined)", {}, True),
    ("mirror", {"mirror": ""}, False),
    ("mirror", {}, NOT_SIMPLE),          # StrictUndefined in a boolean context: Jinja raises
    ("a.b is defined", {}, NOT_SIMPLE),  # an attribute of an undefined: Jinja raises
    ("a == 'x'", {"a": "x"}, NOT_SIMPLE),
])
def test_expression_table(expr, env, expected):
    result = simple_templates.evaluate(expr, env)
    assert result is expected if isinstance(expected, bool) or expected is NOT_SIMPLE else result == expected


def test_a_config_of_simple_templates_does_not_import_jinja(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG_HEADER + "vars: {mirror: m.example.com, policy: Never}\n"
                      "rules:\n- registryRewrite: {mirrors: [{from: docker.io, to: '{{ mirror }}/hub'}]}\n"
                      "- imagePullPolicy: {policy: '{{ policy }}'}\n  when: policy is defined and mirror is defined\n")
    code = ("import sys; from postrender.config.loader import load_config; "
            f"load_config({str(config)!r}, (), (), ()); print('jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
