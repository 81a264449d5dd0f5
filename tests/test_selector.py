"""kustomize target selection (api/types/selector.go, resmap Select) and k8s label selectors."""

from __future__ import annotations

import pytest

from postrender.selector import (
    LabelSelector,
    ResourceIdentity,
    Selector,
    SelectorError,
    Target,
)
from tests.conftest import CONFIG_HEADER

DEPLOY = ResourceIdentity("apps/v1", "Deployment", "backend", "prod",
                          labels={"app": "web", "tier": "back", "ver": "3"},
                          annotations={"team": "core", "example.com/owner": "alice"})
SVC = ResourceIdentity("v1", "Service", "backend", None, labels={"app": "web"})
CLUSTER_ROLE = ResourceIdentity("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")
WIDGET = ResourceIdentity("example.com/v1alpha1", "Widget", "w1", None)

MATCH = [
    ({}, DEPLOY, True, "empty-selects-all"),
    ({"kind": "Deployment"}, DEPLOY, True, "kind-exact"),
    ({"kind": "Deploy"}, DEPLOY, False, "kind-anchored-no-prefix-match"),
    ({"kind": "ployment"}, DEPLOY, False, "kind-anchored-no-suffix-match"),
    ({"kind": "Deployment|StatefulSet"}, DEPLOY, True, "kind-alternation-anchored-as-group"),
    ({"kind": "Stateful|Deployment"}, DEPLOY, True, "alternation-second-branch"),
    ({"name": "back.*"}, DEPLOY, True, "name-regex"),
    ({"name": "backend-.*"}, DEPLOY, False, "name-regex-no-match"),
    ({"group": "apps"}, DEPLOY, True, "group"),
    ({"group": "apps"}, SVC, False, "group-apps-not-core"),
    ({"group": ""}, SVC, True, "empty-group-is-no-constraint"),
    ({"group": "()"}, SVC, True, "core-only-pattern-matches-core"),
    ({"group": "()"}, DEPLOY, False, "core-only-pattern-rejects-apps"),
    ({"version": "v1"}, DEPLOY, True, "version"),
    ({"version": "v1"}, WIDGET, False, "version-anchored"),
    ({"version": "v1.*"}, WIDGET, True, "version-regex"),
    ({"namespace": "prod"}, DEPLOY, True, "namespace"),
    ({"namespace": "default"}, SVC, True, "no-namespace-is-default"),
    ({"namespace": "default"}, CLUSTER_ROLE, False, "cluster-scoped-not-in-default"),
    ({"namespace": ".*"}, CLUSTER_ROLE, True, "cluster-scoped-matches-dot-star"),
    ({"namespace": "default"}, WIDGET, True, "crd-assumed-namespaced"),
    ({"kind": "Deployment", "name": "backend", "namespace": "prod"}, DEPLOY, True, "all-fields-and"),
    ({"kind": "Deployment", "name": "frontend"}, DEPLOY, False, "one-field-fails"),
    ({"labelSelector": "app=web"}, DEPLOY, True, "label-eq"),
    ({"labelSelector": "app==web"}, DEPLOY, True, "label-double-eq"),
    ({"labelSelector": "app=api"}, DEPLOY, False, "label-eq-mismatch"),
    ({"labelSelector": "app!=api"}, DEPLOY, True, "label-neq"),
    ({"labelSelector": "missing!=x"}, DEPLOY, True, "label-neq-absent-key-matches"),
    ({"labelSelector": "tier in (front, back)"}, DEPLOY, True, "label-in"),
    ({"labelSelector": "tier in (front)"}, DEPLOY, False, "label-in-miss"),
    ({"labelSelector": "tier notin (front,back)"}, DEPLOY, False, "label-notin"),
    ({"labelSelector": "missing notin (a)"}, DEPLOY, True, "label-notin-absent-key-matches"),
    ({"labelSelector": "tier"}, DEPLOY, True, "label-exists"),
    ({"labelSelector": "!tier"}, DEPLOY, False, "label-not-exists"),
    ({"labelSelector": "!canary"}, DEPLOY, True, "label-not-exists-absent"),
    ({"labelSelector": "app=web,tier in (back),!canary"}, DEPLOY, True, "label-and"),
    ({"labelSelector": "app=web,tier=front"}, DEPLOY, False, "label-and-one-fails"),
    ({"labelSelector": "ver>2"}, DEPLOY, True, "label-gt"),
    ({"labelSelector": "ver<3"}, DEPLOY, False, "label-lt"),
    ({"labelSelector": "app=web"}, WIDGET, False, "label-on-unlabelled"),
    ({"annotationSelector": "team=core"}, DEPLOY, True, "annotation-eq"),
    ({"annotationSelector": "example.com/owner in (alice,bob)"}, DEPLOY, True, "annotation-prefixed-key"),
    ({"annotationSelector": "team=infra"}, DEPLOY, False, "annotation-mismatch"),
]


@pytest.mark.parametrize(("mapping", "res", "expected"), [m[:3] for m in MATCH], ids=[m[3] for m in MATCH])
def test_selector_matches(mapping, res, expected):
    assert Selector.from_mapping(mapping).matches(res) is expected


BAD = [
    ({"kind": "Deploy("}, "kind", "invalid regular expression"),
    ({"name": 3}, "name", "must be a string"),
    ({"knd": "Deployment"}, "knd", "unknown selector field"),
    ({"labelSelector": "app in web"}, "labelSelector", "expected '(' after 'in'"),
    ({"labelSelector": "app in ()"}, "labelSelector", "'in' needs at least one value"),
    ({"labelSelector": "app in (a"}, "labelSelector", "missing ')'"),
    ({"labelSelector": "app=web,"}, "labelSelector", "trailing ','"),
    ({"labelSelector": "app=web tier=x"}, "labelSelector", "expected ',' between requirements"),
    ({"labelSelector": "-app=x"}, "labelSelector", "invalid key '-app'"),
    ({"labelSelector": "app=has space"}, "labelSelector", "expected ',' between requirements"),
    ({"labelSelector": "app=" + "x" * 64}, "labelSelector", "at most 63 characters"),
    ({"labelSelector": "ver>x"}, "labelSelector", "'>' needs an integer value"),
    ({"labelSelector": "!"}, "labelSelector", "expected a key after '!'"),
    ({"annotationSelector": "a=b=c"}, "annotationSelector", "expected ',' between requirements"),
    ({"labelSelector": "Bad_Prefix/x=y"}, "labelSelector", "prefix must be a DNS subdomain"),
]


@pytest.mark.parametrize(("mapping", "field", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_selector_errors_name_the_field(mapping, field, message):
    with pytest.raises(SelectorError) as exc:
        Selector.from_mapping(mapping)
    assert exc.value.field == field
    assert str(exc.value).startswith(f"{field}: ")
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("k=", {"k": ""}, True),
        ("k=", {"k": "v"}, False),
        ("k in (a,)", {"k": ""}, True),
        (" a = b , c ", {"a": "b", "c": "x"}, True),
        ("a notin (x),b", {"b": "1"}, True),
    ],
    ids=["empty", "empty-value", "empty-value-miss", "in-empty-member", "whitespace", "notin-then-exists"],
)
def test_label_selector_grammar(text, labels, expected):
    assert LabelSelector.parse(text).matches(labels) is expected


TARGETS = [
    ({"kind": "Deployment|Service"}, DEPLOY, True, "include-only"),
    ({"kind": "Deployment|Service", "exclude": [{"kind": "Service"}]}, SVC, False, "excluded"),
    ({"kind": "Deployment|Service", "exclude": [{"kind": "Service"}]}, DEPLOY, True, "not-excluded"),
    ({"exclude": [{"namespace": "prod"}]}, DEPLOY, False, "exclude-only-excludes"),
    ({"exclude": [{"namespace": "prod"}]}, SVC, True, "exclude-only-keeps-rest"),
    ({"exclude": [{"name": "x"}, {"labelSelector": "tier=back"}]}, DEPLOY, False, "any-exclude-wins"),
    (None, WIDGET, True, "no-target-selects-all"),
]


@pytest.mark.parametrize(("mapping", "res", "expected"), [t[:3] for t in TARGETS], ids=[t[3] for t in TARGETS])
def test_target(mapping, res, expected):
    assert Target.from_mapping(mapping).matches(res) is expected


def test_target_exclude_error_path():
    with pytest.raises(SelectorError) as exc:
        Target.from_mapping({"kind": "Deployment", "exclude": [{"name": "ok"}, {"kind": "("}]})
    assert exc.value.field == "exclude[1].kind"


def test_target_direct_construction():
    t = Target(include=None, exclude=[Selector(kind="Service")])
    assert t.matches(DEPLOY) and not t.matches(SVC)


def test_identity_from_object():
    res = ResourceIdentity.from_object({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "r", "labels": {"on": True, "n": 1}},
    })
    assert (res.group, res.version, res.name) == ("rbac.authorization.k8s.io", "v1", "r")
    assert res.effective_namespace == "_non_namespaceable_"
    assert res.labels == {"on": "true", "n": "1"}


def test_cluster_scoped_override():
    res = ResourceIdentity("example.com/v1", "ClusterThing", "x", cluster_scoped=True)
    assert not Selector(namespace="default").matches(res)


def test_a_rule_target_reads_labels_as_the_selector_does():
    """The run path uses ResourceIdentity.from_object: a YAML boolean label reads 'true', as
    the label-selector grammar writes it (it used to read 'True' there and never match)."""
    from postrender.config.loader import load_config_text
    from postrender.pipeline import run_stream

    config = load_config_text(
        CONFIG_HEADER + "rules:\n"
        "  - imagePullPolicy: {policy: Never}\n    target: {labelSelector: canary=true}\n", "t.yaml")
    stream = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    canary: true\n"
              "spec:\n  containers:\n  - name: c\n    image: x\n"
              "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n"
              "spec:\n  containers:\n  - name: c\n    image: x\n")
    out = run_stream(config, stream.encode()).output.decode()
    first, second = out.split("---\n")
    assert "imagePullPolicy: Never" in first and "imagePullPolicy" not in second
