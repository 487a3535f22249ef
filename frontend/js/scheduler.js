// @ts-check
/**
 * One requestAnimationFrame loop for the whole page: panels mark themselves dirty when their data
 * changes, and each dirty panel is redrawn once in the next frame — never once per message.
 */

/** @type {Map<string, () => void>} */
const painters = new Map();
/** @type {Set<string>} */
const dirty = new Set();
let scheduled = false;

/** @param {string} name @param {() => void} paint */
export function register(name, paint) { painters.set(name, paint); }

/** @param {string} name */
export function markDirty(name) {
  dirty.add(name);
  if (!scheduled) { scheduled = true; requestAnimationFrame(frame); }
}

/** How long each frame's painting took (ms), the last 600 frames: a cheap self-check. */
export const paintTimes = /** @type {number[]} */ ([]);

function frame() {
  scheduled = false;
  const t0 = performance.now();
  const names = [...dirty];
  dirty.clear();
  for (const n of names) {
    const p = painters.get(n);
    if (!p) continue;
    try { p(); } catch (e) { console.error(`drawing ${n} failed:`, e); }
  }
  paintTimes.push(performance.now() - t0);
  if (paintTimes.length > 600) paintTimes.splice(0, 300);
}
