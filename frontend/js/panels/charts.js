// @ts-check
/**
 * The cost and accuracy charts of the watched run: every mini-batch point (raw and smoothed),
 * each epoch's training and validation figures, marks on the step axis (learning-rate changes,
 * pauses, resumes), spike clipping, log scale, and another run's curves laid over for comparison.
 */
import { S, $, attempt, runName } from "../state.js";
import * as api from "../api.js";
import { register, markDirty } from "../scheduler.js";
import { LineChart } from "../chart.js";
import { Smoother, smooth, formatNumber, accuracyPercent } from "../chartmath.js";
import { t } from "../i18n.js";

const pct = accuracyPercent;
const smoothing = () => Number($("smoothing").value);
const MARK_COLORS = /** @type {Record<string, string>} */ ({ lr: "--chart-4", pause: "--warn", resume: "--ok" });

export class Charts {
  constructor() {
    this.smoothers = { loss: new Smoother(0.9), acc: new Smoother(0.9) };
    const loss = new LineChart($("loss-chart"), { xLabel: t("chart.x_steps"), yLabel: t("chart.cost"), onHover: () => markDirty("loss"), empty: t("chart.empty_cost"), readout: $("loss-readout") });
    this.raw = loss.add({ id: "raw", label: t("chart.mini_batch"), color: "--chart-raw", kind: "band", width: 1 });
    this.sm = loss.add({ id: "smooth", label: t("chart.smoothed"), color: "--chart-1", kind: "line", width: 2 });
    this.eTrain = loss.add({ id: "etrain", label: t("chart.epoch_train"), color: "--chart-3", kind: "points" });
    this.eVal = loss.add({ id: "eval", label: t("chart.epoch_validation"), color: "--chart-2", kind: "points" });
    const acc = new LineChart($("acc-chart"), { xLabel: t("chart.x_steps"), yLabel: t("chart.accuracy"), yDomain: [0, 1], onHover: () => markDirty("acc"), empty: t("chart.empty_accuracy"), readout: $("acc-readout") });
    this.accRaw = acc.add({ id: "accraw", label: t("chart.mini_batch"), color: "--chart-raw", kind: "band", width: 1, fmt: pct, visible: false });
    this.accSm = acc.add({ id: "accsmooth", label: t("chart.training_smoothed"), color: "--chart-1", kind: "line", width: 2, fmt: pct });
    this.aTrain = acc.add({ id: "atrain", label: t("chart.epoch_train"), color: "--chart-3", kind: "points", fmt: pct });
    this.aVal = acc.add({ id: "aval", label: t("chart.epoch_validation"), color: "--chart-2", kind: "points", fmt: pct });
    this.loss = loss; this.acc = acc;
    loss.clip = $("clip").checked;
    register("loss", () => { this.loss.draw(); this.sayScale(); this.sayFigures("loss-figures", this.eTrain, this.eVal, this.raw, formatNumber); });
    register("acc", () => { this.acc.draw(); this.sayFigures("acc-figures", this.aTrain, this.aVal, this.accRaw, pct); });
    $("smoothing").addEventListener("input", () => this.resmooth());
    $("logscale").addEventListener("change", () => { loss.log = $("logscale").checked; markDirty("loss"); });
    $("clip").addEventListener("change", () => { loss.clip = $("clip").checked; markDirty("loss"); });
  }

  /** The caption under the chart says how its y axis is scaled. */
  sayScale() {
    const parts = [];
    if (this.loss.log) parts.push(t("chart.log_scale"));
    if (this.loss.clipped) parts.push(t("chart.untick_clip", { clipped: this.loss.clipped }));
    // Each mark with its step and, for a new rate, the rate: the chart's labels can be too close to read.
    const said = S.marks.map((m) => t("chart.mark_at", {
      what: m.kind === "lr" ? `${t("chart.mark.lr")} ${formatNumber(m.value)}` : t(`chart.mark.${m.kind}`), step: m.step.toLocaleString("en-US"),
    }));
    const marks = S.marks.length ? t("chart.marks", { kinds: said.join(t("list.sep")) }) : "";
    $("loss-scale").textContent = [parts.length ? t("chart.y_axis", { parts: parts.join(t("list.sep2")) }) : "", marks].filter(Boolean).join(" ");
  }

  /**
   * A chart's figures in words, for a screen reader (its aria-describedby): each epoch's training
   * and validation figure, and the latest mini-batch's, formatted as the hover box does.
   * @param {string} id @param {import("../chart.js").Series} train @param {import("../chart.js").Series} val
   * @param {import("../chart.js").Series} batch @param {(v: number) => string} f
   */
  sayFigures(id, train, val, batch, f) {
    const say = (/** @type {number} */ v) => (Number.isFinite(v) ? f(v) : "–"); // epoch 0 has no training figure
    const parts = S.epochs.map((e, i) => t("chart.figures.epoch", { epoch: e.epoch, train: say(train.ys.data[i]), val: say(val.ys.data[i]) }));
    const n = batch.xs.length;
    if (n) parts.push(t("chart.figures.latest", { step: batch.xs.data[n - 1].toLocaleString("en-US"), v: say(batch.ys.data[n - 1]) }));
    const text = parts.length ? parts.join(t("list.sep2")) : t("chart.figures.none");
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  reset() {
    for (const s of [...this.loss.series, ...this.acc.series]) if (!s.id.startsWith("cmp")) { s.xs.clear(); s.ys.clear(); }
    this.smoothers = { loss: new Smoother(smoothing()), acc: new Smoother(smoothing()) };
    S.lastStep = -1; S.epochs = []; S.marks = []; S.lrUsed = null;
    this.setMarks([]);
    markDirty("loss"); markDirty("acc");
  }

  /** @param {{step: number[], loss: (number|null)[], accuracy: (number|null)[], lr?: (number|null)[]}} d */
  append(d) {
    for (let i = 0; i < d.step.length; i++) {
      const step = d.step[i];
      if (step <= S.lastStep) continue;
      S.lastStep = step;
      const lr = d.lr?.[i];
      if (lr != null) S.lrUsed = { step, lr };
      const l = d.loss[i] ?? NaN, a = d.accuracy[i] ?? NaN;
      this.raw.xs.push(step); this.raw.ys.push(l);
      this.sm.xs.push(step); this.sm.ys.push(this.smoothers.loss.push(l));
      this.accRaw.xs.push(step); this.accRaw.ys.push(a);
      this.accSm.xs.push(step); this.accSm.ys.push(this.smoothers.acc.push(a));
    }
  }

  /** @param {{step: number, kind: string, value?: number|null}} m */
  addMark(m) {
    if (S.marks.some((x) => x.step === m.step && x.kind === m.kind)) return;
    S.marks.push(m);
    this.setMarks(S.marks);
  }

  /** @param {any[]} marks */
  setMarks(marks) {
    this.loss.marks = marks.map((m) => ({
      x: m.step, color: MARK_COLORS[m.kind] ?? "--muted",
      label: t(`chart.mark_short.${m.kind}`, { lr: formatNumber(m.value) }),
    }));
    markDirty("loss");
  }

  /** @param {any} d EpochData (or a stored epoch row) */
  addEpoch(d) {
    if (S.epochs.some((x) => x.epoch === d.epoch)) return;
    S.epochs.push(d);
    const x = d.step;
    this.eTrain.xs.push(x); this.eTrain.ys.push(d.train_loss ?? NaN);
    this.eVal.xs.push(x); this.eVal.ys.push(d.val_loss ?? NaN);
    this.aTrain.xs.push(x); this.aTrain.ys.push(d.train_accuracy ?? NaN);
    this.aVal.xs.push(x); this.aVal.ys.push(d.val_accuracy ?? NaN);
    markDirty("loss"); markDirty("acc");
  }

  /**
   * A run's stored history, keeping live points newer than it (they arrived while it loaded).
   * Its marks are the server's: pauses, resumes, a person's new learning rate (a schedule's own
   * changes every step would only be noise).
   * @param {any} h MetricsHistory
   */
  load(h) {
    const b = h.batches;
    const lastHist = b.step.length ? b.step[b.step.length - 1] : -1;
    const extra = { step: /** @type {number[]} */ ([]), loss: /** @type {number[]} */ ([]), accuracy: /** @type {number[]} */ ([]) };
    for (let i = 0; i < this.raw.xs.length; i++) if (this.raw.xs.data[i] > lastHist) { extra.step.push(this.raw.xs.data[i]); extra.loss.push(this.raw.ys.data[i]); extra.accuracy.push(this.accRaw.ys.data[i]); }
    for (const s of [this.raw, this.sm, this.accRaw, this.accSm]) { s.xs.clear(); s.ys.clear(); }
    this.smoothers = { loss: new Smoother(smoothing()), acc: new Smoother(smoothing()) };
    S.lastStep = -1;
    const live = S.marks.filter((m) => m.step > lastHist);
    S.marks = [...(h.marks ?? []), ...live];
    this.append(b);
    this.append(extra);
    this.setMarks(S.marks);
    const epochs = S.epochs;
    S.epochs = [];
    for (const s of [this.eTrain, this.eVal, this.aTrain, this.aVal]) { s.xs.clear(); s.ys.clear(); }
    for (const e of [...h.epochs, ...epochs].sort((p, q) => p.epoch - q.epoch)) this.addEpoch(e);
    markDirty("loss"); markDirty("acc");
  }

  resmooth() {
    const k = smoothing();
    this.sm.ys.clear(); for (const v of smooth(this.raw.ys.data, k, this.raw.ys.length)) this.sm.ys.push(v);
    this.accSm.ys.clear(); for (const v of smooth(this.accRaw.ys.data, k, this.accRaw.ys.length)) this.accSm.ys.push(v);
    this.smoothers.loss = restState(this.raw.ys, k);
    this.smoothers.acc = restState(this.accRaw.ys, k);
    if (S.compare) this.compareWith(S.compare, true);
    markDirty("loss"); markDirty("acc");
  }

  /** Lay another run's curves over the watched one's (again: take them off). @param {string} id @param {boolean} [refresh] */
  async compareWith(id, refresh = false) {
    if (S.compare === id && !refresh) {
      S.compare = null; this.loss.remove("cmp"); this.acc.remove("cmpacc"); $("compare-note").textContent = "";
      markDirty("loss"); markDirty("acc"); markDirty("runs"); return;
    }
    const h = await attempt(api.getMetrics(id), t("chart.loading_compare"));
    if (!h) return;
    S.compare = id;
    this.loss.remove("cmp"); this.acc.remove("cmpacc");
    const name = runName(id);
    const c = this.loss.add({ id: "cmp", label: t("chart.cmp_smoothed", { name }), color: "--chart-4", kind: "line", dash: [6, 4], width: 2 });
    const ys = smooth(h.batches.loss.map((/** @type {any} */ v) => v ?? NaN), smoothing());
    h.batches.step.forEach((/** @type {number} */ s, /** @type {number} */ i) => { c.xs.push(s); c.ys.push(ys[i]); });
    const a = this.acc.add({ id: "cmpacc", label: t("chart.cmp_validation", { name }), color: "--chart-4", kind: "points", dash: [6, 4], fmt: pct });
    for (const e of h.epochs) { a.xs.push(e.step); a.ys.push(e.val_accuracy ?? NaN); }
    $("compare-note").textContent = t("chart.comparing", { name });
    markDirty("loss"); markDirty("acc"); markDirty("runs");
  }
}

/** A smoother that has seen a whole column (so live points continue the recomputed curve). @param {any} col @param {number} k */
function restState(col, k) { const s = new Smoother(k); for (let i = 0; i < col.length; i++) s.push(col.data[i]); return s; }
