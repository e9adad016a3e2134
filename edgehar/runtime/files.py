"""Small file helpers: output paths checked before the work, atomic writes (no half-written
outputs) and hashing."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import EdgeharError

if TYPE_CHECKING:  # pathlib costs ~10 ms to import on 3.11; only writers need it at run time
    from pathlib import Path


STDOUT = "-"   # an output file option's value for standard output (``--json -``)


def check_output_file(path, option: str, stdout_ok: bool = False) -> None:
    """Refuse, before any work, an output file that could not be written at the end: a
    directory, a path under a file, or a place without write permission. None (not asked for)
    passes, and ``-`` where the option means stdout by it (``stdout_ok``). The error names the
    path and the option (exit 2)."""
    if path is None or (stdout_ok and str(path) == STDOUT):
        return
    if os.path.isdir(path):
        raise EdgeharError(path, f"{option} is a directory; give a file name")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise EdgeharError(path, f"{option}: no permission to write this file")
    _check_creatable(path, option)


def check_output_dir(path, option: str) -> None:
    """The same for an output directory (created when missing): not an existing file."""
    if path is None:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise EdgeharError(path, f"{option} is a file; give a directory")
    _check_creatable(path, option)


def _check_creatable(path, option: str) -> None:
    """The nearest existing folder above ``path`` (where it or its folders would be made) is a
    writable directory."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise EdgeharError(path, f"{option}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EdgeharError(path, f"{option}: no permission to write in {parent}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it into place only if the block succeeds."""
    import tempfile  # only writers need these; keeps `import edgehar.runtime` light
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make shipped artifacts unreadable to others
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, obj) -> None:
    import json  # lazy: the runtime's cold start counts every import

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def _sha256_type():
    # hashlib loads OpenSSL's libcrypto (~4-6 ms of a ~130 ms runtime cold start); CPython's
    # built-in implementation gives the same digest and hashes a model file in well under 1 ms.
    try:
        from _sha2 import sha256  # CPython >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # CPython 3.11
        except ImportError:
            from hashlib import sha256
    return sha256


def sha256(path: Path) -> str:
    h = _sha256_type()()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
