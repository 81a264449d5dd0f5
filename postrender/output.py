"""Where results go: stdout, an atomically replaced file, stderr, the log file.

Kept apart from the CLI so that "nothing partial" is one property of one function: output is
written only once it is complete, in one write, or into a temporary file renamed over the
target.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def write_output(data: bytes, path: str | None) -> None:
    if path and path != "-":
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent or "."))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return
    out = sys.stdout.buffer
    out.write(data)
    out.flush()


class Diagnostics:
    """stderr plus an optional log file (Helm 4 throws a post-renderer's stderr away)."""

    def __init__(self, log_file: str | None = None, redact=None):
        self.log_file = log_file or os.environ.get("POSTRENDER_LOG") or None
        self.redact = redact or (lambda s: s)

    def emit(self, line: str) -> None:
        line = self.redact(line)
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (BrokenPipeError, OSError):
            pass
        self.log(line)

    def log(self, line: str) -> None:
        if not self.log_file:
            return
        try:
            with open(self.log_file, "a", encoding="utf-8") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.redact(line)}\n")
        except OSError:
            pass


def make_redactor(secrets: list[str]):
    values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    if not values:
        return lambda s: s
    import base64

    extra = []
    for v in values:
        try:
            extra.append(base64.b64encode(v.encode()).decode())
        except Exception:  # pragma: no cover
            pass
    values = sorted(set(values + extra), key=len, reverse=True)

    def redact(text: str) -> str:
        for v in values:
            if v in text:
                text = text.replace(v, "<redacted>")
        return text

    return redact
