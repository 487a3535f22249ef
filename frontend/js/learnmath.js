// @ts-check
/**
 * The arithmetic behind the Learn view, on the exact numbers of /api/explain. Pure module: no DOM.
 *
 * An explanation lists every layer's output with its error ∂C/∂output. The notes speak of neuron
 * layers — a weighted sum z = W·a + b squashed into an activation a' = σ(z) — so `neuronColumns`
 * regroups the library's layers (dense, then an activation layer) into the columns of the
 * network diagram. A neuron's "wish" is −∂C/∂a: which way, and how strongly, the cost wants its
 * activation to move. The rules the page shows:
 *
 *   z_j = Σ_i a_i·w_ij + b_j                                   (forwardTerms)
 *   wish_i = Σ_j w_ij · σ′(z_j) · wish_j                       (wishTerms, the notes' backprop)
 *   ∂C/∂w_ij = a_i · δ_j,  with δ_j = ∂C/∂z_j = −σ′(z_j)·wish_j (the weight-gradient images)
 */

/** @typedef {{shape: number[], values: number[]}} Tensor */
/**
 * @typedef {{key: string, label: string, size: number, values: number[], wishes: number[],
 *   aLayer: number, zLayer: number|null, actLayer: number|null, activation: string|null,
 *   z: number[]|null, slope: number[]|null, delta: number[]|null, image: [number, number]|null}} Column
 *   One column of the diagram: `values` are its activations a (or, with no activation layer, its
 *   weighted sums), `wishes` = −∂C/∂values. `zLayer` is the dense layer whose weighted sums feed
 *   it (null for the input column), `actLayer` its activation layer (null if none).
 */

const ACTIVATIONS = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax"];
const SUPER = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

/**
 * A number as a person reads it: `sig` significant digits, a real minus sign, and ·10ⁿ for very
 * large or small magnitudes (never "1e-7", never "-0.0000").
 * @param {number|null|undefined} v @param {number} [sig] @returns {string}
 */
export function fmt(v, sig = 4) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  const sign = v < 0 ? "−" : "";
  if (a >= 1e-3 && a < 1e5) {
    const cut = (/** @type {number} */ digits) => {
      const s = a.toPrecision(digits);
      return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
    };
    let s = cut(sig);
    // A sigmoid never reaches 1: 0.99997 must not read "= 1". Near 1, more digits until it shows
    // (float32 holds about 7); closer still, the distance itself: "1 − 1.97·10⁻⁹", whose slope
    // a(1 − a) is then visibly not 0.
    for (let d = sig + 1; s === "1" && a !== 1 && d <= 7; d++) s = cut(d);
    if (s === "1" && a < 1) {
      const near = `1 − ${fmt(1 - a, Math.min(sig, 3))}`;
      return sign ? `${sign}(${near})` : near;
    }
    return sign + s;
  }
  const [m, e] = a.toExponential(sig - 1).split("e");
  const mant = m.includes(".") ? m.replace(/0+$/, "").replace(/\.$/, "") : m;
  const exp = String(Number(e)).split("").map((c) => /** @type {any} */ (SUPER)[c] ?? c).join("");
  return `${sign}${mant}·10${exp}`;
}

/**
 * A probability or an accuracy as a percentage a person can trust: one decimal, cut (never
 * rounded) so that 99.97% reads 99.9%, not 100%. A probability of exactly 1 is float32 rounding (a
 * softmax is never 1: the others are only too small for the float), so it reads ">99.9%"; an
 * accuracy (`counted`: k of n read right) of 1 is every one of them, and reads "100%".
 * @param {number} p in [0, 1] @param {boolean} [counted] p is a count's share, exact
 */
export function percent(p, counted = false) {
  const tenths = Math.floor(p * 1000 + 1e-9);
  if (tenths >= 1000) return counted && p >= 1 ? "100%" : ">99.9%";
  return `${(tenths / 10).toFixed(1)}%`;
}

/**
 * A probability as a percentage with more digits, still cut (never rounded up), for where the
 * point is to see it change (a step, the table of outputs): `sig` significant digits, and near
 * 100% as many decimals as the distance to 100% needs to show two of its own digits, so
 * 0.9999981237 reads "99.99981%" (not "100%"); a float's 1 reads ">99.9999999%".
 * @param {number} p in [0, 1] @param {number} [sig]
 */
export function cutPercent(p, sig = 3) {
  if (!(p > 0)) return "0%";
  const v = p * 100;
  const cutTo = (/** @type {number} */ d) => {
    const s = (Math.floor(v * 10 ** d + 1e-9) / 10 ** d).toFixed(d);
    return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  };
  if (v < 1e-3) { // 1.234·10⁻⁷%: the mantissa cut to `sig` digits
    const e = Math.floor(Math.log10(v)), unit = 10 ** (sig - 1);
    return `${fmt((Math.floor((v / 10 ** e) * unit + 1e-9) / unit) * 10 ** e, sig)}%`;
  }
  const lead = Math.floor(Math.log10(v));
  const gap = 100 - v;
  const d = Math.min(10, Math.max(sig - 1 - lead, gap > 0 ? 1 - Math.floor(Math.log10(gap)) : 10));
  const s = cutTo(Math.max(0, d));
  return Number(s) >= 100 ? `>99.${"9".repeat(7)}%` : `${s}%`;
}

/** The same cut to a whole percent, for small labels (bars, tiles): 0.9997 → "99%", 1 → ">99%". @param {number} p */
export const wholePercent = (p) => (Math.floor(p * 100 + 1e-9) >= 100 ? ">99%" : `${Math.floor(p * 100 + 1e-9)}%`);

/**
 * "an 8", "a 7", "an Ankle boot": a class name (a digit, or another dataset's) with its article.
 * @param {number|string} d
 */
export const aDigit = (d) => `${/^(8|11|18|[aeiou])/i.test(String(d)) && !/^1\d\d/.test(String(d)) ? "an" : "a"} ${d}`;

/** "10⁻⁴", never "10^-4": a power of ten as it is written. @param {number} k */
export const pow10 = (k) => `10${String(k).split("").map((c) => /** @type {any} */ (SUPER)[c] ?? c).join("")}`;

/** @param {Tensor} t */
export const size = (t) => t.shape.reduce((a, b) => a * b, 1);

/**
 * Map `c` of a (C, H, W) tensor — or the whole of an (H, W) one — as a 2-D view.
 * @param {Tensor} t @param {number} [c]
 * @returns {{h: number, w: number, at: (r: number, col: number) => number, values: number[]}}
 */
export function map2d(t, c = 0) {
  const s = t.shape;
  const [h, w] = s.length >= 2 ? s.slice(-2) : [1, s[0]];
  const off = s.length === 3 ? c * h * w : 0;
  const values = t.values.slice(off, off + h * w);
  return { h, w, values, at: (r, col) => values[r * w + col] };
}

/**
 * The diagram's columns: the input the first dense layer reads, then one column per dense layer
 * (its activation layer's output when one follows, else the weighted sums themselves).
 * Returns [] when the network has no dense layer.
 * @param {any} ex an /api/explain answer @returns {Column[]}
 */
export function neuronColumns(ex) {
  const layers = ex.layers;
  const firstDense = layers.findIndex((/** @type {any} */ l) => l.type === "dense");
  if (firstDense < 0 || !layers[firstDense].output) return [];
  /** @type {Column[]} */
  const cols = [];
  const inLayer = firstDense - 1;
  const src = inLayer >= 0 ? layers[inLayer] : null;
  const values = src ? src.output.values : ex.input.values;
  const grads = src ? src.grad_output.values : ex.input_grad.values;
  const inputShape = ex.input.shape;
  const readsImage = (!src || src.type === "flatten") && firstDense <= 1 && inputShape.length === 3 && inputShape[0] === 1;
  cols.push({
    key: `in${inLayer}`, label: readsImage ? "input pixels" : `layer ${inLayer} (${src?.type ?? "input"})`,
    size: values.length, values, wishes: grads.map((/** @type {number} */ g) => -g),
    aLayer: inLayer, zLayer: null, actLayer: null, activation: null, z: null, slope: null, delta: null,
    image: readsImage ? [inputShape[1], inputShape[2]] : null,
  });
  for (let i = firstDense; i < layers.length; i++) {
    const l = layers[i];
    if (l.type !== "dense") continue;
    let j = i + 1;
    while (j < layers.length && layers[j].type === "dropout") j++;
    const act = j < layers.length && ACTIVATIONS.includes(layers[j].type) ? layers[j] : null;
    const out = act ?? l;
    const slope = act?.slope?.values ?? (act ? null : l.output.values.map(() => 1));
    cols.push({
      key: `d${i}`, label: `layer ${i} dense${act ? ` + ${act.type}` : ""}`,
      size: out.output.values.length, values: out.output.values,
      wishes: out.grad_output.values.map((/** @type {number} */ g) => -g),
      aLayer: out.index, zLayer: i, actLayer: act ? act.index : null, activation: act ? act.type : null,
      z: l.output.values, slope, delta: l.grad_output.values, image: null,
    });
    if (act) i = act.index;
  }
  return cols;
}

/**
 * The terms of z_j = Σ_i a_i·w_ij + b_j, largest first.
 * @param {number[]} a inputs (n) @param {{shape: number[], values: number[]}} W (n, m) row-major
 * @param {number} b the bias b_j @param {number} j
 * @returns {{terms: {i: number, a: number, w: number, product: number}[], bias: number, z: number}}
 */
export function forwardTerms(a, W, b, j) {
  const m = W.shape[1];
  const terms = a.map((ai, i) => ({ i, a: ai, w: W.values[i * m + j], product: ai * W.values[i * m + j] }));
  const z = terms.reduce((s, t) => s + t.product, 0) + b;
  terms.sort((p, q) => Math.abs(q.product) - Math.abs(p.product));
  return { terms, bias: b, z };
}

/**
 * The notes' backpropagation for neuron i of a column: its wish is the sum over the neurons j it
 * feeds of (weight) × (their σ′(z_j)) × (their wish). Terms in the order of j.
 * @param {{shape: number[], values: number[]}} W (n, m) of the dense layer reading this column
 * @param {Column} next the column that dense layer makes @param {number} i
 * @returns {{terms: {j: number, w: number, slope: number, wish: number, factor: number, product: number}[], total: number}}
 */
export function wishTerms(W, next, i) {
  const m = W.shape[1];
  const terms = [];
  let total = 0;
  for (let j = 0; j < m; j++) {
    const w = W.values[i * m + j];
    // σ′(z_j)·wish_j is −δ_j; a softmax layer has no element-wise slope, so use −δ_j itself there.
    const s = next.slope ? next.slope[j] : NaN;
    const product = next.slope ? w * s * next.wishes[j] : -w * /** @type {number[]} */ (next.delta)[j];
    terms.push({ j, w, slope: s, wish: next.wishes[j], factor: next.slope ? s * next.wishes[j] : -(/** @type {number[]} */ (next.delta)[j]), product });
    total += product;
  }
  return { terms, total };
}

/**
 * How the wish rule writes the slope of a column's activation (QA4 LEARN-6): the notes' σ′ for a
 * sigmoid, the activation's own name otherwise (relu′, tanh′); null when the column has no
 * activation (z is the output: its slope is 1, and its wish is −∂C/∂z itself).
 * @param {string|null} kind @returns {string|null}
 */
export const slopeSymbol = (kind) => (kind === null ? null : kind === "sigmoid" ? "σ′" : `${kind}′`);

/**
 * Which neurons a column shows when it has more than `max`: the `max` largest |values|, in index
 * order (a summary of a wide layer); all of them otherwise.
 * @param {number[]} values @param {number} max @returns {number[]}
 */
export function shownNeurons(values, max) {
  const idx = values.map((_, i) => i);
  if (values.length <= max) return idx;
  return idx.sort((p, q) => Math.abs(values[q]) - Math.abs(values[p]) || p - q).slice(0, max).sort((p, q) => p - q);
}

/**
 * The activation function and its slope, for the curve the neuron inspector draws.
 * @param {string|null} kind @returns {((z: number) => number)|null}
 */
export function activationFn(kind) {
  switch (kind) {
    case "sigmoid": return (z) => 1 / (1 + Math.exp(-z));
    case "relu": return (z) => Math.max(0, z);
    case "leaky_relu": return (z) => (z > 0 ? z : 0.01 * z);
    case "tanh": return Math.tanh;
    default: return null;
  }
}

// -- convolution stepping ----------------------------------------------------------------------

/**
 * Positions of a sliding window, row by row: [r, c] for r < rows, c < cols.
 * @param {number} rows @param {number} cols @returns {[number, number][]}
 */
export function positions(rows, cols) {
  /** @type {[number, number][]} */
  const out = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push([r, c]);
  return out;
}

/**
 * Σ over a k×k window of `m` at (r0, c0) of m·kernel, with every product (row-major).
 * @param {{w: number, at: (r: number, c: number) => number}} m @param {{h: number, w: number, at: (r: number, c: number) => number}} kernel
 * @param {number} r0 @param {number} c0
 * @returns {{products: number[], sum: number}}
 */
export function windowSum(m, kernel, r0, c0) {
  const products = [];
  let sum = 0;
  for (let u = 0; u < kernel.h; u++) {
    for (let v = 0; v < kernel.w; v++) {
      const p = m.at(r0 + u, c0 + v) * kernel.at(u, v);
      products.push(p);
      sum += p;
    }
  }
  return { products, sum };
}

/**
 * The three stepped views of a conv explanation (/api/explain/conv), as windows over maps:
 * forward (the kernel over the padded input, one output cell per position), backward (the
 * rotated kernel over the zero-padded error: the full convolution, one input-gradient cell per
 * position) and the kernel gradient (the error, as a kernel, over the padded input: one kernel
 * cell per position).
 * @param {any} e @param {"forward"|"backward"|"kernel"} mode
 * @returns {{source: string, kernel: string, result: string, rows: number, cols: number, stride: number,
 *   kh: number, kw: number, value: (r: number, c: number) => number|null, real: {top: number, left: number, h: number, w: number}}}
 *   source/kernel/result name maps of `e.maps`; `value` is the server's number for the result cell
 *   a position fills (null where it falls in the padding, which is cut off); `real` where the
 *   source's own values lie inside its zero padding.
 */
export function stepPlan(e, mode) {
  const m = (/** @type {string} */ n) => map2d(e.maps[n]);
  const k = m("kernel");
  if (mode === "forward") {
    const out = m("partial");
    return { source: "padded_input", kernel: "kernel", result: "partial", rows: out.h, cols: out.w, stride: e.stride, kh: k.h, kw: k.w, value: (r, c) => out.at(r, c), real: inputArea(e) };
  }
  if (mode === "backward") {
    const pe = m("padded_error"), part = m("input_grad_part");
    const [top, , left] = e.padding;
    return {
      source: "padded_error", kernel: "rotated", result: "input_grad_part", rows: pe.h - k.h + 1, cols: pe.w - k.w + 1, stride: 1, kh: k.h, kw: k.w,
      // the (dilated) error sits inside k − 1 rows and columns of zeros on every side
      real: { top: k.h - 1, left: k.w - 1, h: pe.h - 2 * (k.h - 1), w: pe.w - 2 * (k.w - 1) },
      value: (r, c) => {
        const rr = r - top, cc = c - left;
        return rr >= 0 && cc >= 0 && rr < part.h && cc < part.w ? part.at(rr, cc) : null;
      },
    };
  }
  const de = m("dilated_error"), kg = m("kernel_grad");
  return { source: "padded_input", kernel: "dilated_error", result: "kernel_grad", rows: kg.h, cols: kg.w, stride: 1, kh: de.h, kw: de.w, value: (r, c) => kg.at(r, c), real: inputArea(e) };
}

/** Where the input lies in the padded input (padding [top, bottom, left, right]). @param {any} e */
const inputArea = (e) => {
  const [top, bottom, left, right] = e.padding, x = map2d(e.maps.padded_input);
  return { top, left, h: x.h - top - bottom, w: x.w - left - right };
};

/**
 * How many of a window's products fall on the zero padding (they add 0: no pixel, no error
 * there): a corner of the backward full convolution has k·k products, all but one on padding.
 * @param {{top: number, left: number, h: number, w: number}} real @param {number} r0 @param {number} c0
 * @param {number} kh @param {number} kw
 */
export function paddingProducts(real, r0, c0, kh, kw) {
  const overlap = (/** @type {number} */ a, /** @type {number} */ n, /** @type {number} */ lo, /** @type {number} */ len) =>
    Math.max(0, Math.min(a + n, lo + len) - Math.max(a, lo));
  return kh * kw - overlap(r0, kh, real.top, real.h) * overlap(c0, kw, real.left, real.w);
}

// -- which weights ---------------------------------------------------------------------------

/**
 * How the weights the Learn view shows stand against the run they come from (QA4 LEARN-1):
 * "none" — not a run's weights (bundled, uploaded: no step); "fixed" — a step that does not move
 * (a checkpoint, or a run whose progress this page does not hear); "latest" — the run's latest;
 * "follow" — the run has moved on but stands still now (paused, stepped by hand, ended): read its
 * latest; "behind" — it trains on (the page keeps one step, so its cards agree, and says so), or
 * the page shows a copy stepped by hand from the older weights.
 * @param {number|null|undefined} shown the step of the weights shown (an explain answer's `step`)
 * @param {{step: number, training: boolean}|null} run the run they follow, null when they do not follow one
 * @param {boolean} stepped a copy stepped by hand is shown
 * @returns {"none"|"fixed"|"latest"|"follow"|"behind"}
 */
export function weightsState(shown, run, stepped) {
  if (shown == null) return "none";
  if (!run) return "fixed";
  if (run.step <= shown) return "latest";
  return run.training || stepped ? "behind" : "follow";
}
