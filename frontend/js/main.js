// @ts-check
/**
 * The dashboard: wires the live socket, the REST API and the panels. Messages only update state
 * and mark panels dirty; drawing happens once per animation frame (scheduler.js).
 */
import { LiveSocket } from "./socket.js";
import { PROTOCOL_VERSION, ACTIVE_STATUSES, subscribeMessage, unsubscribeMessage, predictMessage } from "./protocol.js";
import * as api from "./api.js";
import { register, markDirty, paintTimes } from "./scheduler.js";
import { Pad } from "./pad.js";
import { InFlightThrottle, hasInk } from "./padmath.js";
import { decodeArray } from "./encoding.js";
import { paintImage, esc } from "./heatmap.js";
import { LineChart, refreshColors, cssVar } from "./chart.js";
import { Smoother, smooth, formatNumber, formatDuration } from "./chartmath.js";
import { FrameHistory } from "./history.js";
import { fromPrediction, decodeProbes, probeLayers } from "./layerdata.js";
import { readNpz } from "./npz.js";
import { NetworkView } from "./panels/network.js";
import { KernelGrids, kernelItems, gradientItems } from "./panels/kernels.js";
import { EpochView } from "./panels/epoch.js";
import { Editor } from "./panels/editor.js";
import { renderRuns } from "./panels/runs.js";
import { Learn } from "./panels/learn.js";
import { modelLabel } from "./models.js";
import { MyDigitsView } from "./panels/mine.js";
import { AugmentStrip } from "./panels/augstrip.js";
import { ClassPanel } from "./panels/classroom.js";
import { PanelWatch } from "./panelwatch.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

// -- state --------------------------------------------------------------------------------------
const S = {
  /** @type {Map<string, any>} */ runs: new Map(),
  /** @type {string|null} */ watched: null,
  /** @type {any} */ detail: null,
  /** @type {string|null} */ current: null,
  lastStep: -1,
  /** @type {number|null} */ speed: null,
  /** @type {any[]} */ epochs: [],
  kernels: new FrameHistory(100),
  probes: new FrameHistory(100),
  /** @type {any} */ gradients: null,
  live: true,
  timelineIndex: 0,
  selectedProbe: 0,
  /** @type {{step: number, data: ReturnType<typeof decodeProbes>}|null} */ probeCache: null,
  /** @type {string|null} */ compare: null,
  /** @type {any} */ prediction: null,
  predictId: 0,
  shownId: 0,
  archOk: true,
  /** The watched run has no weights yet (queued, just started): read with the default model. */
  fallback: false,
  defaultModel: "cnn",
};
window.glassnet = { S }; // for the console and the e2e tests

// -- toasts: every server or network error is shown, never swallowed -----------------------------
/** @param {string} message @param {"error"|"info"} [kind] */
function toast(message, kind = "error") {
  const box = $("toasts");
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.innerHTML = `<p>${esc(message)}</p><button type="button" aria-label="Dismiss">✕</button>`;
  el.querySelector("button")?.addEventListener("click", () => el.remove());
  box.append(el);
  while (box.children.length > 4) box.firstElementChild?.remove();
  setTimeout(() => el.remove(), kind === "error" ? 12000 : 6000);
  if (kind === "error") console.warn("glassnet:", message);
}
/** @param {Promise<any>} p @param {string} what */
const attempt = (p, what) => p.catch((e) => { toast(`${what}: ${e.message}`); return null; });

// -- biases for the neuron inspector: read from the model's checkpoint (.npz) --------------------
/** @type {Map<string, {at: number, arrays: Map<string, any>|null, loading: boolean}>} */
const biasCache = new Map();
/** @param {string} model */
function prefetchBias(model) {
  const hit = biasCache.get(model);
  const stale = hit && S.runs.has(model.split(":")[0]) && Date.now() - hit.at > 15000;
  if (hit && (hit.loading || !stale)) return;
  biasCache.set(model, { at: Date.now(), arrays: hit?.arrays ?? null, loading: true });
  fetch(`/api/models/${encodeURIComponent(model)}`)
    .then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((buf) => biasCache.set(model, { at: Date.now(), arrays: readNpz(buf, (k) => k.endsWith(".b")), loading: false }))
    .catch(() => biasCache.set(model, { at: Date.now(), arrays: null, loading: false }));
}
/**
 * A bias from a model's checkpoint: a number, undefined while loading, null when unavailable.
 * @param {string|null|undefined} model @param {number} layer @param {number} unit
 */
function biasFrom(model, layer, unit) {
  if (!model) return null;
  const hit = biasCache.get(model);
  if (!hit || hit.loading) { prefetchBias(model); return undefined; }
  prefetchBias(model); // refreshes a live run's weights now and then
  const b = hit.arrays?.get(`${layer}.b`);
  return b ? b.data[unit] : null;
}
/** @param {number} layer @param {number} unit */
function biasOf(layer, unit) { return biasFrom(S.prediction?.model, layer, unit); }

// -- theme --------------------------------------------------------------------------------------
const root = document.documentElement;
const saved = localStorage.getItem("glassnet-theme");
if (saved === "light" || saved === "dark") root.dataset.theme = saved;
$("theme").addEventListener("click", () => {
  const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = dark ? "light" : "dark";
  localStorage.setItem("glassnet-theme", root.dataset.theme);
  repaintAll();
});
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", repaintAll);
function repaintAll() {
  refreshColors();
  for (const n of ["loss", "acc", "grad", "confusion", "kernels", "probes"]) markDirty(n);
}
$("proto-v").textContent = String(PROTOCOL_VERSION);

// -- status bar ---------------------------------------------------------------------------------
function paintStatus() {
  const run = S.watched ? S.runs.get(S.watched) : null;
  const pill = document.querySelector('[data-testid="run-status"]');
  if (!pill) return;
  pill.setAttribute("data-state", run ? run.status : "none");
  /** @type {HTMLElement} */ (pill.querySelector(".txt")).textContent = run ? `${run.name}: ${run.status}` : "no run";
  const prog = $("progress"), speed = $("speed"), eta = $("eta");
  if (!run) { prog.textContent = ""; speed.textContent = ""; eta.textContent = ""; }
  else {
    const total = run.total_steps ? `/${run.total_steps.toLocaleString("en-US")}` : "";
    prog.textContent = `epoch ${run.epoch}/${run.epochs} · step ${run.step.toLocaleString("en-US")}${total}`;
    const active = ACTIVE_STATUSES.includes(run.status);
    speed.textContent = active && S.speed ? `${Math.round(S.speed).toLocaleString("en-US")} samples/s` : "";
    const bs = S.detail?.id === run.id ? S.detail.config?.batch_size : null;
    if (run.status === "running" && S.speed && bs && run.total_steps) {
      eta.textContent = `${formatDuration(((run.total_steps - run.step) * bs) / S.speed)} left`;
    } else eta.textContent = "";
  }
  // Controls follow the watched run's state.
  const st = run?.status;
  $("pause").disabled = st !== "running";
  $("resume").disabled = !(st === "paused" || st === "interrupted");
  $("step").disabled = st !== "paused";
  $("stop").disabled = !(st === "running" || st === "paused" || st === "queued");
  $("apply-lr").disabled = !(st === "running" || st === "paused" || st === "queued");
  if (run && document.activeElement !== $("live-lr")) $("live-lr").value = String(run.lr);
  $("start").disabled = !S.archOk;
}
register("status", paintStatus);
setInterval(() => markDirty("status"), 1000);

// -- socket -------------------------------------------------------------------------------------
const proto = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new LiveSocket(`${proto}//${location.host}/ws`, {
  onState(state, info) {
    const el = document.querySelector('[data-testid="connection"]');
    if (!el) return;
    el.setAttribute("data-state", state);
    /** @type {HTMLElement} */ (el.querySelector(".txt")).textContent = info;
    if (state !== "open") { throttle.done(); }
  },
  onProblem: (m) => toast(m),
  onEvent: handleEvent,
});
// The class (owners, queue, the pinned run) and which heavy frames the sections on screen need.
const classPanel = new ClassPanel({ watch: (id) => watch(id), toast: (m, kind) => toast(m, kind), watched: () => S.watched });
const panelWatch = new PanelWatch((m) => socket.send(m));

/** @param {import("./protocol.js").Envelope} e */
function handleEvent(e) {
  const d = e.data;
  switch (e.type) {
    case "hello": {
      S.runs = new Map(d.runs.map((/** @type {any} */ r) => [r.id, r]));
      S.current = d.current;
      if (S.watched && S.runs.has(S.watched)) watch(S.watched, true); // reconnect: catch up
      else if (d.current) watch(d.current, true);
      else if (d.runs.length && !S.watched) watch(d.runs[d.runs.length - 1].id, true);
      markDirty("runs"); markDirty("status");
      loadModels();
      predictSoon();
      panelWatch.resend();
      classPanel.changed();
      break;
    }
    case "class": classPanel.onClass(d); break;
    case "status": {
      classPanel.changed();
      const prev = S.runs.get(d.id);
      S.runs.set(d.id, d);
      mine.onStatus(d);
      if (d.status === "running" || d.status === "queued") S.current = d.id;
      // A run started elsewhere (another viewer): follow it unless we watch an active one.
      const watchedRun = S.watched ? S.runs.get(S.watched) : null;
      if (d.id !== S.watched && (d.status === "running") && (!watchedRun || !ACTIVE_STATUSES.includes(watchedRun.status) && watchedRun.status !== "queued")) watch(d.id);
      if (prev && prev.status !== d.status) {
        if (d.status === "diverged" || d.status === "failed") toast(`${d.name} ${d.status}: ${d.message ?? "no details"}`);
        if (["finished", "stopped", "diverged", "failed"].includes(d.status)) loadModels();
      }
      markDirty("runs"); markDirty("status");
      break;
    }
    case "metrics": {
      if (e.run !== S.watched) break;
      appendMetrics(d);
      if (d.samples_per_s) S.speed = d.samples_per_s;
      const run = S.runs.get(e.run);
      if (run && d.step.length) { run.step = Math.max(run.step, d.step[d.step.length - 1]); if (d.total_steps) run.total_steps = d.total_steps; }
      markDirty("loss"); markDirty("acc"); markDirty("status");
      break;
    }
    case "epoch": {
      mine.onEpoch(e.run, d);
      const er = e.run ? S.runs.get(e.run) : null;
      if (er) { er.epoch = Math.max(er.epoch, d.epoch); if (d.val_accuracy != null) er.val_accuracy = d.val_accuracy; markDirty("runs"); markDirty("status"); }
      if (e.run !== S.watched) break;
      addEpoch(d);
      markDirty("loss"); markDirty("acc");
      epochView.show(d);
      break;
    }
    case "kernels": {
      if (e.run !== S.watched) break;
      S.kernels.push(d.step, d);
      S.fallback = false;
      markDirty("timeline");
      if (S.live) markDirty("kernels");
      predictSoon(); // the weights moved: read the drawing again with the new ones
      break;
    }
    case "activations": {
      if (e.run !== S.watched) break;
      S.probes.push(d.step, d);
      markDirty("timeline");
      if (S.live) markDirty("probes");
      break;
    }
    case "gradients": {
      if (e.run !== S.watched) break;
      S.gradients = d;
      markDirty("grad");
      break;
    }
    case "prediction": showPrediction(d); break;
    case "error": {
      if (d.id != null && d.id === S.predictId) {
        throttle.done();
        // The watched run has no checkpoint yet: read with the default model until it has.
        if (d.code === "not_found" && !$("model").value && !S.fallback) {
          S.fallback = true;
          predictSoon();
          break;
        }
      }
      toast(`server: ${d.message}`);
      break;
    }
  }
  if (socket.seq.dropped) $("dropped").textContent = `${socket.seq.dropped} heavy frames skipped to keep up`;
}

// -- watching a run -----------------------------------------------------------------------------
/** @param {string} id @param {boolean} [force] reload even if already watched (after a reconnect) */
async function watch(id, force = false) {
  if (S.watched === id && !force) return;
  if (S.watched && S.watched !== id) socket.send(unsubscribeMessage(S.watched));
  const changed = S.watched !== id;
  if (changed) S.fallback = false;
  S.watched = id;
  socket.send(subscribeMessage(id));
  if (changed) {
    resetRunViews();
  }
  markDirty("runs"); markDirty("status");
  const [detail, history] = await Promise.all([attempt(api.getRun(id), "loading the run"), attempt(api.getMetrics(id), "loading the run's metrics")]);
  if (S.watched !== id) return;
  if (detail) { S.detail = detail; S.runs.set(id, { ...(S.runs.get(id) ?? {}), ...pickSummary(detail) }); }
  if (history) loadHistory(history);
  markDirty("status"); markDirty("runs");
}
/** @param {any} d */
const pickSummary = (d) => { const { spec, config, checkpoints, ...rest } = d; return rest; };

function resetRunViews() {
  for (const s of [...lossChart.series, ...accChart.series]) if (!s.id.startsWith("cmp")) { s.xs.clear(); s.ys.clear(); }
  smoothers.loss = new Smoother(smoothing()); smoothers.acc = new Smoother(smoothing());
  S.lastStep = -1; S.speed = null; S.epochs = []; S.detail = null;
  S.kernels.clear(); S.probes.clear(); S.gradients = null; S.probeCache = null; S.live = true;
  epochView.clear();
  for (const n of ["loss", "acc", "kernels", "probes", "grad", "timeline"]) markDirty(n);
}

// -- charts -------------------------------------------------------------------------------------
const smoothing = () => Number($("smoothing").value);
const smoothers = { loss: new Smoother(0.9), acc: new Smoother(0.9) };
const pct = (/** @type {number} */ v) => `${(v * 100).toFixed(1)}%`;
const lossChart = new LineChart($("loss-chart"), { xLabel: "step (mini-batches)", yLabel: "cost", onHover: () => markDirty("loss"), empty: "start or open a run to see its cost" });
const raw = lossChart.add({ id: "raw", label: "mini-batch", color: "--chart-raw", kind: "band", width: 1 });
const sm = lossChart.add({ id: "smooth", label: "smoothed", color: "--chart-1", kind: "line", width: 2 });
const eTrain = lossChart.add({ id: "etrain", label: "epoch (train)", color: "--chart-3", kind: "points" });
const eVal = lossChart.add({ id: "eval", label: "epoch (validation)", color: "--chart-2", kind: "points" });
const accChart = new LineChart($("acc-chart"), { xLabel: "step (mini-batches)", yLabel: "accuracy", yDomain: [0, 1], onHover: () => markDirty("acc"), empty: "start or open a run to see its accuracy" });
const accRaw = accChart.add({ id: "accraw", label: "mini-batch", color: "--chart-raw", kind: "band", width: 1, fmt: pct, visible: false });
const accSm = accChart.add({ id: "accsmooth", label: "training (smoothed)", color: "--chart-1", kind: "line", width: 2, fmt: pct });
const aTrain = accChart.add({ id: "atrain", label: "epoch (train)", color: "--chart-3", kind: "points", fmt: pct });
const aVal = accChart.add({ id: "aval", label: "epoch (validation)", color: "--chart-2", kind: "points", fmt: pct });
register("loss", () => lossChart.draw());
window.glassnet.charts = { loss: lossChart, acc: accChart };
window.glassnet.paintTimes = paintTimes;
window.glassnet.socket = socket;
register("acc", () => accChart.draw());

/** @param {{step: number[], loss: (number|null)[], accuracy: (number|null)[]}} d */
function appendMetrics(d) {
  for (let i = 0; i < d.step.length; i++) {
    const step = d.step[i];
    if (step <= S.lastStep) continue;
    S.lastStep = step;
    const l = d.loss[i] ?? NaN, a = d.accuracy[i] ?? NaN;
    raw.xs.push(step); raw.ys.push(l);
    sm.xs.push(step); sm.ys.push(smoothers.loss.push(l));
    accRaw.xs.push(step); accRaw.ys.push(a);
    accSm.xs.push(step); accSm.ys.push(smoothers.acc.push(a));
  }
}
/** @param {any} d EpochData (or a stored epoch row) */
function addEpoch(d) {
  if (S.epochs.some((x) => x.epoch === d.epoch)) return;
  S.epochs.push(d);
  const x = d.step;
  eTrain.xs.push(x); eTrain.ys.push(d.train_loss ?? NaN);
  eVal.xs.push(x); eVal.ys.push(d.val_loss ?? NaN);
  aTrain.xs.push(x); aTrain.ys.push(d.train_accuracy ?? NaN);
  aVal.xs.push(x); aVal.ys.push(d.val_accuracy ?? NaN);
}
/** @param {any} h MetricsHistory */
function loadHistory(h) {
  // Keep live points newer than the history (they arrived while it loaded).
  const b = h.batches;
  const lastHist = b.step.length ? b.step[b.step.length - 1] : -1;
  const extra = { step: /** @type {number[]} */ ([]), loss: /** @type {number[]} */ ([]), accuracy: /** @type {number[]} */ ([]) };
  for (let i = 0; i < raw.xs.length; i++) if (raw.xs.data[i] > lastHist) { extra.step.push(raw.xs.data[i]); extra.loss.push(raw.ys.data[i]); extra.accuracy.push(accRaw.ys.data[i]); }
  for (const s of [raw, sm, accRaw, accSm]) { s.xs.clear(); s.ys.clear(); }
  smoothers.loss = new Smoother(smoothing()); smoothers.acc = new Smoother(smoothing());
  S.lastStep = -1;
  appendMetrics(b);
  appendMetrics(extra);
  const epochs = S.epochs;
  S.epochs = [];
  for (const s of [eTrain, eVal, aTrain, aVal]) { s.xs.clear(); s.ys.clear(); }
  for (const e of [...h.epochs, ...epochs].sort((p, q) => p.epoch - q.epoch)) addEpoch(e);
  for (const e of h.epochs) mine.onEpoch(S.watched, e); // a teach run's before/after, if it is one
  const last = S.epochs[S.epochs.length - 1];
  if (last && !epochView.epoch) epochView.show(last);
  markDirty("loss"); markDirty("acc");
}
$("smoothing").addEventListener("input", () => {
  const k = smoothing();
  sm.ys.clear(); const s1 = smooth(raw.ys.data, k, raw.ys.length); for (const v of s1) sm.ys.push(v);
  accSm.ys.clear(); const s2 = smooth(accRaw.ys.data, k, accRaw.ys.length); for (const v of s2) accSm.ys.push(v);
  smoothers.loss = Object.assign(new Smoother(k), restState(raw.ys, k));
  smoothers.acc = Object.assign(new Smoother(k), restState(accRaw.ys, k));
  if (S.compare) compareWith(S.compare, true);
  markDirty("loss"); markDirty("acc");
});
/** Smoother state after a whole column (so live points continue the recomputed curve). @param {any} col @param {number} k */
function restState(col, k) { const s = new Smoother(k); for (let i = 0; i < col.length; i++) s.push(col.data[i]); return { acc: s.acc, weight: s.weight, last: s.last }; }
$("logscale").addEventListener("change", () => { lossChart.log = $("logscale").checked; markDirty("loss"); });

// -- compare ------------------------------------------------------------------------------------
/** @param {string} id @param {boolean} [refresh] */
async function compareWith(id, refresh = false) {
  if (S.compare === id && !refresh) { S.compare = null; lossChart.remove("cmp"); accChart.remove("cmpacc"); $("compare-note").textContent = ""; markDirty("loss"); markDirty("acc"); markDirty("runs"); return; }
  const h = await attempt(api.getMetrics(id), "loading the run to compare");
  if (!h) return;
  S.compare = id;
  lossChart.remove("cmp"); accChart.remove("cmpacc");
  const name = S.runs.get(id)?.name ?? id;
  const c = lossChart.add({ id: "cmp", label: `${name} (smoothed)`, color: "--chart-4", kind: "line", dash: [6, 4], width: 2 });
  const ys = smooth(h.batches.loss.map((/** @type {any} */ v) => v ?? NaN), smoothing());
  h.batches.step.forEach((/** @type {number} */ s, /** @type {number} */ i) => { c.xs.push(s); c.ys.push(ys[i]); });
  const a = accChart.add({ id: "cmpacc", label: `${name} (validation)`, color: "--chart-4", kind: "points", dash: [6, 4], fmt: pct });
  for (const e of h.epochs) { a.xs.push(e.step); a.ys.push(e.val_accuracy ?? NaN); }
  $("compare-note").textContent = `comparing with ${name}`;
  markDirty("loss"); markDirty("acc"); markDirty("runs");
}

// -- gradient norms (bars, log scale: norms span orders of magnitude) ----------------------------
const gradKernels = new KernelGrids($("grad-kernels"), "");
register("grad", () => {
  const c = /** @type {HTMLCanvasElement} */ ($("grad-chart"));
  const dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
  if (!w) return;
  c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
  const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
  const norms = (S.gradients?.norms ?? []).filter((/** @type {any} */ n) => n.param === "W" || n.param === "b");
  if (!norms.length) { ctx.fillStyle = cssVar("--muted"); ctx.textAlign = "center"; ctx.fillText("gradient norms appear while a run trains", w / 2, h / 2); gradKernels.show([]); return; }
  const vals = norms.map((/** @type {any} */ n) => Math.log10(Math.max(1e-8, n.norm ?? 1e-8)));
  const lo = Math.floor(Math.min(...vals)), hi = Math.ceil(Math.max(...vals)) + (Math.max(...vals) === Math.ceil(Math.max(...vals)) ? 1 : 0);
  const label = (/** @type {any} */ n) => `layer ${n.index} ${n.type} ${n.param === "W" ? "weights" : "biases"}`;
  const L = Math.ceil(Math.max(...norms.map((/** @type {any} */ n) => ctx.measureText(label(n)).width))) + 10;
  const R = 56, rowH = Math.min(18, (h - 18) / norms.length);
  norms.forEach((/** @type {any} */ n, /** @type {number} */ i) => {
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
  ctx.fillText(`‖gradient‖, log scale 10^${lo} … 10^${hi}; step ${S.gradients.step}`, L + (w - L - R) / 2, h - 8);
  gradKernels.show(gradientItems(S.gradients));
});

// -- kernels, probes, timeline ------------------------------------------------------------------
const kernels = new KernelGrids($("kernels"), "Start or open a run to see its kernels.");
const shownStep = () => (S.live ? Infinity : S.kernels.get(S.timelineIndex)?.step ?? Infinity);
register("kernels", () => {
  const f = S.live ? S.kernels.latest() : S.kernels.get(S.timelineIndex);
  kernels.show(kernelItems(f?.frame));
});
// The probes' biases: the watched run's latest checkpoint (its id resolves to it).
const probeView = new NetworkView($("probe-layers"), { bias: (layer, unit) => biasFrom(S.watched, layer, unit) });
register("probes", () => {
  const step = shownStep();
  const item = step === Infinity ? S.probes.latest() : S.probes.at(step);
  const box = $("probes");
  if (!item) { box.innerHTML = `<p class="muted">The probe digits appear once a run is training.</p>`; probeView.clear(); S.probeCache = null; return; }
  if (!S.probeCache || S.probeCache.step !== item.step) S.probeCache = { step: item.step, data: decodeProbes(item.frame) };
  const p = S.probeCache.data;
  if (box.children.length !== p.labels.length || box.querySelector("p")) {
    box.replaceChildren();
    p.labels.forEach((_, i) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "probe"; b.setAttribute("role", "option");
      b.innerHTML = `<canvas width="28" height="28"></canvas><span></span>`;
      b.addEventListener("click", () => { S.selectedProbe = i; markDirty("probes"); });
      box.append(b);
    });
  }
  const n = p.inputs.shape.slice(-2); // (8, 28, 28): each probe is one map
  p.labels.forEach((label, i) => {
    const b = /** @type {HTMLElement} */ (box.children[i]);
    b.setAttribute("aria-selected", String(i === S.selectedProbe));
    paintImage(/** @type {HTMLCanvasElement} */ (b.querySelector("canvas")), p.inputs.bytes, i * n[0] * n[1], n[1], n[0]);
    const probs = p.probabilities[i] ?? [];
    let best = 0; probs.forEach((v, k) => { if ((v ?? 0) > (probs[best] ?? 0)) best = k; });
    const ok = best === label;
    /** @type {HTMLElement} */ (b.querySelector("span")).innerHTML = `${label} → <b class="${ok ? "ok" : "no"}">${best}</b> ${Math.round((probs[best] ?? 0) * 100)}%`;
    b.setAttribute("aria-label", `probe digit ${label}, read as ${best}`);
  });
  probeView.show(probeLayers(p, S.selectedProbe), p.probabilities[S.selectedProbe]);
});
register("timeline", () => {
  const t = $("timeline"), n = S.kernels.length;
  t.disabled = n < 2;
  t.max = String(Math.max(0, n - 1));
  if (S.live) { t.value = String(Math.max(0, n - 1)); S.timelineIndex = n - 1; }
  const item = S.live ? S.kernels.latest() : S.kernels.get(S.timelineIndex);
  $("timeline-label").textContent = S.live ? `live${item ? ` · step ${item.step}` : ""}` : `step ${item?.step ?? "–"}`;
  $("live").setAttribute("aria-pressed", String(S.live));
});
$("timeline").addEventListener("input", () => {
  S.timelineIndex = Number($("timeline").value);
  S.live = S.timelineIndex >= S.kernels.length - 1;
  for (const n of ["timeline", "kernels", "probes"]) markDirty(n);
});
$("live").addEventListener("click", () => { S.live = true; for (const n of ["timeline", "kernels", "probes"]) markDirty(n); });

// -- epochs -------------------------------------------------------------------------------------
const epochView = new EpochView($("confusion"), $("gallery"), $("gallery-filter"), $("gallery-all"), $("confusion-epoch"));
register("confusion", () => epochView.drawMatrix());
$("confusion").addEventListener("focus", () => markDirty("confusion"));
$("confusion").addEventListener("blur", () => markDirty("confusion"));

// -- runs ---------------------------------------------------------------------------------------
register("runs", () => {
  renderRuns($("runs").querySelector("tbody") ?? document.querySelector('[data-testid="runs"] tbody'), [...S.runs.values()], { watched: S.watched, compare: S.compare }, async (action, id) => {
    if (action === "open") watch(id);
    else if (action === "compare") compareWith(id);
    else {
      const r = await attempt(api.control(id, action), `${action} failed`);
      if (r) { S.runs.set(id, { ...(S.runs.get(id) ?? {}), ...pickSummary(r) }); if (action === "resume") watch(id); markDirty("runs"); markDirty("status"); }
    }
  });
});

// -- editor and run controls ------------------------------------------------------------------
const editor = new Editor({
  table: $("arch"), total: $("arch-total"), error: $("arch-error"), preset: $("preset"), desc: $("preset-desc"),
  addType: $("add-type"), addButton: $("add-layer"), form: $("hyper"),
}, {
  check: (spec) => api.checkArchitecture(spec),
  onValidity: (ok) => { S.archOk = ok; markDirty("status"); },
});
$("hyper").addEventListener("change", (/** @type {Event} */ e) => { if (/** @type {HTMLInputElement} */ (e.target).name === "loss") editor.update(); });
$("hyper").addEventListener("submit", (/** @type {Event} */ e) => e.preventDefault());
// Augmentation: a strip of what the network will be shown, while the box is ticked.
const trainStrip = new AugmentStrip($("train-augment-strip"));
$("hyper").elements.namedItem("augment").addEventListener("change", (/** @type {Event} */ e) => {
  const on = /** @type {HTMLInputElement} */ (e.target).checked;
  $("train-augment-strip").hidden = !on;
  if (on) trainStrip.show();
});
$("train-augment-strip").addEventListener("click", () => trainStrip.next());
$("start").addEventListener("click", async () => {
  $("start").disabled = true;
  const run = await attempt(api.startRun(editor.runBody()), "could not start the run");
  $("start").disabled = !S.archOk;
  if (!run) return;
  S.runs.set(run.id, pickSummary(run));
  toast(`${run.name} ${run.status === "queued" ? `is queued (position ${run.queue_position ?? "?"})` : "started"}`, "info");
  watch(run.id);
});
for (const action of /** @type {const} */ (["pause", "resume", "step", "stop"])) {
  $(action).addEventListener("click", async () => {
    if (!S.watched) return;
    $(action).disabled = true;
    const r = await attempt(api.control(S.watched, action), `${action} failed`);
    if (r) S.runs.set(r.id, { ...(S.runs.get(r.id) ?? {}), ...pickSummary(r) });
    markDirty("status"); markDirty("runs");
  });
}
$("apply-lr").addEventListener("click", async () => {
  const lr = Number($("live-lr").value);
  if (!S.watched || !(lr > 0)) { toast("the learning rate must be a positive number"); return; }
  const r = await attempt(api.patchRun(S.watched, { lr }), "changing the learning rate failed");
  if (r) { S.runs.set(r.id, { ...(S.runs.get(r.id) ?? {}), ...pickSummary(r) }); toast(`learning rate is now ${r.lr}`, "info"); }
});
$("live-lr").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") $("apply-lr").click(); });

// -- models -------------------------------------------------------------------------------------
async function loadModels() {
  const list = await attempt(api.getModels(), "listing the models");
  if (!list) return;
  S.defaultModel = list.default ?? S.defaultModel;
  learn.setModels(list.models);
  mine.setModels(list.models, (m) => modelLabel(m, (id) => S.runs.get(id)?.name ?? null));
  const sel = /** @type {HTMLSelectElement} */ ($("model"));
  const keep = sel.value;
  sel.length = 1;
  for (const m of list.models) sel.add(new Option(modelLabel(m, (id) => S.runs.get(id)?.name ?? null), m.id));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
  updateOnnxLink();
}
/** The ONNX download follows the chosen network (auto: the default one). */
function updateOnnxLink() {
  const id = /** @type {HTMLSelectElement} */ ($("model")).value || S.defaultModel || "cnn";
  $("download-onnx").setAttribute("href", `/api/models/${encodeURIComponent(id)}/onnx`);
}
$("model").addEventListener("change", () => { updateOnnxLink(); predictSoon(); });

// -- drawing pad and live prediction ------------------------------------------------------------
const throttle = new InFlightThrottle(40);
let pumping = false;
const pad = new Pad($("pad"), {
  onChange() {
    learn.padChanged();
    if (pad.empty) { clearPrediction(); return; }
    predictSoon();
  },
});

// -- learn: one digit's backpropagation and a step by hand ---------------------------------------
const learn = new Learn({
  padPixels: () => (pad.empty ? null : pad.pixels(56)),
  watched: () => S.watched,
  runName: (id) => S.runs.get(id)?.name ?? null,
  misclassified: () => epochView.epoch?.misclassified ?? [],
  toast: (m) => toast(m),
});
window.glassnet.learn = learn;

// -- your digits: label the drawing, the gallery, how a network reads them -----------------------
const mine = new MyDigitsView({
  pad: () => (pad.empty ? null : { pixels: pad.pixels(56), strokes: pad.strokes.map((s) => s.map((p) => [Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10])), size: $("pad").width }),
  clearPad: () => pad.clear(),
  toast: (m, kind) => toast(m, kind),
  watch: (id) => watch(id),
  readWith: (id) => {
    const sel = /** @type {HTMLSelectElement} */ ($("model"));
    if (![...sel.options].some((o) => o.value === id)) sel.add(new Option(`${S.runs.get(id)?.name ?? id} (latest weights)`, id));
    sel.value = id;
    $("draw").scrollIntoView();
    predictSoon();
  },
});
$("clear").addEventListener("click", () => pad.clear());
$("undo").addEventListener("click", () => pad.undo());
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "z" && !/INPUT|SELECT|TEXTAREA/.test(/** @type {HTMLElement} */ (e.target).tagName)) { e.preventDefault(); pad.undo(); }
});

function predictSoon() {
  if (pad.empty) return;
  throttle.want();
  if (!pumping) { pumping = true; requestAnimationFrame(pump); }
}
function pump() {
  if (throttle.next(performance.now())) {
    const pixels = pad.pixels(56);
    if (!hasInk(pixels, 0.02)) { throttle.done(); clearPrediction(); }
    else {
      S.predictId += 1;
      // Auto: the run training now (null lets the server use the watched run's latest weights),
      // else the default model.
      const run = S.watched ? S.runs.get(S.watched) : null;
      const live = run && ACTIVE_STATUSES.includes(run.status) && !S.fallback;
      const model = $("model").value || (live ? null : S.defaultModel);
      if (!socket.send(predictMessage(pixels, model, S.predictId))) throttle.done();
    }
  }
  if (throttle.pending) requestAnimationFrame(pump); else pumping = false;
}

// One bar per output neuron, labelled with the model's class names (the ten digits until a model
// trained on another dataset answers).
const bars = $("bars");
let barNames = "";
/** @param {string[]} names */
function buildBars(names) {
  if (names.join("\n") === barNames) return;
  barNames = names.join("\n");
  bars.replaceChildren();
  bars.style.gridTemplateColumns = `repeat(${names.length}, minmax(0, 1fr))`; // one row, however many
  for (const name of names) {
    const el = document.createElement("div");
    el.className = "bar";
    el.innerHTML = `<div class="track"><div class="fill" style="height:0%"></div></div><div class="d" title="${esc(name)}">${esc(name)}</div><div class="p">–</div>`;
    el.setAttribute("role", "meter"); el.setAttribute("aria-label", `probability of ${name}`);
    el.setAttribute("aria-valuemin", "0"); el.setAttribute("aria-valuemax", "100"); el.setAttribute("aria-valuenow", "0");
    bars.append(el);
  }
}
buildBars([..."0123456789"]);
const netView = new NetworkView($("layers"), { bias: biasOf });

/** @param {any} d PredictionData */
function showPrediction(d) {
  if (typeof d.id === "number") {
    if (d.id === S.predictId || d.id >= S.predictId) throttle.done();
    if (d.id < S.shownId) return; // an older answer arriving late
    S.shownId = d.id;
  } else throttle.done();
  if (pad.empty) return;
  S.prediction = d;
  markDirty("prediction");
  if (!d.empty && d.activations?.length) markDirty("layers");
  if (d.model) prefetchBias(d.model);
}
register("prediction", () => {
  const d = S.prediction;
  if (!d) return;
  const out = $("prediction");
  if (d.empty || d.digit == null) {
    out.textContent = "?"; $("confidence").textContent = d.message ?? "no ink yet"; $("predict-model").textContent = "";
  } else {
    const label = d.label ?? String(d.digit);
    out.textContent = label;
    const p = d.probabilities[d.digit] ?? 0;
    $("confidence").textContent = `${Math.round(p * 100)}% sure it is ${/^\d$/.test(label) ? "a " : ""}${label}`;
    $("predict-model").textContent = `read by ${d.model}${d.ms != null ? ` in ${Math.round(d.ms)} ms` : ""}`;
  }
  if (d.classes?.length) buildBars(d.classes);
  const kids = bars.children;
  for (let k = 0; k < kids.length; k++) {
    const p = d.probabilities?.[k] ?? 0;
    const el = /** @type {HTMLElement} */ (kids[k]);
    el.classList.toggle("best", k === d.digit);
    /** @type {HTMLElement} */ (el.querySelector(".fill")).style.height = `${(p * 100).toFixed(1)}%`;
    /** @type {HTMLElement} */ (el.querySelector(".p")).textContent = d.empty ? "–" : `${Math.round(p * 100)}%`;
    el.setAttribute("aria-valuenow", String(Math.round(p * 100)));
  }
  const seen = $("seen");
  if (d.prepared) {
    try { const img = decodeArray(d.prepared); paintImage(seen, img.bytes, 0, img.shape[1], img.shape[0]); }
    catch (e) { toast(`could not read the prepared image: ${/** @type {Error} */ (e).message}`); }
  } else seen.getContext("2d").clearRect(0, 0, 28, 28);
});
register("layers", () => {
  const d = S.prediction;
  if (!d || d.empty || !d.activations?.length) return;
  try { netView.show(fromPrediction(d.activations), d.probabilities); }
  catch (e) { toast(`could not draw the layers: ${/** @type {Error} */ (e).message}`); }
});
function clearPrediction() {
  S.prediction = null;
  $("prediction").textContent = "?";
  $("confidence").textContent = "draw a digit";
  $("predict-model").textContent = "";
  for (const el of bars.children) {
    /** @type {HTMLElement} */ (el.querySelector(".fill")).style.height = "0%";
    /** @type {HTMLElement} */ (el.querySelector(".p")).textContent = "–";
    el.classList.remove("best");
  }
  $("seen").getContext("2d").clearRect(0, 0, 28, 28);
  netView.clear("Draw a digit to see it pass through the network.");
}

// -- resize: redraw what depends on the width ----------------------------------------------------
let lastW = 0;
new ResizeObserver(() => {
  const w = document.body.clientWidth;
  if (Math.abs(w - lastW) < 2) return;
  lastW = w;
  for (const n of ["loss", "acc", "grad", "kernels", "probes", "layers", "confusion"]) markDirty(n);
  learn.resize();
}).observe(document.body);

// -- go -----------------------------------------------------------------------------------------
markDirty("status"); markDirty("loss"); markDirty("acc"); markDirty("grad"); markDirty("probes"); markDirty("timeline"); markDirty("confusion");
epochView.clear();
socket.connect();
