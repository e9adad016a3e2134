"""Android-ready .tflite files: the labels, tensor descriptions and normalization embedded as
TFLite metadata, read back by readers that are not our writer (the standard zipfile module for
the packed labels.txt; TFLite Support's MetadataDisplayer for the metadata flatbuffer, which
CI runs in a venv of its own: `.ci/run`)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

FILES = ("model_int8.tflite", "model_fp32.tflite")


@pytest.fixture(scope="module")
def manifest(shipped_bundle):
    return json.loads((shipped_bundle / "manifest.json").read_text())


@pytest.mark.parametrize("name", FILES)
def test_packed_labels_are_the_outputs_in_order(shipped_bundle, manifest, name):
    with zipfile.ZipFile(shipped_bundle / name) as z:
        assert z.namelist() == ["labels.txt"]
        labels = z.read("labels.txt").decode().splitlines()
    assert labels == manifest["labels"] and len(labels) == 6


@pytest.mark.parametrize("name", FILES)
def test_tflite_support_reads_the_metadata(shipped_bundle, manifest, name):
    support = pytest.importorskip("tflite_support",
                                  reason="tflite-support lives in its own venv (see .ci/run)")
    md = support.metadata
    disp = md.MetadataDisplayer.with_model_file(str(shipped_bundle / name))
    meta = json.loads(disp.get_metadata_json())
    assert disp.get_packed_associated_file_list() == ["labels.txt"]
    assert disp.get_associated_file_buffer("labels.txt").decode().splitlines() == manifest["labels"]
    sub = meta["subgraph_metadata"][0]
    (out,) = sub["output_tensor_metadata"]
    assert out["associated_files"][0]["name"] == "labels.txt"
    assert out["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
    (inp,) = sub["input_tensor_metadata"]
    norm = inp["process_units"][0]["options"]
    assert inp["process_units"][0]["options_type"] == "NormalizationOptions"
    np.testing.assert_allclose(norm["mean"], manifest["normalization"]["mean"], atol=1e-6)
    np.testing.assert_allclose(norm["std"], manifest["normalization"]["std"], atol=1e-6)
    assert manifest["model"]["name"] in meta["name"]


def test_metadata_leaves_the_graph_and_its_outputs_alone(shipped_bundle, tmp_path):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("flatbuffers")
    from edgehar.export.tflite_metadata import ModelDescription, with_metadata
    from edgehar.runtime.backends import TFLiteRunner

    src = (shipped_bundle / "model_int8.tflite").read_bytes()
    again = with_metadata(src, ModelDescription("x", "y", "1", ("a", "b", "c", "d", "e", "f"),
                                                "in", "in", (0.0,) * 9, (1.0,) * 9, "out", "out"))
    (tmp_path / "m.tflite").write_bytes(again)
    with zipfile.ZipFile(tmp_path / "m.tflite") as z:   # replaced, not stacked
        assert z.read("labels.txt").decode().split() == ["a", "b", "c", "d", "e", "f"]
    g = np.load(shipped_bundle / "golden.npz")
    a = TFLiteRunner(shipped_bundle / "model_int8.tflite")(g["inputs_normalized"])
    b = TFLiteRunner(tmp_path / "m.tflite")(g["inputs_normalized"])
    np.testing.assert_array_equal(a, b)
    ref = TFLiteRunner(shipped_bundle / "model_int8.tflite", kernels="reference")
    np.testing.assert_array_equal(ref(g["inputs_normalized"]), g["tflite_int8"])
