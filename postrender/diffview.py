"""``postrender diff``: what the rules change, one unified diff per resource, like ``kubectl diff``.

kubectl diff writes one ``diff -u -N`` per object and exits 0 when nothing differs, 1 when
something does and >1 on an error; postrender does the same per document of the stream, with a
header naming the document (index, Helm ``# Source:``) and the resource, and hunk line numbers
counted from the document's first line.  A document a rule removed diffs against nothing, a
generated one from nothing.  Secrets' ``data``/``stringData`` never appear (issue 4), and every
known secret value is redacted from every line.

Colour follows the conventions of git and kubectl: ``--color=auto`` (the default) colours only
when stdout is a terminal and ``NO_COLOR`` is unset or empty (https://no-color.org);
``always`` and ``never`` override both.
"""

from __future__ import annotations

import difflib
import os

COLOR_CHOICES = ("auto", "always", "never")
_BOLD, _RED, _GREEN, _CYAN, _RESET = "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[0m"


def use_color(when: str, stdout_is_terminal: bool, environ=None) -> bool:
    env = os.environ if environ is None else environ
    if when == "always":
        return True
    if when == "never":
        return False
    return stdout_is_terminal and not env.get("NO_COLOR")


def _title(doc) -> str:
    from postrender.rules.base import resource_name

    try:
        obj = doc.obj
    except Exception:  # unparsable text never gets here (the run validated it); be safe anyway
        obj = None
    what = resource_name(obj) if isinstance(obj, dict) and obj.get("kind") else None
    where = "new document" if getattr(doc, "new", False) else doc.where()
    return f"{where}: {what}" if what else where


def render_diff(documents, color: bool) -> tuple[str, int]:
    """(the diff text, how many documents differ) for the documents of a finished run."""
    from postrender.engine.output import redact_known, redact_secret_values

    out: list[str] = []
    changed = 0
    for doc in documents:
        if doc.void:
            continue
        before = "" if getattr(doc, "new", False) else doc.text
        after = doc.render()
        if before == after:
            continue
        changed += 1
        before, after = redact_secret_values(before, after)
        title = redact_known(_title(doc))
        lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                     f"input: {title}", f"output: {title}")
        for line in lines:
            line = redact_known(line)
            missing_newline = not line.endswith("\n")
            if missing_newline:
                line += "\n"
            out.append(_paint(line) if color else line)
            if missing_newline:
                out.append("\\ No newline at end of file\n")
    return "".join(out), changed


def _paint(line: str) -> str:
    text = line.rstrip("\n")
    tail = line[len(text):]
    if line.startswith(("---", "+++")):
        return f"{_BOLD}{text}{_RESET}{tail}"
    if line.startswith("+"):
        return f"{_GREEN}{text}{_RESET}{tail}"
    if line.startswith("-"):
        return f"{_RED}{text}{_RESET}{tail}"
    if line.startswith("@@"):
        return f"{_CYAN}{text}{_RESET}{tail}"
    return line
