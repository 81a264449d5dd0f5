"""Helpers for the end-to-end tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
DEMO_CHART = TESTS / "charts" / "demo"

PULL_POLICY_CONFIG = """\
apiVersion: postrender/v1alpha1
kind: PostRenderer
metadata:
  name: pull-policy   # kustomize requires a name when this file is a plugin config
rules:
  - imagePullPolicy: {{policy: {policy}}}
"""

BAD_CONFIG = """\
apiVersion: postrender/v1alpha1
kind: PostRenderer
metadata:
  name: broken
rules:
  - imagePullPolicy: {policy: Sometimes}
"""


def run(cmd, env, cwd=None, input: bytes | str | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run a tool; text in/out, generous timeout, never inherits our stdin."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        env=env,
        cwd=cwd,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr.strip()}", pytrace=False)
    return proc


def documents(text: str) -> list[dict]:
    """Objects of a multi-doc stream, comment-only documents dropped."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


def by_kind_name(docs: list[dict]) -> dict[tuple[str, str | None], dict]:
    """(kind, name) -> object; a v1 List has no name and is keyed ("List", None)."""
    return {(d["kind"], (d.get("metadata") or {}).get("name")): d for d in docs}


def pull_policies(obj: dict) -> list:
    """imagePullPolicy of every container in a workload, a CronJob or a bare Pod."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    elif obj["kind"] != "Pod":
        spec = spec["template"]["spec"]
    return [c.get("imagePullPolicy") for c in spec.get("containers", [])]


def write_config(path: Path, policy: str = "IfNotPresent") -> Path:
    path.write_text(PULL_POLICY_CONFIG.format(policy=policy))
    return path
