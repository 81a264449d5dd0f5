"""Entry point: ``postrender`` and ``python -m postrender``."""

import sys


def main() -> None:
    from .cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
