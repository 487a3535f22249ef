// @ts-check
/**
 * The page's words in two languages. The catalogues (frontend/i18n/en.json, zh-CN.json) are read
 * once before any panel runs (top-level await), so every module can call t() as it draws:
 *   t(key, params)    the message in the chosen language, `{name}` placeholders filled
 *   applyStatic(root) fills the HTML's marked elements: data-i18n (text), data-i18n-html (a message
 *                     with inline markup: <b>, <a>), data-i18n-attr="title:key;aria-label:key"
 * The language follows the saved choice, else navigator.languages; switching saves it and reloads
 * (every panel then draws in the new language from the start). Numbers keep one format (en-US) in
 * both languages.
 */
import { LANGUAGES, pickLanguage, format, errorSentence } from "./messages.js";
import { aDigit as aDigitEn } from "./learnmath.js";
import { formatDuration } from "./chartmath.js";
import { whyNot as whyNotEn, RUN_MACHINE } from "./protocol.js";

const SAVED = "glassnet-lang";

/** @returns {string|null} */
function savedChoice() {
  try { return localStorage.getItem(SAVED); } catch { return null; }
}

/** The chosen language. */
export const lang = pickLanguage(savedChoice(), navigator.languages ?? [navigator.language]);

/** @param {string} l @returns {Promise<Record<string, string>>} */
async function load(l) {
  const res = await fetch(`i18n/${l}.json`);
  if (!res.ok) throw new Error(`message catalogue ${l}: ${res.status}`);
  return res.json();
}
const [fallback, chosen] = await Promise.all([load(LANGUAGES[0]), lang === LANGUAGES[0] ? null : load(lang)]);
const messages = chosen ?? fallback;

/**
 * The message for `key` in the chosen language (English if the key is missing there, the key
 * itself if it is missing everywhere — the catalogue test keeps both from happening).
 * @param {string} key @param {Record<string, string|number>} [params]
 */
export function t(key, params) {
  return format(messages[key] ?? fallback[key] ?? key, params);
}

/** Whether a key exists (for messages chosen at run time, e.g. a server error's code). @param {string} key */
export function has(key) {
  return key in messages || key in fallback;
}

/** Fill every marked element under `root` with its message. @param {ParentNode} [root] */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(/** @type {string} */ (el.getAttribute("data-i18n")));
  for (const el of root.querySelectorAll("[data-i18n-html]")) el.innerHTML = t(/** @type {string} */ (el.getAttribute("data-i18n-html")));
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of /** @type {string} */ (el.getAttribute("data-i18n-attr")).split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key));
    }
  }
}

/** "a 7" / "an 8" in English; the digit alone in Chinese (no article). @param {string|number} d */
export const aDigit = (d) => (lang === "en" ? aDigitEn(d) : String(d));

/** A run's status word (status.<status> in the catalogue) in the chosen language. @param {string} status */
export const statusWord = (status) => (has(`status.${status}`) ? t(`status.${status}`) : status);

/**
 * Why a run cannot take an action, in the chosen language ("" when it can): protocol.js's
 * English sentence, rebuilt from the catalogue (why.<status>) in another language.
 * @param {any} run @param {any} action
 */
export function whyNot(run, action) {
  const en = whyNotEn(run, action);
  if (!en || lang === "en") return en;
  if (!run) return t("why.no_run");
  const table = /** @type {Record<string, string>} */ (RUN_MACHINE.why_not);
  const reason = en.endsWith(`: ${table[run.status]}`) ? t(`why.${run.status}`) : t("why.is", { status: statusWord(run.status) });
  return t("why.cannot", { name: run.name ?? t("why.this_run"), action: t(`run.action.${action === "resume" ? "continue" : action}`), reason });
}

/** A preset's description (the server's English one in English). @param {{name: string, description: string}} p */
export const presetDescription = (p) => (lang === "en" || !has(`preset.${p.name}`) ? p.description : t(`preset.${p.name}`));

/**
 * The architecture editor's message for a spec that does not fit (arch.js): the English sentence,
 * or in another language the catalogue's arch.<code> with the layer named there ("第 3 层（conv2d）").
 * @param {{message: string, code?: string, params?: Record<string, string|number>}} e
 */
export function archMessage(e) {
  if (lang === "en" || !e.code || !has(`arch.${e.code}`)) return e.message;
  const params = { ...(e.params ?? {}) };
  if (typeof params.where === "string") {
    const m = /^layer (\d+)(?: \((\w+)\))?$/.exec(params.where);
    if (m) params.where = m[2] ? t("arch.where_type", { i: m[1], type: m[2] }) : t("arch.where", { i: m[1] });
  }
  return t(`arch.${e.code}`, params);
}

/** The catalogue's lead-in for an error code (error.code.<code>), null if it has none. @param {string} code */
const codeLine = (code) => (has(`error.code.${code}`) ? t(`error.code.${code}`) : null);

/**
 * An error as the page says it (messages.js errorSentence): the server's own sentence always (it
 * names the problem: the wrong join code, the taken name, the rule a value breaks); in another
 * language after a lead-in for its code that is true of every error with that code.
 * @param {unknown} e an ApiError, an error event's data ({code, message}) or any Error
 */
export const errText = (e) => errorSentence(e, lang === "en", codeLine, (lead, reason) => t("error.with_reason", { lead, reason }));

/**
 * A column's name in the chosen language (learnmath.js names it in English).
 * @param {import("./learnmath.js").Column} col
 */
export function columnName(col) {
  if (col.image) return t("net.input_pixels");
  if (col.zLayer !== null) return t(col.activation ? "net.layer_dense_act" : "net.layer_dense", { i: col.zLayer, act: col.activation ?? "" });
  const m = /^layer (\d+) \((\w+)\)$/.exec(col.label);
  return m ? t("net.layer_in", { i: m[1], type: m[2] }) : col.label;
}

/**
 * A checkpoint's name ("last", "live", "epoch-003") in the chosen language.
 * @param {string} name
 */
export function checkpointName(name) {
  const m = /^epoch-(\d+)$/.exec(name);
  if (m) return t("model.ckpt.epoch", { n: m[1] });
  return has(`model.ckpt.${name}`) ? t(`model.ckpt.${name}`) : name;
}

/** An optimizer's name ("sgd", "momentum", "adam"). @param {string} name */
export const optimizerName = (name) => (has(`optimizer.${name}`) ? t(`optimizer.${name}`) : name);
/** A layer type as the page names it (catalogue: editor.type.<type>; 中文 uses the notes' terms). @param {string} type */
export const layerTypeName = (type) => (has(`editor.type.${type}`) ? t(`editor.type.${type}`) : type);

/** Save a language and draw the page again in it. @param {string} l */
export function setLanguage(l) {
  try { localStorage.setItem(SAVED, l); } catch { /* private mode: this page only */ }
  location.reload();
}

document.documentElement.lang = lang;
applyStatic();

/** A duration in the chosen language ("2 min 41 s", "2 分 41 秒"): chartmath.js formatDuration with the catalogue's duration.* forms. @param {number} seconds */
export const duration = (seconds) => formatDuration(seconds, {
  s: (p) => t("duration.s", p), min_s: (p) => t("duration.min_s", p), h_min: (p) => t("duration.h_min", p),
});
