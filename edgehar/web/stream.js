// model_stream.tflite in the browser (LiteRT.js, WASM): the host loop around its one signature
// step(samples [1, hop, 6], state [1, S]) -> (probs [1, C], ready [1], state [1, S]), with the
// windows on the Python runtime's grid (edgehar/runtime/stream_file.py, StreamFileEngine):
// windows start at multiples of hop from the stream's first sample; after a gap at grid index
// `at` the state is zeroed except its orientation slice, and the file is fed from the first
// multiple of hop at or after `at`.
//
//   const model = await StreamModel.load(facts, './model/model_stream.tflite');
//   const windows = new WindowStream(model, facts);
//   for (const s of samples) windows.push(s.k, s.values, s.newSegment);   // g and rad/s
//   const preds = await windows.drain();       // prediction objects, DESIGN "Prediction output"

import {loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';

let runtimeLoaded = null;

export class StreamModel {
  constructor(model, facts) {
    this.model = model;
    this.info = facts.stream;
    this.hop = facts.stream.hop;
    this.stateSize = facts.stream.state_size;
    this.state = new Float32Array(this.stateSize);
  }

  static async load(facts, url, wasmDir = './litertjs/core/wasm/') {
    runtimeLoaded = runtimeLoaded || loadLiteRt(wasmDir);
    await runtimeLoaded;
    const model = await loadAndCompile(url, {accelerator: 'wasm'});
    return new StreamModel(model, facts);
  }

  // one hop (Float32Array hop x 6) -> {probs: Float32Array, ready}
  async step(samples) {
    const inputs = {samples: new Tensor(samples, [1, this.hop, 6]),
                    state: new Tensor(this.state, [1, this.stateSize])};
    const y = await this.model.run(this.info.signature, inputs);
    try {
      this.state = y.state.toTypedArray().slice();
      return {probs: y.probs.toTypedArray().slice(), ready: y.ready.toTypedArray()[0] > 0.5};
    } finally {
      for (const t of [...Object.values(inputs), ...Object.values(y)]) t.delete();
    }
  }

  restartAfterGap() {
    const kept = new Float32Array(this.stateSize);
    const slice = this.info.orientation_slice;
    if (slice) kept.set(this.state.subarray(slice[0], slice[1]), slice[0]);
    this.state = kept;
  }

  reset() {
    this.state = new Float32Array(this.stateSize);
  }
}

export function round6(x) {
  return Math.round(x * 1e6) / 1e6;
}

export class WindowStream {
  constructor(model, facts) {
    this.model = model;
    this.labels = facts.labels;
    this.rate = facts.sample_rate;
    this.window = facts.window;
    this.hop = model.hop;
    this.buf = new Float32Array(this.hop * 6);
    this.fill = 0;
    this.started = false;
    this.queue = Promise.resolve();
    this.pending = [];
  }

  _restart(at) {
    // in the queue: the hops pushed before the gap are stepped first, on the state before it
    const keep = this.started;
    this.queue = this.queue.then(() => keep ? this.model.restartAfterGap() : this.model.reset());
    this.started = true;
    this.feedFrom = Math.ceil(at / this.hop) * this.hop;
    this.steps = 0;
    this.fill = 0;
  }

  // one grid sample: its index k, its 6 values (g, rad/s), whether a new segment starts there
  push(k, values, newSegment) {
    if (newSegment || !this.started) this._restart(k);
    if (k < this.feedFrom) return;   // before the hop grid: the runtime only warms its filters
    this.buf.set(values, this.fill * 6);
    if (++this.fill < this.hop) return;
    const hop = this.buf;
    this.buf = new Float32Array(this.hop * 6);
    this.fill = 0;
    const start = this.feedFrom + (this.steps - 1) * this.hop;
    this.steps++;
    this.queue = this.queue.then(async () => {
      const {probs, ready} = await this.model.step(hop);
      if (ready) this.pending.push(this.prediction(start, probs));
    });
  }

  prediction(start, probs) {
    let k = 0;
    for (let c = 1; c < probs.length; c++) if (probs[c] > probs[k]) k = c;
    const end = start + this.window;
    return {start, end, t: end / this.rate, label: this.labels[k], confidence: round6(probs[k]),
            probs: Array.from(probs, round6)};
  }

  // the predictions of every hop pushed so far, once they are computed
  async drain() {
    await this.queue;
    const out = this.pending;
    this.pending = [];
    return out;
  }
}
