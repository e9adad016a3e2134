// A single-file CSV log, as edgehar's Python runtime reads it (edgehar/runtime/logs/formats.py
// and csvlog.py): which columns hold time, acceleration and rotation rate under edgehar's,
// phyphox's or Physics Toolbox's names, the units the header states, an optional `label`
// column, the rows as numbers (a bad row named by its line), leading rows before the
// accelerometer delivered (all zero) skipped, and times in seconds from the first kept row.
//
//   const log = parseCsv(text);   // throws LogError(message) on anything that is not a log
//   log.t (Float64Array), log.values (Float64Array, rows x 6: ax ay az gx gy gz, header units
//   applied), log.labels (array of names, or null), log.accUnits / log.gyroUnits ('g', 'm/s2',
//   'rad/s', 'deg/s' from the header, or 'auto'), log.app

export class LogError extends Error {}

// time column -> seconds per unit (null: decided from the first value's magnitude)
const TIME_COLUMNS = [['t', 1.0], ['seconds_elapsed', 1.0], ['time (s)', 1.0], ['time', null],
                      ['t_ms', 1e-3], ['timestamp_ns', 1e-9]];
const ACC_FAMILIES = [
  {app: 'Physics Toolbox', names: ['gfx', 'gfy', 'gfz'], units: 'g'},
  {app: 'phyphox', pattern: /^acceleration ([xyz]) \((.+)\)$/d},
  {app: 'edgehar', names: ['ax', 'ay', 'az']},
];
const GYRO_FAMILIES = [
  {app: 'Physics Toolbox', names: ['wx', 'wy', 'wz']},
  {app: 'phyphox', pattern: /^gyroscope ([xyz]) \((.+)\)$/d},
  {app: 'edgehar', names: ['gx', 'gy', 'gz']},
];
const LINEAR = /^linear acceleration ([xyz])/;
const UNIT_NAMES = {'m/s^2': 'm/s2', 'm/s²': 'm/s2', 'm/s2': 'm/s2', 'm s^-2': 'm/s2', 'g': 'g',
                    'rad/s': 'rad/s', 'deg/s': 'deg/s', '°/s': 'deg/s', 'dps': 'deg/s'};
export const STANDARD_GRAVITY = 9.80665;
export const ACC_FACTOR = {'auto': 1.0, 'g': 1.0, 'm/s2': 1.0 / STANDARD_GRAVITY};
export const GYRO_FACTOR = {'auto': 1.0, 'rad/s': 1.0, 'deg/s': Math.PI / 180.0};
const ACCEPTED = 'time: t, seconds_elapsed, time, t_ms, timestamp_ns or "Time (s)"; ' +
  'acceleration: ax,ay,az or gFx,gFy,gFz or "Acceleration x (m/s^2)"; rotation rate: ' +
  'gx,gy,gz or wx,wy,wz or "Gyroscope x (rad/s)"';

function headerUnits(text) {
  const units = UNIT_NAMES[text.trim().toLowerCase()];
  if (units === undefined) throw new LogError(`unknown units '${text}' in the CSV header`);
  return units;
}

function match(header, family) {
  const low = header.map(h => h.toLowerCase());
  if (family.names) {
    if (!family.names.every(n => low.includes(n))) return null;
    return {cols: family.names.map(n => low.indexOf(n)), units: family.units || null};
  }
  const found = {};
  low.forEach((lo, i) => {
    const m = family.pattern.exec(lo);
    if (m && !(m[1] in found)) found[m[1]] = {i, units: header[i].slice(...m.indices[2])};
  });
  if (Object.keys(found).length < 3) return null;
  const units = new Set(['x', 'y', 'z'].map(a => headerUnits(found[a].units)));
  if (units.size > 1) throw new LogError(`the three axes of one sensor in different units (${[...units].sort().join(', ')})`);
  return {cols: ['x', 'y', 'z'].map(a => found[a].i), units: [...units][0]};
}

function sensor(header, families) {
  for (const family of families) {
    const hit = match(header, family);
    if (hit) return {...hit, app: family.app};
  }
  return null;
}

function shown(header) {
  const found = header.join(',');
  return found.length > 80 ? found.slice(0, 80) + '...' : (found || 'nothing');
}

// The columns of a header that holds both sensors: {time, scale, acc, gyro, label, app}.
export function findColumns(header) {
  const low = header.map(h => h.toLowerCase());
  let time = null, scale = null;
  for (const [name, s] of TIME_COLUMNS) {
    if (low.includes(name)) { time = low.indexOf(name); scale = s; break; }
  }
  const acc = sensor(header, ACC_FAMILIES);
  const gyro = sensor(header, GYRO_FAMILIES);
  const missing = [];
  if (time === null) missing.push('a time column');
  if (!acc) missing.push('acceleration');
  if (!gyro) missing.push('rotation rate');
  if (missing.length) {
    const linear = header.find(h => LINEAR.test(h.toLowerCase()));
    if (linear !== undefined && !acc) {
      throw new LogError(`the CSV has linear acceleration ('${linear}': gravity removed); edgehar needs acceleration with gravity (phyphox: 'Acceleration with g')`);
    }
    const single = acc || gyro ? ' (one sensor per file, e.g. a phyphox or Sensor Logger export folder: use edgehar replay on the folder)' : '';
    throw new LogError(`CSV header lacks ${missing.join(' and ')} (found: ${shown(header)}); accepted: ${ACCEPTED}${single}`);
  }
  const apps = new Set([acc.app, gyro.app].filter(a => a !== 'edgehar'));
  return {time, scale, acc: acc.cols, gyro: gyro.cols, accUnits: acc.units, gyroUnits: gyro.units,
          label: header.includes('label') ? header.indexOf('label') : null,
          app: apps.size === 1 ? [...apps][0] : (apps.size ? null : 'edgehar')};
}

// seconds per unit of a `time` column from its first value: elapsed or epoch seconds, epoch
// milliseconds, microseconds, else nanoseconds
export function epochScale(first) {
  const v = Math.abs(first);
  return v < 1e11 ? 1.0 : v < 1e14 ? 1e-3 : v < 1e17 ? 1e-6 : 1e-9;
}

function splitHeader(line) {
  const header = line.replace(/^\ufeff/, '').trim().split(',').map(h => h.trim().replace(/^"+|"+$/g, '').trim());
  const trailingComma = header.length > 1 && header[header.length - 1] === '';
  return {header: trailingComma ? header.slice(0, -1) : header, trailingComma};
}

function number(text, line) {
  const s = text.trim();
  const x = Number(s);
  if (s === '' || Number.isNaN(x)) {
    throw new LogError(`malformed data near line ${line} (could not convert '${s.slice(0, 40)}' to a number)`);
  }
  if (!Number.isFinite(x)) throw new LogError(`NaN or infinite value at line ${line}`);
  return x;
}

// Bytes -> text, refusing what is not UTF-8 text (a picture, a zip) in one line.
export function decodeText(buffer) {
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(buffer);
  } catch (e) {
    throw new LogError('not a text log (bytes that are not UTF-8 text)');
  }
}

export function parseCsv(text) {
  if (text.indexOf('\0') >= 0) throw new LogError('not a text log (binary bytes)');
  const lines = text.split('\n');
  if (!lines.length || !lines[0].trim()) throw new LogError('empty file (no CSV header)');
  const {header, trailingComma} = splitHeader(lines[0]);
  const cols = findColumns(header);
  const width = header.length;
  const numeric = [cols.time, ...cols.acc, ...cols.gyro];
  const accK = ACC_FACTOR[cols.accUnits || 'auto'], gyroK = GYRO_FACTOR[cols.gyroUnits || 'auto'];
  const n = lines.length;
  const t = new Float64Array(n), values = new Float64Array(n * 6), lineOf = new Int32Array(n);
  const labels = cols.label !== null ? [] : null;
  let rows = 0, skipped = 0, origin = null, scale = cols.scale;
  for (let i = 1; i < n; i++) {
    let ln = lines[i];
    if (ln.endsWith('\r')) ln = ln.slice(0, -1);
    if (!ln.trim()) continue;
    if (trailingComma && ln.endsWith(',')) ln = ln.slice(0, -1);
    const f = ln.split(',');
    const line = i + 1;
    if (f.length !== width) throw new LogError(`line ${line}: expected ${width} columns, found ${f.length}`);
    const v = numeric.map(c => number(f[c], line));
    if (origin === null) {
      // rows before the accelerometer delivered (Physics Toolbox starts with zeros) are skipped
      if (v[1] === 0 && v[2] === 0 && v[3] === 0) { skipped++; continue; }
      origin = v[0];
      if (scale === null) scale = epochScale(origin);
    }
    t[rows] = (v[0] - origin) * scale;
    lineOf[rows] = line;
    for (let c = 0; c < 3; c++) values[rows * 6 + c] = v[1 + c] * accK;
    for (let c = 3; c < 6; c++) values[rows * 6 + c] = v[1 + c] * gyroK;
    if (labels) labels.push(f[cols.label]);
    rows++;
  }
  if (!rows) throw new LogError(skipped ? 'no row with acceleration data (all zero)' : 'no data rows after the header');
  return {t: t.subarray(0, rows), values: values.subarray(0, rows * 6), labels, rows, skipped,
          lines: lineOf.subarray(0, rows),
          accUnits: cols.accUnits || 'auto', gyroUnits: cols.gyroUnits || 'auto', app: cols.app,
          };
}
