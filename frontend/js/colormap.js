// @ts-check
/**
 * Colour scales as 256-entry lookup tables (RGB bytes), and pixel fillers for ImageData.
 * Perceptual (viridis) for activations: brightness grows with the value and reads the same
 * for colour-blind viewers; diverging (blue–white–red) for weights and gradients, where the sign
 * matters and zero is the neutral middle. Pure module: no DOM.
 */

const STOPS = {
  viridis: ["#440154", "#481a6c", "#472f7d", "#414487", "#39568c", "#31688e", "#2a788e", "#23888e",
    "#1f988b", "#22a884", "#35b779", "#54c568", "#7ad151", "#a5db36", "#d2e21b", "#fde725"],
  gray: ["#000000", "#ffffff"],
  // ColorBrewer RdBu, negative = blue, zero = near white, positive = red.
  diverging: ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582",
    "#d6604d", "#b2182b", "#67001f"],
};

/** @typedef {keyof typeof STOPS} ScaleName */
export const SCALES = /** @type {ScaleName[]} */ (Object.keys(STOPS));

/** @param {string} hex @returns {[number, number, number]} */
export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** @type {Map<string, Uint8ClampedArray>} */
const cache = new Map();

/**
 * A 256-entry RGB table, linearly interpolated between the scale's stops.
 * @param {ScaleName} name @returns {Uint8ClampedArray} length 768
 */
export function lut(name) {
  const hit = cache.get(name);
  if (hit) return hit;
  const stops = STOPS[name];
  if (!stops) throw new Error(`unknown colour scale ${name}`);
  const rgb = stops.map(hexToRgb);
  const out = new Uint8ClampedArray(768);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (rgb.length - 1);
    const k = Math.min(Math.floor(t), rgb.length - 2);
    const f = t - k;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(rgb[k][c] * (1 - f) + rgb[k + 1][c] * f);
  }
  cache.set(name, out);
  return out;
}

/**
 * The colour of t in [0, 1] as a CSS string.
 * @param {ScaleName} name @param {number} t
 */
export function cssColor(name, t) {
  const table = lut(name);
  const i = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
  return `rgb(${table[i]},${table[i + 1]},${table[i + 2]})`;
}

/**
 * Byte -> table index for one min–max map shown on a diverging scale: the stored bytes cover
 * [lo, hi]; the colour must put 0 in the middle, so index = 127.5 + 127.5 · value / max|value|.
 * @param {number} lo @param {number} hi @param {number} [absMax] shared scale (default: this map's)
 * @returns {Uint8Array} 256 entries
 */
export function divergingIndex(lo, hi, absMax) {
  const m = absMax ?? Math.max(Math.abs(lo), Math.abs(hi));
  const out = new Uint8Array(256);
  for (let b = 0; b < 256; b++) {
    const v = lo + (b / 255) * (hi - lo);
    out[b] = m > 0 ? Math.max(0, Math.min(255, Math.round(127.5 + (127.5 * v) / m))) : 128;
  }
  return out;
}

/**
 * Paint `count` bytes (a map) into RGBA pixels through a table.
 * @param {Uint8Array} bytes source
 * @param {number} offset first byte of the map
 * @param {number} w map width @param {number} h map height
 * @param {Uint8ClampedArray} table 768-entry LUT
 * @param {Uint8ClampedArray} rgba destination (ImageData.data)
 * @param {number} stride destination row length in pixels
 * @param {number} x0 destination left @param {number} y0 destination top
 * @param {Uint8Array} [index] optional byte -> table index (for diverging maps)
 */
export function paintMap(bytes, offset, w, h, table, rgba, stride, x0, y0, index) {
  for (let y = 0; y < h; y++) {
    let o = ((y0 + y) * stride + x0) * 4;
    let s = offset + y * w;
    for (let x = 0; x < w; x++, o += 4, s++) {
      const b = index ? index[bytes[s]] : bytes[s];
      rgba[o] = table[b * 3]; rgba[o + 1] = table[b * 3 + 1]; rgba[o + 2] = table[b * 3 + 2]; rgba[o + 3] = 255;
    }
  }
}

/**
 * Tile layout for n maps of w×h in a box `width` pixels wide.
 * @param {number} n @param {number} w @param {number} h @param {number} width available CSS px
 * @param {{gap?: number, maxScale?: number, minScale?: number, cols?: number, maxRows?: number}} [opt]
 * @returns {{cols: number, rows: number, scale: number, gap: number, width: number, height: number}}
 */
export function tileLayout(n, w, h, width, opt = {}) {
  const gap = opt.gap ?? 2;
  const maxScale = opt.maxScale ?? 8;
  const minScale = opt.minScale ?? 1;
  const maxRows = opt.maxRows ?? Math.max(1, Math.ceil(n / 8));
  const fit = (/** @type {number} */ scale) => {
    const cols = Math.max(1, Math.min(n, opt.cols ?? Math.floor((width + gap) / (w * scale + gap))));
    return { cols, rows: Math.ceil(n / cols), scale };
  };
  // The largest scale at which the maps fit the width in at most maxRows rows.
  let best = fit(minScale);
  for (let scale = maxScale; scale >= minScale; scale--) {
    const f = fit(scale);
    if (f.cols * (w * scale + gap) - gap <= width && f.rows <= maxRows) { best = f; break; }
  }
  return {
    ...best, gap,
    width: best.cols * w * best.scale + (best.cols - 1) * gap,
    height: best.rows * h * best.scale + (best.rows - 1) * gap,
  };
}
