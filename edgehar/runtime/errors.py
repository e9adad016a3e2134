"""One error type for bad input: the CLIs turn it into a single line on stderr and exit 2."""


class EdgeharError(Exception):
    """Bad input: a missing or malformed file, a corrupt or mismatched model."""

    exit_code = 2

    def __init__(self, path: object, problem: str, line: int | None = None):
        # one line whatever the input held: no newlines, no unbounded echo of a bad file
        self.path = _one_line(str(path), 200) if path is not None else None
        self.problem = _one_line(problem, 400)
        self.line = line   # the input line it names, when it names one
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


def _one_line(text: str, limit: int) -> str:
    """Printable characters only (a log's junk must not break the line or the terminal)."""
    text = "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else "?")
                   for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."
