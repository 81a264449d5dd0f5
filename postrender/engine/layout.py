"""The layout of a document's text, and new block text written in it.

Shared by the splicer (``edit``) and the fallback writer (``roundtrip``): how far the document
indents a mapping, whether its block sequences are indentless, which line break it uses, and how
a new value is written as block text in that style.  Neither of those two modules imports the
other for this.
"""

from __future__ import annotations

from postrender.engine.scalars import format_scalar
from postrender.records import Record


class Layout(Record):
    __slots__ = _fields = ("step", "indentless", "newline")

    def __init__(self, step: int = 2, indentless: bool = False, newline: str = "\n"):
        self.step = step                # mapping indentation step
        self.indentless = indentless    # block sequences under a key start at the key's column
        self.newline = newline


def guess_layout(root, text: str) -> Layout:
    layout = Layout(newline="\r\n" if "\r\n" in text else "\n")
    steps: dict[int, int] = {}
    seq_styles = [0, 0]  # indentless, indented
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if node.kind == "mapping" and not node.flow:
            for key, value in node.pairs:
                if value.kind == "mapping" and not value.flow and value.line > key.line:
                    d = value.col - key.col
                    if d > 0:
                        steps[d] = steps.get(d, 0) + 1
                elif value.kind == "sequence" and not value.flow and value.line > key.line:
                    seq_styles[0 if value.col == key.col else 1] += 1
                stack.append(value)
        elif node.kind == "sequence":
            stack.extend(node.items)
    if steps:
        layout.step = max(steps, key=lambda k: (steps[k], -k))
    layout.indentless = seq_styles[0] > seq_styles[1]
    return layout


# ---- emitting new block text -----------------------------------------------------------------

def block_scalar(value: str, col: int, step: int) -> list[str] | None:
    """A literal block scalar for multi-line text, when the text allows one."""
    if "\n" not in value or value.startswith((" ", "\t")) or "\r" in value:
        return None
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        return None
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    if any(line != line.rstrip(" \t") for line in body.split("\n")):
        return None
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    pad = " " * (col + step)
    lines = [f"|{chomp}"]
    for line in body.split("\n") + [""] * (trailing - 1 if trailing > 1 else 0):
        lines.append(pad + line if line else "")
    return lines


def emit_value(value, col: int, layout: Layout) -> list[str]:
    """Lines for ``value`` as it follows a ``key:`` at column col (first line is the suffix).

    The first element is appended to the key line (e.g. ``" x"`` or ``""``); the rest are whole
    lines with their indentation.
    """
    if isinstance(value, dict) and value:
        return [""] + emit_mapping(value, col + layout.step, layout)
    if isinstance(value, list) and value:
        return [""] + emit_sequence(value, col if layout.indentless else col + layout.step, layout)
    if isinstance(value, dict):
        return [" {}"]
    if isinstance(value, list):
        return [" []"]
    if isinstance(value, str):
        block = block_scalar(value, col, layout.step)
        if block is not None and len(value) > 60:
            return [" " + block[0]] + block[1:]
    return [" " + format_scalar(value)]


def emit_mapping(value: dict, col: int, layout: Layout, first_inline: bool = False) -> list[str]:
    lines: list[str] = []
    pad = " " * col
    for i, (k, v) in enumerate(value.items()):
        key = format_scalar(k if isinstance(k, str) else str(k))
        head = f"{key}:" if (first_inline and i == 0) else f"{pad}{key}:"
        rest = emit_value(v, col, layout)
        lines.append(head + rest[0])
        lines.extend(rest[1:])
    return lines


def emit_sequence(value: list, col: int, layout: Layout) -> list[str]:
    lines: list[str] = []
    pad = " " * col
    for item in value:
        if isinstance(item, dict) and item:
            sub = emit_mapping(item, col + 2, layout, first_inline=True)
            lines.append(f"{pad}- {sub[0]}")
            lines.extend(sub[1:])
        elif isinstance(item, list) and item:
            sub = emit_sequence(item, col + 2, layout)
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines.extend(sub[1:])
        else:
            lines.append(f"{pad}-" + emit_value(item, col, layout)[0])
    return lines


def emit_node_text(value, col: int, layout: Layout) -> str:
    """Text for a whole block collection placed at column col (first line unindented)."""
    if isinstance(value, dict) and value:
        lines = emit_mapping(value, col, layout)
    elif isinstance(value, list) and value:
        lines = emit_sequence(value, col, layout)
    else:
        return emit_value(value, col, layout)[0].lstrip(" ")
    lines[0] = lines[0][col:]
    return layout.newline.join(lines)
