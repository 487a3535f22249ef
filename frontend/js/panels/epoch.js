// @ts-check
/**
 * Each epoch's confusion matrix (click or Enter on a cell to see those digits) and the gallery of
 * misclassified validation digits with what the network said. A cell shows every one of its
 * digits, a page at a time, fetched from the run's stored answers for that epoch.
 */
import { decodeArray } from "../encoding.js";
import { paintImage } from "../heatmap.js";
import { cssColor } from "../colormap.js";
import { cssVar } from "../chart.js";
import { wholePercent } from "../learnmath.js";
import { t, aDigit } from "../i18n.js";

export class EpochView {
  /**
   * @param {HTMLCanvasElement} canvas @param {HTMLElement} gallery @param {HTMLElement} filterLabel
   * @param {HTMLButtonElement} allButton @param {HTMLElement} epochLabel
   * @param {(epoch: number, label: number, predicted: number, offset: number) => Promise<any>} fetchDigits a page of a cell's digits
   */
  constructor(canvas, gallery, filterLabel, allButton, epochLabel, fetchDigits) {
    this.canvas = canvas; this.gallery = gallery; this.filterLabel = filterLabel; this.allButton = allButton; this.epochLabel = epochLabel;
    this.fetchDigits = fetchDigits;
    /** @type {{key: string, total: number, items: any[], error: string}|null} the selected cell's digits so far */
    this.cell = null;
    /** @type {any} */
    this.epoch = null;
    /** @type {[number, number]|null} */
    this.filter = null;
    /** @type {[number, number]} */
    this.cursor = [0, 0];
    canvas.addEventListener("click", (e) => {
      const cell = this.cellAt(e.clientX, e.clientY);
      if (cell) { this.cursor = cell; this.select(cell); }
    });
    canvas.addEventListener("keydown", (e) => {
      const [r, c] = this.cursor;
      const moves = /** @type {Record<string, [number, number]>} */ ({ ArrowUp: [r - 1, c], ArrowDown: [r + 1, c], ArrowLeft: [r, c - 1], ArrowRight: [r, c + 1] });
      if (moves[e.key]) { e.preventDefault(); this.cursor = [Math.max(0, Math.min(9, moves[e.key][0])), Math.max(0, Math.min(9, moves[e.key][1]))]; this.drawMatrix(); }
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.select(this.cursor); }
    });
    allButton.addEventListener("click", () => this.select(null));
  }

  geometry() {
    const size = this.canvas.clientWidth || 330;
    const L = 34, T = 34, cell = (size - L - 6) / 10;
    return { size, L, T, cell };
  }

  /** @param {number} x @param {number} y @returns {[number, number]|null} */
  cellAt(x, y) {
    const r = this.canvas.getBoundingClientRect();
    const { L, T, cell } = this.geometry();
    const col = Math.floor((x - r.left - L) / cell), row = Math.floor((y - r.top - T) / cell);
    return row >= 0 && row < 10 && col >= 0 && col < 10 ? [row, col] : null;
  }

  /** @param {any} epoch EpochData */
  show(epoch) {
    this.epoch = epoch;
    this.cell = null;
    this.epochLabel.textContent = epoch ? t("epoch.label", { n: epoch.epoch }) : "";
    this.drawMatrix();
    this.drawGallery();
    if (this.filter && epoch) this.more();
  }

  clear() { this.epoch = null; this.filter = null; this.show(null); }

  drawMatrix() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const { size, L, T, cell } = this.geometry();
    if (c.width !== Math.round(size * dpr)) { c.width = Math.round(size * dpr); c.height = Math.round(size * dpr); }
    const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    const m = this.epoch?.confusion;
    ctx.fillStyle = cssVar("--muted"); ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(t("epoch.axis_said"), L + cell * 5, 9);
    ctx.save(); ctx.translate(9, T + cell * 5); ctx.rotate(-Math.PI / 2); ctx.fillText(t("epoch.axis_true"), 0, 0); ctx.restore();
    for (let d = 0; d < 10; d++) {
      ctx.fillText(String(d), L + cell * (d + 0.5), T - 9);
      ctx.fillText(String(d), L - 10, T + cell * (d + 0.5));
    }
    if (!m) {
      ctx.fillText(t("epoch.after_first"), L + cell * 5, T + cell * 5);
      return;
    }
    for (let r = 0; r < 10; r++) {
      const total = m[r].reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0) || 1;
      for (let k = 0; k < 10; k++) {
        const frac = m[r][k] / total;
        // sqrt: the few errors off the diagonal stay visible next to the large diagonal.
        const t = Math.sqrt(frac);
        ctx.fillStyle = cssColor("viridis", t);
        ctx.fillRect(L + k * cell + 0.5, T + r * cell + 0.5, cell - 1, cell - 1);
        if (m[r][k]) {
          ctx.fillStyle = t > 0.6 ? "#111" : "#fff";
          ctx.fillText(String(m[r][k]), L + (k + 0.5) * cell, T + (r + 0.5) * cell);
        }
      }
    }
    const mark = (/** @type {[number, number]} */ [r, k], /** @type {string} */ color, w = 2) => {
      ctx.strokeStyle = color; ctx.lineWidth = w;
      ctx.strokeRect(L + k * cell + 1, T + r * cell + 1, cell - 2, cell - 2);
    };
    if (document.activeElement === this.canvas) mark(this.cursor, cssVar("--accent"));
    if (this.filter) mark(this.filter, cssVar("--chart-2"), 3);
  }

  /** @param {[number, number]|null} cell */
  select(cell) {
    this.filter = cell;
    this.cell = null;
    this.drawMatrix();
    this.drawGallery();
    if (cell) this.more();
  }

  /** The next page of the selected cell's digits. */
  async more() {
    if (!this.filter || !this.epoch) return;
    const [label, predicted] = this.filter;
    const key = `${this.epoch.epoch}:${label}:${predicted}`;
    if (this.cell && this.cell.key !== key) this.cell = null;
    const have = this.cell?.items.length ?? 0;
    try {
      const page = await this.fetchDigits(this.epoch.epoch, label, predicted, have);
      if (!this.filter || `${this.epoch?.epoch}:${this.filter[0]}:${this.filter[1]}` !== key) return;
      this.cell = { key, total: page.total, items: [...(this.cell?.items ?? []), ...page.items], error: "" };
    } catch (e) {
      this.cell = { key, total: 0, items: this.cell?.items ?? [], error: /** @type {Error} */ (e).message };
    }
    this.drawGallery();
  }

  /** The gallery's heading: "Misclassified", or "Read right" for a diagonal cell of the matrix. */
  setHeading(right = false) {
    const heading = this.filterLabel.previousElementSibling;
    if (heading) heading.textContent = t(right ? "epochs.read_right" : "epochs.misclassified");
  }

  drawGallery() {
    if (this.filter) { this.drawCell(); return; }
    this.setHeading();
    const g = this.gallery;
    const list = this.epoch?.misclassified ?? [];
    const shown = list;
    this.allButton.hidden = true;
    this.filterLabel.textContent = list.length ? t("epoch.first_of", { n: list.length, epoch: this.epoch.epoch }) : "";
    g.replaceChildren();
    if (!this.epoch) { g.innerHTML = `<p class="muted">${t("epochs.after_the_first_epoch")}</p>`; return; }
    if (!shown.length) {
      g.innerHTML = `<p class="muted">${t("epoch.none_sent")}</p>`;
      return;
    }
    this.figures(shown);
  }

  /** Every digit of the selected cell, as far as fetched, with "show more". */
  drawCell() {
    const g = this.gallery;
    const [label, predicted] = /** @type {[number, number]} */ (this.filter);
    this.setHeading(label === predicted);
    const n = this.epoch?.confusion?.[label]?.[predicted] ?? 0;
    this.allButton.hidden = false;
    const c = this.cell;
    const shown = c?.items.length ?? 0;
    this.filterLabel.textContent = t("epoch.cell_filter", { label, predicted, shown: c ? t("epoch.n_of", { n: shown, total: c.total }) : n });
    g.replaceChildren();
    if (!c) { g.innerHTML = `<p class="muted">${t(n === 1 ? "epoch.reading_one" : "epoch.reading", { n })}</p>`; return; }
    if (c.error) { g.innerHTML = `<p class="muted"></p>`; /** @type {HTMLElement} */ (g.firstElementChild).textContent = `These digits cannot be shown: ${c.error}`; return; }
    if (!c.total) { g.innerHTML = `<p class="muted">${t("epoch.cell_empty", { predicted, digit: aDigit(label) })}</p>`; return; }
    this.figures(c.items);
    if (shown < c.total) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "more"; b.textContent = t("epoch.show_more", { n: Math.min(48, c.total - shown), left: c.total - shown });
      b.addEventListener("click", () => this.more());
      g.append(b);
    }
  }

  /** @param {any[]} shown digits {label, predicted, image, probabilities?} */
  figures(shown) {
    const g = this.gallery;
    for (const x of shown) {
      const el = document.createElement("figure");
      el.className = x.predicted === x.label ? "mis right" : "mis"; // "right": not in the error colour
      el.style.margin = "0";
      const canvas = document.createElement("canvas");
      try { const d = decodeArray(x.image); paintImage(canvas, d.bytes, 0, d.shape[1], d.shape[0]); } catch { /* shown empty */ }
      const p = x.probabilities?.[x.predicted];
      const cap = document.createElement("figcaption");
      cap.innerHTML = `${t("epoch.said")} <b>${x.predicted}</b>${p != null ? ` (${wholePercent(p)})` : ""}<br>${t("epoch.true", { d: x.label })}`;
      if (x.index != null) el.title = t("learn.src.validation", { n: x.index });
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", t("epoch.digit.label", { d: x.label, predicted: x.predicted }));
      el.append(canvas, cap);
      g.append(el);
    }
  }
}
