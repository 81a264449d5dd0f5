"""The README's recipes, run verbatim with the real binaries (issue 6: "recipes that the e2e
tests run verbatim").

Each ``<!-- recipe: NAME -->`` block is extracted from README.md and run with ``bash -euo
pipefail`` in an empty directory after the ``setup`` block, as a user pasting them would, with
the tool the section is about installed as ``helm``/``kubectl``/``kustomize`` on ``PATH`` and
this checkout's ``postrender`` first on ``PATH``.  A recipe edited in the README is the recipe
tested; one that disappears from the README fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from e2e_helpers import REPO, by_kind_name, documents, pull_policies, run

README = REPO / "README.md"
_RECIPE = re.compile(r"^<!-- recipe: (\S+) -->\n```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RECIPE_FILE = re.compile(r"^<!-- recipe-file: (\S+) (\S+) -->\n```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def recipes() -> dict[str, str]:
    found = {name: body for name, body in _RECIPE.findall(README.read_text())}
    assert found, "no <!-- recipe: NAME --> blocks in README.md"
    return found


def recipe(name: str) -> str:
    blocks = recipes()
    if name not in blocks:
        pytest.fail(f"README.md has no recipe {name!r} (has: {', '.join(blocks)})", pytrace=False)
    return blocks[name]


@pytest.fixture
def shell(need_tool, tool_env, tmp_path):
    """run_recipe(name, helm='helm3'|'helm4', extra=[tools]) -> CompletedProcess, in tmp/work."""
    work = tmp_path / "work"
    work.mkdir()

    def run_recipe(name: str, helm: str, extra: tuple[str, ...] = ()):
        bin_dir = tmp_path / f"bin-{helm}"
        bin_dir.mkdir(exist_ok=True)
        for link, tool in [("helm", helm)] + [(t, t) for t in extra]:
            if not (bin_dir / link).exists():
                (bin_dir / link).symlink_to(need_tool(tool))
        env = dict(tool_env, PATH=f"{tool_env['PATH'].split(os.pathsep, 1)[0]}{os.pathsep}{bin_dir}"
                                  f"{os.pathsep}{tool_env['PATH'].split(os.pathsep, 1)[1]}")
        if not (work / "demo").exists():
            run(["bash", "-euo", "pipefail", "-c", recipe("setup")], env, cwd=work, check=True)
        return run(["bash", "-euo", "pipefail", "-c", recipe(name)], env, cwd=work)

    run_recipe.work = work
    return run_recipe


def split_install_message(stdout: str) -> tuple[str, str]:
    """An install command's message, then the manifests (from the first '---' or 'apiVersion:')."""
    m = re.search(r"^(---|apiVersion:)", stdout, re.MULTILINE)
    assert m, stdout
    return stdout[:m.start()], stdout[m.start():]


def assert_rules_applied(objs: dict, hook_post_rendered: bool) -> None:
    deployment = objs["Deployment", "web-demo"]
    assert pull_policies(deployment) == ["IfNotPresent"]
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    # helm create's test Pod is a hook: Helm 3 never post-renders hooks, Helm 4 does.
    hook = objs["Pod", "web-demo-test-connection"]
    assert pull_policies(hook) == (["IfNotPresent"] if hook_post_rendered else [None])


@pytest.mark.parametrize("name", ["helm3", "helm3-env"])
def test_helm3_recipes(shell, name):
    proc = shell(name, helm="helm3")
    assert proc.returncode == 0, proc.stderr
    assert_rules_applied(by_kind_name(documents(proc.stdout)), hook_post_rendered=False)


def test_helm4_recipe(shell):
    proc = shell("helm4", helm="helm4")
    assert proc.returncode == 0, proc.stderr
    installed, manifests = split_install_message(proc.stdout)
    assert "postrender" in installed  # what `postrender helm-plugin install` told the user
    out = by_kind_name(documents(manifests))
    assert_rules_applied(out, hook_post_rendered=True)
    # Helm re-splits by the annotation postrender kept, then strips it again.
    assert "postrenderer.helm.sh/postrender-filename" not in proc.stdout
    assert "# Source: demo/templates/deployment.yaml" in manifests


def test_helm4_failure_lands_in_the_log_the_readme_names(shell):
    assert shell("helm4", helm="helm4").returncode == 0  # installs the plugin, as the README's order does
    proc = shell("helm4-failure-log", helm="helm4")
    assert proc.returncode == 0, proc.stderr  # `|| tail` ran: helm failed, the log had the reason
    assert 'plugin "postrender" exited with error' in proc.stderr
    assert "postrender: error:" in proc.stdout and "Sometimes" in proc.stdout
    assert "rules[0].imagePullPolicy.policy" in proc.stdout


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_kustomize_exec_plugin_recipe(shell, helm):
    proc = shell("kustomize-exec", helm=helm, extra=("kubectl",))
    assert proc.returncode == 0, proc.stderr
    installed, manifests = split_install_message(proc.stdout)
    assert "PostRenderer" in installed  # the plugin path the install command reported
    # kustomize applies the transformer to every resource, the hook Pod included.
    assert_rules_applied(by_kind_name(documents(manifests)), hook_post_rendered=True)
    assert "kustomize.config.k8s.io/id" not in manifests


def test_kustomize_krm_function_recipe(shell):
    proc = shell("kustomize-krm", helm="helm3", extra=("kustomize",))
    assert proc.returncode == 0, proc.stderr
    objs = by_kind_name(documents(proc.stdout))
    assert pull_policies(objs["Deployment", "web-demo"]) == ["IfNotPresent"]
    assert pull_policies(objs["Pod", "web-demo-test-connection"]) == ["IfNotPresent"]
    # The function's own config is local config: it must not be emitted as a resource.
    assert ("PostRenderer", "offline") not in objs


def test_pipe_recipe(shell):
    proc = shell("pipe", helm="helm3")
    assert proc.returncode == 0, proc.stderr
    written = by_kind_name(documents((shell.work / "manifests.yaml").read_text()))
    assert pull_policies(written["Deployment", "web-demo"]) == ["IfNotPresent"]
    images = proc.stdout.split()
    image = written["Deployment", "web-demo"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image in images and any(i.startswith("busybox") for i in images)


def test_argocd_generate_command_is_the_one_the_cmp_example_runs():
    """test_argocd_cmp.py runs the plugin file's command; the README must show that same command."""
    (path, field, shown), = _RECIPE_FILE.findall(README.read_text())
    assert (path, field) == ("examples/argocd-cmp/plugin.yaml", "generate")
    command = yaml.safe_load((REPO / path).read_text())["spec"][field]["command"]
    assert command[:2] == ["sh", "-c"]
    assert shown.strip() == command[2].strip()


def test_every_recipe_in_the_readme_is_tested():
    tested = {"setup", "helm3", "helm3-env", "helm4", "helm4-failure-log", "kustomize-exec",
              "kustomize-krm", "pipe"}
    assert set(recipes()) == tested
