"""examples/: one config per job, each run exactly as its header says, output checked.

Every ``examples/<job>/postrender.yaml`` starts with a ``# Run (from the repository root):``
line followed by the command; this test runs that command verbatim with bash in the repository
root (``postrender`` being this checkout), compares the output with a golden file in
snapshots/test_examples/ and checks what the job is for.  The README's first command runs one
of them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/postrender.yaml"))


def run_command(name: str) -> str:
    text = (ROOT / "examples" / name / "postrender.yaml").read_text()
    m = re.search(r"^# Run \(from the repository root\):\n#   (.+)$", text, re.MULTILINE)
    assert m, f"examples/{name}/postrender.yaml has no '# Run (from the repository root):' line"
    return m.group(1)


@pytest.fixture(scope="module")
def postrender_on_path(tmp_path_factory) -> dict:
    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "postrender"
    exe.write_text(f"#!/bin/sh\nPYTHONPATH='{ROOT}' exec '{sys.executable}' -m postrender \"$@\"\n")
    exe.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", POSTRENDER_TTY="0")
    return env


def run_example(name: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", run_command(name)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_there_is_one_example_per_job():
    assert EXAMPLES == ["busybox-to-quay", "offline-mirror", "patches"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_output_is_the_golden_one(name, postrender_on_path, yaml_snapshot):
    proc = run_example(name, postrender_on_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == yaml_snapshot


def objects(text: str) -> dict:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}


def pod_specs(objs: dict) -> list[dict]:
    out = []
    for (kind, _), obj in objs.items():
        if kind == "Deployment":
            out.append(obj["spec"]["template"]["spec"])
        elif kind == "CronJob":
            out.append(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return out


def images(spec: dict) -> list[str]:
    return [c["image"] for key in ("initContainers", "containers") for c in spec.get(key, [])]


def test_offline_mirror_job(postrender_on_path):
    proc = run_example("offline-mirror", postrender_on_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    objs = objects(proc.stdout)
    for spec in pod_specs(objs):
        assert all(i.startswith("registry.airgap.example/dockerhub/library/") for i in images(spec))
        assert spec["imagePullSecrets"] == [{"name": "mirror-pull"}]
        assert {c["imagePullPolicy"] for key in ("initContainers", "containers") for c in spec.get(key, [])} == {"IfNotPresent"}
    secret = objs["Secret", "mirror-pull"]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    auth = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]["registry.airgap.example"]
    assert (auth["username"], auth["password"]) == ("ci-robot", "example-only-not-a-secret")

    # Without credentials: no Secret, and the reference check says why nothing was written.
    without = subprocess.run(["bash", "-c", run_command("offline-mirror").replace(
        " -f examples/offline-mirror/credentials.yaml", "")], cwd=ROOT, env=postrender_on_path,
        capture_output=True, text=True, timeout=120)
    assert without.returncode == 1 and without.stdout == ""
    assert "no Secret 'mirror-pull'" in without.stderr


def test_busybox_to_quay_job(postrender_on_path):
    proc = run_example("busybox-to-quay", postrender_on_path)
    objs = objects(proc.stdout)
    all_images = [i for spec in pod_specs(objs) for i in images(spec)]
    assert sorted(all_images) == ["nginx:1.27", "quay.io/prometheus/busybox:1.36", "quay.io/prometheus/busybox:1.36"]
    assert proc.stderr.count("postrender: warning:") == 1 and "nginx:1.27" in proc.stderr


def test_patches_job(postrender_on_path):
    proc = run_example("patches", postrender_on_path)
    objs = objects(proc.stdout)
    deployment = objs["Deployment", "demo"]
    assert deployment["spec"]["replicas"] == 3  # values.yaml beats vars:
    assert deployment["metadata"]["labels"]["team"] == "payments"
    assert deployment["spec"]["template"]["spec"]["securityContext"] == {"runAsNonRoot": True}
    assert objs["CronJob", "demo-sync"]["spec"]["successfulJobsHistoryLimit"] == 1
    assert objs["ConfigMap", "demo"]["metadata"]["annotations"] == {"example.com/owner": "payments"}
    # Untouched documents come out byte for byte.
    assert "# Source: demo/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\n" in proc.stdout


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_validate(name, postrender_on_path):
    command = run_command(name)
    config_and_values = command.split(" < ")[0].replace("postrender ", "postrender validate ", 1)
    proc = subprocess.run(["bash", "-c", config_and_values], cwd=ROOT, env=postrender_on_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and " ok, " in proc.stdout, proc.stderr


def test_the_readme_runs_an_example_first():
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```sh\n(.+?)\n```", readme, re.DOTALL).group(1)
    assert first.endswith(".venv/bin/" + run_command("offline-mirror")), first
