"""``model_stream.tflite``: the whole runtime pipe as one torch module, converted with
litert-torch (DESIGN.md "Streaming model").

``StreamStep`` is one step of the stream: ``hop`` raw samples and the state in, the window's
probabilities, ``ready`` and the next state out. Everything the Python runtime does between a
raw sample and a probability is inside, with the runtime's own constants:
- both IIR filters as the runtime's block state-space recursion (``runtime/filters.py``, one
  hop = one block, balanced coordinates, so float32 holds over days), started in steady state
  at the first sample of a fresh stream;
- the gravity split into [body_acc, gyro, total_acc] (``runtime/preprocess.py``);
- the window buffer: the previous hop's processed samples (window = 2 x hop);
- the ``running`` orientation estimate (``runtime/orientation.py``: ``WalkingRule``, the mean
  gravity of the walking windows, the rotation onto the manifest's vertical once settled);
- normalization with the folded input clips (what the int8 input tensor can hold), the
  network, softmax.

TFLite Micro has no SELECT kernel, so every "if" is an arithmetic blend ``s + f * (t - s)``
with f in {0, 1}.

State layout (float32, ``state_layout``; offsets for hop 64 and the two 3rd-order filters):
  [0]          started flag (0 on a fresh stream: steady-state filter start, ready = 0)
  [1, 19)      noise low-pass state, (3, 6) row-major
  [19, 28)     gravity low-pass state, (3, 3)
  [28, 604)    the previous hop's processed samples, (64, 9): [body_acc, gyro, total_acc]
  [604, 619)   orientation (``auto`` only; the manifest's ``orientation_slice``):
               [604, 607) summed mean gravity of the walking windows, [607] their count,
               [608, 610) activity of the two previous windows, [610, 619) rotation (3, 3),
               zero until the estimate settles (identity used until then).
A fresh stream (and a restart after a gap, which keeps the orientation slice) begins with the
flag at 0: the filters start in steady state and the activity flags are cleared, as
``RunningOrientation.after_gap`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.filters import _block_matrices
from ..runtime.orientation import ACTIVE_STD_G, SETTLE_WINDOWS
from ..runtime.spec import WindowSpec

SIGNATURE = "step"
INPUTS = ("samples", "state")
OUTPUTS = ("probs", "ready", "state")
RAW = 6   # ax ay az (g), gx gy gz (rad/s)


class NotStreamable(ValueError):
    """A bundle whose window spec the stream file cannot carry (its window is not 2 x hop)."""


@dataclass(frozen=True)
class StateLayout:
    """Offsets into ``state`` (float32 [1, size])."""

    hop: int
    noise_order: int
    gravity_order: int
    orientation: bool

    @property
    def flag(self) -> int:
        return 0

    @property
    def noise(self) -> slice:
        return slice(1, 1 + self.noise_order * RAW)

    @property
    def gravity(self) -> slice:
        return slice(self.noise.stop, self.noise.stop + self.gravity_order * 3)

    @property
    def previous(self) -> slice:
        return slice(self.gravity.stop, self.gravity.stop + self.hop * 9)

    @property
    def gravity_sum(self) -> slice:
        return slice(self.previous.stop, self.previous.stop + 3)

    @property
    def count(self) -> int:
        return self.gravity_sum.stop

    @property
    def recent(self) -> slice:
        return slice(self.count + 1, self.count + 3)

    @property
    def rotation(self) -> slice:
        return slice(self.recent.stop, self.recent.stop + 9)

    @property
    def orientation_slice(self) -> tuple[int, int] | None:
        return (self.gravity_sum.start, self.rotation.stop) if self.orientation else None

    @property
    def size(self) -> int:
        return self.rotation.stop if self.orientation else self.previous.stop

    def describe(self) -> dict[str, list[int]]:
        parts = {"started": [0, 1], "noise_filter": _pair(self.noise),
                 "gravity_filter": _pair(self.gravity), "previous_hop": _pair(self.previous)}
        if self.orientation:
            parts.update(gravity_sum=_pair(self.gravity_sum), walking_count=[self.count,
                                                                             self.count + 1],
                         recent_active=_pair(self.recent), rotation=_pair(self.rotation))
        return parts


def _pair(s: slice) -> list[int]:
    return [s.start, s.stop]


def check_streamable(spec: WindowSpec) -> None:
    if spec.window != 2 * spec.hop:
        raise NotStreamable(f"window {spec.window} is not 2 x hop {spec.hop}: the stream file "
                            "holds one previous hop")


def state_layout(spec: WindowSpec, orientation: bool) -> StateLayout:
    check_streamable(spec)
    return StateLayout(spec.hop, len(spec.noise_filter.a) - 1, len(spec.gravity_filter.a) - 1,
                       orientation)


def input_range(norm, input_tensor=None) -> tuple[float, float] | None:
    """The normalized input's range as the INT8 file sees it: its int8 input tensor's (the
    folded clips make that ~[-1, 1]); None when the bundle has no clips and no int8 input."""
    if input_tensor is not None and input_tensor.scale:
        s, zp = input_tensor.scale, input_tensor.zero_point
        return (-128 - zp) * s, (127 - zp) * s
    return (-1.0, 1.0) if norm.input_clip is not None else None


def folded_affine(norm, scale: float, zero_point: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) float32 with ``rint(x * a + b)`` the int8 input of a raw window, computed as the
    runtime computes them (``runtime.tensors.folded_quantizer`` on ``Model``'s float32 mean
    and std), so that the stream file rounds the same values the runtime rounds."""
    mean = np.asarray(norm.mean, np.float32).astype(np.float64)
    std = np.asarray(norm.std, np.float32).astype(np.float64)
    a = 1.0 / (std * scale)
    return a.astype(np.float32), (zero_point - mean * a).astype(np.float32)


def stream_module(spec: WindowSpec, norm, network, vertical: tuple[float, ...] | None,
                  clip: tuple[float, float] | None, input_quant: tuple[float, int] | None = None):
    """The torch module of one step (``vertical`` None: the ``fixed`` build).

    ``input_quant`` (scale, zero point) of an int8 network's input: the window is normalized
    and scaled to quantization steps with the runtime's own float32 ``a``, ``b``
    (``folded_affine``), then brought back to the scale the network's QUANTIZE divides by, so
    both round the same values. (Measured against ``(x - mean) / std``: the same outputs on the
    test recordings, 100 % agreement either way; kept as the runtime's formula.)"""
    import torch
    from torch import nn

    layout = state_layout(spec, vertical is not None)
    hop = spec.hop

    def block(coeffs):
        powers, obs, toeplitz, drive, steady = _block_matrices(tuple(coeffs.b), tuple(coeffs.a),
                                                               hop)
        f = lambda a: torch.tensor(np.asarray(a, np.float64), dtype=torch.float32)  # noqa: E731
        return f(powers[hop]), f(obs), f(toeplitz), f(drive), f(steady[:, None])

    class StreamStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network
            for name, coeffs in (("noise", spec.noise_filter), ("gravity", spec.gravity_filter)):
                for part, t in zip(("power", "obs", "toeplitz", "drive", "steady"), block(coeffs)):
                    self.register_buffer(f"{name}_{part}", t)
            if input_quant is not None:
                a, b = folded_affine(norm, *input_quant)
                self.register_buffer("in_a", torch.from_numpy(a))
                self.register_buffer("in_b", torch.from_numpy(b - np.float32(input_quant[1])))
                self.register_buffer("in_scale", torch.tensor(input_quant[0], dtype=torch.float32))
            self.register_buffer("mean", torch.tensor(norm.mean, dtype=torch.float32))
            self.register_buffer("inv_std", 1.0 / torch.tensor(norm.std, dtype=torch.float64)
                                 .float())
            v = np.asarray(vertical if vertical is not None else (0, 0, 1), np.float64)
            self.register_buffer("vertical", torch.tensor(v / np.linalg.norm(v),
                                                          dtype=torch.float32))
            self.register_buffer("eye", torch.eye(3))

        def _filter(self, name: str, x, s, fresh):
            """x (hop, c), s (n, c) -> y (hop, c), next state; steady start when fresh."""
            b = lambda p: getattr(self, f"{name}_{p}")  # noqa: E731
            s = s + fresh * (b("steady") * x[:1] - s)
            y = b("obs") @ s + b("toeplitz") @ x
            return y, b("power") @ s + b("drive") @ x

        def forward(self, samples, state):
            st = state[0]
            started = st[0:1]
            fresh = 1.0 - started
            x = samples[0]
            n_noise, n_grav = layout.noise_order, layout.gravity_order
            smooth, noise_s = self._filter("noise", x, st[layout.noise].reshape(n_noise, RAW),
                                           fresh)
            total = smooth[:, :3]
            gravity, grav_s = self._filter("gravity", total,
                                           st[layout.gravity].reshape(n_grav, 3), fresh)
            current = torch.cat([total - gravity, smooth[:, 3:], total], 1)   # (hop, 9)
            window = torch.cat([st[layout.previous].reshape(hop, 9), current], 0)
            ready = started   # step 0 fills the first hop; from step 1 a window ends each step
            parts = [torch.ones(1), noise_s.reshape(-1), grav_s.reshape(-1), current.reshape(-1)]
            if vertical is not None:
                window, orient = self._orientation(window, st, ready)
                parts.append(orient)
            if input_quant is not None:
                z = (window * self.in_a + self.in_b) * self.in_scale
            else:
                z = (window - self.mean) * self.inv_std
            if clip is not None:
                z = torch.clamp(z, clip[0], clip[1])
            logits = self.network(z[None])
            probs = torch.softmax(logits, dim=-1)
            return {"probs": probs, "ready": ready, "state": torch.cat(parts)[None]}

        def _orientation(self, window, st, ready):
            """RunningOrientation on one window; the estimate moves only when ``ready``."""
            total = window[:, 6:9]
            norm_t = torch.sqrt((total * total).sum(1))
            dev = norm_t - norm_t.mean()
            std = torch.sqrt((dev * dev).mean())
            active = (std > ACTIVE_STD_G).float().reshape(1) * ready
            recent = st[layout.recent]
            walking = active * recent[0:1] * recent[1:2]
            gsum = st[layout.gravity_sum] + walking * total.mean(0)
            count = st[layout.count:layout.count + 1] + walking
            settled = (count >= SETTLE_WINDOWS).float() * walking
            rot = st[layout.rotation].reshape(3, 3)
            rot = rot + settled * (_rotation_onto(gsum, self.vertical, self.eye) - rot)
            # a fresh stream's rotation slot is zero: identity until the estimate settles
            held = rot + (1.0 - (count >= SETTLE_WINDOWS).float()) * (self.eye - rot)
            rotated = (window.reshape(-1, 3) @ held.T).reshape(window.shape)
            new_recent = torch.cat([recent[1:2], active]) * ready   # cleared on a fresh step
            return rotated, torch.cat([gsum, count, new_recent, rot.reshape(-1)])

    step = StreamStep()
    step.training = False   # not .eval(): a PT2E-converted network refuses train()/eval()
    return step, layout


def _rotation_onto(a, b, eye):
    """The smallest rotation R with R @ a/|a| == b (unit b), as ``rotations_between``; finite
    for a == 0 (the blend that uses it then discards it)."""
    import torch

    a = a * torch.rsqrt((a * a).sum() + 1e-30)
    v = torch.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])
    c = (a * b).sum()
    zero = torch.zeros(())
    k = torch.stack([torch.stack([zero, -v[2], v[1]]), torch.stack([v[2], zero, -v[0]]),
                     torch.stack([-v[1], v[0], zero])])
    return eye + k + (k @ k) / torch.clamp(1 + c, min=1e-6)


def convert_stream(module, layout: StateLayout, out, quant_config=None) -> None:
    """The module as ``out`` (.tflite) with the one signature ``step``."""
    import litert_torch
    import torch

    from ..runtime.files import atomic_path

    kwargs = {"samples": torch.zeros(1, layout.hop, RAW), "state": torch.zeros(1, layout.size)}
    from ..quantize.tflite_file import compact

    converter = litert_torch.signature(SIGNATURE, module, sample_kwargs=kwargs)
    edge = converter.convert(quant_config=quant_config)
    with atomic_path(out) as tmp:
        edge.export(str(tmp))
        tmp.write_bytes(compact(tmp.read_bytes()))   # outputs bit-identical, ~30 KB smaller


def graph_ops(path) -> list[str]:
    """The operators of a .tflite, in graph order."""
    from ..quantize.tflite_file import op_names, read_model

    return list(op_names(read_model(Path(path).read_bytes())))


def int8_core(ops: list[str]) -> bool:
    """One QUANTIZE and one DEQUANTIZE: the network's integer-only core sits between them."""
    return ops.count("QUANTIZE") == 1 and ops.count("DEQUANTIZE") == 1


def signature_tensors(path) -> tuple[dict[str, str], dict[str, str]]:
    """(inputs, outputs): signature name -> tensor name, read from the converted file."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    sig = it._get_full_signature_list()[SIGNATURE]   # noqa: SLF001 (names by tensor index)
    names = {d["index"]: d["name"] for d in it.get_tensor_details()}
    return ({k: names[i] for k, i in sig["inputs"].items()},
            {k: names[i] for k, i in sig["outputs"].items()})


def build_stream_file(out, model, norm, spec: WindowSpec, calib, input_tensor,
                      vertical: tuple[float, ...] | None, float_modules: tuple[str, ...] = (),
                      int8: bool = True, quantized=None):
    """Write the stream file ``out`` and return its ``StreamInfo``.

    ``model``: the trained torch model with the bundle's folded clips; ``calib``: the
    calibration draw the INT8 file was quantized with (so the embedded network has its
    quantization); ``input_tensor``: the INT8 file's input tensor (its range is the clip);
    ``vertical`` None: the ``fixed`` build. With ``int8`` False (or when the converter leaves
    more than one QUANTIZE/DEQUANTIZE) the network is FP32 and the note says why.
    ``quantized``: ``quantized_network``'s (graph, quantizer) when already made (one
    calibration for several builds)."""
    from ..runtime.manifest import StreamInfo
    from ..train.models import tflite_view

    note = None if int8 else "FP32 network asked for"
    if float_modules:
        note = f"float modules {list(float_modules)}: the network is not integer-only"
    if note is None:
        from litert_torch.quantize import quant_config

        from ..quantize.tflite_int8 import quantized_network

        graph, quantizer = quantized or quantized_network(tflite_view(model), calib)
        # the int8 input tensor saturates as the INT8 file's does: no clamp of its own
        module, layout = stream_module(spec, norm, graph, vertical, None,
                                       (input_tensor.scale, input_tensor.zero_point))
        convert_stream(module, layout, out, quant_config.QuantConfig(pt2e_quantizer=quantizer))
        ops = graph_ops(out)
        if not int8_core(ops):
            note = (f"the converter left {ops.count('QUANTIZE')} QUANTIZE and "
                    f"{ops.count('DEQUANTIZE')} DEQUANTIZE ops: not one integer-only core")
    if note is not None:
        module, layout = stream_module(spec, norm, tflite_view(model).eval(), vertical,
                                       input_range(norm, input_tensor))
        convert_stream(module, layout, out)
    inputs, outputs = signature_tensors(out)
    return StreamInfo(SIGNATURE, spec.hop, layout.size, inputs, outputs,
                      "auto" if vertical is not None else "fixed", layout.orientation_slice,
                      "fp32" if note else "int8", note, tflm_arena(out))


def tflm_arena(path) -> int | None:
    """TFLM's own arena for the file where tflite-micro is installed (the ``mcu`` extra), else
    None. The shipped stream file runs in TFLM (no SELECT: blends instead; every op has a
    kernel); a user's model may need an op TFLM lacks, and TFLM's Python interpreter can then
    crash the process (a segfault, not an error), so the arena is measured in a child process
    and None is the answer when it does not come back."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("tflite_micro") is None:
        return None
    code = ("import sys; from edgehar.quantize.mcu import arena_bytes; "
            "print(arena_bytes(open(sys.argv[1], 'rb').read()))")
    try:
        r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                           text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None
    out = r.stdout.strip().splitlines()
    return int(out[-1]) if r.returncode == 0 and out and out[-1].isdigit() else None


def build_from_bundle(bundle, outs: dict, int8: bool = True, calib_windows: int | None = None,
                      network_out=None) -> dict:
    """Stream files of an exported bundle (its weights, normalization, spec and the
    calibration draw its manifest records), one per orientation in ``outs`` ({"auto": path,
    "fixed": path}): what tests and benches build. Returns {orientation: StreamInfo}.

    ``calib_windows``: calibrate on the first n windows of that draw instead (tests: the full
    draw takes ~2 minutes of histogram observers), and ``network_out``: write the network
    alone as an INT8 .tflite too, so the Python runtime can run the very network the stream
    files hold."""
    from ..data.windows import dataset_of_run
    from ..quantize.calibration import CalibrationSet
    from ..quantize.tflite_int8 import quantized_network
    from ..runtime.backends import open_runner
    from ..runtime.manifest import read_manifest
    from ..runtime.orientation import UCI_VERTICAL
    from ..train.checkpoint import load_run
    from ..train.models import tflite_view

    bundle = Path(bundle)
    model, norm, config = load_run(bundle)
    manifest = read_manifest(bundle)
    check_streamable(config.spec)
    train = dataset_of_run(config.data).splits["train"]
    x = norm.apply(train.x)
    if norm.input_clip is not None:
        x = np.clip(x, -1.0, 1.0)
    calib = CalibrationSet.draw(x, train.y, manifest.calibration.windows,
                                manifest.calibration.seed)
    if calib_windows is not None:
        calib = CalibrationSet(calib.windows[:calib_windows], calib.seed)
    tensor = open_runner(bundle / "model_int8.tflite").input
    known = manifest.orientation
    float_modules = manifest.quantization.float_modules
    quantized = quantized_network(tflite_view(model), calib) \
        if int8 and not float_modules else None
    if network_out is not None and quantized is not None:
        from ..quantize.tflite_int8 import quantize_tflite

        quantize_tflite(tflite_view(model), Path(network_out), calib, quantized=quantized)
    infos = {}
    for orientation, out in outs.items():
        vertical = None if orientation == "fixed" else \
            tuple(known.vertical) if known is not None else UCI_VERTICAL
        infos[orientation] = build_stream_file(out, model, norm, config.spec, calib, tensor,
                                               vertical, float_modules, int8, quantized)
    return infos
