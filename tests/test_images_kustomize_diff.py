"""Differential test: the ``images`` rule against real ``kubectl kustomize`` (kustomize 5.7.1).

For every corpus file, a kustomization ``resources: [file]`` + ``images:`` entries is built by
kubectl 1.35.2 and the same entries are applied by postrender.  Every string under an ``image``
key (and ``image.reference``) is compared per object, parsed, never as text.  Allowed
differences, each counted and asserted to be of the documented kind (images.py docstring):

* ``doubled-suffix``: kustomize applies ``tagSuffix`` twice to containers both its field-spec
  walker and its legacy containers walker reach; postrender applies it once;
* ``wider-reach``: locations kustomize never touches (custom resource fields such as
  ``Prometheus.spec.image``, ``CatalogSource.spec.image``): kustomize keeps the original value.

Images inside ``args``/``env`` are not ``image`` keys and are not compared here.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.imagetest_util import corpus_files, identity, leaves, objects, run
from postrender.images.reference import parse

SUFFIX = "-fips"
DIGEST = "sha256:" + "0123456789abcdef" * 4
CONTAINER_IMAGE = re.compile(r"(^|\.)(containers|initContainers)\[\d+\]\.image$")


def entries_for(images: list[str], rotate: int = 0) -> list[dict]:
    """One entry per distinct image name in the file, cycling through kustomize's entry shapes.

    The names are the ones written in the file (kustomize matches names as written), so most
    entries match; one normalised spelling is added that kustomize must *not* match.
    """
    names = sorted({_name(i) for i in images})
    out = []
    for n, name in enumerate(names):
        shape = (n + rotate) % 5
        if shape == 0:
            out.append({"name": name, "newTag": "e2e-tag"})
        elif shape == 1:
            out.append({"name": name, "newName": f"mirror.example.com/{name.rsplit('/', 1)[-1]}"})
        elif shape == 2:
            out.append({"name": name, "digest": DIGEST})
        elif shape == 3:
            out.append({"name": name, "newName": "mirror.example.com:5000/x/y", "newTag": "v9", "digest": DIGEST})
        else:
            out.append({"name": name, "tagSuffix": SUFFIX})
    if names:
        # docker.io/library/<x> never matches a value written without docker.io in kustomize.
        short = [x for x in names if "/" not in x]
        if short:
            out.append({"name": f"docker.io/library/{short[0]}", "newTag": "never"})
    return out


def _name(image: str) -> str:
    ref = parse(image)
    return ref.name_as_written


def image_leaves(obj: dict) -> dict[str, str]:
    if obj.get("kind") == "CustomResourceDefinition":
        return {}
    return {
        p: v for p, v in leaves(obj)
        if isinstance(v, str) and (p == "image" or p.endswith(".image") or p.endswith(".image.reference"))
    }


def files_with_images() -> list:
    """Corpus files with at least one image field (olm-crds.yaml has only CRDs): nothing to diff otherwise."""
    return [p for p in corpus_files() if any(image_leaves(o) for o in objects(p.read_bytes()))]


@pytest.mark.e2e
@pytest.mark.parametrize("rotate", range(5), ids=lambda r: f"shapes+{r}")
@pytest.mark.parametrize("path", files_with_images(), ids=lambda p: p.name)
def test_images_rule_matches_kubectl_kustomize(path, rotate, tmp_path, need_tool):
    kubectl = need_tool("kubectl")
    original = path.read_bytes()
    before = {identity(o): image_leaves(o) for o in objects(original)}
    images = sorted({v for leaf in before.values() for v in leaf.values()})
    assert images
    entries = entries_for(images, rotate)

    (tmp_path / path.name).write_bytes(original)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [path.name], "images": entries}))
    proc = subprocess.run([str(kubectl), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kust = {identity(o): image_leaves(o) for o in objects(proc.stdout)}

    result = run(yaml.safe_dump([{"images": entries}]), original)
    # The only warnings: a newName that carries an old digest into another repository (issue 13;
    # kustomize says nothing, the result is the same).
    assert all("keeps the digest in another repository" in w for w in result.warnings), result.warnings
    ours = {identity(o): image_leaves(o) for o in objects(result.output)}

    assert set(kust) == set(before) == set(ours)
    counts = {"same": 0, "doubled-suffix": 0, "wider-reach": 0}
    problems = []
    for ident, fields in before.items():
        assert set(ours[ident]) == set(kust[ident]) == set(fields), ident
        for p, old in fields.items():
            k, o = kust[ident][p], ours[ident][p]
            if k == o:
                counts["same"] += 1
            elif CONTAINER_IMAGE.search(p) and k.endswith(SUFFIX * 2) and k[: -len(SUFFIX)] == o:
                counts["doubled-suffix"] += 1
            elif not CONTAINER_IMAGE.search(p) and k == old:
                counts["wider-reach"] += 1
            else:
                problems.append(f"{ident} {p}: original {old!r}, kustomize {k!r}, postrender {o!r}")
    assert not problems, "\n".join(problems)
    changed = sum(1 for i, f in before.items() for p, v in f.items() if ours[i][p] != v)
    assert changed > 0, "the entries matched nothing: the test would prove nothing"
    print(f"{path.name}: {counts}, {changed} changed by postrender")
