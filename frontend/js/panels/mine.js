// @ts-check
/**
 * Your digits: label the drawing on the pad ("this is a 3", or the digit key), review the gallery
 * (relabel, delete), export and import them (IDX like MNIST, or JSON with the strokes), and see how
 * any network reads them — accuracy, a confusion matrix, and the misread ones marked.
 */
import * as api from "../api.js";
import { esc } from "../heatmap.js";
import { base64ToBytes } from "../encoding.js";
import { t, aDigit, errText, statusWord } from "../i18n.js";
import { STATUS, LIVE_STATUSES } from "../protocol.js";
import { AugmentStrip } from "./augstrip.js";
import { titleOptions } from "../models.js";
import { percent } from "../learnmath.js";
import { modelName } from "../state.js";
import { whileBusy } from "../busy.js";

/** Teaching needs this many of your digits (the server's teaching.MIN_DIGITS; a test keeps them equal). */
export const TEACH_MIN_DIGITS = 10;

/** A "start from" value that means a new network of a preset, trained from scratch. */
const NEW_PREFIX = "new:";

/**
 * @typedef {{id: number, label: number, image: string, strokes: boolean, created: number}} MyDigit
 * @typedef {{pad: () => {pixels: number[][], strokes: number[][][], size: number}|null, clearPad: () => void, padVersion: () => number, padSnapshot: () => any, restorePad: (kept: any) => void,
 *   toast: (m: string, kind?: "error"|"info") => void, watch: (runId: string) => void,
 *   readWith: (modelId: string) => void}} MineContext
 */

export class MyDigitsView {
  /** @param {MineContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.labelledAt = -Infinity; // when a drawing was last labelled (performance.now())
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.$ = $;
    /** @type {MyDigit[]} */
    this.digits = [];
    /** @type {Map<number, {predicted: number, probability: number}>} */
    this.readings = new Map();
    const buttons = $("label-buttons");
    for (let d = 0; d < 10; d++) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = String(d); b.dataset.testid = `label-${d}`;
      b.setAttribute("aria-label", t("mine.label_button", { digit: aDigit(d) }));
      b.addEventListener("click", () => this.label(d));
      buttons.append(b);
    }
    $("pad").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
      if (/^[0-9]$/.test(e.key) && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); this.label(Number(e.key)); }
    });
    $("mine-filter").replaceChildren(new Option(t("mine.all_digits"), ""), ...Array.from({ length: 10 }, (_, d) => new Option(t("mine.only", { d }), String(d))));
    $("mine-filter").addEventListener("change", () => this.render());
    $("mine-import").addEventListener("click", () => this.importFiles());
    $("mine-evaluate").addEventListener("click", () => this.evaluate());
    $("teach-start").addEventListener("click", () => this.teach());
    const strip = new AugmentStrip($("teach-augment-strip"));
    const syncStrip = () => { $("teach-augment-strip").hidden = !$("teach-augment").checked; if ($("teach-augment").checked) strip.show(); };
    $("teach-augment").addEventListener("change", syncStrip);
    $("teach-augment-strip").addEventListener("click", () => strip.next());
    syncStrip();
    $("teach-use").addEventListener("click", () => { if (this.teachRun) this.ctx.readWith(this.teachRun.id); });
    /** @type {{id: string, name: string}|null} the teach run started from this page */
    this.teachRun = null;
    /** @type {any[]} its epochs so far (epoch 0: the starting network) */
    this.teachEpochs = [];
    this.load();
  }

  /** Start a teach run: the chosen network fine-tuned on MNIST mixed with my digits. */
  async teach() {
    const $ = this.$;
    const num = (/** @type {string} */ id) => Number($(id).value);
    // "new:<preset>" trains that preset from scratch on MNIST with my digits mixed in; else fine-tune a model.
    const from = String($("teach-from").value || "cnn");
    const fresh = from.startsWith(NEW_PREFIX) ? from.slice(NEW_PREFIX.length) : null;
    const mix = { train_subset: num("teach-subset"), repeat: num("teach-repeat"), holdout: num("teach-holdout") };
    const body = {
      teach: fresh ? mix : { from_model: from, ...mix },
      ...(fresh ? { preset: fresh } : {}),
      epochs: num("teach-epochs"),
      augment: $("teach-augment").checked,
    };
    await whileBusy($("teach-start"), () => this.startTeach(body));
  }

  /** @param {any} body the teach run's request */
  async startTeach(body) {
    const $ = this.$;
    try {
      const run = await api.startRun(body);
      this.teachRun = { id: run.id, name: run.name };
      this.teachEpochs = [];
      $("teach-use").hidden = true;
      this.showTeach(t(run.status === STATUS.QUEUED ? "mine.teach_waiting" : "mine.teach_learning", { name: run.name }));
      this.ctx.watch(run.id);
    } catch (e) { this.showTeach(t("mine.cannot_start", { error: errText(e) }), true); }
  }

  /** An epoch of any run: the teach run's before/after figures. @param {string|null} runId @param {any} data */
  onEpoch(runId, data) {
    if (!this.teachRun || runId !== this.teachRun.id || !data.extra) return;
    if (this.teachEpochs.some((e) => e.epoch === data.epoch)) return;
    this.teachEpochs.push(data);
    this.teachEpochs.sort((a, b) => a.epoch - b.epoch);
    this.renderTeach();
  }

  /** The teach run's status changed. @param {any} run */
  onStatus(run) {
    if (!this.teachRun || run.id !== this.teachRun.id) return;
    if (run.status === STATUS.FINISHED) this.$("teach-use").hidden = false;
    if (run.status !== STATUS.FINISHED && !LIVE_STATUSES.includes(run.status)) this.showTeach(t("run.ended_badly", { name: run.name, status: statusWord(run.status), message: run.message ?? "" }), true);
    this.renderTeach(run.status);
  }

  /** @param {string} [status] */
  renderTeach(status) {
    const pct = (/** @type {number|null|undefined} */ v) => (v == null ? "–" : percent(v, true)); // counted: cut, all right is 100%
    const rows = this.teachEpochs.map((e) => `<tr data-epoch="${e.epoch}"><th scope="row">${e.epoch === 0 ? t("mine.before") : t("mine.after_epoch", { n: e.epoch })}</th>
      <td class="num" data-kind="mine" data-value="${e.extra.mine ?? ""}">${pct(e.extra.mine)}</td>
      <td class="num" data-kind="test" data-value="${e.extra.test ?? ""}">${pct(e.extra.test)}</td>
      <td class="num">${pct(e.val_accuracy)}</td></tr>`).join("");
    const name = esc(this.teachRun?.name ?? "");
    this.$("teach-status").innerHTML = `<p><b>${name}</b>${status ? ` — ${esc(statusWord(status))}` : ""}</p>
      <div class="table-wrap"><table class="teach-table"><thead><tr><th scope="col"></th><th scope="col">${t("mine.col_mine")}</th><th scope="col">${t("mine.col_test")}</th><th scope="col">${t("mine.col_val")}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
  }

  /** @param {string} text @param {boolean} [error] */
  showTeach(text, error = false) {
    this.$("teach-status").innerHTML = `<p class="${error ? "err" : ""}">${esc(text)}</p>`;
  }

  /**
   * Keep the drawing on the pad as a digit ``d``. The pad is cleared at once, so the next digit
   * can be drawn while this one is on its way (before, it was cleared when the server answered,
   * wiping whatever had been drawn meanwhile); if the server refuses it, the drawing comes back
   * unless the pad has been drawn on since. A second press right after (a double click) finds the
   * pad empty and keeps nothing twice.
   * @param {number} d
   */
  async label(d) {
    const drawing = this.ctx.pad();
    if (!drawing) {
      if (performance.now() - this.labelledAt > 1000) this.ctx.toast(t("mine.draw_first"));
      return;
    }
    const kept = this.ctx.padSnapshot();
    this.labelledAt = performance.now();
    this.ctx.clearPad();
    const cleared = this.ctx.padVersion();
    try {
      const saved = await api.addMyDigit({ label: d, pixels: drawing.pixels, strokes: drawing.strokes, pad: drawing.size });
      this.digits.push(saved);
      this.stale();
      this.render();
      const k = this.digits.filter((x) => x.label === d).length;
      this.ctx.toast(t(this.digits.length === 1 ? "mine.kept_first" : k === 1 ? "mine.kept_one" : "mine.kept", { digit: aDigit(d), n: this.digits.length, k, d }), "info");
    } catch (e) {
      if (this.ctx.padVersion() === cleared) this.ctx.restorePad(kept);
      this.ctx.toast(t("mine.cannot_keep", { error: errText(e) }));
    }
  }

  async load() {
    try { this.digits = (await api.getMyDigits()).digits; } catch (e) { this.ctx.toast(t("mine.cannot_load", { error: errText(e) })); }
    this.render();
  }

  /** @param {any[]} models GET /api/models entries @param {(m: any) => string} label */
  setModels(models, label) {
    for (const id of ["mine-model", "teach-from"]) {
      const sel = this.$(id);
      const keep = sel.value || "cnn";
      sel.replaceChildren(...models.map((m) => new Option(label(m), m.id)));
      // Teaching can also start from nothing: a new network of a preset, my digits in its training.
      if (id === "teach-from") for (const preset of ["cnn", "mlp"]) sel.add(new Option(t("mine.from_scratch", { preset }), NEW_PREFIX + preset));
      if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
      titleOptions(sel);
    }
  }

  /** The digits changed: an earlier reading of them no longer describes them. */
  stale() {
    const out = this.$("mine-result");
    if (this.readings.size && !out.querySelector(".stale")) {
      out.insertAdjacentHTML("afterbegin", `<p class="stale muted">${esc(t("mine.changed"))}</p>`);
    }
  }

  render() {
    const $ = this.$;
    const filter = $("mine-filter").value;
    const shown = filter === "" ? this.digits : this.digits.filter((d) => d.label === Number(filter));
    $("mine-count").textContent = t(this.digits.length === 1 ? "mine.count_one" : "mine.count", { n: this.digits.length });
    const counts = Array.from({ length: 10 }, (_, d) => this.digits.filter((x) => x.label === d).length);
    $("mine-counts").innerHTML = counts.map((c, d) => `<span><b>${d}</b> ${c}</span>`).join("");
    // Teaching needs TEACH_MIN_DIGITS of them: until then the button says how many more, not a 422.
    const more = TEACH_MIN_DIGITS - this.digits.length;
    $("teach-start").disabled = more > 0;
    $("teach-needs").textContent = more > 0 ? t(more === 1 ? "mine.teach_needs_one" : "mine.teach_needs", { n: more, min: TEACH_MIN_DIGITS }) : "";
    const gallery = $("mine-gallery");
    if (!shown.length) {
      gallery.innerHTML = `<p class="muted">${esc(this.digits.length ? t("mine.none_of_this") : t("mine.no_digits_yet_draw"))}</p>`;
      return;
    }
    gallery.replaceChildren(...shown.map((d) => this.tile(d)));
  }

  /** @param {MyDigit} d */
  tile(d) {
    const el = document.createElement("div");
    el.className = "mis mine";
    el.dataset.id = String(d.id);
    const read = this.readings.get(d.id);
    if (read && read.predicted !== d.label) el.classList.add("misread");
    const canvas = document.createElement("canvas");
    canvas.width = 28; canvas.height = 28;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    const img = ctx.createImageData(28, 28);
    const bytes = base64ToBytes(d.image);
    for (let i = 0; i < 784; i++) { img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = bytes[i]; img.data[i * 4 + 3] = 255; }
    ctx.putImageData(img, 0, 0);
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", t("mine.your", { d: d.label }));
    const select = document.createElement("select");
    select.setAttribute("aria-label", t("mine.label_of", { id: d.id }));
    for (let k = 0; k < 10; k++) select.add(new Option(String(k), String(k)));
    select.value = String(d.label);
    select.addEventListener("change", async () => {
      try { const r = await api.relabelMyDigit(d.id, Number(select.value)); d.label = r.label; this.stale(); this.render(); }
      catch (e) { this.ctx.toast(t("mine.relabel_failed", { error: errText(e) })); select.value = String(d.label); }
    });
    const del = document.createElement("button");
    del.type = "button"; del.className = "small"; del.textContent = "✕";
    del.setAttribute("aria-label", t("mine.delete", { d: d.label }));
    // A digit is a person's own drawing and cannot be drawn again the same: the first press asks
    // ("Delete?"), a second press within a few seconds deletes; leaving the button forgets it.
    let asking = 0;
    const calm = () => { window.clearTimeout(asking); asking = 0; del.textContent = "✕"; del.classList.remove("asking"); del.setAttribute("aria-label", t("mine.delete", { d: d.label })); };
    del.addEventListener("blur", calm);
    del.addEventListener("click", async () => {
      if (!asking) {
        asking = window.setTimeout(calm, 5000);
        del.textContent = t("mine.delete_ask"); del.classList.add("asking");
        del.setAttribute("aria-label", t("mine.delete_confirm", { d: d.label }));
        return;
      }
      calm();
      try { await api.deleteMyDigit(d.id); this.digits = this.digits.filter((x) => x.id !== d.id); this.stale(); this.render(); }
      catch (e) { this.ctx.toast(t("mine.delete_failed", { error: errText(e) })); }
    });
    const note = document.createElement("span");
    note.textContent = read ? (read.predicted === d.label ? t("mine.read_right") : t("mine.read_as", { d: read.predicted })) : "";
    const row = document.createElement("div");
    row.className = "mine-tools";
    row.append(select, del);
    el.append(canvas, row, note);
    return el;
  }

  async importFiles() {
    const $ = this.$;
    const images = $("mine-import-images").files?.[0], labels = $("mine-import-labels").files?.[0], json = $("mine-import-json").files?.[0];
    if (json && (images || labels)) { this.ctx.toast(t("mine.choose_one_kind")); return; } // never drop a file silently
    try {
      /** @type {{added: number, skipped: number}} */
      let r;
      if (json) {
        // The file as it is: the server reads it, and names what is wrong with one that is not
        // JSON (parsed here, a PNG gave the browser's own "Unexpected token" sentence).
        r = await api.upload("/api/mydigits/json", { file: json });
      } else if (images && labels) {
        r = await api.upload("/api/mydigits/idx", { images, labels });
      } else { this.ctx.toast(t("mine.choose_files")); return; }
      // Digits already here (the same image and label) are not added twice: say how many.
      this.ctx.toast(r.skipped ? t("mine.imported_skipped", { n: r.added, skipped: r.skipped }) : t("mine.imported", { n: r.added }), "info");
      for (const id of ["mine-import-images", "mine-import-labels", "mine-import-json"]) $(id).value = "";
      this.stale();
      await this.load();
    } catch (e) {
      // Over the 2 MiB body cap (about 1,800 digits as JSON): say how to get them in.
      const hint = e instanceof api.ApiError && e.status === 413 ? ` ${t("mine.import_too_big")}` : "";
      this.ctx.toast(t("mine.import_failed", { error: errText(e) }) + hint);
    }
  }

  async evaluate() {
    const $ = this.$;
    const out = $("mine-result");
    try {
      const r = await api.evaluateMyDigits($("mine-model").value || null);
      this.readings = new Map(r.digits.map((/** @type {any} */ d) => [d.id, d]));
      const head = `<tr><th scope="col">${t("mine.yours_read")}</th>${Array.from({ length: 10 }, (_, d) => `<th scope="col">${d}</th>`).join("")}</tr>`;
      const rows = r.confusion.map((/** @type {number[]} */ row, /** @type {number} */ t) => `<tr><th scope="row">${t}</th>${row.map((c, p) => `<td class="num${c && p !== t ? " off" : c ? " on" : ""}">${c || ""}</td>`).join("")}</tr>`).join("");
      out.innerHTML = `<p>${t("mine.reads", { model: esc(modelName(r.model)), acc: `<b data-testid="mine-accuracy" data-value="${r.accuracy}">${percent(r.accuracy, true)}</b>`, n: r.count })}</p>
        <div class="table-wrap" tabindex="0" role="region" aria-label="${esc(t("mine.table.label"))}"><table class="confusion-table">${head}${rows}</table></div>
        <p class="caption">${esc(t("mine.table.caption"))}</p>`;
      this.render();
    } catch (e) { out.innerHTML = `<p class="err">${esc(errText(e))}</p>`; }
  }
}
