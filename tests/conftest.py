"""Shared fixtures: golden YAML snapshots, the corpus, running the CLI in-process and as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tests.conftest_tools import need_tool  # noqa: F401  (fixture re-export)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_FILES = sorted((CORPUS / "files").glob("*.y*ml"))
STRESS = CORPUS / "stress" / "stress.yaml"
SNAPSHOTS = ROOT / "snapshots"


class YAMLSnapshot(SingleFileSnapshotExtension):
    """One readable golden .yaml file per snapshot, under the top-level snapshots/ directory."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOTS / Path(test_location.filepath).stem)


@pytest.fixture
def yaml_snapshot(snapshot):
    return snapshot.use_extension(YAMLSnapshot)


def corpus_required() -> list[Path]:
    """The shared corpus is part of the test contract: missing means the checkout is wrong."""
    if not CORPUS_FILES:
        pytest.fail(f"corpus not found at {CORPUS}; clone next to ../shared/corpus as CI does")
    return CORPUS_FILES


@pytest.fixture
def corpus_files():
    return corpus_required()


def write_config(tmp_path: Path, body: str, name: str = "postrender.yaml") -> Path:
    path = tmp_path / name
    path.write_text("apiVersion: postrender/v1alpha1\nkind: PostRenderer\n" + body)
    return path


class Result:
    def __init__(self, code: int, out: bytes, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


def run_cli(args: list[str], stdin: bytes = b"", env: dict | None = None, cwd: Path | None = None) -> Result:
    """Run postrender as a real process (argv, stdin, exit code, stderr all as a user sees them)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "postrender", *args], input=stdin, capture_output=True,
        env=full_env, cwd=str(cwd) if cwd else None, timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def cli():
    return run_cli
