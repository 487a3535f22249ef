// @ts-check
/**
 * The drawing pad: pointer events (mouse, pen, touch) on a 280×280 canvas, a marker-thick round
 * brush drawn along smoothed curves, undo of the last stroke, clear. Ink is drawn opaque on a
 * transparent canvas, so the alpha channel is the ink coverage (antialiased edges included).
 */
import { smoothPath, downsample, follow } from "./padmath.js";

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
    this.brush = 20; // px on the 280 pad: a marker (MNIST strokes are ~2–3 px of a 20 px digit)
    this.h = handlers;
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
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (this.pointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    this.pointer = e.pointerId;
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

  clear() { this.strokes = []; this.current = null; this.pointer = null; this.redraw(); this.h.onChange(true); }
  undo() { this.strokes.pop(); this.current = null; this.redraw(); this.h.onChange(true); }
  get empty() { return this.strokes.length === 0; }

  redraw() {
    const { ctx, canvas } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#ffffff"; ctx.fillStyle = "#ffffff";
    ctx.lineWidth = this.brush; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of this.strokes) {
      if (s.length === 1) { ctx.beginPath(); ctx.arc(s[0].x, s[0].y, this.brush / 2, 0, Math.PI * 2); ctx.fill(); continue; }
      const p = smoothPath(s);
      ctx.beginPath();
      ctx.moveTo(p.start.x, p.start.y);
      for (const [c, end] of p.curves) ctx.quadraticCurveTo(c.x, c.y, end.x, end.y);
      ctx.stroke();
    }
  }

  /** The ink as a size×size grid in [0, 1] (bright ink on dark), for the server. @param {number} size */
  pixels(size = 56) {
    const { width, height } = this.canvas;
    const data = this.ctx.getImageData(0, 0, width, height).data;
    return downsample(data, width, height, size, 3);
  }
}
