"""A plain run imports none of the heavy standard modules (issue 16: start-up cost).

Helm starts postrender once per render, so every module the run path imports is paid every
time: ``dataclasses`` (with inspect, ast, dis, tokenize), ``typing``, ``pathlib`` (with
urllib.parse and ipaddress), ``hashlib``, ``tempfile``, Jinja.  Each case runs postrender in a
fresh interpreter started with ``-S`` and this checkout first on ``sys.path``: an editable
install's import hook (site-packages ``__editable__*_finder.py``) imports pathlib itself, before
postrender, and would hide a regression.

``datetime`` is not in the list: PyYAML's constructor imports it, and the engine reads with PyYAML.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CORPUS, ROOT, corpus_required

HEAVY = ("dataclasses", "typing", "inspect", "ast", "dis", "tokenize", "pathlib", "urllib.parse", "ipaddress",
         "hashlib", "tempfile", "jinja2")

RUN = r"""
import os, sys
sys.path[:0] = sys.argv[1].split(os.pathsep)
import runpy
sys.argv = ["postrender"] + sys.argv[2:]
try:
    runpy.run_module("postrender", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
imported = sorted(sys.modules)
import json
sys.stderr.write("\nIMPORTED " + json.dumps(imported) + "\n")
sys.exit(code)
"""

SMALL = (b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: a}\n"
         b"spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}\n")
NGINX = CORPUS / "files" / "helm-ingress-nginx-4.15.1.yaml"

# A KRM function call (kustomize runs postrender with no arguments, the config in the call).
KRM = b"""apiVersion: config.kubernetes.io/v1
kind: ResourceList
functionConfig:
  apiVersion: postrender/v1alpha1
  kind: PostRenderer
  metadata: {name: krm}
  rules:
    - imagePullPolicy: {policy: IfNotPresent}
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: d}
    spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}
"""

CASES = {  # name: (arguments, stdin: None = empty, "nginx" = a real chart, else bytes)
    "standard-empty": (("-c", "bench/postrender.yaml"), None),
    "standard-small": (("-c", "bench/postrender.yaml"), SMALL),
    "standard-nginx": (("-c", "bench/postrender.yaml"), "nginx"),
    "full-empty": (("-c", "bench/postrender-full.yaml"), None),
    "full-small": (("-c", "bench/postrender-full.yaml"), SMALL),
    "full-nginx": (("-c", "bench/postrender-full.yaml"), "nginx"),
    "krm-function": ((), KRM),
}


def run_and_list_modules(args, stream: bytes) -> tuple[subprocess.CompletedProcess, set[str]]:
    # This checkout, then every directory the test interpreter imports from (its site-packages,
    # for PyYAML), without running site.py and so without any .pth import hook.
    path = [str(ROOT)] + [p for p in sys.path if p and os.path.isdir(p) and os.path.realpath(p) != str(ROOT)]
    proc = subprocess.run([sys.executable, "-S", "-c", RUN, os.pathsep.join(path), *args],
                          input=stream, capture_output=True, cwd=ROOT, timeout=120)
    marker = proc.stderr.rfind(b"\nIMPORTED ")
    assert marker >= 0, proc.stderr.decode(errors="replace")[-2000:]
    modules = set(json.loads(proc.stderr[marker + len(b"\nIMPORTED "):]))
    return proc, modules


@pytest.mark.parametrize("case", CASES)
def test_a_run_imports_no_heavy_module(case):
    args, stream = CASES[case]
    if stream == "nginx":
        corpus_required()
        stream = NGINX.read_bytes()
    proc, modules = run_and_list_modules(args, stream or b"")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    if stream:
        assert proc.stdout, "the run wrote nothing"
    assert "postrender.runner" in modules and "yaml" in modules  # the run really ran, from here
    assert sorted(set(HEAVY) & modules) == []


def test_the_check_sees_a_heavy_import():
    """The harness itself: a config whose rule needs Jinja (a templated resource) imports it."""
    config = ROOT / "tests" / "data" / "standard-rules.yaml"
    proc, modules = run_and_list_modules(("-c", str(config)), SMALL)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert "jinja2" in modules
