// model_stream.tflite on TensorFlow Lite for Microcontrollers: raw ax ay az (g) and gx gy gz
// (rad/s) at the bundle's rate in, the activity probabilities out (DESIGN.md "Streaming model").
// TFLM addresses tensors by their position in subgraph 0: the `step` signature's names are
// mapped to those positions below, from the file's SignatureDef.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

extern const unsigned char g_edgehar_stream_model[];

class EdgeharStream {
 public:
  static constexpr size_t kArenaBytes = 61136;
  static constexpr size_t kSamplesInput = 0, kStateInput = 1;
  static constexpr size_t kProbsOutput = 0, kReadyOutput = 1,
                          kStateOutput = 2;
  // state[kOrientationBegin, kOrientationEnd) holds the orientation estimate (empty: "fixed")
  static constexpr size_t kOrientationBegin = 604, kOrientationEnd = 619;

  EdgeharStream()
      : interpreter_(tflite::GetModel(g_edgehar_stream_model), resolver_, arena_, kArenaBytes) {}

  // Once, before the first Step: the ops, the tensors in the arena, a fresh (all-zero) state.
  TfLiteStatus Begin() {
    TF_LITE_ENSURE_STATUS(resolver_.AddReshape());
    TF_LITE_ENSURE_STATUS(resolver_.AddSlice());
    TF_LITE_ENSURE_STATUS(resolver_.AddSub());
    TF_LITE_ENSURE_STATUS(resolver_.AddMul());
    TF_LITE_ENSURE_STATUS(resolver_.AddAdd());
    TF_LITE_ENSURE_STATUS(resolver_.AddBatchMatMul());
    TF_LITE_ENSURE_STATUS(resolver_.AddConcatenation());
    TF_LITE_ENSURE_STATUS(resolver_.AddSum());
    TF_LITE_ENSURE_STATUS(resolver_.AddSqrt());
    TF_LITE_ENSURE_STATUS(resolver_.AddMean());
    TF_LITE_ENSURE_STATUS(resolver_.AddGreater());
    TF_LITE_ENSURE_STATUS(resolver_.AddCast());
    TF_LITE_ENSURE_STATUS(resolver_.AddGreaterEqual());
    TF_LITE_ENSURE_STATUS(resolver_.AddRsqrt());
    TF_LITE_ENSURE_STATUS(resolver_.AddMaximum());
    TF_LITE_ENSURE_STATUS(resolver_.AddDiv());
    TF_LITE_ENSURE_STATUS(resolver_.AddFullyConnected());
    TF_LITE_ENSURE_STATUS(resolver_.AddQuantize());
    TF_LITE_ENSURE_STATUS(resolver_.AddTranspose());
    TF_LITE_ENSURE_STATUS(resolver_.AddConv2D());
    TF_LITE_ENSURE_STATUS(resolver_.AddPad());
    TF_LITE_ENSURE_STATUS(resolver_.AddDequantize());
    TF_LITE_ENSURE_STATUS(resolver_.AddSoftmax());
    TF_LITE_ENSURE_STATUS(interpreter_.AllocateTensors());
    Reset(false);
    return kTfLiteOk;
  }

  // Samples per step (hop) and classes, from the tensors' shapes.
  int Hop() { return interpreter_.input(kSamplesInput)->dims->data[1]; }
  int Classes() { return interpreter_.output(kProbsOutput)->dims->data[1]; }

  // A fresh stream zeros the state; after a gap longer than the manifest's max gap the host
  // zeros it except the orientation estimate (keep_orientation), and starts a new hop.
  void Reset(bool keep_orientation) {
    TfLiteTensor* state = interpreter_.input(kStateInput);
    for (size_t i = 0; i < state->bytes / sizeof(float); ++i) {
      const bool orientation = i >= kOrientationBegin && i < kOrientationEnd;
      if (!keep_orientation || !orientation) state->data.f[i] = 0.0f;
    }
  }

  // samples: Hop() x 6 floats, oldest first. probs: Classes() floats, valid when *ready.
  TfLiteStatus Step(const float* samples, float* probs, bool* ready) {
    TfLiteTensor* x = interpreter_.input(kSamplesInput);
    std::memcpy(x->data.f, samples, x->bytes);
    TF_LITE_ENSURE_STATUS(interpreter_.Invoke());
    // outputs first, then the state into its input: TFLM may place an output in the memory of
    // an input whose last use has passed
    const TfLiteTensor* p = interpreter_.output(kProbsOutput);
    std::memcpy(probs, p->data.f, p->bytes);
    *ready = interpreter_.output(kReadyOutput)->data.f[0] == 1.0f;
    const TfLiteTensor* next = interpreter_.output(kStateOutput);
    std::memmove(interpreter_.input(kStateInput)->data.f, next->data.f, next->bytes);
    return kTfLiteOk;
  }

 private:
  alignas(16) uint8_t arena_[kArenaBytes];
  tflite::MicroMutableOpResolver<23> resolver_;
  tflite::MicroInterpreter interpreter_;
};

// Usage:
//   static EdgeharStream stream;                     // the arena lives inside: keep it static
//   if (stream.Begin() != kTfLiteOk) { /* an op missing, or the arena too small */ }
//   float samples[64 * 6], probs[6];                 // Hop() x 6, Classes()
//   bool ready;
//   every Hop() samples at the bundle's rate: stream.Step(samples, probs, &ready);
//   if (ready) { /* probs in the manifest's label order */ }
//   after a gap: stream.Reset(true), and start filling samples from the first one after it.
