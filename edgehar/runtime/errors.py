"""One error type for bad input, one way to say any failure in one line, and the exit codes
every entry point (``edgehar ...``, ``python -m edgehar.runtime ...``) ends with."""

from __future__ import annotations

# Exit codes (DESIGN "CLI contract"): one table for every command.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1     # a check the user asked for failed (--max-drop, a parity tolerance)
EXIT_BAD_INPUT = 2        # bad input or usage
EXIT_PARTIAL = 3          # fleet replay: some logs failed, the others are complete
EXIT_INTERNAL = 70        # a bug or the system (EX_SOFTWARE): says how to see the traceback
EXIT_INTERRUPTED = 130    # Ctrl-C

LINE_LIMIT = 300          # characters of an error message on one line


class EdgeharError(Exception):
    """Bad input: a missing or malformed file, a corrupt or mismatched model."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: object, problem: str, line: int | None = None):
        # one line whatever the input held: no newlines, no unbounded echo of a bad file
        self.path = _one_line(str(path), 200) if path is not None else None
        self.problem = _one_line(problem, 400)
        self.line = line   # the input line it names, when it names one
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


def one_line(e: BaseException | str, limit: int = LINE_LIMIT) -> str:
    """Any error as one printable line: an EdgeharError's problem, else the first line of its
    message (or its type's name when it has none), cut at ``limit`` characters."""
    if isinstance(e, EdgeharError):
        return e.problem
    text = e if isinstance(e, str) else str(e)
    first = text.strip().splitlines()[0] if text.strip() else (
        "" if isinstance(e, str) else type(e).__name__)
    return _one_line(first, limit)


def _one_line(text: str, limit: int) -> str:
    """Printable characters only (a log's junk must not break the line or the terminal)."""
    text = "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else "?")
                   for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."
