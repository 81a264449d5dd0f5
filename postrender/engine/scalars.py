"""Writing new scalars so Kubernetes reads what we meant (and other readers do too).

A *new* string is written plain only when Kubernetes reads that plain text as the same string
(:func:`postrender.engine.kube_yaml.plain_reads_as_itself`: ``-.5``, ``0X1F``, ``0o17``, ``y``
are not strings to it) and, to be safe with the YAML 1.1 and 1.2 readers people also use on
manifests (yq, PyYAML, ruamel), none of them reads it as a boolean, number or null either
(``12:30`` is a string to Kubernetes and a number to YAML 1.1).  Anything else is quoted.
"""

from __future__ import annotations

import json
import math
import re

from postrender.engine import kube_yaml

# Conservative: plain only for text made of characters that never start or end a YAML token;
# anything else is quoted, which is always correct.
_PLAIN_SAFE = re.compile(r"^(?:[A-Za-z0-9_/.]|-(?=[^ \t]))[A-Za-z0-9_./:@+=~,()$ -]*$")
_YAML12_SPECIAL = re.compile(r"^(?:[-+]?(?:\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN|0o[0-7]+|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?)$")
_RESERVED = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~", "=", "<<"}
# Numbers to a YAML 1.1 reader (PyYAML): binary, octal, hex, sexagesimal, floats.
_YAML11_NUMBER = re.compile(r"""[-+]?(?:0b[0-1_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+
    |[1-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))""", re.X)


def plain_ok(s: str, flow: bool = False) -> bool:
    if not s or s != s.strip() or not _PLAIN_SAFE.match(s):
        return False
    if ": " in s or " #" in s or s.endswith(":") or s in ("-", "---", "...") or s.startswith("--- "):
        return False
    if flow and any(c in s for c in ",()"):
        return False
    if s.lower() in _RESERVED or _YAML12_SPECIAL.match(s) or _YAML11_NUMBER.fullmatch(s):
        return False
    return kube_yaml.plain_reads_as_itself(s)


def double_quoted(s: str) -> str:
    # JSON string syntax is valid YAML double-quoted syntax.
    return json.dumps(s, ensure_ascii=False)


def single_quoted(s: str) -> str | None:
    if any(ord(c) < 32 for c in s):  # line breaks and tabs included
        return None
    return "'" + s.replace("'", "''") + "'"


def format_scalar(value, style: str | None = None, flow: bool = False) -> str:
    """Text for a scalar value; ``style`` is the quote style the replaced scalar used."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    if not isinstance(value, str):
        value = str(value)
    if style == "'":
        quoted = single_quoted(value)
        if quoted is not None:
            return quoted
    if style == '"':
        return double_quoted(value)
    if plain_ok(value, flow):
        return value
    quoted = single_quoted(value)
    return quoted if quoted is not None and "\\" not in value else double_quoted(value)


def json_flow(value) -> str:
    """Flow text for a value inside a flow collection (JSON syntax, which YAML reads)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return format_scalar(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json_flow(str(k))}: {json_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_flow(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def strict_equal(a, b) -> bool:
    """Equality that tells True from 1 and 1 from 1.0 (they serialise differently)."""
    if (type(a) is dict or type(a) is list) and a != b:
        # C-level first: the edit diff compares every subtree on the path to a change, and those
        # differ; only equal ones need the walk below.  (Two distinct NaN objects compare unequal
        # here; Kubernetes reads no NaN, kube_yaml refuses it.)
        return False
    return _strict_walk(a, b)


def _strict_walk(a, b) -> bool:
    ta, tb = type(a), type(b)
    if ta is not tb:
        return False
    if ta is dict:
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not _strict_walk(v, b[k]):
                return False
        return True
    if ta is list:
        return len(a) == len(b) and all(_strict_walk(x, y) for x, y in zip(a, b))
    if ta is float and math.isnan(a) and math.isnan(b):
        return True
    return a == b
