"""TFLite model metadata, as Android Studio's ML model binding and the TFLite Task Library read it.

The metadata is a ``ModelMetadata`` flatbuffer (TFLite Support's metadata schema, file identifier
``M001``) stored in a model buffer that the model's ``metadata`` list names ``TFLITE_METADATA``,
and its associated files (here ``labels.txt``, the output's axis labels) are packed as a zip
archive appended to the model. Built with the ``flatbuffers`` builder and the TFLite model
schema that ``ai_edge_litert`` ships, so no extra dependency is needed; `tflite-support`'s own
reader (`MetadataDisplayer`) checks the result in CI (``.ci/check_tflite_metadata.py``).

Interpreters ignore both the metadata buffer and the appended zip: the graph, its weights and
its outputs are unchanged (tests compare outputs before and after).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
MIN_PARSER_VERSION = "1.0.0"   # every field written here exists since metadata schema 1.0.0

# field slots of the metadata schema tables (declaration order; a union takes two: type, value)
_MODEL = {"name": 0, "description": 1, "version": 2, "subgraph_metadata": 3, "author": 4,
          "license": 5, "associated_files": 6, "min_parser_version": 7}
_SUBGRAPH = {"name": 0, "description": 1, "input_tensor_metadata": 2,
             "output_tensor_metadata": 3}
_TENSOR = {"name": 0, "description": 1, "dimension_names": 2, "content": 3, "process_units": 4,
           "stats": 5, "associated_files": 6}
_CONTENT = {"content_properties_type": 0, "content_properties": 1}
_PROCESS_UNIT = {"options_type": 0, "options": 1}
_NORMALIZATION = {"mean": 0, "std": 1}
_FILE = {"name": 0, "description": 1, "type": 2}
FEATURE_PROPERTIES = 1            # ContentProperties union member
NORMALIZATION_OPTIONS = 1         # ProcessUnitOptions union member
TENSOR_AXIS_LABELS = 2            # AssociatedFileType


@dataclass(frozen=True)
class ModelDescription:
    name: str
    description: str
    version: str
    labels: tuple[str, ...]
    input_name: str
    input_description: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    output_name: str
    output_description: str
    author: str = "edgehar"
    license: str = "Apache-2.0"


def _table(b, fields: dict[int, tuple[str, object]], n_slots: int) -> int:
    b.StartObject(n_slots)
    for slot, (kind, value) in sorted(fields.items()):
        if kind == "offset":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "byte":
            b.PrependUint8Slot(slot, value, 0)
    return b.EndObject()


def _offsets(b, items: list[int]) -> int:
    b.StartVector(4, len(items), 4)
    for off in reversed(items):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _floats(b, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def metadata_buffer(d: ModelDescription) -> bytes:
    """The ModelMetadata flatbuffer for a classifier with one input and one output."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    s = b.CreateString

    labels_file = _table(b, {_FILE["name"]: ("offset", s(LABELS_FILE)),
                             _FILE["description"]: ("offset", s("class names in output order")),
                             _FILE["type"]: ("byte", TENSOR_AXIS_LABELS)}, 5)
    feature = _table(b, {}, 0)
    norm = _table(b, {_NORMALIZATION["mean"]: ("offset", _floats(b, d.mean)),
                      _NORMALIZATION["std"]: ("offset", _floats(b, d.std))}, 2)
    unit = _table(b, {_PROCESS_UNIT["options_type"]: ("byte", NORMALIZATION_OPTIONS),
                      _PROCESS_UNIT["options"]: ("offset", norm)}, 2)

    def content() -> int:
        return _table(b, {_CONTENT["content_properties_type"]: ("byte", FEATURE_PROPERTIES),
                          _CONTENT["content_properties"]: ("offset", feature)}, 3)

    inp = _table(b, {_TENSOR["name"]: ("offset", s(d.input_name)),
                     _TENSOR["description"]: ("offset", s(d.input_description)),
                     _TENSOR["content"]: ("offset", content()),
                     _TENSOR["process_units"]: ("offset", _offsets(b, [unit]))}, 7)
    out = _table(b, {_TENSOR["name"]: ("offset", s(d.output_name)),
                     _TENSOR["description"]: ("offset", s(d.output_description)),
                     _TENSOR["content"]: ("offset", content()),
                     _TENSOR["associated_files"]: ("offset", _offsets(b, [labels_file]))}, 7)
    sub = _table(b, {_SUBGRAPH["input_tensor_metadata"]: ("offset", _offsets(b, [inp])),
                     _SUBGRAPH["output_tensor_metadata"]: ("offset", _offsets(b, [out]))}, 4)
    model = _table(b, {_MODEL["name"]: ("offset", s(d.name)),
                       _MODEL["description"]: ("offset", s(d.description)),
                       _MODEL["version"]: ("offset", s(d.version)),
                       _MODEL["subgraph_metadata"]: ("offset", _offsets(b, [sub])),
                       _MODEL["author"]: ("offset", s(d.author)),
                       _MODEL["license"]: ("offset", s(d.license)),
                       _MODEL["min_parser_version"]: ("offset", s(MIN_PARSER_VERSION))}, 8)
    b.Finish(model, file_identifier=b"M001")
    return bytes(b.Output())


def with_metadata(model_bytes: bytes, d: ModelDescription) -> bytes:
    """The .tflite with the metadata buffer added (replacing an earlier one) and labels.txt
    packed as an appended zip."""
    from ai_edge_litert import schema_py_generated as schema

    from ..quantize.tflite_file import pack_model, read_model

    model = read_model(model_bytes)
    meta = [m for m in (model.metadata or []) if m.name.decode() != METADATA_NAME]
    buf = schema.BufferT()
    buf.data = list(metadata_buffer(d))
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME.encode()
    entry.buffer = len(model.buffers) - 1
    model.metadata = meta + [entry]
    out = io.BytesIO(pack_model(model))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo(LABELS_FILE, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
        z.writestr(info, "\n".join(d.labels) + "\n")
    return out.getvalue()
