"""The benchmark's equivalence proof, on small inputs (the timing itself is not run in CI).

bench/run.py derives a kustomization from postrender's result (bench/equivalent.py) and proves
it equivalent by running ``kubectl kustomize`` and comparing the two outputs as data before
timing anything.  Here: the proof passes for the full rule set on a real chart render and on a
small workload-dense stream, and it *fails* when the two outputs differ by one field.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.equivalent import prove, write_kustomization
from bench.workloads import workload_stream
from tests.conftest import CORPUS_FILES, ROOT, corpus_required

CONFIG = ROOT / "bench" / "postrender-full.yaml"


def postrender(path) -> bytes:
    proc = subprocess.run([sys.executable, "-m", "postrender", "-c", str(CONFIG)], stdin=open(path, "rb"),
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def inputs(tmp_path):
    chart = next(p for p in corpus_required() if p.name == "helm-ingress-nginx-4.15.1.yaml")
    workloads = tmp_path / "workloads.yaml"
    workloads.write_bytes(workload_stream(CORPUS_FILES, 200_000))
    return {"chart": chart, "workloads": workloads}


@pytest.mark.e2e
@pytest.mark.parametrize("which", ["chart", "workloads"])
def test_the_derived_kustomization_is_proven_equivalent(need_tool, tmp_path, which):
    kubectl = str(need_tool("kubectl"))
    source = inputs(tmp_path)[which]
    work = tmp_path / "k"
    work.mkdir()
    (work / source.name).write_bytes(source.read_bytes())
    output = postrender(source)
    assert output != source.read_bytes()  # the rules change something worth comparing
    write_kustomization(work, work / source.name, output)
    prove(kubectl, work, output)  # raises SystemExit on any difference


@pytest.mark.e2e
def test_the_proof_fails_when_the_outputs_differ(need_tool, tmp_path):
    kubectl = str(need_tool("kubectl"))
    source = inputs(tmp_path)["chart"]
    (tmp_path / source.name).write_bytes(source.read_bytes())
    output = postrender(source)
    write_kustomization(tmp_path, tmp_path / source.name, output)
    tampered = output.replace(b"imagePullPolicy: IfNotPresent", b"imagePullPolicy: Always", 1)
    assert tampered != output
    with pytest.raises(SystemExit, match="bench"):
        prove(kubectl, tmp_path, tampered)
