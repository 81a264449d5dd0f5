"""Helm 4.1.4 post-renderer plugin (`--post-renderer postrender`) with the real binary.

What Helm 4 does (measured, see docs/integrations-notes.md): `--post-renderer` takes only an
installed `postrenderer/v1` plugin's name; the plugin gets every template *including hooks*,
one object per document (Lists split, comment-only documents dropped), each annotated with
`postrenderer.helm.sh/postrender-filename`, which Helm uses to re-split the output and then
strips. The plugin's stderr is thrown away: a failure shows only `plugin "postrender" exited
with error`, so postrender's message must be found in its log file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2e_helpers import BAD_CONFIG, DEMO_CHART, REPO, by_kind_name, documents, pull_policies, run, write_config
from postrender.integrations.plugins import IntegrationError, install_helm_plugin
from tests.conftest import CONFIG_HEADER  # noqa: E402


def tool_env_path(env, name) -> Path:
    return Path(env[name])


@pytest.fixture
def helm4(need_tool):
    return need_tool("helm4")


@pytest.fixture
def installed(helm4, tool_env, postrender_bin):
    """postrender installed as a Helm 4 plugin in the test's own HELM_DATA_HOME."""
    return install_helm_plugin(str(helm4), command=[str(postrender_bin / "postrender")], env=tool_env)


def template(helm4, env, *extra, chart=DEMO_CHART):
    return run([helm4, "template", "r1", chart, "--post-renderer", "postrender", *extra], env)


def test_install_writes_the_plugin_into_helm_plugins(helm4, tool_env, installed):
    assert installed.plugin_dir == tool_env_path(tool_env, "XDG_DATA_HOME") / "helm" / "plugins" / "postrender"
    assert not installed.plugin_dir.is_symlink() and (installed.plugin_dir / "plugin.yaml").is_file()
    listed = run([helm4, "plugin", "list"], tool_env, check=True)
    (row,) = [line.split() for line in listed.stdout.splitlines() if line.startswith("postrender")]
    assert row[:3] == ["postrender", row[1], "postrenderer/v1"]
    assert installed.log_file == tool_env_path(tool_env, "XDG_CACHE_HOME") / "helm" / "postrender" / "postrender.log"


def test_reinstall_replaces_the_plugin(helm4, tool_env, installed, postrender_bin):
    again = install_helm_plugin(str(helm4), command=[str(postrender_bin / "postrender")], env=tool_env)
    assert again.plugin_dir == installed.plugin_dir
    listed = run([helm4, "plugin", "list"], tool_env, check=True)
    assert sum(line.startswith("postrender") for line in listed.stdout.splitlines()) == 1


def test_template_applies_rules_to_hooks_too_and_keeps_one_object_per_document(helm4, tool_env, installed, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml")
    proc = template(helm4, tool_env, "--post-renderer-args=-c", f"--post-renderer-args={cfg}")
    assert proc.returncode == 0, proc.stderr
    objs = by_kind_name(documents(proc.stdout))
    for key in [("Deployment", "r1-demo"), ("CronJob", "r1-demo-cleanup"), ("Pod", "r1-demo-listed"),
                ("Job", "r1-demo-migrate"), ("Pod", "r1-demo-test")]:
        assert pull_policies(objs[key]) == ["IfNotPresent"], key
    assert ("List", None) not in objs  # Helm 4 splits Lists before post-rendering
    # Helm re-split our output by its annotation and put its "# Source:" comments back.
    assert "postrenderer.helm.sh/postrender-filename" not in proc.stdout
    assert "# Source: demo/templates/hook-migrate.yaml" in proc.stdout
    assert "# Source: demo/templates/deployment.yaml" in proc.stdout


def test_upgrade_install_dry_run(helm4, tool_env, installed, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", policy="Always")
    # The memory storage driver needs no cluster for release history.
    (tmp_path / "releases.yaml").write_text("")
    env = dict(tool_env, HELM_DRIVER="memory", HELM_MEMORY_DRIVER_DATA=str(tmp_path / "releases.yaml"))
    proc = run([helm4, "upgrade", "--install", "r1", DEMO_CHART, "--dry-run=client", "--post-renderer", "postrender",
                "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], env)
    assert proc.returncode == 0, proc.stderr
    manifest = proc.stdout.split("MANIFEST:", 1)[1].split("NOTES:", 1)[0]
    hooks = proc.stdout.split("HOOKS:", 1)[1].split("MANIFEST:", 1)[0]
    assert pull_policies(by_kind_name(documents(manifest))["Deployment", "r1-demo"]) == ["Always"]
    assert pull_policies(by_kind_name(documents(hooks))["Job", "r1-demo-migrate"]) == ["Always"]


def test_failure_is_only_in_the_log_and_debug_names_the_log(helm4, tool_env, installed, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_CONFIG)
    proc = template(helm4, tool_env, "--post-renderer-args=-c", f"--post-renderer-args={bad}", "--debug")
    assert proc.returncode != 0
    assert 'plugin "postrender" exited with error' in proc.stderr
    # Helm 4 discards the plugin's stderr: postrender's own message is not shown ...
    assert "Sometimes" not in proc.stderr
    # ... but --debug prints the plugin command line, which names the log file,
    assert f"--log-default={installed.log_file}" in proc.stderr
    # ... and the log has the one-line error.
    log = installed.log_file.read_text()
    assert "postrender: error:" in log and "Sometimes" in log


def test_postrender_log_env_overrides_default_log(helm4, tool_env, installed, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_CONFIG)
    log = tmp_path / "mine.log"
    proc = template(helm4, dict(tool_env, POSTRENDER_LOG=str(log)), "--post-renderer-args=-c", f"--post-renderer-args={bad}")
    assert proc.returncode != 0
    assert "Sometimes" in log.read_text()
    assert not installed.log_file.exists()


def test_each_helm_home_has_its_own_plugin_and_log(helm4, tool_env, postrender_bin, tmp_path):
    """Installing for a second HELM_DATA_HOME leaves the first one's plugin (and log path) alone."""
    homes = []
    for name in ("one", "two"):
        env = dict(tool_env, HELM_DATA_HOME=str(tmp_path / name / "data"), HELM_CACHE_HOME=str(tmp_path / name / "cache"))
        homes.append((env, install_helm_plugin(str(helm4), command=[str(postrender_bin / "postrender")], env=env)))
    (env1, first), (env2, second) = homes
    assert first.plugin_dir != second.plugin_dir
    assert first.log_file == tmp_path / "one" / "cache" / "postrender" / "postrender.log"
    assert f"--log-default={first.log_file}" in (first.plugin_dir / "plugin.yaml").read_text()
    assert f"--log-default={second.log_file}" in (second.plugin_dir / "plugin.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_CONFIG)
    assert template(helm4, env1, "--post-renderer-args=-c", f"--post-renderer-args={bad}").returncode != 0
    assert "Sometimes" in first.log_file.read_text() and not second.log_file.exists()


def test_helm_plugin_uninstall_removes_the_generated_plugin(helm4, tool_env, installed):
    done = run([helm4, "plugin", "uninstall", "postrender"], tool_env, check=True)
    assert "Uninstalled plugin: postrender" in done.stdout
    assert not installed.plugin_dir.exists()
    assert template(helm4, tool_env).returncode != 0  # no such post-renderer any more


def test_postrender_helm_plugin_uninstall_command(helm4, tool_env, installed, tmp_path):
    bin_dir = tmp_path / "helm-bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(helm4)
    env = dict(tool_env, PATH=f"{tool_env['PATH']}{os.pathsep}{bin_dir}")
    proc = run(["postrender", "helm-plugin", "uninstall"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"uninstalled Helm plugin 'postrender' from {installed.plugin_dir.parent}\n"
    assert not installed.plugin_dir.exists()
    again = run(["postrender", "helm-plugin", "uninstall"], env)
    assert again.returncode == 2 and "no plugin named 'postrender' is installed" in again.stderr


def test_unknown_plugin_name_is_rejected_by_helm(helm4, tool_env):
    proc = template(helm4, tool_env)
    assert proc.returncode != 0
    assert 'invalid argument "postrender" for "--post-renderer" flag' in proc.stderr


def test_installing_into_helm3_is_refused(need_tool, tool_env, postrender_bin):
    helm3 = need_tool("helm3")
    with pytest.raises(IntegrationError, match=r"Helm v3\.17\.3: post-renderer plugins need Helm 4"):
        install_helm_plugin(str(helm3), command=[str(postrender_bin / "postrender")], env=tool_env)


def test_helm3_sharing_the_data_dir_cannot_list_plugins(need_tool, tool_env, installed):
    """Why the README says: give Helm 3 and Helm 4 separate HELM_DATA_HOME."""
    helm3 = need_tool("helm3")
    proc = run([helm3, "plugin", "list"], tool_env)
    assert proc.returncode != 0
    assert 'unknown field "apiVersion"' in proc.stderr


def test_env_is_isolated(tool_env):
    # Guard for the tests above: nothing of the developer's Helm setup leaks in.
    assert not any(k.startswith("HELM_") for k in tool_env)
    assert tool_env["HOME"] != os.environ.get("HOME")


def test_rules_deleting_every_resource_fail_with_a_reason_in_the_log(helm4, tool_env, installed, tmp_path):
    """Helm 4 rejects empty output with no cause; postrender refuses first and logs why."""
    config = tmp_path / "delete-all.yaml"
    config.write_text(
        CONFIG_HEADER + "rules:\n"
        "  - patch:\n      strategicMerge: |\n        $patch: delete\n"
    )
    proc = template(helm4, tool_env, "--post-renderer-args=-c", f"--post-renderer-args={config}")
    assert proc.returncode != 0
    assert 'plugin "postrender" exited with error' in proc.stderr
    # Not Helm's own vaguer 'produced empty output': postrender stopped before writing anything.
    assert "produced empty output" not in proc.stderr
    log = installed.log_file.read_text()
    assert "removed all" in log and "refusing to write an empty stream" in log


def test_release_namespace_must_be_given_to_the_plugin(helm4, tool_env, installed, tmp_path):
    """Helm 4.1.4 runs a post-renderer plugin with its own environment only: `-n prtest` does not
    reach it (no $HELM_NAMESPACE, unlike cli/v1 plugins), so templates that say prtest and
    templates that say nothing get two Secrets, which a real install rejects as one object
    twice.  Passing the namespace (`--post-renderer-args=-n`) or selecting it with
    $HELM_NAMESPACE (which Helm itself and postrender both read) gives one (issue 13)."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("apiVersion: postrender/v1alpha1\nkind: PostRenderer\nrules:\n"
                   "  - imagePullSecrets: {names: [regcred]}\n  - pullSecret: {name: regcred}\n"
                   "  - pullSecretReferences: {action: error}\n")
    env = dict(tool_env, POSTRENDER_VAR_registry="mirror.example.com", POSTRENDER_VAR_username="u",
               POSTRENDER_VAR_password="helm4-pw-123")
    chart = REPO / "tests" / "charts" / "operators"
    base = ["--post-renderer", "postrender", "--post-renderer-args=-c", f"--post-renderer-args={cfg}"]

    def secrets(extra, environment):
        proc = run([helm4, "template", "r1", chart, *extra, *base], environment)
        assert proc.returncode == 0, proc.stderr
        objs = documents(proc.stdout)
        prometheus = next(o for o in objs if o["kind"] == "Prometheus")
        assert prometheus["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
        return sorted((o["metadata"].get("namespace") or "") for o in objs if o["kind"] == "Secret")

    assert secrets(["-n", "prtest"], env) == ["", "prtest"]
    assert secrets(["-n", "prtest", "--post-renderer-args=-n", "--post-renderer-args=prtest"], env) == ["prtest"]
    assert secrets([], dict(env, HELM_NAMESPACE="prtest")) == ["prtest"]
