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
