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
from pathlib import Path

from postrender.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PostrenderError, UsageError
from postrender.engine.output import Diagnostics

SUBCOMMANDS = {"run", "diff", "validate", "schema", "init", "images", "lock", "mirror", "helm-plugin", "kustomize-plugin"}

class _State:
    diagnostics = Diagnostics()


# SIGTERM (kubectl/helm timeouts, `timeout`, container stop) ends the run like Ctrl-C does:
# temporary files removed, one line on stderr, nothing on stdout; exit 128+15 as a shell would.
EXIT_TERMINATED = 143
# Bytes read before deciding between a manifest stream and a KRM ResourceList.
_PEEK = 65536


class Terminated(BaseException):
    """Raised by the SIGTERM handler; a BaseException so no ``except Exception`` swallows it."""


def _on_sigterm(signum, frame):
    raise Terminated()


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


def _load(config, values, sets, set_files, log_file):
    from postrender.config.loader import load_config

    # Diagnostics redact every value registered as secret (config.py registers each the moment
    # it is known), so one built before loading also covers what loading finds.
    _State.diagnostics = Diagnostics(log_file)
    return load_config(config, values or (), sets or (), set_files or ())


def _run(config, values, sets, set_files, log_file, input_path, explain, sink=None):
    """Run the pipeline; returns (config, krm module or None, RunResult or the raw KRM input).

    With a sink the stream is read in chunks and the output written into the sink (the run
    command); without one the whole stream is kept and the RunResult holds output bytes and
    documents (the images command).
    """
    from postrender.pipeline import run_into, run_stream
    from postrender.engine.stream import chunks_of

    fh = _open_input(input_path)
    try:
        head = fh.read(_PEEK)
        if b"ResourceList" in head:
            from postrender.integrations import krm

            data = head + fh.read()
            if krm.is_resource_list(data):
                # A KRM function call (kustomize/kpt run it with no arguments): the config is the
                # ResourceList's functionConfig, so a config file is optional here.
                from postrender.config.loader import DEFAULT_FILE, ENV_CONFIG

                explicit = config or os.environ.get(ENV_CONFIG) or Path(DEFAULT_FILE).exists()
                cfg = _load(config, values, sets, set_files, log_file) if explicit else None
                return cfg, krm, data
            chunks = [data]
        else:
            chunks = _chain(head, chunks_of(fh))
        cfg = _load(config, values, sets, set_files, log_file)
        if sink is None:
            result = run_stream(cfg, b"".join(chunks), explain=explain)
        else:
            result = run_into(cfg, chunks, sink, explain=explain)
    finally:
        _close_input(fh)
    diag = _State.diagnostics
    for warning in result.warnings:
        diag.emit(f"postrender: warning: {warning}")
    if explain:
        for change in result.changes:
            diag.emit(f"postrender: explain: {change.line()}")
    if result.failures:
        for failure in result.failures:
            diag.emit(f"postrender: check failed: {failure}")
        raise _CheckExit(len(result.failures))
    return cfg, None, result


def _chain(head: bytes, rest):
    yield head
    yield from rest


def finish_krm(krm, data: bytes, cfg, sink) -> int:
    """Write a KRM function's ResourceList into sink; errors also go to stderr, which kustomize shows."""
    outcome = krm.evaluate(data, cfg)
    for severity, message in outcome.results:
        if severity == "error":
            _State.diagnostics.emit(f"postrender: error: {message}")
        else:
            _State.diagnostics.log(f"postrender: {severity}: {message}")
    sink.write(outcome.output)
    return outcome.exit_code


class _CheckExit(Exception):
    def __init__(self, count: int):
        self.count = count


def _normalise_argv(argv: list[str]) -> list[str]:
    """Default to ``run``; accept kustomize's ``postrender CONFIGPATH`` exec-plugin call."""
    if not argv:
        return ["run"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("--help", "-h", "--version"):
        return argv
    if not first.startswith("-") and os.path.isfile(first):
        return ["run", "-c", first] + argv[1:]
    return ["run"] + argv



# run's options: flag -> (destination, takes a value, repeatable).  Must match cli.run_cmd.
_RUN_OPTIONS = {
    "-c": ("config", True, False), "--config": ("config", True, False),
    "-f": ("values", True, True), "--values": ("values", True, True),
    "--set": ("set_", True, True), "--set-file": ("set_file", True, True),
    "-o": ("output", True, False), "--output": ("output", True, False),
    "--log-file": ("log_file", True, False),
    "-i": ("input_path", True, False), "--input": ("input_path", True, False),
    "--explain": ("explain", False, False),
}


def parse_run_args(argv: list[str]) -> dict | None:
    """Options of a plain ``run`` call, or None when typer should handle argv."""
    if not argv or argv[0] != "run":
        return None
    opts: dict = {"config": None, "values": [], "set_": [], "set_file": [], "output": None,
                  "log_file": None, "input_path": "-", "explain": False}
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

    try:
        return OutputSink(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write output: {exc.strerror}") from None


def run(opts: dict) -> int:
    """The run command: output goes to stdout or ``-o`` only once every document succeeded."""
    with _open_sink(opts["output"]) as sink:
        cfg, krm_mode, result = _run(opts["config"], opts["values"], opts["set_"], opts["set_file"],
                                     opts["log_file"], opts["input_path"], opts["explain"], sink=sink)
        code = 0 if krm_mode is None else finish_krm(krm_mode, result, cfg, sink)
        sink.commit()
    return code


def boundary(fn, debug: bool) -> int:
    """Run fn, turning every failure into one line on stderr and an exit code."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main thread (an embedding program): leave it
        previous = None
    try:
        return _guarded(fn, debug)
    finally:
        if previous is not None:
            try:
                signal.signal(signal.SIGTERM, previous)
            except (ValueError, OSError):
                pass


def _guarded(fn, debug: bool) -> int:
    try:
        return fn()
    except Terminated:
        _State.diagnostics.emit("postrender: terminated (SIGTERM); no output written")
        return EXIT_TERMINATED
    except PostrenderError as exc:
        _State.diagnostics.emit(f"postrender: error: {exc.message}")
        if debug:
            raise
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
    except Exception as exc:  # the boundary: never a traceback
        # Usage errors from typer's (vendored) click carry format_message() and exit_code.
        if type(exc).__name__ == "Abort":
            return EXIT_INTERRUPTED
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _State.diagnostics.emit(f"postrender: error: {exc.format_message()} (see postrender --help)")
            return EXIT_USAGE
        if debug:
            raise
        _State.diagnostics.emit(
            f"postrender: internal error: {type(exc).__name__}: {exc}; no output written"
            " (POSTRENDER_DEBUG=1 shows a traceback; please report it)"
        )
        return EXIT_BAD_INPUT


def main(argv: list[str]) -> int | None:
    """Handle a plain run without typer; None means "not for the fast path"."""
    opts = parse_run_args(_normalise_argv(argv))
    if opts is None:
        return None
    return boundary(lambda: run(opts), bool(os.environ.get("POSTRENDER_DEBUG")))
