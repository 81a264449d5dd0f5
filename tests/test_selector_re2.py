"""Selector and ``images:`` patterns are Go regexps (RE2): linear time, kustomize's syntax (issue 15).

* The nested-quantifier pattern from the issue, which took Python's ``re`` 4.3 s on 28
  characters, finishes a 40-character (and a 100,000-character) name in under 0.1 s.
* A pattern RE2 refuses is a config error naming the pattern, at the field's own line.
* Differential: the resources ``kubectl kustomize`` selects with a ``patches:`` target are the
  ones postrender selects, for patterns using RE2-only syntax as well (``\\pL``, ``[[:alpha:]]``,
  ``\\Q...\\E``) and for patterns kustomize refuses (both refuse).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from postrender.config.loader import load_config_text
from postrender.errors import ConfigError
from postrender.images.reference import _kustomize_matches
from postrender.selector import ResourceIdentity, Selector
from tests.conftest import CONFIG_HEADER, run_cli, write_config

NESTED = "([a-z]+-?)+-canary"


def seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@pytest.mark.parametrize("length", [28, 40, 100_000])
def test_nested_quantifier_selector_is_linear(length):
    selector = Selector.from_mapping({"name": NESTED})
    almost = ResourceIdentity("v1", "ConfigMap", "a" * (length - 1) + "!")  # fails at the last character
    hit = ResourceIdentity("v1", "ConfigMap", "ab-" * ((length - 7) // 3) + "-canary")
    assert seconds(lambda: selector.matches(almost)) < 0.1
    assert not selector.matches(almost)
    assert selector.matches(hit)


def test_nested_quantifier_images_name_is_linear():
    value = "a" * 40 + "!"
    assert seconds(lambda: _kustomize_matches(value, "(a+)+b")) < 0.1
    assert not _kustomize_matches(value, "(a+)+b")
    assert _kustomize_matches("aaab:1.0", "(a+)+b") and _kustomize_matches("nginx@sha256:0", "nginx")
    assert not _kustomize_matches("nginx", "(?=n)nginx")  # RE2 refuses it, kustomize matches nothing


def test_nested_quantifier_selector_end_to_end(tmp_path):
    name = "ab-" * 11 + "xyzq!"[:4]  # 37 characters, no "-canary": the worst case for backtracking
    stream = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n"
                     for n in (name + "abc", "web-canary"))
    config = write_config(tmp_path, "rules:\n- patch: {merge: {metadata: {labels: {hit: 'yes'}}}}\n"
                          f"  target: {{name: '{NESTED}'}}\n")
    started = time.perf_counter()
    r = run_cli(["run", "-c", str(config)], stream.encode())
    assert r.code == 0, r.err
    assert time.perf_counter() - started < 10  # Python's re: years at 40 characters
    hits = [d["metadata"]["name"] for d in yaml.safe_load_all(r.out) if d and "labels" in d["metadata"]]
    assert hits == ["web-canary"]


REFUSED = {
    "backreference": r"(a)\1",
    "lookahead": "web(?=-canary)",
    "negative lookahead": "(?!kube-).*",
    "lookbehind": "(?<=web-).*",
    "atomic group": "(?>a+)b",
    "possessive": "a++",
    "repetition over 1000": "a{1001}",
    "Python's end of text": r"web\Z",
    "unclosed class": "[a-",
}


@pytest.mark.parametrize("pattern", list(REFUSED.values()), ids=list(REFUSED))
@pytest.mark.parametrize("where", ["target", "exclude"])
def test_a_pattern_re2_refuses_is_a_config_error_at_its_line(pattern, where):
    quoted = "'" + pattern.replace("'", "''") + "'"
    if where == "target":
        body = f"rules:\n- imagePullPolicy: {{policy: Always}}\n  target:\n    kind: Deployment\n    name: {quoted}\n"
        path, line, column = "rules[0].target.name", 7, 5
    else:
        body = ("rules:\n- imagePullPolicy: {policy: Always}\n  target:\n    kind: Deployment\n    exclude:\n"
                f"    - kind: Job\n      name: {quoted}\n")
        path, line, column = "rules[0].target.exclude[0].name", 9, 7
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG_HEADER + body, "postrender.yaml")
    message = caught.value.message
    assert message.startswith(f"postrender.yaml:{line}:{column}: {path}: invalid regular expression {pattern!r}: "), message
    assert "RE2 syntax" in message


def test_a_refused_pattern_is_exit_2_and_one_line_on_stderr(tmp_path):
    config = write_config(tmp_path, "rules:\n- imagePullPolicy: {policy: Always}\n  target: {name: 'a(?=b)'}\n")
    r = run_cli(["run", "-c", str(config)], b"kind: ConfigMap\n")
    assert r.code == 2 and r.out == b""
    assert r.err.count("\n") == 1 and "postrender.yaml:5:" in r.err and "rules[0].target.name" in r.err, r.err


# Patterns and the names they are tried on; kustomize is the judge of which match.
NAMES = ["web", "web-canary", "api-canary", "Web", "wéb", "a.b", "axb", "kube-proxy", "db-0", "db-10", "x" * 40]
PATTERNS = [
    "web", "web|api-canary", "([a-z]+-?)+-canary", r"\pL+", "[[:alpha:]]+", r"\Qa.b\E", "a.b", "(?i)web",
    r"db-\d", r"db-\d+", "kube-.*", ".*canary", "x{40}", "x{2,3}", r"\w+", "(?:web)?", "[^-]+",
    # refused by Go's regexp, so by kustomize and by postrender
    r"(a)\1", "web(?=-canary)", "a{1001}",
]


@pytest.mark.e2e
def test_selection_matches_kubectl_kustomize(tmp_path, need_tool):
    kubectl = need_tool("kubectl")
    resources = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {json.dumps(n)}\n"
                        for n in NAMES)
    (tmp_path / "res.yaml").write_text(resources)
    compared = hits = 0
    for pattern in PATTERNS:
        kustomization = {"resources": ["res.yaml"], "patches": [{
            "target": {"kind": "ConfigMap", "name": pattern},
            "patch": "- op: add\n  path: /metadata/labels\n  value: {hit: 'yes'}\n"}]}
        (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        kust = subprocess.run([str(kubectl), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=120)
        config = write_config(tmp_path, "rules:\n- patch: {merge: {metadata: {labels: {hit: 'yes'}}}}\n"
                              f"  target: {{kind: ConfigMap, name: {json.dumps(pattern)}}}\n",
                              name="postrender.yaml")
        ours = run_cli(["run", "-c", str(config)], resources.encode())
        if kust.returncode != 0:
            assert ours.code == 2 and "invalid regular expression" in ours.err, (pattern, kust.stderr, ours.err)
            continue
        assert ours.code == 0, (pattern, ours.err)

        def selected(text):
            return sorted(d["metadata"]["name"] for d in yaml.safe_load_all(text) if d and "labels" in d["metadata"])

        assert selected(ours.out) == selected(kust.stdout), pattern
        compared += 1
        hits += len(selected(ours.out))
    assert compared == len(PATTERNS) - 3 and hits > len(PATTERNS)
