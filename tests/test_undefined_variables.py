"""Undefined variables: found by `postrender validate` on every branch of every template
(config/undefined.py), and exit 2 wherever a run meets one (issue 14)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from postrender.config import templating
from postrender.config.undefined import undefined_in_expression, undefined_in_template
from tests.conftest import DEPLOY, write_config

VARIABLES = {"a": 1, "reg": {"host": "h", "ports": [80]}, "empty": ""}
RUN_TIME = {"resource", "secret"}


@pytest.mark.parametrize("template, expected", [
    ("{{ a }} {{ reg.host }} {{ reg['host'] }} {{ reg.ports[0] }}", []),
    ("{{ b }}", ["b"]),
    ("{{ reg.user }}", ["reg.user"]),
    ("{{ reg.ports[3] }}", ["reg.ports.3"]),
    # is defined / default use only the parents of the path
    ("{{ b is defined }} {{ reg.user is defined }} {{ b | default('x') }} {{ reg.user | d('x') }}", []),
    ("{{ b.c is defined }}", ["b"]),
    ("{{ b.c | default('x') }}", ["b"]),
    ("{{ a | default(c) }}", ["c"]),  # the default's own argument is evaluated
    # guards decided by what is defined now
    ("{% if b is defined %}{{ b }}{% endif %}", []),
    ("{% if b is not defined %}none{% else %}{{ b }}{% endif %}", []),
    ("{% if b is undefined %}none{% else %}{{ b }}{% endif %}", []),
    ("{% if a is defined %}{{ b }}{% endif %}", ["b"]),
    ("{% if b is defined and b.x %}{% endif %}", []),
    ("{% if a is defined and b %}{% endif %}", ["b"]),
    ("{% if a is defined or b %}{% endif %}", []),
    ("{% if b is defined or c %}{% endif %}", ["c"]),
    ("{% if not (b is defined) %}{% else %}{{ b }}{% endif %}", []),
    ("{% if b is defined %}{% elif c is defined %}{{ c }}{% else %}{{ d }}{% endif %}", ["d"]),
    ("{{ b if b is defined else a }}", []),
    ("{{ b if a is defined else a }}", ["b"]),
    # conditions that are not about definedness: every branch counts
    ("{% if resource.kind == 'Job' %}{{ jobTag }}{% endif %}", ["jobTag"]),
    ("{% if a == 2 %}{% else %}{{ other }}{% endif %}", ["other"]),
    ("{% if b %}{% endif %}", ["b"]),  # StrictUndefined is not even false
    ("{% if false %}{{ never }}{% endif %}{% if b is defined and false %}{{ b }}{% endif %}", []),
    # names the template or the run time defines
    ("{% set y = 1 %}{{ y }}", []),
    ("{% for i in reg.ports %}{{ i }}{{ loop.index }}{% endfor %}", []),
    ("{% macro m(p) %}{{ p }}{{ q }}{% endmacro %}{{ m(1) }}", ["q"]),
    ("{{ resource.spec.template.spec.containers[0].image }} {{ secret.name }}", []),
    ("{{ range(2) | list }} {{ reg.items() | list }} {{ empty.upper() }}", []),
    ("{{ reg[b] }}", ["b"]),
    ("line one\n{{ a }}\n{{ missing }}", ["missing"]),
])
def test_static_check(template, expected):
    assert [u.name for u in undefined_in_template(template, VARIABLES, RUN_TIME)] == expected


def test_line_numbers_are_the_templates():
    (use,) = undefined_in_template("a: 1\nb:\n  {{ nope }}\n", {}, ())
    assert (use.name, use.line) == ("nope", 3)


@pytest.mark.parametrize("expression, expected", [
    ("pullSecret is defined", []),
    ("pullSecret is defined and pullSecret != ''", []),
    ("a == 1 and c", ["c"]),
    ("a is defined and c", ["c"]),
    ("c is defined and c", []),
])
def test_when_expressions(expression, expected):
    assert [u.name for u in undefined_in_expression(expression, VARIABLES)] == expected


# ---- the static check agrees with Jinja itself ----------------------------------------------
# Templates built only from definedness conditions, where the static check must be exact:
# it reports something exactly when rendering them with these variables fails.

DIFF_VARIABLES = {"a": {"k": 1}}
_PATHS = st.sampled_from(["a", "b", "a.k", "a.z", "b.k"])


def _conditions():
    atom = _PATHS.flatmap(lambda p: st.sampled_from([f"{p} is defined", f"{p} is not defined", f"{p} is undefined"]))
    return st.recursive(atom, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda c: f"not ({c})"),
    ), max_leaves=4)


def _statements():
    output = st.one_of(
        _PATHS.map(lambda p: f"{{{{ {p} }}}}"),
        _PATHS.map(lambda p: f"{{{{ {p} | default('d') }}}}"),
        st.tuples(_PATHS, _conditions(), _PATHS).map(lambda t: f"{{{{ {t[0]} if {t[1]} else {t[2]} }}}}"),
        st.just("text"),
    )
    return st.recursive(output, lambda inner: st.one_of(
        st.tuples(_conditions(), inner, inner).map(lambda t: f"{{% if {t[0]} %}}{t[1]}{{% else %}}{t[2]}{{% endif %}}"),
        st.tuples(_conditions(), inner, _conditions(), inner).map(
            lambda t: f"{{% if {t[0]} %}}{t[1]}{{% elif {t[2]} %}}{t[3]}{{% endif %}}"),
        st.lists(inner, min_size=2, max_size=3).map("".join),
    ), max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(_statements())
def test_static_check_matches_rendering(template):
    static = undefined_in_template(template, DIFF_VARIABLES, ())
    try:
        templating.render(template, DIFF_VARIABLES)
        fails = False
    except templating.UndefinedVariable:
        fails = True
    assert bool(static) == fails, (template, static)


# ---- validate and run --------------------------------------------------------------------

@pytest.mark.parametrize("rules, message", [
    ("- patch:\n    strategicMerge: |\n      metadata:\n        labels:\n          team: {{ team }}\n",
     "rules[0].patch.strategicMerge: 'team' is undefined at line 3 of the template"),
    ("- patch:\n    merge: {metadata: {labels: {team: '{{ team }}'}}}\n",
     "rules[0].patch.merge.metadata.labels.team: 'team' is undefined"),
    ("- patch:\n    strategicMerge: |\n      {% if resource.kind == 'Job' %}\n      spec: {ttl: {{ ttl }}}\n      {% endif %}\n",
     "rules[0].patch.strategicMerge: 'ttl' is undefined at line 2 of the template"),
    ("- resources:\n    inline: |\n      {% if policy == 'Always' %}\n      x: {{ mirrorPort }}\n      {% endif %}\n",
     "rules[0].resources.inline: 'mirrorPort' is undefined at line 2 of the template"),
    ("- imagePullPolicy: {policy: \"{% if policy == 'x' %}{{ nope }}{% endif %}Never\"}\n",
     "rules[0].imagePullPolicy.policy: 'nope' is undefined"),
    ("- imagePullPolicy: {policy: Never}\n  when: \"policy == 'x' and nope\"\n",
     "rules[0].when: 'nope' is undefined"),
    ("- imagePullPolicy: {policy: Never}\n  target: {name: \"{% if policy == 'x' %}{{ nope }}{% endif %}web\"}\n",
     "rules[0].target.name: 'nope' is undefined"),
    ("- pullSecret: {name: regcred, template: secret.j2}\n",
     "rules[0].pullSecret.template: 'registry' is undefined at line 2 of the template secret.j2"),
])
def test_validate_finds_undefined_variables(cli, tmp_path, rules, message):
    (tmp_path / "secret.j2").write_text("{% if password is defined %}\nregistry: {{ registry }}\n{% endif %}\n")
    cfg = write_config(tmp_path, "vars: {policy: Never, password: not-a-real-password}\nrules:\n" + rules)
    r = cli(["validate", "-c", str(cfg)])
    assert r.code == 2 and r.out == b""
    assert message in r.err and r.err.count("\n") == 1, r.err
    assert "(define it with vars:, --values, --set or POSTRENDER_VAR_<NAME>, or guard it with 'is defined')" in r.err


@pytest.mark.parametrize("rules", [
    # guarded uses, and rules switched off by a `when` about the variable they use
    "- patch:\n    strategicMerge: |\n      {% if team is defined %}\n      metadata: {labels: {team: {{ team }}}}\n      {% endif %}\n",
    "- imagePullSecrets: {names: ['{{ pullSecret }}']}\n  when: pullSecret is defined\n",
    "- patch:\n    merge: {metadata: {labels: {team: '{{ team | default(\"none\") }}'}}}\n",
    "- pullSecret: {name: regcred}\n",  # the builtin template guards every credential
])
def test_validate_accepts_guarded_uses(cli, tmp_path, rules):
    cfg = write_config(tmp_path, "rules:\n" + rules)
    r = cli(["validate", "-c", str(cfg)])
    assert r.code == 0, r.err


@pytest.mark.parametrize("body", [
    "strategicMerge: |\n      metadata: {labels: {team: {{ team }}}}\n",
    "merge: {metadata: {labels: {team: '{{ team }}'}}}\n",
    "strategicMerge: |\n      metadata: {labels: {team: {{ resource.metadata.name.nope }}}}\n",
])
def test_an_undefined_variable_while_running_is_exit_2(cli, tmp_path, body):
    cfg = write_config(tmp_path, "rules:\n- patch:\n    " + body)
    r = cli(["-c", str(cfg)], DEPLOY)
    assert r.code == 2 and r.out == b"", r.err
    assert "is undefined" in r.err or "has no attribute" in r.err
