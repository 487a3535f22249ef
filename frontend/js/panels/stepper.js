// @ts-check
/**
 * Gradient descent by hand, on a scratch copy of the network (/api/explain/step): a learning-rate
 * slider, "take a step" moves every weight against its gradient, θ ← θ − η·∇C, and the page shows
 * the cost and the ten probabilities before and after, and the cost along the step direction
 * C(θ − η·∇C) for η from 0 to 3× the chosen rate — too small barely moves, too big overshoots.
 * The mini-batch view does the same for 8 digits: each digit's own gradient of the last layer,
 * their average, and that the average is exactly the gradient the batch step follows.
 */
import { fmt, cutPercent, map2d } from "../learnmath.js";
import { drawGrid, scaleFor, fitCell } from "../numgrid.js";
import { LineChart } from "../chart.js";
import { esc } from "../heatmap.js";
import { t } from "../i18n.js";
import { whileBusy } from "../busy.js";

/** lr slider position (0..1000) ↔ learning rate, log scale from 10⁻³ to 10. */
export const lrFromSlider = (/** @type {number} */ s) => 10 ** (-3 + (4 * s) / 1000);
export const sliderFromLr = (/** @type {number} */ lr) => Math.round(((Math.log10(lr) + 3) / 4) * 1000);

export class StepView {
  /**
   * @param {{slider: HTMLInputElement, lr: HTMLInputElement, step: HTMLButtonElement, reset: HTMLButtonElement,
   *   result: HTMLElement, curve: HTMLCanvasElement, count: HTMLElement}} el
   * @param {{step: (lr: number) => Promise<any>, reset: () => void, name: (id: string) => string}} act
   * `steps` counts the steps the scratch copy has taken, by this card or the mini-batch's; the
   * Learn view counts them (before it redraws its status), this card shows them.
   */
  constructor(el, act) {
    this.el = el;
    this.act = act;
    this.steps = 0;
    this.chart = new LineChart(el.curve, { xLabel: t("step.x"), yLabel: t("step.y"), onHover: () => this.chart.draw(), empty: t("step.empty") });
    this.line = this.chart.add({ id: "curve", label: t("step.curve"), color: "--chart-1", kind: "line", width: 2 });
    this.here = this.chart.add({ id: "here", label: t("step.here"), color: "--chart-2", kind: "points" });
    el.slider.addEventListener("input", () => { el.lr.value = String(+lrFromSlider(Number(el.slider.value)).toPrecision(3)); });
    el.lr.addEventListener("change", () => { const v = Number(el.lr.value); if (v > 0) el.slider.value = String(sliderFromLr(v)); });
    el.step.addEventListener("click", async () => {
      const lr = Number(el.lr.value);
      if (!(lr > 0 && lr <= 100)) { el.result.innerHTML = `<p class="err">${esc(t("step.lr_range"))}</p>`; return; }
      await whileBusy(el.step, async () => {
        const s = await act.step(lr);
        if (s) this.showStep(s);
      });
    });
    el.reset.addEventListener("click", () => {
      // Reset disables itself (nothing left to reset): the focus goes on to the step it starts again from.
      const focused = document.activeElement === el.reset;
      this.steps = 0; this.clear(); act.reset();
      if (focused) el.step.focus();
    });
  }

  /** A new digit or network: start from its default learning rate. @param {number} lr */
  setDefault(lr) {
    if (this.steps) return;
    this.el.lr.value = String(lr);
    this.el.slider.value = String(sliderFromLr(lr));
  }

  clear() {
    this.el.result.innerHTML = `<p class="muted">${esc(t("step.none"))}</p>`;
    this.el.count.textContent = "";
    this.line.xs.clear(); this.line.ys.clear(); this.here.xs.clear(); this.here.ys.clear();
    this.chart.draw();
  }

  /** @param {string} origin the network the steps started from */
  showCount(origin) {
    this.el.count.textContent = t(this.steps === 1 ? "step.count_one" : "step.count", { n: this.steps, origin: this.act.name(origin) });
  }

  /** The mini-batch card took a step on the copy: this card says so (its numbers are there). @param {any} s */
  batchStep(s) {
    this.el.result.innerHTML = `<p>${esc(t("step.by_batch", { before: fmt(s.cost_before, 5), after: fmt(s.cost_after, 5) }))}</p>`;
    this.line.xs.clear(); this.line.ys.clear(); this.here.xs.clear(); this.here.ys.clear();
    this.chart.draw();
    this.showCount(s.origin);
  }

  /** @param {any} s an /api/explain/step answer for one digit */
  showStep(s) {
    const ex = s.examples[0];
    const bars = (/** @type {number[]} */ p, /** @type {number} */ best) => p.map((v, d) =>
      `<span class="pbar${d === best ? " best" : ""}" title="${d}: ${cutPercent(v, 4)}"><i data-h="${Math.max(1, v * 100).toFixed(1)}"></i><b>${d}</b></span>`).join("");
    const fell = s.cost_after < s.cost_before;
    this.el.result.innerHTML = `
      <p>${esc(t("step.cost_for", { target: ex.target }))} <b data-testid="step-cost-before" data-value="${s.cost_before}">${fmt(s.cost_before, 6)}</b> →
        <b data-testid="step-cost-after" data-value="${s.cost_after}">${fmt(s.cost_after, 6)}</b>
        <span class="${fell ? "ok" : "no"}">${esc(t(fell ? "step.fell" : "step.rose", { d: fmt(Math.abs(s.cost_before - s.cost_after), 4) }))}</span></p>
      <div class="pbars-pair"><div><small>${esc(t("step.before_reads", { d: ex.prediction_before }))}</small><div class="pbars">${bars(ex.probabilities_before, ex.prediction_before)}</div></div>
        <div><small>${esc(t("step.after_reads"))} <b data-testid="step-prediction-after">${ex.prediction_after}</b></small><div class="pbars" data-testid="step-probabilities-after">${bars(ex.probabilities_after, ex.prediction_after)}</div></div></div>
      <p class="muted small">${esc(t("step.p_target", { target: ex.target }))} <span data-testid="step-p-before" data-value="${ex.probabilities_before[ex.target]}">${cutPercent(ex.probabilities_before[ex.target], 4)}</span> →
        <span data-testid="step-p-after" data-value="${ex.probabilities_after[ex.target]}">${cutPercent(ex.probabilities_after[ex.target], 4)}</span></p>`;
    for (const i of /** @type {NodeListOf<HTMLElement>} */ (this.el.result.querySelectorAll(".pbar i"))) i.style.height = `${i.dataset.h}%`;
    this.showCount(s.origin);
    this.line.xs.clear(); this.line.ys.clear(); this.here.xs.clear(); this.here.ys.clear();
    s.curve.lr.forEach((/** @type {number} */ x, /** @type {number} */ k) => { this.line.xs.push(x); this.line.ys.push(s.curve.cost[k]); });
    this.here.xs.push(0); this.here.ys.push(s.cost_before);
    this.here.xs.push(s.lr); this.here.ys.push(s.cost_after);
    this.chart.draw();
  }
}

export class BatchView {
  /**
   * @param {{draw: HTMLButtonElement, apply: HTMLButtonElement, out: HTMLElement}} el
   * @param {{batch: (keep: boolean) => Promise<any>}} act
   */
  constructor(el, act) {
    this.el = el;
    el.draw.addEventListener("click", () => whileBusy(el.draw, async () => { const s = await act.batch(false); if (s) this.show(s); }));
    el.apply.addEventListener("click", () => whileBusy(el.apply, async () => { const s = await act.batch(true); if (s) this.show(s, true); }));
  }

  /** @param {any} s an /api/explain/step answer for a mini-batch @param {boolean} [applied] */
  show(s, applied = false) {
    const out = this.el.out;
    const tile = (/** @type {any} */ g) => map2d(g);
    const grads = s.examples.map((/** @type {any} */ e) => tile(e.weight_grad));
    const mean = tile(s.mean_weight_grad), batch = tile(s.batch_weight_grad);
    const scale = scaleFor([...grads, mean], "diverging");
    // grad_W is (inputs, outputs): draw it transposed, one row per output neuron
    const T = (/** @type {ReturnType<typeof map2d>} */ m) => ({ h: m.w, w: m.h, at: (/** @type {number} */ r, /** @type {number} */ c) => m.at(c, r) });
    out.innerHTML = `<div class="batch-grid">${s.examples.map((/** @type {any} */ e, /** @type {number} */ k) =>
      `<figure><canvas class="digit" width="28" height="28" data-k="${k}"></canvas><canvas class="g" data-k="${k}"></canvas>
       <figcaption>${e.source.label ?? "?"} → ${esc(t("learn.target_label", { d: e.target }))}<br>C ${fmt(e.cost_before, 3)} → ${fmt(e.cost_after, 3)}</figcaption></figure>`).join("")}
      <figure class="avg"><canvas class="g" data-k="mean"></canvas><figcaption>${t("batch.average", { n: s.examples.length })}</figcaption></figure>
      <figure class="avg"><canvas class="g" data-k="batch"></canvas><figcaption>${esc(t("batch.gradient"))}</figcaption></figure></div>
      <p>${t("batch.text", { match: `<b data-testid="batch-match" data-value="${s.average_matches_batch}">${fmt(s.average_matches_batch, 3)}</b>`, n: s.examples.length,
        before: `<b data-value="${s.cost_before}">${fmt(s.cost_before, 5)}</b>`, after: `<b data-testid="batch-cost-after" data-value="${s.cost_after}">${fmt(s.cost_after, 5)}</b>`,
        applied: applied ? t("batch.applied") : "" })}</p>
      <p class="muted small">${esc(t("batch.pictures", { layer: s.layer }))}</p>`;
    const width = Math.max(40, Math.min(140, (out.clientWidth - 40) / 5));
    for (const c of /** @type {NodeListOf<HTMLCanvasElement>} */ (out.querySelectorAll("canvas.g"))) {
      const k = c.dataset.k;
      const m = T(k === "mean" ? mean : k === "batch" ? batch : grads[Number(k)]);
      drawGrid(c, m, { cell: fitCell(m.w, width, 1, 10), scale, text: false });
    }
    for (const c of /** @type {NodeListOf<HTMLCanvasElement>} */ (out.querySelectorAll("canvas.digit"))) {
      const x = map2d(s.examples[Number(c.dataset.k)].input);
      drawGrid(c, x, { cell: 2, scale: { scale: "viridis", lo: 0, hi: 1, absMax: 1 }, text: false });
    }
    out.setAttribute("aria-label", t("batch.label", { n: s.examples.length, before: fmt(s.cost_before), after: fmt(s.cost_after) }));
  }
}
