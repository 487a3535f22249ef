// @ts-check
/**
 * Kernels of every conv layer as an image grid (row = kernel, column = input channel), the first
 * dense layer's weights as 28×28 pictures, and kernel gradients — on a diverging scale.
 */
import { decodeArray, valueAt } from "../encoding.js";
import { paintGrid, hitGrid, showTip, hideTip, esc } from "../heatmap.js";
import { formatNumber } from "../chartmath.js";

/**
 * @typedef {{title: string, caption: string, enc: any, kind: "conv"|"dense", index: number, bias?: (number|null)[]}} KernelItem
 */

export class KernelGrids {
  /** @param {HTMLElement} root @param {string} empty */
  constructor(root, empty) {
    this.root = root;
    this.empty = empty;
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
        canvas.setAttribute("aria-label", item.title);
        canvas.addEventListener("pointermove", (e) => this.hover(gi, e));
        canvas.addEventListener("pointerleave", hideTip);
        g.append(label, canvas);
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
        // Each kernel is a row of its input channels; several kernels share a grid row when the
        // width allows. A layer reading one image wraps its kernels in a plain grid.
        if (c > 1) {
          // Two kernels per row where the width allows it at 2× or more; else one per row, larger.
          css = Math.min(3, Math.floor(avail / (2 * c * (kw + 1))));
          if (css < 2) css = Math.max(1, Math.min(2, Math.floor(avail / (c * (kw + 1)))));
          const perRow = Math.max(1, Math.min(f, Math.floor((avail / css + 2) / (c * (kw + 1) + 2))));
          cols = c * perRow;
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
    const hit = hitGrid(g.canvas, g.grid, e.clientX, e.clientY);
    const d = g.d;
    if (!hit || hit.map >= g.grid.cols * g.grid.rows || hit.map >= (d.shape[0] * (g.item.kind === "conv" ? d.shape[1] : 1))) { hideTip(); return; }
    let html;
    if (g.item.kind === "conv") {
      const [, c, kh, kw] = d.shape;
      const f = Math.floor(hit.map / c), ch = hit.map % c;
      const v = valueAt(d, hit.map * kh * kw + hit.y * kw + hit.x);
      const b = g.item.bias?.[f];
      html = `<b>${esc(g.item.title)}</b><br>kernel ${f + 1}, input channel ${ch + 1} (${kh}×${kw})<br>weight at (${hit.y}, ${hit.x}) = <b>${formatNumber(v)}</b>` +
        (b !== undefined && b !== null ? `<br>this kernel's bias = ${formatNumber(b)}` : "") + `<br>shape (${d.shape.join(", ")})`;
    } else {
      const [, h, w] = d.shape;
      const v = valueAt(d, hit.map * h * w + hit.y * w + hit.x);
      html = `<b>${esc(g.item.title)}</b><br>neuron ${hit.map}: weight from pixel (${hit.y}, ${hit.x}) = <b>${formatNumber(v)}</b><br>shape (${d.shape.join(", ")})`;
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
    title: `layer ${k.index} · conv2d kernels`,
    caption: `${k.kernels.shape[0]} kernels of ${k.kernels.shape[1]}×${k.kernels.shape[2]}×${k.kernels.shape[3]}`,
    enc: k.kernels, kind: "conv", index: k.index, bias: k.bias,
  }));
  if (frame.dense) {
    const s = frame.dense.weights.shape;
    items.push({ title: `layer ${frame.dense.index} · dense weights as images`, caption: `${s[0]} neurons, each with ${s[1]}×${s[2]} weights`, enc: frame.dense.weights, kind: "dense", index: frame.dense.index });
  }
  return items;
}

/** @param {any} frame GradientsData @returns {KernelItem[]} */
export function gradientItems(frame) {
  if (!frame) return [];
  return frame.conv.map((/** @type {any} */ k) => ({
    title: `layer ${k.index} · ∂cost/∂kernel`, caption: "last mini-batch", enc: k.grad, kind: "conv", index: k.index,
  }));
}
