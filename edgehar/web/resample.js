// Timestamped sensor rows at any rate -> samples on a 50 Hz grid, as edgehar's Python runtime
// makes them (edgehar/runtime/logs/resample.py, TimedStream + GridAligner, one stream).
//
// The grid is t0 + k / rate, t0 the first row's time. Grid point g is linearly interpolated
// between the last row at or before g + ON_ROW_S and the row after it, so a log written on the
// grid maps one row to one point whatever its time rounding. A row at or before the last kept
// row's time is merged into it (dropped) when within BACKWARD_TOLERANCE_S, an error otherwise.
// An interval longer than maxGap splits the stream: no grid point inside it is produced and the
// first one after it carries newSegment (a stream-file host zeros the state there, except the
// orientation slice the manifest names).
//
//   const r = new Resampler();
//   for (const {t, values} of rows) for (const s of r.push(t, values)) use(s.values);
//   for (const s of r.finish()) use(s.values);
//
// Each sample is {k, t, values, newSegment}: k its grid index from the first row, values a
// Float64Array (the row's channels, e.g. ax ay az gx gy gz).

export const RATE_HZ = 50;
export const ON_ROW_S = 1e-6;
export const BACKWARD_TOLERANCE_S = 0.010;
export const DEFAULT_MAX_GAP_S = 1.0;

export class Resampler {
  constructor({rate = RATE_HZ, maxGap = DEFAULT_MAX_GAP_S} = {}) {
    this.step = 1.0 / rate;
    this.maxGap = maxGap;
    this.t0 = null;
    this.k = 0;              // next grid index to produce
    this.prev = null;        // the row before `last`: {t, v}
    this.last = null;
    this.newSegment = true;
  }

  // Grid samples now known: those strictly before the new row (less ON_ROW_S).
  push(t, values) {
    if (!Number.isFinite(t)) throw new Error(`time value out of range: ${t}`);
    const v = Float64Array.from(values);
    if (this.last === null) {
      this.t0 = t;
      this.last = {t, v};
      return [];
    }
    if (t <= this.last.t) {
      if (this.last.t - t > BACKWARD_TOLERANCE_S) {
        throw new Error(`time runs backwards (${(this.last.t - t).toFixed(3)} s before the row before it)`);
      }
      return [];   // a repeated or slightly early row: merged into the one before
    }
    const out = [];
    if (t - this.last.t > this.maxGap) {
      // points up to the gap's start take the interval across it (as the Python grid does),
      // then the grid resumes at the first point at or after the gap's end
      this.prev = this.last;
      this.last = {t, v};
      this._emitUntil(this._kAt(this.prev.t, false), out);
      this.k = Math.max(this.k, this._kAt(t, true));
      this.newSegment = true;
      return out;
    }
    this.prev = this.last;
    this.last = {t, v};
    while (this._grid(this.k) + ON_ROW_S < t) this._emitOne(out);
    return out;
  }

  // The stream has ended: the grid points up to the last row.
  finish() {
    const out = [];
    if (this.last !== null) this._emitUntil(this._kAt(this.last.t, false), out);
    return out;
  }

  _grid(k) {
    return this.t0 + k * this.step;
  }

  _kAt(t, up) {
    const x = (t - this.t0) / this.step;
    return up ? Math.ceil(x - 1e-9) : Math.floor(x + 1e-9);
  }

  _emitUntil(kLast, out) {
    while (this.k <= kLast) this._emitOne(out);
  }

  _emitOne(out) {
    const g = this._grid(this.k);
    let values;
    if (this.prev === null) {
      values = Float64Array.from(this.last.v);   // a single row so far
    } else {
      const a = this.prev, b = this.last;
      const w = (g - a.t) / (b.t - a.t);
      values = new Float64Array(a.v.length);
      for (let c = 0; c < values.length; c++) values[c] = (b.v[c] - a.v[c]) * w + a.v[c];
    }
    out.push({k: this.k, t: g, values, newSegment: this.newSegment});
    this.newSegment = false;
    this.k += 1;
  }
}
