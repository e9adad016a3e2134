"""Silence C++ loggers that write straight to file descriptors (the CLI promises one line)."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def silenced_fds(fds: tuple[int, ...] = (2,)):
    """Point OS-level file descriptors at /dev/null for a while: LiteRT's and MLIR's C++
    loggers write there directly ('INFO: Created TensorFlow Lite XNNPACK delegate'), and the
    CLI contract is one line on stderr."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        saved = [os.dup(fd) for fd in fds]
    except (OSError, ValueError):  # no real descriptors (embedded interpreters, some runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in fds:
        os.dup2(devnull, fd)
    try:
        yield
    finally:
        for fd, old in zip(fds, saved):
            os.dup2(old, fd)
            os.close(old)
        os.close(devnull)
