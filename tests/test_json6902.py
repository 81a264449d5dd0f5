"""RFC 6902 JSON Patch.  Expectations from RFC 6902 appendix A and RFC 6901 section 5."""

from __future__ import annotations

import copy

import pytest

from postrender.patching.json6902 import PatchError, apply_json6902, parse_pointer

RFC6901_DOC = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
               'k"l': 6, " ": 7, "m~n": 8}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", RFC6901_DOC), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
        ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else None,
)
def test_rfc6901_pointers(pointer, expected):
    assert apply_json6902(RFC6901_DOC, [{"op": "test", "path": pointer, "value": expected}]) == RFC6901_DOC


def test_pointer_escapes_order():
    # "~01" is "~1" literally, not "/"
    assert parse_pointer("/a~01b") == ["a~1b"]


CASES = [
    # RFC 6902 appendix A
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
                 {"baz": "qux", "foo": "bar"}, id="A.1-add-member"),
    pytest.param({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
                 {"foo": ["bar", "qux", "baz"]}, id="A.2-add-array-element"),
    pytest.param({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}],
                 {"foo": "bar"}, id="A.3-remove-member"),
    pytest.param({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
                 {"foo": ["bar", "baz"]}, id="A.4-remove-element"),
    pytest.param({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
                 {"baz": "boo", "foo": "bar"}, id="A.5-replace"),
    pytest.param({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
                 [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
                 {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}, id="A.6-move"),
    pytest.param({"foo": ["all", "grass", "cows", "eat"]},
                 [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
                 {"foo": ["all", "cows", "eat", "grass"]}, id="A.7-move-element"),
    pytest.param({"baz": "qux", "foo": ["a", 2, "c"]},
                 [{"op": "test", "path": "/baz", "value": "qux"},
                  {"op": "test", "path": "/foo/1", "value": 2}],
                 {"baz": "qux", "foo": ["a", 2, "c"]}, id="A.8-test-success"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
                 {"foo": "bar", "child": {"grandchild": {}}}, id="A.10-add-nested"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
                 {"foo": "bar", "baz": "qux"}, id="A.11-ignore-unknown-members"),
    pytest.param({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
                 {"foo": ["bar", ["abc", "def"]]}, id="A.16-add-array-value"),
    pytest.param({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}],
                 {"/": 9, "~1": 10}, id="A.14-escape-ordering"),
    # manifests
    pytest.param({"spec": {"replicas": 1}}, [{"op": "replace", "path": "/spec/replicas", "value": 3}],
                 {"spec": {"replicas": 3}}, id="replace-replicas"),
    pytest.param({"spec": {"containers": [{"name": "a"}]}},
                 [{"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}}],
                 {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}, id="append-dash"),
    pytest.param({"l": [1, 2]}, [{"op": "add", "path": "/l/2", "value": 3}],
                 {"l": [1, 2, 3]}, id="add-at-len-appends"),
    pytest.param({"metadata": {"annotations": {"a/b": "x"}}},
                 [{"op": "remove", "path": "/metadata/annotations/a~1b"}],
                 {"metadata": {"annotations": {}}}, id="remove-escaped-key"),
    pytest.param({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}],
                 {"a": {"b": 1}, "c": {"b": 1}}, id="copy"),
    pytest.param({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}], {"b": 2}, id="add-root"),
    pytest.param({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1], id="replace-root"),
    pytest.param({"a": 1}, [{"op": "add", "path": "/a", "value": 2}], {"a": 2}, id="add-existing-replaces"),
    pytest.param({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}, id="move-to-self"),
    # kustomize's json-patch v4 (gopkg.in/evanphx/json-patch.v4), not the RFC's letter:
    pytest.param({"metadata": {"name": "x"}}, [{"op": "replace", "path": "/metadata/namespace", "value": "ns"}],
                 {"metadata": {"name": "x", "namespace": "ns"}}, id="replace-missing-member-adds"),
    pytest.param({"l": [1, 2, 3]}, [{"op": "replace", "path": "/l/-1", "value": 9}],
                 {"l": [1, 2, 9]}, id="negative-index-counts-from-the-end"),
    pytest.param({"l": [1, 2]}, [{"op": "add", "path": "/l/01", "value": 3}],
                 {"l": [1, 3, 2]}, id="leading-zero-index-as-atoi"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/b", "value": None}], {"a": 1}, id="test-missing-is-null"),
    pytest.param({"n": 1}, [{"op": "test", "path": "/n", "value": 1.0}], {"n": 1}, id="test-number-equality"),
    pytest.param({"a": {"x": 1, "y": [1, {"z": None}]}},
                 [{"op": "test", "path": "/a", "value": {"y": [1, {"z": None}], "x": 1}}],
                 {"a": {"x": 1, "y": [1, {"z": None}]}}, id="test-deep-equality"),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), CASES)
def test_apply(doc, ops, expected):
    d, o = copy.deepcopy(doc), copy.deepcopy(ops)
    assert apply_json6902(doc, ops) == expected
    assert (doc, ops) == (d, o), "inputs were mutated"


ERRORS = [
    pytest.param({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
                 "json6902[0] (test /baz): test failed: /baz is 'qux', expected 'bar'", id="A.9-test-fails"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
                 "json6902[0] (add /baz/bat): /baz does not exist", id="A.12-add-missing-parent"),
    pytest.param({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
                 "json6902[0] (test /~01): test failed", id="A.15-string-vs-number"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a", "value": 1},
                            {"op": "remove", "path": "/b"}],
                 "json6902[1] (remove /b): /b does not exist", id="remove-missing-names-index"),
    pytest.param({"a": 1}, [{"op": "replace", "path": "/b/c", "value": 1}],
                 "json6902[0] (replace /b/c): /b does not exist", id="replace-missing-parent"),
    pytest.param({"l": [1]}, [{"op": "replace", "path": "/l/1", "value": 1}],
                 "json6902[0] (replace /l/1): index 1 is out of range", id="replace-missing-index"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/3", "value": 1}],
                 "json6902[0] (add /l/3): index 3 is out of range", id="index-out-of-range"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/1x", "value": 1}],
                 "json6902[0] (add /l/1x): '1x' is not a list index", id="not-an-index"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/-2", "value": 1}],
                 "json6902[0] (add /l/-2): index -2 is out of range", id="negative-index-out-of-range"),
    pytest.param({"l": [1]}, [{"op": "remove", "path": "/l/-"}],
                 "json6902[0] (remove /l/-): '-' (past the end of the list)", id="remove-dash"),
    pytest.param({"a": 1}, [{"op": "frobnicate", "path": "/a"}],
                 "json6902[0] (frobnicate /a): unknown op 'frobnicate'", id="unknown-op"),
    pytest.param({"a": 1}, [{"op": "add", "path": "/b"}],
                 "json6902[0] (add /b): missing 'value'", id="missing-value"),
    pytest.param({"a": 1}, [{"op": "copy", "path": "/b"}],
                 "json6902[0] (copy /b): missing 'from'", id="missing-from"),
    pytest.param({"a": 1}, [{"op": "add", "path": "a", "value": 1}],
                 "json6902[0] (add a): JSON pointer 'a' must start with '/'", id="bad-pointer"),
    pytest.param({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}],
                 "json6902[0] (move /a/b/c): cannot move /a into its own child", id="move-into-child"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a", "value": True}],
                 "json6902[0] (test /a): test failed", id="test-bool-is-not-int"),
    pytest.param({"a": 1}, [{"op": "add", "path": "/a~2", "value": 1}],
                 "'~' must be followed by 0 or 1", id="bad-escape"),
    pytest.param({"a": "s"}, [{"op": "add", "path": "/a/b", "value": 1}],
                 "json6902[0] (add /a/b): the parent of /a/b is not a mapping or a list", id="scalar-parent"),
]


@pytest.mark.parametrize(("doc", "ops", "message"), ERRORS)
def test_errors(doc, ops, message):
    with pytest.raises(PatchError) as exc:
        apply_json6902(doc, ops)
    assert message in str(exc.value)


def test_failure_leaves_input_untouched():
    doc = {"a": 1}
    with pytest.raises(PatchError):
        apply_json6902(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}])
    assert doc == {"a": 1}


def test_ops_must_be_a_list():
    with pytest.raises(PatchError, match="must be a list of operations"):
        apply_json6902({}, {"op": "add"})  # type: ignore[arg-type]
