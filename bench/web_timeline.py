"""A 1-hour CSV log chosen on the `edgehar web` page: the time until its timeline is drawn,
measured in headless Chromium (DevTools protocol; no virtual time, which would freeze the
page's clock).

The log is the shipped sample recording (200 s, 50 Hz, g and rad/s, labelled) repeated end to
end with a continuous clock up to one hour: 180,000 rows, 2,811 windows. The page reads it as
a dropped file: UTF-8 check, CSV parse, units auto, 50 Hz grid, model_stream.tflite hop by hop
in LiteRT.js (WASM), binning and drawing. Two figures: the page's own (performance.now()
from reading the file's bytes to the drawn timeline) and the wall time seen from here (from
handing the file to the <input> to the page's result).

    python bench/web_timeline.py --json docs/results/web_timeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from edgehar.runtime.assets import PRETRAINED, SAMPLE_LOG
from edgehar.runtime.entry import run_main
from edgehar.web import litertjs
from edgehar.web.headless import Chromium
from edgehar.web.server import build_site, serve_in_thread


def hour_log(path: Path, seconds: float = 3600.0) -> int:
    """The sample repeated up to ``seconds`` (a continuous 50 Hz clock); returns its rows."""
    lines = SAMPLE_LOG.read_text().splitlines()
    header, rows = lines[0], [ln.split(",", 1) for ln in lines[1:]]
    period = len(rows) / 50.0
    out, n, k = [header], 0, 0
    while True:
        for t, rest in rows:
            tt = float(t) + k * period
            if tt >= seconds:
                path.write_text("\n".join(out) + "\n")
                return n
            out.append(f"{tt:.2f},{rest}")
            n += 1
        k += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (a fresh page each)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "hour.csv"
        rows = hour_log(log, args.seconds)
        size = log.stat().st_size
        site = build_site(PRETRAINED)
        server, url = serve_in_thread(site)
        runs = []
        try:
            with Chromium() as browser:
                for _ in range(args.repeats):
                    page = browser.new_page()
                    page.goto(url)
                    page.wait_for("window.edgehar && window.edgehar.ready === true", timeout=120)
                    t0 = time.perf_counter()
                    page.set_file("#file", log)
                    last = page.wait_for("(window.edgehar.page.last || {}).name === 'hour.csv' && "
                                         "{ms: window.edgehar.page.last.ms, windows: "
                                         "window.edgehar.page.last.preds.length, error: "
                                         "window.edgehar.page.last.error, split: "
                                         "window.edgehar.page.last.split}", timeout=600)
                    wall = time.perf_counter() - t0
                    if last.get("error"):
                        raise SystemExit(f"the page refused the log: {last['error']}")
                    drawn = page.evaluate("!document.getElementById('result').hidden")
                    split = {k: round(v / 1000, 2) for k, v in last["split"].items()}
                    runs.append({"page_s": round(last["ms"] / 1000, 2), "wall_s": round(wall, 2),
                                 "windows": last["windows"], "drawn": drawn,
                                 "read_s": split["read_ms"], "model_s": split["model_ms"],
                                 "draw_s": split["draw_ms"]})
                    print(f"{rows} rows ({args.seconds / 3600:.2f} h): {last['windows']} windows, "
                          f"timeline drawn in {last['ms'] / 1000:.2f} s (page), {wall:.2f} s (wall); "
                          f"read {split['read_ms']} s, model {split['model_ms']} s, "
                          f"draw {split['draw_ms']} s")
                    browser.call("Target.closeTarget", {"targetId": page.target})
        finally:
            server.shutdown()
            server.server_close()
    result = {"log": f"sample recording repeated to {args.seconds:.0f} s", "rows": rows,
              "log_bytes": size, "runs": runs, "best_page_s": min(r["page_s"] for r in runs),
              "best_wall_s": min(r["wall_s"] for r in runs), "target_s": 10.0,
              "litertjs": litertjs.VERSION, "cpus": os.cpu_count(), "machine": platform.machine(),
              "command": "python bench/web_timeline.py --json docs/results/web_timeline.json"}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.json}")


if __name__ == "__main__":
    sys.exit(run_main(main))
