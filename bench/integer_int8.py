"""Why the stem would not quantize, and what makes it: measured on the VALIDATION subjects.

1. The int8 input tensor alone (fake quantization of the float model's input, nothing else):
   one scale for all nine channels, each channel alone, and the per-channel clips that
   ``export`` chooses on calibration windows (``quantize/input_scaling.py``).
2. Whole integer-only TFLite models through litert-torch PT2E and LiteRT, variants:
   plain (one input range from the data), per-channel clips folded with the calibration windows
   clipped to [-1, 1] (what ``export`` ships), the clips without clipped calibration, and the
   float-stem hybrid the previous bundles shipped.

    python bench/integer_int8.py --model BUNDLE --json docs/results/integer_int8_val.json

BUNDLE's weights are unfolded first when its normalization carries input clips, so every
variant starts from the trained model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from edgehar.data.windows import dataset_of_run
from edgehar.quantize.calibration import CalibrationSet
from edgehar.quantize.input_scaling import choose_clips, fake_quantize
from edgehar.quantize.tflite_int8 import quantize_tflite
from edgehar.runtime.assets import PRETRAINED
from edgehar.runtime.backends import open_runner
from edgehar.train.checkpoint import load_run, predict_logits
from edgehar.train.input_clips import fold_input_clips, unfold_input_clips
from edgehar.train.models import tflite_view


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=PRETRAINED)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    model, norm, config = load_run(args.model)
    model, norm = unfold_input_clips(model, norm)
    splits = dataset_of_run(config.data).splits
    val, train = splits["val"], splits["train"]
    x_val, x_train = norm.apply(val.x), norm.apply(train.x)
    calib = CalibrationSet.draw(x_train, train.y, 512, 0)

    def acc(logits):
        return float((logits.argmax(1) == val.y).mean())

    base = acc(predict_logits(model, x_val))
    out = {"split": "val", "windows": int(len(val.y)), "torch_fp32": base, "input_only": {},
           "tflite_int8": {}}
    absmax = float(np.abs(calib.windows).max())
    one = np.full(x_val.shape[-1], absmax)
    out["input_only"]["one scale, all channels"] = 100 * (base - acc(predict_logits(
        model, fake_quantize(x_val, one))))
    for c, name in enumerate(config.spec.channels):
        x = x_val.copy()
        x[..., c] = fake_quantize(x[..., c:c + 1], one[c:c + 1])[..., 0]
        out["input_only"][f"one scale, only {name}"] = 100 * (base - acc(predict_logits(model, x)))
    clips = choose_clips(lambda w: predict_logits(model, w), calib.windows)
    out["clips"] = clips.tolist()
    out["input_only"]["per-channel clips"] = 100 * (base - acc(predict_logits(
        model, fake_quantize(x_val, clips))))
    for k, v in out["input_only"].items():
        print(f"input only, {k}: drop {v:+.2f} pp")

    f_model, f_norm = fold_input_clips(model, norm, clips)
    xf_val, xf_train = f_norm.apply(val.x), f_norm.apply(train.x)
    variants = {
        "plain (every layer int8)": (model, x_val, x_train, ()),
        "float stem hybrid (previous bundles)": (model, x_val, x_train, ("stem",)),
        "per-channel clips, calibration unclipped": (f_model, xf_val, xf_train, ()),
        "per-channel clips, calibration clipped (shipped)":
            (f_model, xf_val, np.clip(xf_train, -1, 1), ()),
    }
    with tempfile.TemporaryDirectory() as d:
        for i, (name, (m, xv, xt, floats)) in enumerate(variants.items()):
            path = Path(d) / f"v{i}.tflite"
            quantize_tflite(tflite_view(m), path, CalibrationSet.draw(xt, train.y, 512, 0), floats)
            drop = 100 * (base - acc(open_runner(path)(xv)))
            out["tflite_int8"][name] = drop
            print(f"TFLite INT8, {name}: drop {drop:+.2f} pp")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
