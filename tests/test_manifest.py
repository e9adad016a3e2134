"""The typed bundle manifest: one layout, read one way, older bundles still readable."""

import json
from pathlib import Path

import pytest

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.manifest import (
    ESSENTIAL_KEYS,
    MANIFEST,
    SCHEMA_VERSION,
    FileEntry,
    FileIO,
    KernelParity,
    Manifest,
    McuKit,
    Parity,
    TensorIO,
    read_manifest,
)

# A copy of the bundle manifest the 0.1.0 release shipped (schema 2: the labels also in
# dataset.classes, the source also in data_source); bundles on users' disks look like this.
RELEASE_MANIFEST = Path(__file__).parent / "fixtures" / "release_v1" / "manifest.json"


@pytest.fixture()
def shipped_dict():
    return json.loads(RELEASE_MANIFEST.read_text())


def _as_schema_1(d: dict) -> dict:
    """The layout bundles had before schema 2: the window contract repeated under window_spec."""
    spec = {"sample_rate": d["sample_rate"], "window": d["window"], "hop": d["hop"],
            "channels": d["channels"], "labels": d["labels"],
            "noise_filter": d["filters"]["noise"], "gravity_filter": d["filters"]["gravity"]}
    old = {k: v for k, v in d.items() if k not in ("filters", "failure")}
    return {**old, "schema_version": 1, "window_spec": spec}


def test_todays_layout_round_trips_and_stores_each_fact_once(shipped_dict):
    d = Manifest.from_dict(shipped_dict).to_dict()
    assert d["schema_version"] == SCHEMA_VERSION == 3
    again = Manifest.from_dict(json.loads(json.dumps(d)))
    assert again.to_dict() == d and again.schema_version == SCHEMA_VERSION
    assert "window_spec" not in d   # labels/window/hop/channels live at the top only
    assert "data_source" not in d and d["dataset"]["source"] == "package"
    assert not {"classes", "window", "hop"} & set(d["dataset"])
    m = again
    assert m.labels == tuple(shipped_dict["labels"]) and m.spec.window == 128
    assert m.model_files() == ["model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite",
                               "model_int8.tflite", "model_int8_b64.tflite"]
    assert m.default_file("tflite") == "model_int8.tflite"
    for name, f in m.files.items():
        if f.parent:
            assert f.parent_sha256 == m.files[f.parent].sha256, name


def test_file_records_round_trip_and_keep_the_released_files_layout(shipped_dict):
    """io, parity and mcu load into records and write back the released layout: same keys,
    same order, same values (optional keys only where they were)."""
    files = Manifest.from_dict(shipped_dict).files
    assert json.dumps({n: f.to_dict() for n, f in files.items()}) == \
        json.dumps(shipped_dict["files"])
    assert files["weights.pt"].io is None and files["model_fp32.onnx"].parity is None
    onnx_int8, tflite = files["model_int8.onnx"].io, files["model_int8.tflite"]
    assert isinstance(onnx_int8, FileIO) and onnx_int8.output.qdq_scale > 0
    assert onnx_int8.input.qdq_scale is None and "qdq_scale" not in onnx_int8.input.to_dict()
    assert tflite.io.input == TensorIO("serving_default_args_0", (1, 128, 9), "int8",
                                       tflite.io.input.scale, 0)
    assert list(tflite.parity.kernels) == ["default", "builtin", "tflm"]
    assert tflite.parity.kernels["builtin"] == KernelParity(2, 2, 0.999652052887961)
    assert tflite.parity.kernels["tflm"].top1_agreement_vs_litert > 0.99
    assert isinstance(tflite.mcu, McuKit) and tflite.mcu.arena_bytes == 26400
    assert "CONV_2D" in tflite.mcu.ops
    # each record alone, through JSON and back
    for record in (tflite.io, tflite.io.output, tflite.parity, tflite.parity.kernels["tflm"],
                   tflite.mcu):
        assert type(record).from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert FileEntry.from_dict(tflite.to_dict()) == tflite
    made = Parity("LiteRT BUILTIN_REF", 10, {"default": KernelParity(3, 2, 0.9)})
    assert made.to_dict() == {"reference": "LiteRT BUILTIN_REF", "windows": 10, "default": {
        "max_steps": 3, "allowed_steps": 2, "top1_agreement": 0.9}}
    assert not made.kernels["default"].within


def test_the_released_schema_2_manifest_loads_with_the_same_facts(shipped_dict):
    old = shipped_dict
    assert old["schema_version"] == 2
    m = Manifest.from_dict(old)
    assert m.schema_version == 2
    assert m.labels == tuple(old["labels"]) == m.dataset.classes
    assert (m.spec.sample_rate, m.spec.window, m.spec.hop) == (50, 128, 64)
    assert m.spec.channels == tuple(old["channels"])
    assert m.normalization.to_dict() == old["normalization"]
    assert m.model.name == old["model"]["name"] and m.model.config == old["model"]["config"]
    assert {n: f.to_dict() for n, f in m.files.items()} == old["files"]
    assert m.calibration.to_dict() == old["calibration"]
    assert m.quantization.to_dict() == old["quantization"] and m.quantization.integer_only
    assert m.orientation.to_dict() == old["orientation"]
    assert m.exported_with.python == old["exported_with"]["python"]
    assert m.dataset.source == old["data_source"] == old["dataset"]["source"]
    for k in ("task", "test_fraction", "val_fraction", "split_seed"):
        assert getattr(m.dataset, k) == old["dataset"][k], k
    assert list(m.dataset.test_subjects) == old["dataset"]["test_subjects"]
    assert list(m.dataset.val_subjects) == old["dataset"]["val_subjects"]
    assert (m.metrics_split, m.test_windows, m.complete) == ("test", 2874, True)
    assert not m.trained_on_val and m.budgets.to_dict() == {}
    # the bundle stands in for its run with the same facts
    run = m.run_config()
    assert (run.model, run.labels, run.normalization, run.orientation) == \
        (m.model.name, m.labels, m.normalization, m.orientation)
    assert run.data == m.dataset and run.spec == m.spec


def test_schema_1_bundles_still_load(shipped_dict):
    new = Manifest.from_dict(shipped_dict)
    old = Manifest.from_dict(_as_schema_1(shipped_dict))
    assert old.spec == new.spec and old.normalization == new.normalization
    assert old.files == new.files and old.schema_version == 1 and old.dataset == new.dataset
    assert old.to_dict()["schema_version"] == SCHEMA_VERSION   # written back in today's layout


def test_essentials_are_enough_to_rebuild_the_window_contract(shipped_dict):
    m = Manifest.from_dict(shipped_dict)
    e = m.essentials()
    assert set(e) == set(ESSENTIAL_KEYS)
    lone = Manifest.from_dict(json.loads(json.dumps(e)))
    assert lone.spec == m.spec and lone.normalization == m.normalization and lone.files == {}


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(schema_version=99), "unsupported schema_version 99"),
    (lambda d: d.pop("schema_version"), "unsupported schema_version None"),
    (lambda d: d.pop("filters"), "malformed manifest"),
    (lambda d: d["normalization"].pop("std"), "malformed manifest"),
    (lambda d: d.update(window="many"), "malformed manifest"),
])
def test_bad_manifests_are_one_clear_error(shipped_dict, tmp_path, mutate, message):
    mutate(shipped_dict)
    (tmp_path / MANIFEST).write_text(json.dumps(shipped_dict))
    with pytest.raises(EdgeharError, match=message) as e:
        read_manifest(tmp_path)
    assert str(tmp_path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'"text"'])
def test_a_manifest_that_is_not_a_json_object_is_refused(tmp_path, content):
    (tmp_path / MANIFEST).write_bytes(content)
    with pytest.raises(EdgeharError):
        read_manifest(tmp_path)


def test_exported_with_records_the_tools_and_older_bundles_still_read(shipped_dict):
    """Today's exports record edgehar, torch, litert-torch and onnxruntime versions and the
    date; a 0.1.0 bundle recorded the Python version only and reads with the rest unknown."""
    from edgehar.runtime.manifest import ExportedWith

    old = Manifest.from_dict(shipped_dict).exported_with
    assert old.python == shipped_dict["exported_with"]["python"]
    assert (old.edgehar, old.torch, old.litert_torch, old.onnxruntime, old.date) == (None,) * 5
    assert old.to_dict() == shipped_dict["exported_with"]   # nothing invented on a rewrite
    new = ExportedWith("3.11.7", "0.2.0", "2.13.0", "0.10.0", "1.31.1",
                       "2026-12-03T16:00:00+00:00")
    d = {**shipped_dict, "exported_with": new.to_dict()}
    assert Manifest.from_dict(json.loads(json.dumps(d))).exported_with == new


@pytest.mark.slow   # imports torch, onnxruntime and litert_torch (~5 s)
def test_an_export_records_the_installed_versions():
    for module in ("torch", "onnxruntime", "litert_torch"):
        pytest.importorskip(module)
    from importlib.metadata import version

    import edgehar
    from edgehar.export.bundle import exported_with

    e = exported_with()
    assert e.edgehar == edgehar.__version__ and e.torch == version("torch")
    assert e.onnxruntime == version("onnxruntime") and e.litert_torch == version("litert-torch")
    assert e.date.endswith("+00:00")
