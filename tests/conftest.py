"""Shared fixtures: golden YAML snapshots, the corpus, running the CLI in-process and as a process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tests.conftest_tools import need_tool  # noqa: F401  (fixture re-export)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_FILES = sorted((CORPUS / "files").glob("*.y*ml"))
STRESS = CORPUS / "stress" / "stress.yaml"
SNAPSHOTS = ROOT / "snapshots"

# Every config a test writes starts with this.
CONFIG_HEADER = "apiVersion: postrender/v1alpha1\nkind: PostRenderer\n"
# A document starts at a `---` line (possibly with a comment or content after a blank); one
# pattern for every test that cuts a stream itself, compiled for text and for bytes.
DOCUMENT_START_PATTERN = r"(?m)^---(?=[ \t\r\n]|$)"
DOCUMENT_START = re.compile(DOCUMENT_START_PATTERN)
DOCUMENT_START_BYTES = re.compile(DOCUMENT_START_PATTERN.encode())
# Fixtures that start real binaries: a test using one must carry the e2e mark.
REAL_BINARY_FIXTURES = {"need_tool", "lab"}


@pytest.hookimpl(trylast=True)   # after tests/e2e/conftest.py marks its directory
def pytest_collection_modifyitems(items):
    """A test that runs helm/kubectl/kustomize/docker-registry/skopeo without the e2e mark is a
    collection error: `-m "not e2e"` must mean no real binaries."""
    unmarked = [item.nodeid for item in items
                if REAL_BINARY_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("e2e")]
    if unmarked:
        raise pytest.UsageError("tests that run real binaries need @pytest.mark.e2e: " + ", ".join(unmarked[:10]))


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


# The smallest real input: one Deployment as Helm renders it (tests that need just "a workload").
DEPLOY = b"""---
# Source: demo/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx
"""


def write_config(tmp_path: Path, body: str, name: str = "postrender.yaml") -> Path:
    path = tmp_path / name
    path.write_text(CONFIG_HEADER + body)
    return path


def run_rules(body: str, data: bytes | str, **load_options):
    """The pipeline in-process: ``CONFIG_HEADER + body`` loaded as a config (``load_options``
    go to ``load_config_text``: environ, base_dir, sets, ...), run over ``data``; the result
    (``.output`` bytes, ``.warnings``, ``.failures``)."""
    from postrender.config.loader import load_config_text
    from postrender.pipeline import run_stream

    config = load_config_text(CONFIG_HEADER + body, "test.yaml", **load_options)
    return run_stream(config, data.encode() if isinstance(data, str) else data)


class Result:
    def __init__(self, code: int, out: bytes, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


# Diagnostics also go to the controlling terminal and, without one, to a default log in
# $XDG_CACHE_HOME (engine/output.py): tests keep both away from the developer's terminal and home.
QUIET_ENV = {"POSTRENDER_TTY": "0", "XDG_CACHE_HOME": str(Path(tempfile.gettempdir()) / f"postrender-tests-{os.getuid()}")}
# Also for the tests that build their own environment from os.environ.
os.environ.update(QUIET_ENV)


def run_cli(args: list[str], stdin: bytes = b"", env: dict | None = None, cwd: Path | None = None) -> Result:
    """Run postrender as a real process (argv, stdin, exit code, stderr all as a user sees them)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
    full_env.update(QUIET_ENV)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "postrender", *args], input=stdin, capture_output=True,
        env=full_env, cwd=str(cwd) if cwd else None, timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def cli():
    return run_cli


# The child reports its own peak RSS (VmHWM) and CPU time at exit: ru_maxrss from wait4/getrusage
# of a child starts from the parent's peak on Linux (kept across fork and exec), i.e. the pytest
# process's size.
_REPORT_PEAK = """
import atexit, os, sys
path = sys.argv.pop(1)
def report():
    times = os.times()
    with open('/proc/self/status') as fh, open(path, 'w') as out:
        out.write([l for l in fh if l.startswith('VmHWM:')][0].split()[1] + ' ' + repr(times.user + times.system))
atexit.register(report)
sys.argv[0] = 'postrender'
from postrender.__main__ import main
main()
"""


def run_measured(args: list[str], stdin_path: Path, cwd: Path | None = None,
                 timeout: float = 120) -> tuple[int, bytes, str, float, float, float]:
    """(exit code, stdout, stderr, wall seconds, peak RSS in MiB, CPU seconds) of one real
    postrender process.  Bounds are asserted on CPU seconds (user + system): a loaded machine
    stretches wall time, not the work done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
    with tempfile.NamedTemporaryFile(suffix=".peak") as peak, open(stdin_path, "rb") as stdin:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _REPORT_PEAK, peak.name, *args], stdin=stdin,
                              capture_output=True, env=env, cwd=str(cwd) if cwd else None, timeout=timeout)
        seconds = time.perf_counter() - started
        hwm_kb, cpu = Path(peak.name).read_text().split()
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"), seconds, int(hwm_kb) / 1024, float(cpu)


def pytest_terminal_summary(terminalreporter):
    """The per-area counts of the ported kustomize test cases (tests/test_kustomize_cases.py)."""
    from tests import kustomize_table

    kustomize_table.report(terminalreporter.write_line)
