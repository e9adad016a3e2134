"""quantize/mcu.stream_example: the C++ step loop of model_stream.tflite on TFLM parses against
declarations with TFLM's names and signatures (g++ -fsyntax-only; linking against TFLM is not
reachable here), with the positions, arena, ops and orientation slice it was given."""

import re
import shutil
import subprocess

import pytest

from edgehar.quantize.mcu import needed_ops, resolver_method, stream_example
from edgehar.runtime.assets import PRETRAINED

INPUTS = {"samples": 1, "state": 0}               # positions in subgraph 0, deliberately swapped
OUTPUTS = {"probs": 2, "ready": 0, "state": 1}
ORIENTATION = (10, 19)

# TFLM's declarations the example uses, as in tflite-micro's micro_interpreter.h,
# micro_mutable_op_resolver.h and tensorflow/lite/core/c/common.h (trimmed)
INTERPRETER_H = """#pragma once
#include <cstddef>
#include <cstdint>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef struct { int size; int data[1]; } TfLiteIntArray;
typedef union { int32_t* i32; float* f; int8_t* int8; void* raw; } TfLitePtrUnion;
typedef struct { TfLitePtrUnion data; TfLiteIntArray* dims; size_t bytes; } TfLiteTensor;
#define TF_LITE_ENSURE_STATUS(a) do { const TfLiteStatus s_ = (a); if (s_ != kTfLiteOk) return s_; } while (0)
namespace tflite {
struct Model;
const Model* GetModel(const void* buf);
class MicroOpResolver {};
class MicroResourceVariables;
class MicroProfilerInterface;
class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena,
                   size_t tensor_arena_size, MicroResourceVariables* resource_variables = nullptr,
                   MicroProfilerInterface* profiler = nullptr, bool preserve_all_tensors = false);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
};
}  // namespace tflite
"""


def _resolver_h(ops) -> str:
    methods = "\n".join(f"  TfLiteStatus {resolver_method(op)}();" for op in ops)
    return f"""#pragma once
#include "tensorflow/lite/micro/micro_interpreter.h"
namespace tflite {{
template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {{
 public:
{methods}
}};
}}  // namespace tflite
"""


@pytest.fixture(scope="module")
def ops():
    # the network's ops and what the stream graph adds around it
    return list(dict.fromkeys(needed_ops((PRETRAINED / "model_int8.tflite").read_bytes())
                              + ["CONCATENATION", "SLICE", "MUL", "ADD", "SUB", "SOFTMAX"]))


def test_stream_example_carries_what_it_was_given(ops):
    text = stream_example("g_edgehar_stream_model", 23456, INPUTS, OUTPUTS, ops, ORIENTATION)
    assert "kArenaBytes = 23456;" in text and "tflite::GetModel(g_edgehar_stream_model)" in text
    assert "kSamplesInput = 1, kStateInput = 0;" in text
    assert re.search(r"kProbsOutput = 2, kReadyOutput = 0,\s+kStateOutput = 1;", text)
    assert "kOrientationBegin = 10, kOrientationEnd = 19;" in text
    assert f"MicroMutableOpResolver<{len(ops)}>" in text
    assert all(f"resolver_.{resolver_method(op)}()" in text for op in ops)
    fixed = stream_example("g", 1024, INPUTS, OUTPUTS, ops, None)
    assert "kOrientationBegin = 0, kOrientationEnd = 0;" in fixed
    with pytest.raises(ValueError, match="not the step signature"):
        stream_example("g", 1024, {"args_0": 0}, {"output_0": 0}, ops, None)


def test_stream_example_parses_against_tflm_declarations(ops, tmp_path):
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) installed")
    micro = tmp_path / "tensorflow" / "lite" / "micro"
    micro.mkdir(parents=True)
    (micro / "micro_interpreter.h").write_text(INTERPRETER_H)
    (micro / "micro_mutable_op_resolver.h").write_text(_resolver_h(ops))
    src = tmp_path / "stream_example.cc"
    src.write_text(stream_example("g_edgehar_stream_model", 23456, INPUTS, OUTPUTS, ops,
                                  ORIENTATION)
                   + "\nint main() {\n  static EdgeharStream stream;\n  float s[64 * 6], p[6];\n"
                     "  bool ready;\n  if (stream.Begin() != kTfLiteOk) return 1;\n"
                     "  stream.Step(s, p, &ready);\n  stream.Reset(true);\n"
                     "  return stream.Hop() + stream.Classes();\n}\n")
    r = subprocess.run([cxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                        f"-I{tmp_path}", str(src)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]
