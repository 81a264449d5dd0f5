"""Find the undefined variables a template would use, without rendering it (postrender validate).

Templates run with ``StrictUndefined``: using a variable that is not defined is an error, but
only on the branch that uses it, so rendering once with the variables a user has today cannot
find ``{% if resource.kind == "Job" %}{{ jobTag }}{% endif %}``.  This walks the template's
syntax tree instead and reports every use, on every branch, of a variable that is not defined,
with these exceptions, which are exactly the uses Jinja does not fail on:

- ``x is defined`` / ``x is undefined`` tests and ``x | default(...)`` (``d``) do not use ``x``
  (though ``x.y is defined`` does use ``x``: getting an attribute of an undefined is an error);
- a branch whose condition is decided by such tests is skipped when, with the variables known
  now, the condition is false: ``{% if pullSecret is defined %}...{% endif %}`` with no
  ``pullSecret``, the right of ``a is defined and a.b`` when ``a`` is not defined;
- names the template defines itself (``set``, ``for``, ``with``, macro arguments, ``loop``),
  Jinja's globals, and names whose value is only known at run time (``resource`` in a patch,
  ``secret`` in a pull Secret template) together with anything under them.

Nested values are followed: ``{{ registry.host }}`` is undefined when ``registry`` is a mapping
without ``host``.  Every other condition may go either way, so both of its branches count.
"""

from __future__ import annotations

from dataclasses import dataclass

# Jinja's own globals (config/sandbox.py removes lipsum, cycler and joiner; using one of
# those is refused by the sandbox with its own message, so they are not reported here).
_GLOBALS = frozenset({"range", "dict", "namespace", "lipsum", "cycler", "joiner"})
_DEFAULT_FILTERS = frozenset({"default", "d"})
# Attributes every mapping has: `vars.items()` is not an undefined key `items`.
_DICT_ATTRIBUTES = frozenset(dir(dict))


@dataclass(frozen=True)
class UndefinedUse:
    name: str   # dotted: "registry.host"
    line: int   # in the template (1-based)


def undefined_in_template(source: str, variables: dict, opaque=frozenset()) -> list[UndefinedUse]:
    """Undefined variables ``source`` (a Jinja template) uses with ``variables``; ``opaque``:
    names defined at run time with values unknown now.  Jinja syntax errors propagate."""
    from postrender.config import templating

    tree = templating.environment().parse(source)
    return _Walker(variables, frozenset(opaque) | _assigned_names(tree)).run(tree)


def undefined_in_expression(expression: str, variables: dict, opaque=frozenset()) -> list[UndefinedUse]:
    """The same for a ``when:`` expression."""
    return undefined_in_template("{{ (" + expression + ") }}", variables, opaque)


def _assigned_names(tree) -> frozenset:
    """Every name the template binds anywhere: defined for the whole template (a name used
    before its `set` is not reported: over-approximating what is defined never reports a use
    that works)."""
    from jinja2 import nodes

    names = {"loop", "caller", "varargs", "kwargs", "super", "self"}
    for node in tree.find_all((nodes.Name, nodes.Macro, nodes.CallBlock)):
        if isinstance(node, nodes.Name) and node.ctx in ("store", "param"):
            names.add(node.name)
        elif isinstance(node, nodes.Macro):
            names.add(node.name)
    return frozenset(names)


_UNKNOWN = object()  # a value only known at run time: every attribute of it may exist


class _Walker:
    def __init__(self, variables: dict, opaque: frozenset):
        self.variables = variables
        self.opaque = opaque
        self.found: dict[str, int] = {}

    def run(self, tree) -> list[UndefinedUse]:
        self.statements(tree.body)
        return [UndefinedUse(name, line) for name, line in self.found.items()]

    # ---- values of paths ----------------------------------------------------------------
    def _path(self, node):
        """(root name, [keys]) when node is a name followed by constant attributes/items."""
        from jinja2 import nodes

        keys = []
        while True:
            if isinstance(node, nodes.Getattr):
                keys.append(node.attr)
                node = node.node
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, (str, int)):
                keys.append(node.arg.value)
                node = node.node
            elif isinstance(node, nodes.Name):
                return node.name, list(reversed(keys))
            else:
                return None

    def _lookup(self, root: str, keys: list):
        """The value at the path, _UNKNOWN when it cannot be known now, or None... when undefined
        (returned as the index of the first undefined step: -1 for the root)."""
        if root in self.opaque or root in _GLOBALS:
            return _UNKNOWN, None
        if root not in self.variables:
            return None, -1
        value = self.variables[root]
        for i, key in enumerate(keys):
            if isinstance(value, dict):
                if key in value:
                    value = value[key]
                    continue
                if isinstance(key, str) and key in _DICT_ATTRIBUTES:
                    return _UNKNOWN, None
                return None, i
            if isinstance(value, list) and isinstance(key, int):
                if -len(value) <= key < len(value):
                    value = value[key]
                    continue
                return None, i
            return _UNKNOWN, None  # a string's methods, a number: not a variable question
        return value, None

    def _report(self, root: str, keys: list, upto: int, line: int) -> None:
        name = ".".join([root] + [str(k) for k in keys[:upto + 1]])
        self.found.setdefault(name, line)

    def use_path(self, node, whole: bool = True) -> bool:
        """Record the undefined part of a path expression.  ``whole``: the full path must be
        defined (printing it); else only its parents must be (``is defined``, ``default``).
        Returns False when node is not a plain path (the caller walks it as an expression)."""
        path = self._path(node)
        if path is None:
            return False
        root, keys = path
        _value, missing = self._lookup(root, keys)
        if missing is not None and (whole or missing < len(keys) - 1):
            self._report(root, keys, missing, node.lineno)
        # Non-constant subscripts inside the path (x[y]) still use y.
        self._subscripts(node)
        return True

    def _subscripts(self, node) -> None:
        from jinja2 import nodes

        while isinstance(node, (nodes.Getattr, nodes.Getitem)):
            if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
                self.expr(node.arg)
            node = node.node

    def defined(self, node):
        """True/False when whether node is defined is known now, else None (after recording the
        uses needed to ask: the parents of the path)."""
        path = self._path(node)
        if path is None:
            self.expr(node)
            return None
        self.use_path(node, whole=False)
        root, keys = path
        value, missing = self._lookup(root, keys)
        if value is _UNKNOWN:
            return None
        return missing is None

    # ---- expressions --------------------------------------------------------------------
    def truth(self, node):
        """Walk a condition; True/False when its outcome is decided by definedness alone."""
        from jinja2 import nodes

        if isinstance(node, nodes.Test) and node.name in ("defined", "undefined") and not node.args:
            known = self.defined(node.node)
            return known if known is None or node.name == "defined" else not known
        if isinstance(node, nodes.Not):
            known = self.truth(node.node)
            return None if known is None else not known
        if isinstance(node, nodes.And):
            left = self.truth(node.left)
            if left is False:
                return False  # the right side is never evaluated
            right = self.truth(node.right)
            if left is True:
                return right
            return False if right is False else None
        if isinstance(node, nodes.Or):
            left = self.truth(node.left)
            if left is True:
                return True
            right = self.truth(node.right)
            if left is False:
                return right
            return True if right is True else None
        if isinstance(node, nodes.Const):
            return bool(node.value)
        self.expr(node)
        return None

    def expr(self, node) -> None:
        from jinja2 import nodes

        if node is None:
            return
        if isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)) and self.use_path(node):
            return
        if isinstance(node, nodes.Test) and node.name in ("defined", "undefined"):
            self.truth(node)
            return
        if isinstance(node, (nodes.And, nodes.Or, nodes.Not)):
            self.truth(node)
            return
        if isinstance(node, nodes.CondExpr):
            known = self.truth(node.test)
            if known is not False:
                self.expr(node.expr1)
            if known is not True:
                self.expr(node.expr2)
            return
        if isinstance(node, nodes.Filter) and node.name in _DEFAULT_FILTERS:
            if node.node is not None and not self.use_path(node.node, whole=False):
                self.expr(node.node)
            for child in list(node.args) + [kw.value for kw in node.kwargs] + [node.dyn_args, node.dyn_kwargs]:
                self.expr(child)
            return
        for child in node.iter_child_nodes():
            self.expr(child)

    # ---- statements ---------------------------------------------------------------------
    def statements(self, body) -> None:
        for node in body:
            self.statement(node)

    def statement(self, node) -> None:
        from jinja2 import nodes

        if isinstance(node, nodes.If):
            known = self.truth(node.test)
            if known is not False:
                self.statements(node.body)
            if known is not True:
                rest = list(node.elif_)
                if rest:
                    first = rest[0]
                    self.statement(nodes.If(first.test, first.body, rest[1:], node.else_, lineno=first.lineno))
                else:
                    self.statements(node.else_)
            return
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expr(child)
            return
        if isinstance(node, nodes.For):
            self.expr(node.iter)
            if node.test is not None:
                self.expr(node.test)
            self.statements(node.body)
            self.statements(node.else_)
            return
        if isinstance(node, (nodes.Macro, nodes.CallBlock)):
            for default in node.defaults:
                self.expr(default)
            if isinstance(node, nodes.CallBlock):
                self.expr(node.call)
            self.statements(node.body)
            return
        if isinstance(node, nodes.Assign):
            self.expr(node.node)
            return
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Stmt):
                self.statement(child)
            elif isinstance(child, nodes.Expr) and not (isinstance(child, nodes.Name) and child.ctx != "load"):
                self.expr(child)
