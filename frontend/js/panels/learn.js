// @ts-check
/**
 * The Learn view: one digit, one target, and everything the notes say about how a network learns
 * from it — the cost and the output's wishes, the wishes flowing back through the neurons, a layer
 * as a matrix with its gradient a·δ, a gradient-descent step by hand, a mini-batch, and the
 * convolution and pooling backward passes on the digit itself. This module owns the choices
 * (digit, network, target), asks the server (/api/explain…) and hands the answers to the panels.
 */
import * as api from "../api.js";
import { fmt, percent, weightsState } from "../learnmath.js";
import { t, aDigit, errText, checkpointName, layerTypeName } from "../i18n.js";
import { modelLabel, titleOptions } from "../models.js";
import { drawGrid } from "../numgrid.js";
import { WishesView } from "./wishes.js";
import { NetDiagram } from "./netdiagram.js";
import { LayerMatrix } from "./layermatrix.js";
import { ConvStepper, PoolView } from "./convsteps.js";
import { StepView, BatchView } from "./stepper.js";
import { STATUS } from "../protocol.js";

/** How long after following a paused run's step Learn checks the step reached the screen (ms). */
const FOLLOW_CHECK_MS = 2000;
/** How many times Learn asks again for a step followed that did not arrive. */
const FOLLOW_TRIES = 3;

const WATCHED = "@watched"; // the model option "the run you watch (latest weights)"

/**
 * @typedef {{padPixels: () => number[][]|null, watched: () => string|null, runName: (id: string) => string|null,
 *   run: (id: string) => {step: number, status: string}|null,
 *   misclassified: () => {run: string|null, list: {index: number, label: number, predicted: number}[]}, toast: (m: string) => void}} LearnContext
 *   `misclassified`: the latest epoch's misclassified validation digits of the watched run (named
 *   in each option: the network chosen in Learn may be another one, reading the digit right).
 *   `run`: what the page knows of a run now (its latest step and status; null: not a run).
 */

export class Learn {
  /** A model id as a person reads it: a run by its name ("cnn #3 · epoch-002"). @param {string} id */
  modelName(id) {
    const [run, ckpt] = id.split(":");
    const name = this.ctx.runName(run);
    return name ? `${name}${ckpt ? ` · ${checkpointName(ckpt)}` : ""}` : id;
  }

  /**
   * The probe digits, as the server serves them (GET /api/probes): one of each digit.
   * @param {{probe: number, label: number, test_index: number}[]} probes
   */
  setProbes(probes) {
    const sel = this.$("learn-probe");
    const keep = sel.value;
    sel.replaceChildren(...probes.map((p) => new Option(t("learn.probe_option", { probe: p.probe, digit: aDigit(p.label), n: p.test_index }), String(p.probe))));
    if (keep) sel.value = keep;
  }

  /** @param {LearnContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.$ = $;
    /** @type {"test"|"pad"|"probe"|"miss"} */
    this.source = "test";
    /** @type {number|null} */
    this.target = null;
    /** @type {{id: string, origin: string, step: number|null}|null} the stepped copy, its network and that network's step */
    this.scratch = null;
    /** @type {number|null} the run's step Learn last followed by itself (once per step) */
    this.followed = null;
    /** @type {ReturnType<typeof setTimeout>|undefined} the check that the step followed arrived */
    this.followTimer = undefined;
    /** @type {{model: string, step: number}|null} the weights a new digit or target is read with (null: the latest) */
    this.kept = null;
    /** @type {any} */
    this.ex = null;
    this.seq = 0;
    this.mapSeq = 0;
    this.poolSeq = 0;
    this.infoSeq = 0; // loadMaps' read of another network's layers
    /** @type {any} */
    this.convInfo = null;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.padTimer = undefined;
    /** @type {number|undefined} first test digit of the mini-batch */
    this.batchStart = undefined;
    /** A sentence for the next status line (the stepped copy was gone, and the page started over). */
    this.notice = "";

    this.wishes = new WishesView($("learn-wishes"));
    this.net = new NetDiagram({ canvas: $("learn-net"), note: $("learn-net-note"), inspector: $("learn-inspector"), mode: $("learn-net-mode"), pickColumn: $("learn-pick-col"), pickNeuron: $("learn-pick-neuron") });
    this.matrix = new LayerMatrix({ root: $("learn-matrix-card"), pick: $("learn-matrix-layer"), what: $("learn-matrix-what"), canvas: $("learn-matrix"), strips: $("learn-matrix-strips"), text: $("learn-matrix-text"), legend: $("learn-matrix-legend") });
    this.steppers = /** @type {const} */ ([["forward", "learn-conv-forward"], ["backward", "learn-conv-backward"], ["kernel", "learn-conv-kernel-grad"]]).map(([m, id]) => new ConvStepper($(id), m));
    this.pool = new PoolView($("learn-pool"));
    this.stepView = new StepView(
      { slider: $("learn-lr-slider"), lr: $("learn-lr"), step: $("learn-step"), reset: $("learn-reset"), result: $("learn-step-result"), curve: $("learn-step-curve"), count: $("learn-step-count") },
      { step: (lr) => this.takeStep(lr), reset: () => this.resetScratch(), name: (id) => this.modelName(id) },
    );
    this.batchView = new BatchView({ draw: $("learn-batch-draw"), apply: $("learn-batch-apply"), out: $("learn-batch") }, { batch: (keep) => this.takeBatch(keep) });
    this.stepView.clear();

    // -- controls ----------------------------------------------------------------------------
    $("learn-source").addEventListener("change", () => { this.source = $("learn-source").value; this.syncSourceControls(); this.refresh(); });
    $("learn-test").addEventListener("change", () => this.refresh());
    $("learn-random").addEventListener("click", () => { $("learn-test").value = String(Math.floor(Math.random() * this.testSize())); this.source = "test"; $("learn-source").value = "test"; this.syncSourceControls(); this.refresh(); });
    $("learn-probe").addEventListener("change", () => this.refresh());
    $("learn-miss").addEventListener("change", () => this.refresh());
    $("learn-miss").addEventListener("focus", () => this.fillMisclassified());
    $("learn-model").addEventListener("change", () => { this.scratch = null; this.stepView.steps = 0; this.stepView.clear(); this.latest(); });
    $("learn-refresh").addEventListener("click", () => this.latest());
    $("learn-conv-model").addEventListener("change", () => { this.convInfo = null; this.loadMaps(); });
    for (const id of ["learn-conv-layer", "learn-conv-kernel", "learn-conv-channel"]) $(id).addEventListener("change", () => this.loadConv());
    for (const id of ["learn-pool-layer", "learn-pool-channel"]) $(id).addEventListener("change", () => this.loadPool());
    const targets = $("learn-targets");
    for (let d = 0; d < 10; d++) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = String(d); b.dataset.digit = String(d);
      b.setAttribute("aria-pressed", "false");
      b.setAttribute("aria-label", t("learn.target_label", { d }));
      b.addEventListener("click", () => { this.target = d; this.refresh(); });
      targets.append(b);
    }
    const auto = document.createElement("button");
    auto.type = "button"; auto.textContent = t("learn.its_own"); auto.className = "auto";
    auto.title = t("learn.its_own.title");
    auto.addEventListener("click", () => { this.target = null; this.refresh(); });
    targets.append(auto);
    this.syncSourceControls();
  }

  // -- the choices ---------------------------------------------------------------------------
  syncSourceControls() {
    const $ = this.$;
    $("learn-test-wrap").hidden = this.source !== "test";
    $("learn-probe-wrap").hidden = this.source !== "probe";
    $("learn-miss-wrap").hidden = this.source !== "miss";
    if (this.source === "miss") this.fillMisclassified();
  }

  fillMisclassified() {
    const sel = this.$("learn-miss");
    const keep = sel.value;
    const { run, list } = this.ctx.misclassified();
    const by = run ? this.modelName(run) : "";
    sel.replaceChildren(...(list.length ? list.map((m) => new Option(t("learn.miss_option", { n: m.index, digit: aDigit(m.label), predicted: m.predicted, run: by }), String(m.index))) : [new Option(t("learn.miss_none"), "")]));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }

  /**
   * The models to choose from: bundled first (the notes' network leads), then the watched run's
   * latest weights, then checkpoints and uploads.
   * @param {any[]} models GET /api/models entries
   */
  setModels(models) {
    const sel = this.$("learn-model");
    const conv = this.$("learn-conv-model");
    const keep = sel.value || "notes", keepConv = conv.value || "cnn";
    const order = (/** @type {any} */ m) => (m.id === "notes" ? 0 : m.kind === "bundled" ? 1 : 2);
    const sorted = [...models].sort((a, b) => order(a) - order(b));
    const label = (/** @type {any} */ m) => modelLabel(m, this.ctx.runName, (k) => t(`model.kind.${k}`), checkpointName);
    sel.replaceChildren(...sorted.map((m) => new Option(label(m), m.id)), new Option(t("learn.watched_model"), WATCHED));
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "notes";
    const convs = sorted.filter((m) => m.layers?.some((/** @type {any} */ l) => l.type === "conv2d"));
    conv.replaceChildren(...convs.map((m) => new Option(label(m), m.id)));
    conv.value = [...conv.options].some((o) => o.value === keepConv) ? keepConv : convs[0]?.id ?? "";
    titleOptions(sel); titleOptions(conv);
    if (!this.ex) this.refresh();
  }

  /** The model id requests use: a scratch copy after a step, else the chosen one. */
  modelId() {
    if (this.scratch) return this.scratch.id;
    const v = this.$("learn-model").value;
    if (v === WATCHED) return this.ctx.watched() ?? "cnn";
    return v || "notes";
  }

  /** The digit part of a request, or null (with the reason shown) when there is none. */
  digit() {
    if (this.source === "pad") {
      const pixels = this.ctx.padPixels();
      if (!pixels) { this.status(t("learn.need_drawing")); return null; }
      return { pixels };
    }
    if (this.source === "probe") return { probe: Number(this.$("learn-probe").value) };
    if (this.source === "miss") {
      const v = this.$("learn-miss").value;
      if (v === "") { this.status(t("learn.no_miss")); return null; }
      return { validation_index: Number(v) };
    }
    const i = Number(this.$("learn-test").value);
    if (!Number.isInteger(i) || i < 0 || i >= this.testSize()) {
      this.status(t("learn.bad_test_number", { max: (this.testSize() - 1).toLocaleString("en-US") }), true);
      return null;
    }
    return { test_index: i };
  }

  /** How many test digits the server's dataset has (10,000 for MNIST). */
  testSize() {
    return this.ex?.digits?.test ?? 10000;
  }

  /** The drawing changed: follow it when the drawing is the chosen digit. */
  padChanged() {
    if (this.source !== "pad") return;
    clearTimeout(this.padTimer);
    this.padTimer = setTimeout(() => this.refresh(), 250);
  }

  /** @param {string} text @param {boolean} [error] */
  status(text, error = false) {
    const el = this.$("learn-status");
    el.textContent = text;
    el.classList.toggle("err", error);
    el.setAttribute("role", error ? "alert" : "status");
  }

  // -- asking the server ---------------------------------------------------------------------
  /** Read the chosen network's latest weights (Refresh weights, another network, a run followed). */
  latest() {
    this.kept = null;
    return this.refresh();
  }

  /**
   * Explain the chosen digit with the weights on the screen: another digit or target is read
   * with the same step of a run that trains on (so two targets' costs compare), the latest
   * weights only through `latest()`.
   * @returns {Promise<void>}
   */
  async refresh() {
    const digit = this.digit();
    if (!digit) { this.blank(); return; }
    const seq = ++this.seq;
    const model = this.modelId();
    const kept = this.kept;
    const keep = !this.scratch && kept && kept.model === model ? { step: kept.step } : {};
    const body = { model, ...keep, ...digit, ...(this.target === null ? {} : { target: this.target }) };
    this.$("learn").setAttribute("aria-busy", "true");
    let ex;
    try {
      ex = await api.explain(body);
    } catch (e) {
      if (seq === this.seq && this.restartIfGone(e)) return this.refresh();
      if (seq === this.seq && this.movedOn(e)) return;
      if (seq === this.seq) this.status(t("learn.cannot_explain", { error: errText(e) }), true);
      return;
    } finally {
      if (seq === this.seq) this.$("learn").removeAttribute("aria-busy");
    }
    if (seq !== this.seq) return; // a newer choice is on its way
    this.ex = ex;
    this.kept = !this.scratch && ex.step != null ? { model, step: ex.step } : null;
    this.markEmpty(false);
    this.$("learn-test").max = String(ex.digits.test - 1);
    this.render();
    this.loadMaps();
  }

  /**
   * No digit to explain (the drawing was cleared): the cards must not go on showing the old one.
   * The status already says why (digit()); the views are emptied or greyed out and made inert.
   */
  blank() {
    this.seq++; // an answer still on its way is for the old digit
    this.ex = null;
    this.convInfo = null;
    const c = /** @type {HTMLCanvasElement} */ (this.$("learn-digit"));
    c.getContext("2d")?.clearRect(0, 0, c.width, c.height);
    for (const b of /** @type {NodeListOf<HTMLElement>} */ (this.$("learn-targets").querySelectorAll("button[data-digit]"))) b.setAttribute("aria-pressed", "false");
    this.wishes.clear();
    this.markEmpty(true);
  }

  /** Grey out (and make inert) every card that shows a digit, or bring them back. @param {boolean} empty */
  markEmpty(empty) {
    for (const el of /** @type {NodeListOf<HTMLElement>} */ (this.$("learn").querySelectorAll(".learn-grid, .conv-card"))) {
      el.classList.toggle("no-digit", empty);
      el.inert = empty;
    }
  }

  /**
   * The server no longer has the stepped copy (404 scratch_gone: expired, replaced, memory full,
   * restart): start again from the original network and say so, rather than failing every action
   * until Reset. True when it was that error. @param {any} e
   */
  restartIfGone(e) {
    if (e?.code !== "scratch_gone" || !this.scratch) return false;
    const origin = this.modelName(this.scratch.origin);
    this.scratch = null;
    this.convInfo = null;
    this.stepView.steps = 0;
    this.stepView.clear();
    this.$("learn-reset").disabled = true;
    this.notice = " " + t("learn.scratch_restarted", { network: origin });
    this.ctx.toast(t("learn.scratch_restarted", { network: origin }));
    return true;
  }

  render() {
    const ex = this.ex;
    const $ = this.$;
    const k = ex.source.kind;
    const src = k === "pixels" ? t("learn.src.drawing") : k === "probe" ? t("learn.src.probe", { n: ex.source.index }) : t(k === "test" ? "learn.src.test" : "learn.src.validation", { n: ex.source.index });
    const label = ex.source.label != null ? t("learn.src.label", { d: ex.source.label }) : "";
    const steps = this.stepView.steps;
    const scratch = this.scratch ? t(steps === 1 ? "learn.after_one_step" : "learn.after_steps", { n: steps }) : "";
    const network = ex.model.startsWith("scratch:") ? this.modelName(this.scratch?.origin ?? "") : this.modelName(ex.model);
    this.status(t("learn.reads", { src, label, network, scratch, digit: aDigit(ex.prediction), p: percent(ex.probabilities[ex.prediction]), target: ex.target, cost: fmt(ex.cost, 4) }) + this.notice);
    this.notice = "";
    $("learn-status").dataset.prediction = String(ex.prediction);
    for (const b of /** @type {NodeListOf<HTMLElement>} */ ($("learn-targets").querySelectorAll("button[data-digit]"))) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.digit) === ex.target));
    }
    const x = { h: ex.input.shape[1], w: ex.input.shape[2], at: (/** @type {number} */ r, /** @type {number} */ c) => ex.input.values[r * ex.input.shape[2] + c] };
    drawGrid($("learn-digit"), x, { cell: 3, scale: { scale: "viridis", lo: 0, hi: 1, absMax: 1 }, text: false });
    this.wishes.show(ex);
    this.net.show(ex);
    this.matrix.show(ex);
    this.stepView.setDefault(ex.step_lr);
    this.showWeights();
  }

  // -- which weights -------------------------------------------------------------------------
  /**
   * The step of the weights every card shows now: the explain answer's, or for a copy stepped by
   * hand the step of the weights it was stepped from. Every later question about this screen
   * sends it (`pin`), so the server answers from exactly these weights while the run trains on.
   * @returns {number|null}
   */
  shownStep() {
    return this.scratch ? this.scratch.step : this.ex?.step ?? null;
  }

  /** The request part that pins the weights ({} for a scratch copy or a network without steps). */
  pin() {
    const step = this.scratch ? null : this.ex?.step;
    return step == null ? {} : { step };
  }

  /** The run whose latest weights Learn shows (a bare run id or its live weights), else null. */
  followedRun() {
    const id = this.scratch ? this.scratch.origin : this.modelId();
    const [run, ckpt] = id.split(":");
    return this.ctx.run(run) && (!ckpt || ckpt === "live") ? run : null;
  }

  /**
   * Say which weights the cards show and whether they are still the run's latest; a run that
   * stands still (paused and stepped, ended) is followed, one that trains is not (the picture
   * would change under the reader every second) and the Refresh button is marked instead.
   */
  showWeights() {
    const el = this.$("learn-weights"), button = this.$("learn-refresh");
    const { step, info, state } = this.weights();
    el.hidden = state === "none";
    button.classList.toggle("due", state === "behind");
    if (state === "none" || step == null) { el.textContent = ""; delete el.dataset.state; return; }
    const network = this.modelName(this.scratch ? this.scratch.origin : this.ex.model);
    const which = t(this.scratch ? "learn.weights.copy_at" : "learn.weights.at", { network, step });
    const now = info?.step ?? step;
    el.textContent = which + t(`learn.weights.${state}`, { now });
    el.dataset.state = state;
    el.dataset.step = String(step);
    if (state === "follow" && this.followed !== now) {
      this.followed = now;
      this.latest();
      this.checkFollow(now, FOLLOW_TRIES);
    }
  }

  /** The step on the screen, the run followed (or null) and the weights line's state. */
  weights() {
    const step = this.shownStep();
    const runId = this.followedRun();
    const info = runId ? this.ctx.run(runId) : null;
    const run = info ? { step: info.step, training: info.status === STATUS.RUNNING } : null;
    return { step, info, state: weightsState(step, run, !!this.scratch) };
  }

  /**
   * A moment after following a paused run to step `now`, check that step reached the screen; if
   * not (the answer was overtaken by another question, failed, or came from older weights), ask
   * again, at most `tries` times. Without this one lost answer left the line "has trained on"
   * until the next step. @param {number} now @param {number} tries
   */
  checkFollow(now, tries) {
    clearTimeout(this.followTimer);
    this.followTimer = setTimeout(() => {
      if (tries <= 0 || this.followed !== now || !this.ex) return;
      const { step, state } = this.weights();
      if (state !== "follow" || (step ?? -1) >= now) return; // arrived, or the run trains again
      this.latest();
      this.checkFollow(now, tries - 1);
    }, FOLLOW_CHECK_MS);
  }

  /** A run's step or status changed (its metrics, its status): the weights line follows. @param {string|null} runId */
  runMoved(runId) {
    if (this.ex && runId && runId === this.followedRun()) this.showWeights();
  }

  /**
   * The server no longer keeps the weights of the step this screen showed (409 weights_moved):
   * read the run's latest for every card, and say so. True when it was that error. @param {any} e
   */
  movedOn(e) {
    if (e?.code !== "weights_moved") return false;
    this.notice = " " + t("learn.weights_moved", { step: this.shownStep() ?? "?" });
    this.convInfo = null;
    this.latest();
    return true;
  }

  // -- convolution and pooling ---------------------------------------------------------------
  /** Which network the conv cards explain: this one when it has conv layers, else their own choice. */
  async loadMaps() {
    const $ = this.$;
    const own = this.ex?.layers.some((/** @type {any} */ l) => l.type === "conv2d");
    $("learn-conv-model-wrap").hidden = !!own;
    const modelId = own ? this.modelId() : $("learn-conv-model").value;
    if (!modelId) { $("learn-conv-note").textContent = t("learn.conv.none"); return; }
    // The main network's own conv layers read its weights of this screen's step (a run trains on).
    if (!this.convInfo || this.convInfo.model !== modelId || (own && this.convInfo.pin.step !== this.pin().step)) {
      const digit = this.digit();
      if (!digit) return;
      // Another network chosen (or this one's step moved) while its layers were read: the late
      // answer is not kept, or the cards would explain a network the page no longer names.
      const seq = ++this.infoSeq;
      try {
        const info = own ? this.ex : await api.explain({ model: modelId, ...digit, layers: [] });
        if (seq !== this.infoSeq) return;
        this.convInfo = { model: modelId, layers: info.layers, input: info.input.shape, pin: own ? this.pin() : info.step == null ? {} : { step: info.step } };
      } catch (e) { if (seq === this.infoSeq) $("learn-conv-note").textContent = t("learn.conv.cannot_read", { error: errText(e) }); return; }
      this.fillLayerSelect("learn-conv-layer", ["conv2d"]);
      this.fillLayerSelect("learn-pool-layer", ["maxpool2d", "avgpool2d"]);
    }
    $("learn-conv-note").textContent = own
      ? t("learn.conv.own")
      : t("learn.conv.other", { model: modelId });
    await Promise.all([this.loadConv(), this.loadPool()]);
  }

  /** @param {string} id @param {string[]} types */
  fillLayerSelect(id, types) {
    const sel = this.$(id);
    const keep = sel.value;
    const layers = this.convInfo.layers.filter((/** @type {any} */ l) => types.includes(l.type));
    sel.replaceChildren(...layers.map((/** @type {any} */ l) => new Option(t("learn.layer_option", { i: l.index, type: layerTypeName(l.type), shape: l.shape.join("×") }), String(l.index))));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }

  /** Channels coming into layer `index` (the previous layer's maps). @param {number} index */
  channelsInto(index) {
    return index === 0 ? this.convInfo.input[0] : this.convInfo.layers[index - 1].shape[0];
  }

  async loadConv() {
    const $ = this.$;
    const digit = this.digit();
    if (!digit || !this.convInfo || $("learn-conv-layer").value === "") return;
    const layer = Number($("learn-conv-layer").value);
    const F = this.convInfo.layers[layer].shape[0], C = this.channelsInto(layer);
    $("learn-conv-kernel").max = String(F - 1); $("learn-conv-channel").max = String(C - 1);
    const kernel = Math.min(F - 1, Math.max(0, Number($("learn-conv-kernel").value) || 0));
    const channel = Math.min(C - 1, Math.max(0, Number($("learn-conv-channel").value) || 0));
    $("learn-conv-kernel").value = String(kernel); $("learn-conv-channel").value = String(channel);
    const seq = ++this.mapSeq;
    let e;
    try {
      e = await api.explainMap({ model: this.convInfo.model, ...this.convInfo.pin, ...digit, ...(this.target === null ? {} : { target: this.target }), layer, kernel, channel });
    } catch (err) {
      // A failure of a request since replaced is not said either (the answer to the latest is).
      if (seq !== this.mapSeq || this.movedOn(err)) return;
      $("learn-conv-note").textContent = t("learn.conv.cannot_kernel", { error: errText(err) }); return;
    }
    if (seq !== this.mapSeq) return;
    const k = e.maps.kernel.shape[0], inH = e.maps.input.shape[0], outH = e.maps.output.shape[0];
    const params = C * k * k * F + F;
    // One input channel: each kernel is one grid, not "1 stacked grids" (QA4 LEARN-5).
    const kernels = t(F === 1 ? "learn.conv.one_kernel" : "learn.conv.n_kernels", { F });
    $("learn-conv-formula").innerHTML = t(C === 1 ? "learn.conv.formula_one" : "learn.conv.formula", { layer, kernels, C, k: `${k}×${k}`, formula: `${C}·(${k}·${k})·${F} + ${F}`,
      total: `<b data-testid="conv-params" data-value="${params}">${params.toLocaleString("en-US")}</b>` }) +
      ` <span class="muted">${t("learn.conv.notes_example")}</span>`;
    const pad = e.padding.some((/** @type {number} */ p) => p > 0);
    $("learn-conv-size").innerHTML = e.stride === 1 && !pad
      ? t("learn.conv.valid", { M: inH, k, sum: `${inH} − ${k} + 1`, out: `<b data-testid="conv-out-size" data-value="${outH}">${inH - k + 1}</b>` })
      : t(e.stride > 1 ? "learn.conv.padded_n" : "learn.conv.padded_1", { pad: e.padding.join(", "), s: e.stride, M: inH, out: `<b data-testid="conv-out-size">${outH}</b>` });
    $("learn-conv-cost").textContent = t("learn.conv.cost", { kernel: e.kernel, kernels: e.kernels, channel: e.channel, channels: e.channels, target: e.target, cost: fmt(e.cost, 4), diff: fmt(Math.max(...Object.values(/** @type {Record<string, number>} */ (e.checks))), 2) });
    for (const s of this.steppers) s.show(e);
  }

  async loadPool() {
    const $ = this.$;
    const digit = this.digit();
    const card = $("learn-pool-card");
    if (!digit || !this.convInfo) return;
    if ($("learn-pool-layer").value === "") { card.querySelector(".readout")?.replaceChildren(t("learn.pool.none")); return; }
    const layer = Number($("learn-pool-layer").value);
    const C = this.convInfo.layers[layer].shape[0];
    $("learn-pool-channel").max = String(C - 1);
    const channel = Math.min(C - 1, Math.max(0, Number($("learn-pool-channel").value) || 0));
    $("learn-pool-channel").value = String(channel);
    // An answer for an earlier network, step or choice that comes back late is not drawn.
    const seq = ++this.poolSeq;
    try {
      const p = await api.explainMap({ model: this.convInfo.model, ...this.convInfo.pin, ...digit, ...(this.target === null ? {} : { target: this.target }), layer, channel });
      if (seq !== this.poolSeq) return;
      this.pool.show(p);
    } catch (err) { if (seq !== this.poolSeq || this.movedOn(err)) return; this.ctx.toast(t("learn.pool.failed", { error: errText(err) })); }
  }

  // -- steps ---------------------------------------------------------------------------------
  /** @param {number} lr */
  async takeStep(lr) {
    const digit = this.digit();
    if (!digit) return null;
    const body = () => ({ model: this.modelId(), ...this.pin(), examples: [{ ...digit, ...(this.target === null ? {} : { target: this.target }) }], lr, keep: true });
    try {
      const s = await this.stepOnce(body);
      this.scratch = { id: s.scratch, origin: s.origin, step: this.scratch ? this.scratch.step : s.step };
      this.$("learn-reset").disabled = false;
      this.convInfo = null;
      // Counted before the status is drawn, so it says how many steps the copy has taken.
      this.stepView.steps += 1;
      await this.refresh();
      return s;
    } catch (e) { this.status(t("learn.step_failed", { error: errText(e) }), true); return null; }
  }

  /**
   * POST /api/explain/step; when the stepped copy is gone, once more from the original network;
   * when the weights of the screen's step are no longer kept, once more from the run's latest
   * (every card reads them first, so the step starts from the weights on the screen).
   * @param {() => any} body the request, built again after a restart
   */
  async stepOnce(body) {
    try { return await api.explainStep(body()); } catch (e) {
      if (e?.code === "weights_moved" && !this.scratch) {
        this.notice = " " + t("learn.weights_moved", { step: this.shownStep() ?? "?" });
        await this.latest();
        return api.explainStep(body());
      }
      if (!this.restartIfGone(e)) throw e;
      return api.explainStep(body());
    }
  }

  resetScratch() {
    // Back to the weights the copy was stepped from (the same step of a run that trains on).
    if (this.scratch?.step != null) this.kept = { model: this.scratch.origin, step: this.scratch.step };
    this.scratch = null;
    this.$("learn-reset").disabled = true;
    this.convInfo = null;
    this.refresh();
  }

  /** A mini-batch of 8 test digits from a random start. @param {boolean} keep */
  async takeBatch(keep) {
    const lr = Number(this.$("learn-lr").value);
    if (!(lr > 0 && lr <= 100)) { this.status(t("learn.lr_range"), true); return null; }
    if (!keep || this.batchStart === undefined) this.batchStart = Math.floor(Math.random() * Math.max(1, this.testSize() - 8));
    const examples = Array.from({ length: 8 }, (_, k) => ({ test_index: /** @type {number} */ (this.batchStart) + k }));
    try {
      const s = await this.stepOnce(() => ({ model: this.modelId(), ...this.pin(), examples, lr, keep }));
      if (keep) {
        this.scratch = { id: s.scratch, origin: s.origin, step: this.scratch ? this.scratch.step : s.step }; this.$("learn-reset").disabled = false; this.convInfo = null;
        this.stepView.steps += 1;
        this.stepView.batchStep(s);
        await this.refresh();
      }
      return s;
    } catch (e) { this.status(t("learn.batch_failed", { error: errText(e) }), true); return null; }
  }

  /** Repaint what depends on the width. */
  resize() {
    if (!this.ex) return;
    this.net.draw();
    this.matrix.draw();
  }
}
