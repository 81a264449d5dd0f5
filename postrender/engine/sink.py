"""The run's output until it is complete: nothing reaches stdout or ``-o FILE`` before that.

* ``-o FILE``: the output is written into ``.FILE.<random>.tmp`` next to FILE, fsynced and
  renamed over FILE (atomic on POSIX).  A failure, Ctrl-C or SIGTERM removes the temporary
  file; a ``kill -9`` cannot run any clean-up and leaves it behind, with FILE untouched.
* stdout: the output is spooled (in memory up to ``SPOOL_MEMORY_BYTES``, then in a temporary
  file under ``$TMPDIR``, deleted on close) and copied to stdout once every document succeeded.
  SIGINT and SIGTERM are held back during that copy, so the reader gets the whole output or,
  if the run was stopped earlier, nothing.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

# Output held in memory before the spool moves to a temporary file: typical Helm renders
# (< 1 MB) and the 11.6 MB stress corpus never touch the disk; a 200 MB output costs 16 MB.
SPOOL_MEMORY_BYTES = 16 << 20
COPY_CHUNK = 1 << 20
_HELD = {signal.SIGINT, signal.SIGTERM}


class OutputSink:
    """A binary file to write into, then :meth:`commit` or :meth:`discard`."""

    def __init__(self, path: str | None):
        self.target = Path(path) if path and path != "-" else None
        self.tmp: str | None = None
        if self.target is None:
            # In memory until SPOOL_MEMORY_BYTES, then a file: tempfile is imported only then
            # (its import costs ~4 ms of the start-up Helm pays on every render).
            self.file = io.BytesIO()
        else:
            import tempfile

            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp",
                                            dir=str(self.target.parent or "."))
            self.file = os.fdopen(fd, "wb")
            self.mode = _mode_for(self.target)

    def write(self, data: bytes) -> int:
        written = self.file.write(data)
        if self.target is None and isinstance(self.file, io.BytesIO) and self.file.tell() > SPOOL_MEMORY_BYTES:
            import tempfile

            spool = tempfile.TemporaryFile()  # under $TMPDIR, removed when closed
            spool.write(self.file.getbuffer())
            self.file = spool
        return written

    def commit(self) -> None:
        if self.target is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            # mkstemp creates 0600: give the file the mode a plain `> FILE` would have.
            os.chmod(self.tmp, self.mode)
            os.replace(self.tmp, self.target)
            self.tmp = None
            return
        self.file.seek(0)
        out = sys.stdout.buffer
        held = _hold_signals()
        try:
            while True:
                chunk = self.file.read(COPY_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
            out.flush()
        finally:
            self.file.close()
            _release_signals(held)

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None

    def __enter__(self) -> "OutputSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()


def _mode_for(target: Path) -> int:
    """The replaced file keeps its mode; a new one gets 0666 minus the umask, like `> FILE`."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _hold_signals() -> bool:
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        return True
    except (AttributeError, ValueError, OSError):  # not POSIX, or not the main thread
        return False


def _release_signals(held: bool) -> None:
    """Unblock; a signal that came during the copy is ignored: the output is whole."""
    if not held:
        return
    if set(signal.sigpending()) & _HELD:
        for sig in _HELD:
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
