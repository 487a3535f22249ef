// @ts-check
/** How the page names a model from GET /api/models in its menus. Pure module: no DOM. */

/**
 * "cnn — 99.46%", "notes #2 · epoch-003 — 97.10%", "uploads:my-net (upload)": the id (a run's
 * checkpoint by the run's name) and the test accuracy as stored (four digits: no rounding up).
 * @param {{id: string, kind: string, test_accuracy?: number|null}} m
 * @param {(runId: string) => string|null} runName the name of a run, or null if unknown
 * @param {(kind: string) => string} [kindWord] the kind as the page says it (default: as the server names it)
 * @param {(checkpoint: string) => string} [ckptWord] a checkpoint's name as the page says it
 */
export function modelLabel(m, runName, kindWord = (k) => k, ckptWord = (c) => c) {
  const acc = m.test_accuracy != null ? ` — ${(m.test_accuracy * 100).toFixed(2)}%` : "";
  const [runId, ckpt] = m.id.split(":");
  const name = ckpt && m.kind === "run" ? runName(runId) : null;
  return `${name ? `${name} · ${ckptWord(ckpt)}` : `${m.id}${m.kind === "bundled" ? "" : ` (${kindWord(m.kind)})`}`}${acc}`;
}

/**
 * A menu of models shows a long run name cut (style.css: a menu is never wider than its place), so
 * each option's title and the menu's own hold the whole name. Call after filling the menu.
 * @param {HTMLSelectElement} sel
 */
export function titleOptions(sel) {
  for (const o of sel.options) o.title = o.text;
  const sync = () => { sel.title = sel.selectedOptions[0]?.text ?? ""; };
  sync();
  if (!sel.dataset.titled) { sel.dataset.titled = "1"; sel.addEventListener("change", sync); }
}
