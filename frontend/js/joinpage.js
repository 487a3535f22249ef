// @ts-check
/**
 * The join page (join.html): where a browser without a token lands on a class server that takes
 * a join code (the server sends it here instead of a 401). Its words in the chosen language, and
 * the form (join.js).
 */
import { applyStatic, lang } from "./i18n.js";
import { joinClass } from "./join.js";

document.documentElement.lang = lang;
applyStatic();
const form = /** @type {HTMLFormElement} */ (document.getElementById("join-form"));
form.addEventListener("submit", (e) => { e.preventDefault(); joinClass(form); });
/** @type {HTMLInputElement} */ (form.elements.namedItem("name")).focus();
