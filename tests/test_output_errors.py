"""Every OS error the output path can raise is one line and exit 2 (issue 15), for real.

Each case provokes the error itself (no mocks): a directory, a missing directory, a file where a
directory should be, a symlink loop, a name too long, ``/dev/full`` (as ``-o`` and as stdout), a
closed stdout, a read-only file system and a full one (a tmpfs mounted in a private mount
namespace with ``unshare``), permissions (as an unprivileged user when the tests run as root),
a file-size limit (``RLIMIT_FSIZE``: EFBIG), a full spool directory, an input that cannot be
read (EIO), ``init`` into a missing directory.  Each must give exit 2, exactly one line on stderr that names
the file and says what happened, no "internal error", nothing on stdout and no temporary file
left behind; a broken pipe on stdout stays quiet (exit 0), as documented.

``-o`` writes what the user means: through a symlink (the link stays, its target is replaced
atomically), and into a device or FIFO in place (never replaced by a regular file).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest_tools import in_ci
from tests.conftest import CONFIG_HEADER

CONFIG = CONFIG_HEADER + "rules:\n- imagePullPolicy: {policy: Always}\n"
INPUT = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: '{'v' * 200}'\n"
                for i in range(400)).encode()  # ~100 KB: more than the small tmpfs below holds


def env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")}


def postrender(*args: str) -> list[str]:
    return [sys.executable, "-m", "postrender", *args]


@pytest.fixture
def work():
    """A world-traversable directory (an unprivileged user must reach it) with the config."""
    path = Path(tempfile.mkdtemp(prefix="postrender-oserr-"))
    path.chmod(0o755)
    (path / "postrender.yaml").write_text(CONFIG)
    (path / "postrender.yaml").chmod(0o644)
    yield path
    for p in path.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path)


def private_device(work: Path, name: str) -> Path:
    """A private copy of /dev/NAME in work where we may make one (root): a regression that
    replaces the -o target then replaces our copy, not the machine's /dev/full or /dev/null.
    Not root: /dev itself, which a regression could not replace anyway."""
    real = Path("/dev") / name
    device = work / name
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.stat(real).st_rdev)
        device.chmod(0o666)
        return device
    except OSError:
        return real


def check_one_line_error(proc, *expected: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert proc.stdout == b""
    assert err.count("\n") == 1 and err.startswith("postrender: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    for text in expected:
        assert text in err, err


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ---- errors any user can provoke --------------------------------------------------------------

def _setup_plain(work: Path, case: str) -> tuple[list[str], dict, str]:
    """(extra argv, Popen keywords, text the message must contain)."""
    config = ["-c", str(work / "postrender.yaml")]
    if case == "EISDIR":
        (work / "adir").mkdir()
        return config + ["-o", str(work / "adir")], {}, "is a directory"
    if case == "ENOENT":
        return config + ["-o", str(work / "missing" / "out.yaml")], {}, "No such file or directory"
    if case == "ENOTDIR":
        (work / "afile").write_text("x")
        return config + ["-o", str(work / "afile" / "out.yaml")], {}, "Not a directory"
    if case == "ELOOP":
        os.symlink("loop-b", work / "loop-a")
        os.symlink("loop-a", work / "loop-b")
        return config + ["-o", str(work / "loop-a")], {}, "Too many levels of symbolic links"
    if case == "ENAMETOOLONG":
        return config + ["-o", str(work / ("x" * 300))], {}, "File name too long"
    if case == "ENOSPC -o /dev/full":
        full = private_device(work, "full")
        return config + ["-o", str(full)], {}, f"-o {full}: cannot write output: No space left on device"
    if case == "ENOSPC stdout /dev/full":
        return config, {"stdout": open("/dev/full", "wb")}, "stdout: cannot write output: No space left on device"
    if case == "EBADF stdout closed":
        return config, {"preexec_fn": lambda: os.close(1), "stdout": None}, "stdout is closed"
    if case == "EFBIG":
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        return config + ["-o", str(work / "out.yaml")], {"preexec_fn": limit}, "File too large"
    if case == "EIO reading the input":  # the input side: read(2) of /proc/self/mem at offset 0
        return config + ["-i", "/proc/self/mem"], {}, "/proc/self/mem: cannot read input: Input/output error"
    if case == "init into a missing directory":
        return ["init", str(work / "missing" / "postrender.yaml")], {}, "does not exist; create it first"
    raise AssertionError(case)


PLAIN = ["EISDIR", "ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "ENOSPC -o /dev/full", "ENOSPC stdout /dev/full",
         "EBADF stdout closed", "EFBIG", "EIO reading the input",
         "init into a missing directory"]


@pytest.mark.parametrize("case", PLAIN)
def test_os_error_is_one_line_and_exit_2(work, case):
    argv, kw, expected = _setup_plain(work, case)
    before = sorted(p.name for p in work.iterdir())
    devices = {p: p.lstat().st_mode for p in work.iterdir() if stat.S_ISCHR(p.lstat().st_mode)}
    stdout = kw.pop("stdout", subprocess.PIPE)
    proc = subprocess.run(postrender(*argv), input=INPUT, stdout=stdout, stderr=subprocess.PIPE,
                          env=env(), timeout=120, **kw)
    if stdout is not subprocess.PIPE:
        proc.stdout = b""
    check_one_line_error(proc, expected)
    assert sorted(p.name for p in work.iterdir()) == before  # nothing created, nothing left behind
    assert {p: p.lstat().st_mode for p in devices} == devices  # a device stays a device


def test_a_broken_pipe_on_stdout_is_quiet(work):
    """The documented exception: ``postrender | head -1`` is not an error (exit 0, silent)."""
    proc = subprocess.Popen(postrender("-c", str(work / "postrender.yaml")), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    proc.stdout.close()  # the reader is gone before the first byte
    _, err = proc.communicate(INPUT, timeout=60)
    assert proc.returncode == 0 and err == b""


# ---- errors that need a privilege or a file system of their own --------------------------------

def _as_nobody(argv: list[str]) -> list[str]:
    """argv run as an unprivileged user: root ignores permission bits (util-linux setpriv)."""
    if os.getuid() != 0:
        return argv
    tool = shutil.which("setpriv")
    if tool is None:
        if in_ci():
            pytest.fail("setpriv (util-linux) is needed to test EACCES as root", pytrace=False)
        pytest.skip("setpriv missing: cannot drop root to test EACCES")
    return [tool, "--reuid=65534", "--regid=65534", "--clear-groups", *argv]


def test_eacces_is_one_line_and_exit_2(work):
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    proc = subprocess.run(_as_nobody(postrender("-c", str(work / "postrender.yaml"), "-o", str(locked / "out.yaml"))),
                          input=INPUT, capture_output=True, env=env(), timeout=120)
    check_one_line_error(proc, f"-o {locked / 'out.yaml'}: cannot write output: Permission denied")
    assert list(locked.iterdir()) == []


def _unshare() -> list[str]:
    """The unshare command that gives a private mount namespace here, or fail/skip like need_tool."""
    tool = shutil.which("unshare")
    for flags in (["-rm"], ["-m"]):
        if tool and subprocess.run([tool, *flags, "true"], capture_output=True).returncode == 0:
            return [tool, *flags]
    reason = "no private mount namespace (unshare missing or not permitted)"
    if in_ci():
        pytest.fail(f"{reason}; CI must run the EROFS/ENOSPC tests", pytrace=False)
    pytest.skip(reason)


@pytest.mark.parametrize("case", ["EROFS", "ENOSPC on a full file system", "ENOSPC spooling stdout"])
def test_file_system_errors_are_one_line_and_exit_2(work, case):
    mount = work / "mnt"
    mount.mkdir()
    options = "ro" if case == "EROFS" else "size=64k"
    target = mount / "out.yaml"
    argv = ["-c", str(work / "postrender.yaml"), "-o", str(target)]
    stdin = INPUT
    extra_env = {}
    expected = f"-o {target}: cannot write output: " + (
        "Read-only file system" if case == "EROFS" else "No space left on device")
    if case == "ENOSPC spooling stdout":
        # Over 16 MiB of output to stdout spools under $TMPDIR, here the 64k tmpfs.
        argv, stdin, extra_env = argv[:2], INPUT * 170, {"TMPDIR": str(mount)}
        expected = f"spooling the output under {mount}: cannot write output: No space left on device"
    # Inside the namespace: mount the tmpfs, run postrender, then list what is left in it.
    script = ('mount -t tmpfs -o "$1" none "$2" || exit 99; shift 2; "$@" < "$STDIN" > /dev/null; rc=$?;'
              ' ls -A "$MNT" >&2; exit $rc')
    (work / "in.yaml").write_bytes(stdin)
    proc = subprocess.run([*_unshare(), "sh", "-c", script, "sh", options, str(mount), *postrender(*argv)],
                          capture_output=True, timeout=300,
                          env=env() | extra_env | {"STDIN": str(work / "in.yaml"), "MNT": str(mount)})
    assert proc.returncode != 99, proc.stderr
    # stderr: postrender's one line, then `ls` of the tmpfs, which must be empty (no .tmp left).
    check_one_line_error(proc, expected)


# ---- -o writes the file the user means ---------------------------------------------------------

def test_o_writes_through_a_symlink(work):
    real = work / "real" / "out.yaml"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = work / "link.yaml"
    link.symlink_to(real)
    proc = subprocess.run(postrender("-c", str(work / "postrender.yaml"), "-o", str(link)), input=INPUT,
                          capture_output=True, env=env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes().startswith(b"---\napiVersion: v1\nkind: ConfigMap")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert temporaries(real.parent) == [] and temporaries(work) == []


def test_o_writes_a_dangling_symlinks_target(work):
    link = work / "link.yaml"
    link.symlink_to(work / "new.yaml")
    proc = subprocess.run(postrender("-c", str(work / "postrender.yaml"), "-o", str(link)), input=INPUT,
                          capture_output=True, env=env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and (work / "new.yaml").read_bytes().startswith(b"---\n")


def test_o_writes_into_a_fifo_in_place(work):
    fifo = work / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    proc = subprocess.run(postrender("-c", str(work / "postrender.yaml"), "-o", str(fifo)), input=INPUT,
                          capture_output=True, env=env(), timeout=120)
    out, _ = reader.communicate(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not replaced by a file
    assert out.startswith(b"---\napiVersion: v1\nkind: ConfigMap") and out.count(b"imagePull") == 0
    assert len(out) > len(INPUT) // 2


def test_o_writes_into_a_device_in_place(work):
    """``-o /dev/null``: as root a replace swapped the device node for a file (issue 15).  Run
    against a private copy of /dev/null where we may make one, so that a regression cannot
    break the machine's /dev/null."""
    device = private_device(work, "null")
    proc = subprocess.run(postrender("-c", str(work / "postrender.yaml"), "-o", str(device)), input=INPUT,
                          capture_output=True, env=env(), timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert stat.S_ISCHR(device.lstat().st_mode) and device.read_bytes() == b""
    assert temporaries(device.parent) == []


# ---- signals ----------------------------------------------------------------------------------

def _default_signals():
    """Children inherit ignored signals (a background job ignores SIGINT, nohup SIGHUP); the
    test is about what postrender does with the signal, so the child gets the defaults."""
    from postrender.engine.sink import ENDING_SIGNALS

    for sig in ENDING_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGXCPU",
           "SIGPWR", "SIGRTMIN"]


@pytest.mark.parametrize("name", SIGNALS)
def test_every_ending_signal_removes_the_temporary_file(work, name):
    from tests.test_output_safety import wait_for
    from tests.test_resource_bombs import small_stream

    sig = getattr(signal, name)
    stream = work / "big.yaml"
    small_stream(stream, 3 << 20)
    target = work / "out.yaml"
    target.write_bytes(b"old\n")
    with open(stream, "rb") as stdin:
        proc = subprocess.Popen(postrender("-c", str(work / "postrender.yaml"), "-o", str(target)), stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), preexec_fn=_default_signals)
        assert wait_for(lambda: any(p.stat().st_size > 0 for p in work.glob(".out.yaml.*.tmp")))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    expected = 130 if sig == signal.SIGINT else 128 + sig
    assert proc.returncode == expected, err
    assert out == b"" and err.decode().count("\n") == 1 and b"no output written" in err, err
    assert target.read_bytes() == b"old\n" and temporaries(work) == []


def test_an_ignored_signal_stays_ignored(work):
    """nohup: SIGHUP ignored by the parent is not turned into a stop."""
    from tests.test_output_safety import wait_for
    from tests.test_resource_bombs import small_stream

    stream = work / "big.yaml"
    small_stream(stream, 3 << 20)

    def ignore_hup():
        _default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    with open(stream, "rb") as stdin:
        proc = subprocess.Popen(postrender("-c", str(work / "postrender.yaml"), "-o", str(work / "out.yaml")),
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                                preexec_fn=ignore_hup)
        assert wait_for(lambda: any(p.stat().st_size > 0 for p in work.glob(".out.yaml.*.tmp")))
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (0, b"")
    assert (work / "out.yaml").stat().st_size > 1 << 20 and temporaries(work) == []


# ---- a closed or broken stderr ----------------------------------------------------------------

STDERR_SCENARIOS = {
    # config rules, input, exit code
    "warnings": ("- allowedRegistries: {registries: [registry.example.com], action: warn}\n", 0),
    "check failed": ("- allowedRegistries: {registries: [registry.example.com], action: error}\n", 1),
    "config error": ("- allowedRegistries: {registries: [registry.example.com], action: maybe}\n", 2),
    "bad input": ("- imagePullPolicy: {policy: Always}\n", 3),
}
IMAGES = b"---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: busybox}\n"


def _stderr(mode: str, work: Path):
    """(stderr argument, preexec_fn) for a stderr that is fine, closed, broken or full."""
    if mode == "closed":  # 2>&-
        return None, lambda: os.close(2)
    if mode == "broken pipe":  # the reader of stderr is gone
        read_end, write_end = os.pipe()
        os.close(read_end)
        return write_end, None
    if mode == "full":
        return open(private_device(work, "full"), "wb"), None
    return subprocess.PIPE, None


@pytest.mark.parametrize("scenario", list(STDERR_SCENARIOS))
@pytest.mark.parametrize("mode", ["closed", "broken pipe", "full"])
def test_a_closed_or_broken_stderr_changes_nothing(work, mode, scenario):
    """Same exit code and stdout as with a working stderr; the log file still gets every line."""
    rules, code = STDERR_SCENARIOS[scenario]
    (work / "postrender.yaml").write_text(CONFIG.split("rules:")[0] + "rules:\n" + rules)
    stdin = IMAGES + (b"---\nkind: [unclosed\n" if scenario == "bad input" else b"")

    def run(stderr_mode: str, log: str):
        stderr, preexec = _stderr(stderr_mode, work)
        proc = subprocess.run(postrender("-c", str(work / "postrender.yaml"), "--log-file", str(work / log)),
                              input=stdin, stdout=subprocess.PIPE, stderr=stderr, preexec_fn=preexec,
                              env=env(), timeout=120)
        if stderr is None or stderr == subprocess.PIPE:
            pass
        elif isinstance(stderr, int):
            os.close(stderr)
        else:
            stderr.close()
        logged = [line.split(" ", 1)[1] for line in (work / log).read_text().splitlines()]
        return proc.returncode, proc.stdout, proc.stderr, logged

    expected_code, expected_out, expected_err, expected_log = run("working", "reference.log")
    assert expected_code == code and expected_err.decode().splitlines() == expected_log
    assert expected_log, "the scenario says nothing: it would prove nothing"
    got_code, got_out, _, got_log = run(mode, "test.log")
    assert (got_code, got_out, got_log) == (expected_code, expected_out, expected_log)


@pytest.mark.parametrize("command", [["run"], ["diff"], ["images"], ["validate"], ["schema"], ["--version"],
                                     ["init", "{work}/new.yaml"]])
def test_every_command_with_a_closed_stdout_is_one_line_and_exit_2(work, command):
    argv = [a.format(work=work) for a in command]
    if command[0] in ("run", "diff", "images", "validate"):
        argv += ["-c", str(work / "postrender.yaml")]
    proc = subprocess.run(postrender(*argv), input=INPUT, stdout=None, stderr=subprocess.PIPE, env=env(),
                          timeout=120, preexec_fn=lambda: os.close(1))
    proc.stdout = b""
    check_one_line_error(proc, "stdout is closed (>&-)")


# ---- arguments and environment that are not UTF-8 ----------------------------------------------

@pytest.mark.parametrize("case", ["POSTRENDER_VAR_ value", "--set value", "config path, logged"])
def test_non_utf8_arguments_are_one_line_and_exit_2(work, case):
    """Python keeps invalid UTF-8 from argv and the environment as lone surrogates, which
    neither base64, JSON nor a UTF-8 log file can carry: a clean error, never a traceback."""
    config, secret = str(work / "postrender.yaml"), b"pw\xff-canary"
    argv: list = [b"run", b"-c", config.encode(), b"--log-file", str(work / "log").encode()]
    run_env = {k.encode(): v.encode() for k, v in env().items()}
    expected = "the value is not UTF-8 text"
    if case == "POSTRENDER_VAR_ value":
        run_env[b"POSTRENDER_VAR_password"] = secret
        expected = "environment POSTRENDER_VAR_password: " + expected
    elif case == "--set value":
        argv += [b"--set", b"password=" + secret]
        expected = "--set password: " + expected
    else:
        argv[2] = str(work).encode() + b"/\xff.yaml"
        expected = "\\udcff.yaml: config file not found"
    proc = subprocess.run([sys.executable.encode(), b"-m", b"postrender", *argv], input=INPUT,
                          capture_output=True, env=run_env, timeout=120)
    check_one_line_error(proc, expected)
    assert b"canary" not in proc.stderr and b"canary" not in (work / "log").read_bytes()
    assert expected in (work / "log").read_text()
