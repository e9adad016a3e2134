"""The README's picture of the `edgehar web` page (docs/web.png), taken in headless Chromium.

The page as a user sees it after choosing the shipped sample recording (its timeline, with the
truth from its label column), and its live section after 100 s of the same recording were
dispatched as devicemotion events (m/s2, deg/s; a phone's sensors are not at hand here).

    python bench/web_screenshot.py --out docs/web.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from edgehar.runtime.assets import PRETRAINED, SAMPLE_LOG
from edgehar.runtime.entry import run_main
from edgehar.web.headless import Chromium
from edgehar.web.server import build_site, serve_in_thread

LIVE_FROM_S, LIVE_TO_S = 95.0, 195.0   # walking, then stairs: a strip with a few activities
DISPATCH = """(async rows => {
  for (const [t, ax, ay, az, alpha, beta, gamma] of rows) {
    const ev = new DeviceMotionEvent('devicemotion', {
      accelerationIncludingGravity: {x: ax, y: ay, z: az}, rotationRate: {alpha, beta, gamma},
      interval: 20});
    Object.defineProperty(ev, 'timeStamp', {value: t * 1000});
    window.dispatchEvent(ev);
  }
  await window.edgehar.live.windows.drain();
  return window.edgehar.live.preds.length;
})"""


def motion_rows() -> list[list[float]]:
    """The sample's rows in LIVE_FROM_S..LIVE_TO_S as devicemotion values (m/s2, deg/s)."""
    out = []
    for line in SAMPLE_LOG.read_text().splitlines()[1:]:
        t, *v = (float(x) for x in line.split(",")[:7])
        if LIVE_FROM_S <= t < LIVE_TO_S:
            out.append([t - LIVE_FROM_S] + [a * 9.80665 for a in v[:3]]
                       + [w * 180 / math.pi for w in v[3:]])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/web.png"))
    ap.add_argument("--width", type=int, default=1000)
    args = ap.parse_args()
    server, url = serve_in_thread(build_site(PRETRAINED))
    try:
        with Chromium(width=args.width, height=700) as browser:
            page = browser.new_page()
            page.goto(url)
            page.wait_for("window.edgehar && window.edgehar.ready === true", timeout=120)
            page.set_file("#file", SAMPLE_LOG)
            page.wait_for("(window.edgehar.page.last || {}).preds", timeout=120)
            page.evaluate("document.getElementById('start').click()")
            page.wait_for("window.edgehar.live && window.edgehar.live.running")
            n = page.evaluate(f"{DISPATCH}({json.dumps(motion_rows())})")
            page.wait_for(f"document.getElementById('current').textContent && {n} > 0")
            page.screenshot(args.out)
    finally:
        server.shutdown()
        server.server_close()
    print(f"-> {args.out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
