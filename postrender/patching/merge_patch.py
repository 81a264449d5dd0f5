"""JSON Merge Patch (RFC 7386) on plain objects.

``apply_merge_patch(target, patch)`` returns a new object; the inputs are not mutated.

RFC 7386 section 2, in words: if the patch is not a mapping, it replaces the target.  Otherwise
the target is treated as a mapping (a non-mapping target becomes ``{}``), and for each member of
the patch a ``null`` removes the member, anything else is merged recursively.  Lists are values
like any other: a list in the patch replaces the target's list whole.  Nulls inside new members
are dropped too (the RFC's recursion applies the patch to an absent member).
"""

from __future__ import annotations

import copy

__all__ = ["apply_merge_patch"]


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Apply RFC 7386 ``patch`` to a copy of ``target`` and return it."""
    return _merge(copy.deepcopy(target), patch)


def _merge(owned: Any, patch: Any) -> Any:
    # ``owned`` is already a private copy and may be modified in place.
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = owned if isinstance(owned, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result
