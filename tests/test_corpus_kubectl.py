"""Over the real corpus, kubectl reads what postrender reads, before and after the standard rules.

Every corpus file and stress.yaml go through the standard rule set (tests/data/standard-rules.yaml,
every rule type); kubectl then reads all inputs in one call and all outputs in another, and each
file's objects must equal postrender's own reading of it (tests/kube_oracle.py).  With
tests/test_meaning_corpus.py (which checks the output's data against independently computed
expectations) this closes the loop on real manifests: the data postrender meant is the data
kubectl reads.
"""

from __future__ import annotations

import shutil

import pytest

from postrender.config.loader import load_config
from postrender.pipeline import run_stream
from tests.conftest import CORPUS_FILES, ROOT, STRESS, corpus_required
from tests.kube_oracle import compare_files

STANDARD = ROOT / "tests" / "data" / "standard-rules.yaml"


@pytest.mark.e2e
def test_kubectl_reads_the_corpus_and_the_outputs_as_postrender_does(need_tool, tmp_path):
    kubectl = need_tool("kubectl")
    corpus_required()
    config = load_config(str(STANDARD), (), (), ())
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    for i, path in enumerate([*CORPUS_FILES, STRESS]):
        name = f"{i:02d}-{path.stem}.yaml"
        shutil.copy(path, inputs / name)
        (outputs / name).write_bytes(run_stream(config, path.read_bytes()).output)
    assert compare_files(kubectl, inputs, sorted(inputs.glob("*.yaml"))) == []
    assert compare_files(kubectl, outputs, sorted(outputs.glob("*.yaml"))) == []
