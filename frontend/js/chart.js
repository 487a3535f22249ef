// @ts-check
/**
 * Line charts on <canvas>: axes with round ticks, linear or log y, a legend, marks on the x axis
 * (learning-rate changes, pauses, resumes), spikes clipped so they do not flatten the rest (and
 * the chart says so), and hover to read values. Long series are decimated per pixel column
 * (chartmath.decimate), so tens of thousands of points cost no more to draw than a few hundred.
 */
import { Column, decimate, extent, padRange, makeScale, invertScale, niceTicks, logTicks, nearestIndex, formatNumber, clipTop, tickLabels, yAxisLeft, markLabelAt } from "./chartmath.js";
import { t } from "./i18n.js";

/** @typedef {{x: number, label: string, color: string}} Mark */

/**
 * @typedef {{id: string, label: string, color: string, xs: Column, ys: Column, kind: "band"|"line"|"points", dash?: number[], width?: number, visible?: boolean, fmt?: (v: number) => string}} Series
 */

/** @type {Map<string, string>} */
let colorCache = new Map();
/** Forget resolved CSS colours (after a theme change). */
export function refreshColors() { colorCache = new Map(); }
/** @param {string} c a CSS colour or a custom property name ("--chart-1") */
export function cssVar(c) {
  if (!c.startsWith("--")) return c;
  let v = colorCache.get(c);
  if (!v) { v = getComputedStyle(document.documentElement).getPropertyValue(c).trim() || "#888"; colorCache.set(c, v); }
  return v;
}

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{xLabel: string, yLabel: string, yDomain?: [number, number], onHover?: () => void, empty?: string, readout?: HTMLElement}} opt
   *   readout: where the values the keyboard reads are said (a polite live region)
   */
  constructor(canvas, opt) {
    this.canvas = canvas;
    this.opt = opt;
    /** @type {Series[]} */
    this.series = [];
    this.log = false;
    /** Clip spikes: the y range ends where 99.5% of the mini-batch points lie (the rest drawn at the top). */
    this.clip = false;
    /** @type {Mark[]} */
    this.marks = [];
    /** @type {string} what was clipped, for the page to say */
    this.clipped = "";
    /** @type {number|null} */
    this.hoverPx = null;
    this.empty = opt.empty ?? t("chart.no_data");
    const hover = (/** @type {PointerEvent} */ e) => {
      const r = canvas.getBoundingClientRect();
      this.hoverPx = e.clientX - r.left;
      opt.onHover?.();
    };
    canvas.addEventListener("pointermove", hover);
    canvas.addEventListener("pointerdown", hover);
    canvas.addEventListener("pointerleave", () => { this.hoverPx = null; opt.onHover?.(); });
    // The keyboard reads what the mouse does: arrows move the readout (Shift: ten times as far),
    // Home/End go to the ends; leaving the chart puts it away.
    /** @type {{L: number, pw: number}|null} */
    this.box = null;
    this.keyed = false;
    this.readout = "";
    canvas.addEventListener("keydown", (e) => this.key(e));
    canvas.addEventListener("blur", () => { if (this.keyed) { this.keyed = false; this.hoverPx = null; opt.onHover?.(); } });
  }

  /** @param {KeyboardEvent} e */
  key(e) {
    const b = this.box;
    if (!b) return;
    const by = e.shiftKey ? b.pw / 10 : Math.max(1, b.pw / 60);
    let px = this.hoverPx ?? b.L + b.pw;
    if (e.key === "ArrowLeft" || e.key === "ArrowDown") px -= by;
    else if (e.key === "ArrowRight" || e.key === "ArrowUp") px += by;
    else if (e.key === "Home") px = b.L;
    else if (e.key === "End") px = b.L + b.pw;
    else return;
    e.preventDefault();
    this.keyed = true;
    this.hoverPx = Math.min(b.L + b.pw, Math.max(b.L, px));
    this.opt.onHover?.();
  }

  /** @param {Omit<Series, "xs"|"ys"> & {xs?: Column, ys?: Column}} s @returns {Series} */
  add(s) {
    const full = /** @type {Series} */ ({ visible: true, xs: new Column(), ys: new Column(), ...s });
    this.series.push(full);
    return full;
  }
  /** @param {string} id */
  get(id) { return this.series.find((s) => s.id === id); }
  /** @param {string} id */
  remove(id) { this.series = this.series.filter((s) => s.id !== id); }

  /**
   * The y range of the visible series: their extent, or — when clipping — the smooth series'
   * extent with the mini-batch band cut at its 99.5th percentile (so one spike cannot flatten
   * the rest; what is cut is said in `this.clipped`).
   * @param {Series[]} vis @returns {[number, number]}
   */
  yRange(vis) {
    let y0 = Infinity, y1 = -Infinity;
    /** @type {Series[]} */
    const cut = [];
    for (const s of vis) {
      let [a, b] = extent(s.ys.data, s.ys.length);
      if (this.clip && s.kind === "band") {
        const c = clipTop(s.ys.data, s.ys.length, 0.995);
        if (c.above > 0) { cut.push(s); b = c.top; }
      }
      if (a < y0) y0 = a; if (b > y1) y1 = b;
    }
    const range = padRange(y0, y1, this.log);
    if (!cut.length) return range;
    // The note counts what is really off the chart: another series (the smoothed line's warm-up
    // from the first cost) can raise the axis above the cut, and then those points are drawn. The
    // top is raised to 3 significant figures, so the number the note says is the axis's own.
    const unit = 10 ** (Math.floor(Math.log10(Math.abs(range[1]) || 1)) - 2);
    const top = Number((Math.ceil(range[1] / unit - 1e-9) * unit).toPrecision(3));
    range[1] = top;
    let above = 0;
    for (const s of cut) for (let i = 0; i < s.ys.length; i++) if (s.ys.data[i] > top) above++;
    if (above) this.clipped = t(above === 1 ? "chart.clipped_one" : "chart.clipped", { n: above, top: formatNumber(top) });
    return range;
  }

  /**
   * Vertical marks at steps (a new learning rate, a pause, a resume), labelled at the x axis.
   * @param {CanvasRenderingContext2D} ctx @param {(v: number) => number} sx @param {number} T @param {number} ph @param {number} x0 @param {number} x1
   */
  drawMarks(ctx, sx, T, ph, x0, x1) {
    ctx.save();
    ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "top";
    /** @type {{X: number, labels: string[], colors: string[]}[]} */
    const groups = [];
    for (const m of this.marks) {
      if (m.x < x0 || m.x > x1) continue;
      const X = Math.round(sx(m.x)) + 0.5;
      ctx.strokeStyle = cssVar(m.color); ctx.setLineDash([2, 3]); ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(X, T); ctx.lineTo(X, T + ph); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = cssVar(m.color);
      ctx.beginPath(); ctx.moveTo(X - 4, T + ph); ctx.lineTo(X + 4, T + ph); ctx.lineTo(X, T + ph - 6); ctx.fill();
      // Marks a few pixels apart (Pause, a new rate, Resume: often one step) share one label
      // stacked line by line, instead of the later ones being dropped.
      const g = groups[groups.length - 1];
      if (g && X - g.X < 60) { g.labels.push(m.label); g.colors.push(m.color); } else groups.push({ X, labels: [m.label], colors: [m.color] });
    }
    // Labels at the plot's top (under the clip note's line), away from the x axis' tick numbers.
    const right = sx(x1);
    for (const g of groups) {
      const at = markLabelAt(g.X, Math.max(...g.labels.map((label) => ctx.measureText(label).width)), right);
      ctx.textAlign = at.align;
      g.labels.forEach((label, i) => { ctx.fillStyle = cssVar(g.colors[i]); ctx.fillText(label, at.x, T + 16 + i * 12); });
    }
    ctx.restore();
  }

  /**
   * Draw everything: the layout (legend rows decide the top margin), the scales, then the grid,
   * marks, series, legend, clip note and hover box, each its own step.
   */
  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cw = c.clientWidth, ch = c.clientHeight;
    if (!cw || !ch) return;
    if (c.width !== Math.round(cw * dpr) || c.height !== Math.round(ch * dpr)) { c.width = Math.round(cw * dpr); c.height = Math.round(ch * dpr); }
    const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    ctx.font = "11px system-ui, sans-serif";
    const legend = this.legendLayout(ctx, cw);
    const ly = legend.length ? legend[legend.length - 1].y : 10;
    const R = 12, T = ly + 16, B = 34, ph = ch - T - B;
    const vis = this.series.filter((s) => s.visible !== false && s.xs.length > 0);
    // The y labels decide the left margin (long ones, e.g. 1.876·10⁻⁶, must not run into the title).
    const yRange = this.scales(vis, { L: 52, T, pw: cw - 52 - R, ph });
    const yt = this.log ? logTicks(yRange.y0, yRange.y1) : niceTicks(yRange.y0, yRange.y1, Math.max(2, Math.floor(ph / 45)));
    const ticks = { values: yt, labels: tickLabels(yt) };
    const L = yAxisLeft(Math.max(0, ...ticks.labels.map((l) => ctx.measureText(l).width)));
    const box = { cw, ch, L, T, pw: cw - L - R, ph };
    this.box = box;
    const scales = this.scales(vis, box);
    this.drawGrid(ctx, box, scales, ticks);
    if (!vis.length) {
      ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.font = "13px system-ui, sans-serif";
      ctx.fillText(this.empty, L + box.pw / 2, T + box.ph / 2);
    }
    this.drawMarks(ctx, scales.sx, T, box.ph, scales.x0, scales.x1);
    this.drawSeries(ctx, vis, box, scales);
    this.drawLegend(ctx, legend);
    if (this.clipped) {
      ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "right"; ctx.textBaseline = "top";
      ctx.fillText(`✂ ${this.clipped}`, L + box.pw - 2, T + 2);
    }
    this.drawHover(ctx, vis, box, scales);
  }

  /** Legend entries, wrapped onto more rows on a narrow chart. @param {CanvasRenderingContext2D} ctx @param {number} cw */
  legendLayout(ctx, cw) {
    /** @type {{s: Series, x: number, y: number}[]} */
    const legend = [];
    let lx = 56, ly = 10;
    for (const s of this.series) {
      if (s.visible === false) continue;
      const w = 16 + ctx.measureText(s.label).width + 14;
      if (lx + w > cw - 4 && lx > 56) { lx = 56; ly += 15; }
      legend.push({ s, x: lx, y: ly });
      lx += w;
    }
    return legend;
  }

  /**
   * Domains and scales: x from 0 to the last step, y from the visible data (or fixed).
   * @param {Series[]} vis @param {{L: number, T: number, pw: number, ph: number}} box
   */
  scales(vis, box) {
    let x1 = 1;
    for (const s of vis) x1 = Math.max(x1, s.xs.data[s.xs.length - 1]);
    const x0 = 0;
    let [y0, y1] = this.opt.yDomain ?? [Infinity, -Infinity];
    this.clipped = "";
    if (!this.opt.yDomain) [y0, y1] = this.yRange(vis);
    else if (this.log) [y0, y1] = padRange(Math.max(1e-3, y0), y1, true);
    const sx = makeScale(x0, x1, box.L, box.L + box.pw), sy = makeScale(y0, y1, box.T + box.ph, box.T, this.log);
    return { x0, x1, y0, y1, sx, sy };
  }

  /**
   * Grid lines, ticks, axes and their labels.
   * @param {CanvasRenderingContext2D} ctx @param {{ch: number, L: number, T: number, pw: number, ph: number}} box
   * @param {{x0: number, x1: number, y0: number, y1: number, sx: (v: number) => number, sy: (v: number) => number}} sc
   * @param {{values: number[], labels: string[]}} ticks the y ticks and their labels
   */
  drawGrid(ctx, box, sc, ticks) {
    const { L, T, pw, ph } = box, muted = cssVar("--muted");
    ctx.strokeStyle = cssVar("--grid"); ctx.fillStyle = muted; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ticks.values.forEach((v, k) => {
      const y = Math.round(sc.sy(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
      ctx.fillText(ticks.labels[k], L - 6, y);
    });
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const v of niceTicks(sc.x0, sc.x1, Math.max(2, Math.floor(pw / 90)))) {
      const x = Math.round(sc.sx(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + ph); ctx.stroke();
      ctx.fillText(formatNumber(v), x, T + ph + 5);
    }
    ctx.strokeStyle = muted;
    ctx.beginPath(); ctx.moveTo(L + 0.5, T); ctx.lineTo(L + 0.5, T + ph + 0.5); ctx.lineTo(L + pw, T + ph + 0.5); ctx.stroke();
    ctx.fillStyle = muted; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText(this.opt.xLabel, L + pw / 2, box.ch - 2);
    ctx.save(); ctx.translate(11, T + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle";
    ctx.fillText(this.opt.yLabel + (this.log ? t("chart.log_suffix") : ""), 0, 0); ctx.restore();
  }

  /**
   * The series, clipped to the plot: points with their joining line; bands and lines decimated
   * per pixel column.
   * @param {CanvasRenderingContext2D} ctx @param {Series[]} vis @param {{L: number, T: number, pw: number, ph: number}} box
   * @param {{x0: number, x1: number, sx: (v: number) => number, sy: (v: number) => number}} sc
   */
  drawSeries(ctx, vis, box, sc) {
    const { L, T, pw, ph } = box, { sx, sy } = sc;
    ctx.save();
    ctx.beginPath(); ctx.rect(L, T - 2, pw + 1, ph + 4); ctx.clip();
    for (const s of vis) {
      const color = cssVar(s.color);
      ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = s.width ?? 1.6;
      ctx.setLineDash(s.dash ?? []);
      if (s.kind === "points") {
        ctx.beginPath();
        for (let i = 0; i < s.xs.length; i++) {
          const y = s.ys.data[i]; if (!Number.isFinite(y)) continue;
          const X = sx(s.xs.data[i]), Y = sy(y);
          if (i === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
        }
        ctx.stroke();
        ctx.setLineDash([]);
        for (let i = 0; i < s.xs.length; i++) {
          const y = s.ys.data[i]; if (!Number.isFinite(y)) continue;
          ctx.beginPath(); ctx.arc(sx(s.xs.data[i]), sy(y), 3.5, 0, Math.PI * 2); ctx.fill();
        }
        continue;
      }
      const d = decimate(s.xs.data, s.ys.data, sc.x0, sc.x1, pw, s.xs.length);
      const px = (/** @type {number} */ col) => L + ((col + 0.5) / pw) * pw;
      ctx.beginPath();
      for (let i = 0; i < d.count; i++) {
        const X = px(d.px[i]);
        if (i === 0) ctx.moveTo(X, sy(d.first[i])); else ctx.lineTo(X, sy(d.first[i]));
        if (s.kind === "band") { ctx.lineTo(X, sy(d.min[i])); ctx.lineTo(X, sy(d.max[i])); ctx.lineTo(X, sy(d.last[i])); }
        else if (d.last[i] !== d.first[i]) ctx.lineTo(X, sy(d.last[i]));
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.restore();
  }

  /** @param {CanvasRenderingContext2D} ctx @param {{s: Series, x: number, y: number}[]} legend */
  drawLegend(ctx, legend) {
    ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.font = "11px system-ui, sans-serif";
    for (const { s, x, y } of legend) {
      ctx.fillStyle = cssVar(s.color);
      ctx.fillRect(x, y - 2, 12, 4);
      ctx.fillStyle = cssVar("--text");
      ctx.fillText(s.label, x + 16, y);
    }
  }

  /**
   * Hover: a crosshair and every series' value at the nearest step, in a box beside it.
   * @param {CanvasRenderingContext2D} ctx @param {Series[]} vis @param {{cw: number, L: number, T: number, pw: number, ph: number}} box
   * @param {{x0: number, x1: number, sx: (v: number) => number, sy: (v: number) => number}} sc
   */
  drawHover(ctx, vis, box, sc) {
    const { L, T, pw, ph, cw } = box;
    if (this.hoverPx === null || !vis.length || this.hoverPx < L || this.hoverPx > L + pw) return;
    const xv = invertScale(sc.x0, sc.x1, L, L + pw)(this.hoverPx);
    ctx.strokeStyle = cssVar("--muted"); ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(this.hoverPx + 0.5, T); ctx.lineTo(this.hoverPx + 0.5, T + ph); ctx.stroke(); ctx.setLineDash([]);
    const lines = [];
    for (const s of vis) {
      const i = nearestIndex(s.xs.data, xv, s.xs.length);
      if (i < 0) continue;
      const y = s.ys.data[i];
      if (!Number.isFinite(y)) continue;
      if (Math.abs(s.xs.data[i] - xv) > (sc.x1 - sc.x0) * 0.08 && s.kind !== "points") continue;
      ctx.fillStyle = cssVar(s.color);
      ctx.beginPath(); ctx.arc(sc.sx(s.xs.data[i]), sc.sy(y), 3, 0, Math.PI * 2); ctx.fill();
      lines.push({ color: cssVar(s.color), text: `${s.label}: ${(s.fmt ?? formatNumber)(y)}  ${t("chart.at_step", { step: formatNumber(s.xs.data[i]) })}` });
    }
    const said = lines.map((l) => l.text.replace(/\s+/g, " ")).join("; ");
    if (this.keyed && this.opt.readout && said !== this.readout) this.opt.readout.textContent = this.readout = said;
    if (!lines.length) return;
    const w = Math.max(...lines.map((l) => ctx.measureText(l.text).width)) + 22, h = lines.length * 16 + 8;
    let bx = this.hoverPx + 10; if (bx + w > cw - 2) bx = this.hoverPx - w - 10;
    const by = T + 4;
    ctx.fillStyle = cssVar("--panel"); ctx.strokeStyle = cssVar("--line");
    ctx.beginPath(); ctx.rect(bx, by, w, h); ctx.fill(); ctx.stroke();
    lines.forEach((l, i) => {
      ctx.fillStyle = l.color; ctx.fillRect(bx + 6, by + 10 + i * 16, 8, 3);
      ctx.fillStyle = cssVar("--text"); ctx.fillText(l.text, bx + 18, by + 12 + i * 16);
    });
  }
}
