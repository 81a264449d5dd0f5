"""Jinja in a sandbox: every string in a rule may be a template over the config's variables.

Templates run in Jinja's ``SandboxedEnvironment`` (no access to Python internals; ``range`` is
capped by Jinja at 100,000 items) with ``StrictUndefined``: using an undefined variable is an
error, while ``x is defined`` tests work, so ``{% if pullSecret is defined %}`` is the way to
make something conditional.  Jinja is imported only when a config actually uses templates.
"""

from __future__ import annotations

import base64
import json
import re

_TEMPLATE_MARK = re.compile(r"{{|{%|{#")

_env = None


class TemplateError(Exception):
    pass


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
    from .scalars import double_quoted

    return double_quoted(str(value))


def environment():
    global _env
    if _env is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        env.filters.update(
            b64encode=_b64encode,
            b64decode=_b64decode,
            dockerconfigjson=_dockerconfigjson,
            tojson=lambda v: json.dumps(v, ensure_ascii=False),
            quote=_yaml_quote,
        )
        _env = env
    return _env


def _explain(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "UndefinedError":
        return f"{exc} (define it with vars:, --values, --set or POSTRENDER_VAR_<NAME>, or guard it with 'is defined')"
    if name == "SecurityError":
        return f"refused by the template sandbox: {exc}"
    return str(exc) or name


def render(text: str, variables: dict) -> str:
    from jinja2 import TemplateError as JinjaError

    try:
        return environment().from_string(text).render(variables)
    except (JinjaError, TemplateError, ValueError, TypeError, OverflowError) as exc:
        raise TemplateError(_explain(exc)) from None


def evaluate(expression: str, variables: dict) -> bool:
    from jinja2 import TemplateError as JinjaError

    try:
        return bool(environment().compile_expression(expression, undefined_to_none=False)(**variables))
    except (JinjaError, TemplateError, ValueError, TypeError) as exc:
        raise TemplateError(_explain(exc)) from None
