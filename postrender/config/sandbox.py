"""The template sandbox's limits: what a template may not do, and how much it may cost.

A config may come from someone else (a shared repo, a chart's CI), so a template is treated as
untrusted code (issue 7).  On top of Jinja's sandbox (no ``__class__``/``__globals__``, no
unsafe callables), :mod:`postrender.config.templating` builds its environment with these:

* no file access: ``{% include %}``, ``{% import %}``, ``{% from %}`` and ``{% extends %}`` are
  refused when the template is compiled (there is no loader, and a template that could read
  files would let a config copy any readable file into a manifest); ``self`` and the
  ``lipsum``/``cycler``/``joiner`` globals, useless in manifests and classic escape gadgets,
  are gone; every ``_name`` attribute is refused, whatever the object;
* bounded work: ``range`` is capped at :data:`MAX_RANGE`, one render gets
  :data:`RENDER_CPU_SECONDS` of CPU time (main thread only: the deadline is a ``SIGPROF``
  timer) and :data:`RENDER_STACK_FRAMES` stack frames (a macro calling itself);
* bounded size: the rendered text and every string, list or number a single operation can
  build (``'x' * n``, ``'%9999999s' % x``, ``'{:9999999}'.format(x)``, ``join``, ``center``,
  ``replace``, ``**``) are capped before they are built, and on Linux the address space may
  grow by at most :data:`RENDER_MEMORY_BYTES` while a template renders (a backstop for what
  the caps do not foresee, such as ``~`` doubling a string in a loop).

Every refusal is a :class:`TemplateRefused` (a config problem: exit 2) with a one-line reason.
"""

from __future__ import annotations

import functools
import re
import signal
import sys

# ---- limits ---------------------------------------------------------------------------------
# Kubernetes rejects any object over ~1.5 MiB (etcd's request limit) and a Secret or ConfigMap
# over 1 MiB of data, so nothing a template legitimately renders comes near 4 Mi characters.
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
# Jinja's sandbox allows 100,000; a manifest template needs a handful (replicas, ports), and
# two nested loops of 10,000 are already 10^8 steps, which the CPU deadline then stops.
MAX_RANGE = 10_000
# A single ** or * on integers: 4096 bits (1,233 decimal digits) is far beyond any quantity in
# a manifest, and keeps every integer operation a microsecond C call the deadline need not stop.
MAX_INT_BITS = 4096
# Real templates render in milliseconds; 1 s of CPU is a hundredfold margin even on a slow CI
# machine, and bounds what an endless loop costs (Helm waits on us).  Per render: a patch
# renders once per resource, but the first refusal ends the run.
RENDER_CPU_SECONDS = 1.0
# Address space a render may add (Linux, RLIMIT_AS): enough for any template that passes the
# size caps above many times over, small enough that a runaway cannot push the machine into
# swap or the OOM killer, and keeps a refused template under the 300 MB RSS bound of SECURITY.md.
RENDER_MEMORY_BYTES = 256 * 1024 * 1024
# Stack frames a render may add.  A macro that calls itself without end otherwise runs into
# Python's limit of 1000 frames, and Jinja then spends seconds rewriting a 1000-frame traceback;
# real templates nest a few dozen frames deep (loops, macros, filters).
RENDER_STACK_FRAMES = 250
# Globals Jinja adds that have no use in a manifest; lipsum/cycler/joiner are the usual
# stepping stones of template-injection exploits.
REMOVED_GLOBALS = ("lipsum", "cycler", "joiner")


class TemplateError(Exception):
    pass


class TemplateRefused(TemplateError):
    """The sandbox refused the template (unsafe access, a limit): the config must change."""


class Deadline(BaseException):
    """Raised by the CPU timer's signal handler; BaseException so no ``except Exception`` in a
    filter or in Jinja can swallow it."""


# ---- size checks, before anything big is built -----------------------------------------------

def refuse_size(what: str, size: int) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise TemplateRefused(
            f"refused by the template sandbox: {what} would be {size:,} characters"
            f" (limit {MAX_OUTPUT_CHARS:,})"
        )


# printf-style conversions: %[(key)][flags][width][.precision]type
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


def _check_percent_format(fmt: str) -> None:
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for n in (width, precision):
            if n == "*":
                raise TemplateRefused("refused by the template sandbox: '*' widths in % formats are not allowed")
            if n:
                refuse_size("a % format field", int(n))


def check_brace_format(fmt: str) -> None:
    """Widths and precisions in a str.format string; nested {} in a spec are refused."""
    import string

    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises its own error
    for _literal, _name, spec, _conv in fields:
        if not spec:
            continue
        if "{" in spec:
            raise TemplateRefused("refused by the template sandbox: nested {} in a format spec is not allowed")
        for n in _NUMBER.findall(spec):
            refuse_size("a format field", int(n))


def _length(value) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _replaced_size(text: str, old: str, new: str) -> int:
    """Length of text.replace(old, new), computed without building it."""
    hits = text.count(old) if old else len(text) + 1
    return len(text) + hits * max(len(new) - len(old), 0)


def _joined_size(separator: str, items: list) -> int:
    """Length of separator.join(items), computed without building it."""
    return len(separator) * max(len(items) - 1, 0) + sum(_length(i) for i in items)


def checked_binop(operator: str, left, right):
    import operator as op

    if operator == "*":
        if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateRefused(f"refused by the template sandbox: a product over {MAX_INT_BITS} bits")
        elif isinstance(right, int) and _length(left):
            refuse_size("a repeated string or list", _length(left) * max(right, 0))
        elif isinstance(left, int) and _length(right):
            refuse_size("a repeated string or list", _length(right) * max(left, 0))
        return op.mul(left, right)
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise TemplateRefused(f"refused by the template sandbox: a power over {MAX_INT_BITS} bits")
        return op.pow(left, right)
    if operator == "%":
        if isinstance(left, str):
            _check_percent_format(left)
            result = op.mod(left, right)
            refuse_size("a % formatted string", len(result))
            return result
        return op.mod(left, right)
    if operator == "+":
        if _length(left) and _length(right):
            refuse_size("a concatenation", _length(left) + _length(right))
        return op.add(left, right)
    raise AssertionError(operator)  # pragma: no cover - only intercepted operators come here


# str methods that build a string from a size argument: refused before they allocate.
def check_str_method(obj, args, kwargs) -> list:
    name = getattr(obj, "__name__", "")
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, str):
        return list(args)
    args = list(args)
    if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        refuse_size(f"str.{name}()", args[0])
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int):
            refuse_size("str.expandtabs()", len(owner) + owner.count("\t") * max(tab, 0))
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        refuse_size("str.replace()", _replaced_size(owner, args[0], args[1]))
    elif name == "join" and args:
        items = args[0] = list(args[0])
        refuse_size("str.join()", _joined_size(owner, items))
    return args


def checked_filter(name: str, original):
    """A Jinja filter with a size check in front of it."""

    if name == "join":
        def join(eval_ctx, value, d="", attribute=None):
            items = list(value)
            refuse_size("join", _joined_size(str(d), items))
            return original(eval_ctx, items, d, attribute)

        return functools.update_wrapper(join, original)
    if name == "center":
        def center(value, width=80):
            if isinstance(width, int):
                refuse_size("center", width)
            return original(value, width)

        return functools.update_wrapper(center, original)
    if name == "indent":
        def indent(s, width=4, first=False, blank=False):
            size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            refuse_size("indent", (str(s).count("\n") + 1) * size + len(str(s)))
            return original(s, width, first, blank)

        return functools.update_wrapper(indent, original)
    if name == "replace":
        def replace(eval_ctx, s, old, new, count=None):
            refuse_size("replace", _replaced_size(str(s), str(old), str(new)))
            return original(eval_ctx, s, old, new, count)

        return functools.update_wrapper(replace, original)
    if name == "format":
        def format_(value, *args, **kwargs):
            _check_percent_format(str(value))
            result = original(value, *args, **kwargs)
            refuse_size("format", len(result))
            return result

        return functools.update_wrapper(format_, original)
    raise AssertionError(name)  # pragma: no cover


def safe_range(*args):
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateRefused(
            f"refused by the template sandbox: range of {len(rng):,} items (limit {MAX_RANGE:,})"
        )
    return rng


def refusal_at_compile(tree) -> tuple[str, int] | None:
    """(reason, line) of the first construct a postrender template may not use, or None."""
    from jinja2 import nodes

    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        tag = {"Extends": "extends", "Include": "include", "Import": "import", "FromImport": "from ... import"}[
            type(node).__name__]
        return (f"{{% {tag} %}} is not allowed: templates cannot read other files"
                " (put the text in the template or in a variable)"), node.lineno
    for node in tree.find_all(nodes.Name):
        if node.name == "self" and node.ctx == "load":
            return "'self' is not available in postrender templates", node.lineno
    return None


class RenderLimits:
    """CPU deadline (SIGPROF timer), stack depth and address-space cap around one render.

    All three are process-wide, so they are set only in the main thread (signals are delivered
    there) and restored exactly, including a timer someone else had armed (pytest-timeout, a
    profiler).  Elsewhere a render still gets every size cap, not these.
    """

    active = False

    def __enter__(self):
        import threading  # only a Jinja render gets here: not on every run's start-up (issue 16)

        self.armed = self.limited = False
        if (RenderLimits.active or threading.current_thread() is not threading.main_thread()
                or not hasattr(signal, "setitimer")):  # Windows has no interval timers
            return self
        RenderLimits.active = True

        def expired(signum, frame):
            raise Deadline()

        depth, frame = 0, sys._getframe()
        while frame is not None:
            depth, frame = depth + 1, frame.f_back
        self.old_recursion = sys.getrecursionlimit()
        sys.setrecursionlimit(min(self.old_recursion, depth + RENDER_STACK_FRAMES))
        self.old_handler = signal.signal(signal.SIGPROF, expired)
        self.old_timer = signal.setitimer(signal.ITIMER_PROF, RENDER_CPU_SECONDS)
        self.armed = True
        self._limit_memory()
        return self

    def _limit_memory(self):
        try:
            import resource  # POSIX only

            with open("/proc/self/statm", "rb") as fh:
                size = int(fh.read().split()[0]) * resource.getpagesize()
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            target = size + RENDER_MEMORY_BYTES
            if hard != resource.RLIM_INFINITY:
                target = min(target, hard)
            if soft != resource.RLIM_INFINITY and soft <= target:
                return  # already tighter than ours
            resource.setrlimit(resource.RLIMIT_AS, (target, hard))
            self.old_rlimit = (soft, hard)
            self.limited = True
        except (ImportError, OSError, ValueError):
            pass  # not Linux: the size caps and the deadline still apply

    def __exit__(self, *exc):
        if self.limited:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, self.old_rlimit)
        if self.armed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self.old_handler)
            sys.setrecursionlimit(self.old_recursion)
            remaining, interval = self.old_timer
            if remaining or interval:
                signal.setitimer(signal.ITIMER_PROF, remaining, interval)
            RenderLimits.active = False
        return False
