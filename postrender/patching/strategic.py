"""Strategic merge patch on plain objects, as kustomize applies it.

``strategic_merge(original, patch, api_version, kind)`` returns a new object; neither input is
mutated.  Merge keys and strategies come from ``postrender/data/patch_strategies.json``, generated
from the Kubernetes 1.37 OpenAPI definitions by ``scripts/gen_patch_table.py``.

The reference is kustomize 5.7 (``patches:`` with a strategic-merge patch, which runs kyaml's
``merge2`` walker with ``ListIncreaseDirection: Prepend``).  Where kyaml has no answer (the
``$setElementOrder``, ``$deleteFromPrimitiveList`` and ``$retainKeys`` directives, which kyaml
copies into the output as literal keys) we follow k8s.io/apimachinery ``strategicpatch``.

Rules, field by field:

- maps merge recursively; a ``null`` in the patch deletes the key; a patch value whose type
  differs from the original's (map vs list vs scalar) replaces it.
- ``$patch: delete`` in a map deletes that map; ``$patch: replace`` replaces it with the rest of
  the patch map; ``$patch: merge`` is the default.  ``$patch: delete`` at the top deletes the whole
  object: the result is ``{}`` (kustomize then drops the resource; the caller does the same).
- the schema is the object's kind; for kinds Kubernetes does not define, the kind the patch names
  (with the object's apiVersion), as kyaml's walker picks the first source with a known type; then
  the pod specs of the pod-spec table (``pod_spec_paths``), which merge as PodSpecs.
- an item that is only ``{$patch: delete|replace|merge}``, in any list, is the list's own
  directive (kyaml ``determineSequenceNodePatchStrategy``): ``delete`` removes the list's key,
  ``replace`` makes the list the patch's other items, ``merge`` merges them.
- lists whose schema strategy contains ``merge`` and that have keys are merged by them: the
  ``x-kubernetes-list-map-keys`` when the schema gives them (ports: containerPort + protocol), else
  the merge key.  Two items are the same when no key differs and at least one agrees (kyaml's
  ``mergeValues``: a patch port without protocol matches the port of that number; an original
  port without protocol is TCP, the API server's default, so a patch's 8081/UDP is another port).  A patch item matching
  an original item is merged into it recursively, other patch items are added.  Order, with ``order="kustomize"`` (the default of this function): the patch's
  items first, in patch order, then the original items the patch did not mention, in original
  order.  With ``order="keep"`` (what the ``patch`` rule uses, see below) every original item keeps
  its position and new items are appended in patch order.
  In such lists, an item ``{<key>: v, $patch: delete}`` deletes the items with that key, and an
  item with a key and ``$patch: replace`` replaces that one item instead of merging into it.
- lists with strategy ``merge`` and no merge key (``metadata.finalizers``) are a set union: patch
  values first, then original values not in the patch (kustomize's order).
- every other list (no strategy, ``replace``, unknown fields, unknown kinds) is replaced by the
  patch's list.  Exception, "merge by key only where the patch says so": if the patch list carries
  ``$patch`` items, or the patch map has ``$setElementOrder/<field>`` for it, the list is merged
  by ``name`` (the only key kyaml ever infers); items without ``name`` are then an error.
- a map field with strategy ``replace`` (PodDisruptionBudget ``spec.selector``) is replaced.
- ``$retainKeys: [a, b]`` clears original keys not listed (the patch's own keys must be listed);
  ``$deleteFromPrimitiveList/<f>: [x]`` removes ``x`` from the original's list ``f`` before ``f`` is
  merged; ``$setElementOrder/<f>: [...]`` orders the merged list ``f`` as apimachinery does (listed
  items in the given order, unlisted original items kept next to their original neighbours).
- patch content added where the original has nothing is cleaned the same way (``null`` keys and
  ``$patch: delete`` items dropped, directives removed), as kyaml's walker does.

Deviations from kustomize 5.7, all deliberate:
- list order, with ``order="keep"`` (the ``patch`` rule): kustomize moves every item a patch
  mentions to the front of its list, so patching one container's image would rewrite the whole
  ``containers`` list of the text; postrender edits text minimally (issue 5), so merged items stay
  where they were and new items go to the end.  The *set* of items and their contents are
  kustomize's.  Neither reference keeps this order exactly: apimachinery (``kubectl patch``, the
  API server) orders patch items by the patch and slots untouched items before the first patch
  item that followed them in the original, which keeps positions when the patch names existing
  items in their original order, but puts a new item before the untouched items that follow the
  preceding patch item (before all of them when the new item is the patch's first).
- kustomize's built-in schema is Kubernetes 1.21, ours 1.37: fields added since (e.g. PodSpec
  ``schedulingGates``, ``resourceClaims``, ``hostAliases`` are old; ``schedulingGates`` is not) merge
  by key here and are replaced by kustomize.
- kustomize drops list items whose keys repeat (two ``8080/TCP`` ports with different names) while
  it walks a resource, touched by the patch or not; we keep every original item.
- kustomize drops map fields written with no value (``key:``) wherever it walks; we leave the
  fields the patch does not name.
- kustomize keeps ``$patch`` items literally inside lists it replaces (CRDs, ``args``) and ignores
  an item-level ``$patch: replace``; we apply both (see above).
- kustomize has no schema for ``Rollout`` & co unless the patch names a built-in kind; we merge
  the pod specs the pod-spec table knows.
- kustomize writes ``$setElementOrder``/``$retainKeys``/``$deleteFromPrimitiveList`` into the output;
  we apply them as apimachinery does.
"""

from __future__ import annotations

import copy
import json
import os
from contextvars import ContextVar
from functools import lru_cache

from postrender.errors import RuleError
from postrender.records import FrozenRecord

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER_PREFIX = "$setElementOrder/"
DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"
INFERRED_MERGE_KEY = "name"  # kyaml's AssociativeSequenceKeys
ORDERS = ("kustomize", "keep")
# The list order of the merge running in this context (set by strategic_merge).
_ORDER: ContextVar[str] = ContextVar("strategic_merge_order", default="kustomize")


class PatchError(RuleError):
    """A patch cannot be applied: malformed directive, failed JSON6902 ``test``, missing path."""


# --------------------------------------------------------------------------------------------
# The table


@lru_cache(maxsize=1)
def patch_table() -> dict:
    """The generated table (see scripts/gen_patch_table.py for the format)."""
    # A plain path, not importlib.resources: that import pulls in tempfile & co (~5 ms of start-up).
    # os.path, not pathlib: pathlib is not on the run path either (issue 16).
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    with open(os.path.join(package, "data", "patch_strategies.json"), encoding="utf-8") as fh:
        return json.loads(fh.read())


class FieldMeta(FrozenRecord):
    """Strategic-merge metadata of one field, from the table.  ``ref``: the definition of the
    value, of the list items or of the map values."""

    __slots__ = _fields = ("ref", "is_list", "is_map", "strategies", "merge_key", "list_map_keys")

    def __init__(self, ref: str | None = None, is_list: bool = False, is_map: bool = False,
                 strategies: tuple[str, ...] = (), merge_key: str | None = None, list_map_keys: tuple[str, ...] = ()):
        self.ref = ref
        self.is_list = is_list
        self.is_map = is_map
        self.strategies = strategies
        self.merge_key = merge_key
        self.list_map_keys = list_map_keys

    @property
    def merges(self) -> bool:
        return "merge" in self.strategies

    @property
    def replaces(self) -> bool:
        return "replace" in self.strategies


_NO_META = FieldMeta()


class _Ctx(FrozenRecord):
    """Schema position of a map: a definition's fields, or the values of a string-keyed map."""

    __slots__ = _fields = ("definition", "map_values")

    def __init__(self, definition: str | None, map_values: bool = False):
        self.definition = definition
        self.map_values = map_values

    def field(self, name: str) -> tuple[FieldMeta, _Ctx]:
        """Metadata of field ``name`` and the context of its value (or of its list items)."""
        if self.definition is None:
            return _NO_META, _UNKNOWN
        if self.map_values:
            return _NO_META, _Ctx(self.definition)
        entry = patch_table()["definitions"].get(self.definition, {}).get(name)
        if entry is None:
            return _NO_META, _UNKNOWN
        meta = _meta_from_entry(entry)
        if meta.is_map:
            return meta, _Ctx(meta.ref, map_values=True)
        return meta, _Ctx(meta.ref)


_UNKNOWN = _Ctx(None)


@lru_cache(maxsize=4096)
def _meta_from_entry_cached(items: tuple) -> FieldMeta:
    entry = dict(items)
    strategy = entry.get("strategy") or ""
    return FieldMeta(
        ref=entry.get("ref"),
        is_list=bool(entry.get("list")),
        is_map=bool(entry.get("map")),
        strategies=tuple(s for s in strategy.split(",") if s),
        merge_key=entry.get("mergeKey"),
        list_map_keys=tuple(entry.get("listMapKeys") or ()),
    )


def _meta_from_entry(entry: dict) -> FieldMeta:
    return _meta_from_entry_cached(
        tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(entry.items()))
    )


def root_definition(api_version: str, kind: str) -> str | None:
    """The OpenAPI definition of a built-in kind, or None (CRDs and unknown kinds)."""
    return patch_table()["kinds"].get(api_version, {}).get(kind)


def field_meta(api_version: str, kind: str, path: Sequence[str]) -> FieldMeta | None:
    """Metadata of the field at ``path`` (field names only; list items are stepped through).

    ``field_meta("apps/v1", "Deployment", ["spec", "template", "spec", "containers", "env"])``
    gives merge key ``name``.  None when the kind is unknown or nothing is known about the field.
    """
    ctx = _Ctx(root_definition(api_version, kind))
    meta = None
    for name in path:
        meta, ctx = ctx.field(name)
    return None if meta is None or meta == _NO_META else meta


# --------------------------------------------------------------------------------------------
# The merge

_DELETE = object()  # sentinel: the patch deletes this value


def strategic_merge(original: dict, patch: dict, api_version: str, kind: str,
                    order: str = "kustomize", patch_kind: str | None = None,
                    pod_spec_paths: Sequence[Sequence[tuple[str, bool]]] = ()) -> dict:
    """Apply strategic-merge ``patch`` to ``original`` (an object of ``api_version``/``kind``).

    ``order`` places the items of merged lists: ``"kustomize"`` puts the items the patch mentions
    first; ``"keep"`` keeps original items where they are and appends new ones (module docstring).
    The schema is the original's kind; when Kubernetes does not define it (CRDs), the kind the
    patch names (``patch_kind``, with the original's apiVersion: kustomize gives the patch the
    target's group and version, ``resWrangler.ApplySmPatch``), else the pod specs at
    ``pod_spec_paths`` (steps of ``kinds.FieldPath``) merge as PodSpecs.
    Returns a new dict; ``{}`` if the patch is ``$patch: delete`` at the top.
    Raises PatchError on a malformed patch.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    if not isinstance(original, dict):
        raise PatchError(f"strategic merge: the target must be a mapping, not {_type(original)}")
    if not isinstance(patch, dict):
        raise PatchError(f"strategic merge: the patch must be a mapping, not {_type(patch)}")
    ctx = root_context(api_version, kind, patch_kind, pod_spec_paths)
    token = _ORDER.set(order)
    try:
        result = _merge_map(copy_data(original), patch, ctx, "")
    finally:
        _ORDER.reset(token)
    return {} if result is _DELETE else result


def copy_data(value):
    """A deep copy of data read from YAML (dicts, lists, scalars): copy.deepcopy's result for
    such data, at a third of its cost (no memo; a subtree reached twice is copied twice)."""
    t = type(value)
    if t is dict:
        return {k: copy_data(v) for k, v in value.items()}
    if t is list:
        return [copy_data(v) for v in value]
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    return copy.deepcopy(value)


POD_SPEC = "io.k8s.api.core.v1.PodSpec"


def root_context(api_version: str, kind: str, patch_kind: str | None = None,
                 pod_spec_paths: Sequence[Sequence[tuple[str, bool]]] = ()) -> "_Ctx | _Overlay":
    """The schema a merge into an ``api_version``/``kind`` object walks (see strategic_merge)."""
    definition = root_definition(api_version, kind)
    if definition is None and patch_kind and patch_kind != kind:
        definition = root_definition(api_version, patch_kind)
    if definition is not None:
        return _Ctx(definition)
    if pod_spec_paths:
        return _Overlay.of(pod_spec_paths, _Ctx(POD_SPEC))
    return _UNKNOWN


class _Overlay:
    """An object without a schema whose fields at known paths have one (pod specs of a Rollout)."""

    def __init__(self, children: dict):
        self.children = children  # field -> (_Overlay | _Ctx), for the value or the list items

    @classmethod
    def of(cls, paths, leaf: _Ctx) -> "_Overlay":
        root: dict = {}
        for steps in paths:
            node = root
            for j, (name, _many) in enumerate(steps):
                if j == len(steps) - 1:
                    node[name] = leaf
                else:
                    child = node.get(name)
                    if not isinstance(child, dict):
                        child = node[name] = {}
                    node = child
        return cls._build(root)

    @classmethod
    def _build(cls, tree: dict) -> "_Overlay":
        return cls({k: (cls._build(v) if isinstance(v, dict) else v) for k, v in tree.items()})

    def field(self, name: str):
        return _NO_META, self.children.get(name, _UNKNOWN)


def _merge_map(orig: dict, patch: dict, ctx: _Ctx, path: str) -> Any:
    """Merge ``patch`` into ``orig`` (which this function owns and may modify)."""
    directive = patch.get(DIRECTIVE, "merge")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        orig = {}
    elif directive != "merge":
        raise PatchError(
            f"{_where(path)}: unknown {DIRECTIVE} directive {directive!r} "
            "(expected delete, replace or merge)"
        )

    if RETAIN_KEYS in patch:
        _retain_keys(orig, patch, path)

    orders: dict[str, list] = {}
    for key, value in patch.items():
        if key.startswith(SET_ORDER_PREFIX):
            field = key[len(SET_ORDER_PREFIX):]
            if not field or not isinstance(value, list):
                raise PatchError(f"{_where(path, key)}: must be a list of items of list {field!r}")
            orders[field] = value
        elif key.startswith(DELETE_PRIMITIVE_PREFIX):
            _delete_from_primitive_list(orig, key, value, path)

    originals_before = {f: orig.get(f) for f in orders}

    for key, pv in patch.items():
        if key in (DIRECTIVE, RETAIN_KEYS) or key.startswith((SET_ORDER_PREFIX, DELETE_PRIMITIVE_PREFIX)):
            continue
        sub = _join(path, key)
        if pv is None:
            orig.pop(key, None)
            continue
        meta, child = ctx.field(key)
        ov = orig.get(key)
        if isinstance(pv, dict) and isinstance(ov, dict) and not meta.replaces:
            merged = _merge_map(ov, pv, child, sub)
        elif isinstance(pv, list) and isinstance(ov, list):
            merged = _merge_list(ov, pv, meta, child, sub, key in orders)
        else:
            # Absent, null, or of another type in the original: the patch value, cleaned.
            merged = _fresh(pv, meta, child, sub, key in orders)
        if merged is _DELETE:
            orig.pop(key, None)
        else:
            orig[key] = merged

    for field, order in orders.items():
        if isinstance(orig.get(field), list):
            meta, _ = ctx.field(field)
            orig[field] = _set_element_order(
                orig[field], order, originals_before[field] or [], meta, patch.get(field),
                _join(path, field),
            )
    return orig


def _fresh(pv: Any, meta: FieldMeta, child: _Ctx, path: str, ordered: bool = False) -> Any:
    """A patch value placed where the original has nothing: directives applied against empty."""
    if isinstance(pv, dict):
        return _merge_map({}, pv, child, path)
    if isinstance(pv, list):
        return _merge_list([], pv, meta, child, path, ordered)
    return pv


def _merge_list(orig: list, patch: list, meta: FieldMeta, item_ctx: _Ctx, path: str,
                ordered: bool = False) -> Any:
    """Merge list ``patch`` into ``orig``; ``_DELETE`` when the patch deletes the whole list."""
    directive, patch = _list_directive(patch, path)
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        orig = []
    if meta.merges:
        keys = meta.list_map_keys or ((meta.merge_key,) if meta.merge_key else ())
        if keys:
            return _merge_keyed(orig, patch, keys, item_ctx, path)
        if any(isinstance(x, (dict, list)) for x in patch):
            raise PatchError(f"{_where(path)}: merge list without a merge key takes scalars only")
        return _union(orig, patch) if _ORDER.get() == "keep" else _union(patch, orig)
    if ordered or any(isinstance(x, dict) and DIRECTIVE in x for x in patch):
        # Merge by key only where the patch says so (see the module docstring).
        return _merge_keyed(orig, patch, (INFERRED_MERGE_KEY,), item_ctx, path, inferred=True)
    # kyaml returns the patch's list as it is (``VisitList``, NonAssociateList): nulls included.
    return copy.deepcopy(patch)


def _list_directive(patch: list, path: str) -> tuple[str, list]:
    """A list's own directive: an item that is only ``{$patch: delete|replace|merge}``.

    kyaml (``determineSequenceNodePatchStrategy``) and apimachinery both read it; ``delete``
    removes the whole list, ``replace`` makes it the patch's other items, ``merge`` is the
    default.  Returns (directive, the patch items without it).
    """
    found = [x for x in patch if isinstance(x, dict) and len(x) == 1 and DIRECTIVE in x]
    if not found:
        return "merge", patch
    values = {x[DIRECTIVE] for x in found}
    for value in values:
        if value not in ("delete", "replace", "merge"):
            raise PatchError(
                f"{_where(path)}: unknown {DIRECTIVE} directive {value!r} (expected delete, replace or merge)"
            )
    directive = "delete" if "delete" in values else "replace" if "replace" in values else "merge"
    return directive, [x for x in patch if not any(x is f for f in found)]


def _merge_keyed(orig: list, patch: list, keys: tuple[str, ...], item_ctx: _Ctx, path: str,
                 inferred: bool = False) -> list:
    """Merge by the list's keys.  With several keys (``x-kubernetes-list-map-keys``: ports by
    containerPort and protocol), two items are the same when every key either agrees or is
    missing from one of them, and at least one key is present in both, as kyaml matches them
    (``walk/associative_sequence.go``: ``mergeValues``), except that an original port without
    ``protocol`` is TCP (the API server's default): a patch port without ``protocol`` merges into
    the port of that number, 8080/UDP is never merged into 8080/TCP or 8080."""
    key_text = "+".join(keys)
    how = (f"merged by {key_text!r} because the patch uses list directives" if inferred
           else f"merged by key {key_text!r}")
    deletes: list = []
    updates: list[tuple[dict, bool]] = []  # (patch item, replace this item)
    keyless: list[dict] = []  # items without any key, added as they are (the list was empty)
    for i, item in enumerate(patch):
        where = f"{_where(path)}[{i}]"
        if not isinstance(item, dict):
            raise PatchError(f"{where}: list {how} needs mapping items, got {_type(item)}")
        directive = item.get(DIRECTIVE)
        if all(k not in item for k in keys):
            if not orig and not inferred and directive is None:
                # Nothing to merge into: kustomize takes the patch's list as it is (an env entry
                # with only valueFrom).  Into an existing list kyaml loses items; we refuse.
                keyless.append(item)
                continue
            raise PatchError(f"{where}: item has no merge key {key_text!r} (list {how})")
        if directive == "delete":
            deletes.append(_key_values(item, keys))
        elif directive in (None, "merge", "replace"):
            updates.append((item, directive == "replace"))
        else:
            raise PatchError(
                f"{where}: unknown {DIRECTIVE} directive {directive!r} "
                "(expected delete, replace or merge)"
            )

    base = [x for x in orig
            if not (isinstance(x, dict) and any(_same_item(_key_values(x, keys), d, keys) for d in deletes))]

    head: list = []  # merged/added patch items, patch order
    origin: list = []  # for each head item: the index into base it was merged from, or None
    used: set[int] = set()  # indexes into base merged into head
    for item, replace in updates:
        kv = _key_values(item, keys)
        sub = f"{_where(path)}[{key_text}={'/'.join(str(v) for v in kv if v is not _MISSING)}]"
        body = {k: v for k, v in item.items() if k != DIRECTIVE}
        # A repeated key in the patch merges into the item already produced for it.
        hi = next((j for j, h in enumerate(head)
                   if isinstance(h, dict) and _same_item(_key_values(h, keys), kv, keys)), None)
        if hi is not None:
            merged = _fresh(body, _NO_META, item_ctx, sub) if replace else _merge_map(head[hi], body, item_ctx, sub)
            if merged is _DELETE:
                del head[hi]
                del origin[hi]
            else:
                head[hi] = merged
            continue
        bi = next((j for j, x in enumerate(base)
                   if j not in used and isinstance(x, dict) and _same_item(_key_values(x, keys), kv, keys)), None)
        if bi is not None:
            used.add(bi)
            merged = _fresh(body, _NO_META, item_ctx, sub) if replace else _merge_map(base[bi], body, item_ctx, sub)
        else:
            merged = _fresh(body, _NO_META, item_ctx, sub)
        if merged is not _DELETE:
            if isinstance(merged, dict):
                for k, v in zip(keys, kv):
                    if v is not _MISSING and k not in merged:
                        merged[k] = copy.deepcopy(v)  # kyaml keeps the key on the element
            head.append(merged)
            origin.append(bi)
    if keyless:  # the original list was empty: the patch's items in the patch's order
        out = []
        for item in patch:
            if item.get(DIRECTIVE) == "delete":
                continue
            merged = _fresh({k: v for k, v in item.items() if k != DIRECTIVE}, _NO_META, item_ctx, _where(path))
            if merged is not _DELETE:
                out.append(merged)
        return out
    if _ORDER.get() == "keep":
        # Original positions kept (merged items in their slots), new items appended.
        at = {o: h for h, o in zip(head, origin) if o is not None}
        kept = [at.get(j, x) for j, x in enumerate(base) if j not in used or j in at]
        return kept + [h for h, o in zip(head, origin) if o is None]
    return head + [x for j, x in enumerate(base) if j not in used]


def _key_values(item: dict, keys: tuple[str, ...]) -> tuple:
    return tuple(item.get(k, _MISSING) for k in keys)


# Keys whose absence in an original item means a value: the API server defaults a port's
# protocol to TCP (core/v1 SetDefaults_ContainerPort, SetDefaults_ServicePort), so an original
# port 8081 is 8081/TCP, another port than a patch's 8081/UDP.
_KEY_DEFAULTS = {"protocol": "TCP"}


def _same_item(orig: tuple, patch: tuple, keys: tuple[str, ...]) -> bool:
    """An original (or already merged) item and a patch item name the same item: no key
    differs, at least one agrees.

    A key the patch item lacks matches anything (kyaml's ``mergeValues``: a patch port without
    protocol is the port of that number); a key the original lacks counts as its API default.
    """
    common = False
    for key, x, y in zip(keys, orig, patch):
        if x is _MISSING and y is not _MISSING and key in _KEY_DEFAULTS:
            x = _KEY_DEFAULTS[key]
        if x is _MISSING or y is _MISSING:
            continue
        if not _eq(x, y):
            return False
        common = True
    return common


def _union(patch: list, orig: list) -> list:
    out: list = []
    for v in list(patch) + list(orig):
        if not _in(v, out):
            out.append(copy.deepcopy(v))
    return out


def _retain_keys(orig: dict, patch: dict, path: str) -> None:
    keep = patch[RETAIN_KEYS]
    where = _where(path, RETAIN_KEYS)
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise PatchError(f"{where}: must be a list of field names")
    for k, v in patch.items():
        if v is None or k.startswith("$"):
            continue
        if k not in keep:
            raise PatchError(f"{where}: patch sets {k!r}, which is not in the list of retained keys")
    for k in list(orig):
        if k not in keep:
            del orig[k]


def _delete_from_primitive_list(orig: dict, key: str, value: Any, path: str) -> None:
    field = key[len(DELETE_PRIMITIVE_PREFIX):]
    where = _where(path, key)
    if not field or not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
        raise PatchError(f"{where}: must be a list of scalars to remove from list {field!r}")
    current = orig.get(field)
    if current is None:
        return  # nothing to delete from (apimachinery would store the list itself; pointless)
    if not isinstance(current, list):
        raise PatchError(f"{where}: {field!r} is {_type(current)}, not a list")
    orig[field] = [v for v in current if not _in(v, value)]


def _set_element_order(merged: list, order: list, server: list, meta: FieldMeta, patch_list: Any,
                       path: str) -> list:
    """Order ``merged`` as apimachinery's ``$setElementOrder`` does.

    Items named in ``order`` come in that order; the other items (all from the original) keep
    their original relative order and are slotted in before the first ordered item that followed
    them in the original.
    """
    key = meta.merge_key if meta.merges else INFERRED_MERGE_KEY
    where = _where(path)

    def ident(x: Any) -> Any:
        if key is None:
            return x
        if not isinstance(x, dict) or key not in x:
            raise PatchError(f"{SET_ORDER_PREFIX}{where}: every item needs the merge key {key!r}")
        return x[key]

    order_ids = [ident(x) for x in order]
    # The patch list must follow the order list (apimachinery validatePatchWithSetOrderList).
    if isinstance(patch_list, list):
        seq = [ident(x) for x in patch_list
               if not (isinstance(x, dict) and DIRECTIVE in x)]
        pos = 0
        for v in seq:
            while pos < len(order_ids) and not _eq(order_ids[pos], v):
                pos += 1
            if pos == len(order_ids):
                raise PatchError(
                    f"{SET_ORDER_PREFIX}{where}: the patch list's items are not in the order "
                    "(or not all named in) the $setElementOrder list"
                )
            pos += 1

    def index_in(ids: list, x: Any) -> int:
        xi = ident(x)
        return next((i for i, v in enumerate(ids) if _eq(v, xi)), -1)

    server_ids = [x.get(key, _MISSING) if (key and isinstance(x, dict)) else x for x in server]
    listed = [x for x in merged if index_in(order_ids, x) >= 0]
    unlisted = [x for x in merged if index_in(order_ids, x) < 0]
    listed.sort(key=lambda x: index_in(order_ids, x))
    unlisted.sort(key=lambda x: _server_index(server_ids, x, key))

    out: list = []
    i = j = 0
    while i < len(unlisted) or j < len(listed):
        if i >= len(unlisted):
            out.append(listed[j]); j += 1
        elif j >= len(listed):
            out.append(unlisted[i]); i += 1
        else:
            li = _server_index(server_ids, unlisted[i], key)
            ri = _server_index(server_ids, listed[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(unlisted[i]); i += 1
            else:
                out.append(listed[j]); j += 1
    return out


def _server_index(server_ids: list, x: Any, key: str | None) -> int:
    xi = x.get(key, _MISSING) if (key and isinstance(x, dict)) else x
    return next((i for i, v in enumerate(server_ids) if _eq(v, xi)), -1)


# --------------------------------------------------------------------------------------------
# Helpers

_MISSING = object()


def _eq(a: Any, b: Any) -> bool:
    """Value equality as JSON sees it: True is not 1, 1 is 1.0."""
    if a is _MISSING or b is _MISSING:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _in(v: Any, values: list) -> bool:
    return any(_eq(v, x) for x in values)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _where(path: str, key: str | None = None) -> str:
    p = _join(path, key) if key else path
    return p or "<root>"


def _type(v: Any) -> str:
    if v is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__
    )
