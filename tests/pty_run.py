"""Run a command the way a person at a terminal does: in a new session whose controlling
terminal is a pseudo-terminal, and collect everything written to that terminal.

Helm and kustomize hide a successful post-renderer's stderr (docs/integrations-notes.md), so
the tests that check "a person sees the warning" run the real tools here and look at what
reached the terminal, with the tool's own stdout and stderr redirected to files where needed.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from dataclasses import dataclass


@dataclass
class TerminalRun:
    code: int
    screen: str  # everything written to the terminal, "\r\n" turned back into "\n"


def run_in_terminal(argv: list[str], env: dict[str, str], cwd=None, timeout: float = 300) -> TerminalRun:
    pid, fd = pty.fork()
    if pid == 0:  # the child: pty.fork made the terminal our controlling terminal and stdio
        try:
            if cwd is not None:
                os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise TimeoutError(f"{argv[0]} did not finish within {timeout} s")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: every process holding the terminal is gone
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return TerminalRun(os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"))
