"""Shared helpers for the image rule tests: run a config on a stream, read image values back."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from postrender.config.loader import load_config_text
from postrender.kinds import resources
from tests.conftest import CONFIG_HEADER, corpus_required, run_rules

def corpus_files() -> list[Path]:
    """The corpus files (a missing corpus fails the test: tests.conftest.corpus_required)."""
    return corpus_required()


def rules_body(rules_yaml: str, extra: str = "") -> str:
    """Config text (after the header) from the text of its ``rules:`` list plus top-level text."""
    return textwrap.dedent(extra) + "rules:\n" + textwrap.indent(textwrap.dedent(rules_yaml), "  ")


def config(rules_yaml: str, extra: str = ""):
    """A config from the text of its ``rules:`` list (dedented) plus optional top-level text."""
    return load_config_text(CONFIG_HEADER + rules_body(rules_yaml, extra), "test.yaml")


def run(rules_yaml: str, stream: str | bytes, extra: str = ""):
    """``rules_yaml`` is the text of the ``rules:`` list (dedented): run_rules with that body."""
    return run_rules(rules_body(rules_yaml, extra), stream)


class _Loader(yaml.CSafeLoader):
    """PyYAML reads a plain ``=`` (a CRD enum in kube-prometheus) as the YAML 1.1 'value' tag."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def objects(text: str | bytes) -> list[dict]:
    """Every Kubernetes object of a stream, List items expanded (parsed by PyYAML, not by us)."""
    out = []
    for doc in yaml.load_all(text, Loader=_Loader):
        out.extend(r for _, r in resources(doc))
    return out


def identity(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))


def leaves(node, path=""):
    """(path, value) for every scalar leaf, paths like spec.containers[0].image."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, node


def changed_leaves(before: str | bytes, after: str | bytes) -> dict[tuple, object]:
    """{(kind, name, path): new value} for every leaf that differs (objects matched by identity)."""
    old = {identity(o): dict(leaves(o)) for o in objects(before)}
    out = {}
    for obj in objects(after):
        ident = identity(obj)
        prev = old[ident]
        new = dict(leaves(obj))
        assert set(new) == set(prev), f"{ident}: keys changed"
        for path, value in new.items():
            if prev[path] != value:
                out[(ident[1], ident[3], path)] = value
    return out
