"""Entry point: ``postrender`` and ``python -m postrender``."""

import signal
import sys

from postrender import _interrupted_while_starting


def main() -> None:
    from postrender import runner

    _work_may_start()
    code = runner.main(sys.argv[1:])  # the plain run path, without importing typer
    if code is None:
        from postrender.cli import main as cli_main

        code = cli_main(sys.argv[1:])
    sys.exit(code)


def _work_may_start() -> None:
    """Hand Ctrl-C back to Python (KeyboardInterrupt, handled by runner.boundary)."""
    try:
        if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:
        pass


if __name__ == "__main__":
    main()
