// @ts-check
/**
 * The class: who you are (a student, the teacher, or — on a one-person server — a browser with a
 * name of its own), the class run the teacher pinned, and "my runs" / "class runs" with each run's
 * owner, status, progress, accuracy and place in the queue. The teacher may pin, stop and delete
 * any run; a student their own (the server refuses the rest with 403). Delete asks first. The
 * teacher also sees the students, with a way to make a student's link again.
 */
import { api } from "../api.js";
import { esc } from "../heatmap.js";
import { accuracyPercent } from "../chartmath.js";
import { LIVE_STATUSES } from "../protocol.js";
import { joinedWhen, pickRuns, progress, queueWords, studentLink } from "../classview.js";
import { t, has, errText, statusWord } from "../i18n.js";
import { joinClass } from "../join.js";
import { patchRows } from "../rowpatch.js";

const OWNER_KEY = "glassnet-owner";

/** The name this browser gives itself without a token (kept in a cookie the server reads). */
export function browserName() {
  let name = localStorage.getItem(OWNER_KEY);
  if (!name) {
    name = `guest-${Math.random().toString(36).slice(2, 6)}`;
    localStorage.setItem(OWNER_KEY, name);
  }
  document.cookie = `glassnet_owner=${encodeURIComponent(name)}; path=/; SameSite=Strict`;
  return name;
}

export class ClassPanel {
  /** @param {{watch: (id: string) => void, toast: (m: string, kind?: "error"|"info") => void, pinned: (id: string|null) => void}} hooks */
  constructor(hooks) {
    this.h = hooks;
    browserName();
    /** @type {"mine"|"class"} */
    this.mode = "class";
    /** @type {any} */
    this.view = null;
    /** @type {string|null} the run whose Delete asks "Delete …? Yes / No" (kept across refreshes) */
    this.confirming = null;
    /** @type {Map<string, string>} student links the teacher made on this page (shown until a reload) */
    this.links = new Map();
    this.timer = 0;
    /** reads of /api/class sent (refresh), and the newest whose answer is drawn (or made stale by a pin) */
    this.seq = 0;
    this.drawn = 0;
    this.root = /** @type {HTMLElement} */ (document.getElementById("class"));
    this.tbody = /** @type {HTMLElement} */ (this.root.querySelector('[data-testid="class-runs"] tbody'));
    for (const b of this.root.querySelectorAll("[data-mode]")) {
      b.addEventListener("click", () => {
        this.mode = /** @type {"mine"|"class"} */ (/** @type {HTMLElement} */ (b).dataset.mode);
        this.render();
      });
    }
    this.join = /** @type {HTMLFormElement} */ (this.root.querySelector("#join-form"));
    // A viewer without a token on a server that lets anyone view (open_view) joins here; without
    // open_view such a browser never sees this page: the server sends it to join.html.
    this.join.addEventListener("submit", (e) => { e.preventDefault(); joinClass(this.join); });
    setInterval(() => { if (!document.hidden) this.refresh(); }, 5000);
    this.refresh();
  }

  /** Something changed (a status, a pin): refresh soon, at most every 1.5 s. */
  changed() {
    if (this.timer) return;
    this.timer = window.setTimeout(() => { this.timer = 0; this.refresh(); }, 1500);
  }

  async refresh() {
    // Reads overlap (every 5 s, and 1.5 s after each change) and may be answered out of order: an
    // answer older than the one drawn (or than a pin heard since) is dropped, so an answer the
    // server gave before a pin cannot arrive late and undo it. Not "only the latest read": on a
    // slow server each answer would be overtaken by the next read and nothing would be drawn.
    const seq = ++this.seq;
    let view;
    try {
      view = await api("/api/class");
    } catch {
      return; // the status bar says when the server is down
    }
    if (seq <= this.drawn) return;
    this.drawn = seq;
    this.view = view;
    this.render();
  }

  /** The teacher pinned or unpinned the class run: said at once, the rest read again soon. @param {{pinned: string|null}} d */
  onClass(d) {
    this.drawn = this.seq; // the reads already on their way may predate the pin: their answers are dropped
    if (this.view) {
      this.view.pinned = d.pinned;
      this.render();
    }
    this.h.pinned(d.pinned); // the page follows the pin unless its person chose its run (follow.js)
    if (d.pinned) this.h.toast(t("class.pinned_toast"), "info");
    this.changed();
  }

  render() {
    const v = this.view;
    if (!v) return;
    const you = /** @type {HTMLElement} */ (this.root.querySelector('[data-testid="class-you"]'));
    you.innerHTML = t("class.you", { owner: esc(v.you.owner), role: esc(t(`class.role.${v.you.role}`)) }) +
      (v.students.length ? t("class.joined", { n: v.students.length }) : "") +
      t("class.executor", { name: esc(has(`class.exec.${v.executor.name}`) ? t(`class.exec.${v.executor.name}`) : v.executor.name) }) +
      (v.executor.problem ? ` <span class="bad">(${esc(v.executor.problem)})</span>` : t("class.capacity", { n: v.executor.capacity }));
    this.join.hidden = !(v.joinable && v.you.role === "viewer");
    const pinned = v.runs.find((/** @type {any} */ r) => r.id === v.pinned);
    /** @type {HTMLElement} */ (this.root.querySelector('[data-testid="class-pinned"]')).textContent =
      pinned ? t("class.pinned", { name: pinned.name, owner: pinned.owner ?? "?", status: statusWord(pinned.status) }) : t("class.no_pinned");
    for (const b of this.root.querySelectorAll("[data-mode]")) {
      b.setAttribute("aria-pressed", String(/** @type {HTMLElement} */ (b).dataset.mode === this.mode));
    }
    const teacher = v.you.role === "teacher";
    this.renderRoster(v.roster);
    const runs = pickRuns(v.runs, this.mode, v.you.owner);
    // Redrawn every 5 s and on each change, in place (rowpatch.js): a button that stays the same
    // stays the same element. One whose cell is built again gives its focus to its successor.
    /** @type {import("../rowpatch.js").Row[]} */
    const rows = [...runs].reverse().map((r) => {
      const acc = r.val_accuracy != null ? accuracyPercent(r.val_accuracy) : "–";
      // data-label: each cell's name on a phone, where the table becomes cards (style.css).
      const label = (/** @type {string} */ key) => `data-label="${esc(t(key))}"`;
      const mine = teacher || r.owner === v.you.owner;
      const live = LIVE_STATUSES.includes(r.status);
      const pin = r.id === v.pinned ? null : r.id;
      const confirming = mine && !live && this.confirming === r.id;
      return {
        key: r.id,
        className: "",
        cells: [
          `<td><b>${esc(r.name)}</b>${r.id === v.pinned ? ` <span class="badge">${esc(t("class.badge"))}</span>` : ""}</td>`,
          `<td ${label("class.owner")}>${esc(r.owner ?? "–")}</td>`,
          `<td ${label("runs.status")}><span class="badge" data-status="${esc(r.status)}">${esc(statusWord(r.status))}</span></td>`,
          `<td class="num" ${label("class.progress")}>${esc(progress(r))}</td>`,
          `<td class="num" ${label("runs.validation_accuracy")}>${acc}</td>`,
          `<td class="small" data-testid="queue-place" ${label("class.queue")}>${esc(queueWords(r, t))}</td>`,
        ],
        actions: JSON.stringify([r.name, r.owner, teacher, pin, mine, live, confirming]),
        build: (/** @type {HTMLElement} */ box) => {
          this.button(box, t("runs.open"), r, () => this.h.watch(r.id)).dataset.act = "open";
          if (teacher) {
            this.button(box, t(pin ? "class.pin" : "class.unpin"), r, () => this.act(api("/api/class/pinned", { method: "PUT", body: { run: pin } })))
              .dataset.act = "pin";
          }
          if (mine && live) this.button(box, t("runs.stop"), r, () => this.act(api(`/api/runs/${r.id}/stop`, { method: "POST" }))).dataset.act = "stop";
          if (confirming) this.confirmDelete(box, r);
          else if (mine && !live) {
            const del = this.button(box, t("class.delete"), r, () => { this.confirming = r.id; this.render(); this.focus(r.id, "[data-confirm=no]"); });
            del.classList.add("danger"); del.dataset.act = "delete";
          }
        },
      };
    });
    patchRows(this.tbody, rows, `<tr><td colspan="7" class="muted">${t(this.mode === "mine" ? "class.no_mine" : "runs.no_runs_yet")}</td></tr>`);
  }

  /**
   * The teacher's list of the class (QA3 class #4): each student's name, when they joined, their
   * runs, and "Copy link": the student's own link again (POST /api/class/students), for a student
   * on a new device or who lost it. Typing one's name on the join page never hands it out.
   * @param {{name: string, joined: number, runs: number}[]|null|undefined} roster
   */
  renderRoster(roster) {
    const box = /** @type {HTMLElement} */ (this.root.querySelector('[data-testid="class-roster"]'));
    box.hidden = !roster;
    if (!roster) return;
    const list = /** @type {HTMLElement} */ (box.querySelector("tbody"));
    // Patched in place, by name (rowpatch.js), like the runs: rebuilt on every refresh (5 s, and
    // every 1.5 s while runs train), the link field the teacher had selected to copy was replaced
    // by a new one, its selection and focus gone before Ctrl+C.
    const now = new Date();
    /** @type {import("../rowpatch.js").Row[]} */
    const rows = roster.map((s) => {
      const when = joinedWhen(s.joined, now, document.documentElement.lang || undefined);
      const shown = this.links.get(s.name) ?? null;
      return {
        key: s.name,
        className: "",
        cells: [
          `<td>${esc(s.name)}</td>`,
          `<td data-label="${esc(t("class.roster.joined"))}">${esc(when)}</td>`,
          `<td class="num" data-label="${esc(t("class.roster.runs"))}">${s.runs}</td>`,
        ],
        actions: JSON.stringify([t("class.roster.link"), s.name, shown]),
        build: (/** @type {HTMLElement} */ cell) => {
          const b = document.createElement("button");
          b.type = "button"; b.className = "small"; b.textContent = t("class.roster.link");
          b.setAttribute("aria-label", t("class.roster.link_for", { name: s.name }));
          b.addEventListener("click", () => this.link(s.name));
          cell.append(b);
          if (shown) cell.append(this.linkField(s.name, shown));
        },
      };
    });
    patchRows(list, rows, `<tr><td colspan="4" class="muted">${esc(t("class.roster.none"))}</td></tr>`, "student");
  }

  /** Make a student's link again, show it (selected) and copy it. @param {string} name */
  async link(name) {
    try {
      const [made] = await api("/api/class/students", { method: "POST", body: { names: [name] } });
      const url = studentLink(made.link, location.href, this.view?.addresses);
      this.links.set(name, url);
      if (this.view) this.renderRoster(this.view.roster); // the row gets its field, kept from now on
      const list = /** @type {HTMLElement} */ (this.root.querySelector('[data-testid="class-roster"] tbody'));
      const field = /** @type {HTMLInputElement|null} */ (list.querySelector(`tr[data-student="${CSS.escape(name)}"] [data-testid="student-link"]`));
      try {
        await navigator.clipboard.writeText(url);
        this.h.toast(t("class.roster.copied", { name }), "info");
      } catch {
        field?.focus(); // selects it (linkField): Ctrl+C copies it
        this.h.toast(t("class.roster.copy_by_hand", { name }), "info"); // no clipboard (plain http): the field is selected
      }
    } catch (e) {
      this.h.toast(errText(e));
    }
  }

  /** A read-only field with a student's link, selected for copying. @param {string} name @param {string} url */
  linkField(name, url) {
    const input = document.createElement("input");
    input.readOnly = true; input.value = url; input.dataset.testid = "student-link";
    input.setAttribute("aria-label", t("class.roster.link_for", { name }));
    input.addEventListener("focus", () => input.select());
    return input;
  }

  /**
   * Delete asks first, in the row: "Delete ann's run “notes #1” and its checkpoints? This cannot
   * be undone. [Yes, delete] [No]" (not window.confirm: it blocks the page and is poor on phones).
   * No (or Escape) keeps the run. @param {HTMLElement} box @param {any} r
   */
  confirmDelete(box, r) {
    const ask = document.createElement("span");
    ask.className = "confirm small"; ask.setAttribute("role", "alert");
    ask.textContent = t("class.delete_confirm", { name: r.name, owner: r.owner ?? "?" });
    box.append(ask);
    const yes = this.button(box, t("class.delete_yes"), r, () => { this.confirming = null; this.act(api(`/api/runs/${r.id}`, { method: "DELETE" })); });
    yes.classList.add("danger"); yes.dataset.confirm = "yes";
    const no = this.button(box, t("class.delete_no"), r, () => { this.confirming = null; this.render(); this.focus(r.id, "button"); });
    no.dataset.confirm = "no";
    box.addEventListener("keydown", (e) => { if (e.key === "Escape") no.click(); });
  }

  /** Focus a button of a run's row after the row was drawn again. @param {string} id @param {string} selector */
  focus(id, selector) {
    /** @type {HTMLElement|null} */ (this.tbody.querySelector(`tr[data-run="${CSS.escape(id)}"] .actions ${selector}`))?.focus();
  }

  /** @param {HTMLElement} box @param {string} text @param {any} run @param {() => void} onClick */
  button(box, text, run, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "small"; b.textContent = text;
    // Not the Runs table's names: the same run has buttons in both, and a screen reader lists them apart.
    b.setAttribute("aria-label", t("class.button.label", { action: text, name: run.name }));
    b.addEventListener("click", onClick);
    box.append(b);
    return b;
  }

  /** @param {Promise<any>} request */
  async act(request) {
    try { await request; } catch (e) { this.h.toast(errText(e)); }
    this.refresh();
  }
}
