"""Jinja in a sandbox: every string in a rule may be a template over the config's variables.

Templates run in Jinja's ``SandboxedEnvironment`` with ``StrictUndefined``: using an undefined
variable is an error, while ``x is defined`` tests work, so ``{% if pullSecret is defined %}``
is the way to make something conditional.  Jinja is imported only when a config actually uses
templates.  What a template may not do, and the limits on what it may cost, are in
:mod:`postrender.config.sandbox` (issue 7); every render here runs under them.
"""

from __future__ import annotations

import base64
import functools
import json
import re

from postrender.config import sandbox, simple_templates
from postrender.config.sandbox import (
    MAX_OUTPUT_CHARS,
    REMOVED_GLOBALS,
    check_brace_format,
    check_str_method,
    checked_binop,
    checked_filter,
    Deadline,
    refusal_at_compile,
    refuse_size,
    RenderLimits,
    safe_range,
    TemplateError,
    TemplateRefused,
)

__all__ = ["TemplateError", "TemplateRefused", "UndefinedVariable", "environment", "evaluate", "is_template", "render",
           "render_compiled", "undefined_message"]


class UndefinedVariable(TemplateError):
    """A template used a variable (or a key of one) that is not defined: a config error (exit 2)
    wherever it happens, at load time or while rendering a patch per resource."""


def undefined_message(what: str) -> str:
    """How every undefined-variable error reads (rendering, and validate's static check)."""
    return f"{what} (define it with vars:, --values, --set or POSTRENDER_VAR_<NAME>, or guard it with 'is defined')"

_TEMPLATE_MARK = re.compile(r"{{|{%|{#")

_env = None


def is_template(text) -> bool:
    return isinstance(text, str) and bool(_TEMPLATE_MARK.search(text))


def _b64encode(value) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def _b64decode(value) -> str:
    return base64.b64decode(value).decode("utf-8")


def _dockerconfigjson(registry, username=None, password=None, auth=None) -> str:
    """The .dockerconfigjson document for one registry, as kubectl create secret docker-registry."""
    if auth is None:
        if username is None or password is None:
            raise TemplateError("dockerconfigjson needs username and password, or auth")
        auth = _b64encode(f"{username}:{password}")
    entry = {"auth": auth}
    if username is not None:
        entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {registry: entry}}, separators=(",", ":"))


def _yaml_quote(value) -> str:
    from postrender.engine.scalars import double_quoted

    return double_quoted(str(value))


def environment():
    global _env
    if _env is None:
        _env = _make_environment()
    return _env


def _make_environment():
    from jinja2 import StrictUndefined, TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    class Sandbox(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def _parse(self, source, name, filename):
            tree = super()._parse(source, name, filename)
            refusal = refusal_at_compile(tree)
            if refusal:
                raise _CompileRefusal(refusal[0], refusal[1], name, filename)
            return tree

        def getattr(self, obj, attribute):
            # Jinja refuses most underscore names but lets objects with their own
            # __getattr__ (namespace()) answer "undefined"; refuse them all the same way.
            if isinstance(attribute, str) and attribute.startswith("_"):
                return self.unsafe_undefined(obj, attribute)
            return super().getattr(obj, attribute)

        def call_binop(self, context, operator, left, right):
            return checked_binop(operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
            args = check_str_method(__obj, args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

        def wrap_str_format(self, value):
            wrapper = super().wrap_str_format(value)
            if wrapper is None:
                return None
            fmt = value.__self__

            def checked(*args, **kwargs):
                check_brace_format(fmt)
                result = wrapper(*args, **kwargs)
                refuse_size("a formatted string", len(result))
                return result

            return checked

    class _CompileRefusal(TemplateSyntaxError):
        pass

    env = Sandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env._CompileRefusal = _CompileRefusal
    for name in REMOVED_GLOBALS:
        env.globals.pop(name, None)
    env.globals["range"] = safe_range
    env.filters.update({name: checked_filter(name, env.filters[name])
                        for name in ("join", "center", "indent", "replace", "format")})
    env.filters.update(
        b64encode=_b64encode,
        b64decode=_b64decode,
        dockerconfigjson=_dockerconfigjson,
        tojson=lambda v: json.dumps(v, ensure_ascii=False),
        quote=_yaml_quote,
    )
    return env


def _explain(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, TemplateError):
        return str(exc)
    if name == "UndefinedError":
        return undefined_message(str(exc))
    if name == "SecurityError":
        return f"refused by the template sandbox: {exc}"
    return str(exc) or name


def _removed_global(exc) -> str | None:
    """The removed global an UndefinedError is about (unless the config defines that name)."""
    if type(exc).__name__ == "UndefinedError":
        for removed in REMOVED_GLOBALS:
            if str(exc) == f"'{removed}' is undefined":
                return removed
    return None


def _guarded(produce):
    """Run produce() under the limits; every failure becomes a one-line TemplateError."""
    from jinja2 import TemplateError as JinjaError
    from jinja2.exceptions import SecurityError

    try:
        with RenderLimits():
            return produce()
    except Deadline:
        raise TemplateRefused(
            f"refused by the template sandbox: rendering took more than {sandbox.RENDER_CPU_SECONDS:g} s of CPU"
            " (an endless or very large loop?)") from None
    except MemoryError:
        raise TemplateRefused(
            f"refused by the template sandbox: rendering needed more than {sandbox.RENDER_MEMORY_BYTES >> 20} MiB of memory"
        ) from None
    except RecursionError:
        raise TemplateRefused(
            "refused by the template sandbox: recursion too deep (a macro or recursive loop that calls itself"
            " without end?)") from None
    except TemplateRefused:
        raise
    except environment()._CompileRefusal as exc:
        raise TemplateRefused(f"line {exc.lineno}: refused by the template sandbox: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateRefused(_explain(exc)) from None
    except (JinjaError, TemplateError) as exc:
        removed = _removed_global(exc)
        if removed:
            raise TemplateRefused(
                f"refused by the template sandbox: '{removed}' is an unsafe Jinja global, removed in postrender") from None
        if type(exc).__name__ == "UndefinedError":
            raise UndefinedVariable(_explain(exc)) from None
        raise TemplateError(_explain(exc)) from None
    except Exception as exc:  # anything a template expression raises (1/0, [].index(x), ...)
        raise TemplateError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None


@functools.lru_cache(maxsize=512)
def _compiled(text: str):
    # Cached: a patch renders the same text once per selected resource.
    return environment().from_string(text)


def _render_capped(template, variables: dict) -> str:
    chunks, size = [], 0
    for chunk in template.generate(variables):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateRefused(
                f"refused by the template sandbox: the rendered text exceeds {MAX_OUTPUT_CHARS:,} characters"
                " (Kubernetes rejects objects over 1.5 MiB)")
        chunks.append(chunk)
    return "".join(chunks)


def render_compiled(template, variables: dict) -> str:
    return _guarded(lambda: _render_capped(template, variables))


def render(text: str, variables: dict) -> str:
    simple = simple_templates.render(text, variables)  # Jinja's result without importing it
    if simple is not simple_templates.NOT_SIMPLE:
        return simple
    return _guarded(lambda: _render_capped(_compiled(text), variables))


def evaluate(expression: str, variables: dict) -> bool:
    simple = simple_templates.evaluate(expression, variables)
    if simple is not simple_templates.NOT_SIMPLE:
        return simple
    return _guarded(lambda: bool(environment().compile_expression(expression, undefined_to_none=False)(**variables)))
