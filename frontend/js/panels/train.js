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
import { mayControl } from "../classview.js";
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
    /** @type {{from: string, next: string[], at: number}|null} where the focus goes once the run's state is painted */
    this.wish = null;
    this.editor = new Editor({
      table: $("arch"), total: $("arch-total"), error: $("arch-error"), preset: $("preset"), desc: $("preset-desc"),
      addType: $("add-type"), addButton: $("add-layer"), form: $("hyper"),
    }, {
      check: (spec) => api.checkArchitecture(spec),
      onValidity: (ok) => { S.archOk = ok; markDirty("controls"); },
      onEdit: () => this.edited(),
    });
    $("hyper").addEventListener("change", (/** @type {Event} */ e) => { if (/** @type {HTMLInputElement} */ (e.target).name === "loss") this.editor.update(); });
    $("hyper").addEventListener("submit", (/** @type {Event} */ e) => e.preventDefault());
    $("hyper").addEventListener("input", () => this.edited());
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

  /**
   * A setting changed by hand, a layer edited or a preset chosen while the form shows an ended run:
   * the form now holds the next run's settings, which paint() must no longer overwrite with the
   * shown run's rate (a chosen preset's own rate was lost that way, and Start sent the old one).
   */
  edited() {
    if (this.mode === "run" && !this.editor.readOnly) { this.mode = "new"; markDirty("controls"); }
  }

  /** Unlock a copy of the shown settings for the next run. */
  newRun() {
    this.mode = "new";
    this.editor.setReadOnly(false);
    markDirty("controls");
    /** @type {HTMLElement} */ (this.editor.els.form.querySelector("input, select"))?.focus();
  }

  /**
   * Where the keyboard's focus goes after a run-control button that disables or hides itself
   * (Start, Pause, Resume, Step, Stop): the first of `next` that is usable once the request is
   * answered and the run's new state painted. Without it the focus fell to the page's body and a
   * screen reader said nothing.
   * @param {string} from the button pressed @param {string[]} next ids, best first
   */
  keepFocus(from, next) {
    this.wish = document.activeElement === $(from) ? { from, next, at: 0 } : null;
  }

  /** The request of keepFocus's button was answered: its wish may come true from now on. */
  answered() { if (this.wish) { this.wish.at = performance.now(); markDirty("controls"); } }

  /** Carry out keepFocus's wish once one of its buttons is usable, unless the person moved on. */
  refocus() {
    const wish = this.wish;
    if (!wish || !wish.at) return; // still waiting for the answer (this paint may re-enable `from` meanwhile)
    const here = document.activeElement;
    const from = /** @type {HTMLButtonElement} */ ($(wish.from));
    if (here && here !== document.body && here !== from) { this.wish = null; return; } // the person moved on
    const late = performance.now() - wish.at > 20_000;
    // Still on a usable `from` (Start, until the page watches the new run and hides it): wait.
    if (here === from && !from.disabled && !from.hidden) { if (late) this.wish = null; return; }
    const to = wish.next.map((id) => /** @type {HTMLButtonElement} */ ($(id))).find((b) => !b.disabled && !b.hidden);
    // A run that waits long in the queue: after 20 s the focus goes to the controls' group itself.
    if (to || late) { this.wish = null; (to ?? $("run-controls")).focus(); }
  }

  async start() {
    const queueing = isLive(watchedRun());
    // Queued behind the watched run, the page stays on it: Start again; else the new run's Pause.
    this.keepFocus("start", queueing ? ["start", "new-run"] : ["pause"]);
    $("start").disabled = true;
    const run = await attempt(api.startRun(this.editor.runBody()), t("train.cannot_start"));
    if (!run && this.wish) this.wish.next = ["start"]; // not started: Start again
    this.answered();
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
    const next = { pause: ["resume", "step", "stop"], resume: ["pause", "stop"], step: ["step", "resume", "stop"], stop: ["start", "new-run", "resume"] };
    this.keepFocus(action, [...next[action], "start"]);
    $(action).disabled = true;
    const r = await attempt(api.control(S.watched, action), t("run.action_failed", { action: t(`run.action.${action}`) }));
    if (r) updateRun(r);
    this.answered();
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
    // Another student's run (a class): watched, not controlled, as the Runs table shows it.
    const mine = !run || mayControl(S.you, run);
    const off = (/** @type {"pause" | "resume" | "step" | "stop" | "patch"} */ action) => !mine || !can(run, action) || S.stale;
    $("pause").disabled = off("pause");
    $("resume").disabled = off("resume");
    // One name for "go on after Pause" (Resume, greyed while it trains); "Continue" only for a run that
    // has ended and goes on from its checkpoint (its resume queues it again).
    $("resume").textContent = run && /** @type {Record<string, Record<string, string|null>>} */ (RUN_MACHINE.transitions)[run.status]?.resume === STATUS.QUEUED ? t("runs.continue") : t("runs.resume");
    $("step").disabled = off("step");
    $("stop").disabled = off("stop");
    $("apply-lr").disabled = off("patch");
    if (run && document.activeElement !== $("live-lr")) $("live-lr").value = String(run.lr);
    // The form shows the run's base rate now (a rate changed while it trains included), not the one it
    // started with: one base rate on the card, and the rate the last step used said beside it.
    const formLr = /** @type {HTMLInputElement|null} */ (this.editor.els.form.elements.namedItem("lr"));
    if (run && formLr && this.mode === "run" && this.shown === run.id && run.lr != null) formLr.value = String(run.lr);
    // The field is the optimizer's base rate; a schedule multiplies it every step, so the rate the
    // last step really used is said beside it (from the metrics frames' lr).
    const used = run && S.lrUsed;
    const schedule = S.detail?.id === run?.id ? S.detail?.config?.schedule : null;
    // Not a live region (aria-live="off"): it changes with every step; a screen reader reads it on demand.
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
    let words;
    if (!run) words = t("train.banner.next");
    else if (editing) words = live ? t("train.banner.will_wait", { name: run.name }) : t("train.banner.new_from", { name: run.name, status });
    else if (live && !mine) words = t("train.banner.not_yours", { name: run.name, owner: run.owner ?? "" });
    else if (live) words = t("train.banner.read_only", { name: run.name, status });
    else words = t("train.banner.ended", { name: run.name, status }) + (why ? t("train.banner.why", { why }) : "");
    // The banner is a live region and this paint runs with every training step: writing the same
    // words again would have a screen reader say them again, several times a second.
    if (banner.textContent !== words) banner.textContent = words;
    this.refocus();
  }
}
