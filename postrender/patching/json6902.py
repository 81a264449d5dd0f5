"""JSON Patch (RFC 6902) on plain objects, with RFC 6901 pointers.

``apply_json6902(obj, ops)`` returns a new object; ``obj`` and ``ops`` are not mutated.  Operations
run in order; the first failure raises :class:`PatchError` naming the operation's index, its
``op`` and its ``path`` (``json6902[2] (remove /spec/replicas): ...``).  Nothing is applied
partially: the caller gets either the fully patched copy or the error.

Semantics (RFC 6902 as kustomize 5.7 applies it, with gopkg.in/evanphx/json-patch.v4):

- ``add``: into a mapping sets the member (replacing it if present); into a list inserts before the
  index, ``-`` appends, index == len appends; the parent must exist.  Path ``""`` replaces the
  whole document.
- ``remove``: the target must exist.
- ``replace``: the parent must exist; in a mapping a missing member is added (json-patch v4's
  ``partialDoc.get`` does not fail on a missing key, so kustomize's ``replace`` of
  ``/metadata/namespace`` adds it); in a list the index must exist.
- ``move``/``copy``: ``from`` must exist; ``move`` into its own child is an error.
- ``test``: deep equality (``1 == 1.0``, but ``true != 1``); failure is an error.  A missing
  member tests equal to ``null`` (json-patch v4).
- pointers: ``/a/b/0``; ``~1`` is ``/``, ``~0`` is ``~``; list indexes are decimal (leading zeros
  and a sign read as Go's ``strconv.Atoi`` does), negative ones count from the end
  (json-patch v4 ``SupportNegativeIndices``); ``-`` only at the end of a list, for add/move/copy.
"""

from __future__ import annotations

import copy
import re

from postrender.patching.strategic import PatchError

__all__ = ["PatchError", "apply_json6902", "parse_pointer"]

_OPS = ("add", "remove", "replace", "move", "copy", "test")


class _OpError(Exception):
    """Internal: a failure inside one op; turned into PatchError with the op's position."""


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901: ``"/a~1b/0"`` -> ``["a/b", "0"]``; ``""`` -> ``[]`` (the whole document)."""
    if not isinstance(pointer, str):
        raise _OpError(f"a JSON pointer must be a string, not {type(pointer).__name__}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _OpError(f"JSON pointer {pointer!r} must start with '/'")
    parts = []
    for raw in pointer[1:].split("/"):
        # "~01" is "~1" literally: replace ~1 first, then ~0 (RFC 6901 section 4).
        i = 0
        while (i := raw.find("~", i)) != -1:
            if raw[i + 1: i + 2] not in ("0", "1"):
                raise _OpError(f"JSON pointer {pointer!r}: '~' must be followed by 0 or 1")
            i += 2
        parts.append(raw.replace("~1", "/").replace("~0", "~"))
    return parts


_ATOI = re.compile(r"[+-]?[0-9]+")


def _index(token: str, length: int, *, allow_end: bool) -> int:
    if token == "-":
        if allow_end:
            return length
        raise _OpError("'-' (past the end of the list) is not an existing element")
    if not _ATOI.fullmatch(token):
        raise _OpError(f"{token!r} is not a list index")
    idx = int(token)
    if idx < 0:
        if idx < -length:
            raise _OpError(f"index {idx} is out of range (the list has {length} items)")
        idx += length
    limit = length if allow_end else length - 1
    if idx > limit:
        raise _OpError(f"index {idx} is out of range (the list has {length} items)")
    return idx


def _resolve_parent(doc: Any, parts: list[str], pointer: str) -> tuple[Any, str]:
    """The container holding the target of ``parts``, and the last token."""
    node = doc
    for depth, token in enumerate(parts[:-1]):
        here = "/" + "/".join(_escape(p) for p in parts[: depth + 1])
        if isinstance(node, dict):
            if token not in node:
                raise _OpError(f"{here} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), allow_end=False)]
        else:
            raise _OpError(f"{here} does not exist (its parent is a scalar)")
    if not isinstance(node, (dict, list)):
        raise _OpError(f"the parent of {pointer} is not a mapping or a list")
    return node, parts[-1]


def _get(doc: Any, parts: list[str], pointer: str) -> Any:
    if not parts:
        return doc
    parent, last = _resolve_parent(doc, parts, pointer)
    if isinstance(parent, dict):
        if last not in parent:
            raise _OpError(f"{pointer} does not exist")
        return parent[last]
    return parent[_index(last, len(parent), allow_end=False)]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _add(doc: Any, parts: list[str], value: Any, pointer: str) -> Any:
    if not parts:
        return value
    parent, last = _resolve_parent(doc, parts, pointer)
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_index(last, len(parent), allow_end=True), value)
    return doc


def _remove(doc: Any, parts: list[str], pointer: str) -> tuple[Any, Any]:
    if not parts:
        raise _OpError("cannot remove the whole document")
    parent, last = _resolve_parent(doc, parts, pointer)
    if isinstance(parent, dict):
        if last not in parent:
            raise _OpError(f"{pointer} does not exist")
        return doc, parent.pop(last)
    return doc, parent.pop(_index(last, len(parent), allow_end=False))


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _describe(op: Any) -> str:
    if isinstance(op, dict):
        name = op.get("op", "?")
        path = op.get("path", "?")
        return f"{name} {path}" if isinstance(path, str) else str(name)
    return "?"


def apply_json6902(obj: Any, ops: list[dict]) -> Any:
    """Apply the RFC 6902 operations ``ops`` to a copy of ``obj`` and return it."""
    if not isinstance(ops, list):
        raise PatchError(f"json6902: the patch must be a list of operations, not {type(ops).__name__}")
    doc = copy.deepcopy(obj)
    for i, op in enumerate(ops):
        try:
            doc = _apply_one(doc, op)
        except _OpError as e:
            raise PatchError(f"json6902[{i}] ({_describe(op)}): {e}") from None
    return doc


def _field(op: dict, name: str) -> Any:
    if name not in op:
        raise _OpError(f"missing {name!r}")
    return op[name]


def _apply_one(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict):
        raise _OpError(f"an operation must be a mapping, not {type(op).__name__}")
    name = _field(op, "op")
    if name not in _OPS:
        raise _OpError(f"unknown op {name!r} (expected one of {', '.join(_OPS)})")
    pointer = _field(op, "path")
    parts = parse_pointer(pointer)

    if name == "add":
        return _add(doc, parts, copy.deepcopy(_field(op, "value")), pointer)
    if name == "remove":
        return _remove(doc, parts, pointer)[0]
    if name == "replace":
        value = copy.deepcopy(_field(op, "value"))
        if not parts:
            return value
        parent, last = _resolve_parent(doc, parts, pointer)
        if isinstance(parent, dict):
            parent[last] = value  # a missing member is added, as json-patch v4 does
        else:
            parent[_index(last, len(parent), allow_end=False)] = value
        return doc
    if name == "test":
        expected = _field(op, "value")
        if parts and expected is None:
            parent, last = _resolve_parent(doc, parts, pointer)
            if isinstance(parent, dict) and last not in parent:
                return doc  # json-patch v4: a missing member equals null
        actual = _get(doc, parts, pointer)
        if not _json_equal(actual, expected):
            raise _OpError(f"test failed: {pointer or '/'} is {actual!r}, expected {expected!r}")
        return doc

    source = _field(op, "from")
    from_parts = parse_pointer(source)
    if name == "move":
        if from_parts == parts:
            _get(doc, from_parts, source)
            return doc
        if parts[: len(from_parts)] == from_parts:
            raise _OpError(f"cannot move {source} into its own child {pointer}")
        doc, value = _remove(doc, from_parts, source)
        return _add(doc, parts, value, pointer)
    # copy
    value = copy.deepcopy(_get(doc, from_parts, source))
    return _add(doc, parts, value, pointer)
