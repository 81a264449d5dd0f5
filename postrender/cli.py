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

COMPLETION_SHELLS = ("bash", "zsh", "fish")
# diff's exit status for a failed check: 1 means "differences" there, as in kubectl diff.
EXIT_DIFF_CHECK_FAILED = 4
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
StrictOpt = typer.Option(False, "--strict", help="treat warnings as errors: exit 1, nothing written (else $POSTRENDER_STRICT)")
InputOpt = typer.Option("-", "--input", "-i", help="read the stream from this file instead of stdin")


from postrender.runner import (COMPLETE_VAR, SUBCOMMANDS, _load, _normalise_argv, _read_input, _run,  # noqa: E402
                               _State, boundary, report, run)  # (shared with the fast path)


@app.command("run")
def run_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    output: Optional[str] = typer.Option(None, "--output", "-o", help="write here (atomically replaced) instead of stdout"),
    explain: bool = typer.Option(False, "--explain", help="print one line per change (stderr, and the terminal)"),
    strict: bool = StrictOpt,
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """Read manifests, apply the config's rules, write the result (the default command)."""
    code = run({"config": config, "values": values or [], "set_": set_ or [], "set_file": set_file or [],
                "output": output, "log_file": log_file, "input_path": input_path, "explain": explain,
                "strict": strict})
    if code:
        raise typer.Exit(code)


@app.command("diff")
def diff_cmd(
    config: Optional[str] = ConfigOpt,
    values: Optional[List[str]] = ValuesOpt,
    set_: Optional[List[str]] = SetOpt,
    set_file: Optional[List[str]] = SetFileOpt,
    color: str = typer.Option("auto", "--color", metavar="WHEN",
                              help="auto (a terminal, unless $NO_COLOR is set), always or never"),
    no_color: bool = typer.Option(False, "--no-color", hidden=True, help="the same as --color=never"),
    log_file: Optional[str] = LogOpt,
    input_path: str = InputOpt,
):
    """Show what the rules change: a unified diff per changed resource. Exit 0: no
    differences, 1: differences, >1: an error (2 usage or config, 3 input, 4 a failed check),
    like kubectl diff."""
    from postrender.diffview import COLOR_CHOICES, render_diff, use_color
    from postrender.pipeline import run_stream

    if color not in COLOR_CHOICES:
        raise UsageError(f"--color {color!r}: use {', '.join(COLOR_CHOICES)}")
    cfg = _load(config, values, set_, set_file, log_file)
    data = _read_input(input_path)
    result = run_stream(cfg, data)
    report(result.warnings)
    if result.failures:
        for failure in result.failures:
            _State.diagnostics.emit(f"postrender: check failed: {failure}")
        _State.diagnostics.emit(f"postrender: {len(result.failures)} check(s) failed")
        raise typer.Exit(EXIT_DIFF_CHECK_FAILED)
    text, changed = render_diff(result.stream.documents,
                                use_color("never" if no_color else color, sys.stdout.isatty()))
    write_output(text.encode("utf-8"), None)
    if changed:
        raise typer.Exit(1)


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
    cfg = _load(config, values, set_, set_file, None, check_templates=True)
    typer.echo(f"{cfg.source}: ok, {len(cfg.rules)} rule(s) active")


@app.command("schema")
def schema_cmd():
    """Print the JSON Schema of the config file (for editors)."""
    import json

    from postrender.config.configschema import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


@app.command("init")
def init_cmd(
    path: str = typer.Argument("postrender.yaml", help="where to write the starter config; - prints it"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
):
    """Write a commented starter postrender.yaml covering every rule type."""
    from postrender.config.configschema import starter_config

    text = starter_config().encode("utf-8")
    if path == "-":
        write_output(text, None)  # only the YAML: `postrender init - > x.yaml` is a valid config
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a directory; name the file to write, e.g. {target / 'postrender.yaml'}")
    if not target.parent.is_dir():
        raise UsageError(f"{target}: the directory {target.parent} does not exist; create it first")
    if (target.exists() or target.is_symlink()) and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    write_output(text, str(target))
    typer.echo(f"wrote {target}")


def _register_shells() -> None:
    """Typer's completion classes for bash/zsh/fish (what typer does for apps with
    add_completion=True; this app has its own `completion` command instead of typer's
    --install-completion, which edits rc files)."""
    from typer._completion_classes import completion_init

    completion_init()


@app.command("completion")
def completion_cmd(shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish")):
    """Print a shell completion script: source <(postrender completion bash), as with helm and kubectl."""
    from typer._click import shell_completion

    _register_shells()

    if shell not in COMPLETION_SHELLS:
        raise UsageError(f"completion {shell!r}: use {', '.join(COMPLETION_SHELLS)}")
    command = typer.main.get_command(app)
    script = shell_completion.get_completion_class(shell)(command, {}, "postrender", COMPLETE_VAR).source()
    typer.echo(script)


helm_plugin_app = typer.Typer(help="The Helm 4 post-renderer plugin.", add_completion=False)
kustomize_plugin_app = typer.Typer(help="The kustomize exec transformer plugin.", add_completion=False)
app.add_typer(helm_plugin_app, name="helm-plugin")
app.add_typer(kustomize_plugin_app, name="kustomize-plugin")


HelmOpt = typer.Option("helm", "--helm", help="the Helm 4 binary (its HELM_DATA_HOME, HELM_PLUGINS and HELM_CACHE_HOME apply)")
PluginHomeOpt = typer.Option(None, "--plugin-home", help="kustomize plugin home (default: the one kustomize uses)")


@helm_plugin_app.command("install")
def helm_plugin_install_cmd(helm: str = HelmOpt):
    """Install the postrender plugin into one Helm 4 home (then: helm template ... --post-renderer postrender)."""
    from postrender.integrations.plugins import install_helm_plugin

    result = install_helm_plugin(helm)
    typer.echo(f"installed Helm plugin {result.name!r} in {result.plugin_dir} ({result.helm_version})")
    typer.echo(f"use: helm template|install|upgrade ... --post-renderer {result.name}")
    typer.echo(f"log (Helm 4 discards plugin stderr): {result.log_file}")


@helm_plugin_app.command("uninstall")
def helm_plugin_uninstall_cmd(helm: str = HelmOpt):
    """Remove the postrender plugin from one Helm 4 home (helm plugin uninstall postrender)."""
    from postrender.integrations.plugins import PLUGIN_NAME, uninstall_helm_plugin

    plugins = uninstall_helm_plugin(helm)
    typer.echo(f"uninstalled Helm plugin {PLUGIN_NAME!r} from {plugins}")


@kustomize_plugin_app.command("install")
def kustomize_plugin_install_cmd(plugin_home: Optional[str] = PluginHomeOpt):
    """Create the kustomize exec plugin for kind PostRenderer (use with --enable-alpha-plugins)."""
    from postrender.integrations.plugins import install_kustomize_plugin

    home = Path(plugin_home) if plugin_home else None
    typer.echo(f"installed kustomize exec plugin {install_kustomize_plugin(plugin_home=home)}")


@kustomize_plugin_app.command("uninstall")
def kustomize_plugin_uninstall_cmd(plugin_home: Optional[str] = PluginHomeOpt):
    """Remove the kustomize exec plugin that kustomize-plugin install created."""
    from postrender.integrations.plugins import uninstall_kustomize_plugin

    home = Path(plugin_home) if plugin_home else None
    typer.echo(f"removed kustomize exec plugin {uninstall_kustomize_plugin(plugin_home=home)}")


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
    given = list(sys.argv[1:] if argv is None else argv)

    def invoke() -> int:
        if os.environ.get(COMPLETE_VAR):
            # Shell completion (`postrender completion SHELL`): typer answers and exits.
            _register_shells()
            app(prog_name="postrender", complete_var=COMPLETE_VAR)
            return 0
        argv = _normalise_argv(given)
        try:
            # Not standalone, click returns (not raises) the code of a typer.Exit.
            code = app(args=argv, prog_name="postrender", standalone_mode=False)
        except typer.Exit as exc:
            return exc.exit_code
        return code if isinstance(code, int) else 0

    return boundary(invoke, bool(os.environ.get("POSTRENDER_DEBUG")))
