"""The fallback writer: re-emit one document with ruamel.yaml round-trip.

Used only when a change cannot be spliced into the text (it goes through an anchor or alias,
or empties a mapping). Comments, key order and quote styles survive as far as ruamel keeps
them; new strings that YAML 1.1 would read as something else are written quoted. The caller
verifies the result reads back as the intended data.
"""

from __future__ import annotations

import io

from .edit import guess_layout
from .scalars import plain_ok


def _quote_new(value):
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str) and not plain_ok(value) and "\n" not in value:
        return DoubleQuotedScalarString(value)
    if isinstance(value, dict):
        return {k: _quote_new(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quote_new(v) for v in value]
    return value


def _sync(current, new):
    """Make ruamel's loaded tree equal to new, keeping the existing nodes where values agree."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from .scalars import strict_equal

    if isinstance(current, CommentedMap) and isinstance(new, dict):
        for key in list(current.keys()):
            if key not in new:
                del current[key]
        for key, value in new.items():
            if key in current:
                current[key] = _sync(current[key], value)
            else:
                current[key] = _quote_new(value)
        # Keep the new order for keys that were added (ruamel appends them).
        return current
    if isinstance(current, CommentedSeq) and isinstance(new, list) and len(current) == len(new):
        for i, value in enumerate(new):
            current[i] = _sync(current[i], value)
        return current
    plain_current = current
    try:
        if strict_equal(_plain(plain_current), new):
            return current
    except Exception:
        pass
    return _quote_new(new)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def reemit(doc, new) -> str:
    from ruamel.yaml import YAML

    layout = guess_layout(doc.root, doc.text)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16
    seq_indent = layout.step if not layout.indentless else 0
    yaml.indent(mapping=layout.step, sequence=seq_indent + 2, offset=seq_indent)
    text = doc.text
    explicit = text.lstrip().startswith("---") or "\n---" in text
    yaml.explicit_start = explicit
    data = yaml.load(text)
    data = _sync(data, new)
    out = io.StringIO()
    yaml.dump(data, out)
    result = out.getvalue()
    if layout.newline != "\n":
        result = result.replace("\n", layout.newline)
    return result
