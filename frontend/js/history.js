// @ts-check
/**
 * A bounded history of heavy frames (kernels, probe activations) for the timeline. When full it
 * drops every other frame of the older half, so it always spans the whole run — dense near now,
 * sparser in the past — in bounded memory. Pure module: no DOM.
 */

/** @template T */
export class FrameHistory {
  /** @param {number} capacity */
  constructor(capacity = 120) {
    this.capacity = Math.max(4, capacity);
    /** @type {{step: number, frame: T}[]} */
    this.items = [];
  }
  /** Add (or replace) the frame of a step; steps arrive ascending. @param {number} step @param {T} frame */
  push(step, frame) {
    const last = this.items[this.items.length - 1];
    if (last && last.step === step) { last.frame = frame; return; }
    if (last && step < last.step) { // a new run or a rewind: start over
      this.items = [];
    }
    this.items.push({ step, frame });
    if (this.items.length > this.capacity) {
      const half = Math.floor(this.items.length / 2);
      const old = this.items.slice(0, half).filter((_, i) => i % 2 === 0);
      this.items = old.concat(this.items.slice(half));
    }
  }
  get length() { return this.items.length; }
  /** The latest frame at or before `step` (or the first one). @param {number} step */
  at(step) {
    const it = this.items;
    if (!it.length) return null;
    let lo = 0, hi = it.length - 1;
    if (step < it[0].step) return it[0];
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (it[mid].step <= step) lo = mid; else hi = mid - 1; }
    return it[lo];
  }
  /** @param {number} i */
  get(i) { return this.items[i] ?? null; }
  latest() { return this.items[this.items.length - 1] ?? null; }
  clear() { this.items = []; }
}
