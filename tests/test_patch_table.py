"""The generated patch-strategy table matches its source and holds the entries we rely on."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "postrender" / "data" / "patch_strategies.json"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_patch_table", REPO / "scripts" / "gen_patch_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def table() -> dict:
    return json.loads(TABLE.read_text("utf-8"))


def test_table_is_up_to_date(tmp_path):
    pytest.importorskip("kubernetes_validate")
    out = tmp_path / "patch_strategies.json"
    assert _generator().main(["--out", str(out)]) == 0
    assert out.read_text("utf-8") == TABLE.read_text("utf-8"), (
        "postrender/data/patch_strategies.json is stale: run python scripts/gen_patch_table.py"
    )


def test_source_is_newest_kubernetes(table):
    assert "v1.37.0-local/_definitions.json" in table["source"]


POD = "io.k8s.api.core.v1.PodSpec"
CONTAINER = "io.k8s.api.core.v1.Container"


@pytest.mark.parametrize(
    ("definition", "field", "strategy", "merge_key"),
    [
        pytest.param(POD, "containers", "merge", "name", id="PodSpec.containers"),
        pytest.param(POD, "initContainers", "merge", "name", id="PodSpec.initContainers"),
        pytest.param(POD, "imagePullSecrets", "merge", "name", id="PodSpec.imagePullSecrets"),
        pytest.param(POD, "volumes", "merge,retainKeys", "name", id="PodSpec.volumes"),
        pytest.param(CONTAINER, "volumeMounts", "merge", "mountPath", id="Container.volumeMounts"),
        pytest.param(CONTAINER, "ports", "merge", "containerPort", id="Container.ports"),
        pytest.param(CONTAINER, "env", "merge", "name", id="Container.env"),
        pytest.param("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", "merge", None,
                     id="ObjectMeta.finalizers"),
        pytest.param("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "selector", "replace", None,
                     id="PDBSpec.selector"),
    ],
)
def test_known_entries(table, definition, field, strategy, merge_key):
    entry = table["definitions"][definition][field]
    assert entry.get("strategy") == strategy
    assert entry.get("mergeKey") == merge_key


def test_containers_refer_to_container(table):
    assert table["definitions"][POD]["containers"]["ref"] == CONTAINER
    assert table["definitions"][POD]["containers"]["list"] is True


def test_tolerations_have_no_merge_key(table):
    # atomic list in the schema: absent from the table, so it is replaced
    assert "tolerations" not in table["definitions"][POD]


@pytest.mark.parametrize(
    ("api_version", "kind", "definition"),
    [
        ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
        ("v1", "Pod", "io.k8s.api.core.v1.Pod"),
        ("batch/v1", "CronJob", "io.k8s.api.batch.v1.CronJob"),
        ("v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"),
    ],
)
def test_kinds(table, api_version, kind, definition):
    assert table["kinds"][api_version][kind] == definition


def test_no_descriptions_and_compact(table):
    text = TABLE.read_text("utf-8")
    assert "description" not in text
    assert len(text) < 200_000


def test_every_ref_resolves(table):
    defs = table["definitions"]
    for name, fields in defs.items():
        for field, entry in fields.items():
            if "ref" in entry:
                assert entry["ref"] in defs, f"{name}.{field} -> {entry['ref']}"
