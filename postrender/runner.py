"""The run path without typer: Helm calls ``postrender`` once per render, so start-up counts.

``main`` handles the plain ``run`` invocation (the options Helm, kustomize and pipes use) with a
small argv parser and never imports typer; anything else (other commands, ``--help``, a typo)
goes to the typer app in ``cli.py``, which owns the full CLI and its help text.  Both share the
functions here, so the behaviour of ``run`` is one piece of code.
"""

from __future__ import annotations

import os
import signal
import sys

from postrender.errors import (EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CheckFailed,
                               PostrenderError, UsageError)
from postrender.engine.output import Diagnostics

# The typer app's commands, in its order (cli.py; tests/test_cli_conventions.py checks the two
# agree).  A first argument that is none of these, no option and no file is a mistyped command.
SUBCOMMANDS = ("run", "diff", "images", "lock", "mirror", "validate", "schema", "init", "completion",
               "helm-plugin", "kustomize-plugin")
# Environment variable of shell completion (`postrender completion SHELL`): the typer app answers.
COMPLETE_VAR = "_POSTRENDER_COMPLETE"

class _State:
    diagnostics = Diagnostics()


# Any of 1/true/yes/on: like --strict (for integrations that pass no arguments: KRM functions).
ENV_STRICT = "POSTRENDER_STRICT"

# Bytes read before deciding between a manifest stream and a KRM ResourceList.
_PEEK = 65536


# SIGTERM (kubectl/helm timeouts, `timeout`, container stop), SIGHUP (the terminal went away),
# SIGUSR1, SIGALRM and every other signal whose default action ends a process end the run like
# Ctrl-C does: temporary files removed, one line on stderr, nothing on stdout; exit 128+N as a
# shell would (143 for SIGTERM).
class Terminated(BaseException):
    """Raised by the signal handler; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def _on_signal(signum, frame):
    # The first signal wins; later ones must not interrupt the clean-up it starts.
    from postrender.engine.sink import ENDING_SIGNALS

    for sig in ENDING_SIGNALS:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _install_signal_handlers() -> dict:
    """Handle every signal that would end the process, unless it is ignored (``nohup`` ignores
    SIGHUP, a shell's background job SIGINT: they stay ignored).  Returns what to restore."""
    from postrender.engine.sink import ENDING_SIGNALS

    previous = {}
    for sig in ENDING_SIGNALS:
        try:
            current = signal.getsignal(sig)
            if current in (signal.SIG_DFL, signal.default_int_handler):
                previous[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError, TypeError):  # not the main thread, or not settable
            pass
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError, TypeError):
            pass


def _occupy_closed_std_fds() -> None:
    """Put /dev/null on fd 0, 1 or 2 if it was closed (``2>&-``, ``>&-``): else the next file
    opened (the -o temporary file, the log) would get that number, and anything written to
    "stderr" by C code would land in it.  Python has already set sys.stdin/stderr to None for
    a closed fd (empty input; Diagnostics skip stderr); sys.stdout becomes a ClosedStdout, so
    every command that prints fails with one line."""
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            try:
                devnull = os.open(os.devnull, flags)
                if devnull != fd:
                    os.dup2(devnull, fd)
                    os.close(devnull)
            except OSError:
                pass
            if fd == 1 and sys.stdout is None:
                from postrender.engine.sink import ClosedStdout

                sys.stdout = ClosedStdout()  # writing the output is then a clean error


def _read_input(path: str) -> bytes:
    fh = _open_input(path)
    try:
        return fh.read()
    finally:
        _close_input(fh)


def _close_input(fh) -> None:
    if sys.stdin is None or fh is not sys.stdin.buffer:
        fh.close()


def _open_input(path: str):
    """A binary file to read the stream from (stdin unless --input names a file)."""
    if path and path != "-":
        try:
            return open(path, "rb")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read input: {exc.strerror}") from None
    if sys.stdin is None:
        import io

        return io.BytesIO(b"")
    return sys.stdin.buffer


def _load(config, values, sets, set_files, log_file, check_templates=False):
    from postrender.config.loader import load_config

    # Diagnostics redact every value registered as secret (config.py registers each the moment
    # it is known), so one built before loading also covers what loading finds.
    _State.diagnostics = Diagnostics(log_file)
    return load_config(config, values or (), sets or (), set_files or (), check_templates=check_templates)


def release_namespace(namespace: str | None) -> str:
    """The namespace resources without one are installed into: ``--namespace``, else
    ``$HELM_NAMESPACE`` (which Helm reads too: exported, it selects the namespace for both), else
    "" (unknown).  Helm 3.17 and 4.1 pass a post-renderer neither ``-n`` nor the variable
    (tests/e2e), so a chart installed with ``-n`` needs ``--post-renderer-args`` for this."""
    return namespace or os.environ.get("HELM_NAMESPACE") or ""


def _run(config, values, sets, set_files, log_file, input_path, explain, sink=None, strict=False,
         namespace=None):
    """Run the pipeline; returns (config, krm module or None, RunResult or the raw KRM input).

    With a sink the stream is read in chunks and the output written into the sink (the run
    command); without one the whole stream is kept and the RunResult holds output bytes and
    documents (the images command).  ``namespace`` is ``--namespace`` (see release_namespace).
    """
    from postrender.pipeline import run_into, run_stream
    from postrender.engine.stream import chunks_of

    fh = _open_input(input_path)
    try:
        source = "stdin" if not input_path or input_path == "-" else input_path
        head = _reading(lambda: fh.read(_PEEK), source)
        if b"ResourceList" in head:
            from postrender.integrations import krm

            data = head + _reading(fh.read, source)
            if krm.is_resource_list(data):
                # A KRM function call (kustomize/kpt run it with no arguments): the config is the
                # ResourceList's functionConfig, so a config file is optional here.
                from postrender.config.loader import DEFAULT_FILE, ENV_CONFIG

                explicit = config or os.environ.get(ENV_CONFIG) or os.path.exists(DEFAULT_FILE)
                cfg = _load(config, values, sets, set_files, log_file) if explicit else None
                return cfg, krm, data
            chunks = [data]
        else:
            chunks = _chain(head, _reading_chunks(chunks_of(fh), source))
        cfg = _load(config, values, sets, set_files, log_file)
        namespace = release_namespace(namespace)
        if sink is None:
            result = run_stream(cfg, b"".join(chunks), explain=explain, namespace=namespace)
        else:
            result = run_into(cfg, chunks, sink, explain=explain, namespace=namespace)
    finally:
        _close_input(fh)
    report(result.warnings, result.changes if explain else ())
    if result.failures:
        for failure in result.failures:
            _State.diagnostics.emit(f"postrender: check failed: {failure}")
        raise _CheckExit(len(result.failures))
    if strict:
        refuse_warnings(len(result.warnings))
    return cfg, None, result


def report(warnings, changes=()) -> None:
    """Warnings and --explain lines: notices, which also reach the terminal (engine/output.py)."""
    diag = _State.diagnostics
    for warning in warnings:
        diag.notice(f"postrender: warning: {warning}")
    for change in changes:
        diag.notice(f"postrender: explain: {change.line()}")


def refuse_warnings(count: int) -> None:
    """--strict: a run with warnings fails like a failed check (exit 1, nothing written)."""
    if count:
        raise CheckFailed(f"--strict: {count} warning(s) treated as errors; no output written")


def strict_from_env() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in ("1", "true", "yes", "on")


def _chain(head: bytes, rest):
    yield head
    yield from rest


def _reading(read, source: str):
    """read(), with an OS error (EIO, EISDIR...) as one line naming the input (exit 2)."""
    try:
        return read()
    except OSError as exc:
        raise UsageError(f"{source}: cannot read input: {exc.strerror or exc}") from None


def _reading_chunks(chunks, source: str):
    try:
        yield from chunks
    except OSError as exc:
        raise UsageError(f"{source}: cannot read input: {exc.strerror or exc}") from None


def finish_krm(krm, data: bytes, cfg, sink, strict: bool = False) -> int:
    """Write a KRM function's ResourceList into sink.

    Results are also diagnostics: kustomize prints neither warnings nor errors from ``results``
    (only the function's stderr, and only on failure), so errors go to stderr and warnings are
    notices, which reach the terminal."""
    outcome = krm.evaluate(data, cfg)
    warnings = 0
    for severity, message in outcome.results:
        if severity == "error":
            _State.diagnostics.emit(f"postrender: error: {message}")
        else:
            warnings += severity == "warning"
            _State.diagnostics.notice(f"postrender: {severity}: {message}")
    sink.write(outcome.output)
    if strict and outcome.exit_code == 0 and warnings:
        _State.diagnostics.emit(f"postrender: error: --strict: {warnings} warning(s) treated as errors")
        return EXIT_CHECK_FAILED
    return outcome.exit_code


class _CheckExit(Exception):
    def __init__(self, count: int):
        self.count = count


def _normalise_argv(argv: list[str]) -> list[str]:
    """Default to ``run``; accept kustomize's ``postrender CONFIGPATH`` exec-plugin call.

    A first word that is neither a command, an option nor a file is a mistyped command: a
    UsageError that suggests the closest command (``vaildate``: did you mean ``validate``?), as
    git and kubectl do, instead of running with an unexpected argument."""
    if not argv:
        return ["run"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("--help", "-h", "--version"):
        return argv
    if first.startswith("-"):
        return ["run"] + argv
    if os.path.isfile(first):
        from postrender.integrations.kustomize_config import user_config

        return ["run", "-c", user_config(first)] + argv[1:]
    if os.sep in first or first.endswith((".yaml", ".yml", ".json")):
        return ["run", "-c", first] + argv[1:]  # a config path after all: "not found" says so
    import difflib

    close = difflib.get_close_matches(first, SUBCOMMANDS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"commands: {', '.join(SUBCOMMANDS)}"
    raise UsageError(f"unknown command {first!r}; {hint} (postrender --help; a config file is -c FILE)")



# run's options: flag -> (destination, takes a value, repeatable).  Must match cli.run_cmd.
_RUN_OPTIONS = {
    "-c": ("config", True, False), "--config": ("config", True, False),
    "-f": ("values", True, True), "--values": ("values", True, True),
    "--set": ("set_", True, True), "--set-file": ("set_file", True, True),
    "-o": ("output", True, False), "--output": ("output", True, False),
    "--log-file": ("log_file", True, False),
    "-i": ("input_path", True, False), "--input": ("input_path", True, False),
    "--explain": ("explain", False, False),
    "--strict": ("strict", False, False),
    "-n": ("namespace", True, False), "--namespace": ("namespace", True, False),
}


def parse_run_args(argv: list[str]) -> dict | None:
    """Options of a plain ``run`` call, or None when typer should handle argv."""
    if not argv or argv[0] != "run":
        return None
    opts: dict = {"config": None, "values": [], "set_": [], "set_file": [], "output": None,
                  "log_file": None, "input_path": "-", "explain": False, "strict": False,
                  "namespace": None}
    args = argv[1:]
    i = 0
    while i < len(args):
        flag, eq, inline = args[i].partition("=")
        spec = _RUN_OPTIONS.get(flag)
        if spec is None or (eq and not spec[1]):
            return None
        dest, takes_value, repeatable = spec
        if takes_value:
            if eq:
                value = inline
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                return None
            if repeatable:
                opts[dest].append(value)
            else:
                opts[dest] = value
        else:
            opts[dest] = True
        i += 1
    return opts


def _open_sink(path: str | None):
    from postrender.engine.sink import OutputSink

    return OutputSink(path)  # OS errors are UsageErrors naming the file (sink.output_error)


def run(opts: dict) -> int:
    """The run command: output goes to stdout or ``-o`` only once every document succeeded."""
    strict = opts["strict"] or strict_from_env()
    with _open_sink(opts["output"]) as sink:
        cfg, krm_mode, result = _run(opts["config"], opts["values"], opts["set_"], opts["set_file"],
                                     opts["log_file"], opts["input_path"], opts["explain"], sink=sink, strict=strict,
                                     namespace=opts.get("namespace"))
        code = 0 if krm_mode is None else finish_krm(krm_mode, result, cfg, sink, strict)
        sink.commit()
    return code


def boundary(fn, debug: bool) -> int:
    """Run fn, turning every failure into one line on stderr and an exit code."""
    _occupy_closed_std_fds()
    previous = _install_signal_handlers()
    try:
        return _guarded(fn, debug)
    finally:
        _restore_signal_handlers(previous)


def _guarded(fn, debug: bool) -> int:
    try:
        return fn()
    except Terminated as exc:
        _State.diagnostics.emit(f"postrender: terminated ({exc.name}); no output written")
        return 128 + exc.signum
    except PostrenderError as exc:
        _State.diagnostics.emit(f"postrender: error: {exc.message}")
        if debug:
            _show_traceback(exc)
        return exc.exit_code
    except _CheckExit as exc:
        _State.diagnostics.emit(f"postrender: {exc.count} check(s) failed; no output written")
        return EXIT_CHECK_FAILED
    except KeyboardInterrupt:
        _State.diagnostics.emit("postrender: interrupted; no output written")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`postrender | head`): not an error worth a traceback.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except RecursionError:
        _State.diagnostics.emit("postrender: error: input nested too deeply; no output written")
        return EXIT_BAD_INPUT
    except MemoryError:
        _State.diagnostics.emit("postrender: error: out of memory; no output written")
        return EXIT_USAGE
    except OSError as exc:
        # The environment, not the input: a file that cannot be read or written, a full disk.
        # The places that know which file say so themselves (UsageError); this is the rest.
        if debug:
            _show_traceback(exc)
        where = f"{exc.filename}: " if exc.filename else ""
        _State.diagnostics.emit(f"postrender: error: {where}{exc.strerror or exc}; no output written")
        return EXIT_USAGE
    except Exception as exc:  # the boundary: never a traceback
        # Usage errors from typer's (vendored) click carry format_message() and exit_code.
        if type(exc).__name__ == "Abort":
            return EXIT_INTERRUPTED
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _State.diagnostics.emit(f"postrender: error: {exc.format_message()} (see postrender --help)")
            return EXIT_USAGE
        if debug:
            _show_traceback(exc)
        _State.diagnostics.emit(
            f"postrender: internal error: {type(exc).__name__}: {exc}; no output written"
            " (POSTRENDER_DEBUG=1 shows a traceback; please report it)"
        )
        return EXIT_BAD_INPUT


def _show_traceback(exc: BaseException) -> None:
    """POSTRENDER_DEBUG=1: the traceback on stderr, redacted like every message (an exception's
    text may quote a secret)."""
    import traceback

    from postrender.engine.output import write_stderr
    from postrender.engine.redaction import redact_known

    write_stderr(redact_known("".join(traceback.format_exception(exc))))


def main(argv: list[str]) -> int | None:
    """Handle a plain run without typer; None means "not for the fast path"."""
    if os.environ.get(COMPLETE_VAR):
        return None  # shell completion: the typer app answers
    debug = bool(os.environ.get("POSTRENDER_DEBUG"))
    try:
        opts = parse_run_args(_normalise_argv(argv))
    except UsageError as exc:
        return boundary(lambda: _raise(exc), debug)
    if opts is None:
        return None
    return boundary(lambda: run(opts), debug)


def _raise(exc: BaseException):
    raise exc
