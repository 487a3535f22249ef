// @ts-check
/**
 * Joining a class with its code (``POST /api/join``): the one home of what the join page
 * (join.html, joinpage.js) and the Class section's form (panels/classroom.js) do. The server's
 * answer sets this browser's cookie (HttpOnly: the page never sees the token), so opening the
 * dashboard afterwards opens it as that student.
 */
import { api } from "./api.js";
import { t, errText } from "./i18n.js";
import { joinRefusal } from "./classview.js";

/**
 * Join with the form's ``name`` and ``code`` fields; says what happens in the form's
 * ``[data-testid="join-status"]`` line (a refusal — a wrong code, a name already taken — in the
 * page's language), and on success opens the dashboard.
 * @param {HTMLFormElement} form
 */
export async function joinClass(form) {
  const status = /** @type {HTMLElement} */ (form.querySelector('[data-testid="join-status"]'));
  const fields = new FormData(form);
  const name = String(fields.get("name") ?? "").trim();
  // The server reads the code without the spaces around it and without case (a phone's keyboard
  // capitalises it, or adds a space after a word it completed); trimmed here too, as the name is.
  const code = String(fields.get("code") ?? "").trim();
  status.textContent = t("class.join.joining");
  try {
    const you = await api("/api/join", { method: "POST", body: { name, code } });
    status.textContent = t("class.join.joined", { name: you.name });
    location.assign("/");
  } catch (e) {
    // The join page's own refusals in the page's language (no setting names, the real wait).
    status.textContent = joinRefusal(/** @type {any} */ (e), name, t) ?? errText(e);
  }
}
