"""Where ``edgehar web`` finds LiteRT.js (``@litertjs/core`` and ``@litertjs/wasm-utils``).

Not vendored: the two wasm builds the page may need weigh 19 MB, the package's wheel would
carry them for every Raspberry Pi install that never opens a browser, and npm already pins and
checksums them. One documented step installs the pinned version into a cache directory that
``edgehar web`` looks in (``INSTALL``); ``--litertjs DIR`` or ``EDGEHAR_LITERTJS`` point
elsewhere (a directory holding ``core/`` and ``wasm-utils/``, e.g. ``node_modules/@litertjs``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..runtime.errors import EdgeharError

VERSION = "2.5.3"        # the version the stream file's browser tests ran (.ci/run pins it too)
ENV = "EDGEHAR_LITERTJS"
# what the page loads: the ES modules (an import map, no bundler) and the two wasm builds
# LiteRT.js chooses between (relaxed SIMD, and "compat" for browsers without it)
FILES = ("core/dist/index.js", "wasm-utils/dist/index.js",
         "core/wasm/litert_wasm_internal.js", "core/wasm/litert_wasm_internal.wasm",
         "core/wasm/litert_wasm_compat_internal.js", "core/wasm/litert_wasm_compat_internal.wasm")


def cache_prefix() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgehar" / "litertjs"


def install_command() -> str:
    return (f"npm install --prefix {cache_prefix()} @litertjs/core@{VERSION} "
            f"@litertjs/wasm-utils@{VERSION}")


def candidates(option: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where to look, first hit wins: the option, the environment, the cache, and a source
    checkout's ``node_modules`` (what .ci/run installs)."""
    if option is not None:
        return [Path(option)]
    if os.environ.get(ENV):
        return [Path(os.environ[ENV])]
    checkout = Path(__file__).resolve().parents[2]
    return [cache_prefix() / "node_modules" / "@litertjs", checkout / "node_modules" / "@litertjs"]


def version_of(root: Path) -> str | None:
    try:
        return str(json.loads((root / "core" / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(option: str | os.PathLike[str] | None = None) -> Path:
    """The LiteRT.js directory to serve, or an EdgeharError whose one line is the command
    that installs it."""
    for root in candidates(option):
        if all((root / f).is_file() for f in FILES):
            found = version_of(root)
            if found != VERSION:
                raise EdgeharError(root, f"LiteRT.js {found} found, edgehar web needs {VERSION}: "
                                         f"{install_command()}")
            return root
    where = candidates(option)[0]
    raise EdgeharError(None, f"LiteRT.js {VERSION} is not installed (looked in {where}); "
                             f"install it with: {install_command()}")
