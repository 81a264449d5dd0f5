"""Documents that rules add to the stream: templates, their rendering, and appending.

Rules that generate resources (``pullSecret``, ``resources``) render a Jinja template, cut the
result into YAML documents, which are added at the end of the stream (``new_documents``).
Each new document starts with its own ``---`` line and ends with a newline;
``stream.StreamWriter`` puts a line break before it when the input's last document has none.

Template files are resolved like every path in the config: relative to the config file's
directory, and must stay inside it (no ``..`` or absolute path out of it), so a shared config
cannot make postrender read arbitrary files into the output.  Templates shipped with postrender
live in the top-level ``templates/`` directory and are named with a ``builtin:`` prefix.

The opt-in for templates kept elsewhere (a repo's shared ``templates/`` next to several
configs) is ``$POSTRENDER_TEMPLATE_DIRS``, a ``:``-separated list of extra directories.  It is
an environment variable on purpose: the person running postrender grants it, never the config,
which is the thing that may come from someone else (issue 7).
"""

from __future__ import annotations

import os

from postrender.engine import kube_yaml, locate
from postrender.config import templating
from postrender.engine.document import Document
from postrender.engine.stream import split

BUILTIN_PREFIX = "builtin:"
ENV_TEMPLATE_DIRS = "POSTRENDER_TEMPLATE_DIRS"


def shipped_templates_dir():
    """The ``templates/`` directory shipped with postrender (repo checkout or installed data),
    as a ``pathlib.Path``."""
    from pathlib import Path

    return Path(_shipped_templates_dir())


def _shipped_templates_dir() -> str:
    # os.path rather than pathlib: this is on the run path of every pullSecret config (issue 16).
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.join(here, "templates"), os.path.join(os.path.dirname(here), "templates")):
        if os.path.isdir(candidate):
            return candidate
    return os.path.join(os.path.dirname(here), "templates")


def _inside(path: str, root: str) -> bool:
    """Whether the resolved ``path`` is ``root`` or under it (``PurePath.is_relative_to``)."""
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


def resolve_template(value: str, config_dir, what: str = "template") -> str:
    """The file a ``template:`` (or patch ``path:``) option names, relative to ``config_dir``
    (a string or path object); ValueError says why not."""
    builtin = value.startswith(BUILTIN_PREFIX)
    name = value[len(BUILTIN_PREFIX):] if builtin else value
    if not name:
        raise ValueError(f"empty {what} path")
    base = os.path.realpath(_shipped_templates_dir() if builtin else config_dir)
    path = os.path.realpath(os.path.join(base, name))
    allowed = [base]
    if not builtin:
        allowed += [os.path.realpath(d) for d in os.environ.get(ENV_TEMPLATE_DIRS, "").split(os.pathsep) if d]
    if not any(_inside(path, root) for root in allowed):
        if builtin:
            raise ValueError(f"{value!r} is outside postrender's templates/")
        raise ValueError(f"{value!r} is outside the config file's directory ({base}); copy the {what} next to"
                         f" the config file, or allow its directory with ${ENV_TEMPLATE_DIRS}")
    if not os.path.isfile(path):
        raise ValueError(f"{what} {value!r} not found (looked for {path})")
    return path


def read_template(value: str, config_dir, what: str = "template") -> tuple[str, str]:
    """(file text, display name); ValueError with a one-line reason."""
    from postrender.config.loader import MAX_CONFIG_BYTES, read_capped

    path = resolve_template(value, config_dir, what)
    try:
        data = read_capped(path, MAX_CONFIG_BYTES)
        if data is None:
            raise ValueError(f"{what} {value!r} is over the limit of {MAX_CONFIG_BYTES >> 20} MiB")
        return data.decode("utf-8"), value
    except UnicodeDecodeError:
        raise ValueError(f"{what} {value!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"cannot read {what} {value!r}: {exc.strerror}") from None


def compile_template(text: str):
    """Compile once at load time so syntax errors are config errors (exit 2)."""
    from jinja2 import TemplateSyntaxError

    try:
        return templating.environment().from_string(text)
    except TemplateSyntaxError as exc:
        raise templating.TemplateError(f"line {exc.lineno}: {exc.message}") from None


def render(template, variables: dict) -> str:
    # Under the sandbox's limits (CPU deadline, size caps): see templating.
    return templating.render_compiled(template, variables)


def documents_of(text: str) -> list[str]:
    """The YAML documents in rendered text, each normalised to ``---\\n...\\n``.

    Text that holds only blank lines and comments is no document: a template that renders to
    nothing (its ``{% if ... is defined %}`` was false) adds nothing.  Raises ValueError (with
    no document text in it: rendered text may hold credentials) for text that is not a YAML
    mapping per document.
    """
    out = []
    for n, (segment, _first_line, is_doc) in enumerate(split(text)):
        if not is_doc:
            continue
        try:
            roots = locate.parse(segment)
        except locate.YAMLSyntaxError as exc:
            raise ValueError(f"rendered document {len(out) + 1} is not valid YAML: {exc.problem}") from None
        if not roots or roots[0] is None:
            continue
        obj = kube_yaml.read(roots[0])
        if obj is None:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or not isinstance(obj.get("apiVersion"), str):
            raise ValueError(f"rendered document {len(out) + 1} is not a Kubernetes resource (needs apiVersion and kind)")
        body = segment.lstrip("\n")
        if not (body.startswith("---") and body[3:4] in ("", " ", "\t", "\r", "\n")):
            body = "---\n" + body
        body = body.rstrip("\n") + "\n"
        out.append(body)
    return out


def newline_of(documents: list[Document]) -> str:
    for doc in documents:
        if not doc.void:
            return "\r\n" if "\r\n" in doc.text else "\n"
    return "\n"


def position(documents: list[Document]) -> tuple[int, str]:
    """(index of the next document, the stream's newline) for documents appended after these."""
    return sum(1 for d in documents if not d.void), newline_of(documents)


def new_documents(texts: list[str], index: int, nl: str) -> list[Document]:
    """Generated documents for ``texts``, numbered from ``index``, in the stream's newline."""
    new = []
    for text in texts:
        if nl != "\n":
            text = text.replace("\r\n", "\n").replace("\n", nl)
        new.append(Document.generated(text, index))
        index += 1
    return new
