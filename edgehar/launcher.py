"""The ``edgehar`` console script. It needs click, which the runtime-only install (numpy +
LiteRT) leaves out: there, one line says what to install instead of an import traceback."""

from __future__ import annotations

import sys

FULL_INSTALL = ('the edgehar command needs the full install: pip install "edgehar[train]"; '
                "on a device use python -m edgehar.runtime replay ...")


def main() -> None:
    try:
        import click  # noqa: F401
    except ImportError:
        print(f"error: {FULL_INSTALL}", file=sys.stderr)
        sys.exit(2)
    from .cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
