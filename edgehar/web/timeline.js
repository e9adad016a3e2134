// The timeline picture of `edgehar plot` (edgehar/report/timeline.py) on a canvas: predictions
// binned in time (at most BINS bins, each at least two hops wide, so a 24-hour log draws as fast
// as a 2-minute one), each bin's majority activity as a band, the true activity beneath when the
// log has a `label` column, prediction-differs-from-truth marks, the mean confidence as a line
// above, empty bins between data (gaps) hatched.

export const BINS = 2400;
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1',
                        '#ff9da7', '#9c755f', '#bab0ac', '#86bcb6', '#d37295'];

// preds: prediction objects; truth: per-sample class ids into `names` (-1: none) or null
export function binPredictions(preds, labels, rate, hop, truth = null, names = null, bins = BINS) {
  const t0 = preds[0].start / rate;
  const t1 = Math.max(preds[preds.length - 1].t, t0 + 1e-3);
  bins = Math.max(1, Math.min(bins, Math.floor((t1 - t0) * rate / (2 * hop))));
  const all = names ? names.slice() : labels.slice();
  const C = all.length;
  const pred = new Int32Array(bins * C), conf = new Float64Array(bins);
  const tru = truth ? new Int32Array(bins * (C + 1)) : null;
  const index = new Map(all.map((n, i) => [n, i]));
  let scored = 0, mismatches = 0;
  for (const w of preds) {
    const mid = (w.start + w.end) / 2 / rate;
    const b = Math.min(Math.max(Math.floor((mid - t0) / (t1 - t0) * bins), 0), bins - 1);
    const k = index.get(w.label);
    pred[b * C + k] += 1;
    conf[b] += w.confidence;
    if (tru) {
      let id = w.end <= truth.length ? truth[w.start] : -1;
      for (let i = w.start + 1; id >= 0 && i < w.end; i++) if (truth[i] !== id) id = -1;
      tru[b * (C + 1) + (id >= 0 ? id : C)] += 1;
      if (id >= 0 && labels.includes(all[id])) {
        scored++;
        if (all[id] !== w.label) mismatches++;
      }
    }
  }
  const edges = Float64Array.from({length: bins + 1}, (_, i) => t0 + (t1 - t0) * i / bins);
  return {edges, bins, pred, conf, truth: tru, names: all, windows: preds.length, scored, mismatches};
}

function majority(counts, bins, width) {
  const out = new Int32Array(bins).fill(-1);
  for (let b = 0; b < bins; b++) {
    let best = -1, most = 0;
    for (let c = 0; c < width; c++) if (counts[b * width + c] > most) { most = counts[b * width + c]; best = c; }
    out[b] = best;
  }
  return out;
}

function unitOf(span) {
  return span > 3 * 3600 ? ['h', 3600] : span > 600 ? ['min', 60] : ['s', 1];
}

export function drawTimeline(canvas, binned, labels, title) {
  const {edges, bins, pred, conf, truth, names} = binned;
  const C = names.length;
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 900;
  const rows = truth ? 2 : 1;
  const cssH = 70 + 34 * rows + 60;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  canvas.style.height = cssH + 'px';
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const left = 78, right = 12, plotW = cssW - left - right;
  const top = 26, confH = 50, bandH = 26, gap = 8;
  const x = t => left + (t - edges[0]) / (edges[bins] - edges[0]) * plotW;
  const colour = k => PALETTE[k % PALETTE.length];
  g.font = '12px system-ui, sans-serif';
  g.fillStyle = '#222';
  g.fillText(title, left, 16);

  const maj = majority(pred, bins, C);
  const predY = top + confH + gap;
  const truthY = predY + bandH + gap;
  // gaps: empty bins between the first and the last bin with data
  const filled = Array.from(maj, k => k >= 0);
  const first = filled.indexOf(true), last = filled.lastIndexOf(true);
  const tile = document.createElement('canvas');
  tile.width = tile.height = 6;
  const tg = tile.getContext('2d');
  tg.strokeStyle = '#bbbbbb';
  tg.beginPath(); tg.moveTo(0, 6); tg.lineTo(6, 0); tg.stroke();
  g.fillStyle = g.createPattern(tile, 'repeat');
  const bottom = (truth ? truthY : predY) + bandH;
  for (let b = first; b >= 0 && b <= last; b++) {
    if (!filled[b]) g.fillRect(x(edges[b]), predY, x(edges[b + 1]) - x(edges[b]), bottom - predY);
  }
  const bands = (counts, width, y) => {
    const m = majority(counts, bins, width);
    let b = 0;
    while (b < bins) {
      let e = b + 1;
      while (e < bins && m[e] === m[b]) e++;
      if (m[b] >= 0 && m[b] < C) {
        g.fillStyle = colour(m[b]);
        g.fillRect(x(edges[b]), y, Math.max(x(edges[e]) - x(edges[b]), 0.5), bandH);
      }
      b = e;
    }
    return m;
  };
  bands(pred, C, predY);
  if (truth) {
    const tmaj = bands(truth, C + 1, truthY);
    g.fillStyle = '#000';
    for (let b = 0; b < bins; b++) {
      if (maj[b] >= 0 && tmaj[b] >= 0 && tmaj[b] < C && labels.includes(names[tmaj[b]]) && maj[b] !== tmaj[b]) {
        g.fillRect(x((edges[b] + edges[b + 1]) / 2) - 0.5, predY - 5, 1, 4);
      }
    }
  }
  // confidence, 0..1, as a line
  g.strokeStyle = '#dddddd';
  g.strokeRect(left, top, plotW, confH);
  g.strokeStyle = '#333333';
  g.lineWidth = 1;
  g.beginPath();
  let pen = false;
  for (let b = 0; b < bins; b++) {
    let n = 0;
    for (let c = 0; c < C; c++) n += pred[b * C + c];
    if (!n) { pen = false; continue; }
    const px = x((edges[b] + edges[b + 1]) / 2), py = top + confH * (1 - conf[b] / n);
    if (pen) g.lineTo(px, py); else g.moveTo(px, py);
    pen = true;
  }
  g.stroke();
  g.fillStyle = '#444';
  g.textAlign = 'right';
  g.fillText('confidence', left - 6, top + confH / 2 + 4);
  g.fillText('predicted', left - 6, predY + bandH / 2 + 4);
  if (truth) g.fillText('truth', left - 6, truthY + bandH / 2 + 4);
  // time axis
  const span = edges[bins] - edges[0];
  const [unit, scale] = unitOf(span);
  const axisY = (truth ? truthY : predY) + bandH + 6;
  g.textAlign = 'center';
  g.strokeStyle = '#888';
  const ticks = 8;
  const stepRaw = span / scale / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(stepRaw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= stepRaw) * scale;
  for (let t = Math.ceil(edges[0] / step) * step; t <= edges[bins] + 1e-9; t += step) {
    const px = x(t);
    g.beginPath(); g.moveTo(px, axisY); g.lineTo(px, axisY + 4); g.stroke();
    g.fillText(String(+(t / scale).toFixed(2)), px, axisY + 16);
  }
  g.fillText(`time (${unit})`, left + plotW / 2, axisY + 32);
  g.textAlign = 'left';
}

export function legendHtml(names) {
  return names.map((n, k) => `<span class="key"><i style="background:${PALETTE[k % PALETTE.length]}"></i>${n}</span>`).join('');
}

export function titleOf(name, binned) {
  const span = binned.edges[binned.bins] - binned.edges[0];
  const [unit, scale] = unitOf(span);
  const acc = binned.scored ? `, ${(100 * (1 - binned.mismatches / binned.scored)).toFixed(1)} % of ${binned.scored} labelled windows right` : '';
  return `${name}: ${binned.windows} windows over ${(span / scale).toFixed(1)} ${unit}${acc}`;
}

// The live strip: the last `seconds` of windows, each drawn over the hop it adds (windows
// overlap by half), in its activity's colour, fainter the less confident.
export function drawStrip(canvas, preds, labels, now, hopS, seconds = 300) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 600, cssH = 40;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = '#f3f3f3';
  g.fillRect(0, 0, cssW, cssH);
  const x = t => (t - (now - seconds)) / seconds * cssW;
  for (let i = preds.length - 1; i >= 0; i--) {
    const w = preds[i];
    if (w.t < now - seconds) break;
    const k = labels.indexOf(w.label);
    g.fillStyle = PALETTE[k % PALETTE.length];
    g.globalAlpha = 0.4 + 0.6 * w.confidence;
    const x0 = Math.floor(x(w.t - hopS));
    g.fillRect(x0, 0, Math.ceil(x(w.t)) - x0, cssH);
  }
  g.globalAlpha = 1;
}
