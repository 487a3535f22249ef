// @ts-check
/**
 * Arrays on the wire (backend/glassnet/service/encoding.py): uint8 per map, base64, with shape
 * and each map's min/max. value[i] = min[m] + byte[i] / 255 * (max[m] - min[m]), m = i // S.
 * A feature map is drawn the convnetjs way: its smallest value dark, its largest bright.
 * Pure module: no DOM.
 */

/**
 * @typedef {{shape: number[], min: (number|number[]|any), max: (number|number[]|any), data: string}} EncodedArray
 * @typedef {{shape: number[], bytes: Uint8Array, min: Float64Array, max: Float64Array, maps: number, mapSize: number}} Decoded
 */

/** @param {string} b64 @returns {Uint8Array} */
export function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Nested lists or a scalar, flattened in row-major order. @param {any} v @returns {number[]} */
export function flatNumbers(v) {
  if (v === null || v === undefined) return [0];
  if (!Array.isArray(v)) return [Number(v)];
  /** @type {number[]} */
  const out = [];
  const walk = (/** @type {any} */ x) => { if (Array.isArray(x)) x.forEach(walk); else out.push(x == null ? 0 : Number(x)); };
  walk(v);
  return out;
}

/** @param {number[]} shape */
export const sizeOf = (shape) => shape.reduce((a, b) => a * b, 1);

/**
 * Decode an EncodedArray into its bytes and per-map ranges (values are computed on demand).
 * @param {EncodedArray} enc
 * @returns {Decoded}
 */
export function decodeArray(enc) {
  if (!enc || !Array.isArray(enc.shape) || typeof enc.data !== "string") {
    throw new Error("not an encoded array: expected {shape, min, max, data}");
  }
  const bytes = base64ToBytes(enc.data);
  const n = sizeOf(enc.shape);
  if (bytes.length !== n) throw new Error(`encoded array: ${bytes.length} bytes for shape [${enc.shape}] (${n} expected)`);
  const min = Float64Array.from(flatNumbers(enc.min));
  const max = Float64Array.from(flatNumbers(enc.max));
  if (min.length !== max.length || min.length < 1 || n % min.length !== 0) {
    throw new Error(`encoded array: ${min.length} ranges do not divide ${n} values`);
  }
  return { shape: enc.shape.slice(), bytes, min, max, maps: min.length, mapSize: n / min.length };
}

/**
 * The true value of element i.
 * @param {Decoded} d @param {number} i
 */
export function valueAt(d, i) {
  const m = Math.floor(i / d.mapSize);
  return d.min[m] + (d.bytes[i] / 255) * (d.max[m] - d.min[m]);
}

/** All values as floats. @param {Decoded} d @returns {Float32Array} */
export function toFloat(d) {
  const out = new Float32Array(d.bytes.length);
  for (let m = 0; m < d.maps; m++) {
    const lo = d.min[m], span = (d.max[m] - d.min[m]) / 255;
    const o = m * d.mapSize;
    for (let j = 0; j < d.mapSize; j++) out[o + j] = lo + d.bytes[o + j] * span;
  }
  return out;
}

/**
 * Row-major index -> coordinates. @param {number[]} shape @param {number} i @returns {number[]}
 */
export function unravel(shape, i) {
  const out = new Array(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) { out[k] = i % shape[k]; i = Math.floor(i / shape[k]); }
  return out;
}

/** "(16, 24, 24)" @param {number[]} shape */
export const shapeText = (shape) => `(${shape.join(", ")})`;
/** "16×24×24" @param {number[]} shape */
export const shapeTimes = (shape) => shape.join("×");
