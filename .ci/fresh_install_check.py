"""What the README's install downloads on a fresh machine with only the public package index.

    python .ci/fresh_install_check.py [--json docs/results/fresh_install.json] [--extras all]

A pip dry run (``--dry-run --ignore-installed --report``) of ``pip install ".[EXTRAS]"`` in a
throw-away venv, with this machine's pip configuration switched off (``PIP_CONFIG_FILE`` set to
/dev/null, every ``PIP_*`` variable dropped, ``--isolated``): no local wheel directory, no
constraints, no extra index. Then each wheel's size from PyPI's JSON simple API. It prints and
writes whether torch resolves to a CPU or a CUDA build and what the plain command downloads.
Needs the package index (a script, not a test: about 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INDEX = "https://pypi.org/simple"
CUDA_PREFIXES = ("nvidia-", "nvidia_", "cuda-", "triton")


def dry_run(extras: str, venv: Path) -> list[dict]:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    report = venv / "report.json"
    cert = "/etc/ssl/certs/ca-certificates.crt"   # the system store, as pip's own config had it
    cmd = [str(venv / "bin" / "pip"), "install", "--isolated", "--dry-run", "--ignore-installed",
           "--quiet", "--index-url", INDEX, "--report", str(report), f"{REPO}[{extras}]"]
    if Path(cert).is_file():
        cmd[3:3] = ["--cert", cert]
    subprocess.run(cmd, check=True, env=env)
    return json.loads(report.read_text())["install"]


def wheel_size(name: str, url: str) -> int | None:
    req = urllib.request.Request(f"{INDEX}/{name.lower()}/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    filename = url.rsplit("/", 1)[1]
    return next((f.get("size") for f in files if f["filename"] == filename), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extras", default="all")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        install = dry_run(a.extras, Path(d) / "venv")
    rows = []
    for item in install:
        url = item["download_info"]["url"]
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        size = wheel_size(name, url) if url.startswith("https://") else None
        rows.append({"name": name, "version": version, "bytes": size})
    torch = next((r for r in rows if r["name"].lower() == "torch"), None)
    cuda = [r for r in rows if r["name"].lower().startswith(CUDA_PREFIXES)]
    total = sum(r["bytes"] or 0 for r in rows)
    gpu_bytes = sum(r["bytes"] or 0 for r in cuda) + ((torch or {}).get("bytes") or 0)
    out = {"command": f'pip install ".[{a.extras}]"', "index": INDEX,
           "python": platform.python_version(), "machine": platform.machine(),
           "torch": torch and torch["version"],
           "torch_build": "none" if torch is None else ("cuda" if cuda else "cpu"),
           "cuda_packages": sorted(r["name"] for r in cuda),
           "packages": len(rows), "download_bytes": total, "torch_and_cuda_bytes": gpu_bytes,
           "largest": sorted(rows, key=lambda r: -(r["bytes"] or 0))[:8]}
    what = ("no torch" if torch is None else
            f"torch {out['torch']} is a {out['torch_build'].upper()} build ({len(cuda)} CUDA "
            f"packages; torch + CUDA {gpu_bytes / 1e9:.2f} GB)")
    print(f"{out['command']} from {INDEX} on Python {out['python']} {out['machine']}: "
          f"{len(rows)} packages, {total / 1e9:.2f} GB of wheels; {what}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
