"""docs/android.md states the signature, names, shapes and dtypes of the shipped .tflite files."""

import re
from pathlib import Path

from edgehar.runtime.assets import PRETRAINED

DOC = Path(__file__).resolve().parent.parent / "docs" / "android.md"


def _doc_rows():
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0].endswith(".tflite"):
            rows[cells[0]] = cells
    return rows


def test_android_doc_matches_shipped_tflite():
    from ai_edge_litert.interpreter import Interpreter

    rows = _doc_rows()
    assert set(rows) == {"model_int8.tflite", "model_fp32.tflite"}
    for name, (_, sig, in_name, in_shape, in_dtype, out_name, out_shape, out_dtype) in rows.items():
        it = Interpreter(model_path=str(PRETRAINED / name))
        sigs = it.get_signature_list()
        assert list(sigs) == [sig]
        assert sigs[sig]["inputs"] == [in_name] and sigs[sig]["outputs"] == [out_name]
        runner = it.get_signature_runner(sig)
        i = runner.get_input_details()[in_name]
        o = runner.get_output_details()[out_name]
        assert str(i["shape"].tolist()) == in_shape and i["dtype"].__name__ == in_dtype
        assert str(o["shape"].tolist()) == out_shape and o["dtype"].__name__ == out_dtype


def test_android_doc_kotlin_uses_the_same_names():
    text = DOC.read_text()
    assert re.search(r'getSignatureRunner\("serving_default"\)', text)
    assert '"args_0" to input' in text and '"output_0" to output' in text
