"""Where images live: every location the walker yields on tests/data/images.yaml, by reasoning.

The fixture has one resource per kind of place (pod spec lists, args, env, image volumes, a
CronJob, List items, Prometheus, Tekton, Argo, a user ``imageFields`` kind) plus things that look
like images but are not (a ConfigMap ``image`` key, a CRD schema, a non-image flag and env var,
``ENABLE_IMAGE: "true"``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from postrender.images.discovery import BUILTIN_IMAGE_FIELDS, ImageTable, inventory
from postrender.kinds import FieldPath
from postrender.engine.stream import parse_stream
from tests.imagetest_util import config

DATA = (Path(__file__).parent / "data" / "images.yaml").read_bytes()
WIDGET_FIELDS = """\
imageFields:
  - {kind: Widget, group: example.com, path: spec.runner.image}
  - {kind: Widget, path: "spec.images[]"}
"""

# (document, kind, name, path, value, via) in walk order.
EXPECTED = [
    (1, "Deployment", "web", "spec.template.spec.initContainers[0].image", "busybox:1.36", "field"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].image", "docker.io/library/nginx:1.27", "field"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].args[0]", "quay.io/org/sidecar:v2", "arg"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].args[3]", "library/alpine:3.20", "arg"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].env[0].value",
     "ghcr.io/org/worker@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa", "env"),
    (1, "Deployment", "web", "spec.template.spec.containers[1].image", "Not A Valid:ref", "field"),
    (1, "Deployment", "web", "spec.template.spec.ephemeralContainers[0].image", "registry.example.com:5000/tools/debug:1", "field"),
    (1, "Deployment", "web", "spec.template.spec.volumes[0].image.reference", "quay.io/org/data:v1", "field"),
    (2, "CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image", "nginx", "field"),
    (3, "Prometheus", "k8s", "spec.image", "quay.io/prometheus/prometheus:v3.12.0", "field"),
    (3, "Prometheus", "k8s", "spec.containers[0].image", "busybox", "field"),
    (4, "Task", "build", "spec.steps[0].image", "docker.io/golang:1.23", "field"),
    (4, "Task", "build", "spec.sidecars[0].image", "docker:dind", "field"),
    (4, "Task", "build", "spec.stepTemplate.image", "alpine", "field"),
    (5, "Workflow", "wf", "spec.templates[0].container.image", "busybox:1.36", "field"),
    (5, "Workflow", "wf", "spec.templates[1].script.image", "python:3.12", "field"),
    (6, "Pod", "in-list", "items[0].spec.containers[0].image", "index.docker.io/library/nginx:1.27", "field"),
    (7, "Widget", "w", "spec.runner.image", "busybox:1.36", "field"),
    (7, "Widget", "w", "spec.images[0]", "quay.io/org/a:1", "field"),
    (7, "Widget", "w", "spec.images[1]", "nginx", "field"),
]


def test_inventory_finds_every_location_and_nothing_else():
    cfg = config("[]\n", WIDGET_FIELDS)
    found = inventory(parse_stream(DATA).documents, ImageTable.of(cfg))
    got = [(f.document, f.kind, f.name, f.path, f.image, f.via) for f in found]
    assert got == EXPECTED
    assert {f.source for f in found if f.document == 1} == {"demo/templates/web.yaml"}


def test_without_image_fields_the_custom_kind_is_not_visited():
    found = inventory(parse_stream(DATA).documents, ImageTable.of(config("[]\n")))
    assert [f for f in found if f.kind == "Widget"] == []
    assert len(found) == len(EXPECTED) - 3


def test_setting_two_flags_in_one_argument_keeps_both_spans_right():
    stream = parse_stream(
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: a\n"
        b"    args: ['--a-image=x/one:1 --b-image=x/two:2']\n"
    )
    table = ImageTable.of(config("[]\n"))
    pod = stream.documents[0].obj
    locs = [loc for loc in table.locations(pod) if loc.via == "arg"]
    assert [loc.value for loc in locs] == ["x/two:2", "x/one:1"]  # right to left
    for loc in locs:
        loc.set(loc.value.replace("x/", "mirror.example.com/x/"))
    assert pod["spec"]["containers"][0]["args"][0] == (
        "--a-image=mirror.example.com/x/one:1 --b-image=mirror.example.com/x/two:2"
    )


@pytest.mark.parametrize("group,kind,path", BUILTIN_IMAGE_FIELDS, ids=lambda v: str(v))
def test_builtin_table_entries_parse_and_end_in_an_image_field(group, kind, path):
    field = FieldPath.parse(group, kind, path)
    assert field.steps[-1][0] == "image"
    assert group and kind[0].isupper()
