"""INT8 parity by TFLite's semantics.

The golden outputs of an INT8 .tflite come from LiteRT's reference kernels (``BUILTIN_REF``),
the definition of what each integer op computes. Every other implementation of the same ops
is allowed a stated number of output quantization steps from them, for a stated reason.

What is measured, op by op (every intermediate int8 tensor compared with the reference's; the
shipped file, 1,358 validation and 2,874 test windows; docs/results/parity_layers.json)::

    python bench/parity_layers.py --model edgehar/assets/pretrained \
        --json docs/results/parity_layers.json

- TFLM: identical to the reference in every op but the last, FULLY_CONNECTED, which differs by
  one step in 3 validation / 8 test windows, always on a negative logit (below the zero point):
  a rounding of negative values; no intermediate tensor differs.
- LiteRT builtin (optimized) kernels: first differ at a 1x1 CONV_2D in every window (test: op 7,
  the first block's last conv, in 2,857; op 8, its shortcut, in 16; op 13 in 1); the only ops
  that introduce differences from identical inputs are the six 1x1 convolutions that feed an ADD
  (ops 7, 8, 13, 14, 19, 20, no fused ReLU), and every value they change is negative. The 1x1
  convolutions followed by a ReLU (4, 10, 16), the grouped 5x1 ones, ADD and MEAN never
  introduce one: the optimized path rounds some negative values differently from the reference
  (its requantization), and a ReLU's output (zero point -128) holds no negative value.
- XNNPACK (default): first differs at the stem (op 3, 5x1 CONV_2D) in 93 % of the test windows and
  at the next 1x1 in most others; it re-rounds positive values too (fp32 requantization).
- OpenVINO's TFLite frontend: not supported, no tolerance (docs/experiments/, "Parity across
  interpreters": 16 steps, a per-class bias from the FULLY_CONNECTED bias tensor's own scale).

The allowed steps are set on the VALIDATION subjects and checked on the TEST subjects, whose
windows the export's parity row runs (``edgehar export``'s chain split): twice the validation
maximum. The factor 2 is the headroom that keeps a larger or different set of windows, or another
CPU, from failing an export that is correct: the test split holds 2.1x the validation windows
and the maximum of a tail grows with the count (XNNPACK: 7 steps on validation, 11 on test, x1.6),
and a re-export converts the weights into a file that is not bit-identical: ``edgehar export
edgehar/assets/pretrained --int8 --mcu`` here wrote a file whose test windows measure TFLM 1,
builtin 3, XNNPACK 10 steps (within 2, 4, 14; the builtin 2 allowed before would have failed
it), and the builtin kernels' path depends on the CPU's instruction set (an earlier note: 3 steps
on the x86-64 CI machine).
"""

from __future__ import annotations

import numpy as np

# allowed = 2 x the maximum on the validation windows (bench/parity_layers.py, above)
HEADROOM = 2
VALIDATION_MAX_STEPS = {"reference": 0, "tflm": 1, "builtin": 3, "default": 13}

TOLERANCE_STEPS = {
    # the definition itself
    "reference": 0,
    # TFLM's int8 kernels are ports of the reference kernels; only FULLY_CONNECTED rounds a
    # negative logit one step off: validation 1, test 1 (17 of 2,874 windows)
    "tflm": HEADROOM * VALIDATION_MAX_STEPS["tflm"],
    # LiteRT's optimized builtin kernels: the 1x1 convolutions without a ReLU round negative
    # values their own way, carried through the ADDs: validation 3, test 2
    "builtin": HEADROOM * VALIDATION_MAX_STEPS["builtin"],
    # XNNPACK (LiteRT's default delegate on phones and Pis) requantizes in fp32 (multiply by the
    # float scale, round half to even) instead of the reference's fixed-point multiplier with
    # round half away from zero: a step per layer where they disagree, from the stem on, carried
    # through the 14 quantized layers (13 convolutions, the fully connected head) to the logits.
    # Validation 13, test 11 (shipped bundle, docs/results/parity_layers.json)
    "default": HEADROOM * VALIDATION_MAX_STEPS["default"],
}

# A raw log replayed through an INT8 file on another machine than the one that stored the replay:
# the float preprocessing (filters, normalization) may differ in its last bits between CPUs
# (numpy's SIMD paths), which moves an input that sits on an int8 rounding edge by one step, and
# that step travels through the layers. Shipped ONNX INT8 file, sample log, stored on the release
# machine and replayed on an AVX2 x86-64 machine: 4 output steps (0.12 logits), one window
# changed label, an exact tie. 6 allowed; a label may change only where the stored top-2 gap
# is within twice that.
REPLAY_STEPS = 6

# The stream file's probabilities on two interpreters (or against the Python runtime): the same
# INT8 network, fed by float32 filters where the runtime's are float64, and run by kernels that
# round their own way (above); an input on an int8 rounding edge moves a window's probabilities
# by up to 0.07 (shipped bundle, sample recording: LiteRT's reference kernels and TFLM against
# XNNPACK, 2 of 155 windows; 0.011 between the file and the runtime over all test recordings,
# bench/stream_parity.py). Both top-2 probabilities may move by that much in opposite directions,
# so a window may change label only where its reference top-2 probabilities are closer than
# twice it (one window of the sample: gap 0.098, moved by 0.070); the web page's selftest uses the
# same margin.
STREAM_TIE_GAP = 0.15


def output_steps(y: np.ndarray, ref: np.ndarray, scale: float) -> np.ndarray:
    """|y - ref| in output quantization steps (both dequantized with ``scale``)."""
    return np.rint(np.abs(np.asarray(y, np.float64) - ref) / scale).astype(np.int64)


def flips_outside_ties(probs: np.ndarray, ref_probs: np.ndarray, max_gap: float) -> int:
    """Windows whose top-1 differs from the reference's although the reference's top-2 logit
    gap (log p1 / p2) exceeds ``max_gap``: a real disagreement, not a tie decided by rounding."""
    flipped = probs.argmax(1) != ref_probs.argmax(1)
    top2 = np.sort(np.log(np.maximum(ref_probs, 1e-30)), axis=1)[:, -2:]
    return int((flipped & (top2[:, 1] - top2[:, 0] > max_gap)).sum())
