// @ts-check
/**
 * The message catalogues' pure part (no DOM, so `node --test` checks it): choosing a language,
 * filling a message's `{name}` placeholders, and comparing two catalogues.
 */

/** The languages with a catalogue (frontend/i18n/<lang>.json); the first is the fallback. */
export const LANGUAGES = /** @type {const} */ (["en", "zh-CN"]);

/**
 * The page's language: the saved choice if there is one, else the first of the browser's
 * languages we have (any Chinese → zh-CN, any English → en), else English.
 * @param {string|null} saved @param {readonly string[]} browser navigator.languages
 * @returns {"en"|"zh-CN"}
 */
export function pickLanguage(saved, browser) {
  if (saved === "en" || saved === "zh-CN") return saved;
  for (const l of browser) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "zh") return "zh-CN";
    if (base === "en") return "en";
  }
  return "en";
}

/**
 * A message with its `{name}` placeholders filled; a missing parameter stays visible as `{name}`.
 * @param {string} msg @param {Record<string, string|number>} [params]
 */
export function format(msg, params) {
  if (!params) return msg;
  return msg.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** The placeholder names of a message, sorted. @param {string} msg */
export function placeholders(msg) {
  return [...new Set([...msg.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
}

/**
 * What differs between two catalogues: keys only in one, empty values, placeholders that do
 * not match. Empty lists mean the two are complete twins.
 * @param {Record<string, string>} a @param {Record<string, string>} b
 */
export function compareCatalogues(a, b) {
  const onlyA = Object.keys(a).filter((k) => !(k in b));
  const onlyB = Object.keys(b).filter((k) => !(k in a));
  const empty = [...Object.entries(a), ...Object.entries(b)].filter(([, v]) => typeof v !== "string" || !v.trim()).map(([k]) => k);
  const mismatched = Object.keys(a).filter((k) => k in b && placeholders(a[k]).join() !== placeholders(b[k]).join());
  return { onlyA, onlyB, empty, mismatched };
}

/**
 * An error as the page says it. The server's sentence names the problem exactly ("that is not
 * this class's join code (403)"), so it is always shown: in English alone, in another language
 * after the code's lead-in (`lead(code)`: the catalogue's error.code.<code>, a line true of every
 * error with that code: "不允许这样做"), joined by `join` ("{lead}：{reason}"). A code's line
 * alone only when there is no sentence; anything that is not a coded error, its message.
 * @param {unknown} e an ApiError, an error event's data ({code, message}) or any Error
 * @param {boolean} english
 * @param {(code: string) => string|null} lead the catalogue's line for a code, null if it has none
 * @param {(lead: string, reason: string) => string} join
 * @returns {string}
 */
export function errorSentence(e, english, lead, join) {
  const err = /** @type {{code?: string|null, message?: string, detail?: string}|null|undefined} */ (e);
  const reason = String(err?.message ?? err?.detail ?? e ?? "").trim();
  const line = !english && typeof err?.code === "string" ? lead(err.code) : null;
  if (!line) return reason;
  return reason ? join(line, reason) : line;
}
