"""What the fuzz tests share: the real ``run`` contract, in-process, with a hang guard.

``runner.main`` is exactly what ``python -m postrender run`` executes (argv parsing, the
pipeline, ``boundary()``, the single write to stdout), so calling it with stdin/stdout/stderr
swapped for byte buffers gives the real exit code, stdout bytes and stderr lines at a fraction
of a process start.  ``test_fuzz_streams`` checks on a sample that a real process agrees.

Settings: CI runs a small seeded campaign; ``POSTRENDER_FUZZ_EXAMPLES=N`` runs N examples
(not derandomized, so ``--hypothesis-seed=S`` picks a campaign) and
``POSTRENDER_FUZZ_STATS=FILE`` appends the tallies of each test as one JSON line.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, settings

from postrender import runner

CAMPAIGN = int(os.environ.get("POSTRENDER_FUZZ_EXAMPLES", "0") or 0)
# Generous: a slow CI machine must not fail on a slow example, only on a real hang.
HANG_SECONDS = float(os.environ.get("POSTRENDER_FUZZ_TIMEOUT", "30"))


def fuzz_settings(ci_examples: int, campaign_examples: int | None = None):
    """CI: ``ci_examples`` derandomized examples; campaign: POSTRENDER_FUZZ_EXAMPLES random ones
    (or ``campaign_examples``, for a test too slow to scale with the campaign)."""
    common = dict(deadline=None, database=None, print_blob=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much, HealthCheck.large_base_example])
    if CAMPAIGN:
        return settings(max_examples=campaign_examples or CAMPAIGN, derandomize=False, **common)
    return settings(max_examples=ci_examples, derandomize=True, **common)


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that boundary() cannot swallow it."""


@dataclass
class Outcome:
    code: int
    out: bytes
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def run_in_process(argv: list[str], stdin: bytes, timeout: float = HANG_SECONDS) -> Outcome:
    """runner.main(argv) with stdin bytes; stdout/stderr captured; Hang after timeout seconds."""
    saved = sys.stdin, sys.stdout, sys.stderr
    saved_env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("POSTRENDER_")}
    out, err = io.BytesIO(), io.BytesIO()
    wrappers = (io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
                io.TextIOWrapper(out, encoding="utf-8", write_through=True),
                io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True))
    sys.stdin, sys.stdout, sys.stderr = wrappers

    def alarm(signum, frame):
        raise Hang(f"no result after {timeout}s")

    recursion_limit = sys.getrecursionlimit()   # the engine raises it for deep documents
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        code = runner.main(argv)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.setrecursionlimit(recursion_limit)
        sys.stdin, sys.stdout, sys.stderr = saved
        for wrapper in wrappers:
            wrapper.flush()
            wrapper.detach()   # a collected wrapper would close the buffer we read below
        os.environ.update(saved_env)
    assert code is not None, f"{argv} is not a plain run: the fuzz harness calls the run path only"
    return Outcome(code, out.getvalue(), err.getvalue().decode("utf-8", "replace"))


def assert_clean_error(outcome: Outcome, context: str) -> None:
    """The error contract: exit 2 or 3, one stderr line 'postrender: ...', nothing on stdout."""
    assert outcome.code in (2, 3), f"{context}: exit {outcome.code}, stderr: {outcome.err!r}"
    assert outcome.out == b"", f"{context}: partial output on an error ({len(outcome.out)} bytes)"
    assert len(outcome.err_lines) == 1, f"{context}: expected one stderr line, got {outcome.err!r}"
    line = outcome.err_lines[0]
    assert line.startswith("postrender: "), f"{context}: {line!r}"
    assert "Traceback" not in outcome.err, f"{context}: {outcome.err!r}"
    # boundary() turns an unexpected exception into a clean line, but it is still a bug.
    assert "internal error" not in line, f"{context}: {line}"


class Tally:
    """Counts per outcome for the campaign report (printed with -s, or appended to a file)."""

    def __init__(self, name: str):
        self.name = name
        self.counts: Counter = Counter()

    def add(self, key: str) -> None:
        self.counts[key] += 1
        path = os.environ.get("POSTRENDER_FUZZ_STATS")
        if path and key == "inputs" and self.counts[key] % 500 == 0:
            # A campaign stopped early still leaves its figures.
            with open(f"{path}.{self.name}.{os.getpid()}.progress", "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"test": self.name, **dict(sorted(self.counts.items()))}) + "\n")

    def report(self) -> None:
        if not self.counts:
            return
        line = json.dumps({"test": self.name, **dict(sorted(self.counts.items()))})
        print(f"\nfuzz tally: {line}")
        path = os.environ.get("POSTRENDER_FUZZ_STATS")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
