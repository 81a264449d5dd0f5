"""Shared pieces of the end-to-end tests: real helm/kubectl/kustomize binaries, no fakes.

Every test runs its tools with an isolated environment (HOME, XDG and HELM dirs under
tmp_path, no kubeconfig) so nothing on the developer's machine leaks in or gets changed, and
``postrender`` on ``$PATH`` is a wrapper around *this* checkout's ``python -m postrender``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
# conftest_tools (tests/) and e2e_helpers (here) are plain modules; make them importable
# whatever pytest's import mode and whether tests/ is a package.
for _dir in (TESTS, Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

from conftest_tools import need_tool  # noqa: E402,F401  (the fixture, for tests in this directory)


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def postrender_bin(tmp_path_factory) -> Path:
    """A directory holding an executable ``postrender`` that runs this checkout."""
    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "postrender"
    # PYTHONPATH: the checkout wins even if another postrender is installed in the venv.
    exe.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH='{REPO}'${{PYTHONPATH:+:$PYTHONPATH}} exec '{sys.executable}' -m postrender \"$@\"\n"
    )
    exe.chmod(0o755)
    return bin_dir


@pytest.fixture
def tool_env(tmp_path, postrender_bin) -> dict[str, str]:
    """Environment for helm/kustomize: isolated homes, postrender first on PATH."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELM_", "KUSTOMIZE_", "POSTRENDER_", "XDG_", "KUBECONFIG"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        PATH=f"{postrender_bin}{os.pathsep}{env.get('PATH', '')}",
        # Not on the developer's terminal (tests/e2e/test_terminal_diagnostics.py turns it on).
        POSTRENDER_TTY="0",
    )
    home.mkdir()
    return env
