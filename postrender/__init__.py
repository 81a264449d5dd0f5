"""postrender: a text-preserving post-renderer for rendered Kubernetes manifests."""

import os as _os
import sys as _sys

# The C module, not `signal`: importing `signal` builds enums (~1 ms), which is itself a window
# for an unhandled Ctrl-C.
import _signal

__version__ = "0.1.0"


def _interrupted_while_starting(signum, frame):  # pragma: no cover - timing dependent
    _os.write(2, b"postrender: interrupted; no output written\n")
    _os._exit(130)


def _guard_start_up() -> None:
    """Ctrl-C while the command's modules import: one line and exit 130, not Python's traceback.

    Only when this package is being imported as the ``postrender`` command (``-m postrender`` or
    the console script), never when a program or pytest imports it.  ``__main__.main`` puts
    Python's own handler back before any work starts, so from then on runner's boundary turns
    Ctrl-C into exit 130 and removes a half-written ``-o`` temp file.
    """
    argv0 = _sys.argv[0] if _sys.argv else ""
    if argv0 != "-m" and _os.path.basename(argv0) != "postrender":
        return
    try:
        if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
            _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    except ValueError:  # not the main thread
        pass


_guard_start_up()
