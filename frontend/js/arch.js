// @ts-check
/**
 * The architecture editor's arithmetic: every layer's output shape and parameter count, computed
 * in the browser as you edit — a mirror of the shape inference in backend/glassnet/nn (model.py
 * and layers/*.py), with the same error messages naming the layer that does not fit.
 *
 * Conv: valid padding gives (H − k) // stride + 1 (stride 1: the notes' M_x − M_w + 1); a layer of
 * F kernels, each C_in·k·k weights plus one bias, has C_in·(k·k)·F + F parameters — the notes'
 * 4·(2·2)·2 + 2 = 34. Dense: a matrix of in·units weights and one bias per unit.
 * Pure module: no DOM.
 */

/**
 * @typedef {{type: string, [key: string]: any}} LayerSpec
 * @typedef {{input_shape?: number[], layers: LayerSpec[], loss?: string, [key: string]: any}} Spec
 * @typedef {{index: number, type: string, inShape: number[], outShape: number[], params: number, formula: string}} Row
 * @typedef {{rows: Row[], total: number, outShape: (number[]|null), error: (null|{index: (number|null), message: string, code: string, params: Record<string, string|number>})}} Inferred
 */

/**
 * What the server says about layers, costs and limits (GET /api/layers) and its presets
 * (GET /api/presets): the page keeps no copies of its own.
 * @typedef {{layers: {type: string, activation: boolean, options: Record<string, any>, new: LayerSpec}[], losses: string[],
 *   optimizers: string[], hyperparameters: Record<string, string[]>, defaults: Record<string, number>, schedules: string[],
 *   inits: string[], max_layers: number, max_params: number, max_batch: number, max_epochs: number}} Catalog
 * @typedef {Record<string, Spec & {name: string, description: string, train: Record<string, any>}>} Presets
 */

/** @param {any} v */
const isPosInt = (v) => Number.isInteger(v) && typeof v === "number" && v >= 1;

/** Padding (before, after) for 'same': output ceil(size / stride). @param {number} size @param {number} k @param {number} s */
export function samePadding(size, k, s) {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** floor((size + pads − k) / stride) + 1 @param {number} size @param {number} k @param {number} s @param {number} a @param {number} b */
export const convOutputSize = (size, k, s, a, b) => Math.floor((size + a + b - k) / s) + 1;

/** "(N, 8, 12, 12)" as the server's messages write shapes. @param {number[]} shape */
export const formatShape = (shape) => `(${["N", ...shape].join(", ")})`;
/** Python's tuple repr: (16, 24, 24) or (512,) @param {number[]} shape */
const tuple = (shape) => (shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`);

/**
 * A layer that does not fit: the English sentence (as the server words it) and a stable code with
 * its parameters, so the page can say it in another language (catalogue: arch.<code>).
 */
class LayerError extends Error {
  /** @param {number|null} index @param {string} message @param {string} code @param {Record<string, string|number>} params */
  constructor(index, message, code, params) { super(message); this.index = index; this.code = code; this.params = params; }
}

/**
 * Options check, as the layer constructors do it.
 * @param {LayerSpec} l @param {string} where "layer 3"
 */
function checkOptions(l, where) {
  const at = { where: `${where} (${l.type})` };
  const fail = (/** @type {string} */ m, /** @type {string} */ code, /** @type {Record<string, string|number>} */ params) =>
    new LayerError(null, `${where} (${l.type}): ${m}`, code, { ...at, ...params });
  const t = l.type;
  if (t === "conv2d") {
    for (const key of ["filters", "kernel", "stride"]) {
      const v = l[key] ?? (key === "stride" ? 1 : undefined);
      if (!isPosInt(v)) throw fail(`${key} must be a positive integer, got ${JSON.stringify(v ?? null)}`, "positive_int", { key, got: JSON.stringify(v ?? null) });
    }
    const pad = l.padding ?? "valid";
    if (pad !== "valid" && pad !== "same") throw fail(`padding must be 'valid' or 'same', got ${JSON.stringify(pad)}`, "padding", { got: JSON.stringify(pad) });
  } else if (t === "maxpool2d" || t === "avgpool2d") {
    for (const key of ["size", "stride"]) {
      const v = l[key] ?? (key === "size" ? 2 : l.size ?? 2);
      if (!isPosInt(v)) throw fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`, "positive_int", { key, got: JSON.stringify(v) });
    }
  } else if (t === "dense") {
    if (!isPosInt(l.units)) throw fail(`units must be a positive integer, got ${JSON.stringify(l.units ?? null)}`, "positive_int", { key: "units", got: JSON.stringify(l.units ?? null) });
  } else if (t === "dropout") {
    const r = l.rate ?? 0.5;
    if (typeof r !== "number" || !(r >= 0 && r < 1)) throw fail(`rate must be in [0, 1), got ${JSON.stringify(r)}`, "unit_interval", { key: "rate", got: JSON.stringify(r) });
  } else if (t === "leaky_relu") {
    const a = l.alpha ?? 0.01;
    if (typeof a !== "number" || !(a >= 0 && a < 1)) throw fail(`alpha must be in [0, 1), got ${JSON.stringify(a)}`, "unit_interval", { key: "alpha", got: JSON.stringify(a) });
  }
}

/**
 * Output shape, parameter count and formula of one layer for a per-sample input shape.
 * @param {LayerSpec} l @param {number[]} inShape @param {string} label "layer 3 (conv2d)"
 * @returns {{outShape: number[], params: number, formula: string}}
 */
export function layerShape(l, inShape, label) {
  const fail = (/** @type {string} */ m, /** @type {string} */ code, /** @type {Record<string, string|number>} */ params = {}) =>
    new LayerError(null, `${label}: ${m}`, code, { where: label, ...params });
  switch (l.type) {
    case "conv2d": {
      if (inShape.length !== 3) throw fail(`expects images (C, H, W) per sample, got shape ${tuple(inShape)}`, "needs_images", { shape: tuple(inShape) });
      const [c, h, w] = inShape;
      const k = l.kernel, s = l.stride ?? 1, f = l.filters;
      let pad = [0, 0, 0, 0];
      if ((l.padding ?? "valid") === "same") pad = [...samePadding(h, k, s), ...samePadding(w, k, s)];
      else if (k > h || k > w) {
        throw fail(`kernel ${k}×${k} is larger than its ${h}×${w} input; use a smaller kernel, 'same' padding, or remove a pooling layer before it`, "kernel_too_big", { k: `${k}×${k}`, size: `${h}×${w}` });
      }
      const oh = convOutputSize(h, k, s, pad[0], pad[1]), ow = convOutputSize(w, k, s, pad[2], pad[3]);
      return { outShape: [f, oh, ow], params: c * k * k * f + f, formula: `${c}·(${k}·${k})·${f} + ${f}` };
    }
    case "maxpool2d": case "avgpool2d": {
      if (inShape.length !== 3) throw fail(`expects feature maps (C, H, W) per sample, got shape ${tuple(inShape)}`, "needs_maps", { shape: tuple(inShape) });
      const [c, h, w] = inShape;
      const size = l.size ?? 2, s = l.stride ?? size;
      if (size > h || size > w) throw fail(`window ${size}×${size} is larger than its ${h}×${w} input`, "window_too_big", { k: `${size}×${size}`, size: `${h}×${w}` });
      return { outShape: [c, Math.floor((h - size) / s) + 1, Math.floor((w - size) / s) + 1], params: 0, formula: "0" };
    }
    case "flatten":
      return { outShape: [inShape.reduce((a, b) => a * b, 1)], params: 0, formula: "0" };
    case "dense": {
      if (inShape.length !== 1) throw fail(`expects a flat vector per sample, got shape ${tuple(inShape)}; put a flatten layer before it`, "needs_vector", { shape: tuple(inShape) });
      const d = inShape[0], u = l.units;
      return { outShape: [u], params: d * u + u, formula: `${d}·${u} + ${u}` };
    }
    case "softmax":
      if (inShape.length !== 1) throw fail(`expects a flat vector of scores per sample, got shape ${tuple(inShape)}`, "needs_scores", { shape: tuple(inShape) });
      return { outShape: inShape.slice(), params: 0, formula: "0" };
    default:
      return { outShape: inShape.slice(), params: 0, formula: "0" };
  }
}

/**
 * Shape inference for a whole spec, as Sequential.from_spec does it. Stops at the first layer
 * that does not fit and says which and why.
 * @param {Spec} spec @param {Catalog} cat
 * @returns {Inferred}
 */
export function inferShapes(spec, cat) {
  const LAYER_TYPES = cat.layers.map((l) => l.type), LOSSES = cat.losses, MAX_LAYERS = cat.max_layers, MAX_PARAMS = cat.max_params;
  /** @type {Row[]} */
  const rows = [];
  let total = 0;
  /** @param {number|null} index @param {string} message @param {string} code @param {Record<string, string|number>} [params] */
  const done = (index, message, code, params = {}) => ({ rows, total, outShape: null, error: { index, message, code, params } });
  /** @param {number|null} index @param {unknown} e a LayerError */
  const failed = (index, e) => { const le = /** @type {LayerError} */ (e); return done(index, le.message, le.code, le.params); };
  const layers = spec?.layers;
  if (!Array.isArray(layers) || layers.length === 0) return done(null, "spec: 'layers' must be a non-empty list of layer objects", "no_layers");
  if (layers.length > MAX_LAYERS) return done(null, `spec: at most ${MAX_LAYERS} layers, got ${layers.length}`, "too_many_layers", { max: MAX_LAYERS, got: layers.length });
  let shape = spec.input_shape ?? [1, 28, 28];
  const loss = spec.loss ?? "cross_entropy";
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (!LAYER_TYPES.includes(l?.type)) return done(i, `layer ${i}: unknown layer type ${JSON.stringify(l?.type ?? null)}; known types: ${LAYER_TYPES.join(", ")}`, "unknown_type", { where: `layer ${i}`, type: JSON.stringify(l?.type ?? null), known: LAYER_TYPES.join(", ") });
    try { checkOptions(l, `layer ${i}`); } catch (e) { return failed(i, e); }
  }
  if (!LOSSES.includes(loss)) return done(null, `unknown loss ${JSON.stringify(loss)}; choose one of ${LOSSES.join(", ")}`, "unknown_loss", { loss: JSON.stringify(loss), known: LOSSES.join(", ") });
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    const label = `layer ${i} (${l.type})`;
    let r;
    try { r = layerShape(l, shape, label); } catch (e) { return failed(i, e); }
    if (r.outShape.some((d) => d < 1)) return done(i, `${label}: output shape ${tuple(r.outShape)} is empty`, "empty_output", { where: label, shape: tuple(r.outShape) });
    rows.push({ index: i, type: l.type, inShape: shape, outShape: r.outShape, params: r.params, formula: r.formula });
    total += r.params;
    shape = r.outShape;
  }
  if (shape.length !== 1) {
    return done(layers.length - 1, `the last layer must output a vector of class scores, got shape ${tuple(shape)}; end with flatten and dense layers`, "last_not_vector", { shape: tuple(shape) });
  }
  const last = layers[layers.length - 1].type;
  if (loss === "cross_entropy" && (last === "softmax" || last === "sigmoid")) {
    return done(layers.length - 1, `layer ${layers.length - 1} (${last}): the cross-entropy cost applies the softmax itself and expects raw scores; remove this layer or use the 'mse' cost`, "double_softmax", { where: `layer ${layers.length - 1} (${last})` });
  }
  if (total > MAX_PARAMS) return done(null, `the network has ${total.toLocaleString("en-US")} parameters; the limit is ${MAX_PARAMS.toLocaleString("en-US")}`, "too_many_params", { n: total.toLocaleString("en-US"), max: MAX_PARAMS.toLocaleString("en-US") });
  if (shape[0] !== 10) {
    // Not a shape error for the library, but a digit reader needs ten outputs.
    return { rows, total, outShape: shape, error: { index: layers.length - 1, message: `layer ${layers.length - 1} (${last}): outputs ${shape[0]} scores; a digit reader needs 10 (one per digit)`, code: "not_ten", params: { where: `layer ${layers.length - 1} (${last})`, n: shape[0] } } };
  }
  return { rows, total, outShape: shape, error: null };
}

/** A deep copy of a preset's spec. @param {Presets} presets @param {string} name @returns {Spec} */
export const presetSpec = (presets, name) => JSON.parse(JSON.stringify(presets[name]));

/** A new layer of a type with what the server says it starts with. @param {Catalog} cat @param {string} type @returns {LayerSpec} */
export function newLayer(cat, type) {
  const t = cat.layers.find((l) => l.type === type);
  return JSON.parse(JSON.stringify(t?.new ?? { type }));
}

/** Move layer i by delta (−1 up, +1 down); returns a new array. @param {LayerSpec[]} layers @param {number} i @param {number} delta */
export function moveLayer(layers, i, delta) {
  const j = i + delta;
  if (j < 0 || j >= layers.length) return layers.slice();
  const out = layers.slice();
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

/** "16×24×24" @param {number[]} shape */
export const shapeLabel = (shape) => shape.join("×");
