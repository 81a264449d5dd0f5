"""KRM function mode: a ``ResourceList`` on stdin, a ``ResourceList`` on stdout.

kustomize (``kustomize build --enable-alpha-plugins --enable-exec``, with a transformer whose
``config.kubernetes.io/function`` annotation says ``exec: {path: /abs/path/to/postrender}``)
and ``kpt fn eval --exec postrender`` run postrender with no arguments and this on stdin::

    apiVersion: config.kubernetes.io/v1
    kind: ResourceList
    items: [...]            # the resources
    functionConfig: {...}   # the transformer's own config object

What ``functionConfig`` may be:

- a postrender config (``apiVersion: postrender/v1alpha1``, ``kind: PostRenderer``): it *is*
  the config. kustomize adds ``metadata.annotations`` to it, which the config loader ignores.
- a ``ConfigMap`` whose ``data.config`` names a config file (relative to the working directory;
  kustomize runs exec functions in the kustomization's directory). Every other ``data`` key is
  a variable, as with ``--set key=value``. This is what ``kpt fn eval --exec postrender --
  config=postrender.yaml registry=example.com`` sends.
- absent or empty: the config the CLI found the usual way (``-c``, ``$POSTRENDER_CONFIG``,
  ``./postrender.yaml``), passed in as ``fallback``.

The items are handed to the same pipeline as any stream and come back as items. Warnings
become ``results`` with ``severity: warning``; check failures and config errors become results
with ``severity: error`` and a non-zero exit code, as the KRM functions spec asks, with the
items left as they came in.

Why YAML *nodes* and not Python objects: kustomize already re-serialised the items, so there is
no original text to keep, but loading them into Python values would reinterpret scalars
(``0755`` -> 493, ``2024-01-01`` -> a date, ``on`` -> True under YAML 1.1). Composing to nodes
and serialising the nodes keeps every scalar's text, tag and quoting style exactly as it came.
"""

from __future__ import annotations

import yaml

from postrender.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, PostrenderError
from postrender.records import Record

# libyaml, as everywhere in postrender (locate.py, the config loader).
_Loader = yaml.CSafeLoader
_Dumper = yaml.CSafeDumper

RESOURCE_LIST_API = "config.kubernetes.io/v1"
RESOURCE_LIST_KIND = "ResourceList"
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class KrmOutcome(Record):
    _fields = ("output", "exit_code", "results")

    def __init__(self, output: bytes, exit_code: int, results: list[tuple[str, str]] | None = None):
        self.output = output
        self.exit_code = exit_code
        # (severity, message) in order; the CLI may print the errors on stderr too.
        self.results = [] if results is None else results


def is_resource_list(data: bytes | str) -> bool:
    """Is stdin a KRM ResourceList? Decided by the first document's top-level ``kind`` only.

    ``yaml.parse`` is lazy, so this reads events only up to that key: cheap on a big stream,
    and the CLI can call it before loading any config (a KRM call carries its own).
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    depth, key_turn, last_key = 0, True, None
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
                continue
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if depth == 0 and not isinstance(event, yaml.MappingStartEvent):
                    return False
                depth += 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
                if depth == 1:
                    key_turn = True  # a collection value ended; the next scalar is a key
                elif depth == 0:
                    return False
            elif isinstance(event, yaml.ScalarEvent):
                if depth == 0:
                    return False
                if depth == 1:
                    if key_turn:
                        last_key, key_turn = event.value, False
                    elif last_key == "kind":
                        return event.value == RESOURCE_LIST_KIND
                    else:
                        key_turn = True
            elif isinstance(event, yaml.AliasEvent):
                if depth == 1:
                    key_turn = not key_turn
            else:  # document or stream end
                return False
    except yaml.YAMLError:
        return False
    return False


def run_resource_list(data: bytes | str, fallback=None) -> tuple[bytes, int]:
    """Apply postrender to a KRM ResourceList; returns (ResourceList bytes, exit code).

    ``fallback`` is a loaded :class:`postrender.config.Config` used when the ResourceList has
    no ``functionConfig``. Never raises for problems a user can cause: they are reported as
    ``results`` in the returned ResourceList (exit 1 for a failed check, else the error's code).
    """
    outcome = evaluate(data, fallback)
    return outcome.output, outcome.exit_code


def evaluate(data: bytes | str, fallback=None) -> KrmOutcome:
    """Like :func:`run_resource_list`, also returning the results for the CLI to print."""
    from postrender.pipeline import run_stream

    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        return _failure(None, EXIT_BAD_INPUT, f"ResourceList on stdin is not valid YAML: {_one_line(exc)}")
    if not isinstance(root, yaml.MappingNode) or _scalar(_get(root, "kind")) != RESOURCE_LIST_KIND:
        return _failure(None, EXIT_BAD_INPUT, "stdin is not a KRM ResourceList (kind: ResourceList)")
    items_node = _get(root, "items")
    if items_node is None or (isinstance(items_node, yaml.ScalarNode) and items_node.tag.endswith(":null")):
        items: list[yaml.Node] = []
    elif isinstance(items_node, yaml.SequenceNode):
        items = list(items_node.value)
    else:
        return _failure(None, EXIT_BAD_INPUT, "ResourceList.items must be a list")

    try:
        config = _function_config(_get(root, "functionConfig"), fallback)
        stream = b"".join(_document(node) for node in items)
        result = run_stream(config, stream)
    except PostrenderError as exc:
        return _failure(items, exc.exit_code, exc.message)

    results = [("warning", w) for w in result.warnings] + [("error", f) for f in result.failures]
    if result.failures:
        # A failed check withholds the output everywhere else too: keep the items unchanged.
        return KrmOutcome(_resource_list(items, results), EXIT_CHECK_FAILED, results)
    try:
        out_items = [n for n in yaml.compose_all(result.output.decode("utf-8"), Loader=_Loader) if n is not None]
    except yaml.YAMLError as exc:  # the engine emitted YAML it cannot read back: our bug
        return _failure(items, EXIT_BAD_INPUT, f"internal error: output is not valid YAML: {_one_line(exc)}")
    return KrmOutcome(_resource_list(out_items, results), 0, results)


def _function_config(node, fallback):
    from postrender.config.loader import load_config, load_config_text
    from postrender.errors import ConfigError

    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        if fallback is None:
            raise ConfigError(
                "ResourceList has no functionConfig and no config was found"
                " (pass -c FILE, set $POSTRENDER_CONFIG or create ./postrender.yaml)"
            )
        return fallback
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("ResourceList.functionConfig must be a mapping")
    kind = _scalar(_get(node, "kind"))
    if kind == "ConfigMap":
        data = _get(node, "data")
        pairs = []
        if isinstance(data, yaml.MappingNode):
            pairs = [(_scalar(k), _scalar(v)) for k, v in data.value]
        path = dict(pairs).get("config")
        if not path:
            raise ConfigError("functionConfig ConfigMap: data.config must name the postrender config file")
        sets = [f"{k}={v}" for k, v in pairs if k != "config" and v is not None]
        return load_config(path, sets=sets)
    name = _scalar(_get(_get(node, "metadata"), "name")) or "functionConfig"
    return load_config_text(_serialize(node), f"functionConfig {name}")


def _get(node, key: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _scalar(node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _serialize(node: yaml.Node) -> str:
    # No line wrapping: a folded long string would still be equal, but needlessly rewritten.
    return yaml.serialize(node, Dumper=_Dumper, allow_unicode=True, width=1 << 30)


def _document(node: yaml.Node) -> bytes:
    return ("---\n" + _serialize(node)).encode("utf-8")


def _str_node(value: str) -> yaml.ScalarNode:
    return yaml.ScalarNode(_STR, value)


def _resource_list(items: list, results: list[tuple[str, str]]) -> bytes:
    pairs = [
        (_str_node("apiVersion"), _str_node(RESOURCE_LIST_API)),
        (_str_node("kind"), _str_node(RESOURCE_LIST_KIND)),
        (_str_node("items"), yaml.SequenceNode(_SEQ, list(items), flow_style=False if items else True)),
    ]
    if results:
        from postrender.engine.output import redact_known  # results go to stdout: no secret in them (issue 7)

        entries = [
            yaml.MappingNode(_MAP, [
                (_str_node("message"), _str_node(redact_known(message))),
                (_str_node("severity"), _str_node(severity)),
            ])
            for severity, message in results
        ]
        pairs.append((_str_node("results"), yaml.SequenceNode(_SEQ, entries)))
    return _serialize(yaml.MappingNode(_MAP, pairs)).encode("utf-8")


def _failure(items, code: int, message: str) -> KrmOutcome:
    results = [("error", message)]
    return KrmOutcome(_resource_list(items or [], results), code, results)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
