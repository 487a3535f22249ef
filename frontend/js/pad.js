// @ts-check
/**
 * The drawing pad: pointer events (mouse, pen, touch) on a square canvas, a marker-thick round
 * brush drawn along smoothed curves, undo of the last stroke, clear. Ink is drawn opaque on a
 * transparent canvas, so the alpha channel is the ink coverage (antialiased edges included).
 *
 * Strokes are kept in pad units (the pad is PAD_UNITS wide whatever its size on screen); the
 * canvas is as many device pixels as it shows, and the brush is a fixed share of the pad's width
 * (BRUSH / PAD_UNITS), so a digit looks the same on a phone and a laptop; a small drawing is sent
 * with thinner strokes (`pixels`, `sendBrush`). A picture (a test digit chosen with the keyboard)
 * can stand in for strokes.
 */
import { smoothPath, downsample, follow, sendBrush, PAD_UNITS, BRUSH } from "./padmath.js";

/** @typedef {import("./padmath.js").Point} Point */

export class Pad {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{onChange: (final: boolean) => void}} handlers onChange(final): ink changed (final = stroke ended / undo / clear)
   */
  constructor(canvas, handlers) {
    this.canvas = canvas;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { willReadFrequently: true }));
    /** @type {Point[][]} */
    this.strokes = [];
    /** @type {Point[]|null} */
    this.current = null;
    /** @type {number|null} */
    this.pointer = null;
    this.brush = BRUSH; // pad units: a marker (MNIST strokes are ~2–3 px of a 20 px digit)
    /** @type {number[][]|null} a picture on the pad instead of strokes (rows in [0, 1]) */
    this.image = null;
    /** Counts every change of the ink, so a caller can tell whether the pad still holds what it read. */
    this.version = 0;
    this.h = { onChange: (/** @type {boolean} */ final) => { this.version++; handlers.onChange(final); } };
    this.raf = 0;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    // No scrolling, zooming or context menu while drawing (touch-action: none in CSS as well).
    canvas.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  /** @param {PointerEvent} e @returns {Point} */
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * PAD_UNITS, y: ((e.clientY - r.top) / r.height) * PAD_UNITS };
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (this.pointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    this.pointer = e.pointerId;
    this.image = null;
    try { this.canvas.setPointerCapture(e.pointerId); } catch { /* synthetic events */ }
    this.current = [this.at(e)];
    this.strokes.push(this.current);
    this.redraw();
    this.h.onChange(false);
  }

  /** @param {PointerEvent} e */
  move(e) {
    if (e.pointerId !== this.pointer || !this.current) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = follow(this.current[this.current.length - 1], this.at(ev), 0.7);
      const last = this.current[this.current.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) >= 1.5) this.current.push(p);
    }
    this.schedule();
    this.h.onChange(false);
  }

  /** @param {PointerEvent} e */
  up(e) {
    if (e.pointerId !== this.pointer) return;
    if (this.current) {
      const last = this.current[this.current.length - 1], p = this.at(e);
      if (Math.hypot(p.x - last.x, p.y - last.y) >= 1) this.current.push(p);
    }
    this.pointer = null;
    this.current = null;
    this.redraw();
    this.h.onChange(true);
  }

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.redraw(); });
  }

  clear() { this.strokes = []; this.image = null; this.current = null; this.pointer = null; this.redraw(); this.h.onChange(true); }
  undo() { if (this.image) this.image = null; else this.strokes.pop(); this.current = null; this.redraw(); this.h.onChange(true); }
  get empty() { return this.strokes.length === 0 && !this.image; }

  /** What is on the pad, as plain data (kept across a reload: see panels/draw.js). */
  snapshot() { return { strokes: this.strokes, image: this.image }; }

  /**
   * Put back what :meth:`snapshot` gave, if it is well-formed (anything else leaves the pad
   * empty). After a reload it redraws without announcing a change (the page reads the pad once it
   * is connected); ``announce`` reads it at once, as a stroke would (a refused label's drawing).
   * @param {any} kept @param {boolean} [announce]
   */
  restore(kept, announce = false) {
    const point = (/** @type {any} */ p) => p && Number.isFinite(p.x) && Number.isFinite(p.y);
    const strokes = Array.isArray(kept?.strokes) && kept.strokes.every((/** @type {any} */ s) => Array.isArray(s) && s.length && s.every(point))
      ? kept.strokes : [];
    const image = Array.isArray(kept?.image) && kept.image.every((/** @type {any} */ r) => Array.isArray(r) && r.every(Number.isFinite))
      ? kept.image : null;
    this.strokes = image ? [] : strokes;
    this.image = image;
    this.current = null;
    this.redraw();
    if (announce) this.h.onChange(true); else this.version++;
  }

  /** A picture instead of strokes (the keyboard's way to give the pad a digit). @param {number[][]} rows in [0, 1] */
  setImage(rows) {
    this.strokes = []; this.current = null; this.image = rows;
    this.redraw();
    this.h.onChange(true);
  }

  /** Match the canvas to its size on screen (device pixels); strokes keep their pad units. */
  fit() {
    const css = this.canvas.clientWidth;
    if (!css) return;
    const px = Math.max(PAD_UNITS, Math.round(css * (window.devicePixelRatio || 1)));
    if (px !== this.canvas.width) { this.canvas.width = px; this.canvas.height = px; this.redraw(); }
  }

  /** The brush's width in canvas pixels now. */
  get brushPx() { return (this.brush * this.canvas.width) / PAD_UNITS; }

  redraw() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (this.image) { this.paintImage(this.image); return; }
    this.paintStrokes(ctx, canvas.width, this.brush);
  }

  /** The strokes on `ctx` (a canvas `width` px wide), `brush` pad units wide. @param {CanvasRenderingContext2D} ctx @param {number} width @param {number} brush */
  paintStrokes(ctx, width, brush) {
    const k = width / PAD_UNITS;
    ctx.setTransform(k, 0, 0, k, 0, 0);
    ctx.strokeStyle = "#ffffff"; ctx.fillStyle = "#ffffff";
    ctx.lineWidth = brush; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of this.strokes) {
      if (s.length === 1) { ctx.beginPath(); ctx.arc(s[0].x, s[0].y, brush / 2, 0, Math.PI * 2); ctx.fill(); continue; }
      const p = smoothPath(s);
      ctx.beginPath();
      ctx.moveTo(p.start.x, p.start.y);
      for (const [c, end] of p.curves) ctx.quadraticCurveTo(c.x, c.y, end.x, end.y);
      ctx.stroke();
    }
  }

  /** @param {number[][]} rows */
  paintImage(rows) {
    const h = rows.length, w = rows[0]?.length ?? 0;
    if (!h || !w) return;
    const small = document.createElement("canvas");
    small.width = w; small.height = h;
    const sctx = /** @type {CanvasRenderingContext2D} */ (small.getContext("2d"));
    const img = sctx.createImageData(w, h);
    rows.forEach((row, y) => row.forEach((v, x) => { const i = (y * w + x) * 4; img.data[i] = img.data[i + 1] = img.data[i + 2] = 255; img.data[i + 3] = Math.round(v * 255); }));
    sctx.putImageData(img, 0, 0);
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.drawImage(small, 0, 0, this.canvas.width, this.canvas.height);
  }

  /** The ink as shown, a size×size grid in [0, 1] (bright ink on dark). @param {number} size */
  shown(size = 56) {
    const { width, height } = this.canvas;
    const data = this.ctx.getImageData(0, 0, width, height).data;
    return downsample(data, width, height, size, 3);
  }

  /**
   * The ink as a size×size grid in [0, 1] for the server: as shown, except that a small drawing's
   * strokes are sent thinner (`sendBrush`), so fitting it to 20×20 does not fatten them.
   * @param {number} size
   */
  pixels(size = 56) {
    const brush = this.image ? this.brush : sendBrush(this.strokes);
    if (brush >= this.brush) return this.shown(size);
    const px = size * 8;
    const off = document.createElement("canvas");
    off.width = px; off.height = px;
    const ctx = /** @type {CanvasRenderingContext2D} */ (off.getContext("2d", { willReadFrequently: true }));
    this.paintStrokes(ctx, px, brush);
    return downsample(ctx.getImageData(0, 0, px, px).data, px, px, size, 3);
  }
}
