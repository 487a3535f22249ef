// @ts-check
/**
 * A network's insides for one digit: one row per layer — conv and pooling layers as grids of
 * feature maps, dense and activation layers as grids of neurons whose brightness is the
 * activation, the output as the ten digits. Rows are built once per architecture and only
 * repainted afterwards (one putImageData per layer).
 */
import { paintGrid, hitGrid, showTip, hideTip, esc } from "../heatmap.js";
import { tileLayout, cssColor } from "../colormap.js";
import { mapValue, neuronValues, sharedRange, exactAt } from "../layerdata.js";
import { formatNumber } from "../chartmath.js";
import { fmt, wholePercent } from "../learnmath.js";
import { legend } from "../numgrid.js";
import { t, layerTypeName } from "../i18n.js";

/** @typedef {import("../layerdata.js").LayerView} LayerView */

/** What each layer type's row shows (catalogue keys layer.caption.<type>). */
const CAPTIONED = ["conv2d", "maxpool2d", "avgpool2d", "flatten", "dense", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "dropout"];

export class NetworkView {
  /**
   * @param {HTMLElement} root
   * @param {{exact?: () => (any|null|undefined), perMap?: () => boolean, onExact?: (cb: () => void) => void}} [opt]
   *   exact(): the server's exact values for what is shown (undefined while loading, null when
   *   there are none); perMap(): scale each feature map on its own instead of one scale per layer.
   */
  constructor(root, opt = {}) {
    this.root = root;
    this.opt = opt;
    this.signature = "";
    /** @type {LayerView[]} */
    this.layers = [];
    /** @type {{canvas: HTMLCanvasElement, legend: HTMLElement, grid: import("../heatmap.js").Grid|null}[]} */
    this.rows = [];
    /** @type {{i: number, flat: number, x: number, y: number, html: (e: any) => string}|null} */
    this.hovered = null;
    /** @type {HTMLElement|null} */
    this.digits = null;
    /** @type {HTMLElement|null} */
    this.outMeta = null;
    this.width = 0;
  }

  /**
   * @param {LayerView[]} layers
   * @param {(number|null)[]|null} probabilities the ten digits' probabilities
   */
  show(layers, probabilities) {
    const width = Math.max(200, this.root.clientWidth);
    const sig = layers.map((l) => `${l.type}:${l.shape.join("x")}`).join("|") + `@${width > 720 ? "w" : "n"}`;
    if (sig !== this.signature || Math.abs(width - this.width) > 40) this.build(layers, width, sig);
    this.layers = layers;
    const avail = this.width > 720 ? this.width - 13 * 16 - 40 : this.width - 30;
    layers.forEach((l, i) => {
      const row = this.rows[i];
      if (l.kind === "maps") {
        const lay = tileLayout(l.set.maps, l.set.mapW, l.set.mapH, avail, { maxScale: l.set.mapW <= 8 ? 6 : 4, minScale: 1, gap: 2, maxRows: Math.max(1, Math.ceil(l.set.maps / 16)) });
        // One labelled scale per layer (maps compare with each other), or each map on its own.
        const perMap = this.opt.perMap?.() ?? false;
        const set = perMap ? l.set : sharedRange(l.set);
        row.grid = paintGrid(row.canvas, set, { cols: lay.cols, cssScale: lay.scale, gap: 1, scale: "viridis", maxCssWidth: avail });
        this.legend(row.legend, perMap ? null : /** @type {any} */ (set), perMap);
      } else {
        const n = l.set.maps;
        const cell = n <= 16 ? 22 : n <= 128 ? 14 : n <= 512 ? 9 : n === 784 ? 7 : 6;
        let cols = Math.max(1, Math.min(n, Math.floor(avail / (cell + 1))));
        // 784 input neurons laid out as the 28×28 image they are (the notes' "pixels are neurons").
        if (n === 784) cols = 28;
        row.grid = paintGrid(row.canvas, l.set, { cols, up: 4, gap: 1, cssScale: cell / 4, scale: "viridis", maxCssWidth: avail });
        this.legend(row.legend, { lo: l.set.min[0], hi: l.set.max[0] }, false);
      }
    });
    if (this.digits) {
      const kids = this.digits.children;
      for (let d = 0; d < 10; d++) {
        const p = probabilities?.[d] ?? 0;
        const el = /** @type {HTMLElement} */ (kids[d]);
        el.style.background = cssColor("viridis", p);
        el.style.color = p > 0.55 ? "#111" : "#fff";
        /** @type {HTMLElement} */ (el.lastElementChild).textContent = wholePercent(p);
      }
    }
  }

  /** @param {LayerView[]} layers @param {number} width @param {string} sig */
  build(layers, width, sig) {
    this.signature = sig;
    this.width = width;
    this.root.replaceChildren();
    this.rows = [];
    layers.forEach((l, i) => {
      const row = document.createElement("div");
      row.className = "layer";
      const meta = document.createElement("div");
      meta.className = "meta";
      const maps = l.shape.length === 3 ? l.shape[0] : 1;
      const what = l.kind === "maps" ? t(maps === 1 ? "layer.maps_of_one" : "layer.maps_of", { n: maps, size: l.shape.slice(-2).join("×") }) : t("layer.neurons", { n: l.shape[0] });
      meta.innerHTML = `<b>${l.index} · ${esc(layerTypeName(l.type))}</b><br>${what}<br><span>${esc(CAPTIONED.includes(l.type) ? t(`layer.caption.${l.type}`) : "")}</span>`;
      const canvas = document.createElement("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", t("layer.canvas.label", { i: l.index, type: layerTypeName(l.type), shape: l.shape.join("×") }));
      canvas.dataset.layer = String(l.index);
      canvas.addEventListener("pointermove", (e) => this.hover(i, e));
      canvas.addEventListener("pointerleave", () => { this.hovered = null; hideTip(); });
      const legend = document.createElement("div");
      legend.className = "legend";
      const body = document.createElement("div");
      body.append(canvas, legend);
      row.append(meta, body);
      this.root.append(row);
      this.rows.push({ canvas, legend, grid: null });
    });
    const out = document.createElement("div");
    out.className = "layer";
    out.innerHTML = `<div class="meta"><b>${esc(t("layer.output"))}</b><br>${esc(t("layer.the_ten_digits"))}<br><span>${esc(t("layer.brightness", { how: t("layer.how.probability") }))}</span></div>`;
    this.outMeta = /** @type {HTMLElement} */ (out.firstElementChild);
    this.digits = document.createElement("div");
    this.digits.className = "digits";
    this.digits.dataset.testid = "output-digits";
    for (let d = 0; d < 10; d++) {
      const c = document.createElement("div");
      c.innerHTML = `${d}<small>–</small>`;
      this.digits.append(c);
    }
    out.append(this.digits);
    this.root.append(out);
  }

  /**
   * A legend of values under a layer: the colour bar from its smallest to its largest value.
   * @param {HTMLElement} el @param {{lo: number, hi: number}|null} range @param {boolean} perMap
   */
  legend(el, range, perMap) {
    if (perMap || !range) {
      el.dataset.key = "";
      el.innerHTML = `<span class="muted small">${esc(t("layer.legend.per_map"))}</span>`;
      return;
    }
    const key = `${range.lo}|${range.hi}`;
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    legend(el, { scale: "viridis", lo: range.lo, hi: range.hi, absMax: Math.max(Math.abs(range.lo), Math.abs(range.hi)) });
    const note = document.createElement("span");
    note.className = "muted small";
    note.textContent = t("layer.legend.one_scale");
    el.append(note);
  }

  /** @param {number} i @param {PointerEvent} e */
  hover(i, e) {
    const row = this.rows[i], l = this.layers[i];
    if (!row?.grid || !l) return;
    const hit = hitGrid(row.canvas, row.grid, e.clientX, e.clientY);
    if (!hit || hit.map >= l.set.maps) { this.hovered = null; hideTip(); return; }
    const flat = l.kind === "maps" ? hit.map * l.set.mapSize + hit.y * l.set.mapW + hit.x : hit.map;
    this.hovered = { i, flat, x: e.clientX, y: e.clientY, html: () => this.tipHtml(i, hit, flat) };
    showTip(e.clientX, e.clientY, this.hovered.html(null));
  }

  /** The exact values arrived: redraw the open tooltip with them. */
  refreshTip() {
    if (this.hovered) showTip(this.hovered.x, this.hovered.y, this.hovered.html(null));
  }

  /**
   * The tooltip: exact numbers from the server when it has sent them; until then the picture's
   * value, marked ≈ (a uint8 picture is exact to half a grey level only).
   * @param {number} i @param {{map: number, y: number, x: number}} hit @param {number} flat
   */
  tipHtml(i, hit, flat) {
    const l = this.layers[i];
    const exact = this.opt.exact?.();
    const x = exact ? exactAt(exact, this.layers, i, flat) : null;
    const approx = "≈ ";
    const note = x ? "" : exact === undefined ? `<br><span class="muted">${esc(t("tip.reading_exact"))}</span>` : `<br><span class="muted">${esc(t("tip.from_picture"))}</span>`;
    let html;
    if (l.kind === "maps") {
      const v = x ? `<b>${fmt(x.value)}</b>` : `${approx}<b>${formatNumber(mapValue(l.set, hit.map, hit.y, hit.x))}</b>`;
      html = `<b>${esc(t("tip.layer", { i: l.index, type: layerTypeName(l.type) }))}</b> · ${esc(t("tip.feature_map", { m: hit.map, n: l.set.maps }))}<br>` +
        `${esc(t("tip.position", { row: hit.y, col: hit.x, size: `${l.set.mapH}×${l.set.mapW}` }))}<br>` +
        `${esc(t("tip.activation"))} ${v}${note}<br>${esc(t("tip.shape", { shape: l.shape.join(", ") }))}`;
    } else {
      const unit = hit.map;
      const n = neuronValues(this.layers, i, unit);
      html = `<b>${esc(t("tip.layer", { i: l.index, type: layerTypeName(l.type) }))}</b> · ${esc(t("tip.neuron", { u: unit, n: l.set.maps }))}<br>`;
      if (n) {
        const z = x?.z ?? null, b = x?.bias ?? null, a = x?.activation ?? null;
        html += `${esc(t("tip.weighted_sum"))} z = Σw·a + b = ${z !== null ? `<b>${fmt(z)}</b>` : `${approx}${formatNumber(n.z)}`}<br>`;
        if (b !== null && z !== null) html += `${esc(t("tip.bias"))} b = <b>${fmt(b)}</b>, Σw·a = ${fmt(z - b)}<br>`;
        html += n.activation !== null
          ? `${esc(t("tip.activation"))} ${esc(n.fn ?? "")}(z) = ${a !== null ? `<b>${fmt(a)}</b>` : `${approx}${formatNumber(n.activation)}`}`
          : esc(t("tip.raw_score"));
        html += note;
      } else {
        html += `${esc(t("tip.activation"))} ${x ? `<b>${fmt(x.value)}</b>` : `${approx}<b>${formatNumber(mapValue(l.set, unit))}</b>`}${note}`;
      }
      html += `<br>${esc(t("tip.shape", { shape: l.shape.join(", ") }))}`;
    }
    return html;
  }

  /** Say how the output row's probabilities are made. @param {string|null|undefined} readout */
  setReadout(readout) {
    if (!this.outMeta) return;
    const how = t(readout === "normalised" ? "layer.how.normalised" : readout === "softmax" ? "layer.how.softmax" : "layer.how.probability");
    /** @type {HTMLElement} */ (this.outMeta.querySelector("span")).textContent = t("layer.brightness", { how });
  }

  clear(message = "") {
    this.signature = "";
    this.root.innerHTML = message ? `<p class="muted">${esc(message)}</p>` : "";
    this.rows = [];
    this.digits = null;
    this.outMeta = null;
  }
}
