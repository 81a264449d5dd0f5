"""Hostile templates are refused with one clear line, fast, in bounded memory (issue 7).

A table of hostile templates x every place a config holds a template (rule options, ``when:``,
patch bodies and the strings inside literal patch data, ``resources`` inline and files, the
``pullSecret`` template file).  Each must end as a ConfigError (exit 2) naming the config
file:line or the rule, never a traceback, never output.  The table runs in-process with a short
CPU deadline; a subset runs as real processes with the shipped limits, timed, with the child's
peak memory (tests.conftest.run_measured).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from postrender.config import sandbox
from postrender.config import templating
from postrender.config.loader import load_config_text
from postrender.errors import ConfigError
from postrender.pipeline import run_stream
from tests.conftest import CONFIG_HEADER, run_measured
from tests.figures import BOUNDS, record

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_bytes()

# name -> (template, words the one-line error must contain)
HOSTILE = {
    "python internals": ("{{ ''.__class__.__mro__ }}", "unsafe"),
    "function globals": ("{{ (1).__add__.__globals__ }}", "unsafe"),
    "cycler gadget": ("{{ cycler.__init__.__globals__ }}", "unsafe"),
    "lipsum": ("{{ lipsum(5) }}", "unsafe Jinja global"),
    "attr filter": ("{{ 'a'|attr('__class__') }}", "unsafe"),
    "format reaches attributes": ("{{ '{0.__class__}'.format(1) }}", "unsafe"),
    "import": ("{% import 'x' as x %}", "{% import %} is not allowed"),
    "from import": ("{% from 'x' import y %}", "{% from ... import %} is not allowed"),
    "include a file": ("{% include '/etc/passwd' %}", "{% include %} is not allowed"),
    "extends": ("{% extends 'base.j2' %}", "{% extends %} is not allowed"),
    "self": ("{{ self }}", "'self' is not available"),
    "namespace dunder": ("{% set ns = namespace() %}{{ ns.__init__ }}", "unsafe"),
    "range 10**9": ("{% for i in range(10**9) %}{% endfor %}", "range of 1,000,000,000 items"),
    "nested loops": ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
                     "s of CPU"),
    "string times 10**10": ("{{ 'x' * 10**10 }}", "would be 10,000,000,000 characters"),
    "list times 10**10": ("{{ [0] * 10**10 }}", "would be 10,000,000,000 characters"),
    "percent width": ("{{ '%999999999s' % 'a' }}", "% format field"),
    "percent star": ("{{ '%*s' % (999999999, 'a') }}", "'*' widths"),
    "format filter width": ("{{ '%999999999d'|format(1) }}", "% format field"),
    "str.format width": ("{{ '{:999999999}'.format(1) }}", "a format field"),
    "str.format nested spec": ("{{ '{:{w}}'.format(1, w=999999999) }}", "nested {}"),
    "huge join": ("{{ range(10000)|join('x' * 1000000) }}", "join would be"),
    "str.join": ("{{ ('x' * 1000000).join(['a'] * 10000) }}", "str.join() would be"),
    "ljust": ("{{ 'a'.ljust(10**9) }}", "str.ljust() would be"),
    "center filter": ("{{ 'a'|center(10**9) }}", "center would be"),
    "replace blow-up": ("{{ ('a' * 10000)|replace('a', 'b' * 10000) }}", "replace would be"),
    "big power": ("{{ (10**1000)**1000 }}", "a power over 4096 bits"),
    "squaring loop": ("{% set ns = namespace(n=10**100) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                      "{% endfor %}{{ ns.n }}", "a product over 4096 bits"),
    "doubling with ~": ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                        "{% endfor %}{{ ns.s }}", "MiB of memory|s of CPU"),  # whichever limit comes first
    "output flood": ("{% for i in range(10000) %}{% for j in range(10000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
                     "rendered text exceeds|s of CPU"),  # the output cap, or the 0.1 s CPU deadline of
                                                         # these in-process runs on a loaded machine
    "macro recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep"),
    "recursive loop": ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursion too deep"),
}
# `when:` holds an expression, not a template: the expression forms of some of the above.
HOSTILE_EXPRESSIONS = {
    "python internals": ("''.__class__.__mro__", "unsafe"),
    "range 10**9": ("range(10**9)|list", "range of"),
    "string times 10**10": ("('x' * 10**10)|length > 0", "would be 10,000,000,000"),
    "huge join": ("range(10000)|join('x' * 1000000)", "join would be"),
    "big power": ("(10**1000)**1000 > 0", "a power over"),
}



def q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


# placement -> (config body, files to write) for a template text
PLACEMENTS = {
    "rule option": lambda t: (f"rules:\n- imagePullSecrets: {{names: [{q(t)}]}}\n", {}),
    "patch body": lambda t: (f"rules:\n- patch: {{strategicMerge: {q(t)}}}\n  target: {{kind: Deployment}}\n", {}),
    "string in patch data": lambda t: (
        f"rules:\n- patch: {{merge: {{metadata: {{labels: {{x: {q(t)}}}}}}}}}\n  target: {{kind: Deployment}}\n", {}),
    "resources inline": lambda t: (f"rules:\n- resources: {{inline: {q(t)}}}\n", {}),
    "resources file": lambda t: ("rules:\n- resources: {template: extra.yaml.j2}\n", {"extra.yaml.j2": t}),
    "pullSecret template": lambda t: (
        "rules:\n- imagePullSecrets: {names: [regcred]}\n- pullSecret: {name: regcred, template: secret.j2}\n",
        {"secret.j2": t}),
}


def attempt(tmp_path: Path, body: str, files: dict) -> ConfigError | None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "postrender.yaml").write_text(CONFIG_HEADER + body)
    try:
        config = load_config_text(CONFIG_HEADER + body, str(tmp_path / "postrender.yaml"), base_dir=tmp_path)
        run_stream(config, INPUT)
    except ConfigError as exc:
        return exc
    return None


@pytest.fixture
def short_deadline(monkeypatch):
    # The mechanism, not the number, is under test here; the shipped limit runs in the process test.
    monkeypatch.setattr(sandbox, "RENDER_CPU_SECONDS", 0.1)


def refusal_problem(tmp_path: Path, case: str, placement: str) -> str | None:
    """What is wrong with how the case is refused in that placement, or None."""
    template, words = HOSTILE[case]
    body, files = PLACEMENTS[placement](template)
    started = time.monotonic()
    error = attempt(tmp_path, body, files)
    elapsed = time.monotonic() - started
    if error is None:
        return "not refused"
    message = error.message
    if error.exit_code != 2 or "\n" in message or not any(w in message for w in words.split("|")):
        return f"unclear: {message}"
    # Names where: the config file:line:col, or the rule and its config line.
    if "postrender.yaml:" not in message or not ("rules[" in message or "rule 1" in message or "rule 2" in message):
        return f"does not say where: {message}"
    if elapsed > 10:
        return f"took {elapsed:.1f} s"
    return None


# What this module's tests refused, for the README figure (reported when every case ran).
REFUSALS = {"in-process": 0, "process": []}


@pytest.fixture(scope="module", autouse=True)
def template_figure():
    yield
    processes = REFUSALS["process"]
    if REFUSALS["in-process"] == len(HOSTILE) * len(PLACEMENTS) + len(HOSTILE_EXPRESSIONS) and len(processes) == len(PROCESS_CASES):
        record("templates", {}, {"refused in-process": REFUSALS["in-process"], "refused as a process": len(processes)},
               {"max_cpu_seconds": round(max(c for c, _ in processes), 2), "max_rss_mb": round(max(m for _, m in processes))})


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_template_is_refused_everywhere(tmp_path, short_deadline, case):
    problems = {}
    for n, placement in enumerate(PLACEMENTS):
        where = tmp_path / str(n)
        where.mkdir()
        problem = refusal_problem(where, case, placement)
        if problem:
            problems[placement] = problem
    assert not problems, problems
    REFUSALS["in-process"] += len(PLACEMENTS)


@pytest.mark.parametrize("case", list(HOSTILE_EXPRESSIONS))
def test_hostile_when_expression_is_refused(tmp_path, case):
    expression, words = HOSTILE_EXPRESSIONS[case]
    error = attempt(tmp_path, f"rules:\n- imagePullPolicy: {{policy: Always}}\n  when: {q(expression)}\n", {})
    assert error is not None and error.exit_code == 2 and words in error.message
    assert "postrender.yaml:5:3: rules[0].when:" in error.message
    REFUSALS["in-process"] += 1


def test_a_hostile_template_in_a_variable_is_only_text(tmp_path):
    """Variables are values, not templates: rendering one never evaluates what it contains."""
    hostile = "{{ ''.__class__.__mro__ }}{% include '/etc/passwd' %}"
    body = f"vars: {{note: {q(hostile)}}}\nrules:\n- patch: {{merge: {{metadata: {{annotations: {{note: \"{{{{ note }}}}\"}}}}}}}}\n  target: {{kind: Deployment, name: sync}}\n"
    config = load_config_text(CONFIG_HEADER + body, "postrender.yaml", base_dir=tmp_path)
    import yaml

    out = run_stream(config, INPUT).output.decode()
    sync = [d for d in yaml.safe_load_all(out) if d and d["metadata"]["name"] == "sync"][0]
    assert sync["metadata"]["annotations"]["note"] == hostile


def test_legitimate_templates_still_work():
    ok = ("{% set ns = namespace(total=0) %}{% for i in range(3) %}{% set ns.total = ns.total + i %}{% endfor %}"
          "{{ ns.total }} {{ 'ab' * 2 }} {{ '%05d' % 42 }} {{ '{:>4}'.format('x') }} {{ [1, 2]|join(',') }}"
          " {{ 2**10 }} {{ 'a-b'|replace('-', '_') }} {{ 'x'|center(5) }}|{{ 'k: v'|indent(2) }}")
    assert templating.render(ok, {}) == "3 abab 00042    x 1,2 1024 a_b   x  |k: v"


def test_the_limits_are_restored_after_a_render():
    import resource
    import signal

    before = (resource.getrlimit(resource.RLIMIT_AS), signal.getsignal(signal.SIGPROF), signal.getitimer(signal.ITIMER_PROF),
              sys.getrecursionlimit())
    templating.render("{{ 1 }}", {})
    with pytest.raises(templating.TemplateRefused):
        templating.render("{{ 'x' * 10**10 }}", {})
    assert (resource.getrlimit(resource.RLIMIT_AS), signal.getsignal(signal.SIGPROF), signal.getitimer(signal.ITIMER_PROF),
            sys.getrecursionlimit()) == before


# ---- as a real process, with the shipped limits ---------------------------------------------------

PROCESS_CASES = ["include a file", "nested loops", "string times 10**10", "doubling with ~", "macro recursion"]
PROCESS_PLACEMENTS = list(PLACEMENTS)


@pytest.mark.parametrize("case", PROCESS_CASES)
def test_hostile_template_process_exit_time_and_memory(tmp_path, case):
    template, words = HOSTILE[case]
    placement = PROCESS_PLACEMENTS[PROCESS_CASES.index(case) % len(PROCESS_PLACEMENTS)]
    body, files = PLACEMENTS[placement](template)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "postrender.yaml").write_text(CONFIG_HEADER + body)
    code, out, err, elapsed, peak_mib, cpu = run_measured(["run", "-c", "postrender.yaml"], DATA / "pull-secrets.yaml", cwd=tmp_path)
    print(f"sandbox figure: {case} in {placement}: exit {code}, {cpu:.2f} s CPU ({elapsed:.2f} s wall), peak {peak_mib:.0f} MiB")
    assert code == 2 and out == b"" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("postrender: error: postrender.yaml:") \
        or err.startswith("postrender: error: rule "), err
    assert any(w in err for w in words.split("|")), err
    # The README's bounds (tests.figures.BOUNDS), on CPU time: the shipped limits are 1 s of CPU
    # per render and 256 MiB of address space a render may add.
    assert cpu < BOUNDS["template_cpu_seconds"], f"{case}: {cpu:.2f} s CPU"
    assert peak_mib < BOUNDS["template_rss_mb"], f"{case}: {peak_mib:.0f} MiB"
    assert BOUNDS["template_rss_mb"] > sandbox.RENDER_MEMORY_BYTES >> 20
    REFUSALS["process"].append((cpu, peak_mib))

