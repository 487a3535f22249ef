// @ts-check
/**
 * The dashboard's wiring: the live socket's events go into the state (state.js) and mark panels
 * dirty; each panel (panels/*.js) draws itself once per animation frame (scheduler.js). Nothing
 * here draws.
 */
import { LiveSocket } from "./socket.js";
import { PROTOCOL_VERSION, STATUS, subscribeMessage, unsubscribeMessage } from "./protocol.js";
import * as api from "./api.js";
import { register, markDirty, paintTimes } from "./scheduler.js";
import { refreshColors } from "./chart.js";
import { S, $, toast, attempt, updateRun, onRunChange, pickSummary, isActive, isLive, watchedRun } from "./state.js";
import { modelLabel, titleOptions } from "./models.js";
import { showConnection, paintStatus } from "./panels/status.js";
import { DrawPanel } from "./panels/draw.js";
import { Charts } from "./panels/charts.js";
import { LearnedPanel } from "./panels/learned.js";
import { TrainPanel } from "./panels/train.js";
import { EpochView } from "./panels/epoch.js";
import { renderRuns } from "./panels/runs.js";
import { Learn } from "./panels/learn.js";
import { MyDigitsView } from "./panels/mine.js";
import { AugmentStrip } from "./panels/augstrip.js";
import { ClassPanel } from "./panels/classroom.js";
import { PanelWatch } from "./panelwatch.js";
import { NotesPath } from "./panels/notespath.js";
import { NOTES_DIGIT, EXAMPLE_SPEC, EXAMPLE_LAYER } from "./notessteps.js";
import { t, lang, setLanguage, statusWord, errText, checkpointName } from "./i18n.js";
import { watchStrip } from "./navstrip.js";
import { followStart, followPin, afterPin, afterDelete } from "./follow.js";

// -- language: the other one's name on the switch, in its own words --------------------------------
const other = lang === "en" ? "zh-CN" : "en";
$("lang").textContent = other === "zh-CN" ? "中文" : "English";
$("lang").setAttribute("lang", other);
$("lang").title = t("head.lang.title");
$("lang").addEventListener("click", () => setLanguage(other));

// -- the section links: a strip that scrolls sideways when they do not fit, and says so ----------
const sections = /** @type {HTMLElement | null} */ (document.querySelector("nav.sections"));
if (sections) watchStrip(sections, (key) => t(key));

// -- theme ------------------------------------------------------------------------------------
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
  for (const n of ["loss", "acc", "grad", "confusion", "kernels", "probes", "layers"]) markDirty(n);
}
$("proto-v").textContent = String(PROTOCOL_VERSION);

// -- the socket and the panels ------------------------------------------------------------------
const proto = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new LiveSocket(`${proto}//${location.host}/ws`, {
  onState(state, info) {
    showConnection(state, info);
    if (state !== "open") draw.throttle.done();
    if (state === "open" && !draw.pad.empty) draw.soon();
    markDirty("status"); markDirty("controls");
  },
  onProblem: (m) => toast(m),
  onEvent: handleEvent,
  say: t,
});
// The class (owners, queue, the pinned run) and which heavy frames the sections on screen need.
const classPanel = new ClassPanel({ watch: (id) => watch(id), toast: (m, kind) => toast(m, kind), pinned: (id) => onPin(id) });
const panelWatch = new PanelWatch((m) => socket.send(m));

const learn = new Learn({
  padPixels: () => (draw.pad.empty ? null : draw.pad.pixels(56)),
  watched: () => S.watched,
  runName: (id) => S.runs.get(id)?.name ?? null,
  run: (id) => { const r = S.runs.get(id); return r ? { step: r.step, status: r.status } : null; },
  misclassified: () => ({ run: S.watched, list: epochView.epoch?.misclassified ?? [] }), // the epoch view shows the watched run's
  toast: (m) => toast(m),
});
const draw = new DrawPanel(socket, { padChanged: () => learn.padChanged() });
const mine = new MyDigitsView({
  pad: () => draw.drawing(),
  clearPad: () => draw.pad.clear(),
  padVersion: () => draw.pad.version,
  padSnapshot: () => draw.pad.snapshot(),
  restorePad: (/** @type {any} */ kept) => draw.pad.restore(kept, true),
  toast: (m, kind) => toast(m, kind),
  watch: (id) => watch(id),
  readWith: (id) => {
    const sel = /** @type {HTMLSelectElement} */ ($("model"));
    if (![...sel.options].some((o) => o.value === id)) sel.add(new Option(t("model.latest_weights", { name: S.runs.get(id)?.name ?? id }), id));
    sel.value = id;
    $("draw").scrollIntoView();
    draw.soon();
  },
});
const charts = new Charts();
const learned = new LearnedPanel();
const train = new TrainPanel({ watch: (id) => watch(id) });
const epochView = new EpochView($("confusion"), $("gallery"), $("gallery-filter"), $("gallery-all"), $("confusion-epoch"),
  (epoch, label, predicted, offset) => api.getCellDigits(/** @type {string} */ (S.watched), epoch, label, predicted, offset));

register("status", paintStatus);
register("controls", () => train.paint());
register("timeline", () => learned.paintTimeline());
register("kernels", () => learned.paintKernels());
register("grad", () => learned.paintGradients());
register("probes", () => learned.paintProbes());
register("confusion", () => epochView.drawMatrix());
register("runs", paintRuns);
$("confusion").addEventListener("focus", () => markDirty("confusion"));
$("confusion").addEventListener("blur", () => markDirty("confusion"));
setInterval(() => markDirty("status"), 1000);

/** @type {any} */ (window).glassnet = { S, charts: { loss: charts.loss, acc: charts.acc }, paintTimes, socket, learn, draw, learned, train, epochs: epochView, watch: (/** @type {string} */ id) => watch(id) };

// -- events -------------------------------------------------------------------------------------
/** @param {import("./protocol.js").Envelope} e */
function handleEvent(e) {
  const d = e.data;
  switch (e.type) {
    case "hello": {
      S.runs = new Map(d.runs.map((/** @type {any} */ r) => [r.id, r]));
      S.current = d.current;
      S.pinned = d.pinned ?? null;
      S.you = d.you?.role ? { owner: d.you.owner ?? "", role: d.you.role } : null;
      if (S.watched && S.runs.has(S.watched)) watch(S.watched, true, S.following); // reconnect: catch up
      else if (d.current) watch(d.current, true, d.current === d.pinned ? "pinned" : "latest");
      else if (d.runs.length && !S.watched) watch(d.runs[d.runs.length - 1].id, true, "latest");
      for (const n of ["runs", "status", "controls"]) markDirty(n);
      loadModels();
      draw.soon();
      panelWatch.resend();
      classPanel.changed();
      break;
    }
    case "class": classPanel.onClass(d); break;
    case "status": classPanel.changed(); onStatus(d); mine.onStatus(d); learn.runMoved(d.id); break;
    case "deleted": onDeleted(d); break;
    case "metrics": {
      if (e.run !== S.watched) break;
      charts.append(d);
      // The server's rate over its last seconds of training; null right after a start or a resume
      // (a figure from before a pause would be stale).
      S.speed = d.samples_per_s ?? null;
      const run = S.runs.get(/** @type {string} */ (S.watched));
      if (run && d.step.length) { run.step = Math.max(run.step, d.step[d.step.length - 1]); if (d.total_steps) run.total_steps = d.total_steps; }
      learn.runMoved(e.run); // Learn says when its weights are no longer the run's latest, and follows a paused run
      markDirty("loss"); markDirty("acc"); markDirty("status"); markDirty("controls");
      break;
    }
    case "epoch": {
      const er = e.run ? S.runs.get(e.run) : null;
      if (er) { er.epoch = Math.max(er.epoch, d.epoch); if (d.val_accuracy != null) er.val_accuracy = d.val_accuracy; markDirty("runs"); markDirty("status"); }
      mine.onEpoch(e.run, d);
      if (e.run !== S.watched) break;
      charts.addEpoch(d);
      epochView.show(d);
      break;
    }
    case "kernels": {
      if (e.run !== S.watched) break;
      S.kernels.push(d.step, d);
      S.fallback = false;
      // A training run's frames are the timeline; a run that has ended is read from its
      // checkpoints (the frame a late viewer is sent on subscribing does not replace them).
      if (learned.mode !== "live" && isLive(watchedRun())) learned.reset();
      markDirty("timeline");
      if (S.live) markDirty("kernels");
      draw.soon(); // the weights moved: read the drawing again with the new ones
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
      S.gradients.push(d.step, d);
      if (S.live) markDirty("grad");
      break;
    }
    case "prediction": draw.show(d); break;
    case "error": {
      if (draw.onError(d)) break;
      toast(t("error.server", { message: errText(d) }));
      break;
    }
  }
  if (socket.seq.dropped) $("dropped").textContent = t("foot.dropped", { n: socket.seq.dropped });
}

/** A run changed: keep the list, follow a run started elsewhere. @param {any} d */
function onStatus(d) {
  updateRun(d);
  if (d.status === STATUS.RUNNING) S.current = d.id;
  // A run started elsewhere: followed only by a page that shows the latest run, nothing chosen,
  // once that run has ended (follow.js): never away from the class run or a run its person chose.
  if (d.status === STATUS.RUNNING && followStart(S.following, S.watched, isLive(watchedRun()), d.id)) watch(d.id, false, "latest");
  for (const n of ["runs", "status", "controls"]) markDirty(n);
}

/**
 * A run was deleted, here or on another page: it leaves the lists and the comparison; a page that
 * showed it says so and shows the run that trains, or the latest one left (or nothing).
 * @param {{id: string, name: string}} d
 */
function onDeleted(d) {
  S.runs.delete(d.id);
  if (S.current === d.id) S.current = null;
  if (S.compare === d.id) charts.compareWith(d.id); // a second click on the same run: compare off
  if (S.watched === d.id) {
    toast(t("run.deleted", { name: d.name }), "info");
    S.watched = null; // the server already dropped the subscription: nothing to unsubscribe
    const next = afterDelete(d.id, S.pinned, S.current, [...S.runs.keys()]);
    // Every page that showed it moves now, many to the same run: spread over 1.5 s (as reconnects
    // are), so their reads do not all reach the server's pool at once.
    const id = next.id;
    if (id) window.setTimeout(() => { if (S.watched === null) watch(id, false, next.how); }, Math.random() * 1500);
    else forgetShown();
  }
  classPanel.changed();
  loadModels(); // its checkpoints are gone from the model lists
  for (const n of ["runs", "status", "controls"]) markDirty(n);
}

/** The teacher pinned (or unpinned) the class run. @param {string|null} pinned */
function onPin(pinned) {
  S.pinned = pinned;
  if (pinned !== null && followPin(S.following, S.watched, pinned)) watch(pinned, false, "pinned");
  else S.following = afterPin(S.following, S.watched, pinned);
}

// What changed in a run, from its status event or a control's answer (whichever came first):
// pauses, resumes and new learning rates are marked on the loss chart; the form follows.
onRunChange((prev, d) => {
  if (d.id === S.watched) {
    if (prev.status !== d.status && d.status === STATUS.PAUSED) charts.addMark({ step: d.step, kind: "pause" });
    if (prev.status === STATUS.PAUSED && d.status === STATUS.RUNNING) charts.addMark({ step: d.step, kind: "resume" });
    if (prev.lr !== d.lr) charts.addMark({ step: d.step, kind: "lr", value: d.lr });
    // Paused, resumed or ended: the speed measured before is no longer the speed now.
    if (prev.status !== d.status) { S.speed = null; if (S.detail) S.detail = { ...S.detail, ...pickSummary(d) }; train.sync(); }
    // It ended (stopped, finished, failed): what it learned is read back from its checkpoints now,
    // not left on the last live frame (QA3 smoke #2).
    // Spread over 1.5 s: every page that watched it asks at once (a class watches one run).
    if (isLive(prev) && !isLive(d)) window.setTimeout(() => learned.loadCheckpoints(d.id), Math.random() * 1500);
  }
  if (prev.status !== d.status) {
    if (d.status === STATUS.DIVERGED || d.status === STATUS.FAILED) toast(t("run.ended_badly", { name: d.name, status: statusWord(d.status), message: d.message ?? t("run.no_details") }));
    if (!isLive(d)) loadModels();
  }
  if (prev.name !== d.name) loadModels();
  // A student whose run the teacher stopped is told (the server records it in the run's message).
  if (prev.message !== d.message && d.message?.startsWith("stopped by the teacher") && S.you?.role === "student" && d.owner === S.you.owner) {
    toast(t("run.stopped_by_teacher", { name: d.name }), "info");
  }
});

// -- watching a run -----------------------------------------------------------------------------
/** Drop what the page showed of its run: its detail, frames, charts and epochs (another run comes, or none). */
function forgetShown() {
  S.fallback = false; S.speed = null; S.detail = null;
  S.kernels.clear(); S.probes.clear(); S.gradients.clear();
  charts.reset(); learned.reset(); epochView.clear();
}

/**
 * @param {string} id @param {boolean} [force] reload even if already watched (after a reconnect)
 * @param {import("./follow.js").Following} [how] why: the person's choice unless said otherwise
 */
async function watch(id, force = false, how = "chosen") {
  S.following = how;
  if (S.watched === id && !force) return;
  if (S.watched && S.watched !== id) socket.send(unsubscribeMessage(S.watched));
  const changed = S.watched !== id;
  S.watched = id;
  socket.send(subscribeMessage(id));
  if (changed) {
    forgetShown();
  }
  for (const n of ["runs", "status", "controls"]) markDirty(n);
  const [detail, history] = await Promise.all([attempt(api.getRun(id), t("load.run")), attempt(api.getMetrics(id), t("load.metrics"))]);
  if (S.watched !== id) return;
  // The detail's summary may be older than a status event that came while it was fetched (the
  // run stopped meanwhile): the newer one is kept in both.
  if (detail) { updateRun(detail); S.detail = { ...detail, ...pickSummary(S.runs.get(id)) }; train.sync(); }
  if (history) {
    charts.load(history);
    for (const e of history.epochs) mine.onEpoch(id, e); // a teach run's before/after, if it is one
    const last = S.epochs[S.epochs.length - 1];
    if (last && !epochView.epoch) epochView.show(last);
  }
  if (!isLive(S.runs.get(id))) learned.loadCheckpoints(id);
  for (const n of ["runs", "status", "controls"]) markDirty(n);
}

// -- runs ---------------------------------------------------------------------------------------
async function loadQueue() {
  // The queue positions come with each run's detail; the list shows them for queued runs.
  const list = await attempt(api.getQueued(), t("load.queued"));
  if (!list) return;
  queue = new Map(list.filter((/** @type {any} */ r) => r.queue_position).map((/** @type {any} */ r) => [r.id, r.queue_position]));
  markDirty("runs");
}
/** @type {Map<string, number>} */
let queue = new Map();
let queueTimer = 0;
function paintRuns() {
  const body = /** @type {HTMLTableSectionElement} */ (document.querySelector('[data-testid="runs"] tbody'));
  const queued = [...S.runs.values()].some((r) => r.status === STATUS.QUEUED);
  // Ask once (not again while a request is pending: the table repaints many times a second while a
  // run trains, and restarting the wait on every paint would never let it fire).
  if (queued !== queue.size > 0 && !queueTimer) queueTimer = window.setTimeout(() => { queueTimer = 0; loadQueue(); }, 200);
  renderRuns(body, [...S.runs.values()], { watched: S.watched, compare: S.compare, queue, you: S.you }, async (action, id, value) => {
    if (action === "open") watch(id);
    else if (action === "compare") charts.compareWith(id);
    else if (action === "refresh") markDirty("runs");
    else if (action === "rename") {
      const r = await attempt(api.patchRun(id, { name: value }), t("load.renaming"));
      if (r) { updateRun(r); toast(t("run.renamed", { name: r.name }), "info"); loadModels(); }
      markDirty("runs"); markDirty("status");
    } else {
      const r = await attempt(api.control(id, action), t("run.action_failed", { action: t(`run.action.${action}`) }));
      if (r) { updateRun(r); if (action === "resume" && !isActive(watchedRun())) watch(id); }
      for (const n of ["runs", "status", "controls"]) markDirty(n);
    }
  });
}

// -- models, presets, probes ----------------------------------------------------------------------
async function loadModels() {
  const list = await attempt(api.getModels(), t("load.models"));
  if (!list) return;
  S.defaultModel = list.default ?? S.defaultModel;
  const label = (/** @type {any} */ m) => modelLabel(m, (id) => S.runs.get(id)?.name ?? null, (k) => t(`model.kind.${k}`), checkpointName);
  learn.setModels(list.models);
  mine.setModels(list.models, label);
  const sel = /** @type {HTMLSelectElement} */ ($("model"));
  const keep = sel.value;
  sel.length = 1;
  /** @type {HTMLOptionElement} */ (sel.options[0]).text = t("model.auto", { model: S.defaultModel });
  for (const m of list.models) sel.add(new Option(label(m), m.id));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
  titleOptions(sel);
  updateOnnxLink();
}
/** The ONNX download follows the chosen network (auto: the default one). */
function updateOnnxLink() {
  const id = /** @type {HTMLSelectElement} */ ($("model")).value || S.defaultModel || "cnn";
  $("download-onnx").setAttribute("href", `/api/models/${encodeURIComponent(id)}/onnx`);
}
$("model").addEventListener("change", () => { updateOnnxLink(); $("onnx-note").textContent = ""; });
// The download is fetched, so a server that cannot make it (no onnx package: 501) says so on the
// card, with the command that adds it, instead of a download the browser drops silently.
$("download-onnx").addEventListener("click", async (/** @type {MouseEvent} */ e) => {
  e.preventDefault();
  const link = /** @type {HTMLAnchorElement} */ ($("download-onnx")), note = $("onnx-note");
  note.textContent = "";
  try {
    const { blob, name } = await api.download(link.getAttribute("href") ?? "");
    const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (err) {
    const ae = /** @type {api.ApiError} */ (err);
    note.textContent = ae.status === 501 ? t("draw.onnx_unavailable", { how: ae.detail ?? ae.message }) : t("draw.onnx_failed", { error: errText(err) });
  }
});

// Augmentation: a strip of what the network will be shown, while the box is ticked.
const trainStrip = new AugmentStrip($("train-augment-strip"));
$("hyper").elements.namedItem("augment").addEventListener("change", (/** @type {Event} */ e) => {
  const on = /** @type {HTMLInputElement} */ (e.target).checked;
  $("train-augment-strip").hidden = !on;
  if (on) trainStrip.show();
});
$("train-augment-strip").addEventListener("click", () => trainStrip.next());

async function loadCatalog() {
  const [layers, presets, probes] = await Promise.all([
    attempt(api.getLayers(), t("load.layers")), attempt(api.getPresets(), t("load.presets")), attempt(api.getProbes(), t("load.probes")),
  ]);
  if (layers && presets) train.setCatalog(layers, presets);
  if (probes) { S.probeList = probes; learn.setProbes(probes); }
}

// The header's height, so that a jump to a section never hides its heading under it.
const top = /** @type {HTMLElement} */ (document.querySelector(".top"));
new ResizeObserver(() => root.style.setProperty("--head", `${top.offsetHeight}px`)).observe(top);

// A link to a section (/#train, a reload mid-run) lands on it: the browser scrolls there before the
// cards above have their data and grow, which left #train 400 px down (qa3-dash #4). Until the
// person scrolls, clicks or types, each change of the page's height puts the section back under
// the header (scroll-padding-top). The notes path (#/notes/N) places its own card.
const landing = document.getElementById(decodeURIComponent(location.hash.slice(1)));
if (landing && landing.matches("section")) {
  const done = new AbortController();
  const hold = new ResizeObserver(() => landing.scrollIntoView({ block: "start", behavior: "instant" }));
  const stop = () => { hold.disconnect(); done.abort(); };
  for (const ev of ["wheel", "touchstart", "keydown", "pointerdown"]) addEventListener(ev, stop, { passive: true, signal: done.signal });
  hold.observe(/** @type {HTMLElement} */ (document.querySelector("main")));
  setTimeout(stop, 15000);
}

// -- resize: redraw what depends on the width ----------------------------------------------------
let lastW = 0;
new ResizeObserver(() => {
  const w = document.body.clientWidth;
  draw.pad.fit();
  if (Math.abs(w - lastW) < 2) return;
  lastW = w;
  for (const n of ["loss", "acc", "grad", "kernels", "probes", "layers", "confusion"]) markDirty(n);
  learn.resize();
}).observe(document.body);

// -- "Follow the notes": each step's one click, on this page only (no run is started or changed) --
/** @param {string} id @param {string} value */
function choose(id, value) {
  const el = /** @type {HTMLInputElement|HTMLSelectElement} */ ($(id));
  el.value = value;
  el.dispatchEvent(new Event("change"));
}
/** @param {import("./notessteps.js").Step} step @returns {Promise<string|null>} */
async function notesSetup(step) {
  if (step.setup === "pad" || step.setup === "cnn-pad") {
    if (step.setup === "cnn-pad") choose("model", "cnn");
    /** @type {HTMLInputElement} */ ($("test-digit")).value = String(NOTES_DIGIT);
    await draw.putTestDigit();
    return null;
  }
  // The Learn view on the notes' own network (bundled) and a test digit.
  choose("learn-source", "test");
  /** @type {HTMLInputElement} */ ($("learn-test")).value = String(NOTES_DIGIT);
  choose("learn-model", "notes");
  if (step.setup === "step") $("learn-step").click();
  if (step.setup === "batch") $("learn-batch-draw").click();
  if (step.setup === "conv-example") {
    if (train.editor.readOnly) train.newRun(); // the watched run's own settings stay as they are
    const r = train.editor.loadSpec(EXAMPLE_SPEC);
    const row = r?.rows[EXAMPLE_LAYER];
    if (row) return t("notes.example_row", { i: EXAMPLE_LAYER, formula: row.formula, n: row.params });
  }
  return null;
}
const notes = new NotesPath({ setup: notesSetup });

// -- go -----------------------------------------------------------------------------------------
for (const n of ["status", "controls", "loss", "acc", "grad", "probes", "timeline", "confusion"]) markDirty(n);
draw.clear();
epochView.clear();
loadCatalog();
socket.connect();
notes.route();
