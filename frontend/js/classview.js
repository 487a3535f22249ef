// @ts-check
/**
 * DOM-free helpers of the class view and of the page's panel subscriptions: which heavy frames
 * the visible sections need, a run's progress and its place in the queue as words, "my runs"
 * versus "class runs". Tested by test/classview.test.js.
 */

/**
 * Heavy frames each section draws while it is on screen (service/hub.py sends those live, the
 * others at most once per hidden_heavy_interval_s). The Draw pad re-reads the drawing when the
 * kernels move, so it wants the (small) kernels frame too.
 * @type {Record<string, string[]>}
 */
export const SECTION_FRAMES = {
  draw: ["kernels"],
  learned: ["activations", "kernels", "gradients"],
};

/**
 * @param {Iterable<string>} visible ids of the sections on screen
 * @returns {string[]} heavy event types to receive live, sorted
 */
export function liveFrames(visible) {
  const out = new Set();
  for (const id of visible) for (const t of SECTION_FRAMES[id] ?? []) out.add(t);
  return [...out].sort();
}

/** @param {any} run a RunSummary @returns {string} */
export function progress(run) {
  if (run.total_steps) return `${Math.floor((100 * run.step) / run.total_steps)}%`;
  return `${run.epoch}/${run.epochs}`;
}

/**
 * A waiting run's place and estimated start, as a person reads it.
 * @param {any} run a RunSummary @returns {string}
 */
export function queueWords(run) {
  if (run.queue_position == null) return "";
  const place = run.queue_position === 1 ? "next" : `#${run.queue_position} in line`;
  if (run.starts_in_s == null) return `${place}, start time not known yet`;
  return `${place}, starts ${inAbout(run.starts_in_s)}`;
}

/** @param {number} seconds @returns {string} */
export function inAbout(seconds) {
  if (seconds < 1) return "now";
  if (seconds < 90) return `in ~${Math.round(seconds)} s`;
  if (seconds < 5400) return `in ~${Math.round(seconds / 60)} min`;
  return `in ~${(seconds / 3600).toFixed(1)} h`;
}

/**
 * @param {any[]} runs RunSummary list
 * @param {"mine"|"class"} mode
 * @param {string} me the owner name of this page
 * @returns {any[]}
 */
export function pickRuns(runs, mode, me) {
  return mode === "mine" ? runs.filter((r) => r.owner === me) : runs;
}
