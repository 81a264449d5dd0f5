"""The images rule where kustomize 5.7 goes beyond the reference grammar (issue 12 items 3, 10).

Expected texts follow kustomize's ImageTagTransformer (api/filters/imagetag, checked with
kubectl kustomize 1.35.2 in tests/kustomize_cases/): a matched value kustomize accepts is
rewritten even when it is not a valid reference, and its create:true field specs turn null
container lists into [].
"""

from __future__ import annotations

import pytest

from tests.imagetest_util import run

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
        - name: a
          image: {image}
"""


@pytest.mark.parametrize("image, entry, expected", [
    ("some.registry.io/my-image:{GENERATED_TAG}", "{name: some.registry.io/my-image, newTag: fixed}",
     "some.registry.io/my-image:fixed"),
    ("nginx@sha256:111111111111111111", "{name: nginx, newTag: v2}", "nginx:v2"),
    ("nginx@sha256:111111111111111111", "{name: nginx, newName: busybox}", "busybox@sha256:111111111111111111"),
    ("nginx:1.2.1", "{name: nginx, newName: apache, digest: '12345'}", "apache@12345"),
], ids=["template-tag", "short-digest-new-tag", "short-digest-new-name", "entry-digest-as-given"])
def test_values_kustomize_accepts(image, entry, expected):
    result = run(f"- images: [{entry}]\n", DEPLOYMENT.format(image=image))
    assert result.output.decode() == DEPLOYMENT.format(image=expected)
    if image != "nginx:1.2.1":
        assert len(result.warnings) == 1
        assert f"{image!r} is not a valid image reference; rewritten to {expected!r} as kustomize 5.7 does" \
            in result.warnings[0]


def test_invalid_values_no_entry_matches_are_left_with_a_warning():
    text = DEPLOYMENT.format(image="nginx@sha256:1111")
    result = run("- images: [{name: busybox, newTag: v2}]\n", text)
    assert result.output.decode() == text
    assert "invalid image reference 'nginx@sha256:1111'" in result.warnings[0]


def test_normalize_keeps_the_grammar():
    text = DEPLOYMENT.format(image="nginx@sha256:1111")
    result = run("- images: {normalize: true, entries: [{name: nginx, newTag: v2}]}\n", text)
    assert result.output.decode() == text


NULL_LISTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  containers:
  template:
    spec:
      containers: null
      initContainers: ~
      volumes:   # none yet
      other:
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  x:
    containers:
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.example.com
spec:
  containers:
"""


def test_null_container_lists_become_empty():
    out = run("- images: [{name: nothing-matches, newTag: v2}]\n", NULL_LISTS).output.decode()
    assert out == NULL_LISTS.replace(
        "spec:\n  containers:\n  template:", "spec:\n  containers: []\n  template:").replace(
        "      containers: null\n      initContainers: ~\n      volumes:   # none yet\n",
        "      containers: []\n      initContainers: []\n      volumes: []   # none yet\n")
