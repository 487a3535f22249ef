// @ts-check
/**
 * Kernels of every conv layer — one block per output kernel holding its input channels, so a
 * multi-channel kernel reads as one thing — the first dense layer's weights as 28×28 pictures,
 * and kernel gradients, on a diverging scale. Any kernel, or a whole layer, can be enlarged
 * (a dialog, with the kernel's exact weights from the server).
 */
import { decodeArray, valueAt } from "../encoding.js";
import { paintGrid, hitGrid, showTip, hideTip, esc } from "../heatmap.js";
import { lut, paintMap, divergingIndex } from "../colormap.js";
import { formatNumber } from "../chartmath.js";
import { t } from "../i18n.js";

/**
 * @typedef {{title: string, caption: string, enc: any, kind: "conv"|"dense", index: number, bias?: (number|null)[]}} KernelItem
 */

export class KernelGrids {
  /**
   * @param {HTMLElement} root @param {string} empty
   * @param {(item: KernelItem, kernel: number|null) => void} [onEnlarge] a kernel (or, null, the whole layer) to show large
   */
  constructor(root, empty, onEnlarge) {
    this.root = root;
    this.empty = empty;
    this.onEnlarge = onEnlarge;
    this.sig = "";
    /** @type {{canvas: HTMLCanvasElement, label: HTMLElement, grid: any, d: any, item: KernelItem}[]} */
    this.groups = [];
  }

  /** @param {KernelItem[]} items */
  show(items) {
    if (!items.length) { if (this.sig !== "none") { this.sig = "none"; this.root.innerHTML = `<p class="muted">${esc(this.empty)}</p>`; this.groups = []; } return; }
    const sig = items.map((i) => `${i.title}:${i.enc.shape.join("x")}`).join("|");
    if (sig !== this.sig) {
      this.sig = sig;
      this.root.replaceChildren();
      this.groups = items.map((item, gi) => {
        const g = document.createElement("div");
        g.className = "kgroup";
        const label = document.createElement("div");
        label.className = "klabel";
        const canvas = document.createElement("canvas");
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", t("kernels.canvas.label", { title: item.title }));
        canvas.addEventListener("pointermove", (e) => this.hover(gi, e));
        canvas.addEventListener("pointerleave", hideTip);
        canvas.addEventListener("click", (e) => {
          const grp = this.groups[gi];
          const hit = grp?.grid ? hitGrid(canvas, grp.grid, e.clientX, e.clientY) : null;
          if (!hit || !this.onEnlarge) return;
          const c = grp.item.kind === "conv" ? grp.d.shape[1] : 1;
          const perBlock = grp.item.kind === "conv" && c > 1 ? grp.grid.blockMaps : 1;
          this.onEnlarge(grp.item, Math.floor(hit.map / perBlock));
        });
        g.append(label, canvas);
        if (this.onEnlarge) {
          const big = document.createElement("button");
          big.type = "button"; big.className = "small enlarge"; big.textContent = t("kernels.enlarge");
          big.setAttribute("aria-label", t("kernels.enlarge.label", { title: item.title }));
          big.addEventListener("click", () => this.onEnlarge?.(this.groups[gi].item, null));
          g.append(big);
        }
        this.root.append(g);
        return { canvas, label, grid: null, d: null, item };
      });
    }
    const avail = Math.max(160, this.root.clientWidth - 4);
    items.forEach((item, gi) => {
      const grp = this.groups[gi];
      const d = decodeArray(item.enc);
      grp.d = d; grp.item = item;
      grp.label.innerHTML = `<b>${esc(item.title)}</b> · ${esc(item.caption)}`;
      let set, cols, css;
      if (item.kind === "conv") {
        const [f, c, kh, kw] = d.shape;
        set = { bytes: d.bytes, offset: 0, min: d.min, max: d.max, rangeOffset: 0, maps: f * c, mapH: kh, mapW: kw, mapSize: kh * kw, rangePerMap: d.maps === f * c };
        if (c > 1) {
          // Grouped by output kernel: each kernel is a square-ish block of its c channels, blocks
          // side by side with a wider gap (paintBlocks), so "kernel 3" is one thing to look at.
          const bc = Math.ceil(Math.sqrt(c)), br = Math.ceil(c / bc);
          const blockW = bc * (kw + 1) + 3;
          const perRow = Math.max(1, Math.min(f, Math.floor(avail / (blockW * 2))));
          css = Math.max(1, Math.min(4, Math.floor(avail / (perRow * blockW))));
          grp.grid = paintBlocks(grp.canvas, set, { blocks: f, perBlock: c, blockCols: bc, blockRows: br, perRow, css, maxCssWidth: avail });
          return;
        } else {
          cols = Math.min(f, 16);
          css = Math.max(1, Math.min(8, Math.floor(avail / (cols * (kw + 1) - 1))));
        }
      } else {
        const [u, h, w] = d.shape;
        set = { bytes: d.bytes, offset: 0, min: d.min, max: d.max, rangeOffset: 0, maps: u, mapH: h, mapW: w, mapSize: h * w, rangePerMap: d.maps === u };
        cols = Math.min(u, Math.max(4, Math.floor(avail / (w * 2 + 2))));
        css = Math.max(1, Math.min(3, Math.floor(avail / (cols * (w + 1)))));
      }
      grp.grid = paintGrid(grp.canvas, set, { cols, gap: 1, cssScale: css, scale: "diverging", maxCssWidth: avail });
    });
  }

  /** @param {number} gi @param {PointerEvent} e */
  hover(gi, e) {
    const g = this.groups[gi];
    if (!g?.grid || !g.d) return;
    const hit = g.grid.blockMaps ? hitBlocks(g.canvas, g.grid, e.clientX, e.clientY) : hitGrid(g.canvas, g.grid, e.clientX, e.clientY);
    const d = g.d;
    if (!hit || (!g.grid.blockMaps && hit.map >= g.grid.cols * g.grid.rows) || hit.map >= (d.shape[0] * (g.item.kind === "conv" ? d.shape[1] : 1))) { hideTip(); return; }
    let html;
    if (g.item.kind === "conv") {
      const [, c, kh, kw] = d.shape;
      const f = Math.floor(hit.map / c), ch = hit.map % c;
      const v = valueAt(d, hit.map * kh * kw + hit.y * kw + hit.x);
      const b = g.item.bias?.[f];
      html = `<b>${esc(g.item.title)}</b><br>${esc(t("kernels.tip.kernel", { k: f, ch, size: `${kh}×${kw}` }))}<br>${esc(t("kernels.tip.weight_at", { y: hit.y, x: hit.x }))} ≈ <b>${formatNumber(v)}</b> <span class="muted">${esc(t("kernels.tip.click"))}</span>` +
        (b !== undefined && b !== null ? `<br>${esc(t("kernels.tip.bias", { b: formatNumber(b) }))}` : "") + `<br>${esc(t("kernels.tip.shape", { shape: d.shape.join(", ") }))}`;
    } else {
      const [, h, w] = d.shape;
      const v = valueAt(d, hit.map * h * w + hit.y * w + hit.x);
      html = `<b>${esc(g.item.title)}</b><br>${esc(t("kernels.tip.pixel_weight", { n: hit.map, y: hit.y, x: hit.x }))} ≈ <b>${formatNumber(v)}</b> <span class="muted">${esc(t("kernels.tip.from_picture"))}</span><br>${esc(t("kernels.tip.shape", { shape: d.shape.join(", ") }))}`;
    }
    showTip(e.clientX, e.clientY, html);
  }
}

/**
 * Kernel items from a kernels frame.
 * @param {any} frame KernelsData @returns {KernelItem[]}
 */
export function kernelItems(frame) {
  if (!frame) return [];
  /** @type {KernelItem[]} */
  const items = frame.conv.map((/** @type {any} */ k) => ({
    title: t("kernels.conv_title", { i: k.index }),
    caption: t("kernels.conv_caption", { n: k.kernels.shape[0], size: `${k.kernels.shape[1]}×${k.kernels.shape[2]}×${k.kernels.shape[3]}` }),
    enc: k.kernels, kind: "conv", index: k.index, bias: k.bias,
  }));
  if (frame.dense) {
    const s = frame.dense.weights.shape;
    items.push({ title: t("kernels.dense_title", { i: frame.dense.index }), caption: t("kernels.dense_caption", { n: s[0], size: `${s[1]}×${s[2]}` }), enc: frame.dense.weights, kind: "dense", index: frame.dense.index });
  }
  return items;
}

/** @param {any} frame GradientsData @returns {KernelItem[]} */
export function gradientItems(frame) {
  if (!frame) return [];
  return frame.conv.map((/** @type {any} */ k) => ({
    title: t("kernels.grad_title", { i: k.index }), caption: t("learned.last_batch"), enc: k.grad, kind: "conv", index: k.index,
  }));
}

/**
 * Kernels grouped by output kernel: `blocks` blocks of `perBlock` maps (input channels), each
 * block a blockCols×blockRows grid, `perRow` blocks per row, 3 pixels between blocks.
 * @param {HTMLCanvasElement} canvas @param {import("../heatmap.js").MapSet} set
 * @param {{blocks: number, perBlock: number, blockCols: number, blockRows: number, perRow: number, css: number, maxCssWidth: number}} o
 */
export function paintBlocks(canvas, set, o) {
  const gap = 1, bgap = 3;
  const bw = o.blockCols * (set.mapW + gap) - gap, bh = o.blockRows * (set.mapH + gap) - gap;
  const rows = Math.ceil(o.blocks / o.perRow);
  const width = o.perRow * (bw + bgap) - bgap, height = rows * (bh + bgap) - bgap;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const img = ctx.createImageData(width, height);
  const table = lut("diverging");
  for (let b = 0; b < o.blocks; b++) {
    const bx = (b % o.perRow) * (bw + bgap), by = Math.floor(b / o.perRow) * (bh + bgap);
    for (let c = 0; c < o.perBlock; c++) {
      const m = b * o.perBlock + c;
      const r = set.rangeOffset + (set.rangePerMap ? m : 0);
      const x0 = bx + (c % o.blockCols) * (set.mapW + gap), y0 = by + Math.floor(c / o.blockCols) * (set.mapH + gap);
      paintMap(set.bytes, set.offset + m * set.mapSize, set.mapW, set.mapH, table, img.data, width, x0, y0, divergingIndex(set.min[r], set.max[r], undefined));
    }
  }
  ctx.putImageData(img, 0, 0);
  let cssW = width * o.css;
  if (cssW > o.maxCssWidth) cssW = o.maxCssWidth;
  canvas.style.width = `${Math.round(cssW)}px`;
  canvas.style.height = `${Math.round((cssW / width) * height)}px`;
  return { cols: o.perRow, rows, tile: set.mapW, gap, up: 1, width, height, mapW: set.mapW, mapH: set.mapH, blockMaps: o.perBlock, blockCols: o.blockCols, bw, bh, bgap };
}

/**
 * Which kernel, channel and weight the pointer is over in a block layout.
 * @param {HTMLCanvasElement} canvas @param {any} g the layout paintBlocks returned
 * @param {number} clientX @param {number} clientY @returns {{map: number, y: number, x: number}|null}
 */
export function hitBlocks(canvas, g, clientX, clientY) {
  const r = canvas.getBoundingClientRect();
  const px = ((clientX - r.left) / r.width) * g.width, py = ((clientY - r.top) / r.height) * g.height;
  const col = Math.floor(px / (g.bw + g.bgap)), row = Math.floor(py / (g.bh + g.bgap));
  const ix = px - col * (g.bw + g.bgap), iy = py - row * (g.bh + g.bgap);
  if (col < 0 || row < 0 || col >= g.cols || ix >= g.bw || iy >= g.bh) return null;
  const cc = Math.floor(ix / (g.mapW + 1)), cr = Math.floor(iy / (g.mapH + 1));
  const x = Math.floor(ix - cc * (g.mapW + 1)), y = Math.floor(iy - cr * (g.mapH + 1));
  if (x >= g.mapW || y >= g.mapH || cc >= g.blockCols) return null;
  const c = cr * g.blockCols + cc;
  if (c >= g.blockMaps) return null;
  return { map: (row * g.cols + col) * g.blockMaps + c, x, y };
}
