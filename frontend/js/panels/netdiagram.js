// @ts-check
/**
 * The network as the notes draw it: neurons as circles in columns (the input as its image),
 * connections coloured by the weight's sign (red +, blue −) and weighted by its size. Forward
 * mode colours each neuron by its activation; backward mode by its wish −∂C/∂a, the output's
 * wishes flowing right to left. Wide layers show their 16 strongest neurons (a summary, said on
 * the page). Choosing a neuron (pointer, touch or the keyboard form) opens it in the inspector:
 * its weighted sum z = Σ a·w + b with every term, its point on the activation curve, and its wish
 * as the sum over the neurons it feeds of w · f′(z) · wish (f their activation) — the exact numbers of the server.
 */
import { neuronColumns, shownNeurons, forwardTerms, wishTerms, activationFn, slopeSymbol, fmt } from "../learnmath.js";
import { colorOf } from "../numgrid.js";
import { cssVar } from "../chart.js";
import { esc } from "../heatmap.js";
import { t, columnName as colName } from "../i18n.js";

/** @typedef {import("../learnmath.js").Column} Column */

const MAX_SHOWN = 16;
const LISTED = 32; // terms listed one by one; beyond that the largest 16 and the rest summed

export class NetDiagram {
  /**
   * @param {{canvas: HTMLCanvasElement, note: HTMLElement, inspector: HTMLElement, mode: HTMLElement,
   *   pickColumn: HTMLSelectElement, pickNeuron: HTMLInputElement}} el
   */
  constructor(el) {
    this.el = el;
    /** @type {any} */
    this.ex = null;
    /** @type {Column[]} */
    this.cols = [];
    /** @type {"forward"|"backward"} */
    this.mode = "backward";
    /** @type {{col: number, i: number}|null} */
    this.selected = null;
    /** @type {{col: number, i: number, x: number, y: number, r: number}[]} */
    this.spots = [];
    el.canvas.addEventListener("pointermove", (e) => this.hover(e, false));
    el.canvas.addEventListener("pointerdown", (e) => this.hover(e, true));
    el.mode.addEventListener("change", (e) => {
      this.mode = /** @type {HTMLInputElement} */ (e.target).value === "forward" ? "forward" : "backward";
      this.draw();
    });
    const pick = () => {
      const col = Number(el.pickColumn.value), i = Number(el.pickNeuron.value);
      if (this.cols[col] && Number.isInteger(i) && i >= 0 && i < this.cols[col].size) this.select(col, i);
    };
    el.pickColumn.addEventListener("change", () => { el.pickNeuron.max = String((this.cols[Number(el.pickColumn.value)]?.size ?? 1) - 1); pick(); });
    el.pickNeuron.addEventListener("change", pick);
    // Enter in the number field submits its form: pick the neuron instead of reloading the page
    // (which would lose the steps, the target and the drawing).
    el.pickNeuron.form?.addEventListener("submit", (e) => { e.preventDefault(); pick(); });
  }

  /** @param {any} ex */
  show(ex) {
    this.ex = ex;
    this.cols = neuronColumns(ex);
    if (!this.cols.length) {
      this.el.note.textContent = t("net.no_dense");
      this.el.inspector.innerHTML = "";
      this.draw();
      return;
    }
    const wide = this.cols.filter((c) => c.size > MAX_SHOWN && !c.image);
    this.el.note.textContent = wide.length
      ? t("net.wide", { n: MAX_SHOWN, by: this.mode === "forward" ? t("net.by_activation") : t("net.by_wish"), list: wide.map((c) => t("net.n_in", { n: c.size, name: colName(c) })).join(t("list.sep")) })
      : t("net.every_drawn");
    const sel = this.el.pickColumn;
    const keep = sel.value;
    sel.replaceChildren(...this.cols.map((c, k) => new Option(`${colName(c)} (${c.size})`, String(k))));
    sel.value = keep && Number(keep) < this.cols.length ? keep : String(Math.min(1, this.cols.length - 1));
    if (!this.selected || this.selected.col >= this.cols.length || this.selected.i >= this.cols[this.selected.col].size) {
      // Start on the first hidden neuron: the one the notes' backprop rule is about.
      this.selected = { col: Math.min(1, this.cols.length - 1), i: 0 };
    }
    this.draw();
    this.inspect();
  }

  draw() {
    const c = this.el.canvas;
    const dpr = window.devicePixelRatio || 1;
    const box = c.parentElement;
    const pad = box ? parseFloat(getComputedStyle(box).paddingLeft) + parseFloat(getComputedStyle(box).paddingRight) : 0;
    const W = Math.max(240, (box?.clientWidth ?? 600) - pad), H = W < 500 ? 300 : 380;
    c.style.width = `${W}px`; c.style.height = `${H}px`;
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    this.spots = [];
    if (!this.cols.length) return;
    const backward = this.mode === "backward";
    const top = 26, bottom = H - 12;
    const imgSide = Math.min(W < 500 ? 84 : 140, bottom - top);
    const n = this.cols.length;
    const first = this.cols[0].image ? imgSide + 16 : 30;
    const right = W < 500 ? 62 : 80; // room for the last column's numbers
    const xs = this.cols.map((_, k) => (k === 0 ? (this.cols[0].image ? 8 + imgSide / 2 : 24) : first + ((W - first - right) * k) / (n - 1)));
    /** @type {{idx: number[], ys: number[], r: number}[]} */
    const layout = this.cols.map((col, k) => {
      if (col.image) return { idx: [], ys: [], r: 0 };
      const idx = shownNeurons(backward ? col.wishes : col.values, MAX_SHOWN);
      const step = (bottom - top) / idx.length;
      return { idx, ys: idx.map((_, t) => top + step * (t + 0.5)), r: Math.max(3, Math.min(11, step / 2 - 2)) };
    });
    // connections: weights of the dense layer between each pair of columns
    for (let k = 1; k < n; k++) {
      const Wt = this.ex.layers[/** @type {number} */ (this.cols[k].zLayer)].params.W;
      const m = Wt.shape[1];
      const L = layout[k - 1], R = layout[k];
      if (this.cols[k - 1].image) {
        ctx.strokeStyle = cssVar("--line"); ctx.lineWidth = 1;
        for (const y of R.ys) { ctx.beginPath(); ctx.moveTo(xs[0] + imgSide / 2, top + (bottom - top) / 2); ctx.lineTo(xs[k] - R.r, y); ctx.stroke(); }
        continue;
      }
      let maxW = 1e-12;
      for (const i of L.idx) for (const j of R.idx) maxW = Math.max(maxW, Math.abs(Wt.values[i * m + j]));
      L.idx.forEach((i, a) => R.idx.forEach((j, b) => {
        const w = Wt.values[i * m + j];
        const t = Math.abs(w) / maxW;
        ctx.strokeStyle = w >= 0 ? `rgba(178, 24, 43, ${0.08 + 0.5 * t})` : `rgba(33, 102, 172, ${0.08 + 0.5 * t})`;
        ctx.lineWidth = 0.4 + 2 * t;
        ctx.beginPath(); ctx.moveTo(xs[k - 1] + L.r, L.ys[a]); ctx.lineTo(xs[k] - R.r, R.ys[b]); ctx.stroke();
      }));
    }
    ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    // Numbers beside the neurons only where the columns leave room for them.
    const gapX = n > 2 ? xs[2] - xs[1] : W;
    const roomy = gapX >= 110;
    this.cols.forEach((col, k) => {
      ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "center";
      const head = col.image ? t("net.input_neurons", { n: col.size }) : col.size > MAX_SHOWN ? t("epoch.n_of", { n: MAX_SHOWN, total: col.size }) : roomy ? t("layer.neurons", { n: col.size }) : `${col.size}`;
      ctx.fillText(head, Math.min(Math.max(xs[k], 40), W - 40), 10);
      const vals = backward ? col.wishes : col.values;
      const scale = backward
        ? { scale: /** @type {const} */ ("diverging"), absMax: Math.max(1e-300, ...vals.map(Math.abs)) }
        : { scale: /** @type {const} */ ("viridis"), lo: Math.min(0, ...vals), hi: Math.max(1e-300, ...vals, col.activation === "sigmoid" ? 1 : 0) };
      if (col.image) {
        const [h, w] = col.image;
        const cell = imgSide / Math.max(h, w);
        const x0 = xs[0] - imgSide / 2, y0 = top + (bottom - top - imgSide) / 2;
        for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
          ctx.fillStyle = colorOf(vals[r * w + q], scale);
          ctx.fillRect(x0 + q * cell, y0 + r * cell, cell + 0.5, cell + 0.5);
          this.spots.push({ col: 0, i: r * w + q, x: x0 + (q + 0.5) * cell, y: y0 + (r + 0.5) * cell, r: cell / 2 });
        }
        if (this.selected?.col === 0) {
          const i = this.selected.i;
          ctx.strokeStyle = cssVar("--accent"); ctx.lineWidth = 2;
          ctx.strokeRect(x0 + (i % w) * cell, y0 + Math.floor(i / w) * cell, cell, cell);
        }
        return;
      }
      const L = layout[k];
      const last = k === n - 1;
      // Labels beside the neurons: the value too where the columns leave room, but only if the
      // column's widest label fits before the canvas's edge — a number cut at the edge reads as
      // another number (−8.75·10⁻⁶ as "−8.75·10"). Otherwise the output neurons keep their names.
      const named = last && col.size === 10;
      const full = L.idx.map((i) => (named ? `${i}: ${fmt(vals[i], 3)}` : fmt(vals[i], 3)));
      const labelX = xs[k] + L.r + 3;
      const fits = labelX + Math.max(0, ...full.map((s) => ctx.measureText(s).width)) <= W - 2;
      const labels = roomy && fits ? full : named ? L.idx.map(String) : null;
      L.idx.forEach((i, t) => {
        const y = L.ys[t];
        ctx.beginPath(); ctx.arc(xs[k], y, L.r, 0, 2 * Math.PI);
        ctx.fillStyle = colorOf(vals[i], scale); ctx.fill();
        const chosen = this.selected?.col === k && this.selected.i === i;
        ctx.strokeStyle = chosen ? cssVar("--accent") : cssVar("--line"); ctx.lineWidth = chosen ? 3 : 1; ctx.stroke();
        this.spots.push({ col: k, i, x: xs[k], y, r: L.r });
        if (L.r >= 5 && labels && (roomy || last)) {
          ctx.fillStyle = cssVar("--text"); ctx.textAlign = "left";
          ctx.fillText(labels[t], labelX, y);
        }
      });
    });
  }

  /** @param {PointerEvent} e @param {boolean} pin */
  hover(e, pin) {
    const r = this.el.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    let best = null, bestD = Infinity;
    for (const s of this.spots) {
      const d = Math.hypot(s.x - x, s.y - y);
      if (d <= s.r + 3 && d < bestD) { best = s; bestD = d; }
    }
    if (best && (pin || e.pointerType === "mouse")) this.select(best.col, best.i);
  }

  /** @param {number} col @param {number} i */
  select(col, i) {
    if (this.selected?.col === col && this.selected.i === i) return;
    this.selected = { col, i };
    this.el.pickColumn.value = String(col);
    this.el.pickNeuron.max = String(this.cols[col].size - 1);
    this.el.pickNeuron.value = String(i);
    this.draw();
    this.inspect();
  }

  /** The inspector: the chosen neuron's forward sum and backward wish, term by term. */
  inspect() {
    const box = this.el.inspector;
    if (!this.selected || !this.ex) { box.innerHTML = ""; return; }
    const { col: k, i } = this.selected;
    const col = this.cols[k];
    const ex = this.ex;
    const parts = [];
    const where = col.image ? t("net.pixel", { i, row: Math.floor(i / col.image[1]), col: i % col.image[1] }) : t("tip.neuron", { u: i, n: col.size });
    parts.push(`<p class="insp-head"><b>${esc(colName(col))}</b> · ${esc(where)}</p>`);
    // forward: z = Σ a·w + b, a = σ(z)
    if (col.zLayer !== null) {
      const dense = ex.layers[col.zLayer];
      const f = forwardTerms(this.cols[k - 1].values, dense.params.W, dense.params.b.values[i], i);
      const serverZ = /** @type {number[]} */ (col.z)[i];
      parts.push(`<div class="insp-forward" data-testid="inspector-forward"><p>${t("net.weighted_sum")}</p>${termTable(
        f.terms.map((r) => ({ label: `a<sub>${r.i}</sub> · w<sub>${r.i},${i}</sub>`, a: r.a, b: r.w, product: r.product })),
        "a", "w", 12, t("net.terms_z.label", { i }))}
        <p>+ ${t("tip.bias")} b = <span data-value="${f.bias}">${fmt(f.bias, 6)}</span> → <b>z = <span data-testid="inspector-z" data-value="${serverZ}">${fmt(serverZ, 7)}</span></b></p>
        ${col.activation ? `<p><b>a = ${esc(col.activation)}(z) = <span data-testid="inspector-a" data-value="${col.values[i]}">${fmt(col.values[i], 7)}</span></b>, ${t("net.slope")} ${esc(col.activation)}′(z) = <span data-value="${/** @type {number[]} */ (col.slope)[i]}">${fmt(/** @type {number[]} */ (col.slope)[i], 5)}</span></p><canvas class="curve" width="220" height="90" aria-label="${esc(t("net.curve.label"))}"></canvas>` : `<p class="muted">${t(ex.loss === "cross_entropy" && k === this.cols.length - 1 ? "net.no_act_score" : "net.no_act")}</p>`}
      </div>`);
    } else {
      parts.push(`<p>${t("net.input_neuron", { a: `<b data-value="${col.values[i]}">${fmt(col.values[i], 6)}</b>` })}</p>`);
    }
    // backward: the wish
    const wish = col.wishes[i];
    if (k === this.cols.length - 1) {
      const y = i === ex.target ? 1 : 0;
      const rule = ex.loss === "mse"
        ? `−∂C/∂a = −2(a − y) = −2(${fmt(col.values[i], 6)} − ${y})`
        : `−∂C/∂z = y − p = ${y} − ${fmt(ex.probabilities[i], 6)}`;
      parts.push(`<div class="insp-backward"><p>${t(y ? "net.output_neuron_1" : "net.output_neuron_0", { rule, wish: `<b data-testid="inspector-total" data-value="${wish}">${fmt(wish, 7)}</b>` })}</p></div>`);
    } else {
      const next = this.cols[k + 1];
      const W = ex.layers[/** @type {number} */ (next.zLayer)].params.W;
      const { terms, total } = wishTerms(W, next, i);
      // The slope of the activation those neurons really have (none: z is their output, slope 1;
      // a softmax has no slope of its own: −∂C/∂z stands for slope × wish).
      const f = next.slope ? slopeSymbol(next.activation) : null, wishWord = t("net.wish");
      const factor = (/** @type {number|string} */ j) => f ? `${f}(z<sub>${j}</sub>) · ${wishWord}<sub>${j}</sub>` : next.activation === null ? `${wishWord}<sub>${j}</sub>` : `(−∂C/∂z<sub>${j}</sub>)`;
      const rule = `w · ${f ? `${f}(z) · ${wishWord}` : next.activation === null ? wishWord : "(−∂C/∂z)"}`;
      const note = f ? "" : ` <span class="muted">${t(next.activation === null ? "net.no_slope" : "net.no_slope_softmax")}</span>`;
      parts.push(`<div class="insp-backward" data-testid="inspector-backward"><p>${t("net.hidden_wish", { n: terms.length, rule })}${note}</p>
        ${termTable(terms.map((r) => ({ label: `w<sub>${i},${r.j}</sub> · ${factor(r.j)}`, a: r.w, b: r.factor, product: r.product })), "w", f ? `${f}·${wishWord}` : next.activation === null ? wishWord : "−∂C/∂z", LISTED, t("net.terms_wish.label", { i }))}
        <p><b>${t("net.sum")} = <span data-testid="inspector-total" data-value="${total}">${fmt(total, 7)}</span></b>;
        ${t("net.server_wish")} −∂C/∂a = <span data-testid="inspector-wish" data-value="${wish}">${fmt(wish, 7)}</span></p></div>`);
    }
    box.innerHTML = parts.join("");
    const curve = /** @type {HTMLCanvasElement|null} */ (box.querySelector("canvas.curve"));
    if (curve && col.z) drawCurve(curve, col.activation, col.z[i], col.values[i]);
  }
}

/**
 * Rows "label: x × y = product", all of them when there are at most `limit`, else the largest
 * 16 and one row summing the rest (so the listed numbers always add up to the total).
 * @param {{label: string, a: number, b: number, product: number}[]} rows @param {string} an @param {string} bn @param {number} limit
 * @param {string} name the table's own name: the inspector shows two, and two regions of one name are one landmark twice
 */
function termTable(rows, an, bn, limit, name) {
  let shown = rows, rest = null;
  if (rows.length > limit) {
    shown = [...rows].sort((p, q) => Math.abs(q.product) - Math.abs(p.product)).slice(0, 16);
    const kept = new Set(shown);
    const others = rows.filter((r) => !kept.has(r));
    rest = { count: others.length, sum: others.reduce((s, r) => s + r.product, 0) };
  }
  const body = shown.map((r) => `<tr><td>${r.label}</td><td class="num">${fmt(r.a, 4)}</td><td class="num">${fmt(r.b, 4)}</td><td class="num" data-term="${r.product}">${fmt(r.product, 5)}</td></tr>`).join("");
  const tail = rest ? `<tr class="rest"><td>${t("net.other_terms", { n: rest.count })}</td><td></td><td></td><td class="num" data-term="${rest.sum}">${fmt(rest.sum, 5)}</td></tr>` : "";
  return `<div class="table-wrap terms" tabindex="0" role="region" aria-label="${esc(name)}"><table><thead><tr><th scope="col">${t("net.term")}</th><th scope="col">${an}</th><th scope="col">${bn}</th><th scope="col">${t("net.product")}</th></tr></thead><tbody>${body}${tail}</tbody></table></div>`;
}

/**
 * The activation curve around z with the neuron's point (z, a) on it.
 * @param {HTMLCanvasElement} c @param {string|null} kind @param {number} z @param {number} a
 */
function drawCurve(c, kind, z, a) {
  const f = activationFn(kind);
  const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
  const W = c.width, H = c.height;
  ctx.clearRect(0, 0, W, H);
  if (!f) return;
  const span = Math.max(6, Math.abs(z) * 1.3);
  const x0 = -span, x1 = span;
  let lo = Infinity, hi = -Infinity;
  for (let t = 0; t <= 100; t++) { const v = f(x0 + ((x1 - x0) * t) / 100); lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const X = (/** @type {number} */ v) => ((v - x0) / (x1 - x0)) * (W - 10) + 5;
  const Y = (/** @type {number} */ v) => H - 12 - ((v - lo) / (hi - lo || 1)) * (H - 24);
  ctx.strokeStyle = cssVar("--grid"); ctx.beginPath(); ctx.moveTo(X(0), 4); ctx.lineTo(X(0), H - 8); ctx.moveTo(4, Y(0)); ctx.lineTo(W - 4, Y(0)); ctx.stroke();
  ctx.strokeStyle = cssVar("--chart-1"); ctx.lineWidth = 2; ctx.beginPath();
  for (let t = 0; t <= 100; t++) { const x = x0 + ((x1 - x0) * t) / 100; if (t) ctx.lineTo(X(x), Y(f(x))); else ctx.moveTo(X(x), Y(f(x))); }
  ctx.stroke();
  ctx.fillStyle = cssVar("--chart-2"); ctx.beginPath(); ctx.arc(X(z), Y(a), 4, 0, 2 * Math.PI); ctx.fill();
  ctx.fillStyle = cssVar("--muted"); ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "left";
  ctx.fillText(`z = ${fmt(z, 3)}`, 6, H - 2);
}
