// @ts-check
/**
 * A table drawn again in place (the runs of the Runs and Class tables, the teacher's roster). The
 * Runs and Class tables repaint many times a second while a run trains (its progress, its place
 * in the queue). Rebuilding every row replaced the buttons under the pointer: a press and its
 * release then landed on different elements, so the browser sent the click to the table, not
 * the button, and "Open" or "Stop" did nothing. Here each row is
 * kept by its run's id, each cell is replaced only when its own HTML changed, and the buttons'
 * cell only when the buttons themselves changed (another set, another label): a button that is
 * still the same stays the same element, with its focus and its hover. The roster (a row per
 * student, keyed by name) is patched the same way: a student's link field the teacher selected
 * to copy stays the same element through the Class section's refresh, selection included.
 */

/** What each cell was drawn from (a cell is replaced only when this differs). @type {WeakMap<Element, string>} */
const drawnFrom = new WeakMap();

/**
 * @typedef {object} Row
 * @property {string} key what the row stands for: a run's id, a student's name (the row's data-run, or the attribute `patchRows` is given)
 * @property {string} className the row's class ("" for none)
 * @property {string[]} cells each cell but the last as HTML, `<td …>…</td>`
 * @property {string} actions what the buttons are (their kinds and labels): the last cell is built again when this changes
 * @property {(box: HTMLElement) => void} build puts the buttons into the last cell's `div.actions`
 */

/**
 * Make `tbody` show `rows` in this order, touching only what changed.
 * @param {HTMLElement} tbody
 * @param {Row[]} rows
 * @param {string} empty the HTML of the one row shown when there are none
 * @param {string} [keyName] the row's `data-*` attribute holding its key, as a dataset name ("run": data-run; "student": data-student)
 * @param {string} [fallback] when the focused button's cell was built again without its action,
 *   the row's button that takes the focus instead (else the row's first)
 */
export function patchRows(tbody, rows, empty, keyName = "run", fallback = "button") {
  // A button whose cell is built again is gone, and the keyboard's focus would fall to the page's
  // body: its successor takes it (the same action of the same row, else `fallback`).
  const had = document.activeElement;
  const kept = had instanceof HTMLElement && tbody.contains(had) ? { key: had.closest("tr")?.dataset[keyName], act: had.dataset.act } : null;
  patchInPlace(tbody, rows, empty, keyName);
  if (kept?.key && !had?.isConnected) {
    const tr = [.../** @type {HTMLCollectionOf<HTMLTableRowElement>} */ (tbody.children)].find((row) => row.dataset[keyName] === kept.key);
    const again = (kept.act ? tr?.querySelector(`button[data-act="${CSS.escape(kept.act)}"]`) : null) ?? tr?.querySelector(fallback) ?? tr?.querySelector("button");
    /** @type {HTMLElement|null|undefined} */ (again)?.focus({ preventScroll: true });
  }
}

/** @param {HTMLElement} tbody @param {Row[]} rows @param {string} empty @param {string} keyName */
function patchInPlace(tbody, rows, empty, keyName) {
  if (!rows.length) {
    tbody.innerHTML = empty;
    return;
  }
  /** @type {Map<string, HTMLTableRowElement>} */
  const old = new Map();
  for (const tr of [.../** @type {HTMLCollectionOf<HTMLTableRowElement>} */ (tbody.children)]) {
    const key = tr.dataset[keyName];
    if (key) old.set(key, tr);
    else tr.remove(); // the "no runs" row
  }
  rows.forEach((row, at) => {
    let tr = old.get(row.key);
    old.delete(row.key);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset[keyName] = row.key;
    }
    if (tr.className !== row.className) tr.className = row.className;
    row.cells.forEach((html, i) => {
      const td = tr.children[i];
      if (td && drawnFrom.get(td) === html) return;
      const tpl = document.createElement("template"); // a template parses a lone <td>
      tpl.innerHTML = html;
      const fresh = /** @type {Element} */ (tpl.content.firstElementChild);
      drawnFrom.set(fresh, html);
      if (td) td.replaceWith(fresh);
      else tr.append(fresh);
    });
    const cell = tr.children[row.cells.length];
    if (!cell || drawnFrom.get(cell) !== row.actions) {
      const fresh = document.createElement("td");
      const box = document.createElement("div");
      box.className = "actions";
      fresh.append(box);
      row.build(box);
      drawnFrom.set(fresh, row.actions);
      if (cell) cell.replaceWith(fresh);
      else tr.append(fresh);
    }
    // Moved only when out of place: a move takes the row out of the page for a moment.
    if (tbody.children[at] !== tr) tbody.insertBefore(tr, tbody.children[at] ?? null);
  });
  for (const tr of old.values()) tr.remove();
}
