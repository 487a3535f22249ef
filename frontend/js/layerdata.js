// @ts-check
/**
 * One sample's layer outputs as drawable map sets, from a prediction (every layer's output for
 * the drawn digit) or from an activations frame (the same, for each of the eight probe digits). Pure module: no DOM.
 */
import { decodeArray } from "./encoding.js";

/**
 * @typedef {import("./heatmap.js").MapSet} MapSet
 * @typedef {{index: number, type: string, kind: "maps"|"vector", shape: number[], set: MapSet}} LayerView
 */

export const ACTIVATION_TYPES = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax"];

/**
 * @param {import("./encoding.js").Decoded} d @param {"maps"|"vector"} kind @param {number[]} shape
 * @returns {MapSet}
 */
function mapSet(d, kind, shape) {
  const per = shape.reduce((a, b) => a * b, 1);
  if (kind === "vector") {
    return { bytes: d.bytes, offset: 0, min: d.min, max: d.max, rangeOffset: 0, maps: per, mapH: 1, mapW: 1, mapSize: 1, rangePerMap: false };
  }
  const [c, h, w] = shape.length === 3 ? shape : [1, shape[0], shape[1] ?? 1];
  return { bytes: d.bytes, offset: 0, min: d.min, max: d.max, rangeOffset: 0, maps: c, mapH: h, mapW: w, mapSize: h * w, rangePerMap: d.maps === c };
}

/**
 * Layers of a prediction (LayerActivation list: per-sample shape, kind, min, max, data).
 * @param {any[]} acts @returns {LayerView[]}
 */
export function fromPrediction(acts) {
  return (acts ?? []).map((a) => {
    const d = decodeArray(a);
    const kind = a.kind === "vector" || a.shape.length === 1 ? "vector" : "maps";
    return { index: a.index, type: a.type, kind, shape: a.shape, set: mapSet(d, kind, a.shape) };
  });
}

/**
 * Decode an activations frame once: the ten probe digits' inputs, labels, probabilities and
 * every layer's output per probe (each a LayerActivation list, like a prediction's).
 * @param {any} frame ActivationsData {step, inputs, probes: [{label, probabilities, layers}]}
 */
export function decodeProbes(frame) {
  return {
    step: frame.step,
    /** @type {number[]} */
    labels: frame.probes.map((/** @type {any} */ p) => p.label),
    /** @type {(number|null)[][]} */
    probabilities: frame.probes.map((/** @type {any} */ p) => p.probabilities),
    inputs: decodeArray(frame.inputs),
    /** @type {LayerView[][]} */
    layers: frame.probes.map((/** @type {any} */ p) => fromPrediction(p.layers)),
  };
}

/**
 * One probe's layers from a decoded activations frame.
 * @param {ReturnType<typeof decodeProbes>} probes @param {number} p 0..9 @returns {LayerView[]}
 */
export const probeLayers = (probes, p) => probes.layers[p] ?? [];

/**
 * A value of a map set. @param {MapSet} s @param {number} m map @param {number} y @param {number} x
 */
export function mapValue(s, m, y = 0, x = 0) {
  const r = s.rangeOffset + (s.rangePerMap ? m : 0);
  const b = s.bytes[s.offset + m * s.mapSize + y * s.mapW + x];
  return s.min[r] + (b / 255) * (s.max[r] - s.min[r]);
}

/**
 * For a dense neuron: its weighted sum z (the dense layer's output, before the activation) and
 * its activation (the next layer's output when that is an activation layer).
 * @param {LayerView[]} layers @param {number} i index in `layers` @param {number} unit
 * @returns {{dense: number, z: number, activation: number|null, fn: string|null} | null}
 */
export function neuronValues(layers, i, unit) {
  const l = layers[i];
  if (!l || l.kind !== "vector") return null;
  if (l.type === "dense") {
    const next = layers[i + 1];
    const act = next && ACTIVATION_TYPES.includes(next.type) && next.set.maps === l.set.maps ? next : null;
    return { dense: i, z: mapValue(l.set, unit), activation: act ? mapValue(act.set, unit) : null, fn: act ? act.type : null };
  }
  const prev = layers[i - 1];
  if (ACTIVATION_TYPES.includes(l.type) && prev && prev.type === "dense") {
    return { dense: i - 1, z: mapValue(prev.set, unit), activation: mapValue(l.set, unit), fn: l.type };
  }
  return null;
}

/**
 * One colour scale for a whole layer: the maps' bytes re-quantised from their own ranges onto the
 * layer's [lo, hi] (value = min_m + b/255·(max_m − min_m), then (value − lo)/(hi − lo)·255), so a
 * map's brightness compares with its neighbours' and a constant map shows its true level instead
 * of the bottom of its own range. A set that already shares one range is returned as it is.
 * @param {MapSet} s @returns {MapSet & {lo: number, hi: number}}
 */
export function sharedRange(s) {
  const n = s.rangePerMap ? s.maps : 1;
  let lo = Infinity, hi = -Infinity;
  for (let m = 0; m < n; m++) { lo = Math.min(lo, s.min[s.rangeOffset + m]); hi = Math.max(hi, s.max[s.rangeOffset + m]); }
  if (!s.rangePerMap) return { ...s, lo, hi };
  const bytes = new Uint8Array(s.maps * s.mapSize);
  const span = hi - lo;
  for (let m = 0; m < s.maps; m++) {
    const a = s.min[s.rangeOffset + m], b = s.max[s.rangeOffset + m];
    for (let i = 0; i < s.mapSize; i++) {
      const v = a + (s.bytes[s.offset + m * s.mapSize + i] / 255) * (b - a);
      bytes[m * s.mapSize + i] = span > 0 ? Math.round(((v - lo) / span) * 255) : 0;
    }
  }
  return { bytes, offset: 0, min: [lo], max: [hi], rangeOffset: 0, maps: s.maps, mapH: s.mapH, mapW: s.mapW, mapSize: s.mapSize, rangePerMap: false, lo, hi };
}

/**
 * Exact values for a hovered neuron or map value, from the server's float32 numbers
 * (POST /api/explain/activations). `exact.layers[k]` holds layer k's output, row-major.
 * @param {{layers: {index: number, type: string, shape: number[], values: number[]}[], biases: Record<string, number[]>}} exact
 * @param {LayerView[]} layers the drawn layers @param {number} i index in `layers` @param {number} flat row-major index in the layer's output
 * @returns {{value: number, z: number|null, activation: number|null, fn: string|null, bias: number|null} | null}
 */
export function exactAt(exact, layers, i, flat) {
  const l = layers[i];
  const out = exact.layers.find((x) => x.index === l.index);
  if (!out) return null;
  const value = out.values[flat];
  /** @type {{value: number, z: number|null, activation: number|null, fn: string|null, bias: number|null}} */
  const r = { value, z: null, activation: null, fn: null, bias: null };
  if (l.kind !== "vector") return r;
  const n = neuronValues(layers, i, flat);
  if (!n) return r;
  const dense = layers[n.dense];
  const zs = exact.layers.find((x) => x.index === dense.index);
  r.z = zs ? zs.values[flat] : null;
  r.bias = exact.biases[String(dense.index)]?.[flat] ?? null;
  if (n.fn) {
    const act = exact.layers.find((x) => x.index === dense.index + 1);
    r.activation = act ? act.values[flat] : null;
    r.fn = n.fn;
  }
  return r;
}
