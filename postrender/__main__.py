"""Entry point: ``postrender`` and ``python -m postrender``."""

import sys


def main() -> None:
    from . import runner

    code = runner.main(sys.argv[1:])  # the plain run path, without importing typer
    if code is None:
        from .cli import main as cli_main

        code = cli_main(sys.argv[1:])
    sys.exit(code)


if __name__ == "__main__":
    main()
