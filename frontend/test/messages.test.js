// The message catalogues (frontend/i18n/en.json, zh-CN.json): complete twins, and the pure helpers.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { LANGUAGES, pickLanguage, format, placeholders, compareCatalogues } from "../js/messages.js";

const read = (/** @type {string} */ lang) => JSON.parse(readFileSync(new URL(`../i18n/${lang}.json`, import.meta.url), "utf8"));

test("both catalogues have every key, no empty value, the same placeholders", () => {
  const [en, zh] = LANGUAGES.map(read);
  const d = compareCatalogues(en, zh);
  assert.deepEqual(d.onlyA, [], "keys only in en.json");
  assert.deepEqual(d.onlyB, [], "keys only in zh-CN.json");
  assert.deepEqual(d.empty, [], "empty messages");
  assert.deepEqual(d.mismatched, [], "placeholders that differ");
  assert.ok(Object.keys(en).length > 500, "the catalogue holds the page's words");
});

test("compareCatalogues finds each kind of gap", () => {
  const d = compareCatalogues({ a: "x {n}", b: "y", c: "" }, { a: "x {m}", b: "y", d: "z" });
  assert.deepEqual(d.onlyA, ["c"]);
  assert.deepEqual(d.onlyB, ["d"]);
  assert.deepEqual(d.empty, ["c"]);
  assert.deepEqual(d.mismatched, ["a"]);
});

test("the Chinese catalogue is Chinese: every message with words has Chinese characters", () => {
  const zh = read("zh-CN");
  // Messages that are names or codes in both languages (layer types, optimizers, list separators).
  const same = new Set(["editor.type.conv2d", "editor.type.dropout", "editor.type.leaky_relu", "editor.type.relu", "editor.type.sigmoid",
    "editor.type.softmax", "editor.type.tanh", "train.adam", "train.adam_2", "train.adam_3", "train.sgd", "runs.button.label", "optimizer.adam",
    "optimizer.sgd"]);
  const latin = Object.entries(zh).filter(([k, v]) => !same.has(k) && !k.endsWith(".formula") && /[A-Za-z]{3,}/.test(v.replace(/<[^>]+>|\{\w+\}/g, "")) && !/[\u4e00-\u9fff]/.test(v));
  assert.deepEqual(latin, []);
});

test("pickLanguage: the saved choice, else the browser's first language we have", () => {
  assert.equal(pickLanguage("zh-CN", ["en-US"]), "zh-CN");
  assert.equal(pickLanguage("en", ["zh-CN"]), "en");
  assert.equal(pickLanguage(null, ["fr-FR", "zh-TW", "en"]), "zh-CN");
  assert.equal(pickLanguage(null, ["de", "en-GB"]), "en");
  assert.equal(pickLanguage(null, ["de"]), "en");
  assert.equal(pickLanguage("xx", []), "en");
});

test("format fills placeholders and leaves unknown ones visible", () => {
  assert.equal(format("{a} of {b}", { a: 1, b: "two" }), "1 of two");
  assert.equal(format("{a} and {missing}", { a: 0 }), "0 and {missing}");
  assert.deepEqual(placeholders("{b} {a} {b}"), ["a", "b"]);
});
