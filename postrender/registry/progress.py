"""A one-line progress counter on stderr, only when stderr is a terminal.

Pipes, CI logs and Helm get nothing (no carriage returns in a log file); the final summary is
printed either way by the command.
"""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, label: str, total: int, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.total = total
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._shown = 0.0
        try:
            self.enabled = total > 0 and self.stream.isatty()
        except (AttributeError, ValueError):
            self.enabled = False

    def step(self, ok: bool = True) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            now = time.monotonic()
            if self.enabled and (now - self._shown > 0.1 or self.done == self.total):
                self._shown = now
                failed = f", {self.failed} failed" if self.failed else ""
                self._write(f"\r{self.label}: {self.done}/{self.total}{failed}")

    def close(self) -> None:
        if self.enabled:
            self._write("\r\x1b[K")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False
