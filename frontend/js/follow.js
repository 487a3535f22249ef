// @ts-check
/**
 * Which run a page shows when nobody asks it to change (pure, so `node --test` checks it). A page
 * remembers how it came to watch its run:
 *   "latest"  nothing was chosen: the run that trained when the page opened, or the last one;
 *   "pinned"  the class run the teacher pinned (the page follows the class);
 *   "chosen"  the person opened, started, continued or taught it.
 * Only a page on "latest" moves to a run that starts, and only once its own has ended (a finished
 * run stays on screen until then, so its end can be read). A page never leaves a run its person
 * chose, nor the pinned run, for someone else's run: in a class that would be whichever run the
 * queue starts next.
 */

/** @typedef {"latest"|"pinned"|"chosen"} Following */

/**
 * Whether a page moves to a run that just started.
 * @param {Following} how @param {string|null} watched the run it shows @param {boolean} watchedLive
 * whether that run is queued, training or paused @param {string} started
 */
export const followStart = (how, watched, watchedLive, started) => how === "latest" && started !== watched && !watchedLive;

/**
 * Whether a page moves to a newly pinned class run: unless its person chose what it shows (a page
 * that shows nothing, the latest run or the old pin follows the class).
 * @param {Following} how @param {string|null} watched @param {string|null} pinned the new pin (null: unpinned)
 */
export const followPin = (how, watched, pinned) => pinned !== null && pinned !== watched && (watched === null || how !== "chosen");

/**
 * How a page follows after the pin changed: on the pinned run, "pinned"; a page that followed a pin
 * now taken away goes back to "latest"; a person's choice stays theirs.
 * @param {Following} how @param {string|null} watched @param {string|null} pinned
 * @returns {Following}
 */
export function afterPin(how, watched, pinned) {
  if (pinned !== null && watched === pinned) return how === "chosen" ? "chosen" : "pinned";
  return how === "pinned" ? "latest" : how;
}

/**
 * Which run a page shows after the run it showed was deleted: the class run the teacher pinned,
 * else the run that trains now, else the latest run left (none: null) — never, say, another
 * student's run just because it is the latest. `runs` in the order they were made.
 * @param {string} gone @param {string|null} pinned @param {string|null} current @param {string[]} runs
 * @returns {{id: string|null, how: Following}}
 */
export function afterDelete(gone, pinned, current, runs) {
  const left = runs.filter((id) => id !== gone);
  if (pinned && pinned !== gone && left.includes(pinned)) return { id: pinned, how: "pinned" };
  if (current && current !== gone && left.includes(current)) return { id: current, how: "latest" };
  return { id: left.length ? left[left.length - 1] : null, how: "latest" };
}
