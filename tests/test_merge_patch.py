"""RFC 7386 JSON merge patch: the RFC's appendix A examples plus non-mutation."""

from __future__ import annotations

import copy

import pytest

from postrender.patching.merge_patch import apply_merge_patch

# RFC 7386 Appendix A, verbatim.
RFC_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(
    ("target", "patch", "expected"), RFC_CASES, ids=[f"rfc7386-A{i + 1}" for i in range(len(RFC_CASES))]
)
def test_rfc_examples(target, patch, expected):
    t, p = copy.deepcopy(target), copy.deepcopy(patch)
    assert apply_merge_patch(target, patch) == expected
    assert (target, patch) == (t, p)


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"spec": {"replicas": 1, "template": {"x": 1}}}, {"spec": {"replicas": 3}},
                     {"spec": {"replicas": 3, "template": {"x": 1}}}, id="deep-merge"),
        pytest.param({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
                     {"spec": {"containers": [{"name": "b", "image": "x"}]}},
                     {"spec": {"containers": [{"name": "b", "image": "x"}]}}, id="lists-replaced-no-keys"),
        pytest.param({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": None}},
                     {"metadata": {}}, id="null-removes-subtree"),
        pytest.param({"a": 1}, {"$patch": "delete"}, {"a": 1, "$patch": "delete"}, id="no-smp-directives"),
    ],
)
def test_manifest_cases(target, patch, expected):
    assert apply_merge_patch(target, patch) == expected


def test_result_is_independent_copy():
    patch = {"a": {"b": [1]}}
    out = apply_merge_patch({}, patch)
    out["a"]["b"].append(2)
    assert patch == {"a": {"b": [1]}}
