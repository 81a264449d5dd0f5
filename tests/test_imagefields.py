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

# (document, kind, name, path, value, via, discovery rule) in walk order.
EXPECTED = [
    (1, "Deployment", "web", "spec.template.spec.initContainers[0].image", "busybox:1.36", "field", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].image", "docker.io/library/nginx:1.27", "field", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].args[0]", "quay.io/org/sidecar:v2", "arg", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].args[3]", "library/alpine:3.20", "arg", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.containers[0].env[0].value",
     "ghcr.io/org/worker@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa", "env", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.containers[1].image", "Not A Valid:ref", "field", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.ephemeralContainers[0].image", "registry.example.com:5000/tools/debug:1", "field", "podSpec"),
    (1, "Deployment", "web", "spec.template.spec.volumes[0].image.reference", "quay.io/org/data:v1", "field", "imageVolume"),
    (2, "CronJob", "nightly", "spec.jobTemplate.spec.template.spec.containers[0].image", "nginx", "field", "podSpec"),
    (3, "Prometheus", "k8s", "spec.image", "quay.io/prometheus/prometheus:v3.12.0", "field", "imageField"),
    (3, "Prometheus", "k8s", "spec.containers[0].image", "busybox", "field", "imageField"),
    (4, "Task", "build", "spec.steps[0].image", "docker.io/golang:1.23", "field", "imageField"),
    (4, "Task", "build", "spec.sidecars[0].image", "docker:dind", "field", "imageField"),
    (4, "Task", "build", "spec.stepTemplate.image", "alpine", "field", "imageField"),
    (5, "Workflow", "wf", "spec.templates[0].container.image", "busybox:1.36", "field", "imageField"),
    (5, "Workflow", "wf", "spec.templates[1].script.image", "python:3.12", "field", "imageField"),
    (6, "Pod", "in-list", "items[0].spec.containers[0].image", "index.docker.io/library/nginx:1.27", "field", "podSpec"),
    (7, "Widget", "w", "spec.runner.image", "busybox:1.36", "field", "imageField"),
    (7, "Widget", "w", "spec.images[0]", "quay.io/org/a:1", "field", "imageField"),
    (7, "Widget", "w", "spec.images[1]", "nginx", "field", "imageField"),
]


def test_inventory_finds_every_location_and_nothing_else():
    cfg = config("[]\n", WIDGET_FIELDS)
    found = inventory(parse_stream(DATA).documents, ImageTable.of(cfg))
    got = [(f.document, f.kind, f.name, f.path, f.image, f.via, f.discovery) for f in found]
    assert got == EXPECTED
    assert {f.source for f in found if f.document == 1} == {"demo/templates/web.yaml"}


def test_without_image_fields_generic_discovery_takes_only_the_image_key():
    """spec.runner.image is an `image` key with a valid reference (the imageKey rule); the list
    spec.images[] is no image key, so only imageFields can name it."""
    found = inventory(parse_stream(DATA).documents, ImageTable.of(config("[]\n")))
    assert [(f.path, f.image, f.discovery) for f in found if f.kind == "Widget"] == [
        ("spec.runner.image", "busybox:1.36", "imageKey")]
    assert len(found) == len(EXPECTED) - 2


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


@pytest.mark.parametrize("group,kind,path,policy", BUILTIN_IMAGE_FIELDS, ids=lambda v: str(v))
def test_builtin_table_entries_parse_and_end_in_an_image_field(group, kind, path, policy):
    field = FieldPath.parse(group, kind, path)
    assert field.steps[-1][0] in ("image", "baseImage", "imageName", "package")
    assert group and kind[0].isupper() and isinstance(policy, bool)
