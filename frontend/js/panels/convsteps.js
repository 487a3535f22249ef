// @ts-check
/**
 * Convolution and pooling explained on the digit itself, from /api/explain/conv (the notes' loop
 * code on the server, checked against the fast path):
 *
 * * forward — the kernel slides over the input; each position fills one cell of the output map,
 *   the sum of the products of the overlapping numbers (valid output size M − k + 1);
 * * backward — the error map, zero-padded by k − 1 on every side, under the kernel rotated 180°:
 *   the full convolution fills the input's error map position by position;
 * * the kernel's gradient — the error map laid over the input as if it were the kernel: one cell
 *   of ∂C/∂W per position, each the sum of input × error;
 * * pooling — which input each window's error goes to (max: the winner) or the share it spreads
 *   (mean: 1/size² each).
 *
 * Each stepper shows the server's number for the cell being filled and the sum of the products the
 * page lists for it (they agree to rounding); hover any cell for its exact value.
 */
import { map2d, stepPlan, windowSum, paddingProducts, fmt } from "../learnmath.js";
import { drawGrid, hitCell, scaleFor, fitCell } from "../numgrid.js";
import { showTip, hideTip, esc } from "../heatmap.js";
import { cssVar } from "../chart.js";
import { t } from "../i18n.js";

/** A figure's caption: what a hovered cell's map is called (the same words as on the page). @param {Element} canvas */
const captionOf = (canvas) => canvas.closest("figure")?.querySelector("figcaption")?.textContent ?? "";

/** @typedef {"forward"|"backward"|"kernel"} Mode */

/** The four titles of each stepper (catalogue: conv.<mode>.0..3). @param {Mode} mode */
const titles = (mode) => [0, 1, 2, 3].map((i) => t(`conv.${mode}.${i}`));

export class ConvStepper {
  /** @param {HTMLElement} root @param {Mode} mode */
  constructor(root, mode) {
    this.root = root;
    this.mode = mode;
    /** @type {any} */
    this.e = null;
    this.pos = 0;
    /** @type {number|null} */
    this.timer = null;
    const [title, a, b, c] = titles(mode);
    root.innerHTML = `<h4>${esc(title)}</h4>
      <div class="conv-maps">
        <figure><canvas class="src" role="img" aria-label="${esc(a)}"></canvas><figcaption>${esc(a)}</figcaption></figure>
        <figure><canvas class="ker" role="img" aria-label="${esc(b)}"></canvas><figcaption>${esc(b)}</figcaption></figure>
        <figure><canvas class="res" role="img" aria-label="${esc(c)}"></canvas><figcaption>${esc(c)}</figcaption></figure>
      </div>
      <div class="row tight stepper-controls">
        <button type="button" class="prev" aria-label="${esc(t("conv.prev"))}">◀</button>
        <input type="range" class="pos" min="0" max="0" value="0" aria-label="${esc(t("conv.position.label"))}">
        <button type="button" class="next" aria-label="${esc(t("conv.next"))}">▶</button>
        <button type="button" class="play">${esc(t("conv.play"))}</button>
        <output class="where"></output>
      </div>
      <p class="readout" data-testid="conv-cell-${mode}"></p>`;
    this.q = (/** @type {string} */ s) => /** @type {any} */ (root.querySelector(s));
    this.q(".prev").addEventListener("click", () => this.go(this.pos - 1));
    this.q(".next").addEventListener("click", () => this.go(this.pos + 1));
    this.q(".pos").addEventListener("input", () => this.go(Number(this.q(".pos").value)));
    this.q(".play").addEventListener("click", () => this.play());
    /** @type {Record<string, import("../numgrid.js").GridLayout|null>} */
    this.grids = { src: null, ker: null, res: null };
    for (const name of ["src", "ker", "res"]) {
      const c = this.q(`canvas.${name}`);
      c.addEventListener("pointermove", (/** @type {PointerEvent} */ ev) => this.hover(name, ev));
      c.addEventListener("pointerleave", hideTip);
    }
  }

  /** @param {any} e an /api/explain/conv answer for a conv layer */
  show(e) {
    const fresh = this.e?.layer !== e.layer || this.e?.kernel !== e.kernel || this.e?.channel !== e.channel;
    this.e = e;
    if (this.mode !== "backward") {
      // "padded" only where there is padding: the notes' valid convolution pads nothing.
      const padded = e.padding.some((/** @type {number} */ p) => p > 0);
      const name = padded ? t(`conv.${this.mode}.1`) : t("map.input");
      this.q("canvas.src").setAttribute("aria-label", name);
      /** @type {HTMLElement} */ (this.q("canvas.src").closest("figure").querySelector("figcaption")).textContent = name;
    }
    const plan = (this.plan = stepPlan(e, this.mode));
    const total = plan.rows * plan.cols;
    this.q(".pos").max = String(total - 1);
    if (fresh) {
      // Start where something happens: the position with the largest number (an all-zero corner
      // of a digit's background teaches nothing).
      let best = 0, bestV = -1;
      for (let p = 0; p < total; p++) {
        const v = Math.abs(plan.value(Math.floor(p / plan.cols), p % plan.cols) ?? 0);
        if (v > bestV) { bestV = v; best = p; }
      }
      this.pos = best;
    }
    this.go(Math.min(this.pos, total - 1));
  }

  /** @param {number} p */
  go(p) {
    if (!this.e || !this.plan) return;
    const total = this.plan.rows * this.plan.cols;
    this.pos = Math.max(0, Math.min(total - 1, p));
    this.q(".pos").value = String(this.pos);
    this.draw();
  }

  play() {
    const btn = this.q(".play");
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; btn.textContent = t("conv.play"); return; }
    btn.textContent = t("conv.stop");
    this.timer = window.setInterval(() => {
      const total = this.plan ? this.plan.rows * this.plan.cols : 0;
      if (!this.root.isConnected || this.pos >= total - 1) { if (this.timer !== null) clearInterval(this.timer); this.timer = null; btn.textContent = t("conv.play"); return; }
      this.go(this.pos + 1);
    }, 90);
  }

  draw() {
    const e = this.e, plan = /** @type {ReturnType<typeof stepPlan>} */ (this.plan);
    const src = map2d(e.maps[plan.source]), ker = map2d(e.maps[plan.kernel]), res = map2d(e.maps[plan.result]);
    const r = Math.floor(this.pos / plan.cols), c = this.pos % plan.cols;
    const r0 = r * plan.stride, c0 = c * plan.stride;
    const width = Math.max(240, this.root.clientWidth);
    const narrow = width < 560;
    const cellSrc = fitCell(src.w, Math.min(narrow ? width - 10 : width * 0.42, 330), 3, 24);
    const accent = cssVar("--accent");
    this.grids.src = drawGrid(this.q("canvas.src"), src, { cell: cellSrc, scale: scaleFor([src]), boxes: [{ r: r0, c: c0, h: plan.kh, w: plan.kw, color: accent, width: 2 }] });
    this.grids.ker = drawGrid(this.q("canvas.ker"), ker, { cell: fitCell(ker.w, Math.min(narrow ? width * 0.45 : width * 0.2, 200), 3, 36), scale: scaleFor([ker], "diverging") });
    // The result map: filled up to the current position; the rest faded.
    const [top, , left] = this.mode === "backward" ? e.padding : [0, 0, 0, 0];
    const filled = (/** @type {number} */ rr, /** @type {number} */ cc) => {
      const pr = rr + top, pc = cc + left;
      return pr * plan.cols + pc <= this.pos;
    };
    const resScale = scaleFor([res], this.mode === "forward" ? undefined : "diverging");
    const here = this.mode === "backward" ? { r: r - top, c: c - left } : { r, c };
    const inside = here.r >= 0 && here.c >= 0 && here.r < res.h && here.c < res.w;
    this.grids.res = drawGrid(this.q("canvas.res"), res, {
      cell: fitCell(res.w, Math.min(narrow ? width * 0.45 : width * 0.3, 300), 3, 36), scale: resScale,
      dim: (rr, cc) => !filled(rr, cc),
      boxes: inside ? [{ r: here.r, c: here.c, h: 1, w: 1, color: accent, width: 2 }] : [],
    });
    // The readout: the products under the window and their sum, beside the server's number.
    const { products, sum } = windowSum(src, ker, r0, c0);
    const server = plan.value(r, c);
    const where = this.mode === "kernel" ? t("conv.kernel_cell", { r, c }) : this.mode === "forward" ? t("conv.output_cell", { r, c }) : t("conv.input_cell", { r: r - top, c: c - left });
    this.q(".where").textContent = t("conv.position", { n: this.pos + 1, total: plan.rows * plan.cols });
    const onPadding = paddingProducts(plan.real, r0, c0, plan.kh, plan.kw);
    const shown = (products.length <= 9 ? products.map((p) => fmt(p, 3)).join(" + ") : t("conv.products", { n: products.length })) +
      (onPadding ? t("conv.padding_products", { pad: onPadding, real: products.length - onPadding }) : "");
    const bias = this.mode === "forward" ? t("conv.whole_map", { b: fmt(e.bias, 4), z: fmt(map2d(e.maps.output).at(r, c), 5) }) : "";
    this.q(".readout").innerHTML = server === null
      ? esc(t("conv.in_padding", { where, sum: fmt(sum, 5) }))
      : `${esc(where)} = Σ ${shown} = <span data-sum="${sum}">${fmt(sum, 6)}</span>; ${esc(t("conv.server_value"))} <b data-value="${server}">${fmt(server, 7)}</b>${esc(bias)}`;
    const readout = this.q(".readout");
    readout.dataset.row = String(here.r); readout.dataset.col = String(here.c);
    readout.dataset.value = server === null ? "" : String(server);
    readout.dataset.padding = String(onPadding);
  }

  /** @param {string} name @param {PointerEvent} ev */
  hover(name, ev) {
    const g = this.grids[name];
    if (!g || !this.plan) return;
    const hit = hitCell(this.q(`canvas.${name}`), g, ev.clientX, ev.clientY);
    if (!hit) { hideTip(); return; }
    const key = name === "src" ? this.plan.source : name === "ker" ? this.plan.kernel : this.plan.result;
    const v = map2d(this.e.maps[key]).at(hit.r, hit.c);
    showTip(ev.clientX, ev.clientY, `${esc(captionOf(this.q(`canvas.${name}`)))} (${hit.r}, ${hit.c}) = <b>${fmt(v, 7)}</b>`);
  }
}

export class PoolView {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    /** @type {any} */
    this.p = null;
    root.innerHTML = `<div class="conv-maps">
        <figure><canvas class="in" role="img"></canvas><figcaption class="in-caption"></figcaption></figure>
        <figure><canvas class="out" role="img" aria-label="${esc(t("pool.out"))}"></canvas><figcaption>${esc(t("pool.out"))}</figcaption></figure>
        <figure><canvas class="err" role="img" aria-label="${esc(t("pool.err.label"))}"></canvas><figcaption>${esc(t("pool.err"))}</figcaption></figure>
        <figure><canvas class="back" role="img" aria-label="${esc(t("pool.back"))}"></canvas><figcaption>${esc(t("pool.back"))}</figcaption></figure>
      </div><p class="readout" data-testid="pool-readout"></p>`;
    /** @type {Record<string, import("../numgrid.js").GridLayout|null>} */
    this.grids = {};
    for (const name of ["in", "out", "err", "back"]) {
      const c = /** @type {HTMLCanvasElement} */ (root.querySelector(`canvas.${name}`));
      c.addEventListener("pointermove", (ev) => this.hover(name, ev));
      c.addEventListener("pointerdown", (ev) => this.hover(name, ev));
      c.addEventListener("pointerleave", hideTip);
    }
  }

  /** @param {any} p an /api/explain/conv answer for a pooling layer */
  show(p) {
    this.p = p;
    // Max pooling has a winner in each window; mean pooling spreads the error over the window.
    const mean = p.mode !== "max";
    const inMap = /** @type {HTMLCanvasElement} */ (this.root.querySelector("canvas.in"));
    inMap.setAttribute("aria-label", t(mean ? "pool.in_mean.label" : "pool.in.label"));
    /** @type {HTMLElement} */ (this.root.querySelector(".in-caption")).textContent = t(mean ? "pool.in_mean" : "pool.in");
    const x = map2d(p.maps.input), y = map2d(p.maps.output), e = map2d(p.maps.error), dx = map2d(p.maps.input_grad);
    const width = Math.max(240, this.root.clientWidth);
    const cIn = fitCell(x.w, Math.min(width < 560 ? width - 10 : width * 0.24, 300), 3, 24);
    const accent = cssVar("--accent");
    const boxes = [];
    const [oh, ow] = [y.h, y.w];
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      if (p.mode === "max") {
        const k = (i * ow + j) * 2;
        boxes.push({ r: p.winners.values[k], c: p.winners.values[k + 1], h: 1, w: 1, color: accent, width: 1.5 });
      }
    }
    const q = (/** @type {string} */ s) => /** @type {HTMLCanvasElement} */ (this.root.querySelector(s));
    this.grids.in = drawGrid(q("canvas.in"), x, { cell: cIn, scale: scaleFor([x]), boxes, text: false });
    const cOut = fitCell(y.w, Math.min(width * 0.2, 220), 3, 30);
    this.grids.out = drawGrid(q("canvas.out"), y, { cell: cOut, scale: scaleFor([y]) });
    this.grids.err = drawGrid(q("canvas.err"), e, { cell: cOut, scale: scaleFor([e], "diverging") });
    this.grids.back = drawGrid(q("canvas.back"), dx, { cell: cIn, scale: scaleFor([dx], "diverging"), boxes, text: false });
    /** @type {HTMLElement} */ (this.root.querySelector(".readout")).innerHTML = p.mode === "max"
      ? esc(t("pool.max", { size: `${p.size}×${p.size}`, s: p.stride }))
      : esc(t("pool.mean", { size: `${p.size}×${p.size}`, s: p.stride, n: p.size * p.size }));
  }

  /** @param {string} name @param {PointerEvent} ev */
  hover(name, ev) {
    const p = this.p, g = this.grids[name];
    if (!p || !g) return;
    const hit = hitCell(/** @type {HTMLCanvasElement} */ (this.root.querySelector(`canvas.${name}`)), g, ev.clientX, ev.clientY);
    if (!hit) { hideTip(); return; }
    const key = { in: "input", out: "output", err: "error", back: "input_grad" }[/** @type {"in"} */ (name)];
    const v = map2d(p.maps[key]).at(hit.r, hit.c);
    let html = `${esc(captionOf(/** @type {Element} */ (this.root.querySelector(`canvas.${name}`))))} (${hit.r}, ${hit.c}) = <b>${fmt(v, 7)}</b>`;
    if (name === "back" || name === "in") {
      const wi = Math.floor(hit.r / p.stride), wj = Math.floor(hit.c / p.stride);
      const ow = map2d(p.maps.output).w;
      const e = map2d(p.maps.error);
      if (wi < e.h && wj < e.w) {
        if (p.mode === "max") {
          const k = (wi * ow + wj) * 2;
          const won = p.winners.values[k] === hit.r && p.winners.values[k + 1] === hit.c;
          // A tie (an all-zero window after ReLU): the window's maximum is this value too, but
          // only its first maximum, row by row, is the winner.
          const tie = !won && map2d(p.maps.input).at(hit.r, hit.c) === map2d(p.maps.output).at(wi, wj);
          html += `<br>${esc(t("pool.window", { i: wi, j: wj }))} ${esc(won ? t("pool.winner", { e: fmt(e.at(wi, wj), 6) }) : t(tie ? "pool.not_winner_tie" : "pool.not_winner"))}`;
        } else {
          html += `<br>${esc(t("pool.window", { i: wi, j: wj }))} ${esc(t("pool.error_word"))} ${fmt(e.at(wi, wj), 6)} ÷ ${p.size * p.size} = ${fmt(e.at(wi, wj) / (p.size * p.size), 6)}`;
        }
      }
    }
    showTip(ev.clientX, ev.clientY, html);
  }
}
