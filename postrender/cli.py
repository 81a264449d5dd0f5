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

from postrender import __version__
from postrender.errors import UsageError
from postrender.engine.output import redact_known, write_output

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Apply declarative rules to a rendered Kubernetes manifest stream (stdin -> stdout).",
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (else $POSTRENDER_CONFIG, else ./postrender.yaml)")
ValuesOpt = typer.Option(None, "--values", "-f", help="YAML file of variables (repeatable)")
SetOpt = typer.Option(None, "--set", help="set a variable: key=value, dotted keys nest (repeatable)")
SetFileOpt = typer.Option(None, "--set-file", help="set a variable from a file's content: key=path (repeatable)")
LogOpt = typer.Option(None, "--log-file", help="also append diagnostics to this file (else $POSTRENDER_LOG)")
InputOpt = typer.Option("-", "--input", "-i", help="read the stream from this file instead of stdin")


from postrender.runner import _load, _normalise_argv, _read_input, _run, _State, boundary, run  # noqa: E402  (shared with the fast path)


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
    code = run({"config": config, "values": values or [], "set_": set_ or [], "set_file": set_file or [],
                "output": output, "log_file": log_file, "input_path": input_path, "explain": explain})
    if code:
        raise typer.Exit(code)


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

    from postrender.pipeline import run_stream

    cfg = _load(config, values, set_, set_file, log_file)
    data = _read_input(input_path)
    result = run_stream(cfg, data)
    for warning in result.warnings:
        _State.diagnostics.emit(f"postrender: warning: {warning}")
    # Secrets' data is never shown: generated pull Secrets hold credentials in base64 of a
    # whole dockerconfigjson, which no value-based redaction can recognise (issue 4).
    from postrender.engine.output import redact_secret_values

    before_text, after_text = redact_secret_values(
        data.decode("utf-8", "replace"), result.output.decode("utf-8", "replace"))
    before = before_text.splitlines(keepends=True)
    after = after_text.splitlines(keepends=True)
    use_color = sys.stdout.isatty() if color is None else color
    lines = []
    for line in difflib.unified_diff(before, after, "input", "output"):
        line = redact_known(line)
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


@app.command("images")
def images_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    fmt: str = typer.Option("text", "--format", help="text: unique images, sorted | json: every location"),
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """List the images of the stream after the config's rules (pre-pull / mirror list)."""
    from postrender.images.discovery import render_inventory

    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: use text or json")
    cfg, krm_mode, result = _run(config, values, set_, set_file, log_file, input_path, False)
    if krm_mode is not None:
        raise UsageError("images reads a manifest stream, not a KRM ResourceList")
    write_output(render_inventory(result.stream.documents, cfg, fmt).encode("utf-8"), None)


CaFileOpt = typer.Option(None, "--ca-file", help="PEM file of CA certificates trusted besides the system's")
InsecureOpt = typer.Option(None, "--insecure-registry", help="allow plain HTTP and unverified TLS for this registry host (repeatable)")
JobsOpt = typer.Option(8, "--jobs", "-j", help="registry requests in parallel")


def _registry_input(config, values, set_, set_file, log_file, input_path):
    cfg = _load(config, values, set_, set_file, log_file)
    data = _read_input(input_path)
    if b"ResourceList" in data[:65536]:
        from postrender.integrations import krm

        if krm.is_resource_list(data):
            raise UsageError("lock and mirror read a manifest stream, not a KRM ResourceList")
    return cfg, data


@app.command("lock")
def lock_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    output: Optional[str] = typer.Option(None, "--output", "-o", help="write the lock file here (else stdout)"),
    fmt: str = typer.Option("postrender", "--format", help="postrender: ImageLock | kbld: kbld.k14s.io/v1alpha1 Config"),
    verify: bool = typer.Option(False, "--verify", help="GET every manifest and check its bytes hash to the digest"),
    ca_file: Optional[str] = CaFileOpt,
    insecure: Optional[List[str]] = InsecureOpt,
    jobs: int = JobsOpt,
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """Resolve every image (after the config's rules) to its digest; write the lock pinDigests reads."""
    from postrender.registry import commands
    from postrender.registry.errors import RegistryError
    from postrender.registry.lockfile import render

    if fmt not in ("postrender", "kbld"):
        raise UsageError(f"--format {fmt!r}: use postrender or kbld")
    cfg, data = _registry_input(config, values, set_, set_file, log_file, input_path)
    options = commands.RegistryOptions(ca_file, insecure or [], jobs)
    outcome = commands.lock(cfg, data, options, verify, _State.diagnostics.emit)
    for error in outcome.errors:
        _State.diagnostics.emit(f"postrender: error: lock: {error}")
    if outcome.errors:
        # An exception, not typer.Exit: main() drops the code a standalone_mode=False app returns.
        raise RegistryError(f"lock: {len(outcome.errors)} image(s) failed; no lock file written")
    write_output(render(outcome.lock, fmt).encode("utf-8"), output)
    _State.diagnostics.emit(
        f"postrender: lock: {len(outcome.lock)} image(s) locked, {outcome.pinned} already pinned by digest"
        + (f" -> {output}" if output else ""))


@app.command("mirror")
def mirror_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan, copy nothing"),
    fmt: str = typer.Option("text", "--format", help="--dry-run output: text | json | skopeo-sync"),
    platform: Optional[List[str]] = typer.Option(None, "--platform", help="copy only os/arch[/variant] of an index (repeatable)"),
    ca_file: Optional[str] = CaFileOpt,
    insecure: Optional[List[str]] = InsecureOpt,
    jobs: int = JobsOpt,
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """Copy every image from where the chart names it to where the config's rewrites send it."""
    from postrender.registry import commands
    from postrender.registry.errors import RegistryError

    if fmt not in ("text", "json", "skopeo-sync"):
        raise UsageError(f"--format {fmt!r}: use text, json or skopeo-sync")
    if fmt != "text" and not dry_run:
        raise UsageError(f"--format {fmt} is for --dry-run (the plan); add --dry-run")
    cfg, data = _registry_input(config, values, set_, set_file, log_file, input_path)
    options = commands.RegistryOptions(ca_file, insecure or [], jobs)
    text, summary, errors = commands.mirror(cfg, data, options, dry_run, fmt, platform or [], _State.diagnostics.emit)
    for error in errors:
        _State.diagnostics.emit(f"postrender: error: mirror: {error}")
    if text is not None:
        write_output(text.encode("utf-8"), None)
        if errors:
            raise RegistryError(f"mirror: {len(errors)} image(s) cannot be planned")
        return
    for error in summary.errors:
        _State.diagnostics.emit(f"postrender: error: mirror: {error}")
    _State.diagnostics.emit(f"postrender: {summary.line()}")
    if summary.failed or errors:
        raise RegistryError(f"mirror: {summary.failed + len(errors)} image(s) failed; run it again to resume")


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

    from postrender.config.configschema import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


@app.command("init")
def init_cmd(
    path: str = typer.Argument("postrender.yaml", help="where to write the starter config"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
):
    """Write a commented starter postrender.yaml covering every rule type."""
    from postrender.config.configschema import starter_config

    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    write_output(starter_config().encode("utf-8"), str(target))
    typer.echo(f"wrote {target}")


helm_plugin_app = typer.Typer(help="The Helm 4 post-renderer plugin.", add_completion=False)
kustomize_plugin_app = typer.Typer(help="The kustomize exec transformer plugin.", add_completion=False)
app.add_typer(helm_plugin_app, name="helm-plugin")
app.add_typer(kustomize_plugin_app, name="kustomize-plugin")


@helm_plugin_app.command("install")
def helm_plugin_install_cmd(helm: str = typer.Option("helm", "--helm", help="the helm 4 binary to install into")):
    """Install the postrender plugin into Helm 4 (then: helm template ... --post-renderer postrender)."""
    from postrender.integrations.plugins import install_helm_plugin

    result = install_helm_plugin(helm)
    typer.echo(f"installed Helm plugin {result.name!r} from {result.source_dir}")
    typer.echo(f"use: helm template|install|upgrade ... --post-renderer {result.name}")
    typer.echo(f"diagnostics (Helm 4 discards plugin stderr): {result.log_file}")


@kustomize_plugin_app.command("install")
def kustomize_plugin_install_cmd():
    """Create the kustomize exec plugin for kind PostRenderer (use with --enable-alpha-plugins)."""
    from postrender.integrations.plugins import install_kustomize_plugin

    typer.echo(f"installed kustomize exec plugin {install_kustomize_plugin()}")


def _version_callback(value: bool):
    if value:
        typer.echo(f"postrender {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="print the version"),
):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = _normalise_argv(list(sys.argv[1:] if argv is None else argv))

    def invoke() -> int:
        try:
            app(args=argv, prog_name="postrender", standalone_mode=False)
        except typer.Exit as exc:
            return exc.exit_code
        return 0

    return boundary(invoke, bool(os.environ.get("POSTRENDER_DEBUG")))
