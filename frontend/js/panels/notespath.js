// @ts-check
/**
 * "Follow the notes": a guided path through the app, one step per idea of the notes, in their
 * order. A step is a card (title, two to five sentences in the notes' words, the notes' formula,
 * a one-click set-up, a small thing to try, back / next, progress, the way out) placed just above
 * the app's own live view of that idea (data-testid="idea-N"), which is highlighted. The views stay
 * where they are, with their controls; only the card moves. Deep links: #/notes/N.
 */
import { t } from "../i18n.js";
import { esc } from "../heatmap.js";
import { STEPS, notesHash, parseNotesHash } from "../notessteps.js";
import { whileBusy } from "../busy.js";

export class NotesPath {
  /** @param {{setup: (step: import("../notessteps.js").Step) => Promise<string|null>}} hooks setup: does the step's one click; the words to show after it (or null) */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {number|null} */
    this.step = null;
    /** @type {HTMLElement|null} */
    this.focused = null;
    this.card = document.createElement("section");
    this.card.className = "notes-card";
    this.card.id = "notes-path";
    this.card.dataset.testid = "notes-card";
    this.card.setAttribute("aria-labelledby", "notes-title");
    this.card.tabIndex = -1;
    window.addEventListener("hashchange", () => this.route());
  }

  /** Follow the location: a step, or the free dashboard. */
  route() {
    const n = parseNotesHash(location.hash);
    if (n === null) this.close();
    else this.show(n);
  }

  /** @param {number} n */
  show(n) {
    const step = STEPS[n - 1];
    const view = /** @type {HTMLElement|null} */ (document.querySelector(`[data-testid="${step.view}"]`));
    if (!view) return;
    this.step = n;
    this.render(step);
    this.focused?.classList.remove("notes-focus");
    view.classList.add("notes-focus");
    this.focused = view;
    // A view among the Draw cards (step 1: what the network sees of the drawing) is about the pad,
    // and its Try-it draws on it: the card goes beside the pad (under it on a narrow screen) and
    // the page scrolls to the pad, so both are in sight; elsewhere the card goes above its view.
    const pad = view.closest(".draw-grid")?.querySelector(".pad-card") ?? null;
    if (pad) pad.after(this.card); else view.before(this.card);
    document.body.classList.add("notes-mode");
    (pad ?? this.card).scrollIntoView({ block: "start" });
    if (pad) this.bringTitleIntoSight(pad);
    this.card.focus({ preventScroll: true });
  }

  /**
   * Under the pad (a narrow screen), the card's title can fall just below the fold: scroll down
   * enough to show it, as long as the pad's canvas stays under the header (on a 390 × 844 phone
   * the title sat 40 px below the fold).
   * @param {Element} pad the pad's card, scrolled to the top
   */
  bringTitleIntoSight(pad) {
    const canvas = pad.querySelector("canvas") ?? pad;
    const title = this.card.querySelector("h3") ?? this.card;
    const head = document.querySelector("header")?.getBoundingClientRect().bottom ?? 0;
    const below = title.getBoundingClientRect().bottom - window.innerHeight + 8;
    const room = canvas.getBoundingClientRect().top - head - 4;
    if (below > 0 && room > 0) window.scrollBy({ top: Math.min(below, room), behavior: "instant" });
  }

  /** Back to the free dashboard. */
  close() {
    if (this.step === null) return;
    this.step = null;
    this.focused?.classList.remove("notes-focus");
    this.focused = null;
    this.card.remove();
    document.body.classList.remove("notes-mode");
  }

  /** @param {import("../notessteps.js").Step} step */
  render(step) {
    const n = step.n, total = STEPS.length;
    const key = (/** @type {string} */ part) => `notes.step.${n}.${part}`;
    const dots = STEPS.map((s) => `<li><a href="${notesHash(s.n)}"${s.n === n ? ' aria-current="step"' : ""}${s.n < n ? ' class="done"' : ""}
      title="${esc(t("notes.step_link", { n: s.n, title: t(`notes.step.${s.n}.title`) }))}">${s.n}</a></li>`).join("");
    this.card.innerHTML = `
      <div class="notes-head">
        <h2 id="notes-title">${esc(t("notes.title"))} <span class="muted small" data-testid="notes-progress">${esc(t("notes.progress", { n, total }))}</span></h2>
        <button type="button" class="notes-exit" data-testid="notes-exit">${esc(t("notes.exit"))}</button>
      </div>
      <ol class="notes-dots" aria-label="${esc(t("notes.nav.label"))}">${dots}</ol>
      <h3 data-testid="notes-step-title">${n}. ${esc(t(key("title")))}</h3>
      <p class="notes-text" data-testid="notes-text">${esc(t(key("text")))}</p>
      ${step.formula ? `<p class="notes-formula"><span class="muted small">${esc(t("notes.formula"))}</span> <span class="formula" data-testid="notes-formula">${esc(t(key("formula")))}</span></p>` : ""}
      <div class="row notes-setup-row">
        <button type="button" class="primary" data-testid="notes-setup">${esc(t(`notes.setup.${step.setup}`))}</button>
        <span class="muted small" data-testid="notes-setup-status" role="status"></span>
      </div>
      <p class="notes-check"><b>${esc(t("notes.try"))}</b> ${esc(t(key("check")))}</p>
      <div class="row notes-nav">
        <button type="button" data-testid="notes-back"${n === 1 ? " disabled" : ""}>← ${esc(t("notes.back"))}</button>
        <button type="button" class="primary" data-testid="notes-next">${esc(n === total ? t("notes.finish") : t("notes.next"))} →</button>
      </div>`;
    const status = /** @type {HTMLElement} */ (this.card.querySelector('[data-testid="notes-setup-status"]'));
    const setup = /** @type {HTMLButtonElement} */ (this.card.querySelector('[data-testid="notes-setup"]'));
    setup.addEventListener("click", () => whileBusy(setup, async () => {
      status.textContent = t("notes.setting_up");
      const said = await this.hooks.setup(step);
      if (this.step === n) status.textContent = said ?? t("notes.set_up");
    }));
    this.card.querySelector('[data-testid="notes-back"]')?.addEventListener("click", () => { location.hash = notesHash(n - 1); });
    this.card.querySelector('[data-testid="notes-next"]')?.addEventListener("click", () => {
      if (n === total) this.leave(); else location.hash = notesHash(n + 1);
    });
    this.card.querySelector('[data-testid="notes-exit"]')?.addEventListener("click", () => this.leave());
  }

  /** The way out: the free dashboard, at the top. */
  leave() {
    history.pushState(null, "", location.pathname + location.search);
    this.close();
    window.scrollTo({ top: 0 });
  }
}
