"""Templates simple enough to evaluate without Jinja, with exactly Jinja's result.

Importing Jinja costs ~40 ms of every Helm render, and most configs only write ``"{{ mirror }}"``
or ``when: "pullSecret is defined"``.  This module evaluates that subset itself:

* text whose only template syntax is ``{{ name }}`` / ``{{ a.b.c }}`` substitutions;
* ``when:`` expressions made of such names, ``is defined`` / ``is not defined``, ``not``,
  ``and``, ``or``, parentheses and ``true``/``false``.

Anything else, and any case where Jinja's answer would be an error or could depend on more than
dictionary lookups (a name that is undefined where Jinja raises, an attribute of a string, a key
that is also a ``dict`` method such as ``items``), returns :data:`NOT_SIMPLE` and the caller uses
Jinja.  ``tests/test_simple_templates.py`` compares the two on generated templates and variables.
"""

from __future__ import annotations

import re

from postrender.config.sandbox import MAX_OUTPUT_CHARS

NOT_SIMPLE = object()

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = rf"{_NAME}(?:\.{_NAME})*"
_SUBSTITUTION = re.compile(r"{{-?\s*(" + _PATH + r")\s*-?}}")
_OTHER_SYNTAX = re.compile(r"{%|{#|{{|}}|%}|#}")
_TOKEN = re.compile(rf"\s*(?:({_PATH})|(\()|(\)))")
_KEYWORDS = {"and", "or", "not", "is", "defined", "true", "false", "True", "False", "none", "None", "in", "if",
             "else"}
_UNDEFINED = object()


def _lookup(variables: dict, path: str):
    """The value Jinja finds for ``path``, _UNDEFINED when only its last step is missing, or
    NOT_SIMPLE when Jinja would do more than a dictionary lookup (or raise)."""
    parts = path.split(".")
    if parts[0] in _KEYWORDS:
        return NOT_SIMPLE
    node = variables.get(parts[0], _UNDEFINED)
    for i, part in enumerate(parts[1:], start=1):
        if node is _UNDEFINED:
            return NOT_SIMPLE  # Jinja's StrictUndefined raises on an attribute of an undefined
        if type(node) is not dict or hasattr(dict, part):
            return NOT_SIMPLE  # an attribute lookup Jinja would try first
        node = node.get(part, _UNDEFINED)
    return node


def render(text: str, variables: dict):
    """``text`` rendered as Jinja would, or NOT_SIMPLE."""
    if "-}}" in text or "{{-" in text:
        return NOT_SIMPLE  # whitespace control: leave it to Jinja
    out, pos = [], 0
    for m in _SUBSTITUTION.finditer(text):
        literal = text[pos:m.start()]
        if _OTHER_SYNTAX.search(literal):
            return NOT_SIMPLE
        value = _lookup(variables, m.group(1))
        if value is NOT_SIMPLE or value is _UNDEFINED:
            return NOT_SIMPLE  # undefined: Jinja's error message, from Jinja
        if type(value) not in (str, int, float, bool) and value is not None:
            return NOT_SIMPLE  # lists, dicts: Jinja's own string form
        out.append(literal)
        out.append(str(value))
        pos = m.end()
    rest = text[pos:]
    if _OTHER_SYNTAX.search(rest):
        return NOT_SIMPLE
    out.append(rest)
    rendered = "".join(out)
    if len(rendered) > MAX_OUTPUT_CHARS:
        return NOT_SIMPLE  # the sandbox refuses it: its message, from Jinja
    return rendered


def evaluate(expression: str, variables: dict):
    """``expression`` as a Jinja test (True/False), or NOT_SIMPLE."""
    tokens = _tokens(expression)
    if tokens is None:
        return NOT_SIMPLE
    parser = _Parser(tokens, variables)
    try:
        value = parser.expression()
    except _NotSimple:
        return NOT_SIMPLE
    if parser.pos != len(tokens):
        return NOT_SIMPLE
    return bool(value)


class _NotSimple(Exception):
    pass


def _tokens(expression: str) -> list[str] | None:
    out, pos = [], 0
    text = expression.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


class _Parser:
    """or_expr := and_expr ('or' and_expr)* ; and_expr := not_expr ('and' not_expr)* ;
    not_expr := 'not' not_expr | atom ; atom := '(' or_expr ')' | true | false |
    path ['is' ['not'] 'defined']."""

    def __init__(self, tokens: list[str], variables: dict):
        self.tokens, self.pos, self.variables = tokens, 0, variables

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        if token is None:
            raise _NotSimple
        self.pos += 1
        return token

    def expression(self):
        # Jinja evaluates 'and'/'or' lazily; every operand here is side-effect free and either
        # decidable or NOT_SIMPLE, so evaluating all of them gives the same result or gives up.
        value = self.conjunction()
        while self.peek() == "or":
            self.take()
            right = self.conjunction()
            value = value or right
        return value

    def conjunction(self):
        value = self.negation()
        while self.peek() == "and":
            self.take()
            right = self.negation()
            value = value and right
        return value

    def negation(self):
        if self.peek() == "not":
            self.take()
            return not self.negation()
        return self.atom()

    def atom(self):
        token = self.take()
        if token == "(":
            value = self.expression()
            if self.take() != ")":
                raise _NotSimple
            return value
        if token in ("true", "True"):
            return True
        if token in ("false", "False"):
            return False
        if token in _KEYWORDS or token == ")":
            raise _NotSimple
        value = _lookup(self.variables, token)
        if value is NOT_SIMPLE:
            raise _NotSimple
        if self.peek() == "is":
            self.take()
            negated = self.peek() == "not"
            if negated:
                self.take()
            if self.take() != "defined":
                raise _NotSimple
            return (value is _UNDEFINED) if negated else (value is not _UNDEFINED)
        if value is _UNDEFINED:
            raise _NotSimple  # StrictUndefined in a boolean context: Jinja's error
        if type(value) not in (str, int, float, bool, list, dict) and value is not None:
            raise _NotSimple
        return value
