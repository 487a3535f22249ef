// @ts-check
/**
 * "What it has learned": kernels, gradient norms and kernel gradients, the ten probe digits
 * through every layer, and the timeline that moves all of them together.
 *
 * Two sources, one timeline: a run that trains sends heavy frames live (state.js keeps a bounded
 * history of each); a run that has ended (finished, stopped, interrupted, …) is read back from its
 * checkpoints on demand (GET /api/runs/{id}/learned?checkpoint=…), one entry per checkpoint.
 */
import { S, $, attempt, isActive, modelName, watchedRun } from "../state.js";
import * as api from "../api.js";
import { markDirty } from "../scheduler.js";
import { cssVar } from "../chart.js";
import { formatNumber } from "../chartmath.js";
import { fmt, pow10, percent } from "../learnmath.js";
import { STATUS } from "../protocol.js";
import { decodeProbes, probeLayers } from "../layerdata.js";
import { paintImage, esc } from "../heatmap.js";
import { drawGrid, scaleFor, legend } from "../numgrid.js";
import { KernelGrids, kernelItems, gradientItems } from "./kernels.js";
import { NetworkView } from "./network.js";
import { t } from "../i18n.js";

/** @typedef {{name: string, step: number, epoch: number}} CheckpointInfo */
/** @typedef {{step: number, label: string, kernels: any, activations: any, gradients: any, model: string|null, source: "live"|"checkpoint"}} Frame */

export class LearnedPanel {
  constructor() {
    /** @type {"live"|"checkpoints"} */
    this.mode = "live";
    /** @type {CheckpointInfo[]} */
    this.checkpoints = [];
    /** @type {Map<string, any>} checkpoint name -> its frames */
    this.loaded = new Map();
    /** @type {Set<string>} */
    this.loading = new Set();
    /** @type {Map<string, any>} exact probe activations by model|probe */
    this.exact = new Map();
    /** @type {{step: number, data: ReturnType<typeof decodeProbes>}|null} */
    this.probeCache = null;
    this.kernels = new KernelGrids($("kernels"), t("learned.kernels_empty"), (item, k) => this.enlarge(item, k));
    this.gradKernels = new KernelGrids($("grad-kernels"), "", (item, k) => this.enlarge(item, k));
    this.probeView = new NetworkView($("probe-layers"), { exact: () => this.exactProbe() });
    $("timeline").addEventListener("input", () => {
      S.timelineIndex = Number($("timeline").value);
      S.live = this.mode === "live" && S.timelineIndex >= this.length() - 1;
      this.dirty();
    });
    $("live").addEventListener("click", () => { S.live = true; S.timelineIndex = this.length() - 1; this.dirty(); });
    $("zoom-close").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("zoom")).close());
  }

  dirty() { for (const n of ["timeline", "kernels", "probes", "grad"]) markDirty(n); }

  reset() {
    this.mode = "live"; this.checkpoints = []; this.loaded.clear(); this.loading.clear(); this.exact.clear();
    this.probeCache = null; S.live = true; S.timelineIndex = 0;
    this.dirty();
  }

  /** A run that is not training: its checkpoints are the timeline. @param {string} id */
  async loadCheckpoints(id) {
    const r = await attempt(api.getLearned(id), t("learned.reading"));
    if (!r || S.watched !== id || isActive(watchedRun())) return;
    if (!r.checkpoints.length) { this.mode = "live"; this.dirty(); return; }
    this.mode = "checkpoints";
    this.checkpoints = r.checkpoints;
    this.loaded.set(r.checkpoint, r);
    S.live = true; S.timelineIndex = this.checkpoints.length - 1;
    this.dirty();
  }

  length() { return this.mode === "checkpoints" ? this.checkpoints.length : S.kernels.length; }

  /** The frame the timeline points at (null while a checkpoint's frames load). @returns {Frame|null} */
  frame() {
    if (this.mode === "checkpoints") {
      const i = S.live ? this.checkpoints.length - 1 : S.timelineIndex;
      const c = this.checkpoints[i];
      if (!c) return null;
      const f = this.loaded.get(c.name);
      if (!f) { this.fetch(c.name); return null; }
      return { step: f.step, label: `${c.name} · ${t("learned.step", { step: f.step })}`, kernels: f.kernels, activations: f.activations, gradients: f.gradients, model: `${S.watched}:${c.name}`, source: "checkpoint" };
    }
    const k = S.live ? S.kernels.latest() : S.kernels.get(S.timelineIndex);
    const step = k?.step ?? (S.live ? Infinity : -1);
    const a = step === Infinity ? S.probes.latest() : S.probes.at(step);
    const g = step === Infinity ? S.gradients.latest() : S.gradients.at(step);
    if (!k && !a && !g) return null;
    // Exact values need weights that stay put: a run that is paused or ended, at its latest frame.
    const run = watchedRun();
    const model = S.live && run && run.status !== STATUS.RUNNING ? S.watched : null;
    return { step: k?.step ?? a?.step ?? 0, label: t("learned.step", { step: k?.step ?? a?.step ?? "–" }), kernels: k?.frame ?? null, activations: a?.frame ?? null, gradients: g?.frame ?? null, model, source: "live" };
  }

  /** @param {string} name */
  async fetch(name) {
    const id = S.watched;
    if (!id || this.loading.has(name)) return;
    this.loading.add(name);
    const r = await attempt(api.getLearned(id, name), t("learned.reading_checkpoint", { name }));
    this.loading.delete(name);
    if (!r || S.watched !== id) return;
    this.loaded.set(name, r);
    this.dirty();
  }

  // -- painters -------------------------------------------------------------------------------
  paintTimeline() {
    const tl = $("timeline"), n = this.length();
    tl.disabled = n < 2;
    tl.max = String(Math.max(0, n - 1));
    if (S.live) { tl.value = String(Math.max(0, n - 1)); S.timelineIndex = n - 1; }
    const f = this.frame();
    const where = this.mode === "checkpoints" ? "checkpoints" : "live";
    const label = this.mode === "checkpoints"
      ? (this.checkpoints[S.live ? n - 1 : S.timelineIndex]?.name ?? "–")
      : t("learned.step", { step: f?.step ?? "–" });
    const words = S.live ? `${where === "live" ? t("learned.live_word") : t("learned.latest")}${f ? ` · ${label}` : ""}` : label;
    $("timeline-label").textContent = words;
    // The slider's value is an index into the kept frames; a screen reader says the step it shows
    // (the label is not a live region: live, it changes with every frame).
    tl.setAttribute("aria-valuetext", words);
    $("live").setAttribute("aria-pressed", String(S.live));
    $("live").textContent = this.mode === "checkpoints" ? t("learned.latest_button") : t("learned.live_button");
    $("learned-source").textContent = this.mode === "checkpoints"
      ? t(n === 1 ? "learned.read_back_one" : "learned.read_back", { name: modelName(S.watched), n })
      : "";
  }

  paintKernels() { this.kernels.show(kernelItems(this.frame()?.kernels)); }

  paintGradients() {
    const f = this.frame();
    const c = /** @type {HTMLCanvasElement} */ ($("grad-chart"));
    const g = f?.gradients;
    const norms = (g?.norms ?? []).filter((/** @type {any} */ n) => n.param === "W" || n.param === "b");
    drawNorms(c, norms, g ? `${f?.source === "checkpoint" ? t("learned.probe_digits_lc") : t("learned.last_batch")}, ${t("learned.step", { step: g.step })}` : "");
    const items = gradientItems(g);
    for (const it of items) it.caption = f?.source === "checkpoint" ? t("learned.ten_probes") : t("learned.last_batch");
    // The caption names the same source as the chart and the titles: a checkpoint's gradients
    // are the cost's over the ten probe digits, a live frame's the last mini-batch's.
    $("grad-caption").innerHTML = t(f?.source === "checkpoint" ? "learned.how_strongly_probes" : "learned.how_strongly_the_last");
    this.gradKernels.show(items);
  }

  paintProbes() {
    const f = this.frame();
    const box = $("probes");
    const frame = f?.activations;
    if (!frame) { box.innerHTML = `<p class="muted">${esc(t("learned.probes_empty"))}</p>`; this.probeView.clear(); this.probeCache = null; return; }
    if (!this.probeCache || this.probeCache.step !== frame.step || this.probeCache.data !== frame._decoded) {
      frame._decoded = frame._decoded ?? decodeProbes(frame);
      this.probeCache = { step: frame.step, data: frame._decoded };
    }
    const p = /** @type {ReturnType<typeof decodeProbes>} */ (this.probeCache.data);
    if (box.children.length !== p.labels.length || box.querySelector("p")) {
      box.replaceChildren();
      p.labels.forEach((_, i) => {
        const b = document.createElement("button");
        b.type = "button"; b.className = "probe";
        b.innerHTML = `<canvas width="28" height="28" role="img"></canvas><span></span>`;
        b.addEventListener("click", () => { S.selectedProbe = i; markDirty("probes"); });
        box.append(b);
      });
    }
    const n = p.inputs.shape.slice(-2); // (10, 28, 28): each probe is one map
    p.labels.forEach((label, i) => {
      const b = /** @type {HTMLElement} */ (box.children[i]);
      b.setAttribute("aria-pressed", String(i === S.selectedProbe));
      paintImage(/** @type {HTMLCanvasElement} */ (b.querySelector("canvas")), p.inputs.bytes, i * n[0] * n[1], n[1], n[0]);
      const probs = p.probabilities[i] ?? [];
      let best = 0; probs.forEach((v, k) => { if ((v ?? 0) > (probs[best] ?? 0)) best = k; });
      const ok = best === label;
      /** @type {HTMLElement} */ (b.querySelector("span")).innerHTML = `${label} → <b class="${ok ? "ok" : "no"}">${best}</b> ${percent(probs[best] ?? 0)}`;
      /** @type {HTMLElement} */ (b.querySelector("canvas")).setAttribute("aria-label", t("learned.probe_digit", { d: label }));
      b.title = t("learned.probe_read_as", { d: label, best });
      b.dataset.label = String(label);
    });
    this.probeView.show(probeLayers(p, S.selectedProbe), p.probabilities[S.selectedProbe]);
  }

  /** Exact activations of the selected probe, for the frame's weights (when they stay put). */
  exactProbe() {
    const f = this.frame();
    if (!f?.model) return null;
    const key = `${f.model}|${S.selectedProbe}|${f.step}`;
    if (this.exact.has(key)) return this.exact.get(key);
    this.exact.set(key, undefined);
    api.explainActivations({ probe: S.selectedProbe, model: f.model })
      .then((r) => { this.exact.set(key, r); this.probeView.refreshTip(); })
      .catch(() => { this.exact.set(key, null); this.probeView.refreshTip(); });
    return undefined;
  }

  // -- enlarge ----------------------------------------------------------------------------------
  /**
   * A kernel (or a whole layer's kernels) large, in a dialog; one kernel with its exact weights.
   * @param {import("./kernels.js").KernelItem} item @param {number|null} k
   */
  async enlarge(item, k) {
    const dlg = /** @type {HTMLDialogElement} */ ($("zoom"));
    const body = $("zoom-body");
    $("zoom-title").textContent = k === null ? item.title : t("learned.zoom_kernel", { title: item.title, k });
    body.replaceChildren();
    if (!dlg.open) dlg.showModal();
    if (k === null) {
      const root = document.createElement("div");
      root.className = "kernels big";
      body.append(root);
      const grid = new KernelGrids(root, "", (it, kk) => this.enlarge(it, kk));
      grid.show([item]);
      const note = document.createElement("p"); note.className = "caption";
      const exact = item.kind === "conv" && !item.title.includes("∂"); // only a conv kernel's weights are read exactly
      note.textContent = t(exact ? "learned.click_or_pick_kernel" : "learned.click_kernel");
      body.append(note);
      if (exact) body.append(this.kernelPicker(item));
      return;
    }
    const f = this.frame();
    const note = document.createElement("p"); note.className = "caption";
    // The focus was on what the dialog showed before (the picker, a kernel): it goes to the words.
    note.tabIndex = -1;
    body.append(note);
    if (item.kind !== "conv" || !S.watched) { note.textContent = t("learned.exact_only_conv"); return; }
    note.textContent = t("learned.reading_exact");
    if (item.title.includes("∂")) { note.textContent = t("learned.gradient_picture"); return; }
    // The weights of the moment the timeline shows: a checkpoint's, or — a live frame being only a
    // picture — the exact kernels the service keeps for that frame's step; once it no longer keeps
    // them, the run's weights now, and the dialog says they are from another step.
    const kept = f && !f.model && f.source === "live" ? await api.getExactKernels(S.watched, f.step, item.index).catch(() => null) : null;
    const r = kept
      ? { model: S.watched, step: kept.step, layers: [{ index: item.index, params: { W: { shape: kept.shape, values: kept.values } } }] }
      : await attempt(api.explain({ test_index: 0, layers: [item.index], model: f?.model ?? S.watched }), t("learned.reading_exact_what"));
    if (!r) return;
    const model = r.model;
    const layer = r.layers.find((/** @type {any} */ l) => l.index === item.index);
    const p = layer?.params?.W;
    const values = p?.values;
    if (!values) { note.textContent = t("learned.gradient_picture"); return; }
    const [, c, kh, kw] = p.shape;
    const maps = Array.from({ length: c }, (_, ch) => ({ h: kh, w: kw, at: (/** @type {number} */ rr, /** @type {number} */ cc) => values[((k * c + ch) * kh + rr) * kw + cc] }));
    const scale = scaleFor(maps, "diverging");
    const wrap = document.createElement("div"); wrap.className = "zoom-maps";
    maps.forEach((m, ch) => {
      const fig = document.createElement("figure");
      const canvas = document.createElement("canvas");
      canvas.setAttribute("role", "img");
      // The numbers drawn in the cells, for a screen reader too: row by row, as drawn (fmt, 2 digits).
      const rows = Array.from({ length: kh }, (_, rr) =>
        t("learned.kernel_row", { r: rr, values: Array.from({ length: kw }, (_, cc) => fmt(m.at(rr, cc), 2)).join(t("list.sep")) }));
      canvas.setAttribute("aria-label", `${t("learned.kernel_channel.label", { k, ch, size: `${kh}×${kw}` })}: ${rows.join(t("list.sep2"))}`);
      drawGrid(canvas, m, { cell: c > 4 ? 22 : 44, scale, text: true });
      const cap = document.createElement("figcaption");
      cap.textContent = c > 1 ? t("learned.input_channel", { ch }) : t("learned.weights_of", { size: `${kh}×${kw}` });
      fig.append(canvas, cap);
      wrap.append(fig);
    });
    const leg = document.createElement("div");
    legend(leg, scale);
    body.append(wrap, leg);
    const bias = item.bias?.[k];
    const when = r.step == null ? "" : r.step === f?.step
      ? t("learned.exact_at_step", { step: r.step.toLocaleString("en-US") })
      : t("learned.exact_not_picture", { step: r.step.toLocaleString("en-US"), picture: f ? f.step.toLocaleString("en-US") : "–" });
    note.innerHTML = esc(t(c === 1 ? "learned.exact_of_one" : "learned.exact_of", { name: modelName(model), c, size: `${kh}×${kw}` })) + esc(when) +
      (bias != null ? esc(t("learned.kernel_bias", { b: fmt(layer.params.b?.values?.[k] ?? bias) })) : "") + esc(t("learned.period"));
    note.dataset.step = String(r.step ?? "");
    if (dlg.open && (document.activeElement === document.body || !dlg.contains(document.activeElement))) note.focus();
  }

  /**
   * The keyboard's way to one kernel's exact weights (a click on the picture is the pointer's): its
   * number, and a button.
   * @param {import("./kernels.js").KernelItem} item
   */
  kernelPicker(item) {
    const form = document.createElement("form");
    form.className = "row tight"; form.dataset.testid = "zoom-pick";
    const n = Number(item.enc.shape[0]) || 1;
    form.innerHTML = `<label class="inline"><span>${esc(t("learned.pick_kernel"))}</span> <input type="number" min="0" max="${n - 1}" step="1" value="0"></label>` +
      `<button type="submit">${esc(t("learned.show_exact"))}</button>`;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const input = /** @type {HTMLInputElement} */ (form.querySelector("input"));
      const k = Math.trunc(Number(input.value));
      if (!(k >= 0 && k < n)) { input.setCustomValidity(`0 … ${n - 1}`); input.reportValidity(); return; }
      input.setCustomValidity("");
      this.enlarge(item, k);
    });
    return form;
  }
}

/**
 * Gradient norms as bars on a log scale (norms span orders of magnitude), one row per parameter.
 * @param {HTMLCanvasElement} c @param {any[]} norms GradientNorm list @param {string} what
 */
export function drawNorms(c, norms, what) {
  const dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
  if (!w) return;
  c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
  const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
  if (!norms.length) { ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "center"; ctx.fillText(t("learned.norms_empty"), w / 2, h / 2); return; }
  const vals = norms.map((n) => Math.log10(Math.max(1e-8, n.norm ?? 1e-8)));
  const lo = Math.floor(Math.min(...vals)), top = Math.max(...vals), hi = Math.ceil(top) + (top === Math.ceil(top) ? 1 : 0);
  const label = (/** @type {any} */ n) =>
    t(n.param === "W" ? "learned.norms.row_weights" : "learned.norms.row_biases", { i: n.index, type: n.type });
  const L = Math.ceil(Math.max(...norms.map((n) => ctx.measureText(label(n)).width))) + 10;
  // The caption under the bars: one line when it fits the canvas, else two (a phone's width).
  const caption = t("learned.norms_caption", { lo: pow10(lo), hi: pow10(hi), what });
  const cut = caption.lastIndexOf(what); // too wide: the scale on one line, what it is of on the next
  const lines = ctx.measureText(caption).width <= w - 8 || cut <= 0 ? [caption] : [caption.slice(0, cut).trim(), what];
  const R = 56, rowH = Math.min(18, (h - 8 - 14 * lines.length) / norms.length);
  norms.forEach((n, i) => {
    const y = 4 + i * rowH;
    ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "right";
    ctx.fillText(label(n), L - 6, y + rowH / 2);
    const t = (vals[i] - lo) / Math.max(1e-9, hi - lo);
    ctx.fillStyle = cssVar(n.param === "W" ? "--chart-1" : "--chart-3");
    ctx.fillRect(L, y + 2, Math.max(1, t * (w - L - R)), rowH - 4);
    ctx.fillStyle = cssVar("--text"); ctx.textAlign = "left";
    ctx.fillText(formatNumber(n.norm), L + t * (w - L - R) + 4, y + rowH / 2);
  });
  ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "center";
  // Just under the last bar, centred on the canvas (the bars' own span is narrower than the words).
  lines.forEach((line, i) => ctx.fillText(line, w / 2, 4 + norms.length * rowH + 10 + 14 * i));
  c.setAttribute("aria-label", t("learned.norms.label", { values: norms.map((n) => `${label(n)} ${formatNumber(n.norm)}`).join(", "), caption }));
}
