// @ts-check
/**
 * The list of runs: status, progress, validation accuracy; open, compare, resume, stop.
 */
import { esc } from "../heatmap.js";
import { RESUMABLE_STATUSES, ACTIVE_STATUSES } from "../protocol.js";

/**
 * @param {HTMLTableSectionElement} tbody
 * @param {any[]} runs RunSummary list (newest last)
 * @param {{watched: string|null, compare: string|null}} sel
 * @param {(action: "open"|"compare"|"resume"|"stop", id: string) => void} act
 */
export function renderRuns(tbody, runs, sel, act) {
  tbody.replaceChildren();
  if (!runs.length) { tbody.innerHTML = `<tr><td colspan="6" class="muted">No runs yet — start one above.</td></tr>`; return; }
  for (const r of [...runs].reverse()) {
    const tr = document.createElement("tr");
    tr.dataset.run = r.id;
    if (r.id === sel.watched) tr.className = "watched";
    const acc = r.val_accuracy != null ? `${(r.val_accuracy * 100).toFixed(2)}%` : "–";
    const when = new Date(r.created * 1000).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    tr.innerHTML = `<td><b>${esc(r.name)}</b>${r.id === sel.watched ? ' <span class="muted small">(watching)</span>' : ""}<br><span class="muted small">${esc(r.id)}</span></td>` +
      `<td><span class="badge" data-status="${esc(r.status)}">${esc(r.status)}</span>${r.message ? `<br><span class="muted small">${esc(r.message)}</span>` : ""}</td>` +
      `<td class="num">${r.epoch}/${r.epochs}</td><td class="num">${acc}</td><td>${esc(when)}</td><td><div class="actions"></div></td>`;
    const box = /** @type {HTMLElement} */ (tr.querySelector(".actions"));
    const btn = (/** @type {string} */ text, /** @type {"open"|"compare"|"resume"|"stop"} */ a, /** @type {string} */ label, pressed = false) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "small"; b.textContent = text; b.setAttribute("aria-label", `${label} ${r.name}`);
      if (a === "compare") b.setAttribute("aria-pressed", String(pressed));
      b.addEventListener("click", () => act(a, r.id));
      box.append(b);
    };
    if (r.id !== sel.watched) btn("Open", "open", "Open");
    if (r.id !== sel.watched) btn(r.id === sel.compare ? "Uncompare" : "Compare", "compare", "Compare with", r.id === sel.compare);
    if (RESUMABLE_STATUSES.includes(r.status) && (r.resumable || r.status === "paused")) btn("Resume", "resume", "Resume");
    if (ACTIVE_STATUSES.includes(r.status) || r.status === "queued") btn("Stop", "stop", "Stop");
    tbody.append(tr);
  }
}
