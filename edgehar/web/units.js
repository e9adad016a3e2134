// Units "auto", as edgehar's Python runtime decides them (edgehar/runtime/logs/units.py):
// units the CSV header states are used; otherwise the first CHECK_SAMPLES samples of the 50 Hz
// grid (read as g and rad/s) decide which units make physical sense, and the whole log is
// rescaled. Then the same sanity check: total acceleration's median near 1 g, a gyroscope
// within a phone's range.

import {ACC_FACTOR, GYRO_FACTOR, LogError, STANDARD_GRAVITY} from './csvlog.js';

export const CHECK_SAMPLES = 1500;
const ACC_MEDIAN_G = [0.7, 1.4];
const GYRO_P99_MAX_RAD_S = 25.0;
const DEG_RATIO = 4.0;
const STILL_P99_RAD_S = 0.25;
const TURN_MIN_RAD_S = 0.3;
const TURN_MIN_SAMPLES = 25;

function median(a) {
  const s = Float64Array.from(a).sort();
  const n = s.length, h = n >> 1;
  return n % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

// numpy's default (linear) percentile
function percentile(a, q) {
  const s = Float64Array.from(a).sort();
  const x = (s.length - 1) * q / 100, lo = Math.floor(x), hi = Math.ceil(x);
  return s[lo] + (s[hi] - s[lo]) * (x - lo);
}

function accNorms(x, n) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.hypot(x[i * 6], x[i * 6 + 1], x[i * 6 + 2]);
  return out;
}

function gyroAbs(x, n) {
  const out = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.abs(x[i * 6 + 3 + c]);
  return out;
}

// median of |gyro| / (turn rate of the measured gravity direction) where gravity turns; null
// when it hardly turns
export function gyroToGravityTurn(x, n, rate) {
  const k = Math.max(Math.floor(rate / 5), 1);
  if (n < 4 * k) return null;
  const m = n - k + 1;
  const avg = new Float64Array(m * 6);
  for (let c = 0; c < 6; c++) {
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += x[(i + j) * 6 + c] / k;
      avg[i * 6 + c] = s;
    }
  }
  const ratios = [];
  let prev = null;
  for (let i = 0; i < m; i++) {
    const a = [avg[i * 6], avg[i * 6 + 1], avg[i * 6 + 2]];
    const norm = Math.hypot(...a);
    const u = a.map(v => v / (norm > 0 ? norm : 1));
    if (prev) {
      const turn = Math.hypot(u[0] - prev[0], u[1] - prev[1], u[2] - prev[2]) * rate;
      if (turn > TURN_MIN_RAD_S) {
        ratios.push(Math.hypot(avg[i * 6 + 3], avg[i * 6 + 4], avg[i * 6 + 5]) / turn);
      }
    }
    prev = u;
  }
  return ratios.length < TURN_MIN_SAMPLES ? null : median(ratios);
}

export function guessUnits(x, n, rate) {
  const med = median(accNorms(x, n));
  const acc = med * ACC_FACTOR['m/s2'] > ACC_MEDIAN_G[0] && med > 4 ? 'm/s2' : 'g';
  const p99 = percentile(gyroAbs(x, n), 99);
  if (p99 > GYRO_P99_MAX_RAD_S) return [acc, 'deg/s'];
  const ratio = gyroToGravityTurn(x, n, rate);
  if (ratio === null) return [acc, p99 > STILL_P99_RAD_S ? 'deg/s' : 'rad/s'];
  return [acc, ratio > DEG_RATIO ? 'deg/s' : 'rad/s'];
}

export function checkUnits(x, n, accUnits, gyroUnits) {
  const medianG = median(accNorms(x, n));
  const gyroP99 = percentile(gyroAbs(x, n), 99);
  const [lo, hi] = ACC_MEDIAN_G;
  const linear = 'gravity looks removed (linear acceleration); edgehar needs total acceleration';
  if (medianG > hi) {
    const likely = 7 < medianG && medianG < 12 ? 'the log looks like m/s2 in a header that says g'
      : medianG / STANDARD_GRAVITY < lo ? linear : 'the units cannot be g nor m/s2';
    throw new LogError(`median |acceleration| is ${medianG.toFixed(2)} g read as ${accUnits}, not about 1 g: ${likely}`);
  }
  if (medianG < lo) {
    throw new LogError(`median |acceleration| is ${medianG.toFixed(2)} g read as ${accUnits}, not about 1 g: ${linear}`);
  }
  if (gyroP99 > GYRO_P99_MAX_RAD_S) {
    throw new LogError(`gyroscope reaches ${gyroP99.toFixed(0)} rad/s (99th percentile) read as ${gyroUnits}: not a phone's rotation rate`);
  }
  return {acc_units: accUnits, gyro_units: gyroUnits, median_acc_g: +medianG.toFixed(3),
          gyro_p99_rad_s: +gyroP99.toFixed(3)};
}

// Decide the units still 'auto' on the first samples of the grid `x` (rows x 6, already in
// the header's units where it states them), rescale all of `x` in place, check; returns the
// units in force and the check's figures.
export function resolveUnits(x, total, accUnits, gyroUnits, rate) {
  const n = Math.min(total, CHECK_SAMPLES);
  let acc = accUnits, gyro = gyroUnits;
  if (acc === 'auto' || gyro === 'auto') {
    const [ga, gg] = guessUnits(x, n, rate);
    const ka = acc === 'auto' ? ACC_FACTOR[ga] : 1.0, kg = gyro === 'auto' ? GYRO_FACTOR[gg] : 1.0;
    if (ka !== 1.0 || kg !== 1.0) {
      for (let i = 0; i < total; i++) {
        for (let c = 0; c < 3; c++) x[i * 6 + c] *= ka;
        for (let c = 3; c < 6; c++) x[i * 6 + c] *= kg;
      }
    }
    acc = acc === 'auto' ? ga : acc;
    gyro = gyro === 'auto' ? gg : gyro;
  }
  return checkUnits(x, n, acc, gyro);
}
