// @ts-check
/**
 * Train: the architecture editor and the settings form, and the run controls.
 *
 * The form shows the watched run's own network and settings — read-only while that run is
 * queued, training or paused — and "New run from these settings" unlocks a copy. Starting while
 * the watched run trains is an explicit "Queue another run": the page stays on the run it
 * watches and says where the new one waits. Every button follows the state machine (protocol.js).
 */
import { S, $, attempt, toast, updateRun, watchedRun, isLive, runName } from "../state.js";
import * as api from "../api.js";
import { markDirty } from "../scheduler.js";
import { can, STATUS, RUN_MACHINE } from "../protocol.js";
import { t, statusWord, whyNot } from "../i18n.js";
import { Editor } from "./editor.js";
import { fmt } from "../learnmath.js";

export class TrainPanel {
  /** @param {{watch: (id: string) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** "run": the form shows the watched run; "new": it holds the next run's settings. */
    this.mode = /** @type {"run"|"new"} */ ("new");
    /** @type {string|null} the run whose settings the form shows */
    this.shown = null;
    this.editor = new Editor({
      table: $("arch"), total: $("arch-total"), error: $("arch-error"), preset: $("preset"), desc: $("preset-desc"),
      addType: $("add-type"), addButton: $("add-layer"), form: $("hyper"),
    }, {
      check: (spec) => api.checkArchitecture(spec),
      onValidity: (ok) => { S.archOk = ok; markDirty("controls"); },
    });
    $("hyper").addEventListener("change", (/** @type {Event} */ e) => { if (/** @type {HTMLInputElement} */ (e.target).name === "loss") this.editor.update(); });
    $("hyper").addEventListener("submit", (/** @type {Event} */ e) => e.preventDefault());
    $("start").addEventListener("click", () => this.start());
    $("new-run").addEventListener("click", () => this.newRun());
    for (const action of /** @type {const} */ (["pause", "resume", "step", "stop"])) {
      $(action).addEventListener("click", () => this.control(action));
    }
    $("apply-lr").addEventListener("click", () => this.applyLr());
    $("live-lr").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") $("apply-lr").click(); });
  }

  /** The server's presets and layer types arrived. @param {any} catalog @param {any} presets */
  setCatalog(catalog, presets) { this.editor.setCatalog(catalog, presets); this.sync(); }

  /** The watched run (or its details) changed: show its settings unless a new run is being edited. */
  sync() {
    const d = S.detail;
    if (d && d.id === S.watched && this.editor.cat && this.shown !== d.id) {
      this.editor.showRun(d);
      this.shown = d.id;
      this.mode = "run";
    }
    this.editor.setReadOnly(this.mode === "run" && isLive(watchedRun()));
    markDirty("controls");
  }

  /** Unlock a copy of the shown settings for the next run. */
  newRun() {
    this.mode = "new";
    this.editor.setReadOnly(false);
    markDirty("controls");
    /** @type {HTMLElement} */ (this.editor.els.form.querySelector("input, select"))?.focus();
  }

  async start() {
    const queueing = isLive(watchedRun());
    $("start").disabled = true;
    const run = await attempt(api.startRun(this.editor.runBody()), t("train.cannot_start"));
    markDirty("controls");
    if (!run) return;
    updateRun(run);
    if (run.status === STATUS.QUEUED) {
      const others = run.queue_position ? run.queue_position - 1 : 0;
      const ahead = others > 0 ? t(others === 1 ? "train.after_one" : "train.after_n", { n: others }) : "";
      toast(t("train.queued", { name: run.name, pos: run.queue_position ?? "?", ahead, running: queueing ? runName(S.watched) : t("train.the_running_run") }), "info");
    } else toast(t("train.started", { name: run.name }), "info");
    markDirty("runs");
    if (queueing) return; // the page stays on the run it watches
    this.mode = "run";
    this.shown = null;
    this.hooks.watch(run.id);
  }

  /** @param {"pause"|"resume"|"step"|"stop"} action */
  async control(action) {
    if (!S.watched) return;
    $(action).disabled = true;
    const r = await attempt(api.control(S.watched, action), t("run.action_failed", { action: t(`run.action.${action}`) }));
    if (r) updateRun(r);
    markDirty("status"); markDirty("runs"); markDirty("controls");
  }

  async applyLr() {
    const lr = Number($("live-lr").value);
    if (!S.watched || !(lr > 0)) { toast(t("train.lr_positive")); return; }
    const r = await attempt(api.patchRun(S.watched, { lr }), t("train.lr_failed"));
    if (r) { updateRun(r); toast(t("train.lr_now", { lr: r.lr }), "info"); }
  }

  /** Buttons and the banner follow the watched run's state (the state machine) and the form's mode. */
  paint() {
    const run = watchedRun();
    const live = isLive(run);
    const editing = this.mode === "new" || !run;
    $("pause").disabled = !can(run, "pause") || S.stale;
    $("resume").disabled = !can(run, "resume") || S.stale;
    // One name for "go on after Pause" (Resume, greyed while it trains); "Continue" only for a run that
    // has ended and goes on from its checkpoint (its resume queues it again).
    $("resume").textContent = run && /** @type {Record<string, Record<string, string|null>>} */ (RUN_MACHINE.transitions)[run.status]?.resume === STATUS.QUEUED ? t("runs.continue") : t("runs.resume");
    $("step").disabled = !can(run, "step") || S.stale;
    $("stop").disabled = !can(run, "stop") || S.stale;
    $("apply-lr").disabled = !can(run, "patch") || S.stale;
    if (run && document.activeElement !== $("live-lr")) $("live-lr").value = String(run.lr);
    // The form shows the run's base rate now (a rate changed while it trains included), not the one it
    // started with: one base rate on the card, and the rate the last step used said beside it.
    const formLr = /** @type {HTMLInputElement|null} */ (this.editor.els.form.elements.namedItem("lr"));
    if (run && formLr && this.mode === "run" && this.shown === run.id && run.lr != null) formLr.value = String(run.lr);
    // The field is the optimizer's base rate; a schedule multiplies it every step, so the rate the
    // last step really used is said beside it (from the metrics frames' lr).
    const used = run && S.lrUsed;
    const schedule = S.detail?.id === run?.id ? S.detail?.config?.schedule : null;
    $("lr-now").textContent = used
      ? [t("train.lr_in_use", { step: used.step.toLocaleString("en-US"), lr: fmt(used.lr, 3) }),
        schedule && schedule !== "constant" ? t("train.lr_scaled", { schedule: t(`train.${schedule}`) }) : ""].filter(Boolean).join(t("list.sep2"))
      : "";
    const start = $("start");
    start.hidden = !editing && live;
    start.disabled = !S.archOk || S.stale || (!editing && live);
    start.textContent = live && editing ? t("train.queue_another") : t("train.start");
    $("new-run").hidden = editing || !live; // an ended run's settings are editable as they are
    const banner = $("form-banner");
    const why = run && !can(run, "resume") && !live ? whyNot(run, "resume") : "";
    const status = run ? statusWord(run.status) : "";
    if (!run) banner.textContent = t("train.banner.next");
    else if (editing) banner.textContent = live ? t("train.banner.will_wait", { name: run.name }) : t("train.banner.new_from", { name: run.name, status });
    else if (live) banner.textContent = t("train.banner.read_only", { name: run.name, status });
    else banner.textContent = t("train.banner.ended", { name: run.name, status }) + (why ? t("train.banner.why", { why }) : "");
  }
}
