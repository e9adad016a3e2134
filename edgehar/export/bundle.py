"""``edgehar export``: run dir -> bundle (ONNX/TFLite, FP32/INT8, manifest, chain, golden).

``export_bundle`` prepares the inputs, runs the rows of the step table (``steps.STEPS``: the
conversions, the batched file, the INT8 parity check, the MCU kit), writes the manifest and
``report.json``, and has ``edgehar.report`` render report.md and report.html from them. A row
that fails ends the export the same way whatever went wrong: its files are removed, the bundle's
manifest says ``complete: false`` and names the failure, and the files already written stay
valid and listed.
"""

from __future__ import annotations

import io
import platform
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.files import atomic_path, sha256, write_json
from ..runtime.manifest import (
    Calibration,
    ExportedWith,
    FileEntry,
    Manifest,
    ModelInfo,
    Quantization,
)
from ..runtime.run_config import RUN_CONFIG, RunConfig
from .chain import Chain
from .converters import ConvertContext, onnx_metadata
from .formats import TORCH_FP32, Format
from .options import ExportOptions
from .steps import GOLDEN_WINDOWS, STEPS, Export, StepFailed, run_step, steps_for

BUNDLE_FILES = ("manifest.json", "report.json", "report.md", "report.html", "golden.npz")


@dataclass
class ExportResult:
    bundle: Path
    chain: Chain
    manifest: Manifest

    @property
    def ok(self) -> bool:
        return not self.chain.failed


class ExportFailed(EdgeharError):
    """A step failed (converter error, unloadable file, outputs off a tolerance)."""

    exit_code = 1


def export_bundle(run_dir: Path, out: Path, opts: ExportOptions, log=print) -> ExportResult:
    """Prepare the inputs, run the rows of the step table, write the manifest and report.json,
    render the reports."""
    ex = _prepare(Path(run_dir), Path(out), opts, log)
    try:
        for step in steps_for(opts):
            run_step(ex, step, log)
    except StepFailed as e:
        ex.manifest.failure = str(e)
        _write(ex)
        raise ExportFailed(out, f"export incomplete: {e}; valid files: "
                                f"{', '.join(ex.manifest.files)} (listed in manifest.json)") from None
    ex.manifest.complete = True
    _write(ex)
    return ExportResult(Path(out), ex.chain, ex.manifest)


def _prepare(run_dir: Path, out: Path, opts: ExportOptions, log) -> Export:
    """The run's model (input clips folded in), its data, the calibration draw, the bundle
    directory cleared of an earlier export's files, the weights, the torch row of the chain
    and the manifest so far."""
    from ..data.windows import cap_windows, dataset_of_run
    from ..quantize.calibration import CalibrationSet
    from ..train.checkpoint import load_run, predict_logits

    if opts.mcu:
        _check_mcu(opts)
    model, norm, config = load_run(run_dir)
    if opts.chain_split == "val" and config.trained_on_val:
        raise EdgeharError(run_dir, "--chain-split val: this run trained on its validation "
                                    "subjects (--select last); use the test split")
    dataset = dataset_of_run(config.data, opts.source)
    train = dataset.splits["train"]
    folded = _fold_input_clips(run_dir, out, opts, model, norm, train, log)
    if folded:
        model, norm = folded
    out.mkdir(parents=True, exist_ok=True)
    test = cap_windows(dataset.splits[opts.chain_split], opts.max_test_windows, 0)
    x_test = norm.apply(test.x)
    x_train = norm.apply(train.x)
    if norm.input_clip is not None:
        x_train = np.clip(x_train, -1.0, 1.0)   # calibrate on what the int8 input can hold
    calib = CalibrationSet.draw(x_train, train.y, opts.calib_windows, opts.calib_seed)
    _remove_stale(out)
    _write_weights(run_dir, out, model if folded else None)
    ref = predict_logits(model, x_test)
    chain = Chain(test.y, ref, opts.max_drop_pp, config.spec.labels)
    torch_row = chain.add(TORCH_FP32.name, TORCH_FP32.filename, ref, "", True)
    manifest = _manifest(config, norm, model, calib, opts, test, dataset)
    sha = sha256(out / TORCH_FP32.filename)
    manifest.files[TORCH_FP32.filename] = FileEntry(
        "torch", "fp32", sha, test_accuracy=torch_row.accuracy, test_macro_f1=torch_row.macro_f1,
        size_bytes=(out / TORCH_FP32.filename).stat().st_size)
    ctx = ConvertContext(model, out, calib, onnx_metadata(manifest.essentials()),
                         opts.float_modules, _tflite_description(manifest))
    return Export(out, opts, manifest, chain, ctx, x_test,
                  golden={"inputs_normalized": x_test[:GOLDEN_WINDOWS],
                          "torch_fp32": ref[:GOLDEN_WINDOWS]},
                  sha_of={TORCH_FP32.name: sha})


def _fold_input_clips(run_dir: Path, out: Path, opts: ExportOptions, model, norm, train, log):
    """(model, norm) with per-channel input clips chosen on a calibration draw and folded in
    (quantize.input_scaling, train.input_clips), or None when they stay as they are."""
    from ..quantize.calibration import CalibrationSet
    from ..quantize.input_scaling import choose_clips
    from ..train.checkpoint import predict_logits
    from ..train.input_clips import fold_input_clips, foldable

    if not (opts.input_scaling and norm.input_clip is None and foldable(model)):
        return None
    if (run_dir / RUN_CONFIG).is_file() and \
            (run_dir / TORCH_FP32.filename).resolve() == (out / TORCH_FP32.filename).resolve():
        raise EdgeharError(out, "export into the training run itself would replace its "
                                "weights with the bundle's; give --out another directory")
    draw = CalibrationSet.draw(norm.apply(train.x), train.y, opts.calib_windows, opts.calib_seed)
    clips = choose_clips(lambda w: predict_logits(model, w), draw.windows)
    model, norm = fold_input_clips(model, norm, clips)
    log("[input] per-channel clips (std): " + " ".join(f"{c:.2f}" for c in norm.input_clip))
    return model, norm


def _remove_stale(out: Path) -> None:
    """An earlier export's files must not outlive its manifest (nor an emptied kit folder)."""
    names = [*BUNDLE_FILES, *(n for st in STEPS for n in st.files)]   # weights.pt: written next
    for name in names:
        (out / name).unlink(missing_ok=True)
    for folder in {(out / n).parent for n in names} - {out}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _write_weights(run_dir: Path, out: Path, folded_model) -> None:
    """The bundle's weights.pt: the folded model's (matching its normalization), else the run's."""
    if folded_model is not None:
        import torch

        buf = io.BytesIO()   # through memory: torch.save names the zip after its file
        torch.save(folded_model.state_dict(), buf)
        with atomic_path(out / TORCH_FP32.filename) as tmp:
            tmp.write_bytes(buf.getvalue())
    elif (run_dir / TORCH_FP32.filename).resolve() != (out / TORCH_FP32.filename).resolve():
        shutil.copyfile(run_dir / TORCH_FP32.filename, out / TORCH_FP32.filename)


def _manifest(config: RunConfig, norm, model, calib, opts: ExportOptions, test,
              dataset) -> Manifest:
    """The bundle's manifest before its steps run (they add the files)."""
    from ..train.models import count_macs, count_params

    return Manifest(
        spec=config.spec, normalization=norm,
        model=ModelInfo(config.model, config.model_config, count_params(model),
                        count_macs(model)),
        calibration=Calibration(len(calib), calib.seed, "train subjects, class-balanced"),
        quantization=Quantization(
            float_modules=tuple(opts.float_modules),
            onnx_int8="ONNX Runtime static QDQ: per-channel symmetric int8 weights, "
                      "uint8 activations, Percentile 99.999 calibration",
            tflite_int8="litert-torch PT2E: per-channel symmetric int8 weights, "
                        "int8 activations (histogram observers), int8 input and output",
            integer_only=None,   # read from the INT8 .tflite's graph once it exists
            input_scaling=("per-channel clips folded into normalization.std and the stem "
                           "(normalization.input_clip)" if norm.input_clip else None)),
        metrics_split=opts.chain_split, test_windows=int(len(test.y)),
        complete=False, exported_with=exported_with(),
        dataset=replace(dataset.spec, test_subjects=tuple(dataset.subjects["test"]),
                        val_subjects=tuple(dataset.subjects["val"])),
        trained_on_val=config.trained_on_val, orientation=config.orientation)


def _version(*dists: str) -> str | None:
    """The installed version of the first of ``dists`` present (None: none is)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def exported_with() -> ExportedWith:
    """This export's tools: edgehar, the converters (torch, litert-torch) and ONNX Runtime
    (the INT8 ONNX quantizer and its scorer), Python, and the date (UTC)."""
    from datetime import datetime, timezone

    from .. import __version__

    return ExportedWith(
        python=platform.python_version(), edgehar=__version__, torch=_version("torch"),
        litert_torch=_version("litert-torch", "litert_torch", "ai-edge-torch"),
        onnxruntime=_version("onnxruntime", "onnxruntime-gpu"),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _write(ex: Export) -> None:
    """manifest.json, report.json and golden.npz, each atomically; then report.md and
    report.html rendered from them."""
    from ..report.bundle import render_reports

    ex.manifest.write(ex.out)
    write_json(ex.out / "report.json", {
        "max_drop_pp": ex.opts.max_drop_pp, "split": ex.opts.chain_split,
        "test_windows": int(len(ex.chain.y_true)),
        "chain": ex.chain.to_json(), "failed_steps": [r.step for r in ex.chain.failed],
        "int8_layer_sqnr": ex.analysis, "files": sorted(ex.manifest.files),
        "complete": ex.manifest.complete, "failure": ex.manifest.failure,
        "latency_ms": ex.latency, "step_seconds": ex.seconds, "stream_parity": ex.stream_parity,
        "notes": ex.notes})
    with atomic_path(ex.out / "golden.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **ex.golden)
    render_reports(ex.out)


def _check_mcu(opts: ExportOptions) -> None:
    import importlib.util

    if Format.TFLITE not in opts.formats or not opts.int8:
        raise EdgeharError(None, "--mcu needs the INT8 tflite model (--formats with tflite)")
    if opts.float_modules:
        raise EdgeharError(None, "--mcu needs an integer-only model: drop --float-modules")
    if importlib.util.find_spec("tflite_micro") is None:
        raise EdgeharError(None, "--mcu measures the arena with TFLM's interpreter: "
                                 "pip install tflite-micro (x86-64 hosts)")


def _tflite_description(m: Manifest):
    from .tflite_metadata import ModelDescription

    spec = m.spec
    return ModelDescription(
        name=f"edgehar {m.model.name}",
        description=(f"Human activity recognition from one {spec.window / spec.sample_rate:.2f} s "
                     f"window of phone accelerometer + gyroscope ({len(m.labels)} classes). "
                     "Preprocessing (filters, gravity split) as in the bundle's manifest.json."),
        version=f"edgehar bundle schema {m.schema_version}",
        labels=tuple(m.labels),
        input_name="window",
        input_description=(f"[1, {spec.window}, {len(spec.channels)}]: "
                           f"{', '.join(spec.channels)} at {spec.sample_rate} Hz, each normalized "
                           "(x - mean) / std with the NormalizationOptions below"),
        mean=tuple(m.normalization.mean), std=tuple(m.normalization.std),
        output_name="logits",
        output_description="one logit per class in labels.txt order; softmax for probabilities")


def quantize_bundle(bundle: Path, opts: ExportOptions, log=print) -> ExportResult:
    """The INT8 half of ``export --int8`` on a bundle exported without it: from the bundle's
    own weights, data spec and chain split, for the formats it holds. The float steps run
    again so the chain is scored in one pass (they come out byte-identical)."""
    from ..runtime.manifest import read_manifest

    m = read_manifest(bundle)
    if TORCH_FP32.filename not in m.files or not (Path(bundle) / TORCH_FP32.filename).is_file():
        raise EdgeharError(bundle, f"no {TORCH_FP32.filename} to quantize from (export the run "
                                   "into a bundle first)")
    formats = frozenset(Format(e.format) for e in m.files.values() if e.format != "torch")
    opts = replace(opts, int8=True, formats=formats or opts.formats,
                   chain_split=m.metrics_split)
    return export_bundle(Path(bundle), Path(bundle), opts, log)


__all__ = ["ExportFailed", "ExportOptions", "ExportResult", "export_bundle", "quantize_bundle",
           "STEPS"]
