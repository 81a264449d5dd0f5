"""Configs that reference themselves, escape their directory, are huge or malformed (issue 7).

Each case ends in one clear line naming the file (and line where there is one) with exit 2,
or in the documented behaviour written next to it.  Real processes: what a user sees.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from postrender.config import loader as config_module
from postrender.errors import ConfigError
from tests.conftest import CONFIG_HEADER, run_cli, write_config

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_bytes()
TEN_MB = 10 * 1024 * 1024


def resources_rule(template: str) -> str:
    return f"rules:\n- resources: {{template: {template!r}}}\n"


def billion_laughs() -> str:
    lines = ["vars:", "  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * 10) + "]")
    return CONFIG_HEADER + "\n".join(lines) + "\n"


def setup_case(tmp_path: Path, case: str) -> list[str]:
    """Write the case's files; return the argv after 'run'."""
    cfg = tmp_path / "conf"
    cfg.mkdir()
    config = cfg / "postrender.yaml"
    args = ["-c", str(config)]
    if case == "template ../../etc/passwd":
        config.write_text(CONFIG_HEADER + resources_rule("../../etc/passwd"))
    elif case == "template absolute path":
        config.write_text(CONFIG_HEADER + resources_rule("/etc/passwd"))
    elif case == "template symlink out":
        (cfg / "t.j2").symlink_to("/etc/passwd")
        config.write_text(CONFIG_HEADER + resources_rule("t.j2"))
    elif case == "template dir symlink out":
        (cfg / "shared").symlink_to("/etc")
        config.write_text(CONFIG_HEADER + resources_rule("shared/passwd"))
    elif case == "builtin template escape":
        config.write_text(CONFIG_HEADER + "rules:\n- imagePullSecrets: {names: [r]}\n"
                          "- pullSecret: {name: r, template: 'builtin:../../../../etc/passwd'}\n")
    elif case == "10 MB variable in vars":
        config.write_text(CONFIG_HEADER + "vars:\n  big: " + "x" * TEN_MB + "\n")
    elif case == "10 MB variable in --values":
        (cfg / "values.yaml").write_text("big: " + "x" * TEN_MB + "\n")
        config.write_text(CONFIG_HEADER + "rules: []\n")
        args += ["-f", str(cfg / "values.yaml")]
    elif case == "10 MB variable in --set-file":
        (cfg / "big").write_text("x" * TEN_MB)
        config.write_text(CONFIG_HEADER + "rules: []\n")
        args += ["--set-file", f"big={cfg / 'big'}"]
    elif case == "--set-file /dev/zero":
        config.write_text(CONFIG_HEADER + "rules: []\n")
        args += ["--set-file", "big=/dev/zero"]
    elif case == "-c /dev/zero":
        args = ["-c", "/dev/zero"]
    elif case == "50 MB config":
        line = "  k: " + "v" * 100 + "\n"  # (duplicate keys: the size check comes first)
        config.write_text(CONFIG_HEADER + "vars:\n" + line * (50 * 1024 * 1024 // len(line)))
    elif case == "billion laughs":
        config.write_text(billion_laughs())
    elif case == "nesting 5000 deep":
        config.write_text(CONFIG_HEADER + "vars:\n  x: " + "[" * 5000 + "]" * 5000 + "\n")
    elif case == "duplicate key":
        config.write_text(CONFIG_HEADER + "rules:\n- imagePullPolicy: {policy: Always}\nrules: []\n")
    elif case == "non-UTF-8 config":
        config.write_bytes(CONFIG_HEADER.encode() + b"vars:\n  name: caf\xe9\n")
    elif case == "non-UTF-8 values file":
        (cfg / "values.yaml").write_bytes(b"a: 1\nb: \xff\xfe\n")
        config.write_text(CONFIG_HEADER + "rules: []\n")
        args += ["-f", str(cfg / "values.yaml")]
    elif case == "config is a directory":
        args = ["-c", str(cfg)]
    else:  # pragma: no cover
        raise AssertionError(case)
    return args


# case -> words the one-line error must contain ({dir} is the config's directory)
REFUSED = {
    "template ../../etc/passwd": "rules[0].resources.template: '../../etc/passwd' is outside the config file's directory",
    "template absolute path": "rules[0].resources.template: '/etc/passwd' is outside the config file's directory",
    "template symlink out": "rules[0].resources.template: 't.j2' is outside the config file's directory",
    "template dir symlink out": "'shared/passwd' is outside the config file's directory",
    "builtin template escape": "rules[1].pullSecret.template: 'builtin:../../../../etc/passwd' is outside postrender's templates/",
    "10 MB variable in vars": "postrender.yaml: the config file is over the limit of 4.0 MiB",
    "10 MB variable in --values": "values.yaml: the values file is over the limit of 4.0 MiB",
    "10 MB variable in --set-file": "is over the limit of 4.0 MiB for a variable",
    "--set-file /dev/zero": "--set-file big: /dev/zero is over the limit of 4.0 MiB",
    "-c /dev/zero": "/dev/zero: the config file is over the limit of 4.0 MiB",
    "50 MB config": "postrender.yaml: the config file is over the limit of 4.0 MiB",
    "billion laughs": "postrender.yaml:4:6: aliases repeat the anchor defined here into more than 100,000 nodes",
    "nesting 5000 deep": "postrender.yaml:4:1004: invalid YAML: exceeded maximum nesting depth",
    "duplicate key": "postrender.yaml:5:1: duplicate key 'rules'",
    "non-UTF-8 config": "postrender.yaml:4:12: the config file is not UTF-8 text (byte 0xe9)",
    "non-UTF-8 values file": "values.yaml:2:4: the values file is not UTF-8 text (byte 0xff)",
    "config is a directory": "is a directory, expected a config file",
}


def load_as_the_cli_does(args: list[str]):
    """load_config with run's -c/-f/--set-file arguments (in-process: the table stays fast)."""
    opts = {"-c": None, "-f": [], "--set-file": []}
    for flag, value in zip(args[::2], args[1::2]):
        opts[flag] = value if flag == "-c" else opts[flag] + [value]
    return config_module.load_config(opts["-c"], opts["-f"], (), opts["--set-file"], environ={})


@pytest.mark.parametrize("case", list(REFUSED))
def test_abusive_config_gets_one_clear_line(tmp_path, case):
    args = setup_case(tmp_path, case)
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        config = load_as_the_cli_does(args)
        from postrender.pipeline import run_stream

        run_stream(config, INPUT)
    elapsed = time.monotonic() - started
    print(f"config abuse figure: {case}: {elapsed:.2f} s")
    message = caught.value.message
    assert caught.value.exit_code == 2 and "\n" not in message
    assert REFUSED[case] in message, message
    assert "root:" not in message  # nothing of /etc/passwd is quoted
    assert elapsed < 10


# The same as real processes for a few, with the shipped error boundary: exit, one line, stdout.
@pytest.mark.parametrize("case", ["50 MB config", "billion laughs", "template symlink out", "non-UTF-8 config"])
def test_abusive_config_process(tmp_path, case):
    args = setup_case(tmp_path, case)
    started = time.monotonic()
    r = run_cli(["run", *args], INPUT)
    elapsed = time.monotonic() - started
    print(f"config abuse figure: {case} (process): exit {r.code}, {elapsed:.2f} s")
    assert r.code == 2 and r.out == b"" and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("postrender: error: ")
    assert REFUSED[case] in r.err, r.err
    assert elapsed < 20


def test_the_config_as_its_own_values_file_is_plain_variables(tmp_path):
    """Documented: there is no include mechanism, so nothing can recurse.  ``-f postrender.yaml``
    reads the config's top-level keys as variables and ``--set-file x=postrender.yaml`` reads its
    text into one; neither changes what the rules do."""
    config = write_config(tmp_path, "vars: {pullSecret: regcred}\nrules:\n- imagePullSecrets: {names: ['{{ pullSecret }}']}\n")
    plain = run_cli(["run", "-c", str(config)], INPUT)
    looped = run_cli(["run", "-c", str(config), "-f", str(config), "--set-file", f"self={config}"], INPUT)
    assert plain.code == looped.code == 0 and looped.out == plain.out and looped.err == ""


def test_the_config_as_its_own_template_is_rendered_like_any_file(tmp_path):
    """Documented: a template is any file under the config's directory, the config included;
    it renders once (templates cannot include anything) and adds the one document it is."""
    config = write_config(tmp_path, "vars: {team: blue}\nmetadata: {name: '{{ team }}'}\nrules:\n- resources: {template: postrender.yaml}\n")
    r = run_cli(["run", "-c", str(config)], INPUT)
    assert r.code == 0
    assert r.text.endswith("---\napiVersion: postrender/v1alpha1\nkind: PostRenderer\nvars: {team: blue}\n"
                           "metadata: {name: 'blue'}\nrules:\n- resources: {template: postrender.yaml}\n")


def test_a_symlink_inside_the_config_directory_is_allowed(tmp_path):
    (tmp_path / "real.yaml.j2").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "link.yaml.j2").symlink_to(tmp_path / "real.yaml.j2")
    config = write_config(tmp_path, resources_rule("link.yaml.j2"))
    r = run_cli(["run", "-c", str(config)], INPUT)
    assert r.code == 0 and r.text.endswith("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")


@pytest.mark.parametrize("layer", ["sets", "environ"])
def test_a_10_mb_set_or_environment_value_is_refused(layer):
    """The OS refuses argv/environment strings over 128 KiB (E2BIG) before postrender runs;
    a caller that builds them in-process still gets postrender's own limit."""
    big = "x" * TEN_MB
    kwargs = {"sets": [f"big={big}"]} if layer == "sets" else {"environ": {"POSTRENDER_VAR_big": big}}
    with pytest.raises(ConfigError, match="a variable may be at most 4.0 MiB"):
        config_module.collect_variables({}, **kwargs)


def test_a_4_mb_variable_is_accepted_but_cannot_render_past_the_output_cap(tmp_path):
    value = tmp_path / "v"
    value.write_text("y" * (config_module.MAX_VARIABLE_BYTES - 16))
    fits = write_config(tmp_path, "rules: []\n", "fits.yaml")
    assert run_cli(["validate", "-c", str(fits), "--set-file", f"v={value}"]).code == 0
    doubled = write_config(tmp_path, "rules:\n- resources: {inline: \"{{ v ~ v }}\"}\n")
    r = run_cli(["run", "-c", str(doubled), "--set-file", f"v={value}"], INPUT)
    assert r.code == 2 and r.out == b"" and len(r.err.strip().splitlines()) == 1
    assert "rules[0].resources.inline: inline template: refused by the template sandbox: the rendered text exceeds" in r.err


def test_template_dirs_outside_the_config_directory_need_the_users_opt_in(tmp_path):
    """$POSTRENDER_TEMPLATE_DIRS, set by whoever runs postrender (never by the config)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "cm.yaml.j2").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n")
    conf = tmp_path / "conf"
    conf.mkdir()
    config = write_config(conf, resources_rule("../shared/cm.yaml.j2") + "- resources: {template: /etc/passwd}\n")
    refused = run_cli(["run", "-c", str(config)], INPUT)
    assert refused.code == 2 and "'../shared/cm.yaml.j2' is outside the config file's directory" in refused.err
    assert "$POSTRENDER_TEMPLATE_DIRS" in refused.err
    allowed = run_cli(["run", "-c", str(config)], INPUT, env={"POSTRENDER_TEMPLATE_DIRS": str(shared)})
    # The shared directory is allowed now, /etc still is not.
    assert allowed.code == 2 and "rules[1].resources.template: '/etc/passwd' is outside" in allowed.err
