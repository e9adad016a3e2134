"""One error type for bad input: the CLIs turn it into a single line on stderr and exit 2."""


class EdgeharError(Exception):
    """Bad input: a missing or malformed file, a corrupt or mismatched model."""

    exit_code = 2

    def __init__(self, path: object, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
