// @ts-check
/**
 * The list of runs: name (click Rename to change it), status, progress, validation accuracy; open,
 * compare, continue, stop — each button shown when the state machine allows it, and when it does
 * not, the row says why (a finished run, a stopped one without a checkpoint).
 */
import { esc } from "../heatmap.js";
import { accuracyPercent } from "../chartmath.js";
import { can, STATUS } from "../protocol.js";
import { t, lang, statusWord, whyNot, optimizerName } from "../i18n.js";
import { mayControl, epochInProgress } from "../classview.js";
import { patchRows } from "../rowpatch.js";

/** @typedef {"open"|"compare"|"resume"|"stop"|"rename"|"refresh"} RunAction */

/**
 * @param {HTMLTableSectionElement} tbody
 * @param {any[]} runs RunSummary list (newest last)
 * @param {{watched: string|null, compare: string|null, queue: Map<string, number>, you?: import("../classview.js").You|null}} sel
 * @param {(action: RunAction, id: string, value?: string) => void} act
 */
export function renderRuns(tbody, runs, sel, act) {
  if (tbody.querySelector("input.rename")) return; // a name is being typed: leave the row alone
  /** @type {import("../rowpatch.js").Row[]} */
  const rows = [...runs].reverse().map((r) => {
    const acc = r.val_accuracy != null ? accuracyPercent(r.val_accuracy) : "–";
    const when = new Date(r.created * 1000).toLocaleString(lang === "en" ? "en-US" : lang, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    const pos = sel.queue.get(r.id);
    const why = r.status !== STATUS.RUNNING && r.status !== STATUS.QUEUED && !can(r, "resume") ? whyNot(r, "resume") : "";
    const cells = [
      `<td><b class="run-name">${esc(r.name)}</b>${r.id === sel.watched ? ` <span class="muted small">${esc(t("runs.watching"))}</span>` : ""}<br><span class="muted small">${esc(r.preset ?? t("runs.custom"))} · ${esc(t("runs.optimizer_lr", { optimizer: optimizerName(r.optimizer), lr: String(r.lr) }))}</span></td>`,
      `<td><span class="badge" data-status="${esc(r.status)}">${esc(statusWord(r.status))}</span>${pos ? ` <span class="muted small">${esc(t("runs.in_queue", { pos }))}</span>` : ""}${r.message ? `<br><span class="muted small">${esc(r.message)}</span>` : ""}${why ? `<br><span class="muted small why">${esc(why)}</span>` : ""}</td>`,
      `<td class="num" data-label="${esc(t("runs.epoch"))}">${epochInProgress(r)}/${r.epochs}</td>`,
      `<td class="num" data-label="${esc(t("runs.validation_accuracy"))}">${acc}</td>`,
      `<td>${esc(when)}</td>`,
    ];
    /** @type {[string, RunAction, string, boolean][]} each button: its text, action, label and pressed state */
    const buttons = [];
    if (r.id !== sel.watched) buttons.push([t("runs.open"), "open", t("runs.open"), false]);
    if (r.id !== sel.watched) buttons.push([r.id === sel.compare ? t("runs.uncompare") : t("runs.compare"), "compare", t("runs.compare_with"), r.id === sel.compare]);
    // Stop, Continue and Rename only on runs this page may change (another student's run: none).
    const mine = mayControl(sel.you, r);
    const again = r.status === STATUS.PAUSED ? t("runs.resume") : t("runs.continue");
    if (mine && can(r, "resume")) buttons.push([again, "resume", again, false]);
    if (mine && can(r, "stop")) buttons.push([t("runs.stop"), "stop", t("runs.stop"), false]);
    if (mine) buttons.push([t("runs.rename"), "rename", t("runs.rename"), false]);
    return {
      key: r.id,
      className: r.id === sel.watched ? "watched" : "",
      cells,
      actions: JSON.stringify([r.name, buttons]),
      build: (box) => {
        for (const [text, a, label, pressed] of buttons) {
          const b = document.createElement("button");
          b.type = "button"; b.className = "small"; b.textContent = text; b.dataset.act = a; b.setAttribute("aria-label", t("runs.button.label", { action: label, name: r.name }));
          if (a === "compare") b.setAttribute("aria-pressed", String(pressed));
          b.addEventListener("click", () => {
            const tr = /** @type {HTMLTableRowElement} */ (b.closest("tr"));
            if (a === "rename") startRename(tr, r, act, b);
            else act(a, r.id);
          });
          box.append(b);
        }
      },
    };
  });
  // A rebuilt row that drops the focused button gives the focus to the same action, else to its
  // Rename, which changes nothing by a press (never Continue).
  patchRows(tbody, rows, `<tr><td colspan="6" class="muted">${esc(t("runs.none"))}</td></tr>`, "run", 'button[data-act="rename"]');
}

/**
 * The name cell becomes a text field: Enter saves (PATCH), Escape cancels; either gives the focus
 * back to the Rename button (the field it was in is gone: it fell to the page's body).
 * @param {HTMLTableRowElement} tr @param {any} r @param {(action: RunAction, id: string, value?: string) => void} act
 * @param {HTMLButtonElement} button the row's Rename
 */
function startRename(tr, r, act, button) {
  const cell = /** @type {HTMLElement} */ (tr.querySelector(".run-name"));
  const input = document.createElement("input");
  input.className = "rename"; input.value = r.name; input.maxLength = 100;
  input.setAttribute("aria-label", t("runs.new_name", { name: r.name }));
  cell.replaceWith(input);
  input.focus(); input.select();
  let done = false;
  const finish = (/** @type {boolean} */ save) => {
    if (done) return;
    done = true;
    const name = input.value.trim();
    input.replaceWith(cell); // the name as it was, until the table shows the new one
    if (save && name && name !== r.name) act("rename", r.id, name);
    else act("refresh", r.id);
  };
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== "Escape") return;
    e.preventDefault(); // else the Enter's keypress would press the button the focus goes to
    finish(e.key === "Enter");
    // The row is patched in place (rowpatch.js): the same button, unless the run went away.
    if (button.isConnected) button.focus();
  });
  input.addEventListener("blur", () => finish(true));
}
