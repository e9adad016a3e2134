"""The one error policy of every entry point (``edgehar ...``, ``python -m edgehar.runtime ...``):
whatever goes wrong ends in one line on stderr and an exit code from ``errors``.

- bad input or usage (``EdgeharError``, ``UsageError``): its line, exit 2 (or the error's own
  code: 1 for a failed check);
- Ctrl-C: ``interrupted``, exit 130;
- anything else is a bug or the system: one line that says how to see the traceback, exit 70.
  With ``EDGEHAR_DEBUG=1`` in the environment the traceback is printed above that line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable

from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EdgeharError, one_line

DEBUG_ENV = "EDGEHAR_DEBUG"


class UsageError(EdgeharError):
    """A command line that does not parse (an unknown option, a missing argument)."""

    def __init__(self, problem: str):
        super().__init__(None, f"{problem} (see --help)")


def debug_wanted() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def fail(e: BaseException, stderr=None) -> int:
    """Say ``e`` in one line on stderr; return the exit code it ends with."""
    stderr = stderr or sys.stderr
    if isinstance(e, KeyboardInterrupt):
        print("\ninterrupted", file=stderr)
        return EXIT_INTERRUPTED
    if isinstance(e, EdgeharError):
        print(f"error: {e}", file=stderr)
        return e.exit_code
    if debug_wanted():
        traceback.print_exception(e, file=stderr)
        how = "please report it with the command line and the traceback above"
    else:
        how = f"run again with {DEBUG_ENV}=1 to see the traceback"
    print(f"error: internal error ({type(e).__name__}: {one_line(e)}); {how}", file=stderr)
    return EXIT_INTERNAL


def run_main(fn: Callable[[], int | None]) -> int:
    """Run an entry point's body under the policy; its return value (None: 0) is the exit code.
    ``SystemExit`` (``--help``, a command's own exit code) passes through."""
    try:
        code = fn()
    except (Exception, KeyboardInterrupt) as e:
        return fail(e)
    return EXIT_OK if code is None else int(code)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors raise ``UsageError`` (one line through ``run_main``), not
    a usage block; every option's help shows its default, as click's ``show_default`` does."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(message)


class DefaultsFormatter(argparse.HelpFormatter):
    """``[default: X]`` after an option's help, click's grammar; options whose default is None
    or off say what they default to in their own words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is not None and default is not False and default != argparse.SUPPRESS
                and action.option_strings and "default" not in text):
            text += " [default: %(default)s]"
        return text
