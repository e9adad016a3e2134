"""The typed bundle manifest: one layout, read one way, older bundles still readable."""

import json

import pytest

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.manifest import (
    ESSENTIAL_KEYS,
    MANIFEST,
    SCHEMA_VERSION,
    Manifest,
    read_manifest,
)


@pytest.fixture()
def shipped_dict(shipped_bundle):
    return json.loads((shipped_bundle / MANIFEST).read_text())


def _as_schema_1(d: dict) -> dict:
    """The layout bundles had before schema 2: the window contract repeated under window_spec."""
    spec = {"sample_rate": d["sample_rate"], "window": d["window"], "hop": d["hop"],
            "channels": d["channels"], "labels": d["labels"],
            "noise_filter": d["filters"]["noise"], "gravity_filter": d["filters"]["gravity"]}
    old = {k: v for k, v in d.items() if k not in ("filters", "failure")}
    return {**old, "schema_version": 1, "window_spec": spec}


def test_shipped_manifest_round_trips_and_stores_each_fact_once(shipped_dict):
    assert shipped_dict["schema_version"] == SCHEMA_VERSION
    m = Manifest.from_dict(shipped_dict)
    assert m.to_dict() == shipped_dict
    assert "window_spec" not in shipped_dict   # labels/window/hop/channels live at the top only
    assert m.labels == tuple(shipped_dict["labels"]) and m.spec.window == 128
    assert m.model_files() == ["model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite",
                               "model_int8.tflite", "model_int8_b64.tflite"]
    assert m.default_file("tflite") == "model_int8.tflite"
    for name, f in m.files.items():
        if f.parent:
            assert f.parent_sha256 == m.files[f.parent].sha256, name


def test_schema_1_bundles_still_load(shipped_dict):
    new = Manifest.from_dict(shipped_dict)
    old = Manifest.from_dict(_as_schema_1(shipped_dict))
    assert old.spec == new.spec and old.normalization == new.normalization
    assert old.files == new.files and old.schema_version == 1
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
