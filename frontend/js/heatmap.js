// @ts-check
/**
 * Canvas helpers for pictures of numbers: grids of small maps (feature maps, kernels, neurons)
 * painted at their native resolution into one ImageData and scaled up by CSS with
 * `image-rendering: pixelated` — one putImageData per grid, however many maps. Plus the shared
 * hover tooltip.
 */
import { lut, paintMap, divergingIndex } from "./colormap.js";

/**
 * @typedef {{bytes: Uint8Array, offset: number, min: ArrayLike<number>, max: ArrayLike<number>, rangeOffset: number, maps: number, mapH: number, mapW: number, mapSize: number, rangePerMap: boolean}} MapSet
 *   `maps` maps of mapH×mapW starting at bytes[offset]; map m's range is min/max[rangeOffset + m].
 *   rangePerMap false: one range for all (a dense layer's vector is `maps` 1×1 maps sharing it).
 * @typedef {{cols: number, rows: number, tile: number, gap: number, up: number, width: number, height: number, mapW: number, mapH: number}} Grid
 */

/**
 * Paint maps into a canvas as a grid. Returns the layout for hit-testing.
 * @param {HTMLCanvasElement} canvas
 * @param {MapSet} set
 * @param {{cols: number, up?: number, gap?: number, scale?: "viridis"|"gray"|"diverging", shareRange?: boolean, cssScale?: number, maxCssWidth?: number}} opt
 *   up: native upscale per value (neurons drawn as up×up blocks); cssScale: CSS pixels per native pixel.
 * @returns {Grid}
 */
export function paintGrid(canvas, set, opt) {
  const up = opt.up ?? 1, gap = opt.gap ?? 1;
  const cols = Math.max(1, Math.min(opt.cols, set.maps));
  const rows = Math.ceil(set.maps / cols);
  const tw = set.mapW * up, th = set.mapH * up;
  const width = cols * tw + (cols - 1) * gap, height = rows * th + (rows - 1) * gap;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const img = ctx.createImageData(width, height);
  const name = opt.scale ?? "viridis";
  const table = lut(name);
  const diverging = name === "diverging";
  // Shared diverging scale for the whole grid when asked (so kernels compare with each other).
  let absMax = undefined;
  if (diverging && opt.shareRange) {
    absMax = 0;
    for (let m = 0; m < (set.rangePerMap ? set.maps : 1); m++) absMax = Math.max(absMax, Math.abs(set.min[set.rangeOffset + m]), Math.abs(set.max[set.rangeOffset + m]));
  }
  const tmp = up > 1 ? new Uint8Array(tw * th) : null;
  for (let m = 0; m < set.maps; m++) {
    const r = set.rangeOffset + (set.rangePerMap ? m : 0);
    const index = diverging ? divergingIndex(set.min[r], set.max[r], absMax) : undefined;
    const cx = (m % cols) * (tw + gap), cy = Math.floor(m / cols) * (th + gap);
    const src = set.offset + m * set.mapSize;
    if (tmp) {
      for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) tmp[y * tw + x] = set.bytes[src + Math.floor(y / up) * set.mapW + Math.floor(x / up)];
      paintMap(tmp, 0, tw, th, table, img.data, width, cx, cy, index);
    } else {
      paintMap(set.bytes, src, set.mapW, set.mapH, table, img.data, width, cx, cy, index);
    }
  }
  ctx.putImageData(img, 0, 0);
  const css = opt.cssScale ?? 1;
  let cssW = width * css;
  if (opt.maxCssWidth && cssW > opt.maxCssWidth) cssW = opt.maxCssWidth;
  canvas.style.width = `${Math.round(cssW)}px`;
  canvas.style.height = `${Math.round((cssW / width) * height)}px`;
  return { cols, rows, tile: tw, gap, up, width, height, mapW: set.mapW, mapH: set.mapH };
}

/**
 * Which map and which value the pointer is over. Null between tiles.
 * @param {HTMLCanvasElement} canvas @param {Grid} g @param {number} clientX @param {number} clientY
 * @returns {{map: number, y: number, x: number} | null}
 */
export function hitGrid(canvas, g, clientX, clientY) {
  const r = canvas.getBoundingClientRect();
  const px = ((clientX - r.left) / r.width) * g.width, py = ((clientY - r.top) / r.height) * g.height;
  const th = g.mapH * g.up;
  const col = Math.floor(px / (g.tile + g.gap)), row = Math.floor(py / (th + g.gap));
  const ix = px - col * (g.tile + g.gap), iy = py - row * (th + g.gap);
  if (col < 0 || row < 0 || col >= g.cols || ix >= g.tile || iy >= th) return null;
  return { map: row * g.cols + col, x: Math.floor(ix / g.up), y: Math.floor(iy / g.up) };
}

/**
 * A 28×28 byte image (values 0..255) into a small canvas.
 * @param {HTMLCanvasElement} canvas @param {Uint8Array} bytes @param {number} offset @param {number} w @param {number} h
 * @param {"viridis"|"gray"} [scale]
 */
export function paintImage(canvas, bytes, offset, w, h, scale = "gray") {
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const img = ctx.createImageData(w, h);
  paintMap(bytes, offset, w, h, lut(scale), img.data, w, 0, 0);
  ctx.putImageData(img, 0, 0);
}

// -- tooltip ------------------------------------------------------------------------------------
const tip = /** @type {HTMLElement} */ (document.getElementById("tooltip"));

/** @param {number} x @param {number} y @param {string} html */
export function showTip(x, y, html) {
  tip.innerHTML = html;
  tip.hidden = false;
  const w = tip.offsetWidth, h = tip.offsetHeight;
  const left = Math.min(window.innerWidth - w - 8, x + 14);
  const top = y + 18 + h > window.innerHeight ? y - h - 12 : y + 18;
  tip.style.left = `${Math.max(4, left)}px`;
  tip.style.top = `${Math.max(4, top)}px`;
}
export function hideTip() { tip.hidden = true; }

/** @param {string} s */
export const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c);
