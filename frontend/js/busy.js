// @ts-check
/**
 * A button that waits for the server keeps its keyboard focus: while busy it is aria-disabled
 * (greyed, announced as unavailable, its clicks ignored) instead of `disabled`, because a focused
 * button that becomes disabled drops the focus to <body> — the focus ring vanishes and a screen
 * reader is left on nothing (QA4 NEWCOMER-4).
 */

/** Whether the button is waiting for its last click's work. @param {HTMLElement} button */
export const isBusy = (button) => button.getAttribute("aria-disabled") === "true";

/**
 * Run `work` with `button` marked busy; a click while it is busy does nothing (undefined).
 * @template T @param {HTMLElement} button @param {() => Promise<T>} work @returns {Promise<T|undefined>}
 */
export async function whileBusy(button, work) {
  if (isBusy(button)) return undefined;
  button.setAttribute("aria-disabled", "true");
  try { return await work(); } finally { button.removeAttribute("aria-disabled"); }
}
