"""Peak resident memory of this process."""

from __future__ import annotations

import resource
import sys


def peak_rss_mb() -> float:
    """VmHWM from /proc (the high-water mark of this process image only); ru_maxrss elsewhere.
    On Linux ru_maxrss also counts the parent's pages from before exec, so a child started from
    a 1 GB test runner would report 1 GB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024
