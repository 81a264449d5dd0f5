"""Strategic merge patch, table-driven.

Expected results are kustomize 5.7.1's (``kubectl kustomize`` with a ``patches:`` entry) unless
the case id ends in ``-k8s`` (kustomize has no answer or a documented bug, and the item contents
follow k8s.io/apimachinery strategicpatch; list order is still kustomize's patch-items-first, except
where ``$setElementOrder`` sets it) or ``-ours`` (a documented postrender rule, see
postrender/patching/strategic.py).
"""

from __future__ import annotations

import copy

import pytest

from postrender.patching.strategic import PatchError, field_meta, strategic_merge

DEP = ("apps/v1", "Deployment")
CRD = ("example.com/v1", "Widget")


def dep(**podspec) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": podspec}},
    }


def ppatch(**podspec) -> dict:
    return {"spec": {"template": {"spec": podspec}}}


def c(name: str, **kw) -> dict:
    return {"name": name, **kw}


CASES = [
    pytest.param(
        dep(containers=[c("a", image="a:1"), c("b", image="b:1")]),
        ppatch(containers=[c("b", image="b:2")]),
        DEP,
        # patch items first, then the untouched originals (kustomize's ListIncreaseDirection)
        dep(containers=[c("b", image="b:2"), c("a", image="a:1")]),
        id="containers-merge-by-name",
    ),
    pytest.param(
        dep(containers=[c("a", image="a")]),
        ppatch(containers=[c("side", image="s")]),
        DEP,
        dep(containers=[c("side", image="s"), c("a", image="a")]),
        id="containers-new-item-prepended",
    ),
    pytest.param(
        dep(containers=[c("a", image="a", args=["x", "y"])]),
        ppatch(containers=[c("a", args=["z"])]),
        DEP,
        dep(containers=[c("a", image="a", args=["z"])]),
        id="container-args-replaced",
    ),
    pytest.param(
        dep(containers=[c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])]),
        ppatch(containers=[c("a", env=[{"name": "Z", "value": "3"}, {"name": "Y", "value": "9"}])]),
        DEP,
        dep(containers=[c("a", env=[{"name": "Z", "value": "3"}, {"name": "Y", "value": "9"},
                                    {"name": "X", "value": "1"}])]),
        id="env-merge-by-name",
    ),
    pytest.param(
        dep(containers=[c("a", env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])]),
        ppatch(containers=[c("a", env=[{"name": "X", "value": "v", "valueFrom": None}])]),
        DEP,
        dep(containers=[c("a", env=[{"name": "X", "value": "v"}])]),
        id="env-null-deletes-field-in-item",
    ),
    pytest.param(
        dep(containers=[c("a", volumeMounts=[{"name": "v", "mountPath": "/a"},
                                             {"name": "v", "mountPath": "/b"}])]),
        ppatch(containers=[c("a", volumeMounts=[{"mountPath": "/b", "readOnly": True},
                                                {"mountPath": "/a", "$patch": "delete"}])]),
        DEP,
        dep(containers=[c("a", volumeMounts=[{"name": "v", "mountPath": "/b", "readOnly": True}])]),
        id="volumeMounts-by-mountPath-and-delete",
    ),
    pytest.param(
        dep(volumes=[{"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "cm"}}]),
        ppatch(volumes=[{"name": "v2", "secret": {"secretName": "s"}}, {"name": "v3", "emptyDir": {}}]),
        DEP,
        dep(volumes=[{"name": "v2", "configMap": {"name": "cm"}, "secret": {"secretName": "s"}},
                     {"name": "v3", "emptyDir": {}}, {"name": "v1", "emptyDir": {}}]),
        id="volumes-merge-without-retainKeys-directive",
    ),
    pytest.param(
        dep(volumes=[{"name": "v1", "emptyDir": {}}, {"name": "v2", "emptyDir": {}}]),
        ppatch(volumes=[{"name": "v1", "$patch": "delete"}]),
        DEP,
        dep(volumes=[{"name": "v2", "emptyDir": {}}]),
        id="volumes-patch-delete-item",
    ),
    pytest.param(
        dep(volumes=[{"name": "v1", "emptyDir": {}}, {"name": "v2", "emptyDir": {}}]),
        ppatch(volumes=[{"$patch": "replace"}, {"name": "v9", "emptyDir": {}}]),
        DEP,
        dep(volumes=[{"name": "v9", "emptyDir": {}}]),
        id="volumes-patch-replace-list",
    ),
    pytest.param(
        dep(volumes=[{"name": "v1", "emptyDir": {}}]),
        ppatch(volumes=[{"name": "nope", "$patch": "delete"}]),
        DEP,
        dep(volumes=[{"name": "v1", "emptyDir": {}}]),
        id="delete-missing-item-is-noop",
    ),
    pytest.param(
        dep(),
        ppatch(initContainers=[c("i", image="i"), {"name": "j", "$patch": "delete"}]),
        DEP,
        dep(initContainers=[c("i", image="i")]),
        id="new-list-drops-delete-items",
    ),
    pytest.param(
        dep(tolerations=[{"key": "k1", "operator": "Exists"}]),
        ppatch(tolerations=[{"key": "k2", "operator": "Exists"}]),
        DEP,
        dep(tolerations=[{"key": "k2", "operator": "Exists"}]),
        id="tolerations-replaced",
    ),
    pytest.param(
        dep(imagePullSecrets=[{"name": "old"}]),
        ppatch(imagePullSecrets=[{"name": "regcred"}]),
        DEP,
        dep(imagePullSecrets=[{"name": "regcred"}, {"name": "old"}]),
        id="imagePullSecrets-added",
    ),
    pytest.param(
        dep(containers=[c("a")]),
        ppatch(imagePullSecrets=[{"name": "regcred"}]),
        DEP,
        dep(containers=[c("a")], imagePullSecrets=[{"name": "regcred"}]),
        id="imagePullSecrets-new-field",
    ),
    pytest.param(
        dep(imagePullSecrets=[{"name": "s1"}], hostNetwork=True),
        ppatch(imagePullSecrets=None, hostNetwork=None),
        DEP,
        dep(),
        id="null-deletes-keys",
    ),
    pytest.param(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
         "data": {"k": "v"}},
        {"metadata": {"labels": {"b": None, "c": "3"}}, "data": {"k2": "v2"}},
        ("v1", "ConfigMap"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1", "c": "3"}},
         "data": {"k": "v", "k2": "v2"}},
        id="maps-merge-labels-null",
    ),
    pytest.param(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
        {"metadata": {"annotations": {"a": None, "b": "x"}}},
        ("v1", "ConfigMap"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "annotations": {"b": "x"}}},
        id="new-map-drops-null-members",
    ),
    pytest.param(
        dep(affinity={"nodeAffinity": {"x": 1}, "podAffinity": {"y": 2}}),
        ppatch(affinity={"nodeAffinity": {"$patch": "delete"}}),
        DEP,
        dep(affinity={"podAffinity": {"y": 2}}),
        id="patch-delete-map",
    ),
    pytest.param(
        dep(securityContext={"runAsUser": 1, "fsGroup": 2}),
        ppatch(securityContext={"$patch": "replace", "runAsNonRoot": True}),
        DEP,
        dep(securityContext={"runAsNonRoot": True}),
        id="patch-replace-map",
    ),
    pytest.param(
        dep(securityContext={"runAsUser": 1}),
        ppatch(securityContext={"$patch": "merge", "fsGroup": 2}),
        DEP,
        dep(securityContext={"runAsUser": 1, "fsGroup": 2}),
        id="patch-merge-map-explicit",
    ),
    pytest.param(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": ["f1", "f2"]}},
        {"metadata": {"finalizers": ["f3", "f1"]}},
        DEP,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": ["f3", "f1", "f2"]}},
        id="finalizers-primitive-merge-union",
    ),
    pytest.param(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": ["f1", "f2", "f3"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f2"]}},
        DEP,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": ["f1", "f3"]}},
        id="deleteFromPrimitiveList-k8s",
    ),
    pytest.param(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": ["f1", "f2"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"], "finalizers": ["f9"]}},
        DEP,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": ["f9", "f2"]}},
        id="deleteFromPrimitiveList-with-merge-k8s",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b"), c("c")]),
        ppatch(**{"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                  "containers": [c("a", image="a2")]}),
        DEP,
        dep(containers=[c("c"), c("a", image="a2"), c("b")]),
        id="setElementOrder-reorders-k8s",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b"), c("c")]),
        ppatch(**{"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                  "containers": [c("a", image="a2")]}),
        DEP,
        # b is unlisted; it stays before c, which followed it in the original
        dep(containers=[c("b"), c("c"), c("a", image="a2")]),
        id="setElementOrder-partial-k8s",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b")]),
        ppatch(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "new"}, {"name": "a"}],
                  "containers": [c("new", image="n")]}),
        DEP,
        dep(containers=[c("b"), c("new", image="n"), c("a")]),
        id="setElementOrder-inserts-new-k8s",
    ),
    pytest.param(
        dep(volumes=[{"name": "v", "configMap": {"name": "cm"}}]),
        ppatch(volumes=[{"name": "v", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}]),
        DEP,
        dep(volumes=[{"name": "v", "secret": {"secretName": "s"}}]),
        id="retainKeys-volume-source-swap-k8s",
    ),
    pytest.param(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        DEP,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"strategy": {"type": "Recreate"}}},
        id="retainKeys-deployment-strategy-k8s",
    ),
    pytest.param(
        dep(containers=[c("a", ports=[{"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}])]),
        ppatch(containers=[c("a", ports=[{"containerPort": 81, "name": "x"}])]),
        DEP,
        dep(containers=[c("a", ports=[{"containerPort": 81, "protocol": "UDP", "name": "x"},
                                      {"containerPort": 80}])]),
        id="ports-by-containerPort-k8s",
    ),
    pytest.param(
        dep(containers=[c("a", image="a", args=["x"])]),
        ppatch(containers=[c("a", **{"$patch": "replace"}, image="b")]),
        DEP,
        dep(containers=[c("a", image="b")]),
        id="item-patch-replace-ours",
    ),
    pytest.param(
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
         "spec": {"selector": {"matchLabels": {"a": "1"}}}},
        {"spec": {"selector": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}}},
        ("policy/v1", "PodDisruptionBudget"),
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
         "spec": {"selector": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}}},
        id="pdb-selector-replace-strategy-k8s",
    ),
    pytest.param(
        dep(replicas=None, containers=[c("a")]),
        {"spec": {"template": {"spec": "oops"}}},
        DEP,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"template": {"spec": "oops"}}},
        id="type-change-replaces-k8s",
    ),
    pytest.param(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
        {"$patch": "delete"},
        DEP,
        {},
        id="top-level-delete",
    ),
    pytest.param(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}},
        {"spec": {"template": {"metadata": {"labels": {"v": "2"}}}}},
        DEP,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"template": {"metadata": {"labels": {"app": "x", "v": "2"}}}}},
        id="pod-template-labels-merge",
    ),
    pytest.param(
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"},
         "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [c("a", image="a")]}}}}}},
        {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [c("a", image="b")]}}}}}},
        ("batch/v1", "CronJob"),
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"},
         "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [c("a", image="b")]}}}}}},
        id="cronjob-deep-containers",
    ),
    # --- unknown kinds (CRDs): lists replaced, maps merged, map directives honoured
    pytest.param(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}], "tags": ["x", "y"]}},
        {"spec": {"items": [{"name": "b", "v": 3}], "tags": ["z"]}},
        CRD,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"items": [{"name": "b", "v": 3}], "tags": ["z"]}},
        id="crd-lists-replaced-even-with-name",
    ),
    pytest.param(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"nested": {"k1": "v1", "k2": {"deep": 1, "other": 2}}, "gone": {"x": 1},
                  "repl": {"x": 1, "y": 2}}},
        {"spec": {"nested": {"k2": {"deep": 5}}, "gone": {"$patch": "delete"},
                  "repl": {"$patch": "replace", "z": 3}}},
        CRD,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"nested": {"k1": "v1", "k2": {"deep": 5, "other": 2}}, "repl": {"z": 3}}},
        id="crd-maps-merge-delete-replace",
    ),
    pytest.param(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}},
        {"spec": {"items": [{"name": "b", "$patch": "delete"}]}},
        CRD,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"items": [{"name": "a", "v": 1}]}},
        id="crd-list-delete-directive-merges-by-name-ours",
    ),
    pytest.param(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}},
        {"spec": {"items": [{"name": "b", "v": 5}, {"name": "a", "$patch": "delete"}]}},
        CRD,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"items": [{"name": "b", "v": 5}]}},
        id="crd-list-directive-also-merges-others-ours",
    ),
    pytest.param(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"template": {"spec": {"containers": [c("a", image="a")]}}}},
        {"spec": {"template": {"spec": {"containers": [c("b", image="b")]}}}},
        CRD,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
         "spec": {"template": {"spec": {"containers": [c("b", image="b")]}}}},
        id="crd-pod-like-containers-replaced",
    ),
    pytest.param(
        dep(containers=[c("a")]),
        ppatch(unknownList=[{"name": "x"}]),
        DEP,
        dep(containers=[c("a")], unknownList=[{"name": "x"}]),
        id="unknown-field-in-known-kind",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b")]),
        ppatch(containers=[c("b", image="1"), c("b", command=["x"])]),
        DEP,
        dep(containers=[c("b", image="1", command=["x"]), c("a")]),
        id="repeated-key-in-patch-merges-ours",
    ),
]


@pytest.mark.parametrize(("original", "patch", "gvk", "expected"), CASES)
def test_strategic_merge(original, patch, gvk, expected):
    orig_copy, patch_copy = copy.deepcopy(original), copy.deepcopy(patch)
    assert strategic_merge(original, patch, *gvk) == expected
    assert original == orig_copy, "original was mutated"
    assert patch == patch_copy, "patch was mutated"


def test_result_shares_nothing_with_inputs():
    original = dep(containers=[c("a", env=[{"name": "X"}])])
    patch = ppatch(containers=[c("b", args=["q"])])
    out = strategic_merge(original, patch, *DEP)
    out["spec"]["template"]["spec"]["containers"][0]["args"].append("mutated")
    out["spec"]["template"]["spec"]["containers"][1]["env"].append("mutated")
    assert patch["spec"]["template"]["spec"]["containers"][0]["args"] == ["q"]
    assert original["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "X"}]


ERRORS = [
    pytest.param(
        ppatch(affinity={"$patch": "explode"}),
        "spec.template.spec.affinity: unknown $patch directive 'explode'",
        id="unknown-map-directive",
    ),
    pytest.param(
        ppatch(containers=[{"image": "x"}]),
        "spec.template.spec.containers[0]: item has no merge key 'name'",
        id="missing-merge-key",
    ),
    pytest.param(
        ppatch(containers=[{"name": "a", "$patch": "bogus"}]),
        "spec.template.spec.containers[0]: unknown $patch directive 'bogus'",
        id="unknown-item-directive",
    ),
    pytest.param(
        ppatch(containers=["a"]),
        "spec.template.spec.containers[0]: list merged by key 'name' needs mapping items",
        id="scalar-in-keyed-list",
    ),
    pytest.param(
        ppatch(tolerations=[{"key": "k", "$patch": "delete"}]),
        "spec.template.spec.tolerations[0]: item has no merge key 'name' "
        "(list merged by 'name' because the patch uses list directives)",
        id="directive-in-atomic-list-without-name",
    ),
    pytest.param(
        ppatch(volumes=[{"name": "v", "$retainKeys": ["name"], "secret": {"secretName": "s"}}]),
        "spec.template.spec.volumes[name=v].$retainKeys: patch sets 'secret', which is not in the "
        "list of retained keys",
        id="retainKeys-missing-patched-key",
    ),
    pytest.param(
        ppatch(securityContext={"$retainKeys": "runAsUser"}),
        "spec.template.spec.securityContext.$retainKeys: must be a list of field names",
        id="retainKeys-not-a-list",
    ),
    pytest.param(
        ppatch(**{"$setElementOrder/containers": [{"name": "a"}], "containers": [c("b")]}),
        "$setElementOrder/spec.template.spec.containers: the patch list's items are not in the order",
        id="setElementOrder-missing-patch-item",
    ),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "f1"}},
        "metadata.$deleteFromPrimitiveList/finalizers: must be a list of scalars",
        id="deleteFromPrimitiveList-not-a-list",
    ),
    pytest.param(
        {"metadata": {"finalizers": [{"a": 1}]}},
        "metadata.finalizers: merge list without a merge key takes scalars only",
        id="finalizers-not-scalars",
    ),
]


@pytest.mark.parametrize(("patch", "message"), ERRORS)
def test_strategic_merge_errors(patch, message):
    original = dep(containers=[c("a")], volumes=[{"name": "v", "emptyDir": {}}],
                   securityContext={"runAsUser": 1})
    original["metadata"]["finalizers"] = ["f1"]
    with pytest.raises(PatchError) as exc:
        strategic_merge(original, patch, *DEP)
    assert message in str(exc.value)


def test_patch_must_be_mapping():
    with pytest.raises(PatchError, match="the patch must be a mapping, not a list"):
        strategic_merge({}, [], *DEP)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("api_version", "kind", "path", "merge_key", "strategies"),
    [
        ("apps/v1", "Deployment", ["spec", "template", "spec", "containers"], "name", ("merge",)),
        ("apps/v1", "Deployment", ["spec", "template", "spec", "containers", "env"], "name", ("merge",)),
        ("v1", "Pod", ["spec", "containers", "volumeMounts"], "mountPath", ("merge",)),
        ("v1", "Pod", ["spec", "volumes"], "name", ("merge", "retainKeys")),
        ("v1", "Service", ["spec", "ports"], "port", ("merge",)),
        ("batch/v1", "CronJob", ["spec", "jobTemplate", "spec", "template", "spec", "initContainers"],
         "name", ("merge",)),
        ("v1", "Pod", ["metadata", "finalizers"], None, ("merge",)),
    ],
)
def test_field_meta(api_version, kind, path, merge_key, strategies):
    meta = field_meta(api_version, kind, path)
    assert meta is not None
    assert (meta.merge_key, meta.strategies) == (merge_key, strategies)


@pytest.mark.parametrize(
    ("api_version", "kind", "path"),
    [
        ("apps/v1", "Deployment", ["spec", "template", "spec", "tolerations"]),
        ("example.com/v1", "Widget", ["spec", "containers"]),
        ("apps/v1", "Deployment", ["spec", "nonsense"]),
    ],
)
def test_field_meta_none(api_version, kind, path):
    assert field_meta(api_version, kind, path) is None


# order="keep" (the patch rule): original items stay in place, new items are appended.  Expected
# values follow the definition in postrender/patching/strategic.py, not kustomize.
KEEP_CASES = [
    pytest.param(
        dep(containers=[c("a", image="a:1"), c("b", image="b:1")]),
        ppatch(containers=[c("b", image="b:2")]),
        dep(containers=[c("a", image="a:1"), c("b", image="b:2")]),
        id="merged-item-keeps-position-ours",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b")]),
        ppatch(containers=[c("new"), c("a", image="x"), c("new2")]),
        dep(containers=[c("a", image="x"), c("b"), c("new"), c("new2")]),
        id="new-items-appended-in-patch-order-ours",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b"), c("c")]),
        ppatch(containers=[c("b", **{"$patch": "delete"}), c("c", image="z")]),
        dep(containers=[c("a"), c("c", image="z")]),
        id="delete-then-merge-ours",
    ),
    pytest.param(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "finalizers": ["x", "y"]}},
        {"metadata": {"finalizers": ["z", "x"]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "finalizers": ["x", "y", "z"]}},
        id="set-union-appends-ours",
    ),
    pytest.param(
        dep(containers=[c("a"), c("b"), c("c")]),
        {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                                        "containers": [c("c", image="z")]}}}},
        dep(containers=[c("c", image="z"), c("a"), c("b")]),
        id="setElementOrder-still-wins-ours",
    ),
]


@pytest.mark.parametrize("original, patch, expected", KEEP_CASES)
def test_keep_order(original, patch, expected):
    assert strategic_merge(original, patch, *DEP, order="keep") == expected


def test_unknown_order_is_rejected():
    with pytest.raises(ValueError):
        strategic_merge(dep(), ppatch(), *DEP, order="random")


def test_items_without_merge_key_land_in_an_empty_list():
    """kustomize takes the patch's list as it is where the original has none (an env entry with
    only valueFrom, api/krusty nameprefixsuffixpatch_test); into an existing list it would lose
    items (kyaml), so that stays an error."""
    pod = {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
    env = [{"valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}}, {"name": "A", "value": "1", "x": None}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": env}]}}}}
    out = strategic_merge(pod, patch, "apps/v1", "Deployment", order="keep")
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [env[0], {"name": "A", "value": "1"}]
    pod["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "B", "value": "2"}]
    with pytest.raises(PatchError, match=r"env\[0\]: item has no merge key 'name'"):
        strategic_merge(pod, patch, "apps/v1", "Deployment", order="keep")
