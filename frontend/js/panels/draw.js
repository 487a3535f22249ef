// @ts-check
/**
 * The drawing pad and what the network says: the pad (or, from the keyboard, a test digit put on
 * it), the live prediction over the socket, the ten bars, a compact answer beside the pad on a
 * phone, "draw bigger" for ink too small to read, and a clear word when the server is away.
 * Also "Inside": the drawn digit through every layer, hovered values exact from the server.
 */
import { S, $, attempt, modelName, watchedRun, isActive, toast } from "../state.js";
import * as api from "../api.js";
import { register, markDirty } from "../scheduler.js";
import { Pad } from "../pad.js";
import { InFlightThrottle, hasInk, tooSmall, PAD_UNITS } from "../padmath.js";
import { predictMessage } from "../protocol.js";
import { decodeArray } from "../encoding.js";
import { paintImage, esc } from "../heatmap.js";
import { fromPrediction } from "../layerdata.js";
import { percent } from "../learnmath.js";
import { t, aDigit } from "../i18n.js";
import { NetworkView } from "./network.js";

export class DrawPanel {
  /** @param {import("../socket.js").LiveSocket} socket @param {{padChanged: () => void}} hooks */
  constructor(socket, hooks) {
    this.socket = socket;
    this.hooks = hooks;
    this.throttle = new InFlightThrottle(40);
    this.pumping = false;
    /** @type {Map<number, number[][]>} the pixels each recent predict message sent */
    this.sent = new Map();
    /** @type {Map<number, any>} exact activations per prediction id (undefined: loading) */
    this.exact = new Map();
    this.pad = new Pad($("pad"), { onChange: () => { hooks.padChanged(); if (this.pad.empty) this.clear(); else this.soon(); } });
    this.pad.fit();
    this.keepAcrossReloads();
    this.netView = new NetworkView($("layers"), { exact: () => this.exactValues(), perMap: () => $("per-map").checked });
    $("per-map").addEventListener("change", () => markDirty("layers"));
    $("clear").addEventListener("click", () => this.pad.clear());
    $("undo").addEventListener("click", () => this.pad.undo());
    $("model").addEventListener("change", () => this.soon());
    $("test-digit-form").addEventListener("submit", (/** @type {Event} */ e) => { e.preventDefault(); this.putTestDigit(); });
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "z" && !/INPUT|SELECT|TEXTAREA/.test(/** @type {HTMLElement} */ (e.target).tagName)) { e.preventDefault(); this.pad.undo(); }
    });
    this.barNames = "";
    this.buildBars([..."0123456789"]);
    register("prediction", () => this.paintPrediction());
    register("layers", () => this.paintLayers());
  }

  /**
   * One bar per output neuron, labelled with the model's class names (the ten digits until a
   * model trained on another dataset answers). @param {string[]} names
   */
  buildBars(names) {
    if (names.join("\n") === this.barNames) return;
    this.barNames = names.join("\n");
    const bars = $("bars");
    bars.replaceChildren();
    bars.style.gridTemplateColumns = `repeat(${names.length}, minmax(0, 1fr))`; // one row, however many
    for (const name of names) {
      const el = document.createElement("div");
      el.className = "bar";
      el.innerHTML = `<div class="track"><div class="fill"></div></div><div class="d" title="${esc(name)}">${esc(name)}</div><div class="p">–</div>`;
      el.setAttribute("role", "meter"); el.setAttribute("aria-label", t("draw.bar.label", { name }));
      el.setAttribute("aria-valuemin", "0"); el.setAttribute("aria-valuemax", "100"); el.setAttribute("aria-valuenow", "0");
      bars.append(el);
    }
  }

  /**
   * The drawing survives a reload of this tab (the language switch reloads the page): kept in
   * sessionStorage as the page goes, put back as it starts.
   */
  keepAcrossReloads() {
    const KEY = "glassnet-pad";
    try {
      const kept = sessionStorage.getItem(KEY);
      sessionStorage.removeItem(KEY);
      if (kept) this.pad.restore(JSON.parse(kept));
    } catch { /* storage off, or not JSON: an empty pad */ }
    window.addEventListener("pagehide", () => {
      try {
        if (this.pad.empty) sessionStorage.removeItem(KEY);
        else sessionStorage.setItem(KEY, JSON.stringify(this.pad.snapshot()));
      } catch { /* storage off or full: the drawing is lost, as before */ }
    });
  }

  /** The keyboard's way to give the pad a digit: test digit N, as the network sees it. */
  async putTestDigit() {
    const n = Number($("test-digit").value);
    const r = await attempt(api.explainActivations({ test_index: n, model: S.defaultModel }), t("draw.reading_test_digit", { n }));
    if (!r) return;
    const [h, w] = r.input.shape;
    const rows = Array.from({ length: h }, (_, y) => r.input.values.slice(y * w, (y + 1) * w));
    this.pad.setImage(rows);
    $("pad-note").textContent = t("draw.test_digit_on_pad", { n, digit: aDigit(r.source.label) });
  }

  soon() {
    if (this.pad.empty) return;
    this.throttle.want();
    if (!this.pumping) { this.pumping = true; requestAnimationFrame(() => this.pump()); }
  }

  pump() {
    if (this.throttle.next(performance.now())) {
      const pixels = this.pad.pixels(56);
      if (!hasInk(pixels, 0.02)) { this.throttle.done(); this.clear(); }
      else if (!this.pad.image && tooSmall(this.pad.shown(56))) { this.throttle.done(); this.say("small"); }
      else if (!this.socket.open) { this.throttle.done(); this.say("offline"); }
      else {
        S.predictId += 1;
        this.sent.set(S.predictId, pixels);
        for (const k of this.sent.keys()) if (k < S.predictId - 8) this.sent.delete(k);
        // Auto: the run training now (null lets the server use the watched run's latest weights),
        // else the default model.
        const live = isActive(watchedRun()) && !S.fallback;
        const model = $("model").value || (live ? null : S.defaultModel);
        if (!this.socket.send(predictMessage(pixels, model, S.predictId))) { this.throttle.done(); this.say("offline"); }
      }
    }
    if (this.throttle.pending) requestAnimationFrame(() => this.pump()); else this.pumping = false;
  }

  /**
   * No answer to show, and why: the drawing is too small, or the server is away.
   * @param {"small"|"offline"} why
   */
  say(why) {
    S.prediction = null;
    this.resetBars();
    $("prediction").textContent = "?";
    $("mini-prediction").textContent = "?";
    const text = why === "small"
      ? t("draw.bigger_long")
      : t("draw.offline_long");
    $("confidence").textContent = text;
    $("mini-confidence").textContent = why === "small" ? t("draw.bigger") : t("draw.offline");
    $("predict-model").textContent = "";
    document.body.dataset.answer = why;
  }

  /** @param {any} d PredictionData */
  show(d) {
    if (typeof d.id === "number") {
      if (d.id >= S.predictId) this.throttle.done();
      if (d.id < S.shownId) return; // an older answer arriving late
      S.shownId = d.id;
    } else this.throttle.done();
    if (this.pad.empty) return;
    S.prediction = d;
    document.body.dataset.answer = "digit";
    markDirty("prediction");
    if (!d.empty && d.activations?.length) markDirty("layers");
  }

  /** The watched run has no weights yet: read with the default model until it has. @param {any} d ErrorData */
  onError(d) {
    if (d.id == null || d.id !== S.predictId) return false;
    this.throttle.done();
    if (d.code === "not_found" && !$("model").value && !S.fallback) { S.fallback = true; this.soon(); return true; }
    return false;
  }

  paintPrediction() {
    const d = S.prediction;
    if (!d) return;
    const out = $("prediction");
    if (d.empty || d.digit == null) {
      out.textContent = "?"; $("mini-prediction").textContent = "?";
      $("confidence").textContent = d.message ?? t("draw.no_ink_yet"); $("mini-confidence").textContent = t("draw.no_ink");
      $("predict-model").textContent = "";
    } else {
      const label = d.label ?? String(d.digit);
      out.textContent = label;
      $("mini-prediction").textContent = label;
      const p = d.probabilities[d.digit] ?? 0;
      $("confidence").textContent = t("draw.sure", { p: percent(p), digit: aDigit(label) });
      $("mini-confidence").textContent = percent(p);
      $("predict-model").textContent = (d.ms != null ? t("draw.read_by_ms", { model: modelName(d.model), ms: Math.round(d.ms) }) : t("draw.read_by", { model: modelName(d.model) }));
    }
    $("readout").textContent = d.readout === "normalised"
      ? t("draw.readout_normalised")
      : t("draw.readout_softmax");
    if (d.classes?.length) this.buildBars(d.classes);
    const kids = $("bars").children;
    for (let k = 0; k < kids.length; k++) {
      const p = d.probabilities?.[k] ?? 0;
      const el = /** @type {HTMLElement} */ (kids[k]);
      el.classList.toggle("best", k === d.digit);
      /** @type {HTMLElement} */ (el.querySelector(".fill")).style.height = `${(p * 100).toFixed(1)}%`;
      // The headline's precision (percent: cut to tenths), so one probability reads one figure.
      /** @type {HTMLElement} */ (el.querySelector(".p")).textContent = d.empty ? "–" : percent(p);
      el.setAttribute("aria-valuenow", String(Math.floor(p * 1000 + 1e-9) / 10));
      el.setAttribute("aria-valuetext", d.empty ? "–" : percent(p));
    }
    const seen = $("seen");
    if (d.prepared) {
      try { const img = decodeArray(d.prepared); paintImage(seen, img.bytes, 0, img.shape[1], img.shape[0]); }
      catch (e) { toast(t("draw.cannot_read_prepared", { error: /** @type {Error} */ (e).message })); }
    } else seen.getContext("2d").clearRect(0, 0, 28, 28);
  }

  paintLayers() {
    const d = S.prediction;
    if (!d || d.empty || !d.activations?.length) return;
    try { this.netView.show(fromPrediction(d.activations), d.probabilities); this.netView.setReadout(d.readout); }
    catch (e) { toast(t("draw.cannot_draw_layers", { error: /** @type {Error} */ (e).message })); }
  }

  /** The exact values behind the Inside pictures, asked for on the first hover. */
  exactValues() {
    const d = S.prediction;
    if (!d || typeof d.id !== "number") return null;
    if (this.exact.has(d.id)) return this.exact.get(d.id);
    const pixels = this.sent.get(d.id);
    if (!pixels) return null;
    const id = d.id;
    this.exact.set(id, undefined);
    for (const k of this.exact.keys()) if (k < id - 4) this.exact.delete(k);
    api.explainActivations({ pixels, model: d.model })
      .then((r) => { this.exact.set(id, r); this.netView.refreshTip(); })
      .catch(() => { this.exact.set(id, null); this.netView.refreshTip(); });
    return undefined;
  }

  resetBars() {
    for (const el of $("bars").children) {
      /** @type {HTMLElement} */ (el.querySelector(".fill")).style.height = "0%";
      /** @type {HTMLElement} */ (el.querySelector(".p")).textContent = "–";
      el.classList.remove("best");
      el.setAttribute("aria-valuenow", "0");
    }
  }

  clear() {
    S.prediction = null;
    $("prediction").textContent = "?"; $("mini-prediction").textContent = "?";
    $("confidence").textContent = t("draw.confidence"); $("mini-confidence").textContent = t("draw.mini-confidence");
    $("predict-model").textContent = "";
    $("pad-note").textContent = "";
    document.body.dataset.answer = "none";
    this.resetBars();
    $("seen").getContext("2d").clearRect(0, 0, 28, 28);
    this.netView.clear(t("inside.draw_a_digit_to"));
  }

  /** For "your digits": the pad's drawing, its strokes in pad units. */
  drawing() {
    if (this.pad.empty) return null;
    return { pixels: this.pad.pixels(56), strokes: this.pad.strokes.map((s) => s.map((p) => [Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10])), size: PAD_UNITS };
  }
}
