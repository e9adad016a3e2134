// The page: a bundle's model_stream.tflite in the browser (LiteRT.js), fed from a dropped CSV
// log (its timeline) or from this phone's motion sensors (live). `#selftest` replays the shipped
// sample recording and writes its predictions into <pre id="selftest">.

import {decodeText, LogError, parseCsv, STANDARD_GRAVITY} from './csvlog.js';
import {Resampler} from './resample.js';
import {StreamModel, WindowStream} from './stream.js';
import {binPredictions, drawStrip, drawTimeline, legendHtml, PALETTE, titleOf} from './timeline.js';
import {resolveUnits} from './units.js';

const MAX_GAP_S = 1.0;          // as the runtime's --max-gap default: longer gaps split the stream
const MAX_JUMP_S = 1e6;         // ~12 days between two rows: a broken clock, not a pause
const UNLABELLED = new Set(['', '-1', 'NONE', 'UNKNOWN']);
const STEPS_PER_YIELD = 32;     // hops stepped between progress updates
const $ = id => document.getElementById(id);

function oneLine(e) {
  const text = e instanceof Event ? `${e.type} ${(e.target && e.target.src) || ''}`
    : String((e && e.message) || e || 'unknown error');
  const line = text.trim().split('\n')[0].replace(/[\x00-\x1f]/g, '?');
  return line.length > 300 ? line.slice(0, 297) + '...' : line;
}

function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function status(text) {
  $('status').textContent = text;
}

// A growing (n x width) Float64Array.
class Rows {
  constructor(width, capacity = 1 << 14) {
    this.width = width;
    this.data = new Float64Array(capacity * width);
    this.n = 0;
  }

  push(values) {
    if ((this.n + 1) * this.width > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.set(values, this.n * this.width);
    this.n++;
  }
}

// CSV text -> the 50 Hz grid the model sees: {x (n x 6, g and rad/s), k, newSegment, truth ids
// per grid index (or null) and their names, units}
export function gridOf(text, facts) {
  const log = parseCsv(text);
  const rate = facts.sample_rate;
  let names = null, ids = null;
  if (log.labels) {
    names = facts.labels.slice();
    const index = new Map(names.map((n, i) => [n, i + 1]));
    ids = log.labels.map(raw => {
      const name = raw.trim().slice(0, 80);
      if (UNLABELLED.has(name)) return -1;
      if (!index.has(name)) { names.push(name); index.set(name, names.length); }
      return index.get(name);
    });
  }
  const width = ids ? 7 : 6;
  const r = new Resampler({rate, maxGap: MAX_GAP_S});
  const grid = new Rows(width), ks = [], segs = [];
  const row = new Float64Array(width);
  let last = -Infinity;
  const take = samples => {
    for (const s of samples) { grid.push(s.values); ks.push(s.k); segs.push(s.newSegment); }
  };
  for (let i = 0; i < log.rows; i++) {
    const t = log.t[i];
    if (last > -Infinity && t - last > MAX_JUMP_S) throw new LogError(`time jumps by ${(t - last).toPrecision(3)} s at line ${log.lines[i]} (a broken clock?)`);
    for (let c = 0; c < 6; c++) row[c] = log.values[i * 6 + c];
    if (ids) row[6] = ids[i];
    try {
      take(r.push(t, row));
    } catch (e) {
      throw new LogError(`line ${log.lines[i]}: ${oneLine(e)}`);
    }
    last = Math.max(last, t);
  }
  take(r.finish());
  const n = grid.n;
  if (n < facts.window) {
    throw new LogError(`too short for one window (${n} samples at ${rate} Hz, need ${facts.window})`);
  }
  const x = new Float64Array(n * 6);
  let truth = null;
  if (ids) {
    truth = new Int16Array(ks[n - 1] + 1).fill(-1);
    for (let i = 0; i < n; i++) {
      const lab = grid.data[i * 7 + 6];
      const exact = Math.abs(lab - Math.round(lab)) < 1e-6 && Math.round(lab) >= 1;
      truth[ks[i]] = exact ? Math.round(lab) - 1 : -1;
      x.set(grid.data.subarray(i * 7, i * 7 + 6), i * 6);
    }
  } else {
    x.set(grid.data.subarray(0, n * 6));
  }
  const units = resolveUnits(x, n, log.accUnits, log.gyroUnits, rate);
  return {x, n, k: ks, newSegment: segs, truth, names, units, app: log.app, rows: log.rows};
}

// The grid through the stream file: the prediction objects (DESIGN "Prediction output").
export async function predictGrid(model, facts, grid, progress = () => {}) {
  model.reset();
  const windows = new WindowStream(model, facts);
  const preds = [];
  const hop = facts.stream.hop;
  for (let i = 0; i < grid.n; i++) {
    windows.push(grid.k[i], grid.x.subarray(i * 6, i * 6 + 6), grid.newSegment[i]);
    if (i % (hop * STEPS_PER_YIELD) === 0 && i) {
      preds.push(...await windows.drain());
      progress(i / grid.n);
      await new Promise(resolve => setTimeout(resolve, 0));   // let the page draw
    }
  }
  preds.push(...await windows.drain());
  return preds;
}

function render(name, preds, grid, facts) {
  if (!preds.length) throw new LogError('no complete window (each segment between gaps is shorter than one window)');
  const binned = binPredictions(preds, facts.labels, facts.sample_rate, facts.hop,
                                grid.truth, grid.names);
  $('result').hidden = false;
  drawTimeline($('timeline'), binned, facts.labels, titleOf(name, binned));
  $('legend').innerHTML = legendHtml(binned.names);
  const u = grid.units;
  $('details').textContent = `${grid.rows} rows${grid.app && grid.app !== 'edgehar' ? ` (${grid.app})` : ''}, ` +
    `${u.acc_units} and ${u.gyro_units}, median |acc| ${u.median_acc_g} g, ${preds.length} windows`;
  return binned;
}

class Page {
  constructor() {
    this.facts = null;
    this.model = null;
    this.busy = false;
    this.live = null;
  }

  async load() {
    status('loading the model…');
    this.facts = await (await fetch('./model/bundle.json')).json();
    const f = this.facts;
    $('model').textContent = `${f.bundle}/${f.model_file} (sha256 ${f.sha256.slice(0, 12)}…): ` +
      `${f.labels.length} activities at ${f.sample_rate} Hz, a window every ${f.hop / f.sample_rate} s`;
    this.model = await StreamModel.load(f, `./model/${f.model_file}`);
    status('ready: drop a CSV log, or press Start on a phone');
  }

  async analyze(buffer, name) {
    if (this.busy) throw new LogError('still working on the previous file');
    this.busy = true;
    const t0 = performance.now();
    try {
      clearError();
      status(`reading ${name}…`);
      const grid = gridOf(decodeText(buffer), this.facts);
      const t1 = performance.now();
      const preds = await predictGrid(this.model, this.facts, grid,
                                      p => status(`${name}: ${Math.round(100 * p)} %`));
      const t2 = performance.now();
      const binned = render(name, preds, grid, this.facts);
      const ms = performance.now() - t0;
      status(`${name}: ${preds.length} windows in ${(ms / 1000).toFixed(1)} s`);
      // where the time went: reading + grid + units, the model, binning + drawing
      const split = {read_ms: t1 - t0, model_ms: t2 - t1, draw_ms: performance.now() - t2};
      this.last = {name, preds, ms, split, units: grid.units, rows: grid.rows,
                   scored: binned.scored, mismatches: binned.mismatches};
      return this.last;
    } finally {
      this.busy = false;
    }
  }

  async analyzeFile(file) {
    try {
      return await this.analyze(await file.arrayBuffer(), file.name);
    } catch (e) {
      showError(`${file.name}: ${oneLine(e)}`);
      status(`${file.name} could not be read`);
      this.last = {name: file.name, error: oneLine(e)};
      return null;
    }
  }

  async selftest() {
    try {
      const buffer = await (await fetch('./sample.csv')).arrayBuffer();
      const {preds} = await this.analyze(buffer, 'sample.csv');
      $('selftest').textContent = preds.map(p => JSON.stringify(p)).join('\n');
      document.title = 'selftest: done';
    } catch (e) {
      document.title = 'selftest: failed: ' + oneLine(e);
    }
  }
}

// devicemotion -> the model: acceleration including gravity (m/s2) and rotation rate (deg/s;
// alpha, beta, gamma are the rates about the device's x, y, z axes: w3c/deviceorientation#43),
// at the event's time, resampled onto the bundle's rate as a file's rows are.
export class Live {
  constructor(page) {
    this.page = page;
    this.facts = page.facts;
    this.preds = [];
    this.events = 0;
    this.onMotion = e => this.motion(e);
  }

  async start() {
    const DME = window.DeviceMotionEvent;
    if (!DME) throw new LogError('this browser has no motion sensors (DeviceMotionEvent)');
    if (!window.isSecureContext) {
      throw new LogError('motion sensors need a secure context: open the page over https (edgehar web --tls) or http://localhost (adb reverse)');
    }
    if (typeof DME.requestPermission === 'function') {   // iOS: asked on a tap
      const answer = await DME.requestPermission();
      if (answer !== 'granted') throw new LogError(`motion permission ${answer}`);
    }
    // a model of its own: a file chosen meanwhile steps the page's, from its own fresh state
    this.model = await StreamModel.load(this.facts, `./model/${this.facts.model_file}`);
    this.resampler = new Resampler({rate: this.facts.sample_rate, maxGap: MAX_GAP_S});
    this.windows = new WindowStream(this.model, this.facts);
    window.addEventListener('devicemotion', this.onMotion);
    this.running = true;
    // a screen that turns off stops the events (the stream then restarts after the gap)
    try {
      this.wakeLock = navigator.wakeLock ? await navigator.wakeLock.request('screen') : null;
    } catch (e) {
      this.wakeLock = null;   // refused (battery saver): the page still works while it is shown
    }
  }

  stop() {
    window.removeEventListener('devicemotion', this.onMotion);
    this.running = false;
    if (this.wakeLock) this.wakeLock.release().catch(() => {});
    this.wakeLock = null;
  }

  motion(e) {
    const a = e.accelerationIncludingGravity, w = e.rotationRate;
    if (!a || a.x === null) return;
    if (!w || w.alpha === null) {
      this.stop();
      showError('this device gives no rotation rate (gyroscope): the model needs it');
      return;
    }
    this.events++;
    const deg = Math.PI / 180;
    const values = [a.x / STANDARD_GRAVITY, a.y / STANDARD_GRAVITY, a.z / STANDARD_GRAVITY,
                    w.alpha * deg, w.beta * deg, w.gamma * deg];
    let samples;
    try {
      samples = this.resampler.push(e.timeStamp / 1000, values);
    } catch (err) {   // a clock step back: start afresh
      this.resampler = new Resampler({rate: this.facts.sample_rate, maxGap: MAX_GAP_S});
      samples = this.resampler.push(e.timeStamp / 1000, values);
    }
    for (const s of samples) this.windows.push(s.k, s.values, s.newSegment);
    if (samples.length) this.windows.drain().then(preds => this.show(preds));
  }

  show(preds) {
    if (!preds.length) return;
    this.preds.push(...preds);
    const w = preds[preds.length - 1];
    $('current').textContent = w.label.replace(/_/g, ' ').toLowerCase();
    $('confidence').textContent = `${Math.round(100 * w.confidence)} %`;
    $('bar').style.width = `${100 * w.confidence}%`;
    $('bar').style.background = PALETTE[this.facts.labels.indexOf(w.label) % PALETTE.length];
    drawStrip($('strip'), this.preds, this.facts.labels, w.t, this.facts.hop / this.facts.sample_rate);
  }
}

async function main() {
  window.addEventListener('error', e => showError(oneLine(e.error || e.message || e)));
  window.addEventListener('unhandledrejection', e => showError(oneLine(e.reason)));
  const page = new Page();
  window.edgehar = {page};
  const selftest = location.hash === '#selftest';
  try {
    await page.load();
  } catch (e) {
    showError(`the model could not be loaded: ${oneLine(e)}`);
    status('not ready');
    if (selftest) document.title = 'selftest: failed: ' + oneLine(e);
    return;
  }
  const input = $('file'), zone = $('drop');
  input.addEventListener('change', () => { if (input.files[0]) page.analyzeFile(input.files[0]); });
  zone.addEventListener('dragover', e => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', e => {
    e.preventDefault();
    zone.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) page.analyzeFile(file);
  });
  const button = $('start');
  button.addEventListener('click', async () => {
    try {
      if (page.live && page.live.running) {
        page.live.stop();
        button.textContent = 'Start';
        return;
      }
      clearError();
      page.live = new Live(page);
      window.edgehar.live = page.live;
      await page.live.start();
      button.textContent = 'Stop';
      $('current').textContent = 'filling the first window…';
    } catch (e) {
      showError(oneLine(e));
    }
  });
  if (!window.isSecureContext) $('insecure').hidden = false;
  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('./sw.js').catch(() => {});   // offline use is a bonus
  }
  window.edgehar.ready = true;
  if (selftest) await page.selftest();
}

main();
