// @ts-check
/**
 * A dense layer as the notes write it, a' = σ(W·a + b), on the digit being explained: the weight
 * matrix (one row per neuron: for a layer reading the pixels, each row is a 28×28 picture), the
 * activations a coming in, the biases b, the weighted sums z and the activations a' going out —
 * and, switched to gradients, ∂C/∂W, where each entry is the activation feeding that weight
 * times the error of the neuron it feeds: ∂C/∂w_ij = a_i · δ_j. Hover any cell for its number.
 */
import { neuronColumns, fmt } from "../learnmath.js";
import { drawGrid, hitCell, scaleFor, fitCell, legend } from "../numgrid.js";
import { showTip, hideTip, esc } from "../heatmap.js";
import { t, columnName } from "../i18n.js";

/** @typedef {import("../numgrid.js").Map2D} Map2D */

export class LayerMatrix {
  /**
   * @param {{root: HTMLElement, pick: HTMLSelectElement, what: HTMLElement, canvas: HTMLCanvasElement,
   *   strips: HTMLElement, text: HTMLElement, legend: HTMLElement}} el
   */
  constructor(el) {
    this.el = el;
    /** @type {any} */
    this.ex = null;
    /** @type {"weights"|"gradient"} */
    this.what = "weights";
    /** @type {import("../numgrid.js").GridLayout|null} */
    this.grid = null;
    el.pick.addEventListener("change", () => this.draw());
    el.what.addEventListener("change", (e) => {
      this.what = /** @type {HTMLInputElement} */ (e.target).value === "gradient" ? "gradient" : "weights";
      this.draw();
    });
    el.canvas.addEventListener("pointermove", (e) => this.hover(e));
    el.canvas.addEventListener("pointerdown", (e) => this.hover(e));
    el.canvas.addEventListener("pointerleave", hideTip);
  }

  /** @param {any} ex */
  show(ex) {
    this.ex = ex;
    this.cols = neuronColumns(ex);
    const dense = this.cols.filter((c) => c.zLayer !== null);
    if (!dense.length) {
      this.el.root.hidden = true;
      return;
    }
    this.el.root.hidden = false;
    const keep = this.el.pick.value;
    this.el.pick.replaceChildren(...dense.map((c) => new Option(columnName(c), String(c.zLayer))));
    if ([...this.el.pick.options].some((o) => o.value === keep)) this.el.pick.value = keep;
    this.draw();
  }

  /** The column a dense layer makes, and the one it reads. */
  pair() {
    const z = Number(this.el.pick.value);
    const k = (this.cols ?? []).findIndex((c) => c.zLayer === z);
    return { out: this.cols?.[k], inp: this.cols?.[k - 1], layer: this.ex.layers[z] };
  }

  draw() {
    if (!this.ex) return;
    const { out, inp, layer } = this.pair();
    if (!out || !inp) return;
    const n = inp.size, m = out.size;
    const src = this.what === "weights" ? layer.params.W.values : layer.params.W.grad;
    // Rows are neurons j, columns inputs i: the matrix that multiplies the activation vector.
    const rowsAsImages = inp.image && m <= 64;
    /** @type {Map2D} */
    let map;
    if (rowsAsImages) {
      const [h, w] = /** @type {[number, number]} */ (inp.image);
      const per = Math.min(m, 8);
      const tilesDown = Math.ceil(m / per);
      // tiles of h×w, `per` across, separated by one blank cell
      map = {
        h: tilesDown * (h + 1) - 1, w: per * (w + 1) - 1,
        at: (r, c) => {
          const tr = Math.floor(r / (h + 1)), tc = Math.floor(c / (w + 1));
          const y = r % (h + 1), x = c % (w + 1);
          const j = tr * per + tc;
          return y === h || x === w || j >= m ? NaN : src[(y * w + x) * m + j];
        },
      };
    } else {
      map = { h: m, w: n, at: (r, c) => src[c * m + r] };
    }
    const width = this.el.root.clientWidth - 30;
    const cell = fitCell(map.w, width, 1, 16);
    const scale = scaleFor([{ h: map.h, w: map.w, at: (r, c) => (Number.isFinite(map.at(r, c)) ? map.at(r, c) : 0) }], "diverging");
    this.grid = drawGrid(this.el.canvas, map, { cell, scale, text: false });
    this.map = map;
    this.rowsAsImages = rowsAsImages;
    legend(this.el.legend, scale);
    const params = n * m + m;
    const sym = this.what === "weights" ? "W" : "∂C/∂W";
    this.el.text.innerHTML = `${rowsAsImages ? t(this.what === "weights" ? "matrix.tiles_weights" : "matrix.tiles_gradients", { n, size: inp.image?.join("×") ?? "" }) : t("matrix.row_col", { sym })}
      ${t("matrix.shape", { sym, size: `${m}×${n}`, formula: `${n}·${m} + ${m}`, total: `<b data-testid="matrix-params">${params.toLocaleString("en-US")}</b>` })}
      ${this.what === "gradient" ? t("matrix.gradient_entry") : ""}`;
    const strip = (/** @type {string} */ label, /** @type {number[]} */ v, /** @type {string} */ kind) =>
      `<div class="vec"><span>${label} <small>(${v.length})</small></span><span class="vals" data-kind="${kind}">${v.length <= 16 ? v.map((x) => `<i data-value="${x}">${fmt(x, 3)}</i>`).join("") : t("matrix.values_range", { n: v.length, lo: fmt(Math.min(...v), 3), hi: fmt(Math.max(...v), 3) })}</span></div>`;
    this.el.strips.innerHTML = [
      strip(t("matrix.a_in"), inp.values, "a"),
      strip("b", layer.params.b.values, "b"),
      strip("z = W·a + b", /** @type {number[]} */ (out.z), "z"),
      out.activation ? strip(`a' = ${esc(out.activation)}(z)`, out.values, "a2") : "",
      this.what === "gradient" ? strip("δ = ∂C/∂z", /** @type {number[]} */ (out.delta), "delta") : "",
    ].join("");
  }

  /** @param {PointerEvent} e */
  hover(e) {
    if (!this.grid || !this.map) return;
    const hit = hitCell(this.el.canvas, this.grid, e.clientX, e.clientY);
    const { out, inp, layer } = this.pair();
    if (!hit || !out || !inp) { hideTip(); return; }
    let i, j;
    if (this.rowsAsImages) {
      const [h, w] = /** @type {[number, number]} */ (inp.image);
      const per = Math.min(out.size, 8);
      const tr = Math.floor(hit.r / (h + 1)), tc = Math.floor(hit.c / (w + 1)), y = hit.r % (h + 1), x = hit.c % (w + 1);
      j = tr * per + tc;
      if (y === h || x === w || j >= out.size) { hideTip(); return; }
      i = y * w + x;
    } else { j = hit.r; i = hit.c; }
    const m = out.size;
    const wv = layer.params.W.values[i * m + j], g = layer.params.W.grad[i * m + j];
    const a = inp.values[i], d = /** @type {number[]} */ (out.delta)[j];
    showTip(e.clientX, e.clientY, `<b>w<sub>${i},${j}</sub></b>: ${t("matrix.tip.edge", { i, j })}<br>${t("matrix.tip.weight")} = <b>${fmt(wv, 7)}</b><br>` +
      `∂C/∂w = a<sub>${i}</sub> · δ<sub>${j}</sub> = ${fmt(a, 6)} × ${fmt(d, 6)} = <b>${fmt(a * d, 7)}</b><br><span class="muted">${t("matrix.tip.server", { g: fmt(g, 7) })}</span>`);
  }
}
