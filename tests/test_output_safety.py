"""Output safety (issue 7): atomic -o, quiet closed pipes, Ctrl-C and SIGTERM leave nothing partial.

Documented behaviour being tested (postrender/engine/sink.py, runner.py):
* ``-o FILE`` is written into ``.FILE.<random>.tmp`` beside it and renamed over FILE at the end;
  a kill -9 leaves FILE as it was (and possibly that one temporary file); any other failure,
  SIGINT or SIGTERM removes the temporary file.
* ``postrender | head -1``: exit 0, nothing on stderr.
* SIGINT: exit 130; SIGTERM: exit 143; one line on stderr, nothing on stdout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.test_resource_bombs import small_stream

IPP = "rules:\n  - imagePullPolicy:\n      policy: IfNotPresent\n"
OLD = b"old: content\n"
MANIFEST = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n"


def default_signals(then=None):
    """A preexec_fn: the child gets the default action for SIGINT, SIGHUP, ...  A suite run in
    the background or under nohup passes ignored signals on, and Python leaves an ignored
    SIGINT ignored; these tests are about what postrender does when the signal comes."""
    def reset():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        if then is not None:
            then()
    return reset


def spawn(args: list[str], stdin=subprocess.PIPE, preexec_fn=None, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
    return subprocess.Popen([sys.executable, "-m", "postrender", *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=default_signals(preexec_fn), **kw)


def wait_for(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def pipe_pending(pipe) -> int:
    """Bytes written to a pipe and not yet read (FIONREAD works on either end of a Linux pipe)."""
    import array
    import fcntl
    import termios

    count = array.array("i", [0])
    fcntl.ioctl(pipe.fileno(), termios.FIONREAD, count)
    return count[0]


def read_position(proc: subprocess.Popen, fd: int = 0) -> int:
    """How far the process has read a file given as fd (``pos`` in /proc/PID/fdinfo)."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/fdinfo/{fd}").read_text().splitlines())
    except OSError:
        return 0
    return int(fields.get("pos", "0").strip())


def assert_stopped_cleanly(proc: subprocess.Popen, code: int) -> None:
    """Exit `code`, nothing on stdout, one stderr line saying nothing was written."""
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "no output written" in lines[0], err


def leftovers(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != name and p.name.startswith(f".{name}."))


@pytest.fixture
def big_input(tmp_path_factory) -> Path:
    """~3 MB of small Deployments/ConfigMaps: a few seconds of work with imagePullPolicy."""
    path = tmp_path_factory.mktemp("in") / "stream.yaml"
    small_stream(path, 3 << 20)
    return path


def test_kill_9_during_output_file_leaves_the_old_file(tmp_path, big_input):
    target = tmp_path / "out.yaml"
    target.write_bytes(OLD)
    config = write_config(tmp_path, IPP)
    with open(big_input, "rb") as stdin:
        proc = spawn(["-c", str(config), "-o", str(target)], stdin=stdin)
        # The temporary file exists from the start of the run: kill while it is being filled.
        assert wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(".out.yaml.*.tmp")))
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == OLD
    litter = leftovers(tmp_path, "out.yaml")
    assert len(litter) == 1 and litter[0].endswith(".tmp"), litter  # the documented .NAME.*.tmp


@pytest.mark.parametrize("how", ["bad-input", "sigterm", "sigint"])
def test_failed_or_stopped_run_keeps_the_old_file_and_cleans_up(tmp_path, big_input, how):
    target = tmp_path / "out.yaml"
    target.write_bytes(OLD)
    config = write_config(tmp_path, IPP)
    if how == "bad-input":
        proc = spawn(["-c", str(config), "-o", str(target)])
        out, err = proc.communicate(big_input.read_bytes() + b"---\nkind: [unclosed\n", timeout=120)
        expected = 3
    else:
        with open(big_input, "rb") as stdin:
            proc = spawn(["-c", str(config), "-o", str(target)], stdin=stdin)
            assert wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(".out.yaml.*.tmp")))
            proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        expected = 143 if how == "sigterm" else 130
    assert proc.returncode == expected, err
    assert out == b"" and len(err.splitlines()) == 1 and b"Traceback" not in err
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path, "out.yaml") == []


def test_output_file_is_replaced_when_the_run_succeeds(tmp_path):
    target = tmp_path / "out.yaml"
    target.write_bytes(OLD)
    proc = spawn(["-c", str(write_config(tmp_path, "rules: []\n")), "-o", str(target)])
    out, err = proc.communicate(MANIFEST, timeout=60)
    assert (proc.returncode, out, err) == (0, b"", b"")
    assert target.read_bytes() == MANIFEST and leftovers(tmp_path, "out.yaml") == []


def test_closed_pipe_is_quiet(tmp_path, big_input):
    """`postrender | head -1`: the output (3 MB) is far larger than a pipe buffer."""
    config = write_config(tmp_path, "rules: []\n")
    with open(big_input, "rb") as stdin:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}
        proc = subprocess.Popen([sys.executable, "-m", "postrender", "-c", str(config)], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        first = proc.stdout.readline()  # what `head -1` does, then it closes the pipe
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=60)
    assert first == b"---\n"
    assert proc.returncode == 0 and err == b"", err


def test_closed_pipe_in_a_shell_pipeline(tmp_path, big_input):
    config = write_config(tmp_path, "rules: []\n")
    script = (f'"{sys.executable}" -m postrender -c "{config}" < "{big_input}" 2> "{tmp_path}/err" | head -1 > /dev/null;'
              ' echo "${PIPESTATUS[0]}"')
    status = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert status.stdout.strip() == "0", status
    assert (tmp_path / "err").read_text() == ""


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_signal_while_reading_stdin(tmp_path, sig, code):
    proc = spawn(["-c", str(write_config(tmp_path, IPP))])
    proc.stdin.write(b"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
    proc.stdin.flush()
    # Start-up is over when the process has read what was written; it then waits for more.
    assert wait_for(lambda: pipe_pending(proc.stdin) == 0)
    assert proc.poll() is None
    proc.send_signal(sig)
    assert_stopped_cleanly(proc, code)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_signal_while_processing(tmp_path, big_input, sig, code):
    with open(big_input, "rb") as stdin:
        proc = spawn(["-c", str(write_config(tmp_path, IPP))], stdin=stdin)
        # Working: it has started reading the input file (~3 MB, seconds of work).
        assert wait_for(lambda: read_position(proc) > 0 or proc.poll() is not None)
        assert proc.poll() is None, "finished before the signal: use a larger input"
        proc.send_signal(sig)
        assert_stopped_cleanly(proc, code)


@pytest.mark.parametrize("existing_mode", [None, 0o640, 0o755])
def test_output_file_mode_is_what_a_shell_redirect_gives(tmp_path, existing_mode):
    """A replaced file keeps its mode; a new one gets 0666 minus the umask (not mkstemp's 0600)."""
    target = tmp_path / "out.yaml"
    if existing_mode is not None:
        target.write_bytes(OLD)
        target.chmod(existing_mode)
    config = write_config(tmp_path, "rules: []\n")
    proc = spawn(["-c", str(config), "-o", str(target)], preexec_fn=lambda: os.umask(0o022))
    out, err = proc.communicate(MANIFEST, timeout=60)
    assert proc.returncode == 0, err
    assert target.read_bytes() == MANIFEST
    assert target.stat().st_mode & 0o7777 == (0o644 if existing_mode is None else existing_mode)


@pytest.mark.parametrize("argv0,code", [("-m", 130), ("/usr/local/bin/postrender", 130), ("pytest", None)])
def test_ctrl_c_while_the_command_imports_is_one_line(argv0, code):
    """While postrender's modules import (before runner's boundary exists), Ctrl-C gives one line
    and exit 130, not Python's traceback; only for the command, never for a program importing it.
    (Before Python imports postrender at all, a Ctrl-C is Python's own: SECURITY.md.)"""
    script = (f"import sys; sys.argv[0] = {argv0!r}\n"
              "import postrender, os, signal, time\n"
              "os.kill(os.getpid(), signal.SIGINT)\n"
              "time.sleep(0.5)\n"
              "print('not interrupted')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, preexec_fn=default_signals())
    if code is None:  # a program that imports postrender keeps Python's KeyboardInterrupt
        assert proc.returncode != 0 and b"KeyboardInterrupt" in proc.stderr
        return
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == b""
    assert proc.stderr == b"postrender: interrupted; no output written\n"


def test_the_command_hands_ctrl_c_back_before_working():
    """After start-up, Ctrl-C must reach runner's boundary (which removes a half-written -o file)."""
    script = ("import sys; sys.argv[0] = '-m'\n"
              "import signal, postrender.__main__ as m\n"
              "m._work_may_start()\n"
              "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          preexec_fn=default_signals())
    assert proc.stdout.strip() == "True", proc.stderr
