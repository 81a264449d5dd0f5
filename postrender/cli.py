"""The command line: the only place that knows about argv, stdin, stdout and exit codes.

Helm 3 runs ``postrender`` with no subcommand (plus any ``--post-renderer-args``), kustomize's
legacy exec plugins run it as ``postrender CONFIG``; both mean ``run``.  Output is written
only after every document succeeded; errors are one line on stderr (and in the log file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PostrenderError, UsageError
from .output import Diagnostics, make_redactor, write_output

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Apply declarative rules to a rendered Kubernetes manifest stream (stdin -> stdout).",
    context_settings={"help_option_names": ["-h", "--help"]},
)

SUBCOMMANDS = {"run", "diff", "validate", "schema", "init", "images", "helm-plugin", "kustomize-plugin"}

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (else $POSTRENDER_CONFIG, else ./postrender.yaml)")
ValuesOpt = typer.Option(None, "--values", "-f", help="YAML file of variables (repeatable)")
SetOpt = typer.Option(None, "--set", help="set a variable: key=value, dotted keys nest (repeatable)")
SetFileOpt = typer.Option(None, "--set-file", help="set a variable from a file's content: key=path (repeatable)")
LogOpt = typer.Option(None, "--log-file", help="also append diagnostics to this file (else $POSTRENDER_LOG)")
InputOpt = typer.Option("-", "--input", "-i", help="read the stream from this file instead of stdin")


class _State:
    diagnostics = Diagnostics()


def _read_input(path: str) -> bytes:
    if path and path != "-":
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read input: {exc.strerror}") from None
    if sys.stdin is None:
        return b""
    return sys.stdin.buffer.read()


def _load(config, values, sets, set_files, log_file):
    from .config import load_config

    _State.diagnostics = Diagnostics(log_file)
    cfg = load_config(config, values or (), sets or (), set_files or ())
    _State.diagnostics = Diagnostics(log_file, make_redactor(cfg.sensitive))
    return cfg


def _run(config, values, sets, set_files, log_file, input_path, explain):
    from .pipeline import run_stream

    cfg = _load(config, values, sets, set_files, log_file)
    data = _read_input(input_path)
    if data.startswith(b"apiVersion: config.kubernetes.io/v1") or b"\nkind: ResourceList" in data[:4096]:
        from . import krm  # KRM function mode: stdin is a ResourceList

        return cfg, krm, data
    result = run_stream(cfg, data, explain=explain)
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


class _CheckExit(Exception):
    def __init__(self, count: int):
        self.count = count


@app.command("run")
def run_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    output: Optional[str] = typer.Option(None, "--output", "-o", help="write here (atomically replaced) instead of stdout"),
    explain: bool = typer.Option(False, "--explain", help="print one line per change to stderr"),
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """Read manifests, apply the config's rules, write the result (the default command)."""
    cfg, krm_mode, result = _run(config, values, set_, set_file, log_file, input_path, explain)
    if krm_mode is not None:
        text, code = krm_mode.run_resource_list(result, cfg)
        write_output(text, output)
        raise typer.Exit(code)
    write_output(result.output, output)


@app.command("diff")
def diff_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    color: Optional[bool] = typer.Option(None, "--color/--no-color", help="colour (default: when stdout is a terminal)"),
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """Print a unified diff of input vs output instead of the output."""
    import difflib

    from .pipeline import run_stream

    cfg = _load(config, values, set_, set_file, log_file)
    data = _read_input(input_path)
    result = run_stream(cfg, data)
    for warning in result.warnings:
        _State.diagnostics.emit(f"postrender: warning: {warning}")
    before = data.decode("utf-8", "replace").splitlines(keepends=True)
    after = result.output.decode("utf-8", "replace").splitlines(keepends=True)
    redact = make_redactor(cfg.sensitive)
    use_color = sys.stdout.isatty() if color is None else color
    lines = []
    for line in difflib.unified_diff(before, after, "input", "output"):
        line = redact(line)
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        if use_color:
            if line.startswith("+") and not line.startswith("+++"):
                line = f"\x1b[32m{line.rstrip(chr(10))}\x1b[0m\n"
            elif line.startswith("-") and not line.startswith("---"):
                line = f"\x1b[31m{line.rstrip(chr(10))}\x1b[0m\n"
            elif line.startswith("@@"):
                line = f"\x1b[36m{line.rstrip(chr(10))}\x1b[0m\n"
        lines.append(line)
    write_output("".join(lines).encode("utf-8"), None)


@app.command("validate")
def validate_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
):
    """Check a config (and its variables) without reading any input."""
    cfg = _load(config, values, set_, set_file, None)
    typer.echo(f"{cfg.source}: ok, {len(cfg.rules)} rule(s) active")


@app.command("schema")
def schema_cmd():
    """Print the JSON Schema of the config file (for editors)."""
    import json

    from .configschema import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


@app.command("init")
def init_cmd(
    path: str = typer.Argument("postrender.yaml", help="where to write the starter config"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
):
    """Write a commented starter postrender.yaml covering every rule type."""
    from .configschema import starter_config

    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    write_output(starter_config().encode("utf-8"), str(target))
    typer.echo(f"wrote {target}")


def _version_callback(value: bool):
    if value:
        typer.echo(f"postrender {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="print the version"),
):
    pass


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("POSTRENDER_DEBUG"))
    try:
        app(args=_normalise_argv(argv), prog_name="postrender", standalone_mode=False)
        return 0
    except PostrenderError as exc:
        _State.diagnostics.emit(f"postrender: error: {exc.message}")
        if debug:
            raise
        return exc.exit_code
    except _CheckExit as exc:
        _State.diagnostics.emit(f"postrender: {exc.count} check(s) failed; no output written")
        return EXIT_CHECK_FAILED
    except typer.Exit as exc:
        return exc.exit_code
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
    except Exception as exc:  # the boundary: never a traceback
        # Usage errors from typer's (vendored) click: they carry format_message().
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
