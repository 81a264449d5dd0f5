"""`helm plugin install <this repository>` with the real Helm 4.1.4, on python3 alone.

The repository's root plugin.yaml has install/update hooks that run helm-plugin/bootstrap.py:
a virtualenv inside the plugin directory with postrender pip-installed from the plugin's own
source (dependencies from PyPI or the configured pip index).  Each test installs a copy of this
checkout, so nothing is written into the checkout itself.  Slow by nature (a pip install per
test, ~15 s each).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import DEMO_CHART, REPO, by_kind_name, documents, pull_policies, run, write_config

# What a clone of the repository holds that the plugin needs (git ls-files would also list
# tests and docs; none of those matter to the plugin).
PLUGIN_FILES = ("plugin.yaml", "helm-plugin", "pyproject.toml", "README.md", "LICENSE", "postrender", "templates")


@pytest.fixture
def helm4(need_tool):
    return need_tool("helm4")


def copy_of_checkout(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in PLUGIN_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    return target


def render(helm4, env, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", policy="Never")
    proc = run([helm4, "template", "r1", DEMO_CHART, "--post-renderer", "postrender",
                "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], env)
    assert proc.returncode == 0, proc.stderr
    assert pull_policies(by_kind_name(documents(proc.stdout))["Deployment", "r1-demo"]) == ["Never"]
    return proc


def test_install_from_a_local_checkout_sets_itself_up(helm4, tool_env, tmp_path):
    checkout = copy_of_checkout(tmp_path / "postrender-src")
    done = run([helm4, "plugin", "install", checkout], tool_env)
    assert done.returncode == 0, done.stdout + done.stderr
    # The install hook's progress is shown to the user (Helm passes a hook's stdout through).
    assert "postrender plugin: ready (postrender " in done.stdout
    assert "Installed plugin: postrender" in done.stdout
    venv = checkout / ".plugin-venv"
    assert (venv / ".ready").is_file() and (venv / "bin" / "python").exists()
    # The build happened in a temporary copy: nothing but the virtualenv and its lock was added.
    assert not (checkout / "build").exists() and not list(checkout.glob("*.egg-info"))
    render(helm4, tool_env, tmp_path)

    # First use without a working virtualenv (a hook that failed or never ran): the wrapper
    # builds it before running postrender.
    shutil.rmtree(venv)
    render(helm4, tool_env, tmp_path)
    assert (venv / ".ready").is_file()

    link = Path(tool_env["XDG_DATA_HOME"]) / "helm" / "plugins" / checkout.name
    assert link.is_symlink()
    gone = run([helm4, "plugin", "uninstall", "postrender"], tool_env, check=True)
    assert "Uninstalled plugin: postrender" in gone.stdout
    assert not link.exists() and not link.is_symlink()
    assert checkout.is_dir()  # Helm removes its link, never the user's checkout


def test_install_from_a_git_url(helm4, tool_env, tmp_path):
    """The documented git form: `helm plugin install --verify=false <git URL>` (Helm 4 cannot
    verify a git source; a file:// URL goes through the same VCS installer as https://)."""
    repo = copy_of_checkout(tmp_path / "postrender.git-src")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "plugin"]):
        subprocess.run(git + args, check=True, capture_output=True)
    done = run([helm4, "plugin", "install", "--verify=false", f"file://{repo}"], tool_env)
    assert done.returncode == 0, done.stdout + done.stderr
    plugin_dir = Path(tool_env["XDG_DATA_HOME"]) / "helm" / "plugins" / repo.name
    assert not plugin_dir.is_symlink() and (plugin_dir / ".plugin-venv" / ".ready").is_file()
    render(helm4, tool_env, tmp_path)
    run([helm4, "plugin", "uninstall", "postrender"], tool_env, check=True)
    assert not plugin_dir.exists()  # the copy Helm made, virtualenv included


def test_a_failed_setup_is_one_line_in_the_log(helm4, tool_env, tmp_path):
    """Helm 4 hides the plugin's stderr: a setup that cannot work says why in the log."""
    checkout = copy_of_checkout(tmp_path / "broken-src")
    (checkout / "pyproject.toml").write_text("[project]\nname = \n")  # pip cannot build this
    done = run([helm4, "plugin", "install", checkout], tool_env)
    assert done.returncode != 0
    assert "postrender: error: setting up the Helm plugin in" in done.stderr
    log = tmp_path / "plugin.log"
    proc = run([helm4, "template", "r1", DEMO_CHART, "--post-renderer", "postrender"], dict(tool_env, POSTRENDER_LOG=str(log)))
    assert proc.returncode != 0
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and "setting up the Helm plugin" in lines[0] and "pip install failed" in lines[0]
