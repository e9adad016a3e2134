"""``edgehar export``: run dir -> bundle (ONNX/TFLite, FP32/INT8, manifest, chain, golden)."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.files import atomic_path, sha256, write_json
from ..runtime.model import SCHEMA_VERSION, Backend, Model, OnnxRunner, TFLiteRunner, silenced_fds
from ..runtime.spec import WindowSpec
from .chain import Chain
from .converters import INPUT_NAME, export_onnx, export_tflite, onnx_metadata, validate
from .formats import FILENAMES, STEPS, TORCH_FP32, Format, Precision, Step, steps_for

FLOAT_ATOL = 1e-3   # max |logit diff| a float conversion may add (DESIGN: < 1e-3)
GOLDEN_WINDOWS = 8


@dataclass
class ExportOptions:
    int8: bool = False
    max_drop_pp: float = 1.0
    calib_windows: int = 512
    calib_seed: int = 0
    # Layers kept in float inside the INT8 models. The stem sees the raw normalized input;
    # quantizing it (per-tensor int8 over nine channels) cost 2.1 pp on the validation
    # subjects, keeping it float 0.15 pp, for 7 % of the MACs (docs/results.md).
    float_modules: tuple[str, ...] = ("stem",)
    chain_split: str = "test"          # "val" to make quantization choices without test data
    formats: frozenset[Format] = frozenset({Format.ONNX, Format.TFLITE})
    source: str | None = None          # data source; default: the run's own
    max_test_windows: int | None = None  # tests only: score the chain on a slice


@dataclass
class ExportResult:
    bundle: Path
    chain: Chain
    manifest: dict

    @property
    def ok(self) -> bool:
        return not self.chain.failed


@contextlib.contextmanager
def quiet_converters():
    """The converters narrate every pass on stdout/stderr (torch.onnx, ONNX Runtime's
    calibrator, MLIR's C++ logs). Keep the export output to the chain; set EDGEHAR_VERBOSE=1
    to see them."""
    if os.environ.get("EDGEHAR_VERBOSE"):
        yield
        return
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), silenced_fds((1, 2)):
        yield


def _runner(path: Path):
    return TFLiteRunner(path) if path.suffix == ".tflite" else OnnxRunner(path)


def _io_details(runner, path: Path) -> dict:
    io = {t: {"name": i.name, "shape": list(i.shape), "dtype": i.dtype, "scale": i.scale,
              "zero_point": i.zero_point}
          for t, i in (("input", runner.input), ("output", runner.output))}
    if path.suffix == ".onnx":
        scale = _onnx_output_qdq_scale(path)
        if scale is not None:  # a QDQ graph dequantizes its int8 logits to float
            io["output"]["qdq_scale"] = scale
    return io


def _onnx_output_qdq_scale(path: Path) -> float | None:
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    out = g.output[0].name
    init = {t.name: t for t in g.initializer}
    for node in g.node:
        if out in node.output and node.op_type == "DequantizeLinear" and node.input[1] in init:
            return float(numpy_helper.to_array(init[node.input[1]]).reshape(-1)[0])
    return None


def _convert(step: Step, model, out: Path, calib, metadata: dict, bundle: Path,
             opts: ExportOptions) -> None:
    from ..quantize.onnx_int8 import quantize_onnx
    from ..quantize.tflite_int8 import quantize_tflite
    from ..train.models import tflite_view

    if step.name == "onnx_fp32":
        export_onnx(model, out, metadata)
    elif step.name == "onnx_int8":
        quantize_onnx(bundle / "model_fp32.onnx", out, calib, INPUT_NAME, opts.float_modules)
        import onnx

        from .converters import add_metadata

        proto = onnx.load(str(out))
        add_metadata(proto, metadata)
        with atomic_path(out) as tmp:
            onnx.save(proto, str(tmp))
    elif step.name == "tflite_fp32":
        export_tflite(tflite_view(model), out)
    elif step.name == "tflite_int8":
        quantize_tflite(tflite_view(model), out, calib, opts.float_modules)
    else:  # pragma: no cover - the table and this switch are edited together
        raise ValueError(step.name)


def export_bundle(run_dir: Path, out: Path, opts: ExportOptions, log=print) -> ExportResult:
    from ..data.windows import cap_windows, load_splits
    from ..quantize.calibration import CalibrationSet
    from ..train.evaluate import load_run
    from ..train.models import count_macs, count_params
    from ..train.trainer import predict_logits

    run_dir, out = Path(run_dir), Path(out)
    model, norm, config = load_run(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = opts.source or config["data"]["source"]
    splits = load_splits(source)
    test = cap_windows(splits[opts.chain_split], opts.max_test_windows, 0)
    x_test = norm.apply(test.x)
    calib = CalibrationSet.draw(norm.apply(splits["train"].x), splits["train"].y,
                                opts.calib_windows, opts.calib_seed)

    shutil.copyfile(run_dir / TORCH_FP32.filename, out / TORCH_FP32.filename)
    core = {
        "schema_version": SCHEMA_VERSION,
        "labels": list(config["window_spec"]["labels"]),
        "sample_rate": config["window_spec"]["sample_rate"],
        "window": config["window_spec"]["window"],
        "hop": config["window_spec"]["hop"],
        "channels": list(config["window_spec"]["channels"]),
        "window_spec": config["window_spec"],
        "normalization": {"kind": "per_channel_standardize",
                          "formula": "(x - mean) / std, applied by the runtime before the model",
                          **config["normalization"]},
        "input_layout": "[batch, window, channels] float32, normalized",
        "output": "logits in label order (the runtime applies softmax)",
    }
    metadata = onnx_metadata(core)
    ref = predict_logits(model, x_test)
    chain = Chain(test.y, ref, opts.max_drop_pp)
    chain.add("torch_fp32", TORCH_FP32.filename, ref, "", True)
    golden_x = x_test[:GOLDEN_WINDOWS]
    golden = {"inputs_normalized": golden_x, "torch_fp32": ref[:GOLDEN_WINDOWS]}
    files = {TORCH_FP32.filename: {"format": "torch", "precision": "fp32",
                                   "sha256": sha256(out / TORCH_FP32.filename),
                                   "parent_sha256": None, "parent": None,
                                   "test_accuracy": chain.rows[0].accuracy,
                                   "test_macro_f1": chain.rows[0].macro_f1}}
    sha_of = {"torch_fp32": files[TORCH_FP32.filename]["sha256"]}
    spec = WindowSpec.from_dict(config["window_spec"])
    mean = np.asarray(norm.mean, np.float32)
    std = np.asarray(norm.std, np.float32)
    model_info = {"name": config["model"], "config": config["model_config"],
                  "params": count_params(model), "macs": count_macs(model)}
    analysis = None

    def write_outputs(done: bool) -> dict:
        manifest = {
            **core,
            "model": model_info,
            "files": files,
            "calibration": {"windows": len(calib), "seed": calib.seed,
                            "source": "train subjects, class-balanced"},
            "quantization": {
                "float_modules": list(opts.float_modules),
                "onnx_int8": "ONNX Runtime static QDQ: per-channel symmetric int8 weights, "
                             "uint8 activations, Percentile 99.999 calibration",
                "tflite_int8": "litert-torch PT2E: per-channel symmetric int8 weights, "
                               "int8 activations (histogram observers)"},
            "metrics_split": opts.chain_split,
            "test_windows": int(len(test.y)),
            "data_source": source,
            "complete": done,
            "exported_with": {"python": platform.python_version()},
        }
        write_json(out / "manifest.json", manifest)
        report = {"max_drop_pp": opts.max_drop_pp, "split": opts.chain_split,
                  "test_windows": int(len(test.y)),
                  "chain": chain.to_json(), "failed_steps": [r.step for r in chain.failed],
                  "int8_layer_sqnr": analysis, "files": sorted(files)}
        write_json(out / "report.json", report)
        with atomic_path(out / "report.md") as tmp:
            tmp.write_text(render_report_md(manifest, report, chain))
        with atomic_path(out / "golden.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **golden)
        return manifest

    for step in steps_for(set(opts.formats), opts.int8):
        path = out / step.filename
        log(f"[{step.name}] converting -> {path.name}")
        try:
            with quiet_converters():
                _convert(step, model, path, calib, metadata, out, opts)
            runner = _runner(path)
        except EdgeharError:
            raise
        except Exception as e:
            write_outputs(False)
            raise EdgeharError(path, f"{step.name} conversion failed: "
                                     f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from e
        is_float = step.precision is Precision.FP32
        validate(step.name, runner, golden_x, ref[:GOLDEN_WINDOWS], FLOAT_ATOL if is_float else None)
        logits = runner(x_test)
        row = chain.add(step.name, step.filename, logits, step.previous, is_float)
        golden[step.name] = runner(golden_x)
        # device_tests replays the shipped sample log and compares with what it gave here.
        golden[f"sample_starts_{step.name}"], golden[f"sample_probs_{step.name}"] = \
            sample_replay(Model(str(path), Backend.of(path), spec, mean, std, runner))
        sha_of[step.name] = sha256(path)
        files[step.filename] = {
            "format": step.format.value, "precision": step.precision.value,
            "sha256": sha_of[step.name], "parent": FILENAMES[step.parent],
            "parent_sha256": sha_of[step.parent], "size_bytes": path.stat().st_size,
            "test_accuracy": row.accuracy, "test_macro_f1": row.macro_f1,
            "signatures": runner.signatures, "io": _io_details(runner, path),
        }
        log(f"[{step.name}] accuracy {100 * row.accuracy:.2f}%  drop {row.drop_vs_torch_pp:+.2f} pp"
            f"  agreement {100 * row.agreement_top1:.2f}%")
        if (not row.passed and step.precision is Precision.INT8 and analysis is None
                and (out / "model_int8.onnx").exists()):
            # Either INT8 step over the limit: show where the quantized graph loses signal.
            analysis = _sqnr(out, calib)
    manifest = write_outputs(True)
    return ExportResult(out, chain, manifest)


def sample_replay(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and probabilities of the shipped sample log through the runtime."""
    from ..runtime.engine import StreamEngine
    from ..runtime.logs import open_log
    from ..runtime.replay import SAMPLE_LOG

    engine = StreamEngine(model)
    starts, probs = [], []
    for chunk in open_log(SAMPLE_LOG):
        p = engine.push(chunk.samples)
        starts.append(p.starts)
        probs.append(p.probs)
    return np.concatenate(starts), np.concatenate(probs)


def _sqnr(out: Path, calib) -> list[dict]:
    from ..quantize.debug import onnx_layer_sqnr

    return onnx_layer_sqnr(out / "model_fp32.onnx", out / "model_int8.onnx", calib, INPUT_NAME)


def render_report_md(manifest: dict, report: dict, chain: Chain) -> str:
    m = manifest["model"]
    lines = [
        f"# Export report: {m['name']}",
        "",
        f"{m['params']:,} parameters, {m['macs'] / 1e6:.2f} M MACs per window. Scored on "
        f"{report['test_windows']} {report['split']}-subject windows; max drop {report['max_drop_pp']} pp.",
        "",
        chain.table(),
        "",
    ]
    if report["failed_steps"]:
        lines += [f"**Failed:** {', '.join(report['failed_steps'])} exceeded the max drop.", ""]
    if report["int8_layer_sqnr"]:
        lines += ["## Where INT8 loses accuracy (ONNX QDQ graph, lowest SQNR first)", "",
                  "| tensor | SQNR vs float (dB) | SQNR across its own QDQ (dB) |", "|---|---|---|"]
        lines += [f"| {r['tensor']} | {r['sqnr_db']:.1f} | {r['qdq_sqnr_db']:.1f} |"
                  for r in report["int8_layer_sqnr"]]
        lines.append("")
    lines += ["## Files", "", "| file | format | precision | size | sha256 | converted from |",
              "|---|---|---|---|---|---|"]
    for name, f in manifest["files"].items():
        lines.append(f"| {name} | {f['format']} | {f['precision']} | "
                     f"{f.get('size_bytes', '-')} | {f['sha256'][:12]} | {f['parent'] or '-'} |")
    return "\n".join(lines) + "\n"


__all__ = ["ExportOptions", "ExportResult", "export_bundle", "STEPS"]
