"""How ``--acc-units/--gyro-units auto`` decides, on 30 s pieces of all 61 HAPT recordings.

Every piece (the 30 s a log's units are decided on) is given to ``guess_units`` as recorded
(g, rad/s), with the gyroscope in deg/s, and with the accelerometer in m/s2; prints and writes
the ratio of the gyroscope rate to gravity's turn rate per unit, and the wrong decisions:

    python bench/units_auto.py --json docs/results/units_auto.json
"""

from __future__ import annotations

import argparse

import numpy as np

from edgehar.data.sources import load_package
from edgehar.runtime.files import write_json
from edgehar.runtime.logs.units import CHECK_SAMPLES, guess_units, gyro_to_gravity_turn
from edgehar.runtime.spec import STANDARD_GRAVITY


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    ratios: dict[str, list[float]] = {"rad/s": [], "deg/s": []}
    pieces, wrong, still = 0, [], 0
    for rec in load_package():
        for s in range(0, len(rec.raw) - CHECK_SAMPLES + 1, CHECK_SAMPLES):
            piece = rec.raw[s:s + CHECK_SAMPLES]
            pieces += 1
            for acc_u, gyro_u in (("g", "rad/s"), ("g", "deg/s"), ("m/s2", "rad/s")):
                x = piece.copy()
                x[:, :3] *= STANDARD_GRAVITY if acc_u == "m/s2" else 1.0
                x[:, 3:] *= 180 / np.pi if gyro_u == "deg/s" else 1.0
                if acc_u == "g":
                    r = gyro_to_gravity_turn(x)
                    if r is None:
                        still += gyro_u == "rad/s"
                    else:
                        ratios[gyro_u].append(r)
                got = guess_units(x)
                if got != (acc_u, gyro_u):
                    wrong.append({"experiment": rec.experiment, "user": rec.user,
                                  "start_s": s / 50, "true": [acc_u, gyro_u], "got": list(got)})
    out = {"pieces": pieces, "decisions": 3 * pieces, "wrong": len(wrong), "wrong_cases": wrong,
           "still_pieces": still,
           "ratio_percentiles_0_1_50_99_100": {
               u: np.percentile(r, [0, 1, 50, 99, 100]).round(3).tolist() for u, r in ratios.items()}}
    print(f"{pieces} pieces of 30 s, {3 * pieces} decisions, {len(wrong)} wrong; "
          f"{still} pieces where gravity does not turn (decided by gyroscope noise)")
    for u, r in out["ratio_percentiles_0_1_50_99_100"].items():
        print(f"  gyro/turn ratio with the gyroscope in {u}: min {r[0]}, median {r[2]}, max {r[4]}")
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
