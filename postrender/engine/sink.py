"""The run's output until it is complete: nothing reaches stdout or ``-o FILE`` before that.

* ``-o FILE``, FILE a regular file or not there yet: the output is written into
  ``.FILE.<random>.tmp`` next to FILE, fsynced and renamed over FILE (atomic on POSIX); the new
  file keeps FILE's mode (and owner, where allowed), a new one gets ``0666`` minus the umask.
  A symlink is followed: its final target is what gets replaced, with the temporary file in
  *that* directory, and the link stays a link (as ``> FILE`` would write through it).  A
  failure, Ctrl-C or any signal that ends the run (SIGTERM, SIGHUP, SIGUSR1, SIGALRM, ...)
  removes the temporary file; ``kill -9`` cannot run any clean-up and leaves it behind, with
  FILE untouched.
* ``-o`` naming something that is not a regular file (``/dev/null``, a terminal, a FIFO): it
  cannot be replaced, so the output is spooled like stdout's and written into it once
  complete, as ``> FILE`` would.
* stdout: the output is spooled (in memory up to ``SPOOL_MEMORY_BYTES``, then in a temporary
  file under ``$TMPDIR``, deleted on close) and copied to stdout once every document succeeded.
  Signals that end the run are held back during that copy (and during the rename of ``-o``), so
  the reader gets the whole output or, if the run was stopped earlier, nothing.

Every OS error on the way (a missing directory, a directory, a read-only file system, a full
disk, a closed stdout) is a :class:`UsageError` naming the file: exit 2, one line.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
import sys

from postrender.errors import UsageError

# Output held in memory before the spool moves to a temporary file: typical Helm renders
# (< 1 MB) and the 11.6 MB stress corpus never touch the disk; a 200 MB output costs 16 MB.
SPOOL_MEMORY_BYTES = 16 << 20
COPY_CHUNK = 1 << 20


def _signals(*names: str) -> frozenset:
    found = {getattr(signal, n) for n in names if hasattr(signal, n)}
    if hasattr(signal, "SIGRTMIN"):
        found |= set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))
    return frozenset(found)


# Signals whose default action ends the process (signal(7): "Term" and "Core"), which runner's
# boundary turns into a clean stop.  Not the faults (SIGSEGV, SIGBUS, ...: no Python code can
# run safely), SIGPIPE (Python ignores it: writes fail with EPIPE) or SIGXFSZ (ignored too:
# EFBIG); SIGKILL and SIGSTOP cannot be caught.
ENDING_SIGNALS = _signals("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM",
                          "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGIO", "SIGPOLL", "SIGPWR", "SIGSTKFLT")


class ClosedStdout(io.TextIOBase):
    """What sys.stdout is when fd 1 was closed at start-up (``>&-``), instead of Python's None:
    whichever code prints (the sink, typer's echo, a colour check) gets one clear error, exit 2.
    Flushing is a no-op: nothing is ever buffered, and Python flushes stdout at exit."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self):
        super().__init__()
        self.buffer = self

    def write(self, data):
        raise UsageError("stdout is closed (>&-): nothing can be printed; give the command an open stdout")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("stdout is closed")

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


def output_error(where: str, exc: OSError) -> UsageError:
    """One line for an OS error while writing the output (exit 2: the environment's problem)."""
    reason = exc.strerror or str(exc)
    hint = {
        errno.ENOENT: f"{reason} (does the directory exist?)",
        errno.EDQUOT: f"{reason} (the disk quota is used up)",
        errno.EROFS: reason,
        errno.EISDIR: "is a directory; -o takes a file name",
        errno.ELOOP: f"{reason} (a symlink points back at itself)",
        errno.EBADF: f"{reason} (is it closed?)",
    }.get(exc.errno, reason)
    return UsageError(f"{where}: cannot write output: {hint}; no output written")


class OutputSink:
    """A binary file to write into, then :meth:`commit` or :meth:`discard`."""

    def __init__(self, path: str | None):
        self.path = path if path and path != "-" else None
        self.tmp: str | None = None
        self.in_place: str | None = None  # a non-regular -o target, written at commit
        self.file = None
        if self.path is None:
            # In memory until SPOOL_MEMORY_BYTES, then a file: tempfile is imported only then
            # (its import costs ~4 ms of the start-up Helm pays on every render).
            self.file = io.BytesIO()
            return
        self.where = f"-o {self.path}"
        try:
            self._open_target()
        except OSError as exc:
            raise output_error(self.where, exc) from None
        except BaseException:  # a signal right after the temporary file was made
            self.discard()
            raise

    def _open_target(self) -> None:
        # Write through symlinks like `> FILE`: the link's final target is the file to replace.
        target = os.path.realpath(self.path)
        self.where = f"-o {self.path}" + (f" (-> {target})" if target != os.path.abspath(self.path) else "")
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)
        if st is not None and not stat.S_ISREG(st.st_mode):
            # A device, FIFO or socket cannot be replaced: write into it, once complete.
            self.in_place = target
            self.file = io.BytesIO()
            return
        import tempfile

        directory, name = os.path.split(target)
        self.target = target
        self.stat = st
        held = hold_signals()  # no window in which the file exists but self.tmp does not say so
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
            self.file = os.fdopen(fd, "wb")
        finally:
            release_signals(held, drop=False)  # a signal that came meanwhile stops the run now

    def write(self, data: bytes) -> int:
        try:
            written = self.file.write(data)
            if self.tmp is None and isinstance(self.file, io.BytesIO) and self.file.tell() > SPOOL_MEMORY_BYTES:
                self._spool()
        except OSError as exc:
            raise output_error(self._where_spooled(), exc) from None
        return written

    def _spool(self) -> None:
        import tempfile

        spool = tempfile.TemporaryFile()  # under $TMPDIR, removed when closed
        spool.write(self.file.getbuffer())
        self.file = spool

    def _where_spooled(self) -> str:
        if self.tmp is not None:
            return self.where
        return f"spooling the output under {os.environ.get('TMPDIR') or '/tmp'}"

    def commit(self) -> None:
        if self.tmp is not None:
            self._replace()
        elif self.in_place is not None:
            self._copy_to_file()
        else:
            self._copy_to_stdout()

    def _replace(self) -> None:
        held = hold_signals()
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            # mkstemp creates 0600: give the file the mode a plain `> FILE` would have.
            if self.stat is not None:
                os.chmod(self.tmp, stat.S_IMODE(self.stat.st_mode))
                try:
                    os.chown(self.tmp, self.stat.st_uid, self.stat.st_gid)
                except OSError:  # only root may give a file away; keep ours
                    pass
            else:
                os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.target)
            self.tmp = None
        except OSError as exc:
            raise output_error(self.where, exc) from None
        finally:
            release_signals(held)

    def _copy_to_file(self) -> None:
        try:
            # Opening a FIFO waits for a reader: signals stay deliverable until it has one.
            fd = os.open(self.in_place, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except OSError as exc:
            raise output_error(self.where, exc) from None
        try:
            self._copy(lambda data: _write_all(fd, data), self.where)
        finally:
            os.close(fd)

    def _copy_to_stdout(self) -> None:
        if sys.stdout is None or isinstance(sys.stdout, ClosedStdout):  # fd 1 closed at start-up (`>&-`)
            raise UsageError("stdout is closed (>&-): cannot write output; no output written")
        out = sys.stdout.buffer
        try:
            sys.stdout.flush()  # anything printed before goes first
            fd = out.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            # An in-memory stdout (a program or test running postrender in-process).
            self._copy(out.write, "stdout")
            out.flush()
            return
        # Unbuffered, so a failed write leaves nothing behind for Python to flush (and fail on
        # again) at exit.  BrokenPipeError (the reader went away): the boundary ends quietly.
        self._copy(lambda data: _write_all(fd, data), "stdout")

    def _copy(self, write, where: str) -> None:
        self.file.seek(0)
        held = hold_signals()
        try:
            while True:
                chunk = self.file.read(COPY_CHUNK)
                if not chunk:
                    break
                write(chunk)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise output_error(where, exc) from None
        finally:
            self.file.close()
            release_signals(held)

    def discard(self) -> None:
        try:
            if self.file is not None:
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def hold_signals() -> bool:
    """Block the signals that end the run (released by release_signals)."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
        return True
    except (AttributeError, ValueError, OSError):  # not POSIX, or not the main thread
        return False


def release_signals(held: bool, drop: bool = True) -> None:
    """Unblock.  drop: a signal that came meanwhile is ignored, because what it would have
    stopped (writing the whole output) is done; otherwise it is delivered now."""
    if not held:
        return
    if drop:
        for sig in set(signal.sigpending()) & ENDING_SIGNALS:
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, ENDING_SIGNALS)
